"""A run's LoRA weights as one file for the tools artists use: kohya's layout, or diffusers'.

AUTOMATIC1111 / Forge and ComfyUI read the kohya layout (``lora_unet_..._lora_down.weight``,
``.lora_up.weight`` and an ``.alpha`` per module; scale = alpha / rank). The keys come from
diffusers' own converters (PEFT -> kohya), not from a map written here; each ``.alpha`` is
then set to the run's LoRA alpha, which the converter would take to be the rank.

    artstyle lora export runs/lora --format kohya --out rococo.safetensors
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from artstyle.errors import ArtstyleError
from artstyle.generate.lora.checkpoints import WEIGHTS_NAME
from artstyle.io import atomic_path

FORMATS = ("kohya", "diffusers")


def _run_facts(run: Path) -> dict[str, Any]:
    """What the file's metadata says about the run: config, styles and steps."""
    from artstyle.config import LoraConfig
    from artstyle.train import runs

    folder = runs.open_run(run)
    config = runs.read_config(folder, LoraConfig, task="lora")
    metrics = runs.read_metrics(folder) if folder.metrics_path.is_file() else {}
    return {
        "config": config,
        "styles": runs.read_classes(folder),
        "steps": metrics.get("steps"),
        "weights": folder.path / WEIGHTS_NAME,
    }


def kohya_state_dict(diffusers_state: dict[str, Any], alpha: float) -> dict[str, Any]:
    """diffusers-format LoRA weights (``unet.``/``text_encoder.`` prefixes) in kohya's layout,
    with every module's ``.alpha`` set to ``alpha``."""
    import torch
    from diffusers.utils import convert_state_dict_to_kohya, convert_unet_state_dict_to_peft
    from diffusers.utils.state_dict_utils import DIFFUSERS_TO_PEFT, convert_state_dict

    # diffusers' file: ".lora.down/.up" (UNet, text encoder) and, from older writers,
    # ".lora_linear_layer.down/.up"; both back to PEFT's lora_A / lora_B
    peft = convert_unet_state_dict_to_peft(diffusers_state)
    if any("lora_linear_layer" in key for key in peft):
        peft = convert_state_dict(peft, DIFFUSERS_TO_PEFT)
    kohya = convert_state_dict_to_kohya(peft)
    for key in [k for k in kohya if k.endswith(".alpha")]:
        kohya[key] = torch.tensor(float(alpha))
    return kohya


def export_lora(
    run: str | os.PathLike, *, out: str | os.PathLike, fmt: str = "diffusers"
) -> dict[str, Any]:
    """Write ``run``'s LoRA weights to ``out`` in ``fmt`` with metadata (base model, rank,
    alpha, styles, resolution, steps, artstyle version); returns what was written."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from artstyle.train.runs import package_version

    if fmt not in FORMATS:
        raise ArtstyleError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    facts = _run_facts(Path(run))
    weights = facts["weights"]
    if not weights.is_file():
        raise ArtstyleError(
            f"{weights} not found: the run has no LoRA weights yet (train or resume it first)"
        )
    out = Path(out).expanduser()
    if out.suffix.lower() != ".safetensors":
        raise ArtstyleError(f"--out {out} must end in .safetensors")
    config = facts["config"]
    alpha = config.alpha if config.alpha is not None else config.rank
    state = load_file(weights)
    with safe_open(str(weights), framework="pt") as handle:
        # diffusers keeps each adapter's config (rank, alpha, targets) here: a copy keeps it
        metadata = dict(handle.metadata() or {}) if fmt == "diffusers" else {}
    if fmt == "kohya":
        state = kohya_state_dict(state, alpha)
    metadata |= {
        "format": "pt",
        "ss_network_module": "networks.lora",  # what kohya-trained files say: A1111 reads it
        "ss_network_dim": str(config.rank),
        "ss_network_alpha": f"{alpha:g}",
        "ss_base_model": str(config.base),
        "ss_resolution": str(config.resolution),
        "ss_steps": str(facts["steps"]),
        # the caption options under the names kohya's training metadata gives them
        "ss_caption_dropout_rate": str(config.caption_dropout),
        "ss_shuffle_caption": str(config.shuffle_tags),
        "ss_keep_tokens": str(config.keep_tokens),
        # buckets and cached latents, under kohya's names (buckets here never upscale)
        "ss_enable_bucket": str(config.buckets),
        "ss_bucket_no_upscale": str(config.buckets),
        "ss_cache_latents": str(config.cache_latents),
        "artstyle_styles": ",".join(config.styles or facts["styles"]),
        "artstyle_layout": fmt,
        "artstyle_version": package_version(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    return {"out": out, "format": fmt, "n_tensors": len(state), "metadata": metadata}
