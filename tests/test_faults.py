"""Faults: SIGKILL at any moment, full disks, two commands at once, untrusted weights and configs.

Every test here fails when the protection it is named after is taken away
(atomic writes, resume from the last complete checkpoint, the cache and
run-folder locks, ``weights_only`` loading, the meta-device shape check,
strict config validation). Kills are real: an ``artstyle`` child process gets
SIGKILL, exactly what the kernel's OOM killer or a cluster's pre-emption does.

    python -m pytest -q tests/test_faults.py
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from artstyle import io as atomic_io
from artstyle.cli import main
from artstyle.config import (
    AutoencoderConfig,
    ClassifierConfig,
    ClusterConfig,
    LoraConfig,
    StylizerConfig,
    TrainConfig,
    load_config,
    read_config_file,
)
from artstyle.data.cache import load_split
from artstyle.data.scan import scan
from artstyle.errors import ArtstyleError
from artstyle.models import build_model
from artstyle.train import runs
from conftest import classifier_args, make_dataset

ARTSTYLE = Path(sys.executable).with_name("artstyle")
# tiny and quick: 16 px, a width-4 network, 3 batches per epoch
FAST = "--size 16 --width 4 --batch-size 8 --workers 1 --progress false --seed 5".split()
# wall-clock numbers differ between any two runs; everything else must match
TIMING_KEYS = {"training_seconds", "train_images_per_second", "eval_images_per_second"}
TIMING_KEYS |= {"images_per_second", "elapsed_seconds"}  # history.csv columns


# ---------------------------------------------------------------- helpers (the soak test uses them too)


def artstyle_command(*args: str) -> list[str]:
    """The installed ``artstyle`` script (or ``python -m artstyle.cli`` without one)."""
    base = [str(ARTSTYLE)] if ARTSTYLE.exists() else [sys.executable, "-m", "artstyle.cli"]
    return [*base, *args]


def spawn(command: list[str], **kwargs) -> subprocess.Popen:
    """A child in its own process group, so a kill reaches any worker it started too."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
    )


