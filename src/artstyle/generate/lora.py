"""LoRA fine-tuning of a local Stable Diffusion (1.x / 2.x) folder on painting styles, and sampling from it.

The recipe is the diffusers text-to-image LoRA example's, on Lightning Fabric:
the VAE, text encoder and UNet stay frozen; low-rank adapters (Hu et al. 2021,
"LoRA: Low-Rank Adaptation of Large Language Models") go on the UNet's
attention projections (optionally the text encoder's too); each image is
captioned from its style ("a painting in the Post Impressionism style", with
the artist when the file name carries one) and drawn with inverse-frequency
style weights, so Analytical Cubism is seen as often as Impressionism.

Mixed precision keeps the frozen weights in bf16/fp16 and the trainable LoRA
weights in fp32: fp16 trainable weights are what makes the gradient scaler
fail with "Attempting to unscale FP16 gradients".

The result, ``RUN/pytorch_lora_weights.safetensors``, loads in plain diffusers
with ``pipe.load_lora_weights(RUN)``. Nothing is downloaded: the base model is
a local folder, loaded with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``.

    artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    artstyle lora generate runs/lora --style Rococo --n 4 --seed 1
    artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn"
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from artstyle.config import LoraConfig
from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path
from artstyle.text import resolve_style

TASK = "lora"
# what ``lora train --resume RUN`` may change; everything else keeps the run's own value
RESUMABLE_KEYS = frozenset(
    {
        "max_steps",
        "max_minutes",
        "progress",
        "data",
        "base",
        "accelerator",
        "checkpoint_every",
        "validation_every",
        "validation_styles",
        "validation_prompt",
        "inference_steps",
        "guidance_scale",
        "safety_checker",
        "loader_workers",
        "log_every",
    }
)
WEIGHTS_NAME = "pytorch_lora_weights.safetensors"  # the file name load_lora_weights looks for
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")


# ---------------------------------------------------------------- offline, quiet Hugging Face libraries


def _prepare_hf() -> None:
    """Forbid downloads and silence progress bars and notices before diffusers/transformers load."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers announces at import that torchvision is missing (we never use it); keep that off the CLI
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*torchvision.*")


# ---------------------------------------------------------------- the base model folder


