"""Saving and resuming: the diffusers-format LoRA weights, checkpoints/last.ckpt and its restore."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from artstyle.generate.lora.training import LoraTraining

TASK = "lora"
# what ``lora train --resume RUN`` may change; everything else keeps the run's own value
RESUMABLE_KEYS = frozenset(
    {
        "max_steps",
        "max_minutes",
        "progress",
        "threads",
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
        # the cached path draws the same latents as the decoding one (latents.py), so either may resume
        "cache_latents",
    }
)
WEIGHTS_NAME = "pytorch_lora_weights.safetensors"  # the file name load_lora_weights looks for


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
