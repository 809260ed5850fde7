"""The autoencoder task on the shared training loop: learn to compress and rebuild paintings.

The task plugs into :func:`artstyle.train.loop.fit` like the classifier does
(same run folder, resume, devices, precision and time budget). The loss is
MSE on pixels in [0, 1], optionally plus L1 and 1 - SSIM terms. Every epoch the
held-out validation part of train is scored with MSE, PSNR and SSIM; the best
epoch (lowest validation loss) is kept, and at the end the test split gives
``metrics.json`` (``mse``, ``psnr``, ``ssim`` and reference baselines),
``figures/reconstructions.png`` (test originals over their reconstructions)
and ``figures/training_curves.png`` (loss and PSNR per epoch).

    artstyle train autoencoder --data DATA --out runs/ae --epochs 10
    artstyle train autoencoder --resume runs/ae --max-minutes 20
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from artstyle.config import AutoencoderConfig
from artstyle.data.batches import to_unit
from artstyle.errors import ArtstyleError
from artstyle.io import write_json
from artstyle.models.autoencoder import psnr, reconstruction_loss, ssim
from artstyle.train import runs
from artstyle.train.classify import (
    ClassifierData,
    load_classifier_data,
    load_run_data,
    new_run_folder,
    resumed_config,
)
from artstyle.train.loop import (
    StepOutput,
    evaluate_stage,
    fit_and_evaluate,
    make_fabric,
    require_training_images,
    run_summary,
)
from artstyle.train.runs import RunFolder

TASK = "autoencoder"
# keys that may change when a run is resumed: budget, display and where things are, not what is trained
RESUMABLE_KEYS = frozenset(
    {"max_minutes", "progress", "workers", "cache_dir", "data", "accelerator", "eval_batch_size"}
)


class AutoencoderTask:
    """Reconstruction of device batches; one ``step`` for train, val and test."""

    name = TASK
    selection_metric = "loss"
    selection_mode = "min"

    def __init__(self, config: AutoencoderConfig, data: ClassifierData) -> None:
        self.config = config
        self.data = data
        self.classes = data.classes
        self.device = torch.device("cpu")
        self._device_data: dict[str, Any] = {}

    # -- data

    def setup(self, device: torch.device, share: tuple[int, int] = (0, 1)) -> None:
        from artstyle.data.batches import DeviceData

        self.device = torch.device(device)
        self.share = share  # (rank, world size): see batches.shared_rand
        # flips only: crops and colour jitter would change the target the loss compares with
        flips = {"flip": self.config.flip, "crop_scale": None, "jitter": 0.0}
        self._device_data = {
            name: DeviceData(array, np.asarray(array.labels), self.device, **flips)
            for name, array in self.data.arrays.items()
        }

    def train_indices(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.config.seed, epoch, 0xAE]).permutation(
            self.data.indices["train"]
        )

    def eval_indices(self, stage: str) -> np.ndarray | None:
        return self.data.indices.get(stage)

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None):
        """(normalised input, target pixels in [0, 1]); training images are mirrored at random."""
        source = self._device_data["test" if stage == "test" else "train"]
        augment = stage == "train" and generator is not None
        x, _ = next(
            source.batches(
                indices, len(indices), augment=augment, generator=generator, share=self.share
            )
        )
        target = to_unit(x)
        return x, target

    # -- the shared step

    def zero_stats(self, stage: str, device: torch.device) -> dict[str, torch.Tensor]:
        stats = {
            "loss_sum": torch.zeros((), dtype=torch.float64, device=device),
            "sse": torch.zeros(
                (), dtype=torch.float64, device=device
            ),  # squared error summed over every value
            "psnr_sum": torch.zeros((), dtype=torch.float64, device=device),
            "n": torch.zeros((), dtype=torch.int64, device=device),
            "n_values": torch.zeros((), dtype=torch.int64, device=device),
        }
        if stage != "train":
            stats["ssim_sum"] = torch.zeros((), dtype=torch.float64, device=device)
        return stats

    def step(self, model, batch, stage: str) -> StepOutput:
        x, target = batch
        recon = model(x).float()  # (B, 3, S, S) in [0, 1]; fp32 for the loss under bf16 autocast
        loss = reconstruction_loss(
            recon, target, l1_weight=self.config.l1_weight, ssim_weight=self.config.ssim_weight
        )
        n = x.shape[0]
        with torch.no_grad():
            squared = (recon.detach() - target).pow(2)
            stats = {
                "loss_sum": loss.detach().double() * n,
                "sse": squared.sum().double(),
                "psnr_sum": psnr(recon.detach(), target, reduction="none").sum().double(),
                "n": torch.tensor(n, device=x.device),
                "n_values": torch.tensor(squared.numel(), device=x.device),
            }
            if stage != "train":
                stats["ssim_sum"] = ssim(recon.detach(), target, reduction="none").sum().double()
        return StepOutput(loss, stats, n)

    def summarize(self, totals: dict[str, torch.Tensor], stage: str) -> dict[str, float]:
        n = max(int(totals["n"].item()), 1)
        mse = float(totals["sse"].item() / max(int(totals["n_values"].item()), 1))
        metrics = {
            "loss": float(totals["loss_sum"].item() / n),
            "mse": mse,
            "psnr": float(totals["psnr_sum"].item() / n),  # mean of per-image PSNR
        }
        if "ssim_sum" in totals:
            metrics["ssim"] = float(totals["ssim_sum"].item() / n)
        return metrics

    def build_model(self):
        return build_autoencoder(self.config)


def build_autoencoder(config: AutoencoderConfig):
    """The configured architecture at the config's image size, with its latent/width/upsample overrides."""
    from artstyle.models import build_model, get_architecture

    entry = get_architecture(config.model)
    if entry.kind != "autoencoder":
        raise ArtstyleError(f"architecture {config.model!r} is a {entry.kind}, not an autoencoder")
    args = {
        "image_size": config.size,
        "latent_dim": config.latent_dim,
        "widths": config.widths,
        "upsample": config.upsample,
        "stem_stride": config.stem_stride,
        "bottleneck": config.bottleneck,
    }
    return build_model(config.model, **args)