def sigkill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    if process.stdout is not None:
        process.stdout.close()


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen, *, timeout: float = 120.0
) -> bool:
    """Poll ``condition`` every 5 ms while ``process`` runs; False when it ended (or timed out) first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.005)
    return False


def train_args(data: Path, run: Path, cache: Path, *extra: str) -> list[str]:
    return classifier_args(data, run, cache, *extra, fast=FAST)


def check_run_folder(path: Path) -> dict:
    """Every file of a (possibly killed) classifier run reads back as good; returns what was found.

    A half-written file of any kind fails here: config and class map parse,
    the checkpoint loads (weights_only) with a consistent state, weights load
    into the architecture model.json names, metrics and history parse, figures
    decode.
    """
    run = runs.open_run(path)
    found: dict = {"config": runs.read_config(run, ClassifierConfig, task="classifier")}
    found["classes"] = runs.read_classes(run)  # written before config.yaml: present whenever it is
    if run.checkpoint_path.exists():
        checkpoint = runs.load_checkpoint(run.checkpoint_path)
        state = checkpoint["state"]
        assert 0 <= state["batch_in_epoch"] and state["step"] >= state["epoch"]
        found["checkpoint"] = checkpoint
    if run.weights_path.exists():
        found["model"] = runs.load_model(run)  # model.json is written before the weights
    if run.metrics_path.exists():
        found["metrics"] = runs.read_metrics(run)
        assert {"accuracy", "balanced_accuracy", "confusion_matrix"} <= set(found["metrics"])
    if run.history_path.exists():
        found["history"] = runs.read_history(run)
    for figure in run.figures_dir.glob("*.png"):
        with Image.open(figure) as image:
            image.load()
    return found


def comparable_metrics(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key not in TIMING_KEYS}


def assert_same_training(resumed: Path, straight: Path) -> None:
    """Final metrics, history, weights and optimiser state of two runs agree (timings aside)."""
    got, want = check_run_folder(resumed), check_run_folder(straight)
    got_metrics, want_metrics = (
        comparable_metrics(got["metrics"]),
        comparable_metrics(want["metrics"]),
    )
    assert got_metrics.keys() == want_metrics.keys()
    for key, value in want_metrics.items():
        if isinstance(value, float):
            assert got_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        else:
            assert got_metrics[key] == value, key
    assert len(got["history"]) == len(want["history"])
    for got_row, want_row in zip(got["history"], want["history"], strict=True):
        want_row = {k: v for k, v in want_row.items() if k not in TIMING_KEYS}
        assert {k: v for k, v in got_row.items() if k not in TIMING_KEYS} == pytest.approx(want_row)
    final, reference = got["checkpoint"], want["checkpoint"]
    assert final["state"]["step"] == reference["state"]["step"]
    for key, value in reference["model"].items():
        torch.testing.assert_close(final["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert final["optimizer"]["state"][0]["step"] == reference["optimizer"]["state"][0]["step"]
    torch.testing.assert_close(final["rng"]["torch"], reference["rng"]["torch"], rtol=0, atol=0)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One intra-op thread here and in children: on a busy 2-core machine two OpenMP threads per
    process make this tiny network's steps ~100x slower (spin-waiting), and runs compared with
    each other must use the same thread count anyway."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return make_dataset(
        tmp_path / "data",
        {
            "train": {"Baroque": 8, "Cubism": 8, "Rococo": 8},
            "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2},
        },
        size=(24, 20),
    )


# ---------------------------------------------------------------- 1. kill and resume


def test_sigkill_before_and_during_training_then_resume_matches_an_uninterrupted_run(
    small_data, tmp_path
):
    """Two real kills: one before the first checkpoint exists, one mid-training; --resume finishes the run."""
    cache = tmp_path / "cache"
    # dropout draws from the global generator every step: resume must restore its state too
    recipe = ["--epochs", "8", "--dropout", "0.3"]
    assert main(train_args(small_data, tmp_path / "straight", cache, *recipe)) == 0

    run = tmp_path / "killed"
    # kill 1: the run folder exists (config.yaml) but no checkpoint has been written
    child = spawn(artstyle_command(*train_args(small_data, run, cache, *recipe)))
    assert wait_until(lambda: (run / "config.yaml").exists(), child), child.stdout.read().decode()
    sigkill(child)
    assert child.returncode == -signal.SIGKILL
    assert not (run / "checkpoints" / "last.ckpt").exists(), (
        "killed too late to test the no-checkpoint case"
    )
    check_run_folder(run)

    # kill 2: --resume starts it over (nothing was kept) and is killed once a checkpoint exists
    child = spawn(
        artstyle_command("train", "classifier", "--resume", str(run), "--progress", "false")
    )
    assert wait_until(lambda: (run / "checkpoints" / "last.ckpt").exists(), child), (
        child.stdout.read().decode()
    )
    sigkill(child)
    assert child.returncode == -signal.SIGKILL
    found = check_run_folder(run)
    assert "metrics" not in found  # killed mid-run, not after it
    assert found["checkpoint"]["state"]["step"] < 8 * 3

    assert main(["train", "classifier", "--resume", str(run), "--progress", "false"]) == 0
    assert_same_training(run, tmp_path / "straight")
    assert not list(run.rglob(".*.tmp")), (
        "temporary files of killed writes are cleaned up on resume"
    )


_HALF_WRITTEN_CHECKPOINT = textwrap.dedent(
    """
    import os, sys, time, torch
    from artstyle.train import runs

    def killed_before_the_rename(source, target):
        # the kill lands while the new checkpoint is still being written: half of it is on disk
        with open(source, "r+b") as handle:
            handle.truncate(os.path.getsize(source) // 2)
        print("half", flush=True)
        time.sleep(120)

    os.replace = killed_before_the_rename
    runs.save_checkpoint(sys.argv[1], {"step": 2, "model": {"w": torch.full((50_000,), 2.0)}})
    """
)


def test_kill_in_the_middle_of_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    runs.save_checkpoint(path, {"step": 1, "model": {"w": torch.full((50_000,), 1.0)}})
    child = spawn([sys.executable, "-c", _HALF_WRITTEN_CHECKPOINT, str(path)])
    assert child.stdout.readline().decode().strip() == "half"
    sigkill(child)
    orphans = list(path.parent.glob(".last.ckpt.*.tmp"))
    assert len(orphans) == 1 and orphans[0].stat().st_size > 0  # the half-written file exists...
    loaded = runs.load_checkpoint(
        path
    )  # ...but the name still holds the complete previous checkpoint
    assert loaded["step"] == 1 and float(loaded["model"]["w"].sum()) == 50_000.0
    (tmp_path / "run" / "config.yaml").write_text("task: classifier\n")
    runs.create_run(tmp_path / "run", resume=True)  # resuming removes what the killed write left
    assert not orphans[0].exists()


def test_resume_removes_what_killed_writes_left_and_nothing_else(tmp_path):
    run = runs.create_run(tmp_path / "run")
    runs.write_config(run, ClassifierConfig(), task="classifier")
    left = [
        run.path / ".model.safetensors.k2j.tmp",
        run.figures_dir / ".loss.png.x1.tmp",
        run.path / ".lora-3fa.tmp" / "pytorch_lora_weights.safetensors",
    ]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    kept = [run.path / "notes.tmp", run.path / ".hidden-notes"]
    for path in kept:
        path.write_text("mine")
    runs.create_run(run.path, resume=True)
    assert not any(path.exists() for path in left) and not (run.path / ".lora-3fa.tmp").exists()
    assert all(path.read_text() == "mine" for path in kept)


_SLOW_CACHE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import artstyle.data.cache as cache

    delay, go = float(sys.argv[1]), Path(sys.argv[2])
    real_decode = cache.decode_item

    def slow_decode(*args, **kwargs):
        time.sleep(delay)  # a slow disk: keeps the build open long enough to interrupt or overlap
        return real_decode(*args, **kwargs)

    cache.decode_item = slow_decode
    from artstyle.cli import main

    print("ready", flush=True)
    while not go.exists():  # start line: two children begin the build together
        time.sleep(0.005)
    sys.exit(main(sys.argv[3:]))
    """
)