def check_base_folder(
    base: str | os.PathLike | None, *, variant: str | None = None, safety_checker: bool = False
) -> Path:
    """Return ``base`` if it is a complete local Stable Diffusion folder, else say everything it lacks."""
    if base is None:
        raise ArtstyleError(
            "no base model given; pass --base with a local Stable Diffusion 1.x/2.x folder "
            "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)"
        )
    base = Path(base).expanduser()
    if not base.exists():
        raise ArtstyleError(
            f"--base {base} does not exist; pass a local Stable Diffusion folder holding model_index.json, "
            "unet/, vae/, text_encoder/, tokenizer/ and scheduler/ (nothing is downloaded)"
        )
    if not base.is_dir():
        raise ArtstyleError(
            f"--base {base} is a file; pass the model folder that holds model_index.json"
        )
    missing: list[str] = []
    index_path = base / "model_index.json"
    if not index_path.is_file():
        missing.append("model_index.json")
    else:
        try:
            model_index = json.loads(index_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtstyleError(
                f"{index_path} is not valid JSON ({exc}); restore it from the model download"
            ) from exc
        if not isinstance(model_index, dict):
            raise ArtstyleError(
                f"{index_path} must hold a JSON object naming the pipeline's components"
            )
        if "text_encoder_2" in model_index or "transformer" in model_index:
            raise ArtstyleError(
                f"--base {base} is a {model_index.get('_class_name', 'different')} folder; "
                "only Stable Diffusion 1.x/2.x (StableDiffusionPipeline) folders are supported"
            )
    needed = list(COMPONENTS) + (["safety_checker", "feature_extractor"] if safety_checker else [])
    variant_only: list[str] = []
    for component in needed:
        folder = base / component
        if not folder.is_dir():
            missing.append(
                f"{component}/ ({', '.join(_describe(need) for need in _REQUIRED[component])})"
            )
            continue
        for need in _REQUIRED[component]:
            if isinstance(need, _Weights):
                status = _weights_status(folder, need.stem, variant)
                if status == "variant-only":
                    variant_only.append(component)
                if status != "ok":
                    missing.append(f"{component}/{_describe(need)}")
            elif not any(all((folder / name).is_file() for name in option) for option in need):
                missing.append(f"{component}/{_describe(need)}")
    if missing:
        hint = ""
        if variant_only:
            hint = f"; {', '.join(variant_only)} only hold variant weights (*.fp16.*): pass --variant fp16"
        raise ArtstyleError(
            f"--base {base} is not a complete Stable Diffusion folder; missing: {'; '.join(missing)}{hint}. "
            "Weights may be .safetensors or .bin. Nothing is downloaded: copy the whole model folder there"
        )
    return base


class _Weights(str):
    """A weights file stem: ``stem.safetensors``, ``stem.bin`` or a sharded index of either."""

    @property
    def stem(self) -> str:
        return str(self)


# Per component, what must be there: a tuple of alternatives (each a tuple of files), or weights.
_REQUIRED: dict[str, list[Any]] = {
    "unet": [(("config.json",),), _Weights("diffusion_pytorch_model")],
    "vae": [(("config.json",),), _Weights("diffusion_pytorch_model")],
    "text_encoder": [(("config.json",),), _Weights("model")],
    "tokenizer": [(("vocab.json", "merges.txt"), ("tokenizer.json",))],
    "scheduler": [(("scheduler_config.json",),)],
    "safety_checker": [(("config.json",),), _Weights("model")],
    "feature_extractor": [(("preprocessor_config.json",),)],
}


def _describe(need: Any) -> str:
    if isinstance(need, _Weights):
        return f"{need.stem}.safetensors"
    return " or ".join(" + ".join(option) for option in need)


def _weights_status(folder: Path, stem: str, variant: str | None) -> str:
    """'ok', 'missing', or 'variant-only' (only ``stem.<variant>.*`` files where plain ones were wanted)."""
    names = {path.name for path in folder.iterdir() if path.is_file()}
    plain = any(f"{stem}{suffix}" in names for suffix in _WEIGHT_SUFFIXES)
    if variant is not None:
        return (
            "ok"
            if plain or any(f"{stem}.{variant}{suffix}" in names for suffix in _WEIGHT_SUFFIXES)
            else "missing"
        )
    if plain:
        return "ok"
    if any(name.startswith(f"{stem}.") and name.endswith(_WEIGHT_SUFFIXES) for name in names):
        return "variant-only"
    return "missing"


def _scheduler_class(base: Path):
    """The sampling scheduler class the folder names (looked up in diffusers, never imported from the folder)."""
    import diffusers

    name = None
    try:
        name = json.loads((base / "model_index.json").read_text(encoding="utf-8")).get(
            "scheduler", [None, None]
        )[1]
    except (OSError, json.JSONDecodeError, IndexError, TypeError):
        pass
    scheduler_class = getattr(diffusers, name, None) if isinstance(name, str) else None
    return scheduler_class if scheduler_class is not None else diffusers.PNDMScheduler


def _load_component(loader, base: Path, subfolder: str, **kwargs):
    try:
        return loader.from_pretrained(base, subfolder=subfolder, local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtstyleError(f"cannot load {subfolder}/ from {base}: {first}") from exc


# ---------------------------------------------------------------- captions and prompts


def style_text(style: str) -> str:
    """Folder name -> words: ``Post_Impressionism`` -> ``Post Impressionism``."""
    return " ".join(style.replace("_", " ").split())


def artist_text(slug: str) -> str:
    """WikiArt artist slug -> name: ``claude-monet`` -> ``Claude Monet``."""
    return " ".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part)


def caption_for(style: str, artist: str | None, config: LoraConfig) -> str:
    """The training caption of one image."""
    if artist and config.artist_caption:
        return config.artist_caption.format(style=style_text(style), artist=artist_text(artist))
    return config.caption.format(style=style_text(style), artist="")


def prompt_for(style: str, prompt: str | None, config: LoraConfig) -> str:
    """The sampling prompt: the style caption, plus a subject.

    A ``prompt`` holding ``{style}`` is filled in and used as it is; any other
    prompt is appended to the caption ("a painting in the Rococo style, a harbour at dawn").
    """
    caption = config.caption.format(style=style_text(style), artist="")
    if not prompt:
        return caption
    if "{style}" in prompt:
        return prompt.replace("{style}", style_text(style))
    return f"{caption}, {prompt}"


def default_validation_styles(classes: Sequence[str], n: int = 4) -> list[str]:
    """Up to ``n`` styles spread evenly over the sorted class list."""
    if len(classes) <= n:
        return list(classes)
    positions = np.linspace(0, len(classes) - 1, n).round().astype(int)
    return [classes[i] for i in positions]


# ---------------------------------------------------------------- images


class CaptionedImages(torch.utils.data.Dataset):
    """Position ``k`` of the sampling plan -> (pixels in [-1, 1] (3, R, R), caption, unreadable files).

    The crop offset and the flip come from a generator seeded with
    ``(seed, k)``, so a resumed run sees exactly the images and augmentations
    an uninterrupted one would. An unreadable image is replaced by the next
    readable one of the same style and reported, never fatal.
    """

    def __init__(
        self,
        items,
        captions: Sequence[str],
        plan: np.ndarray,
        *,
        resolution: int,
        crop: str,
        flip: bool,
        seed: int,
    ):
        self.items = list(items)
        self.captions = list(captions)
        self.plan = plan
        self.resolution = resolution
        self.crop = crop
        self.flip = flip
        self.seed = seed
        self.by_style: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            self.by_style.setdefault(item.style, []).append(i)

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, position: int):
        from artstyle.data.images import ImageError

        rng = np.random.default_rng([self.seed, int(position)])
        index = int(self.plan[position])
        same_style = self.by_style[self.items[index].style]
        start = same_style.index(index)
        failed: list[str] = []
        for candidate in same_style[start:] + same_style[:start]:
            try:
                pixels = load_pixels(
                    self.items[candidate], self.resolution, crop=self.crop, flip=self.flip, rng=rng
                )
            except ImageError as exc:
                failed.append(f"{self.items[candidate].rel}: {exc.reason}")
                continue
            return pixels, self.captions[candidate], failed
        raise ArtstyleError(
            f"no image of style {self.items[index].style} can be decoded ({'; '.join(failed[:3])}); "
            "run `artstyle data audit DATA` and fix or remove them"
        )


def load_pixels(
    item,
    resolution: int,
    *,
    crop: str = "center",
    flip: bool = False,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """One training image: short side scaled to ``resolution``, a square crop, maybe mirrored; (3, R, R) in [-1, 1]."""
    from artstyle.data.images import ImageError, decode_item, open_rgb
    from artstyle.data.scan import read_item_bytes

    rng = rng if rng is not None else np.random.default_rng(0)
    if crop == "center":
        pixels = (
            torch.from_numpy(decode_item(item, resolution, "crop").copy()).permute(2, 0, 1).float()
        )
    else:
        try:
            data = read_item_bytes(item)
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot read file: {exc}", path=item.rel) from exc
        image = np.asarray(open_rgb(data, draft_size=resolution))
        full = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        height, width = full.shape[-2:]
        scale = resolution / min(height, width)
        size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
        # antialiased bicubic, like the PIL resize the centre-crop path uses
        scaled = F.interpolate(
            full, size=size, mode="bicubic", antialias=True, align_corners=False
        )[0]
        top = int(rng.integers(0, size[0] - resolution + 1))
        left = int(rng.integers(0, size[1] - resolution + 1))
        pixels = scaled[:, top : top + resolution, left : left + resolution].clamp(0, 255)
    if flip and rng.random() < 0.5:
        pixels = pixels.flip(-1)
    return pixels / 127.5 - 1.0


def _collate(samples):
    pixels = torch.stack([sample[0] for sample in samples])  # (B, 3, R, R)
    captions = [sample[1] for sample in samples]
    failed = [entry for sample in samples for entry in sample[2]]
    return pixels, captions, failed


# ---------------------------------------------------------------- Fabric and precision


def resolve_precision(config) -> str:
    """The engine's rule (bf16-mixed on a CUDA GPU with bf16, else 32-true), refusing 16-mixed off CUDA."""
    from artstyle.train.loop import resolve_precision as engine_precision

    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "cuda", "gpu")
    if config.precision == "16-mixed" and not cuda:
        raise ArtstyleError(
            "precision 16-mixed needs a CUDA GPU; use 32-true (or bf16-mixed) on this machine"
        )
    return engine_precision(config.precision, config.accelerator)