# ---------------------------------------------------------------- training


def train_autoencoder(
    config: AutoencoderConfig, *, data: ClassifierData | None = None, quiet: bool = False
) -> dict[str, Any] | None:
    """Train an autoencoder into ``config.out``; returns the test metrics (None on DDP ranks other than 0).

    artstyle train autoencoder --data DATA --out runs/ae --epochs 10 --latent-dim 128
    """
    run = new_run_folder(config)
    build_autoencoder(config)  # a bad size/width combination is refused before any decoding
    if data is None:
        data = load_run_data(config, quiet=quiet, min_styles=1)
    return _train(config, run, data, resume=False, quiet=quiet)


def resume_autoencoder(
    run_path: str | os.PathLike, *, overrides: dict[str, Any] | None = None, quiet: bool = False
) -> dict[str, Any] | None:
    """Continue ``run_path`` from checkpoints/last.ckpt with the same optimizer, schedule, step and RNG.

    artstyle train autoencoder --resume runs/ae --max-minutes 30
    """
    run, config = resumed_config(run_path, AutoencoderConfig, TASK, RESUMABLE_KEYS, overrides)
    data = load_run_data(config, quiet=quiet, run=run, min_styles=1)
    return _train(config, run, data, resume=True, quiet=quiet)


def _train(
    config: AutoencoderConfig, run: RunFolder, data: ClassifierData, *, resume: bool, quiet: bool
) -> dict[str, Any] | None:
    require_training_images(data)
    task = AutoencoderTask(config, data)
    finished = fit_and_evaluate(task, config, run, data, resume=resume, quiet=quiet)
    if finished is None:
        return None
    result, stage, totals = finished.result, finished.stage, finished.totals
    model = result.model
    images = _stage_images(data, stage)
    metrics = {
        **task.summarize(totals, stage),
        "n_test": int(totals["n"].item()),
        "split": stage,
        **reference_psnr(images, latent_dim=model.config.latent_dim),
        "architecture": config.model,
        "latent_dim": model.config.latent_dim,
        "compression_ratio": round(3 * config.size**2 / model.config.latent_dim, 2),
        **run_summary(config, data, result, best_key="best_val_loss"),
    }
    runs.write_metrics(run, metrics)
    write_autoencoder_figures(
        run,
        model,
        images,
        result.state.history,
        n=config.n_reconstructions,
        device=result.fabric.device,
        labels=data.stage_labels(stage),
    )
    if not quiet:
        from rich.console import Console

        Console(stderr=True).print(
            f"{stage}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, MSE {metrics['mse']:.5f} "
            f"(downsampled-image reference {metrics['baseline_psnr_downsampled']:.2f} dB); wrote {run.path}",
            highlight=False,
        )
    return metrics