def _slow_cache_child(data: Path, cache: Path, go: Path, delay: float) -> subprocess.Popen:
    args = [
        "data",
        "cache",
        str(data),
        "--size",
        "16",
        "--workers",
        "1",
        "--cache-dir",
        str(cache),
        "--json",
    ]
    return spawn([sys.executable, "-c", _SLOW_CACHE, str(delay), str(go), *args])


def test_kill_during_a_cache_build_then_the_next_call_builds_a_good_cache(small_data, tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    go.touch()
    child = _slow_cache_child(small_data, cache, go, 0.1)
    assert wait_until(lambda: any(cache.glob(".train-16px-crop.npy.*.tmp")), child), (
        child.stdout.read().decode()
    )
    time.sleep(0.3)  # some rows decoded, most not
    sigkill(child)
    assert any(cache.glob(".train-16px-crop.npy.*.tmp"))  # the kill hit the build
    assert not (
        cache / "train-16px-crop.json"
    ).exists()  # no index: the partial array is never trusted

    index = scan(small_data)
    rebuilt = load_split(index, "train", size=16, cache_dir=cache, workers=1, progress=False)
    reference = load_split(
        index, "train", size=16, cache_dir=tmp_path / "clean", workers=1, progress=False
    )
    assert rebuilt.built is True and len(rebuilt) == 24
    assert np.array_equal(np.asarray(rebuilt.images), np.asarray(reference.images))
    assert not list(cache.glob(".*.tmp")), "the killed build's full-size temporary array is removed"


# ---------------------------------------------------------------- 2. atomic writes and full disks


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_io.write_json(path, {"accuracy": 0.5})
    with pytest.raises(RuntimeError, match="boom"), atomic_io.atomic_path(path) as tmp:
        tmp.write_text('{"accuracy": 0.')  # half a file, then the writer dies
        raise RuntimeError("boom")
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_an_output_below_a_file_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep me")
    with pytest.raises(ArtstyleError, match=r"afile is a file, not a folder; choose another"):
        atomic_io.write_text(tmp_path / "afile" / "sub" / "x.json", "{}")
    assert (tmp_path / "afile").read_text() == "keep me"
    data = make_dataset(tmp_path / "d", {"train": {"A": 2, "B": 2}})
    assert main(["data", "audit", str(data), "--out", str(tmp_path / "afile" / "a.json")]) == 2
    err = capsys.readouterr().err
    assert "afile is a file" in err and "Traceback" not in err


def test_atomic_files_get_the_usual_permissions(tmp_path):
    """mkstemp's 0600 would make a cache or run folder unreadable to the rest of a group."""
    previous = os.umask(0o022)
    try:
        atomic_io._umask.cache_clear()
        atomic_io.write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(previous)
        atomic_io._umask.cache_clear()
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_simulated_keeps_the_previous_files(tmp_path, monkeypatch):
    """ENOSPC at the fsync that ends every atomic write (works without root)."""
    run = runs.create_run(tmp_path / "run")
    runs.write_metrics(run, {"accuracy": 0.5})
    runs.save_checkpoint(run.checkpoint_path, {"step": 1})
    model = build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8))
    runs.save_model(run, model)
    weights = run.weights_path.read_bytes()
    monkeypatch.setattr(atomic_io.os, "fsync", _no_space)
    writes = [
        lambda: runs.write_metrics(run, {"accuracy": 0.9}),
        lambda: runs.save_checkpoint(run.checkpoint_path, {"step": 2}),
        lambda: runs.save_model(run, build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8))),
    ]
    for write in writes:
        with pytest.raises(
            ArtstyleError,
            match="No space left on device; the previous file .* is unchanged; free space",
        ):
            write()
    monkeypatch.undo()
    assert runs.read_metrics(run) == {"accuracy": 0.5}
    assert runs.load_checkpoint(run.checkpoint_path)["step"] == 1
    assert run.weights_path.read_bytes() == weights
    assert not list(run.path.rglob(".*.tmp"))