def make_fabric(config):
    """The training engine's Fabric for ``config``'s devices (one process, or DDP), same precision rule."""
    from artstyle.train.loop import make_fabric as engine_fabric

    resolve_precision(config)  # refuse 16-mixed on a CPU before Fabric does, with advice
    return engine_fabric(config)


def _weight_dtype(precision: str) -> torch.dtype:
    # the frozen weights are only read, so half precision costs nothing in accuracy that autocast would not
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision, torch.float32)


# ---------------------------------------------------------------- training


@dataclass
class LoraTraining:
    """Everything one run's loop touches; built by :func:`setup_training`."""

    config: LoraConfig
    fabric: Any
    run: Any  # artstyle.train.runs.RunFolder
    models: dict[str, Any]  # tokenizer, text_encoder, vae, unet (unwrapped), noise_scheduler, ...
    unet: Any  # the UNet as Fabric set it up (DDP-wrapped on several devices)
    text_encoder: Any  # set up by Fabric when it is trained too
    optimizer: Any
    lr_scheduler: Any
    items: list
    classes: list[str]
    validation_styles: list[str]
    precision: str
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    # True from the optimizer's update until ``step`` counts it: a checkpoint written then
    # would hold weights one update ahead of its step, and resume would apply a batch twice
    updating: bool = False

    @property
    def images_per_step(self) -> int:
        return self.config.batch_size * self.config.grad_accum * self.fabric.world_size


def train_lora(config: LoraConfig, *, resume: bool = False) -> dict[str, Any]:
    """Fine-tune LoRA adapters of ``config.base`` on ``config.data`` into the run folder ``config.out``.

    With ``resume`` the run continues from ``out/checkpoints/last.ckpt`` (the
    config given should be the run's, with any changes such as more steps).
    Returns the metrics written to ``out/metrics.json``.

        artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    """
    training = setup_training(config, resume=resume)
    batches = training_batches(training)
    fabric = training.fabric
    progress = _Progress(
        enabled=config.progress and fabric.is_global_zero,
        total=config.max_steps,
        start=training.step,
    )
    deadline = None if config.max_minutes is None else time.monotonic() + 60.0 * config.max_minutes
    window: list[
        tuple[float, float]
    ] = []  # (loss, seconds) of the steps since the last history row
    stopped = None
    if fabric.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(fabric.device)
    start_step = training.step
    try:
        while training.step < config.max_steps:
            began = time.perf_counter()
            loss = train_step(training, batches)
            seconds = time.perf_counter() - began
            training.train_seconds += seconds
            window.append((loss, seconds))
            progress.update(training.step, loss)
            step = training.step
            last = step == config.max_steps
            if deadline is not None and time.monotonic() > deadline and not last:
                stopped = f"max_minutes ({config.max_minutes}) reached at step {step}"
            if step % config.log_every == 0 or last or stopped:
                _log_row(training, window)
                window = []
            if step % config.checkpoint_every == 0 or last or stopped:
                save_checkpoint(training)
            if config.validation_every and (step % config.validation_every == 0 or last or stopped):
                if fabric.is_global_zero:
                    validation_figure(training)
                fabric.barrier()
            if stopped:
                break
    except KeyboardInterrupt:
        # Ctrl-C keeps what was trained: the next --resume starts from this step; mid-update
        # the last checkpoint written stays instead
        if training.step > start_step and not training.updating:
            save_checkpoint(training)
        raise
    finally:
        progress.close()
    return _finish(training, stopped)


def setup_training(config: LoraConfig, *, resume: bool = False) -> LoraTraining:
    """Check the inputs, create (or reopen) the run folder, load the models, and restore a checkpoint."""
    from artstyle.data.scan import scan
    from artstyle.train import runs

    if config.out is None:
        raise ArtstyleError("no run folder given; pass --out RUN")
    if config.data is None:
        raise ArtstyleError(
            "no data given; pass --data with a folder of style folders (or an ArtGAN release / parquet)"
        )
    base = check_base_folder(config.base, variant=config.variant)
    if resume:
        runs.open_run(config.out)
    else:
        runs.check_new_run(config.out)
    index = scan(config.data, test_fraction=config.test_fraction, seed=config.seed)
    items = index.split("train") + (index.split("test") if config.images == "all" else [])
    if not items:
        raise ArtstyleError(
            f"{config.data} has no training images; it needs train/<Style>/*.jpg or style folders"
        )
    classes = index.classes
    if config.styles:
        chosen = sorted(
            {resolve_style(name, classes, among=f"of {config.data}") for name in config.styles}
        )
        items = [item for item in items if item.style in chosen]
        if not items:
            raise ArtstyleError(
                f"{config.data} has no training images of --styles {', '.join(chosen)}"
            )
        classes = chosen
    validation_styles = [resolve_style(name, classes) for name in config.validation_styles]

    fabric = make_fabric(config)
    fabric.launch()
    precision = str(fabric.strategy.precision.precision)  # what Fabric really runs
    run = runs.RunFolder(Path(config.out).expanduser())
    if fabric.is_global_zero:
        run = runs.create_run(config.out, resume=resume)
        if resume:
            runs.check_classes(
                runs.read_classes(run), classes, run_path=run.path, data_path=config.data
            )
        else:
            # a resume rewrites config.yaml only once its checkpoint has been accepted
            runs.write_config(run, config, task=TASK)
            runs.write_classes(run, classes)
    fabric.barrier()

    _prepare_hf()
    models = _load_training_models(base, config, fabric.device, _weight_dtype(precision))
    groups = [
        {"params": [p for p in models["unet"].parameters() if p.requires_grad], "lr": config.lr}
    ]
    if config.train_text_encoder:
        text_params = [p for p in models["text_encoder"].parameters() if p.requires_grad]
        groups.append({"params": text_params, "lr": config.text_encoder_lr or config.lr})
    optimizer = _make_optimizer(groups, config)
    lr_scheduler = _make_lr_scheduler(optimizer, config)
    unet = fabric.setup_module(models["unet"])
    text_encoder = (
        fabric.setup_module(models["text_encoder"])
        if config.train_text_encoder
        else models["text_encoder"]
    )
    training = LoraTraining(
        config=config,
        fabric=fabric,
        run=run,
        models=models,
        unet=unet,
        text_encoder=text_encoder,
        optimizer=fabric.setup_optimizers(optimizer),
        lr_scheduler=lr_scheduler,
        items=items,
        classes=classes,
        validation_styles=validation_styles or default_validation_styles(classes),
        precision=precision,
    )
    if resume:
        if run.checkpoint_path.is_file():
            _restore(training)
        elif fabric.is_global_zero and config.progress:
            # stopped (error, kill, NaN loss) before its first checkpoint: nothing was kept,
            # so the run starts over from step 0 with its own settings
            print(
                f"{run.checkpoint_path} not written yet: starting {run.path} over from step 0",
                flush=True,
            )
        if fabric.is_global_zero:
            runs.write_config(run, config, task=TASK)  # with the changes the resume made
    return training


