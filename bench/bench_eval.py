"""Benchmark section "eval": evaluation with large batches against batch size 1.

The course scripts evaluated one image at a time. This section times
:func:`artstyle.train.loop.evaluate_stage` (the code ``artstyle evaluate``
and every validation pass use: gather uint8 rows, normalise on the device,
forward, accumulate metrics on the device) over the same images with batch
512 and with batch 1, for the demo's ``resnet_tiny`` at 64 px on this
machine's CPU. Both passes run in one process, one after the other, each
the best of a few repeats; the target is at least 10x.

    python bench/run.py --only eval
"""

from __future__ import annotations

import time

import torch
from bench_train import N_CLASSES, SIZE, smooth_images
from common import row

BATCHED = 512
SPEED_UP_TARGET = 10.0


def _rate(fabric, task, model, batch_size: int, repeats: int) -> float:
    from artstyle.train.loop import evaluate_stage

    n = len(task.eval_indices("val"))
    evaluate_stage(fabric, task, model, "val", batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        totals = evaluate_stage(fabric, task, model, "val", batch_size=batch_size)
        best = min(best, time.perf_counter() - started)
        assert int(totals["n"].item()) == n
    return n / best


def section(*, quick: bool) -> list[dict]:
    from artstyle.config import ClassifierConfig
    from artstyle.train.classify import ClassifierData, ClassifierTask
    from artstyle.train.loop import make_fabric

    n_images = 512 if quick else 2048
    images, labels = smooth_images(n_images)
    config = ClassifierConfig(size=SIZE, accelerator="cpu", progress=False, val_fraction=0.49)
    classes = [f"Style_{i:02d}" for i in range(N_CLASSES)]
    data = ClassifierData.from_arrays(classes, images, labels, val_fraction=0.49, seed=0)
    fabric = make_fabric(config)
    task = ClassifierTask(config, data)
    task.setup(fabric.device)
    torch.manual_seed(0)
    # laid out as runs.load_model gives it
    model = task.build_model().to(memory_format=torch.channels_last).eval()
    repeats = 2 if quick else 3
    batched = _rate(fabric, task, model, BATCHED, repeats)
    single = _rate(fabric, task, model, 1, 1 if quick else 2)
    note = f"{config.model}, {SIZE} px, {len(task.eval_indices('val'))} images, {torch.get_num_threads()} threads"
    return [
        row(f"evaluation, batch {BATCHED}", batched, "images/s", note=note),
        row("evaluation, batch 1", single, "images/s", note="the course scripts' way"),
        row(
            f"batch {BATCHED} / batch 1",
            batched / single,
            "x",
            target=SPEED_UP_TARGET,
        ),
    ]