@pytest.fixture
def tiny_disk(tmp_path):
    """A 192 KiB tmpfs: writes past it fail with a real ENOSPC. Needs root (skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk_gives_one_clear_line_and_keeps_the_previous_files(tiny_disk, small_data):
    """torch.save and safetensors raise their own errors on ENOSPC unless written through Python."""
    run = runs.create_run(tiny_disk / "run")
    runs.save_checkpoint(run.checkpoint_path, {"step": 1, "w": torch.zeros(100)})
    model = build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8))
    runs.save_model(run, model)
    runs.write_metrics(run, {"accuracy": 0.5})
    weights = run.weights_path.read_bytes()
    disk = os.statvfs(tiny_disk)
    # fill the disk up to its last page: every write below then runs out of space
    (tiny_disk / "filler").write_bytes(b"\0" * (disk.f_bavail * disk.f_frsize - 4096))
    with pytest.raises(
        ArtstyleError, match=r"could not write .*last\.ckpt: No space left on device"
    ):
        runs.save_checkpoint(run.checkpoint_path, {"step": 2, "w": torch.ones(10_000)})
    with pytest.raises(
        ArtstyleError, match=r"could not write .*model\.safetensors: No space left on device"
    ):
        runs.save_model(run, model)
    with pytest.raises(
        ArtstyleError, match=r"could not write .*metrics\.json: No space left on device"
    ):
        runs.write_metrics(run, {"accuracy": 0.9, "padding": "x" * 10_000})
    with pytest.raises(
        ArtstyleError, match=r"could not write .*train-64px-crop\.npy: No space left on device"
    ):
        load_split(
            scan(small_data),
            "train",
            size=64,
            cache_dir=tiny_disk / "cache",
            workers=1,
            progress=False,
        )
    assert runs.load_checkpoint(run.checkpoint_path)["step"] == 1
    assert run.weights_path.read_bytes() == weights
    assert runs.read_metrics(run) == {"accuracy": 0.5}
    assert not list(tiny_disk.rglob(".*.tmp"))


def test_disk_full_through_the_cli_is_one_line_and_exit_2(
    small_data, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(atomic_io.os, "fsync", _no_space)
    code = main(
        [
            "data",
            "cache",
            str(small_data),
            "--size",
            "16",
            "--workers",
            "1",
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not write ")
    assert "No space left on device" in lines[0] and "free space" in lines[0]


# ---------------------------------------------------------------- 3. two commands at once


def test_two_processes_building_one_cache_build_it_once(small_data, tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    children = [_slow_cache_child(small_data, cache, go, 0.05) for _ in range(2)]
    for child in children:
        assert child.stdout.readline().decode().strip() == "ready"
    go.touch()
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=180)
        assert child.returncode == 0, out.decode()
        reports.append(json.loads(out))
    # the lock serialises them: one decodes each split, the other opens the result
    for split in ("train", "test"):
        assert sorted(report["splits"][split]["built"] for report in reports) == [False, True]
    cached = load_split(
        scan(small_data), "train", size=16, cache_dir=cache, workers=1, progress=False
    )
    assert cached.built is False and cached.images.shape == (24, 16, 16, 3)
    assert not list(cache.glob(".*.tmp"))


_HOLD_RUN = "import sys, time; from artstyle.train import runs; runs.create_run(sys.argv[1]); print('held', flush=True); time.sleep(120)"


def test_a_second_command_writing_the_same_run_folder_is_refused(small_data, tmp_path, capsys):
    run = tmp_path / "run"
    holder = spawn([sys.executable, "-c", _HOLD_RUN, str(run)])
    try:
        assert holder.stdout.readline().decode().strip() == "held"
        assert main(train_args(small_data, run, tmp_path / "cache", "--epochs", "1")) == 2
        assert "in use by another artstyle command" in capsys.readouterr().err
        assert not (run / "config.yaml").exists()
    finally:
        sigkill(holder)
    # the kernel released the lock with the killed process: no stale lock to clear by hand
    assert runs.create_run(run).path == run


def test_resume_refuses_data_with_another_class_map(small_data, tmp_path, capsys):
    run = _classifier_run(tmp_path, small_data)
    other = make_dataset(tmp_path / "other", {"train": {"Baroque": 3, "Fauvism": 3, "Rococo": 3}})
    assert main(["train", "classifier", "--resume", str(run.path), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "styles not in the run: Fauvism" in err and "styles missing from the data: Cubism" in err


def test_an_existing_run_is_refused_even_once_the_lock_is_free(tmp_path):
    run = runs.create_run(tmp_path / "run")
    runs.write_config(run, ClassifierConfig(), task="classifier")
    with pytest.raises(ArtstyleError, match="already holds a run.*--resume"):
        runs.create_run(tmp_path / "run")


# ---------------------------------------------------------------- 5. untrusted weights


class _RunsCode:
    """Unpickling this calls os.system: a checkpoint that executes code when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _classifier_run(tmp_path: Path, data: Path) -> runs.RunFolder:
    run = runs.create_run(tmp_path / "run")
    runs.write_classes(run, ["Baroque", "Cubism", "Rococo"])
    config = ClassifierConfig(
        data=data,
        size=16,
        width=4,
        batch_size=8,
        workers=1,
        progress=False,
        epochs=2,
        cache_dir=tmp_path / "cache",
    )
    runs.write_config(run, config, task="classifier")
    return run