def training_batches(training: LoraTraining) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(pixels (B, 3, R, R) in [-1, 1], token ids (B, 77)) on the device, from the current step to the last.

    Unreadable images met on the way are added to ``training.unreadable``.
    """
    from artstyle.data.balance import weighted_sampler_indices

    config, fabric = training.config, training.fabric
    world, rank = fabric.world_size, fabric.global_rank
    # Style-balanced draw: with "inverse" every style is equally likely. numpy's weighted
    # choice is prefix-stable, so raising max_steps on resume keeps the earlier steps' images.
    labels = np.asarray([training.classes.index(item.style) for item in training.items])
    plan = weighted_sampler_indices(
        labels, config.max_steps * training.images_per_step, seed=config.seed, method=config.balance
    )
    captions = [caption_for(item.style, item.artist, config) for item in training.items]
    dataset = CaptionedImages(
        training.items,
        captions,
        plan,
        resolution=config.resolution,
        crop=config.crop,
        flip=config.flip,
        seed=config.seed,
    )
    # Sample k of micro-batch m goes to rank r at plan position ((m * world + r) * batch + k).
    positions = [
        ((step * config.grad_accum + micro) * world + rank) * config.batch_size + k
        for step in range(training.step, config.max_steps)
        for micro in range(config.grad_accum)
        for k in range(config.batch_size)
    ]
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=positions,
        num_workers=config.loader_workers,
        collate_fn=_collate,
        # its own generator: creating the iterator must not draw from the global RNG the steps reseed
        generator=torch.Generator().manual_seed(config.seed),
    )
    tokenizer = training.models["tokenizer"]
    token_ids: dict[str, torch.Tensor] = {}
    for pixels, texts, failed in loader:
        training.unreadable.extend(entry for entry in failed if entry not in training.unreadable)
        for text in texts:
            if text not in token_ids:
                token_ids[text] = tokenizer(
                    text,
                    padding="max_length",
                    max_length=tokenizer.model_max_length,
                    truncation=True,
                    return_tensors="pt",
                ).input_ids[0]
        yield (
            pixels.to(fabric.device),
            torch.stack([token_ids[text] for text in texts]).to(fabric.device),
        )


def train_step(
    training: LoraTraining, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
) -> float:
    """One optimizer step over ``grad_accum`` micro-batches; returns the mean loss."""
    config, fabric = training.config, training.fabric
    # One seed per (run, rank, step): noise, timesteps, VAE sampling and dropout replay exactly on resume.
    seed = np.random.SeedSequence([config.seed, fabric.global_rank, training.step]).generate_state(
        1
    )[0]
    torch.manual_seed(int(seed))
    training.unet.train()
    trained = [training.unet]
    if config.train_text_encoder:
        training.text_encoder.train()
        trained.append(training.text_encoder)
    step_loss = torch.zeros((), device=fabric.device)
    for micro in range(config.grad_accum):
        pixels, input_ids = next(batches)
        with contextlib.ExitStack() as no_sync:
            # DDP: all-reduce the gradients once per optimizer step, not once per micro-batch
            for module in trained:
                no_sync.enter_context(
                    fabric.no_backward_sync(module, enabled=micro < config.grad_accum - 1)
                )
            loss = diffusion_loss(
                pixels,
                input_ids,
                models=training.models,
                unet=training.unet,
                text_encoder=training.text_encoder,
                config=config,
            )
            fabric.backward(loss / config.grad_accum)
        step_loss += loss.detach() / config.grad_accum
    if config.max_grad_norm is not None:
        # clips every parameter the optimizer holds (text encoder included), after unscaling fp16 gradients
        fabric.clip_gradients(
            training.unet,
            training.optimizer,
            max_norm=config.max_grad_norm,
            error_if_nonfinite=False,
        )
    training.updating = True
    training.optimizer.step()
    training.lr_scheduler.step()
    training.optimizer.zero_grad(set_to_none=True)
    training.step += 1
    training.updating = False
    value = float(step_loss)
    if not math.isfinite(value):
        raise ArtstyleError(
            f"the loss became {value} at step {training.step}; start a new run (another --out) "
            "with a lower --lr, or in bf16-mixed / 32-true instead of 16-mixed"
        )
    return value


def _load_training_models(
    base: Path, config: LoraConfig, device: torch.device, weight_dtype: torch.dtype
) -> dict[str, Any]:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig as PeftLoraConfig
    from transformers import CLIPTextModel, CLIPTokenizer

    variant = {"variant": config.variant} if config.variant else {}
    tokenizer = _load_component(CLIPTokenizer, base, "tokenizer")
    text_encoder = _load_component(CLIPTextModel, base, "text_encoder", **variant)
    vae = _load_component(AutoencoderKL, base, "vae", **variant)
    unet = _load_component(UNet2DConditionModel, base, "unet", **variant)
    noise_scheduler = _load_component(DDPMScheduler, base, "scheduler")
    if noise_scheduler.config.prediction_type not in ("epsilon", "v_prediction"):
        raise ArtstyleError(
            f"{base}/scheduler predicts {noise_scheduler.config.prediction_type!r}; only epsilon and v_prediction models are supported"
        )
    for model in (vae, text_encoder, unet):
        model.requires_grad_(False)
    vae.to(device, dtype=weight_dtype).eval()
    text_encoder.to(device, dtype=weight_dtype).eval()
    unet.to(device, dtype=weight_dtype)
    alpha = config.alpha if config.alpha is not None else config.rank
    # the random LoRA init is part of the run: same seed, same adapters
    torch.manual_seed(config.seed)
    # Gaussian init of A and zero B (the LoRA paper's): the adapted model starts equal to the base.
    unet_lora = PeftLoraConfig(
        r=config.rank,
        lora_alpha=alpha,
        lora_dropout=config.lora_dropout,
        init_lora_weights="gaussian",
        target_modules=config.target_modules,
    )
    try:
        unet.add_adapter(unet_lora)
    except ValueError as exc:
        raise ArtstyleError(
            f"cannot put LoRA on the UNet's {', '.join(config.target_modules)}: {str(exc).splitlines()[0]}"
        ) from exc
    trained = [unet]
    if config.train_text_encoder:
        text_lora = PeftLoraConfig(
            r=config.rank,
            lora_alpha=alpha,
            lora_dropout=config.lora_dropout,
            init_lora_weights="gaussian",
            target_modules=config.text_encoder_target_modules,
        )
        try:
            text_encoder.add_adapter(text_lora)
        except ValueError as exc:
            raise ArtstyleError(
                f"cannot put LoRA on the text encoder's {', '.join(config.text_encoder_target_modules)}: {str(exc).splitlines()[0]}"
            ) from exc
        trained.append(text_encoder)
    # Only the LoRA weights are trained: keep them in fp32 while the frozen ones stay in half
    # precision, or the fp16 gradient scaler refuses them ("Attempting to unscale FP16 gradients").
    cast_training_params(trained, dtype=torch.float32)
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": vae,
        "unet": unet,
        "noise_scheduler": noise_scheduler,
        "weight_dtype": weight_dtype,
        "base": base,
    }


def _make_optimizer(groups: list[dict[str, Any]], config: LoraConfig) -> torch.optim.Optimizer:
    if config.adam8bit:
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise ArtstyleError(
                "adam8bit needs bitsandbytes: pip install bitsandbytes (CUDA only), or drop --adam8bit"
            ) from exc
        return bnb.optim.AdamW8bit(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def _make_lr_scheduler(optimizer: torch.optim.Optimizer, config: LoraConfig):
    from diffusers.optimization import get_scheduler

    name = (
        "cosine"
        if config.schedule == "cosine"
        else ("constant_with_warmup" if config.warmup_steps else "constant")
    )
    return get_scheduler(
        name, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=config.max_steps
    )


def diffusion_loss(
    pixels: torch.Tensor,
    input_ids: torch.Tensor,
    *,
    models: dict[str, Any],
    unet,
    text_encoder,
    config: LoraConfig,
) -> torch.Tensor:
    """The denoising loss of one batch (pixels (B, 3, R, R) in [-1, 1], token ids (B, 77))."""
    vae, noise_scheduler, weight_dtype = (
        models["vae"],
        models["noise_scheduler"],
        models["weight_dtype"],
    )
    with torch.no_grad():
        # (B, 3, R, R) -> (B, 4, R/8, R/8), scaled to unit variance as the UNet was trained
        latents = (
            vae.encode(pixels.to(weight_dtype)).latent_dist.sample() * vae.config.scaling_factor
        )
    noise = torch.randn_like(latents)
    if config.noise_offset:
        # offset noise (Guttenberg 2023, "Diffusion with Offset Noise"): lets the model shift whole-image brightness
        noise = noise + config.noise_offset * torch.randn(
            latents.shape[0], latents.shape[1], 1, 1, device=latents.device, dtype=latents.dtype
        )
    timesteps = torch.randint(
        0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],), device=latents.device
    ).long()
    noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
    if config.train_text_encoder:
        encoder_hidden_states = text_encoder(input_ids, return_dict=False)[0]  # (B, 77, D)
    else:
        with torch.no_grad():
            encoder_hidden_states = text_encoder(input_ids, return_dict=False)[0]
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    model_pred = unet(noisy_latents, timesteps, encoder_hidden_states, return_dict=False)[0]
    if config.snr_gamma is None:
        return F.mse_loss(model_pred.float(), target.float(), reduction="mean")
    from diffusers.training_utils import compute_snr

    # Min-SNR weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
    # Strategy", eq. 6): weight min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v prediction.
    snr = compute_snr(noise_scheduler, timesteps)
    weights = torch.clamp(snr, max=config.snr_gamma)
    weights = (
        weights / (snr + 1)
        if noise_scheduler.config.prediction_type == "v_prediction"
        else weights / snr
    )
    per_sample = F.mse_loss(model_pred.float(), target.float(), reduction="none").mean(
        dim=(1, 2, 3)
    )
    return (per_sample * weights).mean()


# ---------------------------------------------------------------- saving and resuming


def lora_state_dicts(
    models: dict[str, Any], *, train_text_encoder: bool
) -> dict[str, dict[str, torch.Tensor]]:
    """The peft-format LoRA weights of the UNet (and text encoder), on the CPU."""
    from peft.utils import get_peft_model_state_dict

    def lora_only(model) -> dict[str, torch.Tensor]:
        # No embedding layer is adapted, so none is saved; "auto" would also ask the Hub about the base.
        state = get_peft_model_state_dict(model, save_embedding_layers=False)
        return {key: value.detach().cpu() for key, value in state.items()}

    out = {"unet": lora_only(models["unet"])}
    if train_text_encoder:
        out["text_encoder"] = lora_only(models["text_encoder"])
    return out


def save_lora_weights(
    folder: str | os.PathLike, models: dict[str, Any], *, train_text_encoder: bool
) -> Path:
    """``folder/pytorch_lora_weights.safetensors`` in diffusers' format, written atomically."""
    import tempfile

    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers

    folder = Path(folder)
    states = lora_state_dicts(models, train_text_encoder=train_text_encoder)
    kwargs: dict[str, Any] = {
        "unet_lora_layers": convert_state_dict_to_diffusers(states["unet"]),
        # the adapter config (rank, alpha, targets) travels as metadata so alpha != rank loads right
        "unet_lora_adapter_metadata": models["unet"].peft_config["default"].to_dict(),
    }
    if train_text_encoder:
        kwargs["text_encoder_lora_layers"] = convert_state_dict_to_diffusers(states["text_encoder"])
        kwargs["text_encoder_lora_adapter_metadata"] = (
            models["text_encoder"].peft_config["default"].to_dict()
        )
    from safetensors import SafetensorError

    # ".tmp" suffix: a folder a killed process leaves is removed when the run is resumed
    with tempfile.TemporaryDirectory(dir=folder, prefix=".lora-", suffix=".tmp") as tmp:
        try:
            StableDiffusionPipeline.save_lora_weights(tmp, safe_serialization=True, **kwargs)
        # a full disk: safetensors' writer raises its own error type, not OSError
        except (OSError, SafetensorError) as exc:
            raise ArtstyleError(
                f"could not write {folder / WEIGHTS_NAME}: {str(exc).strip().splitlines()[0]}; "
                "the previous file (if any) is unchanged"
            ) from exc
        with atomic_path(folder / WEIGHTS_NAME) as target:
            os.replace(Path(tmp) / WEIGHTS_NAME, target)
    return folder / WEIGHTS_NAME


