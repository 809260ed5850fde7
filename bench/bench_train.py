"""Benchmark section "train": what the training loop costs on top of the model itself.

Two measurements of the same model (the demo's ``resnet_tiny`` at 64 px,
batch 128, AdamW), timed in the same run:

(a) the model alone: forward + backward + optimiser step on one batch of
    float tensors already in memory, repeated;
(b) the full loop (:func:`artstyle.train.loop.fit` with the classifier task):
    gathering uint8 rows, normalising and augmenting on the device, the
    step, metric accumulation, stop polling; its images/s counts the
    training batches only (validation and checkpoints happen between
    epochs and are reported separately).

Overhead = 1 - (b) / (a); the target is at most 15 %. Both sides take their
best epoch/repeat, the least disturbed by other work on a shared machine.

    python bench/run.py --only train
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import row

SIZE = 64
BATCH_SIZE = 128
N_CLASSES = 27
OVERHEAD_TARGET = 15.0  # percent


def _images(n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # smooth random fields: real-looking statistics are not needed to time a step
    small = rng.integers(0, 256, size=(n_images, 8, 8, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(small, SIZE // 8, axis=1), SIZE // 8, axis=2)
    labels = rng.integers(0, N_CLASSES, size=n_images).astype(np.int64)
    return np.ascontiguousarray(images), labels


def model_only_rate(config, n_steps: int, repeats: int) -> float:
    """Images/s of forward + backward + AdamW step on a batch already in memory (best of ``repeats``)."""
    from artstyle.train.classify import build_classifier
    from artstyle.train.loop import make_optimizer

    torch.manual_seed(0)
    model = build_classifier(config, N_CLASSES).train()
    optimizer = make_optimizer(model, config)
    x = torch.randn(BATCH_SIZE, 3, SIZE, SIZE)
    y = torch.randint(0, N_CLASSES, (BATCH_SIZE,))

    def one_step() -> None:
        loss = torch.nn.functional.cross_entropy(
            model(x), y, label_smoothing=config.label_smoothing
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    one_step()  # warm-up: first-call allocations and kernel selection
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n_steps):
            one_step()
        best = min(best, time.perf_counter() - started)
    return n_steps * BATCH_SIZE / best


def loop_rates(config, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(best epoch's training images/s, whole fit images/s including validation and checkpoints)."""
    from artstyle.train.classify import ClassifierData, ClassifierTask
    from artstyle.train.loop import fit
    from artstyle.train.runs import create_run

    classes = [f"Style_{i:02d}" for i in range(N_CLASSES)]
    data = ClassifierData.from_arrays(
        classes, images, labels, val_fraction=config.val_fraction, seed=0
    )
    with tempfile.TemporaryDirectory() as folder:
        run = create_run(Path(folder) / "run")
        started = time.perf_counter()
        result = fit(ClassifierTask(config, data), config, run, quiet=True)
        seconds = time.perf_counter() - started
    best_epoch = max(row_["images_per_second"] for row_ in result.state.history)
    return best_epoch, result.state.train_images / seconds


def section(*, quick: bool) -> list[dict]:
    from artstyle.config import ClassifierConfig

    n_images = 1024 if quick else 4096
    epochs = 2 if quick else 3
    config = ClassifierConfig(
        size=SIZE,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        val_fraction=0.05,
        progress=False,
        accelerator="cpu",
    )
    images, labels = _images(n_images)
    steps = n_images // BATCH_SIZE
    model_before = model_only_rate(config, n_steps=min(steps, 8), repeats=2 if quick else 3)
    loop_best, fit_rate = loop_rates(config, images, labels)
    model_after = model_only_rate(config, n_steps=min(steps, 8), repeats=2 if quick else 3)
    model_rate = max(model_before, model_after)
    overhead = 100.0 * (1.0 - loop_best / model_rate)
    note = f"{config.model}, {SIZE} px, batch {BATCH_SIZE}, {n_images} images, {torch.get_num_threads()} threads"
    return [
        row(
            "model only: forward+backward+step, tensors in memory",
            model_rate,
            "images/s",
            note=note,
        ),
        row(
            "full training loop (data path + augmentation + loop), best epoch",
            loop_best,
            "images/s",
            note="flip + random resized crop + colour jitter on the device",
        ),
        row(
            "data path + loop overhead",
            overhead,
            "%",
            target=OVERHEAD_TARGET,
            higher_is_better=False,
        ),
        row(
            "whole fit incl. validation and per-epoch checkpoints",
            fit_rate,
            "images/s",
            note=f"{epochs} epochs, 5 % validation",
        ),
    ]