def test_resume_from_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(
    small_data, tmp_path, capsys
):
    run = _classifier_run(tmp_path, small_data)
    marker = tmp_path / "code_ran"
    torch.save(
        {"format": 1, "state": {"step": 1}, "payload": _RunsCode(marker)}, run.checkpoint_path
    )
    assert main(["train", "classifier", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and "last.ckpt" in err
    assert not marker.exists()


def test_weights_that_are_a_pickle_are_refused_and_nothing_runs(small_data, tmp_path, capsys):
    run = _classifier_run(tmp_path, small_data)
    runs.save_model(run, build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8)))
    marker = tmp_path / "code_ran"
    torch.save({"head.weight": _RunsCode(marker)}, run.weights_path)  # a pickle named .safetensors
    image = small_data / "test" / "Baroque" / "artist-baroque_work-000.jpg"
    assert main(["predict", str(run.path), str(image)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not marker.exists()


def test_model_json_is_checked_against_the_weights_before_anything_is_allocated(
    tmp_path, monkeypatch
):
    run = runs.create_run(tmp_path / "run")
    runs.save_model(run, build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8)))
    spec = json.loads(run.model_json_path.read_text())
    spec["args"]["widths"] = [
        512,
        1024,
        2048,
    ]  # tens of millions of parameters the weights do not hold
    run.model_json_path.write_text(json.dumps(spec))
    devices = []
    real_build = runs.build_from_spec

    def spy(spec):
        devices.append(torch.empty(0).device.type)  # where the model's tensors are created
        return real_build(spec)

    monkeypatch.setattr(runs, "build_from_spec", spy)
    with pytest.raises(ArtstyleError, match=r"do not fit architecture resnet_tiny.*shape"):
        runs.load_model(run)
    assert devices == ["meta"]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"architecture": "os.system"}, "unknown architecture 'os.system'"),
        ({"args": {"num_classes": 3.5}}, "cannot build architecture 'resnet_tiny'"),
        ({"args": {"dropout": 5.0}}, "dropout probability"),
        ({"args": {"colour": 3}}, "no argument(s) colour"),
        ({"args": "widths=8"}, "must hold"),
    ],
)
def test_a_bad_model_json_gives_a_clear_error(tmp_path, change, words):
    run = runs.create_run(tmp_path / "run")
    runs.save_model(run, build_model("resnet_tiny", num_classes=3, widths=(4, 8, 8)))
    spec = json.loads(run.model_json_path.read_text())
    for key, value in change.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) else value
    run.model_json_path.write_text(json.dumps(spec))
    with pytest.raises(ArtstyleError) as info:
        runs.load_model(run)
    assert words in str(info.value)


