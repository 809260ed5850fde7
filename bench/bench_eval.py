"""Benchmark section "eval": evaluation with large batches against batch size 1.

The course scripts evaluated one image at a time. This section times
:func:`artstyle.train.loop.evaluate_stage` (the code ``artstyle evaluate``
and every validation pass use: gather uint8 rows, normalise on the device,
forward, accumulate metrics on the device) over the same images with the
CPU's default evaluation batch (128), with 512 and with batch 1, for the
demo's ``resnet_tiny`` at 64 px on this machine's CPU, the model as
``artstyle evaluate`` loads it (BatchNorm folded, channels_last). The passes
run in one process, one after the other, each the best of a few repeats; the
target is at least 10x. The compute ceiling is printed beside it: the
model's floating-point operations per image (two per multiply-add) and the GFLOP/s each rate means, against a
large float32 matrix product on the same cores.

    python bench/run.py --only eval
"""

from __future__ import annotations

import time

import torch
from bench_train import N_CLASSES, SIZE, smooth_images
from common import row

LARGE = 512
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


def _flops_per_image(model) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last))
    return float(counter.get_total_flops())


def _matmul_gflops(side: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of a large matrix product: about the most these cores do."""
    a, b = torch.randn(side, side), torch.randn(side, side)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * side**3 / best / 1e9


def section(*, quick: bool) -> list[dict]:
    from artstyle.config import ClassifierConfig
    from artstyle.data.dataset import ClassifierData
    from artstyle.models import fold_batchnorm
    from artstyle.train.engine import make_fabric
    from artstyle.train.loop import eval_batch_size
    from artstyle.train.tasks.classifier import ClassifierTask

    n_images = 512 if quick else 2048
    images, labels = smooth_images(n_images)
    config = ClassifierConfig(size=SIZE, accelerator="cpu", progress=False, val_fraction=0.49)
    classes = [f"Style_{i:02d}" for i in range(N_CLASSES)]
    data = ClassifierData.from_arrays(classes, images, labels, val_fraction=0.49, seed=0)
    fabric = make_fabric(config)
    task = ClassifierTask(config, data)
    task.setup(fabric.device)
    torch.manual_seed(0)
    # as runs.load_model gives it: BatchNorm folded, channels_last
    model = task.build_model().eval()
    fold_batchnorm(model)
    model = model.to(memory_format=torch.channels_last)
    repeats = 2 if quick else 3
    default = eval_batch_size(config.eval_batch_size, fabric.device)
    batched = _rate(fabric, task, model, default, repeats)
    large = _rate(fabric, task, model, LARGE, repeats)
    single = _rate(fabric, task, model, 1, 1 if quick else 2)
    flops = _flops_per_image(model)
    peak = _matmul_gflops()
    note = f"{config.model}, {SIZE} px, {len(task.eval_indices('val'))} images, {torch.get_num_threads()} threads"

    def gflops(rate: float) -> str:
        return f"{rate * flops / 1e9:.0f} GFLOP/s, {rate * flops / 1e9 / peak:.0%} of the matmul ceiling"

    return [
        row(
            f"evaluation, batch {default} (CPU default)",
            batched,
            "images/s",
            note=f"{note}; {gflops(batched)}",
        ),
        row(f"evaluation, batch {LARGE}", large, "images/s", note=gflops(large)),
        row(
            "evaluation, batch 1",
            single,
            "images/s",
            note=f"the course scripts' way; {gflops(single)}",
        ),
        row(
            f"batch {default} / batch 1",
            batched / single,
            "x",
            target=SPEED_UP_TARGET,
        ),
        row(
            "float32 matmul ceiling",
            peak,
            "GFLOP/s",
            note=f"2048x2048 product; the model costs {flops / 1e6:.1f} MFLOP per image",
        ),
    ]
