"""Soak: one training run SIGKILLed 20 times at random moments, resumed each time, ends as if never killed.

Kills land anywhere in a session: while Python starts, while the cache is
built, mid-epoch, around checkpoint writes, during the final evaluation and
figures. After every kill the run folder must read back as good; at the end
the metrics, history, weights, optimiser and RNG state must match an
uninterrupted run. Slow (a few minutes): run by ``make soak``, not ``make test``.

    python -m pytest -q -m slow tests/test_soak.py -s
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from conftest import make_dataset
from test_faults import (
    artstyle_command,
    assert_same_training,
    check_run_folder,
    sigkill,
    spawn,
    train_args,
)

N_KILLS = 20
EPOCHS = 24


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _run_complete(run: Path) -> bool:
    return (run / "metrics.json").exists()


def _next_command(
    data: Path, run: Path, cache: Path, recipe: list[str], fresh: bool, complete: bool
) -> list[str]:
    """Start the run, resume it (which finishes one stopped after its last epoch), or score it again."""
    if fresh:
        return train_args(data, run, cache, *recipe)
    if complete:
        return ["evaluate", str(run)]
    return ["train", "classifier", "--resume", str(run), "--progress", "false"]


@pytest.mark.slow
def test_twenty_kills_at_random_moments_end_in_the_uninterrupted_result(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "OMP_NUM_THREADS", "1"
    )  # as in test_faults: same thread count in every process
    rng = random.Random(2024)
    data = make_dataset(
        tmp_path / "data",
        {
            "train": {"Baroque": 12, "Cubism": 12, "Rococo": 12},
            "test": {"Baroque": 3, "Cubism": 3, "Rococo": 3},
        },
        size=(24, 20),
    )
    recipe = ["--epochs", str(EPOCHS), "--dropout", "0.3"]
    straight, run = tmp_path / "straight", tmp_path / "run"

    started = time.monotonic()
    child = spawn(
        artstyle_command(*train_args(data, straight, tmp_path / "cache-straight", *recipe))
    )
    config_seen, last_checkpoint, checkpoint_at = None, 0, started
    while child.poll() is None:
        if config_seen is None and (straight / "config.yaml").exists():
            config_seen = time.monotonic() - started
        if _mtime(straight / "checkpoints" / "last.ckpt") != last_checkpoint:
            last_checkpoint, checkpoint_at = (
                _mtime(straight / "checkpoints" / "last.ckpt"),
                time.monotonic(),
            )
        time.sleep(0.01)
    output = child.stdout.read().decode()
    child.stdout.close()
    assert child.returncode == 0, output
    session_seconds = time.monotonic() - started
    final_seconds = time.monotonic() - checkpoint_at  # test evaluation, metrics.json, figures
    history = check_run_folder(straight)["history"]
    epoch_seconds = (history[-1]["elapsed_seconds"] - history[0]["elapsed_seconds"]) / max(
        len(history) - 1, 1
    )
    startup_seconds = config_seen or session_seconds / 2

    kills: list[str] = []
    while len(kills) < N_KILLS:
        fresh = not (
            run / "config.yaml"
        ).exists()  # killed before the run folder was written: start again
        complete_before = _run_complete(run)
        command = _next_command(data, run, tmp_path / "cache", recipe, fresh, complete_before)
        checkpoint_before = _mtime(run / "checkpoints" / "last.ckpt")
        mode = rng.choices(["start", "train"], weights=[1, 3])[0]
        if complete_before:
            # a finished run refuses --resume; `evaluate` scores it again and rewrites metrics.json
            # and the figures, so kills keep landing in those writes
            mode = "anytime"
        child = spawn(artstyle_command(*command))
        session_start = time.monotonic()
        if mode == "start":  # start-up, scan, cache build, model set-up, first batches
            deadline = session_start + rng.uniform(0.0, startup_seconds * 1.2)
        elif (
            mode == "anytime"
        ):  # mostly in the final evaluation and the writing of metrics and figures
            deadline = session_start + rng.uniform(
                0.5 * startup_seconds, startup_seconds + 2 * final_seconds
            )
        else:  # after this session has written a checkpoint, somewhere in the next epochs
            deadline = None
        while child.poll() is None:
            now = time.monotonic()
            if deadline is None and _mtime(run / "checkpoints" / "last.ckpt") != checkpoint_before:
                deadline = now + rng.uniform(0.0, 2.5 * epoch_seconds)
            if deadline is not None and now >= deadline:
                break
            time.sleep(0.002)
        if child.poll() is not None:  # it finished first: no kill this time
            output = child.stdout.read().decode()
            child.stdout.close()
            assert child.returncode == 0, output
            continue
        sigkill(child)
        assert child.returncode == -signal.SIGKILL
        where = f"{mode} +{time.monotonic() - session_start:.2f}s"
        if (run / "config.yaml").exists():
            found = check_run_folder(
                run
            )  # every file there reads back as good, whatever the moment
            state = found.get("checkpoint", {}).get("state", {})
            where += f" step {state.get('step', 0)}"
        kills.append(where)

    child = spawn(
        artstyle_command(
            *_next_command(data, run, tmp_path / "cache", recipe, False, _run_complete(run))
        )
    )
    output = child.communicate(timeout=600)[0].decode()
    assert child.returncode == 0, output
    print(
        f"\n{len(kills)} kills (epoch {epoch_seconds:.2f}s, start-up {startup_seconds:.1f}s, "
        f"final evaluation {final_seconds:.1f}s): " + "; ".join(kills)
    )
    assert_same_training(run, straight)
    assert not [p for p in run.rglob(".*.tmp")], "temporary files of killed writes are cleaned up"
    assert os.listdir(run / "checkpoints") == ["last.ckpt"]
