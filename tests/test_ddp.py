"""``--devices 2`` on CPU: DDP over gloo through the same command and loop that multi-GPU runs use.

Fabric's DDP launcher starts the second rank by running the command line
again, so the command runs in a subprocess (as a user would start it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artstyle.cli import main
from artstyle.train import runs


def test_two_cpu_processes_train_one_model(tiny_data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "artstyle.cli",
        "train",
        "classifier",
        "--data",
        str(tiny_data),
        "--out",
        str(run),
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        "--epochs",
        "2",
        "--size",
        "32",
        "--batch-size",
        "8",
        "--width",
        "8",
        "--workers",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--progress",
        "false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stdout + done.stderr
    assert "Starting with 2 processes" in done.stdout + done.stderr

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["devices"] == 2
    # each rank tests 3 of the 6 test images; the confusion matrix is summed over both
    assert metrics["n_test"] == 6 and sum(map(sum, metrics["confusion_matrix"])) == 6
    history = runs.read_history(runs.open_run(run))
    # 21 training images padded to 22, 11 per rank -> 2 batches of <= 8 per rank and epoch
    assert [row["step"] for row in history] == [2, 4]
    # training accuracy counts both ranks' 22 samples, not one rank's 11
    for row in history:
        assert abs(row["train_accuracy"] * 22 - round(row["train_accuracy"] * 22)) < 1e-4

    # one process evaluating the DDP-trained weights gets the same numbers
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["confusion_matrix"] == metrics["confusion_matrix"]
    assert single["balanced_accuracy"] == pytest.approx(metrics["balanced_accuracy"])
