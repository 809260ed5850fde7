"""Benchmark section "gpu": the GPU path measured through the commands a user runs.

Needs a CUDA GPU; on a machine without one the section is skipped and the
figures recorded earlier stay in docs/benchmarks.md. It writes the built-in
synthetic set at the course's size (``artstyle data synth --scale 1``: about
14k training images, 240 px short side), then for 128 px and 224 px caches it
with ``artstyle data cache`` and trains the classifier with ``artstyle train
classifier`` (bf16 autocast, channels_last, the uint8 cache resident on the
GPU, augmentation on the GPU, large batches with the square-root learning-rate
rule). From each run's history.csv it reads the training images/s, the
seconds per epoch and the wall-clock time until the validation balanced
accuracy first reaches ``TARGET_BALANCED_ACCURACY``. It then times evaluation
with large batches against batch size 1 on the test split, and LoRA training
steps of the real Stable Diffusion 1.5 architecture (random weights, the same
shapes and memory as a downloaded model) at 512 px with and without gradient
checkpointing.

    python bench/run.py --only gpu --out docs/benchmarks.md
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import row, run_artstyle

TARGET_BALANCED_ACCURACY = 0.80
EPOCH_SECONDS_TARGET = 2.0  # a full epoch over ~13k images at 128 px (issue target)
BATCHED_EVAL_SPEED_UP_TARGET = 10.0
BATCH_SIZE = 512
EPOCHS = {128: 30, 224: 20}


def _history(run: Path) -> list[dict[str, float]]:
    with (run / "history.csv").open(newline="") as handle:
        return [
            {k: float(v) for k, v in r.items() if v not in ("", None)}
            for r in csv.DictReader(handle)
        ]


def _classifier_rows(
    data: Path, size: int, env: dict[str, str], root: Path, quick: bool
) -> list[dict]:
    cache_seconds = run_artstyle("data", "cache", str(data), "--size", str(size), env=env)
    run = root / f"clf{size}"
    epochs = 3 if quick else EPOCHS[size]
    wall = run_artstyle(
        "train", "classifier", "--data", str(data), "--out", str(run), "--size", str(size),
        "--epochs", str(epochs), "--batch-size", str(BATCH_SIZE), "--eval-batch-size", "2048",
        "--progress", "false", env=env,
    )  # fmt: skip
    history = _history(run)
    metrics = json.loads((run / "metrics.json").read_text())
    n_train = int(metrics["n_train"])
    rates = [h["images_per_second"] for h in history[1:] or history]  # the first epoch warms up
    best_rate = max(rates)
    reached = next(
        (h for h in history if h.get("val_balanced_accuracy", 0.0) >= TARGET_BALANCED_ACCURACY),
        None,
    )
    note = f"resnet_tiny, batch {BATCH_SIZE}, {metrics['precision']}, {n_train} training images"
    rows = [
        row(
            f"{size} px: cache build ({n_train} + test images)",
            cache_seconds,
            "s",
            note="artstyle data cache",
        ),
        row(f"{size} px: training images/s, best epoch", best_rate, "images/s", note=note),
        row(
            f"{size} px: one epoch over {n_train} images",
            n_train / best_rate,
            "s",
            target=EPOCH_SECONDS_TARGET if size == 128 else None,
            higher_is_better=False,
            note="training batches only",
        ),
        row(
            f"{size} px: wall time until val balanced accuracy >= {TARGET_BALANCED_ACCURACY}",
            reached["elapsed_seconds"] if reached else float("nan"),
            "s",
            note=f"epoch {int(reached['epoch'])}" if reached else f"not reached in {epochs} epochs",
        ),
        row(
            f"{size} px: test balanced accuracy after {len(history)} epochs",
            metrics["balanced_accuracy"],
            "",
            note=f"whole command {wall:.0f} s incl. start-up and test",
        ),
    ]
    if size == 128:
        rows += _eval_rows(run, env)
        rows += _compiled_rows(data, size, env, root, best_rate)
    return rows


def _compiled_rows(
    data: Path, size: int, env: dict[str, str], root: Path, eager_rate: float
) -> list[dict]:
    """The same training with ``--compile true`` (torch.compile), a few epochs."""
    run = root / f"clf{size}-compiled"
    wall = run_artstyle(
        "train", "classifier", "--data", str(data), "--out", str(run), "--size", str(size),
        "--epochs", "4", "--batch-size", str(BATCH_SIZE), "--eval-batch-size", "2048",
        "--compile", "true", "--progress", "false", env=env,
    )  # fmt: skip
    rate = max(h["images_per_second"] for h in _history(run)[1:])
    return [
        row(f"{size} px with torch.compile: training images/s, best epoch", rate, "images/s",
            note=f"{rate / eager_rate:.2f}x eager; whole 4-epoch command {wall:.0f} s incl. compilation"),
    ]  # fmt: skip


def _eval_rows(run: Path, env: dict[str, str]) -> list[dict]:
    """Evaluation images/s with batch 2048 vs batch 1 on the same test split (in a child process)."""
    code = (
        "import json, sys\n"
        "from artstyle.workflows.evaluate import evaluate_run\n"
        "out = {}\n"
        "for bs in (2048, 1, 2048):\n"
        "    out[bs] = evaluate_run(sys.argv[1], batch_size=bs, progress=False)['eval_images_per_second']\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(run)], capture_output=True, text=True, env=env, check=True
    )
    rates = json.loads(result.stdout.strip().splitlines()[-1])
    batched, single = float(rates["2048"]), float(rates["1"])
    return [
        row("evaluation, batch 2048", batched, "images/s", note="second pass (first warms up)"),
        row("evaluation, batch 1", single, "images/s"),
        row(
            "batched / batch-1 evaluation",
            batched / single,
            "x",
            target=BATCHED_EVAL_SPEED_UP_TARGET,
        ),
    ]


def _lora_rows(quick: bool) -> list[dict]:
    from bench_lora import measure_in_subprocess

    from artstyle.generate.lora.tiny_pipeline import build_random_pipeline

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sd15-") as folder:
        base = build_random_pipeline(Path(folder) / "sd15", architecture="sd15", dtype="float16")
        for batch_size in (1, 4):
            for checkpointing in (False, True):
                result = measure_in_subprocess(
                    base=str(base), resolution=512, steps=3 if quick else 10,
                    batch_size=batch_size, gradient_checkpointing=checkpointing,
                )  # fmt: skip
                label = f"LoRA SD 1.5 512 px, batch {batch_size}, checkpointing {'on' if checkpointing else 'off'}"
                rows.append(
                    row(f"{label}: images/s", result["images_per_second"], "images/s",
                        note=f"{result['precision']}, rank 8, {result['trainable_parameters']:,} LoRA parameters")
                )  # fmt: skip
                rows.append(
                    row(f"{label}: peak GPU memory", result["peak_memory_mb"] / 1024, "GiB",
                        note="torch.cuda.max_memory_allocated")
                )  # fmt: skip
    return rows


def section(*, quick: bool) -> list[dict[str, Any]] | None:
    import torch

    if not torch.cuda.is_available():
        print("   no CUDA GPU here: section skipped, earlier GPU figures kept")
        return None
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as folder:
        root = Path(folder)
        env = {**os.environ, "ARTSTYLE_CACHE": str(root / "cache")}
        data = root / "synth"
        scale = "0.2" if quick else "1"
        seconds = run_artstyle(
            "data", "synth", str(data), "--scale", scale, "--size", "240", env=env
        )
        rows.append(
            row(
                "write the synthetic set (artstyle data synth)",
                seconds,
                "s",
                note=f"--scale {scale} --size 240, {os.cpu_count()} CPUs",
            )
        )
        for size in (128, 224):
            rows += _classifier_rows(data, size, env, root, quick)
    rows += _lora_rows(quick)
    return rows
