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
best epoch/repeat, the least disturbed by other work on a shared machine, and
the target is judged in images per CPU second of this process
(``time.process_time``), which time-slicing with other programs does not
change much; the wall-clock figures are shown beside it.

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


def smooth_images(n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # smooth random fields: real-looking statistics are not needed to time a step
    small = rng.integers(0, 256, size=(n_images, 8, 8, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(small, SIZE // 8, axis=1), SIZE // 8, axis=2)
    labels = rng.integers(0, N_CLASSES, size=n_images).astype(np.int64)
    return np.ascontiguousarray(images), labels


def model_only_rates(
    config, n_steps: int, repeats: int, *, channels_last: bool = True
) -> tuple[float, float]:
    """(images per wall second, images per CPU second) of forward + backward + AdamW step on a batch
    already in memory, best of ``repeats``; in the channels_last layout the loop uses, or not."""
    from artstyle.train.classify import build_classifier
    from artstyle.train.loop import make_optimizer

    torch.manual_seed(0)
    model = build_classifier(config, N_CLASSES).train()
    optimizer = make_optimizer(model, config)
    x = torch.randn(BATCH_SIZE, 3, SIZE, SIZE)
    y = torch.randint(0, N_CLASSES, (BATCH_SIZE,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def one_step() -> None:
        loss = torch.nn.functional.cross_entropy(
            model(x), y, label_smoothing=config.label_smoothing
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    one_step()  # warm-up: first-call allocations and kernel selection
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n_steps):
            one_step()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    n_images = n_steps * BATCH_SIZE
    return n_images / best_wall, n_images / best_cpu


def loop_rates(config, images: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Best epoch's (images per wall second, images per CPU second) in the loop's training
    batches, and the whole fit's images per wall second (validation, checkpoints, set-up included)."""
    from artstyle.train import loop
    from artstyle.train.classify import ClassifierData, ClassifierTask
    from artstyle.train.runs import create_run

    classes = [f"Style_{i:02d}" for i in range(N_CLASSES)]
    data = ClassifierData.from_arrays(
        classes, images, labels, val_fraction=config.val_fraction, seed=0
    )
    epochs: list[tuple[int, float, float]] = []
    original = loop.train_one_epoch

    def timed_epoch(*args, **kwargs):
        state = args[6]
        images_before = state.train_images
        wall, cpu = time.perf_counter(), time.process_time()
        result = original(*args, **kwargs)
        epochs.append(
            (
                state.train_images - images_before,
                time.perf_counter() - wall,
                time.process_time() - cpu,
            )
        )
        return result

    loop.train_one_epoch = timed_epoch
    try:
        with tempfile.TemporaryDirectory() as folder:
            run = create_run(Path(folder) / "run")
            started = time.perf_counter()
            result = loop.fit(ClassifierTask(config, data), config, run, quiet=True)
            seconds = time.perf_counter() - started
    finally:
        loop.train_one_epoch = original
    best_wall = max(n / wall for n, wall, _ in epochs)
    best_cpu = max(n / cpu for n, _, cpu in epochs)
    return best_wall, best_cpu, result.state.train_images / seconds


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
    images, labels = smooth_images(n_images)
    n_steps = min(n_images // BATCH_SIZE, 8)
    repeats = 2 if quick else 3
    # model-only before and after the loop: the best of both is the least disturbed
    before = model_only_rates(config, n_steps=n_steps, repeats=repeats)
    loop_wall, loop_cpu, fit_rate = loop_rates(config, images, labels)
    after = model_only_rates(config, n_steps=n_steps, repeats=repeats)
    plain = model_only_rates(config, n_steps=n_steps, repeats=repeats, channels_last=False)
    model_wall, model_cpu = max(before[0], after[0]), max(before[1], after[1])
    overhead_cpu = 100.0 * (1.0 - loop_cpu / model_cpu)
    overhead_wall = 100.0 * (1.0 - loop_wall / model_wall)
    note = f"{config.model}, {SIZE} px, batch {BATCH_SIZE}, {n_images} images, {torch.get_num_threads()} threads"
    return [
        row(
            "model only: forward+backward+step, tensors in memory",
            model_wall,
            "images/s",
            note=note,
        ),
        row(
            "model only, plain NCHW layout (no channels_last)",
            plain[0],
            "images/s",
            note=f"channels_last speed-up {model_wall / plain[0]:.2f}x",
        ),
        row(
            "full training loop, best epoch",
            loop_wall,
            "images/s",
            note="gather + normalise + flip/crop/jitter on the device + step + metrics",
        ),
        row(
            "data path + loop overhead (per CPU second)",
            overhead_cpu,
            "%",
            target=OVERHEAD_TARGET,
            higher_is_better=False,
            note=f"model {model_cpu:.0f} vs loop {loop_cpu:.0f} images per CPU second; "
            "CPU time is robust to other work on the machine",
        ),
        row(
            "data path + loop overhead (per wall second)",
            overhead_wall,
            "%",
            note="noisy on a shared machine",
        ),
        row(
            "whole fit incl. validation and per-epoch checkpoints",
            fit_rate,
            "images/s",
            note=f"{epochs} epochs, 5 % validation, set-up included",
        ),
    ]
