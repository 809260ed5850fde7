"""Benchmark section "memory": peak memory of training on a course-sized set, against the cache.

The course scripts held every image as a float tensor (27 GB for the course
set). Here a course-sized training split (13,000 generated 416x416 JPEGs, the
``cache`` section's painter) is cached with ``artstyle data cache`` at 64 px
and 128 px, and one epoch of ``artstyle train classifier`` runs on each in a
fresh process that reports its own peak resident memory (``ru_maxrss``). The
"model's own" memory is a process that imports the same modules, builds the
model and optimiser, trains one batch and runs one validation batch, with no
data set. The target: peak training memory under 2x the cache file plus the
model's own.

    python bench/run.py --only memory
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import row, run_artstyle

N_IMAGES = 13_000
SIZES = (64, 128)
TARGET_FACTOR = 2.0

_TRAIN = """
import json, resource, sys
from artstyle.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_MODEL_ONLY = """
import json, resource, sys
import torch
import artstyle.cli, artstyle.workflows.train, lightning.fabric  # the same imports as a training run
from artstyle.config import ClassifierConfig
from artstyle.train.tasks.classifier import build_classifier
from artstyle.train.loop import eval_batch_size
from artstyle.train.optim import make_optimizer
size, batch = int(sys.argv[1]), int(sys.argv[2])
config = ClassifierConfig(size=size, batch_size=batch)
model = build_classifier(config, 27).to(memory_format=torch.channels_last)  # as training lays it out
optimizer = make_optimizer(model, config)
x, y = torch.randn(batch, 3, size, size), torch.randint(0, 27, (batch,))
x = x.contiguous(memory_format=torch.channels_last)
for _ in range(2):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
model.eval()  # and one validation batch, as each epoch ends with one
with torch.no_grad():
    batch = eval_batch_size(config.eval_batch_size, torch.device("cpu"))
    model(torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last))
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _python(code: str, *args: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def section(*, quick: bool) -> list[dict]:
    from bench_cache import make_paintings

    n_images = 2_000 if quick else N_IMAGES
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        root = Path(folder)
        env = {**os.environ, "ARTSTYLE_CACHE": str(root / "cache")}
        started = time.perf_counter()
        make_paintings(root / "data", n_images)
        rows.append(
            row(
                f"write {n_images:,} 416x416 JPEGs",
                time.perf_counter() - started,
                "s",
                note="set-up, not a measurement of artstyle",
            )
        )
        for size in SIZES:
            run_artstyle("data", "cache", str(root / "data"), "--size", str(size), env=env)
            arrays = list((root / "cache").rglob(f"train-{size}px-*.npy"))
            if not arrays:
                raise RuntimeError(
                    f"no train-{size}px-*.npy under {root / 'cache'}: the cache layout changed"
                )
            cache_mib = sum(p.stat().st_size for p in arrays) / 2**20
            train = _python(
                _TRAIN, "train", "classifier", "--data", str(root / "data"), "--out", str(root / f"run{size}"),
                "--size", str(size), "--epochs", "1", "--progress", "false", env=env,
            )  # fmt: skip
            batch = str(_default_batch())
            own = _python(_MODEL_ONLY, str(size), batch, env=env)["peak_mib"]
            limit = TARGET_FACTOR * cache_mib + own
            rows += [
                row(f"{size} px: cache of {n_images:,} training images", cache_mib, "MiB", note="uint8 memmap"),
                row(f"{size} px: the model's own (no data set)", own, "MiB",
                    note=f"imports, model, AdamW, batch {batch} forward+backward, one validation batch"),
                row(f"{size} px: peak memory of one training epoch", train["peak_mib"], "MiB",
                    target=limit, higher_is_better=False,
                    note=f"target = {TARGET_FACTOR:g} x cache + model's own; float tensors would need "
                    f"{n_images * 3 * size * size * 4 / 2**20:,.0f} MiB"),
            ]  # fmt: skip
    return rows


def _default_batch() -> int:
    from artstyle.config import ClassifierConfig

    return ClassifierConfig().batch_size
