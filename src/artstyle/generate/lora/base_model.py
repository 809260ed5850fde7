"""The base model folder: what a local Stable Diffusion 1.x/2.x folder must hold, and loading it offline.

Nothing is downloaded: every part loads with ``local_files_only=True``, under ``HF_HUB_OFFLINE=1``.

    python -c "from artstyle.generate.lora import check_base_folder; print(check_base_folder('/models/sd15'))"
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from artstyle.errors import ArtstyleError

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


def assemble_pipeline(components: dict[str, Any]):
    """A StableDiffusionPipeline of ``components``' unet, vae, text encoder, tokenizer and scheduler, without a safety checker."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **{name: components[name] for name in COMPONENTS},
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
