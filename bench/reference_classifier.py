"""A plain from-scratch style classifier, the yardstick the project's defaults must beat.

    python bench/reference_classifier.py DATA [--size 64] [--epochs 12] [--seed 0] [--json]
    python bench/reference_classifier.py DATA --cpu-seconds 1500 --json

With ``--cpu-seconds`` it trains as many whole epochs of its one-cycle schedule as
fit that CPU time on this machine (a few throwaway training steps measure a step
first), so it can be held to another command's measured CPU time.

Nothing in it is clever, on purpose: four blocks of two 3x3 convolutions
(32-64-128-256) with BatchNorm and GELU, max-pooling, global average pooling,
dropout 0.2; AdamW (lr 2e-3, weight decay 0.05) with a one-cycle schedule,
label smoothing 0.1 and a logit-adjusted loss; reflect-pad, random translate
and flip; mirror averaging at test time; every training image, no validation
carve. Whole images are resized to ``size`` with Pillow. It reads
``DATA/train/<Style>/*`` and ``DATA/test/<Style>/*`` and prints the test
balanced accuracy and macro-F1 (one JSON line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import labelled_files, styles_of
from PIL import Image
from torch import nn
from torch.nn import functional as F


def load_split(root: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path, label in labelled_files(root, classes):
        with Image.open(path) as image:
            image = image.convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(image))
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
        nn.MaxPool2d(2),
    )


def network(n_classes: int) -> nn.Module:
    widths = [3, 32, 64, 128, 256]
    return nn.Sequential(
        *[block(a, b) for a, b in zip(widths, widths[1:], strict=False)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(256, n_classes),
    )


def augment(x: torch.Tensor, pad: int) -> torch.Tensor:
    n, _, h, w = x.shape
    flip = torch.rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,))
    dx = torch.randint(0, 2 * pad + 1, (n,))
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def epochs_for(budget: float, spent: float, step_seconds: float, steps_per_epoch: int) -> int:
    """Whole epochs that fill the CPU seconds left of ``budget`` (at least one)."""
    return max(1, round((budget - spent) / max(step_seconds * steps_per_epoch, 1e-9)))


def optimizer_for(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    log_prior: torch.Tensor,
    pad: int,
) -> torch.Tensor:
    """One augmented, logit-adjusted (while training only) step; returns the loss."""
    logits = model(augment(x, pad=pad)) + log_prior
    loss = F.cross_entropy(logits, y, label_smoothing=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def step_cost(
    x: torch.Tensor, y: torch.Tensor, log_prior: torch.Tensor, batch_size: int, pad: int
) -> float:
    """CPU seconds of one training step, measured on a throwaway network (after a first step)."""
    model = network(len(log_prior))
    optimizer = optimizer_for(model)
    times = []
    for step in range(4):
        rows = torch.arange(step * batch_size, (step + 1) * batch_size) % len(y)
        started = time.process_time()
        train_step(model, optimizer, x[rows], y[rows], log_prior, pad)
        times.append(time.process_time() - started)
    return float(np.median(times[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--cpu-seconds", type=float, default=None, help="replaces --epochs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    started = time.process_time()
    classes = styles_of(args.data)
    x_train, y_train = load_split(args.data / "train", classes, args.size)
    x_test, y_test = load_split(args.data / "test", classes, args.size)
    mean = x_train.reshape(-1, 3).mean(0) / 255
    std = x_train.reshape(-1, 3).std(0) / 255

    def tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
        return (t - torch.tensor(mean).view(1, 3, 1, 1).float()) / torch.tensor(std).view(
            1, 3, 1, 1
        ).float()

    train_x, test_x = tensor(x_train), tensor(x_test)
    train_y = torch.from_numpy(y_train)
    counts = np.bincount(y_train, minlength=len(classes))
    log_prior = torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)
    steps_per_epoch = math.ceil(len(train_y) / args.batch_size)
    if args.cpu_seconds is not None:
        cost = step_cost(train_x, train_y, log_prior, args.batch_size, args.size // 8)
        spent = time.process_time() - started
        args.epochs = epochs_for(args.cpu_seconds, spent, cost, steps_per_epoch)
        torch.manual_seed(args.seed)  # the same network and order as a run given --epochs
    model = network(len(classes))
    optimizer = optimizer_for(model)
    steps = args.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_y))
        for start in range(0, len(order), args.batch_size):
            rows = order[start : start + args.batch_size]
            loss = train_step(
                model, optimizer, train_x[rows], train_y[rows], log_prior, args.size // 8
            )
            schedule.step()
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.3f}", file=sys.stderr)
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(test_x), 256):
            x = test_x[start : start + 256]
            p = model(x).softmax(1) + model(x.flip(3)).softmax(1)
            predictions.append(p.argmax(1))
    predicted = torch.cat(predictions).numpy()
    recalls, f1s = [], []
    for label in range(len(classes)):
        true = y_test == label
        hit = (predicted == label) & true
        recall = hit.sum() / max(true.sum(), 1)
        precision = hit.sum() / max((predicted == label).sum(), 1)
        recalls.append(recall)
        f1s.append(0.0 if hit.sum() == 0 else 2 * precision * recall / (precision + recall))
    result = {
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_f1": float(np.mean(f1s)),
        "cpu_seconds": time.process_time() - started,
        "epochs": args.epochs,
        "last_loss": float(loss.item()),
    }
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
