"""The training loop: optimizer steps, the denoising loss, history rows, checkpoints and metrics."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from artstyle.config import LoraConfig
from artstyle.errors import ArtstyleError
from artstyle.generate.lora.checkpoints import (
    RESUMABLE_KEYS,
    TASK,
    WEIGHTS_NAME,
    save_checkpoint,
)
from artstyle.generate.lora.data import training_batches
from artstyle.generate.lora.figures import FigureWriter, validation_figure
from artstyle.generate.lora.training import LoraTraining, setup_training
from artstyle.progress import Progress


def train_lora(
    config: LoraConfig, *, resume: bool = False, figures: FigureWriter | None = None
) -> dict[str, Any]:
    """Fine-tune LoRA adapters of ``config.base`` on ``config.data`` into the run folder ``config.out``.

    With ``resume`` the run continues from ``out/checkpoints/last.ckpt`` (the
    config given should be the run's, with any changes such as more steps).
    Returns the metrics written to ``out/metrics.json``. ``figures`` draws the validation
    images and the loss curve; without it none are drawn.

        artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    """
    training = setup_training(config, resume=resume)
    batches = training_batches(training)
    fabric = training.fabric
    deadline = None if config.max_minutes is None else time.monotonic() + 60.0 * config.max_minutes
    window: list[
        tuple[float, float]
    ] = []  # (loss, seconds) of the steps since the last history row
    stopped = None
    if fabric.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(fabric.device)
    start_step = training.step
    with Progress(config.progress and fabric.is_global_zero) as progress:
        progress.start("lora", config.max_steps, training.step)
        try:
            while training.step < config.max_steps:
                began = time.perf_counter()
                loss = train_step(training, batches)
                seconds = time.perf_counter() - began
                training.train_seconds += seconds
                window.append((loss, seconds))
                progress.update(training.step, f"loss {loss:.4f}")
                step = training.step
                last = step == config.max_steps
                if deadline is not None and time.monotonic() > deadline and not last:
                    stopped = f"max_minutes ({config.max_minutes}) reached at step {step}"
                if step % config.log_every == 0 or last or stopped:
                    _log_row(training, window)
                    window = []
                if step % config.checkpoint_every == 0 or last or stopped:
                    save_checkpoint(training)
                if config.validation_every and (
                    step % config.validation_every == 0 or last or stopped
                ):
                    if fabric.is_global_zero and figures is not None:
                        validation_figure(training, figures)
                    fabric.barrier()
                if stopped:
                    break
        except KeyboardInterrupt:
            # Ctrl-C keeps what was trained: the next --resume starts from this step; mid-update
            # the last checkpoint written stays instead
            if training.step > start_step and not training.updating:
                save_checkpoint(training)
            raise
    return _finish(training, stopped, figures)


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
                cached_latents=training.latents is not None,
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


def diffusion_loss(
    pixels: torch.Tensor,
    input_ids: torch.Tensor,
    *,
    models: dict[str, Any],
    unet,
    text_encoder,
    config: LoraConfig,
    cached_latents: bool = False,
) -> torch.Tensor:
    """The denoising loss of one batch (pixels (B, 3, H, W) in [-1, 1], token ids (B, 77)).

    With ``cached_latents`` the first argument holds the VAE posterior's
    parameters (B, 8, H/8, W/8) from the latent cache instead of pixels.
    """
    vae, noise_scheduler, weight_dtype = (
        models["vae"],
        models["noise_scheduler"],
        models["weight_dtype"],
    )
    with torch.no_grad():
        if cached_latents:
            from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

            posterior = DiagonalGaussianDistribution(pixels.to(weight_dtype))
        else:
            posterior = vae.encode(pixels.to(weight_dtype)).latent_dist
        # (B, 3, H, W) -> (B, 4, H/8, W/8): one draw of the posterior (the same generator either
        # way), scaled to unit variance as the UNet was trained
        latents = posterior.sample() * vae.config.scaling_factor
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


def resume_lora(
    run: str | os.PathLike,
    overrides: dict[str, Any] | None = None,
    *,
    figures: FigureWriter | None = None,
) -> dict[str, Any]:
    """Continue ``run`` from its last checkpoint; ``overrides`` change keys such as ``max_steps``.

    artstyle lora train --resume runs/lora --max-steps 4000
    """
    from artstyle.train.runs import resumed_config

    folder, config = resumed_config(run, LoraConfig, TASK, RESUMABLE_KEYS, overrides)
    return train_lora(config.model_copy(update={"out": folder.path}), resume=True, figures=figures)


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


def _finish(
    training: LoraTraining, stopped: str | None, figures: FigureWriter | None
) -> dict[str, Any]:
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
        "n_image_captions": training.n_image_captions,
        "trainable_parameters": sum(
            p.numel() for model in trained for p in model.parameters() if p.requires_grad
        ),
        "rank": config.rank,
        "resolution": config.resolution,
        "precision": training.precision,
        "devices": fabric.world_size,
        "device": fabric.device.type,
        "gradient_checkpointing": config.gradient_checkpointing,
        "buckets": _bucket_counts(training.buckets),
        "cache_latents": config.cache_latents,
        "unreadable": list(training.unreadable),
        "weights": WEIGHTS_NAME,
    }
    if training.latents is not None:
        metrics["latent_cache"] = str(training.latents.folder)
        metrics["latent_cache_built"] = training.latents.built
        metrics["latent_cache_seconds"] = training.latents.seconds
    if fabric.device.type == "cuda":
        metrics["peak_memory_gb"] = torch.cuda.max_memory_allocated(fabric.device) / 2**30
    if stopped:
        metrics["stopped"] = stopped
    if fabric.is_global_zero:
        runs.write_history(training.run, training.history)
        runs.write_metrics(training.run, metrics)
        if figures is not None and training.history:
            figures.loss_curve(training.history, training.run.figure_path("loss.png"))
    fabric.barrier()
    return metrics


def _bucket_counts(buckets: list | None) -> dict[str, int] | None:
    """{"WxH": images} of a bucketed run, widest first; None without buckets."""
    if buckets is None:
        return None
    counts: dict[str, int] = {}
    for bucket in sorted((b for b in buckets if b is not None), key=lambda b: (-b[0] / b[1], b)):
        counts[f"{bucket[0]}x{bucket[1]}"] = counts.get(f"{bucket[0]}x{bucket[1]}", 0) + 1
    return counts
