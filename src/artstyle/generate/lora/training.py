"""One run's setup: Fabric and precision, the frozen models with their LoRA adapters, optimizer and schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from artstyle.config import LoraConfig
from artstyle.errors import ArtstyleError
from artstyle.generate.lora.base_model import _load_component, _prepare_hf, check_base_folder
from artstyle.generate.lora.buckets import STEP, Bucket, bucket_resolutions, choose_bucket
from artstyle.generate.lora.captions import default_validation_styles, training_captions
from artstyle.generate.lora.checkpoints import TASK, _restore
from artstyle.text import resolve_style
from artstyle.threads import use_threads

# ---------------------------------------------------------------- Fabric and precision


def resolve_precision(config) -> str:
    """The engine's rule (bf16-mixed on a CUDA GPU with bf16, else 32-true), refusing 16-mixed off CUDA."""
    from artstyle.train.engine import resolve_precision as engine_precision

    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "cuda", "gpu")
    if config.precision == "16-mixed" and not cuda:
        raise ArtstyleError(
            "precision 16-mixed needs a CUDA GPU; use 32-true (or bf16-mixed) on this machine"
        )
    return engine_precision(config.precision, config.accelerator)


def make_fabric(config):
    """The training engine's Fabric for ``config``'s devices (one process, or DDP), same precision rule."""
    from artstyle.train.engine import make_fabric as engine_fabric

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
    captions: list[str]  # one per item: its own caption or the style template
    classes: list[str]
    validation_styles: list[str]
    precision: str
    step: int = 0
    train_seconds: float = 0.0
    n_image_captions: int = 0  # items whose caption is their own (.txt or captions.csv)
    buckets: list | None = (
        None  # with --buckets: each item's (width, height) bucket, None if skipped
    )
    sizes: list | None = None  # with --buckets: each item's scanned (width, height)
    latents: Any = None  # with --cache-latents: the LatentCache
    history: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    # True from the optimizer's update until ``step`` counts it: a checkpoint written then
    # would hold weights one update ahead of its step, and resume would apply a batch twice
    updating: bool = False

    @property
    def images_per_step(self) -> int:
        return self.config.batch_size * self.config.grad_accum * self.fabric.world_size