# ---------------------------------------------------------------- 6. config


CONFIG_MODELS = [
    TrainConfig,
    ClassifierConfig,
    AutoencoderConfig,
    StylizerConfig,
    ClusterConfig,
    LoraConfig,
]


def _bounded_fields(model) -> list[tuple[str, object]]:
    """(key, a value just outside its numeric bound) for every bounded field of ``model``."""
    cases = []
    for name, field in model.model_fields.items():
        for rule in field.metadata:
            for attribute, bad in (
                ("ge", lambda b: b - 1),
                ("gt", lambda b: b),
                ("le", lambda b: b + 1),
                ("lt", lambda b: b),
            ):
                bound = getattr(rule, attribute, None)
                if bound is not None:
                    cases.append((name, bad(bound)))
    return cases


@pytest.mark.parametrize("model", CONFIG_MODELS, ids=lambda m: m.__name__)
def test_every_config_refuses_unknown_keys_wrong_types_and_out_of_range_values(model):
    with pytest.raises(ArtstyleError) as info:
        load_config(model, None, {"no_such_key": "1"})
    message = str(info.value)
    assert "unknown key 'no_such_key'" in message and "allowed: " in message and "seed" in message
    cases = _bounded_fields(model)
    assert cases, "every config has bounded numbers"
    for key, bad in cases:
        with pytest.raises(ArtstyleError) as info:
            load_config(model, None, {key: bad})
        assert f"key '{key}'" in str(info.value) and repr(bad) in str(info.value), (key, bad)
    with pytest.raises(ArtstyleError, match="key 'seed'.*integer"):
        load_config(model, None, {"seed": "several"})


def test_choices_are_listed_when_a_value_is_not_one_of_them():
    with pytest.raises(ArtstyleError) as info:
        load_config(ClassifierConfig, None, {"balance": "oversample"})
    for choice in ("'none'", "'weights'", "'resample'", "'sampler'", "'logit-adjust'"):
        assert choice in str(info.value)


def test_a_yaml_config_cannot_run_code(tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'epochs: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ArtstyleError, match="is not valid"):
        read_config_file(evil)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, words",
    [
        ("epochs:\n  nested: 3\n", ["key 'epochs'", "integer"]),
        ("epochs: [1, 2]\n", ["key 'epochs'", "integer"]),
        ("1: 2\n", ["key '1'", "should be strings"]),
        ("- epochs\n", ["must hold a mapping"]),
        ("lr: -0.1\n", ["key 'lr'", "greater than 0"]),
    ],
)
def test_bad_config_files_name_the_key(tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ArtstyleError) as info:
        load_config(ClassifierConfig, path)
    for word in words:
        assert word in str(info.value)


def test_a_tampered_run_config_is_refused_by_name(small_data, tmp_path, capsys):
    run = _classifier_run(tmp_path, small_data)
    run.config_path.write_text(run.config_path.read_text() + "exec_this: 1\n")
    assert main(["evaluate", str(run.path)]) == 2
    assert "unknown key 'exec_this'" in capsys.readouterr().err


# ---------------------------------------------------------------- messages


def test_error_messages_with_brackets_are_printed_as_they_are(tmp_path, capsys):
    """Names are data: rich must not read ``[/]`` or ``[bold]`` in them as markup (or crash on it)."""
    for name in ("closing[/]tag", "style[bold]"):
        missing = tmp_path / name
        assert main(["data", "stats", str(missing)]) == 2
        err = capsys.readouterr().err
        assert f"{missing} does not exist" in err


def test_json_files_never_hold_nan_or_infinity(tmp_path):
    # strict readers (JSON.parse, jq) refuse NaN; non-finite numbers are written as null
    path = tmp_path / "m.json"
    atomic_io.write_json(
        path,
        {
            "a": float("nan"),
            "b": [1.5, float("inf"), np.float32(-np.inf)],
            "c": np.array([[0.25, np.nan]]),
            "d": {"e": np.float64(2.0), "f": (np.int64(3), "x")},
        },
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert strict == {
        "a": None,
        "b": [1.5, None, None],
        "c": [[0.25, None]],
        "d": {"e": 2.0, "f": [3, "x"]},
    }
