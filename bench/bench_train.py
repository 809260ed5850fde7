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

Overhead = 1 - (b) / (a); the target is at most 15 %. The two take turns in
windows of the same length: before each loop epoch the model alone runs as
many steps as the epoch has. Each epoch is compared with the window just
before it, and the overhead is the median over those pairs (the first
epoch, which pays for set-up, left out), so a burst of other work on a
shared machine spoils one pair rather than the verdict. The target is
judged in images per CPU second of this process (``time.process_time``);
the wall-clock figure is shown beside it.

    python bench/run.py --only train
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
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


def model_only_timer(config, *, channels_last: bool = True) -> Callable[[int], tuple[float, float]]:
    """A function timing ``n_steps`` of forward + backward + AdamW step on one batch already in
    memory: (wall seconds, CPU seconds); in the channels_last layout the loop uses, or not."""
    from artstyle.train.optim import make_optimizer
    from artstyle.train.tasks.classifier import build_classifier

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

    def window(n_steps: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n_steps):
            one_step()
        return time.perf_counter() - wall, time.process_time() - cpu

    return window


def loop_rates(
    config, images: np.ndarray, labels: np.ndarray, before_epoch: Callable[[], None]
) -> tuple[list[tuple[float, float]], float]:
    """Each epoch's (images per wall second, images per CPU second) in the loop's training
    batches, and the whole fit's images per wall second (validation, checkpoints, set-up
    included). ``before_epoch`` runs before each epoch, outside its timing."""
    from artstyle.data.dataset import ClassifierData
    from artstyle.train import loop
    from artstyle.train.runs import create_run
    from artstyle.train.tasks.classifier import ClassifierTask

    classes = [f"Style_{i:02d}" for i in range(N_CLASSES)]
    data = ClassifierData.from_arrays(
        classes, images, labels, val_fraction=config.val_fraction, seed=0
    )
    epochs: list[tuple[int, float, float]] = []
    original = loop.train_one_epoch
    paused = 0.0  # seconds spent in before_epoch, left out of the whole fit's rate

    def timed_epoch(*args, **kwargs):
        nonlocal paused
        started = time.perf_counter()
        before_epoch()
        paused += time.perf_counter() - started
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
            seconds = time.perf_counter() - started - paused
    finally:
        loop.train_one_epoch = original
    rates = [(n / wall, n / cpu) for n, wall, cpu in epochs]
    return rates, result.state.train_images / seconds


def section(*, quick: bool) -> list[dict]:
    from artstyle.config import ClassifierConfig

    n_images = 1024 if quick else 4096
    epochs = 3 if quick else 5
    config = ClassifierConfig(
        size=SIZE,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        val_fraction=0.05,
        progress=False,
        accelerator="cpu",
    )
    images, labels = smooth_images(n_images)
    # Before each loop epoch the model alone runs as many steps as the epoch has, so the two
    # sides take turns and each epoch has a neighbour that saw the same machine. The overhead
    # is the median over those pairs (the first epoch, which pays for set-up, left out): a
    # burst of other work slows one pair, not the verdict.
    n_train = n_images - round(n_images * config.val_fraction)
    n_steps = -(-n_train // BATCH_SIZE)
    window = model_only_timer(config)
    windows: list[tuple[float, float]] = []
    loop_epochs, fit_rate = loop_rates(
        config, images, labels, before_epoch=lambda: windows.append(window(n_steps))
    )
    per_window = n_steps * BATCH_SIZE
    model_epochs = [(per_window / wall, per_window / cpu) for wall, cpu in windows]
    pairs = list(zip(model_epochs, loop_epochs, strict=True))[1:]
    overhead_wall = float(np.median([100.0 * (1 - loop[0] / model[0]) for model, loop in pairs]))
    overhead_cpu = float(np.median([100.0 * (1 - loop[1] / model[1]) for model, loop in pairs]))
    model_wall, model_cpu = (max(rates[k] for rates in model_epochs) for k in (0, 1))
    loop_wall, loop_cpu = (max(rates[k] for rates in loop_epochs) for k in (0, 1))
    plain_window = model_only_timer(config, channels_last=False)
    plain_wall = max(per_window / plain_window(n_steps)[0] for _ in range(2))
    note = f"{config.model}, {SIZE} px, batch {BATCH_SIZE}, {n_images} images, {torch.get_num_threads()} threads"
    return [
        row(
            "model only: forward+backward+step, tensors in memory, best window",
            model_wall,
            "images/s",
            note=note,
        ),
        row(
            "model only, plain NCHW layout (no channels_last)",
            plain_wall,
            "images/s",
            note=f"channels_last speed-up {model_wall / plain_wall:.2f}x",
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
            note=f"median of {len(pairs)} epochs, each against the model-only window just before "
            f"it; best: model {model_cpu:.0f} vs loop {loop_cpu:.0f} images per CPU second",
        ),
        row(
            "data path + loop overhead (per wall second)",
            overhead_wall,
            "%",
            note="median of the same pairs; noisy on a shared machine",
        ),
        row(
            "whole fit incl. validation and per-epoch checkpoints",
            fit_rate,
            "images/s",
            note=f"{epochs} epochs, 5 % validation, set-up included",
        ),
    ]
