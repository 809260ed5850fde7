"""Sampling from a trained run: load the base pipeline with the run's LoRA, generate images, style grids."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artstyle.config import LoraConfig
from artstyle.errors import ArtstyleError
from artstyle.generate.lora.base_model import _prepare_hf, check_base_folder
from artstyle.generate.lora.captions import default_validation_styles, prompt_for
from artstyle.generate.lora.checkpoints import TASK, WEIGHTS_NAME
from artstyle.text import resolve_style

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


def _settings(
    config: LoraConfig, *, steps: int | None, guidance: float | None, resolution: int | None
) -> dict[str, Any]:
    """Sampling steps, guidance and resolution: those given, else the run's own."""
    return {
        "steps": steps or config.inference_steps,
        "guidance": config.guidance_scale if guidance is None else guidance,
        "resolution": resolution or config.resolution,
    }


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
    from artstyle.data.images import write_image

    if n < 1:
        raise ArtstyleError(f"--n must be at least 1, got {n}")
    pipe, config, classes = load_pipeline(run, base=base, safety_checker=safety_checker)
    style = resolve_style(style, classes)
    text = prompt_for(style, prompt, config)
    images, n_flagged = _sample(
        pipe,
        text,
        seeds=[seed + i for i in range(n)],
        **_settings(config, steps=steps, guidance=guidance, resolution=resolution),
    )
    path = Path(out) if out is not None else Path(run) / "samples" / f"{style}_seed{seed}.png"
    write_image(_tile(images), path)
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

    Returns the images and where they belong (``RUN/figures/style_grid.png`` unless ``out`` is
    given); :func:`artstyle.workflows.lora.style_grid` draws them there.

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
        **_settings(config, steps=steps, guidance=guidance, resolution=resolution),
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
    path = Path(out) if out is not None else Path(run) / "figures" / "style_grid.png"
    labels = {"row_labels": ["base model", f"LoRA ({Path(run).name})"], "col_labels": chosen}
    return {
        "path": path,
        "styles": chosen,
        "seed": seed,
        "nsfw_flagged": n_flagged,
        "images": grid,
        "title": title,
        **labels,
    }