def evaluate_autoencoder(
    run_path: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str = "test",
    batch_size: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """MSE, PSNR and SSIM of a run on a split; writes metrics.json (test) or metrics_<split>.json.

    artstyle evaluate runs/ae --split test
    """
    if split not in ("test", "val", "train"):
        raise ArtstyleError(f"--split must be test, val or train, got {split!r}")
    run = runs.open_run(run_path)
    config = runs.read_config(run, AutoencoderConfig, task=TASK)
    if data is not None:
        config = config.model_copy(update={"data": Path(data)})
    loaded = load_classifier_data(
        config,
        splits=("test",) if split == "test" else ("train",),
        progress=progress,
        min_styles=1,
    )
    runs.check_classes(
        runs.read_classes(run), loaded.classes, run_path=run.path, data_path=config.data
    )
    if split not in loaded.indices or len(loaded.indices[split]) == 0:
        raise ArtstyleError(f"{config.data} has no {split} images; pick another --split")
    single = config.model_copy(update={"devices": 1, "num_nodes": 1})
    fabric = make_fabric(single)
    model = runs.load_model(run, device=fabric.device)
    task = AutoencoderTask(single, loaded)
    task.setup(fabric.device)
    totals = evaluate_stage(
        fabric, task, model, split, batch_size=batch_size or config.eval_batch_size
    )
    previous = runs.read_metrics(run) if run.metrics_path.is_file() else {}
    images = _stage_images(loaded, split)
    metrics = {
        **task.summarize(totals, split),
        "n_test": int(totals["n"].item()),
        "split": split,
        **reference_psnr(images, latent_dim=model.config.latent_dim),
    }
    metrics.update({key: value for key, value in previous.items() if key not in metrics})
    write_json(run.split_metrics_path(split), metrics)
    if split == "test":
        write_autoencoder_figures(
            run,
            model,
            images,
            [],
            n=config.n_reconstructions,
            device=fabric.device,
            labels=loaded.stage_labels(split),
        )
    return metrics


def _stage_images(data: ClassifierData, stage: str) -> np.ndarray:
    array = data.arrays["test" if stage == "test" else "train"]
    return np.asarray(array.images)[data.indices[stage]]


def reference_psnr(
    images: np.ndarray, *, latent_dim: int, batch_size: int = 512
) -> dict[str, float]:
    """PSNR of two reconstructions that learn nothing, to read the autoencoder's number against.

    ``baseline_psnr_mean_image``: every image replaced by the mean image of the
    split. ``baseline_psnr_downsampled``: each image area-averaged to the
    largest side s with 3 s^2 <= latent_dim values (the same budget as the
    latent vector) and scaled back up bilinearly.
    """
    side = max(1, int((latent_dim / 3) ** 0.5))
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), batch_size):
        total += images[start : start + batch_size].sum(axis=0, dtype=np.float64)
    mean_image = (
        torch.from_numpy(total / max(len(images), 1)).permute(2, 0, 1).float()[None] / 255.0
    )  # (1, 3, S, S)
    mean_sum, down_sum = 0.0, 0.0
    for start in range(0, len(images), batch_size):
        x = (
            torch.from_numpy(np.array(images[start : start + batch_size]))
            .permute(0, 3, 1, 2)
            .float()
            / 255.0
        )  # (B, 3, S, S)
        mean_sum += float(psnr(mean_image.expand_as(x), x, reduction="none").sum())
        small = F.adaptive_avg_pool2d(x, side)  # (B, 3, s, s)
        back = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False).clamp(
            0, 1
        )
        down_sum += float(psnr(back, x, reduction="none").sum())
    n = max(len(images), 1)
    return {
        "baseline_psnr_mean_image": round(mean_sum / n, 3),
        "baseline_psnr_downsampled": round(down_sum / n, 3),
        "baseline_downsampled_side": side,
    }


def pick_spread(labels: np.ndarray, n: int) -> np.ndarray:
    """``n`` row numbers that go round the styles (first image of each style, then the second, ...)."""
    labels = np.asarray(labels)
    by_style = [np.flatnonzero(labels == style) for style in np.unique(labels)]
    picked: list[int] = []
    depth = 0
    while len(picked) < min(n, len(labels)):
        for rows in by_style:
            if depth < len(rows) and len(picked) < n:
                picked.append(int(rows[depth]))
        depth += 1
    return np.array(picked, dtype=np.int64)


@torch.no_grad()
def reconstruct(
    model, images: np.ndarray, *, device: Any = "cpu", batch_size: int = 256
) -> np.ndarray:
    """uint8 (N, S, S, 3) -> the model's reconstructions as float (N, S, S, 3) in [0, 1]."""
    from artstyle.data.batches import normalize

    model = model.to(device).eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[start : start + batch_size])).to(
            device
        )  # a writable copy of the rows
        outputs.append(
            model(normalize(x)).float().permute(0, 2, 3, 1).cpu().numpy()
        )  # (B, 3, S, S) -> (B, S, S, 3)
    return (
        np.concatenate(outputs) if outputs else np.zeros((0, *images.shape[1:]), dtype=np.float32)
    )


def write_autoencoder_figures(
    run: RunFolder, model, images: np.ndarray, history, *, n: int, device: Any = "cpu", labels=None
) -> None:
    """figures/reconstructions.png (originals over reconstructions) and figures/training_curves.png."""
    from artstyle.analysis import plots

    if len(images):
        rows = np.arange(min(n, len(images))) if labels is None else pick_spread(labels, n)
        originals = images[rows]
        recon = reconstruct(model, originals, device=device)
        values = torch.from_numpy(recon).permute(0, 3, 1, 2)
        targets = torch.from_numpy(originals).permute(0, 3, 1, 2).float() / 255.0
        shown_psnr = float(psnr(values, targets))
        plots.save_figure(
            plots.reconstruction_grid(
                originals,
                recon,
                title=f"held-out images (top) and reconstructions (bottom); PSNR of these {len(rows)}: {shown_psnr:.1f} dB",
            ),
            run.figure_path("reconstructions.png"),
        )
    if history:
        plots.save_figure(plots.autoencoder_curves(history), run.figure_path("training_curves.png"))


__all__ = [
    "AutoencoderTask",
    "build_autoencoder",
    "evaluate_autoencoder",
    "reconstruct",
    "reference_psnr",
    "resume_autoencoder",
    "train_autoencoder",
]
