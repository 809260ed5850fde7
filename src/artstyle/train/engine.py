"""Devices, precision and processes: the Fabric a run trains on, and what DDP needs around it.

fabric = make_fabric(config)   # one process, or DDP (gloo on CPU, NCCL on GPUs)
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import torch
from torch import nn

from artstyle.config import TrainConfig
from artstyle.errors import ArtstyleError


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16-mixed on a CUDA GPU that supports it, otherwise 32-true (fp32 runs anywhere)."""
    if precision != "auto":
        return precision
    wants_cuda = accelerator in ("auto", "cuda", "gpu")
    if wants_cuda and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def make_fabric(config: TrainConfig):
    """A Fabric for the config's devices: one process, or DDP (gloo on CPU, NCCL on GPUs) on the same code."""
    from lightning.fabric import Fabric

    distributed = config.devices > 1 or config.num_nodes > 1
    if config.accelerator in ("cuda", "gpu") and not torch.cuda.is_available():
        raise ArtstyleError(
            f"--accelerator {config.accelerator} asked for, but torch sees no CUDA GPU; use --accelerator cpu"
        )
    if config.accelerator == "auto" and config.devices > 1 and not torch.cuda.is_available():
        accelerator = "cpu"  # several CPU processes: the DDP test path and laptops
    else:
        accelerator = config.accelerator
    if accelerator in ("cuda", "gpu") or (accelerator == "auto" and torch.cuda.is_available()):
        available = torch.cuda.device_count()
        if config.devices > available:
            raise ArtstyleError(
                f"--devices {config.devices} asked for, but only {available} GPU(s) are visible"
            )
    try:
        return Fabric(
            accelerator=accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy="ddp" if distributed else "auto",
            precision=resolve_precision(config.precision, accelerator),
        )
    except (
        ValueError,
        RuntimeError,
    ) as exc:  # Lightning's MisconfigurationException is a ValueError
        raise ArtstyleError(
            f"cannot set up devices {config.devices} x nodes {config.num_nodes} on {accelerator}: {exc}"
        ) from exc


def is_launched_child() -> bool:
    """True in a DDP rank that Fabric's launcher started (it re-runs the command line)."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 or int(os.environ.get("NODE_RANK", "0")) > 0


# How long a finished gloo rank waits for the others at the end of a command. Rank 0 may
# still be writing figures or LoRA samples; a rank that failed or exited closes its sockets,
# which ends the wait at once, so the limit only bounds a peer that is alive but stuck.
END_BARRIER_SECONDS = 30 * 60


def end_distributed(*, ok: bool) -> None:
    """Tear down this process's DDP process group, if a command started one.

    A gloo group left for interpreter exit can abort a rank ("terminate called
    without an active exception") while its peer closes the sockets, which
    fails a run that had finished. After a command that succeeded, a gloo rank
    waits for the others (``END_BARRIER_SECONDS``), then every rank destroys
    its group; after a failure it only destroys its own, without waiting for
    peers that may never arrive.
    """
    dist = sys.modules.get("torch.distributed")  # never imported: nothing to end
    if dist is None or not (dist.is_available() and dist.is_initialized()):
        return
    if ok and dist.get_backend() == "gloo":
        import datetime

        with contextlib.suppress(RuntimeError):  # a peer that failed or left: nothing to wait for
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=END_BARRIER_SECONDS))
    dist.destroy_process_group()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the batches of every DDP process.

    Each process sums its channel values and squares; one differentiable
    all-reduce (``torch.distributed.nn``, which gloo serves on CPU as NCCL does
    on GPU) makes them global, so N processes of batch B normalise exactly as
    one process of batch N x B. torch's ``nn.SyncBatchNorm`` does the same
    but refuses CPU tensors. Same parameters and buffers as ``nn.BatchNorm2d``:
    weights move between the two freely. Outside DDP, in eval mode, or without
    running statistics it is a plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if (
            not self.training
            or not (dist.is_available() and dist.is_initialized())
            or dist.get_world_size() == 1
        ):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        channels = x.shape[1]
        values = x.float()
        count = torch.full((1,), values.numel() / channels, device=x.device)
        sums = torch.cat([values.sum(dim=(0, 2, 3)), values.square().sum(dim=(0, 2, 3)), count])
        with warnings.catch_warnings():
            # torch marks it deprecated, pointing to a private module; the warning, printed
            # by every rank, tells a user of --sync-batchnorm nothing they can act on
            warnings.simplefilter("ignore", FutureWarning)
            sums = all_reduce(sums)  # (2C + 1,) summed over processes; gradients flow back to each
        n = sums[-1]
        mean = sums[:channels] / n
        var = (sums[channels : 2 * channels] / n - mean.square()).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (
                    self.momentum
                    if self.momentum is not None
                    else 1.0 / float(self.num_batches_tracked)
                )
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            shift = self.bias - mean * scale * self.weight
            scale = scale * self.weight
        else:
            shift = -mean * scale
        y = values * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
        return y.to(x.dtype)


def sync_batchnorm(model: nn.Module) -> int:
    """Turn every ``nn.BatchNorm2d`` of ``model`` into a :class:`GlobalBatchNorm2d` in place.

    Parameters and buffers stay the same tensors; returns how many were turned.
    """
    turned = 0
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d
            turned += 1
    return turned
