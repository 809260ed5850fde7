"""Optimiser, learning-rate schedule and EMA weights of every training run."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from artstyle.config import TrainConfig, effective_lr


def make_optimizer(
    model: nn.Module, config: TrainConfig, world_size: int = 1
) -> torch.optim.Optimizer:
    """AdamW or SGD+Nesterov; no weight decay on biases and normalisation scales (1-D tensors).

    The learning rate follows the batch-size rule of ``config.lr_scaling``
    (:func:`artstyle.config.effective_lr`).
    """
    lr = effective_lr(config, world_size)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


@dataclass
class Schedule:
    """Learning-rate factor per optimiser step; ``total_steps`` may shrink to fit a time budget."""

    kind: str
    total_steps: int
    warmup_steps: int

    def __call__(self, step: int) -> float:
        warmup = min(self.warmup_steps, max(self.total_steps - 1, 0))
        if step < warmup:
            # one-cycle starts at lr/25 like Smith & Topin 2019; the others ramp from ~0
            start = 1.0 / 25.0 if self.kind == "onecycle" else 0.0
            return start + (1.0 - start) * (step + 1) / warmup
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
        if self.kind == "onecycle":
            # linear decay to zero after the peak (the triangular one-cycle of Smith & Topin 2019)
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine (Loshchilov & Hutter 2017)


class EMA:
    """Exponential moving average of a model's weights (Polyak averaging).

    The decay ramps up as (1 + n) / (10 + n) so the first averages are not
    dominated by the random initial weights (TensorFlow's
    ExponentialMovingAverage with num_updates). Buffers (BatchNorm
    statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.source = (
            model  # the trained model (not a DDP wrapper): same parameter order as the copy
        )
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.n_updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.n_updates += 1
        decay = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in self.source.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for ema_buffer, buffer in zip(self.model.buffers(), self.source.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "n_updates": self.n_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.n_updates = int(state["n_updates"])