def save_checkpoint(training: LoraTraining) -> None:
    """The LoRA weights (diffusers format), checkpoints/last.ckpt and history.csv; rank 0 writes."""
    from artstyle.train import runs

    fabric, config = training.fabric, training.config
    if fabric.is_global_zero:
        save_lora_weights(
            training.run.path, training.models, train_text_encoder=config.train_text_encoder
        )
        state = {
            "step": training.step,
            "train_seconds": training.train_seconds,
            "lora": lora_state_dicts(training.models, train_text_encoder=config.train_text_encoder),
            "optimizer": training.optimizer.state_dict(),
            "lr_scheduler": training.lr_scheduler.state_dict(),
            "precision": fabric.strategy.precision.state_dict(),  # the fp16 gradient scaler, when there is one
            "unreadable": list(training.unreadable),
        }
        runs.save_checkpoint(training.run.checkpoint_path, state)
        runs.write_history(training.run, training.history)
    fabric.barrier()


def _restore(training: LoraTraining) -> None:
    from peft.utils import set_peft_model_state_dict

    from artstyle.train import runs

    run, config = training.run, training.config
    state = runs.load_checkpoint(run.checkpoint_path)
    try:
        lora = state["lora"]
        result = set_peft_model_state_dict(training.models["unet"], lora["unet"])
        if getattr(result, "unexpected_keys", None):
            raise KeyError(f"unexpected UNet LoRA weights {result.unexpected_keys[:2]}")
        if config.train_text_encoder:
            if "text_encoder" not in lora:
                raise KeyError("no text-encoder LoRA weights (was train_text_encoder switched on?)")
            set_peft_model_state_dict(training.models["text_encoder"], lora["text_encoder"])
        training.optimizer.load_state_dict(state["optimizer"])
        training.lr_scheduler.load_state_dict(state["lr_scheduler"])
        if state.get("precision"):
            training.fabric.strategy.precision.load_state_dict(state["precision"])
        step = int(state["step"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ArtstyleError(
            f"checkpoint {run.checkpoint_path} does not fit this configuration ({str(exc).splitlines()[0]}); "
            "resume with the run's own settings (rank, targets, text encoder)"
        ) from exc
    if step >= config.max_steps:
        raise ArtstyleError(
            f"{run.path} already ran {step} steps (max_steps {config.max_steps}); pass a larger --max-steps to continue"
        )
    training.step = step
    training.train_seconds = float(state.get("train_seconds", 0.0))
    training.unreadable = list(state.get("unreadable", []))
    training.history = [row for row in runs.read_history(run) if (row.get("step") or 0) <= step]


def resume_lora(run: str | os.PathLike, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Continue ``run`` from its last checkpoint; ``overrides`` change keys such as ``max_steps``.

    artstyle lora train --resume runs/lora --max-steps 4000
    """
    from artstyle.train.classify import resumed_config

    folder, config = resumed_config(run, LoraConfig, TASK, RESUMABLE_KEYS, overrides)
    return train_lora(config.model_copy(update={"out": folder.path}), resume=True)


# ---------------------------------------------------------------- metrics and figures


def _log_row(training: LoraTraining, window: list[tuple[float, float]]) -> None:
    """One history.csv row: the loss averaged over the window's steps (and over devices)."""
    fabric = training.fabric
    losses, seconds = zip(*window, strict=True)
    mean_loss = fabric.all_reduce(
        torch.tensor(float(np.mean(losses)), device=fabric.device), reduce_op="mean"
    )
    training.history.append(
        {
            "step": training.step,
            "loss": float(mean_loss),
            "lr": training.lr_scheduler.get_last_lr()[0],
            "images_per_second": len(window) * training.images_per_step / max(sum(seconds), 1e-9),
            "seconds": training.train_seconds,
        }
    )


def _finish(training: LoraTraining, stopped: str | None) -> dict[str, Any]:
    """metrics.json, history.csv and figures/loss.png; returns the metrics."""
    from artstyle.train import runs

    config, fabric, models = training.config, training.fabric, training.models
    losses = [row["loss"] for row in training.history]
    tenth = max(1, len(losses) // 10)
    trained = [models["unet"]] + ([models["text_encoder"]] if config.train_text_encoder else [])
    metrics: dict[str, Any] = {
        "task": TASK,
        "steps": training.step,
        "max_steps": config.max_steps,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "loss_min": min(losses) if losses else None,
        "loss_mean_first_10pct": float(np.mean(losses[:tenth])) if losses else None,
        "loss_mean_last_10pct": float(np.mean(losses[-tenth:])) if losses else None,
        "train_images_per_second": training.step * training.images_per_step / training.train_seconds
        if training.train_seconds > 0
        else None,
        "train_seconds": training.train_seconds,
        "images_per_step": training.images_per_step,
        "n_train_images": len(training.items),
        "n_styles": len(training.classes),
        "trainable_parameters": sum(
            p.numel() for model in trained for p in model.parameters() if p.requires_grad
        ),
        "rank": config.rank,
        "resolution": config.resolution,
        "precision": training.precision,
        "devices": fabric.world_size,
        "device": fabric.device.type,
        "gradient_checkpointing": config.gradient_checkpointing,
        "unreadable": list(training.unreadable),
        "weights": WEIGHTS_NAME,
    }
    if fabric.device.type == "cuda":
        metrics["peak_memory_gb"] = torch.cuda.max_memory_allocated(fabric.device) / 2**30
    if stopped:
        metrics["stopped"] = stopped
    if fabric.is_global_zero:
        runs.write_history(training.run, training.history)
        runs.write_metrics(training.run, metrics)
        _loss_figure(training.run, training.history)
    fabric.barrier()
    return metrics


def image_grid_figure(
    images: np.ndarray,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str | None = None,
):
    """A labelled grid of images (rows, cols, H, W, 3) in [0, 1] as a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n_rows, n_cols = images.shape[:2]
    side = 2.4
    figure = Figure(
        figsize=(side * n_cols + 1.2, side * n_rows + (0.5 if title else 0.2)), layout="constrained"
    )
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.imshow(np.clip(images[r, c], 0.0, 1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_labels[c].replace("_", " "), fontsize=9, parse_math=False)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9, parse_math=False)
    if title:
        figure.suptitle(title, fontsize=10, parse_math=False)
    return figure


def _save_figure(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return path


def _loss_figure(run, history: list[dict[str, Any]]) -> None:
    if not history:
        return
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(
        [row["step"] for row in history],
        [row["loss"] for row in history],
        marker="." if len(history) < 30 else None,
    )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(
        f"denoising loss (mean of {history[0]['step']} steps)" if len(history) > 0 else "loss"
    )
    ax.set_title("LoRA training loss")
    ax.grid(alpha=0.3)
    _save_figure(figure, run.figure_path("loss.png"))


def _pipeline_from_models(models: dict[str, Any]):
    from diffusers import StableDiffusionPipeline

    scheduler = _load_component(_scheduler_class(models["base"]), models["base"], "scheduler")
    pipe = StableDiffusionPipeline(
        vae=models["vae"],
        text_encoder=models["text_encoder"],
        tokenizer=models["tokenizer"],
        unet=models["unet"],
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def validation_figure(training: LoraTraining) -> Path:
    """``figures/validation_step_NNNNNN.png``: one image per validation style, one seed, from the model in training."""
    config, models, fabric = training.config, training.models, training.fabric
    pipe = _pipeline_from_models(models)
    models["unet"].eval()  # train_step switches training mode back on
    models["text_encoder"].eval()
    images = []
    with fabric.autocast():
        for style in training.validation_styles:
            generator = torch.Generator(device=fabric.device).manual_seed(config.seed)
            out = pipe(
                prompt_for(style, config.validation_prompt, config),
                num_inference_steps=config.inference_steps,
                guidance_scale=config.guidance_scale,
                height=config.resolution,
                width=config.resolution,
                generator=generator,
                output_type="np",
            )
            images.append(out.images[0])
    grid = np.stack(images)[None].astype(np.float32)  # (1, n_styles, H, W, 3)
    figure = image_grid_figure(
        grid,
        row_labels=[f"step {training.step}"],
        col_labels=training.validation_styles,
        title=f"validation, seed {config.seed}",
    )
    return _save_figure(
        figure, training.run.figure_path(f"validation_step_{training.step:06d}.png")
    )


class _Progress:
    """A rich progress bar over optimizer steps (nothing when disabled)."""

    def __init__(self, *, enabled: bool, total: int, start: int):
        self.bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("lora"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=total, completed=start)

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, description=f"loss {loss:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# ---------------------------------------------------------------- sampling


def _inference_device_dtype(config: LoraConfig) -> tuple[torch.device, torch.dtype]:
    if torch.cuda.is_available() and config.accelerator in ("auto", "cuda", "gpu"):
        return torch.device("cuda"), (
            torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        )
    return torch.device("cpu"), torch.float32


def load_run(run: str | os.PathLike) -> tuple[Any, LoraConfig, list[str]]:
    """A LoRA run folder's (RunFolder, config, classes); refuses folders of other tasks or without weights."""
    from artstyle.train import runs

    folder = runs.open_run(run)
    config = runs.read_config(folder, LoraConfig, task=TASK)
    if not (folder.path / WEIGHTS_NAME).is_file():
        raise ArtstyleError(
            f"{folder.path} has no {WEIGHTS_NAME} yet; train it (or let it reach its first checkpoint) first"
        )
    return folder, config, runs.read_classes(folder)


def load_pipeline(
    run: str | os.PathLike,
    *,
    base: str | os.PathLike | None = None,
    safety_checker: bool | None = None,
):
    """The base pipeline of ``run`` (its recorded ``base`` unless given) with the run's LoRA loaded.

    Returns (pipe, config, classes). The NSFW checker stays off unless the
    run's config or ``safety_checker`` asks for it: it blacks out nudes that
    paintings are full of.
    """
    folder, config, classes = load_run(run)
    use_checker = config.safety_checker if safety_checker is None else safety_checker
    base_path = check_base_folder(
        base if base is not None else config.base,
        variant=config.variant,
        safety_checker=use_checker,
    )
    _prepare_hf()
    from diffusers import StableDiffusionPipeline

    device, dtype = _inference_device_dtype(config)
    kwargs: dict[str, Any] = {"local_files_only": True, "torch_dtype": dtype}
    if config.variant:
        kwargs["variant"] = config.variant
    if not use_checker:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        with warnings.catch_warnings():
            # newer diffusers renamed torch_dtype to dtype; the old name works in every supported version
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = StableDiffusionPipeline.from_pretrained(base_path, **kwargs)
        pipe.load_lora_weights(folder.path, weight_name=WEIGHTS_NAME)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ArtstyleError(
            f"cannot load {base_path} with the LoRA of {folder.path}: {str(exc).strip().splitlines()[0]}"
        ) from exc
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe, config, classes


def _sample(
    pipe, prompt: str, *, seeds: Sequence[int], steps: int, guidance: float, resolution: int
):
    generators = [torch.Generator(device=pipe.device).manual_seed(seed) for seed in seeds]
    out = pipe(
        [prompt] * len(seeds),
        num_inference_steps=steps,
        guidance_scale=guidance,
        height=resolution,
        width=resolution,
        generator=generators,
        output_type="np",
    )
    flagged = getattr(out, "nsfw_content_detected", None) or []
    return np.asarray(out.images, dtype=np.float32), sum(bool(flag) for flag in flagged)


def _write_png(array: np.ndarray, path: Path) -> Path:
    """Pixels in [0, 1] (H, W, 3) as an image file in the format ``path``'s suffix names (PNG
    when it has none)."""
    from PIL import Image

    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix) if suffix else "PNG"
    if fmt is None or fmt not in Image.SAVE:
        raise ArtstyleError(
            f"cannot write {path}: {suffix} is not an image format; use .png or .jpg"
        )
    with atomic_path(path) as tmp:
        Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8), "RGB").save(
            tmp, format=fmt
        )
    return path


def _tile(images: np.ndarray, n_cols: int = 4) -> np.ndarray:
    """(N, H, W, 3) -> one (rows * H, cols * W, 3) image, row-major, blank cells white."""
    n, height, width, _ = images.shape
    n_cols = min(n_cols, n)
    n_rows = math.ceil(n / n_cols)
    canvas = np.ones((n_rows * height, n_cols * width, 3), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return canvas


def generate(
    run: str | os.PathLike,
    *,
    style: str,
    prompt: str | None = None,
    n: int = 4,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    resolution: int | None = None,
    base: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    safety_checker: bool | None = None,
) -> dict[str, Any]:
    """``n`` images of ``style`` (image i from seed ``seed + i``) in one PNG; returns what it wrote.

    artstyle lora generate runs/lora --style Rococo --prompt "a harbour at dawn" --n 4 --seed 1
    """
    if n < 1:
        raise ArtstyleError(f"--n must be at least 1, got {n}")
    pipe, config, classes = load_pipeline(run, base=base, safety_checker=safety_checker)
    style = resolve_style(style, classes)
    text = prompt_for(style, prompt, config)
    images, n_flagged = _sample(
        pipe,
        text,
        seeds=[seed + i for i in range(n)],
        steps=steps or config.inference_steps,
        guidance=config.guidance_scale if guidance is None else guidance,
        resolution=resolution or config.resolution,
    )
    path = Path(out) if out is not None else Path(run) / "samples" / f"{style}_seed{seed}.png"
    _write_png(_tile(images), path)
    return {
        "path": path,
        "prompt": text,
        "n": n,
        "seeds": [seed + i for i in range(n)],
        "nsfw_flagged": n_flagged,
        "images": images,
    }


def style_grid(
    run: str | os.PathLike,
    *,
    styles: Sequence[str] | None = None,
    prompt: str | None = None,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    resolution: int | None = None,
    base: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    safety_checker: bool | None = None,
) -> dict[str, Any]:
    """One prompt and seed across ``styles``: the base model's row above the LoRA model's.

    Saved as ``RUN/figures/style_grid.png`` unless ``out`` is given.

        artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn" --seed 3
    """
    pipe, config, classes = load_pipeline(run, base=base, safety_checker=safety_checker)
    chosen = (
        [resolve_style(name, classes) for name in styles]
        if styles
        else default_validation_styles(classes)
    )
    settings = {
        "seeds": [seed],
        "steps": steps or config.inference_steps,
        "guidance": config.guidance_scale if guidance is None else guidance,
        "resolution": resolution or config.resolution,
    }
    rows: dict[str, list[np.ndarray]] = {"base": [], "lora": []}
    n_flagged = 0
    for style in chosen:
        text = prompt_for(style, prompt, config)
        pipe.disable_lora()
        base_image, flagged_base = _sample(pipe, text, **settings)
        pipe.enable_lora()
        lora_image, flagged_lora = _sample(pipe, text, **settings)
        rows["base"].append(base_image[0])
        rows["lora"].append(lora_image[0])
        n_flagged += flagged_base + flagged_lora
    grid = np.stack([np.stack(rows["base"]), np.stack(rows["lora"])])  # (2, n_styles, H, W, 3)
    title = f"same prompt and seed {seed}" + (f": {prompt}" if prompt else "")
    figure = image_grid_figure(
        grid, row_labels=["base model", f"LoRA ({Path(run).name})"], col_labels=chosen, title=title
    )
    path = Path(out) if out is not None else Path(run) / "figures" / "style_grid.png"
    _save_figure(figure, path)
    return {"path": path, "styles": chosen, "seed": seed, "nsfw_flagged": n_flagged, "images": grid}


# ---------------------------------------------------------------- demo


def lora_demo_step(
    base: str | os.PathLike | None,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    max_steps: int | None = None,
    resolution: int | None = None,
    styles: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The demo's LoRA part: a short run on ``data`` and a base-vs-LoRA style grid.

    Returns ``{"skipped": reason}`` without a base model folder, else
    ``{"run", "metrics", "grid", "note"}``. The defaults fit the machine: on a
    CUDA GPU 200 steps at 512 px (a few minutes); on a CPU 10 steps at 256 px
    and 20 sampling steps, which only shows that the pipeline works.

        make demo BASE_MODEL=~/models/stable-diffusion-v1-5
    """
    if base is None:
        return {
            "skipped": "LoRA skipped: no base model folder (run `make demo BASE_MODEL=path/to/stable-diffusion-v1-5`)"
        }
    gpu = torch.cuda.is_available()
    steps = max_steps or (200 if gpu else 10)
    config = LoraConfig(
        base=Path(base),
        data=Path(data),
        out=Path(out),
        resolution=resolution or (512 if gpu else 256),
        max_steps=steps,
        rank=8,
        batch_size=1,
        grad_accum=4 if gpu else 1,
        checkpoint_every=steps,
        validation_every=0,
        inference_steps=30 if gpu else 20,
        validation_styles=list(styles or []),
        progress=progress,
    )
    metrics = train_lora(config)
    grid = style_grid(out, styles=styles or None, seed=0)
    note = f"{steps} steps at {config.resolution} px on {'GPU' if gpu else 'CPU'}" + (
        "" if gpu else " (a smoke run: use a GPU and 1500+ steps for a real style)"
    )
    return {"run": Path(out), "metrics": metrics, "grid": grid["path"], "note": note}
