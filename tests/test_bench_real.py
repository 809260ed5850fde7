"""The real-paintings benchmark's parts that run without real paintings: the structure-only
set, the skip without data, and the table from finished jobs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_real  # noqa: E402
import structure_set  # noqa: E402


def test_the_structure_set_is_imbalanced_20_to_1_and_colour_says_nothing(tmp_path) -> None:
    counts = structure_set.write(tmp_path / "set", size=32, seed=0)
    assert max(counts.values()) == 240 and min(counts.values()) == 12
    for style, n in counts.items():
        assert len(list((tmp_path / "set" / "train" / style).glob("*.jpg"))) == n
        assert len(list((tmp_path / "set" / "test" / style).glob("*.jpg"))) == 30
    # the mean colour of a style's images is the same for every style, within noise
    means = []
    for style in structure_set.STYLES:
        files = sorted((tmp_path / "set" / "test" / style).glob("*.jpg"))
        means.append(np.mean([np.asarray(Image.open(f), dtype=float).mean() for f in files]))
    assert np.ptp(means) < 25  # of 255; each style's 30 images draw their colours alike


def test_the_section_skips_without_real_paintings(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ARTSTYLE_REAL_DATA", str(tmp_path))
    assert bench_real.section(quick=True) is None


def test_the_table_averages_seeds_and_checks_the_targets() -> None:
    def job(name: str, score: float, cpu: float) -> bench_real.Job:
        done = bench_real.Job(name, [])
        done.result = {"balanced_accuracy": score, "macro_f1": score - 0.01}
        if "defaults" in name:
            done.result["network_balanced_accuracy"] = score - 0.05
        done.cpu, done.wall = cpu, cpu
        return done

    rows = bench_real.summarize(
        [
            job("wikiart7-large defaults seed 0", 0.52, 500.0),
            job("wikiart7-large defaults seed 1", 0.50, 700.0),
            job("wikiart7-large reference-equal-cpu seed 0", 0.42, 590.0),
        ]
    )
    by_name = {item["name"]: item for item in rows}
    score = by_name["wikiart7-large, defaults: test balanced accuracy"]
    assert score["value"] == pytest.approx(0.51) and score["ok"] is True
    assert "0.520 / 0.500; the network alone 0.470 / 0.450" in score["note"]
    cpu = by_name["wikiart7-large, defaults: CPU seconds (decode, train, test)"]
    assert cpu["value"] == pytest.approx(600.0) and cpu["ok"] is True
    label = "reference at the defaults' CPU time"
    assert by_name[f"wikiart7-large, {label}: test balanced accuracy"]["ok"] is None


def test_the_reference_is_held_to_the_cpu_time_the_defaults_took_in_the_same_run(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(structure_set, "write", lambda *args, **kwargs: {})
    jobs = bench_real.classifier_jobs(tmp_path, tmp_path / "work", quick=False)
    names = [job.name for job in jobs]
    assert not [name for name in names if "reference" in name]  # they wait for the defaults
    for job, cpu in zip(jobs, (1500.0, 1700.0, 0, 600.0, 640.0, 0), strict=False):
        job.cpu = cpu
    references = bench_real.reference_jobs(tmp_path, tmp_path / "work", jobs, quick=False)
    by_name = {job.name: job.argv for job in references}
    for seed in bench_real.SEEDS:
        large = by_name[f"wikiart7-large reference-equal-cpu seed {seed}"]
        assert large[-4:] == ["--cpu-seconds", "1600", "--seed", str(seed)]
        assert by_name[f"wikiart7 reference-equal-cpu seed {seed}"][-4:-2] == [
            "--cpu-seconds",
            "620",
        ]
    assert len(references) == 6
    # a set whose defaults did not run gets no reference
    assert bench_real.reference_jobs(tmp_path, tmp_path / "work", jobs[:2], quick=False)[
        0
    ].name == ("wikiart7-large reference-equal-cpu seed 0")
    assert len(bench_real.reference_jobs(tmp_path, tmp_path / "work", jobs[:2], quick=False)) == 2


def test_the_reference_fits_whole_epochs_to_a_cpu_budget() -> None:
    import reference_classifier

    # 1,000 s left after 100 spent, 60 steps of 0.5 s an epoch: 33.3 -> 33 epochs
    assert reference_classifier.epochs_for(1100.0, 100.0, 0.5, 60) == 33
    assert reference_classifier.epochs_for(1100.0, 100.0, 0.5, 40) == 50
    assert reference_classifier.epochs_for(10.0, 100.0, 0.5, 60) == 1  # always one at least


def test_the_margin_over_the_reference_at_equal_cpu_is_met_only_when_above() -> None:
    def job(name: str, score: float, cpu: float = 600.0) -> bench_real.Job:
        done = bench_real.Job(name, [])
        done.result = {"balanced_accuracy": score, "macro_f1": score}
        done.cpu = done.wall = cpu
        return done

    rows = bench_real.summarize(
        [
            job("wikiart7-large defaults seed 0", 0.40, 560.0),
            job("wikiart7-large defaults seed 1", 0.42, 570.0),
            job("wikiart7-large reference seed 0", 0.44, 2200.0),
            job("wikiart7-large reference-equal-cpu seed 0", 0.38, 550.0),
            job("wikiart7-large reference-equal-cpu seed 1", 0.36, 556.0),
            job("wikiart7 defaults seed 0", 0.36),
            job("wikiart7 reference-equal-cpu seed 0", 0.37),
        ]
    )
    by_name = {item["name"]: item for item in rows}
    label = "reference at the defaults' CPU time"
    assert by_name[f"wikiart7-large, {label}: test balanced accuracy"]["value"] == pytest.approx(
        0.37
    )
    margin = "defaults minus the reference at the defaults' CPU time (test balanced accuracy)"
    large = by_name[f"wikiart7-large: {margin}"]
    assert large["value"] == pytest.approx(0.04) and large["ok"] is True
    assert large["note"] == "CPU s 565 against 553"
    small = by_name[f"wikiart7: {margin}"]
    assert small["value"] == pytest.approx(-0.01) and small["ok"] is False
    assert f"structure-8: {margin}" not in by_name  # no runs, no row


def test_every_set_gets_one_run_of_the_features_yardstick_in_the_table(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(structure_set, "write", lambda *args, **kwargs: {})
    jobs = bench_real.classifier_jobs(tmp_path, tmp_path / "work", quick=False)
    features = [job for job in jobs if " features " in job.name]
    assert [job.name for job in features] == [
        f"{name} features seed 0" for name in (*bench_real.SETS, bench_real.STRUCTURE)
    ]
    assert all(Path(job.argv[1]).name == "reference_features.py" for job in features)
    done = features[0]
    done.result = {"balanced_accuracy": 0.43, "macro_f1": 0.42}
    done.cpu = done.wall = 90.0
    by_name = {item["name"]: item for item in bench_real.summarize([done])}
    label = "colour and texture statistics, RBF SVM (bench/reference_features.py)"
    score = by_name[f"wikiart7-large, {label}: test balanced accuracy"]
    assert score["value"] == pytest.approx(0.43) and score["ok"] is None  # no target of its own


def _stripes(path: Path, vertical: bool, phase: int) -> None:
    """A 48 px image of black and white stripes 3 px wide, between black letterbox bars."""
    stripes = ((np.arange(48) + phase) // 3 % 2 * 255).astype(np.uint8)
    pixels = np.tile(stripes, (36, 1)) if vertical else np.tile(stripes[:36, None], (1, 48))
    image = np.zeros((48, 48, 3), dtype=np.uint8)
    image[6:42] = pixels[..., None]
    Image.fromarray(image).save(path)


def _stripes_set(root: Path, *, n_train: int) -> None:
    """Horizontal and Vertical stripes, ``n_train`` training and 4 test images each."""
    for split, n in (("train", n_train), ("test", 4)):
        for style, vertical in (("Horizontal", False), ("Vertical", True)):
            folder = root / split / style
            folder.mkdir(parents=True)
            for i in range(n):
                _stripes(folder / f"{i}.png", vertical, phase=i)


def test_the_features_yardstick_tells_stripes_apart_choosing_c_on_training_folds(
    tmp_path,
) -> None:
    import json
    import subprocess

    _stripes_set(tmp_path, n_train=10)
    script = bench_real.HERE / "reference_features.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--size", "32", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    scores = json.loads(result.stdout)
    # every stripe's gradients point one way: the gradient histogram alone separates the two
    assert scores["balanced_accuracy"] == 1.0 and scores["macro_f1"] == 1.0
    # C comes from the training folds (eight images each time): high there too
    assert scores["cv_balanced_accuracy"] >= 0.8 and scores["c"] in (1.0, 3.0, 10.0)
    assert scores["n_features"] == 18 + 128 + 2 * (40 + 2 + 256) + 16 * (6 + 1)


def test_the_reference_under_a_cpu_budget_trains_as_the_same_run_given_its_epochs(
    tmp_path,
) -> None:
    import json
    import subprocess

    _stripes_set(tmp_path, n_train=8)
    script = bench_real.HERE / "reference_classifier.py"

    def reference(*budget: str) -> dict:
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path), "--size", "32", "--batch-size", "8"]
            + [*budget, "--seed", "1", "--json"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        return json.loads(result.stdout)

    budgeted = reference("--cpu-seconds", "0.001")  # less than the start-up: one epoch
    given = reference("--epochs", "1")
    assert budgeted["epochs"] == given["epochs"] == 1
    # the throwaway timing steps leave the run itself as it would be
    assert budgeted["balanced_accuracy"] == given["balanced_accuracy"]
    assert budgeted["macro_f1"] == given["macro_f1"]
    assert budgeted["last_loss"] == given["last_loss"]
