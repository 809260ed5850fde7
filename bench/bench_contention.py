"""Benchmark section "contention": a training epoch on a quiet CPU and with one core kept busy.

The same command, ``artstyle train classifier`` on a small synthetic set (64 px,
3 epochs), runs twice with the program's own thread settings: once on the
quiet machine and once while a second process spins on one core for the whole
run. Images/s is the median of the epochs after the first (which pays for
start-up). The target: with one core busy, at least 40 % of the quiet speed.
The same pair is then run with spinning OpenMP threads (``OMP_WAIT_POLICY=ACTIVE``),
the setting the program replaced, to show what the choice is worth. The two
settled runs must also write the same metrics.json numbers: the load changes the
speed, never the result.

    python bench/run.py --only contention
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import row, run_artstyle

RATIO_TARGET = 0.40
SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "loss")


def _epoch_rate(run: Path) -> float:
    with open(run / "history.csv", newline="") as handle:
        rates = [float(r["images_per_second"]) for r in csv.DictReader(handle)]
    return statistics.median(rates[1:] or rates)


def _train(data: Path, out: Path, env: dict[str, str], *, epochs: int) -> tuple[float, dict]:
    run_artstyle(
        "train", "classifier", "--data", str(data), "--out", str(out), "--size", "64",
        "--epochs", str(epochs), "--progress", "false", env=env,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    return _epoch_rate(out), {key: metrics[key] for key in SCORES}


def _busy_core() -> subprocess.Popen:
    """A second program that keeps one core busy until it is stopped."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def section(*, quick: bool) -> list[dict]:
    epochs = 2 if quick else 3
    scale = "0.05" if quick else "0.1"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "ARTSTYLE_CACHE": str(root / "cache")}
        for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS"):
            env.pop(key, None)  # the program's own choice, as a user gets it
        data = root / "data"
        run_artstyle("data", "synth", str(data), "--scale", scale, "--seed", "0", env=env)
        spinning = {**env, "OMP_WAIT_POLICY": "ACTIVE"}
        # build the cache once, so no run below pays for decoding
        _train(data, root / "warm", env, epochs=1)
        results = {}
        for name, settings in (("program", env), ("spinning", spinning)):
            quiet, quiet_scores = _train(data, root / f"{name}-quiet", settings, epochs=epochs)
            busy_process = _busy_core()
            try:
                busy, busy_scores = _train(data, root / f"{name}-busy", settings, epochs=epochs)
            finally:
                busy_process.kill()
                busy_process.wait()
            results[name] = (quiet, busy, quiet_scores == busy_scores)
    quiet, busy, same = results["program"]
    old_quiet, old_busy, _ = results["spinning"]
    return [
        row("epoch, quiet CPU", quiet, "images/s"),
        row("epoch, one core busy", busy, "images/s"),
        row("busy / quiet", busy / quiet, "ratio", target=RATIO_TARGET),
        row(
            "same metrics quiet and busy",
            float(same),
            "1 = yes",
            target=1.0,
            note=", ".join(SCORES),
        ),
        row(
            "spinning threads (OMP_WAIT_POLICY=ACTIVE): busy / quiet",
            old_busy / old_quiet,
            "ratio",
            note=f"{old_busy:.0f} / {old_quiet:.0f} images/s",
        ),
    ]
