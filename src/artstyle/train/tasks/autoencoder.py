"""The autoencoder as a task of the shared loop: learn to compress and rebuild paintings.

The loss is MSE on pixels in [0, 1], optionally plus L1 and 1 - SSIM terms. Every
epoch the held-out validation part of train is scored with MSE, PSNR and SSIM; the
best epoch (lowest validation loss) is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from artstyle.config import AutoencoderConfig
from artstyle.data.batches import to_unit
from artstyle.data.dataset import ClassifierData
from artstyle.errors import ArtstyleError
from artstyle.models.autoencoder import psnr, reconstruction_loss, ssim
from artstyle.train.loop import StepOutput
from artstyle.train.runs import RunFolder
from artstyle.train.tasks.base import ArrayTask, TaskSpec

TASK = "autoencoder"


class AutoencoderTask(ArrayTask):
    """Reconstruction of device batches; one ``step`` for train, val and test."""

    name = TASK
    selection_metric = "loss"
    selection_mode = "min"
    shuffle_salt = 0xAE

    def __init__(self, config: AutoencoderConfig, data: ClassifierData) -> None:
        self.config = config
        self.data = data
        self.classes = data.classes
        self.device = torch.device("cpu")
        self._device_data: dict[str, Any] = {}

    # -- data

    def setup(self, device: torch.device, share: tuple[int, int] = (0, 1)) -> None:
        self.put_on_device_flips_only(device, share)

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None):
        """(normalised input, target pixels in [0, 1]); training images are mirrored at random."""
        augment = stage == "train" and generator is not None
        x, _ = self.device_batch(indices, stage, generator, augment=augment)
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


# a bad size/width combination is refused before any decoding
def make_task(config: AutoencoderConfig, data: ClassifierData, *, run: RunFolder, resume: bool):
    """A fresh task object for the loop (``run`` and ``resume`` matter to the stylizer only)."""
    return AutoencoderTask(config, data)


SPEC = TaskSpec(TASK, AutoencoderConfig, make_task, min_styles=1, check=build_autoencoder)