def setup_training(config: LoraConfig, *, resume: bool = False) -> LoraTraining:
    """Check the inputs, create (or reopen) the run folder, load the models, and restore a checkpoint."""
    from artstyle.data.scan import scan
    from artstyle.train import runs

    if config.out is None:
        raise ArtstyleError("no run folder given; pass --out RUN")
    if config.keep_tokens and not config.shuffle_tags:
        raise ArtstyleError(
            f"--keep-tokens {config.keep_tokens} keeps tags in front of shuffled ones; "
            "add --shuffle-tags or drop --keep-tokens"
        )
    if config.data is None:
        raise ArtstyleError(
            "no data given; pass --data with a folder of style folders (or an ArtGAN release / parquet)"
        )
    if config.buckets and config.resolution % STEP:
        nearest = max(STEP, round(config.resolution / STEP) * STEP)
        raise ArtstyleError(
            f"--buckets needs a resolution that is a multiple of {STEP} (buckets step by {STEP} px), "
            f"got --resolution {config.resolution}; use --resolution {nearest} or drop --buckets"
        )
    if config.cache_latents and config.crop == "random":
        # kohya-ss sd-scripts refuses the same pair ("when caching latents, random_crop cannot be used")
        raise ArtstyleError(
            "--cache-latents stores one encoding per image and flip, which a random crop would change "
            "at every draw; use --crop center or drop --cache-latents"
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
    # read (and checked) before the run folder is made: a bad caption file leaves nothing behind
    captions, n_image_captions = training_captions(
        items, root=index.root, every_item=index.items, config=config
    )
    validation_styles = [resolve_style(name, classes) for name in config.validation_styles]
    sizes = buckets = None
    skipped: list[str] = []
    if config.buckets:
        sizes, buckets, skipped = assign_buckets(items, config.resolution)

    fabric = make_fabric(config)
    fabric.launch()
    if fabric.device.type == "cpu":  # the recorded count, shared by the processes on this CPU
        use_threads(max(1, config.threads // max(1, fabric.world_size // config.num_nodes)))
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
    latents = None
    if config.cache_latents:
        latents = _latent_cache(config, fabric, models, base, index.root, items, buckets, sizes)
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
        config,
        fabric,
        run,
        models,
        unet=unet,
        text_encoder=text_encoder,
        optimizer=fabric.setup_optimizers(optimizer),
        lr_scheduler=lr_scheduler,
        items=items,
        captions=captions,
        classes=classes,
        validation_styles=validation_styles or default_validation_styles(classes),
        precision=precision,
        n_image_captions=n_image_captions,
        buckets=buckets,
        sizes=sizes,
        latents=latents,
        unreadable=skipped,
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


def assign_buckets(items, resolution: int) -> tuple[list, list, list[str]]:
    """(sizes, buckets, skipped): each item's (width, height) and bucket (see buckets.py),
    None for images that cannot be read or are under 64 px a side, which ``skipped`` lists."""
    from artstyle.data.images import ImageError, item_size

    choices = bucket_resolutions(resolution)
    sizes: list[tuple[int, int] | None] = []
    buckets: list[Bucket | None] = []
    skipped: list[str] = []
    for item in items:
        try:
            size: tuple[int, int] | None = item_size(item)
        except ImageError as exc:
            size = None
            skipped.append(f"{item.rel}: {exc.reason}")
        bucket = choose_bucket(size, choices) if size is not None else None
        if size is not None and bucket is None:
            skipped.append(
                f"{item.rel}: {size[0]}x{size[1]} px is under the smallest bucket side ({STEP} px)"
            )
        sizes.append(size)
        buckets.append(bucket)
    if all(bucket is None for bucket in buckets):
        raise ArtstyleError(
            f"no training image fits a bucket ({len(skipped)} skipped, e.g. {skipped[0]}); "
            "drop --buckets or add images of at least 64 px a side"
        )
    return sizes, buckets, skipped


def _latent_cache(
    config: LoraConfig, fabric, models, base: Path, root: Path, items, buckets, sizes
):
    """Open (or encode on each node's first process) the run's latent cache; then free the VAE encoder."""
    from artstyle.generate.lora.latents import (
        cache_folder,
        drop_encoder,
        latent_cache_key,
        open_or_build,
        probe_layouts,
    )

    key = latent_cache_key(
        items,
        base=base,
        resolution=config.resolution,
        buckets=config.buckets,
        flip=config.flip,
        dtype=models["weight_dtype"],
        variant=config.variant,
    )
    shapes = (
        buckets if buckets is not None else [(config.resolution, config.resolution)] * len(items)
    )
    options = {
        "folder": cache_folder(root, key),
        "vae": models["vae"],
        "dtype": models["weight_dtype"],
        "device": fabric.device,
        "resolution": config.resolution,
        "flip": config.flip,
    }
    latents = None
    if fabric.local_rank == 0:
        latents = open_or_build(
            items, shapes, sizes, **options, progress=config.progress and fabric.is_global_zero
        )
    fabric.barrier()
    if latents is None:
        latents = open_or_build(items, shapes, sizes, **options, build=False)
    latents.channels_last = probe_layouts(
        models["vae"],
        dtype=models["weight_dtype"],
        device=fabric.device,
        batch_size=config.batch_size,
    )
    drop_encoder(models["vae"])
    return latents


def _load_training_models(
    base: Path, config: LoraConfig, device: torch.device, weight_dtype: torch.dtype
) -> dict[str, Any]:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from diffusers.training_utils import cast_training_params
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
    _add_lora(unet, config.target_modules, "UNet", config, alpha)
    trained = [unet]
    if config.train_text_encoder:
        _add_lora(text_encoder, config.text_encoder_target_modules, "text encoder", config, alpha)
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


def _add_lora(
    model, target_modules: list[str], name: str, config: LoraConfig, alpha: float
) -> None:
    """LoRA adapters of ``config``'s rank on ``model``'s ``target_modules`` (``name`` says whose in errors)."""
    from peft import LoraConfig as PeftLoraConfig

    # Gaussian init of A and zero B (the LoRA paper's): the adapted model starts equal to the base.
    adapter = PeftLoraConfig(
        r=config.rank,
        lora_alpha=alpha,
        lora_dropout=config.lora_dropout,
        init_lora_weights="gaussian",
        target_modules=target_modules,
    )
    try:
        model.add_adapter(adapter)
    except ValueError as exc:
        raise ArtstyleError(
            f"cannot put LoRA on the {name}'s {', '.join(target_modules)}: {str(exc).splitlines()[0]}"
        ) from exc


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
