"""Balance: resampling plans, class weights, priors, samplers, the before/after table and its CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from artstyle.cli import main
from artstyle.data.balance import (
    adjust_logits,
    balance_summary,
    balance_table,
    class_counts,
    class_weights,
    log_prior,
    make_weighted_sampler,
    parse_target,
    resample_plan,
    resolve_target,
    sample_weights,
    weighted_sampler_indices,
)
from artstyle.data.scan import scan
from artstyle.errors import ArtstyleError

# class 0: 2 images, class 1: 7, class 2: 20, class 3: none (n_classes=4)
LABELS = np.array([2] * 20 + [1] * 7 + [0] * 2)
np.random.default_rng(5).shuffle(LABELS)


def per_class(plan: np.ndarray, labels: np.ndarray = LABELS, n_classes: int = 4) -> list[int]:
    return np.bincount(labels[plan], minlength=n_classes).tolist()


def test_class_counts() -> None:
    assert class_counts(LABELS, 4).tolist() == [2, 7, 20, 0]
    with pytest.raises(ArtstyleError, match="0..2"):
        class_counts([0, 3], 3)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (12, 12),
        ("12", 12),
        ("mean", 10),
        ("max", 20),
        ("min", 2),
        (0.5, 10),
        ("0.25", 5),
        (1.0, 20),
    ],
)
def test_plan_counts_equal_the_target_for_every_target_form(target, expected: int) -> None:
    plan = resample_plan(LABELS, target, seed=0, n_classes=4)
    # mean of the non-empty classes: 29 / 3 = 9.67 -> 10; the empty class stays empty
    assert per_class(plan) == [expected, expected, expected, 0]
    assert len(plan) == 3 * expected


def test_fraction_rounds_half_up() -> None:
    assert resolve_target(0.5, [25, 10, 3]) == 13  # 12.5 -> 13, not banker's 12
    assert resolve_target("mean", [1, 2]) == 2  # 1.5 -> 2
    assert resolve_target(0.001, [25]) == 1  # never below one image


@pytest.mark.parametrize("bad", ["banana", "", "-3", "0", "1.5", "nan"])
def test_bad_targets_are_refused(bad: str) -> None:
    with pytest.raises(ArtstyleError, match="target"):
        resolve_target(parse_target(bad), [5, 10])


def test_parse_target_forms() -> None:
    assert parse_target("400") == 400 and isinstance(parse_target("400"), int)
    assert parse_target("0.5") == 0.5
    assert parse_target(" MEAN ") == "mean"


def test_copies_are_spread_evenly_in_full_rounds() -> None:
    plan = resample_plan(LABELS, 20, seed=3, n_classes=4, shuffle=False)
    for cls in (0, 1, 2):
        members = np.flatnonzero(LABELS == cls)
        chosen = plan[LABELS[plan] == cls]
        uses = Counter(chosen.tolist())
        assert set(uses) == set(members.tolist())  # every image of the class used
        assert max(uses.values()) - min(uses.values()) <= 1
        # grouped plan: each consecutive block of n_c is one full shuffled round
        n = members.size
        for start in range(0, len(chosen) - n + 1, n):
            assert sorted(chosen[start : start + n].tolist()) == sorted(members.tolist())
    # 20 from 7 images: 6 images used 3 times, 1 image twice
    uses_1 = Counter(plan[LABELS[plan] == 1].tolist())
    assert sorted(uses_1.values()) == [2, 3, 3, 3, 3, 3, 3]
    assert set(Counter(plan[LABELS[plan] == 0].tolist()).values()) == {10}


def test_undersampling_picks_distinct_images() -> None:
    plan = resample_plan(LABELS, 5, seed=1, n_classes=4)
    chosen = plan[LABELS[plan] == 2]
    assert len(chosen) == 5 and len(set(chosen.tolist())) == 5
    assert set(chosen.tolist()) <= set(np.flatnonzero(LABELS == 2).tolist())


def test_plan_is_deterministic_and_depends_on_the_seed() -> None:
    first = resample_plan(LABELS, "mean", seed=7)
    assert np.array_equal(first, resample_plan(LABELS, "mean", seed=7))
    assert not np.array_equal(first, resample_plan(LABELS, "mean", seed=8))
    # the same multiset per class for a full-round target, only the order differs
    grouped = resample_plan(LABELS, 14, seed=7, shuffle=False)
    mixed = resample_plan(LABELS, 14, seed=7, shuffle=True)
    assert sorted(grouped.tolist()) == sorted(mixed.tolist())
    assert not np.array_equal(grouped, mixed)


def test_one_class_plan_does_not_depend_on_the_others() -> None:
    labels_a = np.array([0, 0, 0, 1, 1])
    labels_b = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    plan_a = resample_plan(labels_a, 7, seed=2, shuffle=False)
    plan_b = resample_plan(labels_b, 7, seed=2, shuffle=False)
    assert plan_a[:7].tolist() == plan_b[:7].tolist()  # class 0 comes first in a grouped plan


def test_class_weights_hand_computed() -> None:
    counts = [10, 30, 60]  # N = 100
    # inverse: 1/n scaled by N / sum(n * 1/n) = 100 / 3
    assert class_weights(counts, "inverse") == pytest.approx([10 / 3, 10 / 9, 5 / 9])
    # sqrt: 1/sqrt(n) scaled by 100 / (sqrt(10) + sqrt(30) + sqrt(60)) = 6.10295
    assert class_weights(counts, "sqrt") == pytest.approx([1.929928, 1.114244, 0.787890], abs=1e-6)
    # effective, beta 0.9: (1 - 0.9) / (1 - 0.9^n) = 0.153534, 0.104427, 0.100180; scale 9.36420
    assert class_weights(counts, "effective", beta=0.9) == pytest.approx(
        [1.437726, 0.977875, 0.938108], abs=1e-6
    )
    assert class_weights(counts, "none") == pytest.approx([1.0, 1.0, 1.0])


@pytest.mark.parametrize("method", ["inverse", "sqrt", "effective", "none"])
def test_weights_average_one_over_samples_and_empty_classes_get_zero(method: str) -> None:
    counts = np.array([3, 0, 40, 7])
    weights = class_weights(counts, method, beta=0.99)
    assert weights[1] == 0.0
    assert float((weights * counts).sum() / counts.sum()) == pytest.approx(1.0)
    if method != "none":
        assert weights[0] > weights[3] > weights[2]  # rarer class, larger weight


def test_effective_number_limits() -> None:
    counts = [5, 50, 500]
    assert class_weights(counts, "effective", beta=0.0) == pytest.approx([1.0, 1.0, 1.0])
    assert class_weights(counts, "effective", beta=1 - 1e-9) == pytest.approx(
        class_weights(counts, "inverse"), rel=1e-4
    )
    with pytest.raises(ArtstyleError, match="beta"):
        class_weights(counts, "effective", beta=1.0)
    with pytest.raises(ArtstyleError, match="unknown"):
        class_weights(counts, "square")


def test_log_prior_and_adjusted_logits() -> None:
    prior = log_prior([10, 30, 60, 0])
    assert prior[:3] == pytest.approx(np.log([0.1, 0.3, 0.6]))
    assert np.isfinite(prior).all()
    assert float(np.exp(prior).sum()) == pytest.approx(1.0)
    logits = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert adjust_logits(logits, prior, tau=0.5)[0, :3] == pytest.approx(
        1.0 + 0.5 * np.log([0.1, 0.3, 0.6])
    )
    assert np.array_equal(adjust_logits(logits, prior, tau=0.0), logits)

    import torch

    adjusted = adjust_logits(torch.zeros(2, 4), prior)
    assert adjusted.dtype == torch.float32 and adjusted.shape == (2, 4)
    assert adjusted[1, 2].item() == pytest.approx(np.log(0.6), abs=1e-6)


def test_sample_weights_follow_labels() -> None:
    assert sample_weights([2, 0, 2], [0.5, 1.0, 3.0]).tolist() == [3.0, 0.5, 3.0]
    with pytest.raises(ArtstyleError, match="no class weight"):
        sample_weights([3], [1.0, 1.0])


IMBALANCED = np.repeat([0, 1, 2], [10, 30, 160])  # plain draws: 5% / 15% / 80%


def test_weighted_sampler_draws_classes_equally() -> None:
    draws = weighted_sampler_indices(IMBALANCED, 30_000, seed=0, method="inverse")
    share = np.bincount(IMBALANCED[draws], minlength=3) / draws.size
    # unweighted draws would give 0.05 / 0.15 / 0.80 and fail this by far
    assert share == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=0.02)
    assert np.array_equal(draws, weighted_sampler_indices(IMBALANCED, 30_000, seed=0))
    assert not np.array_equal(draws, weighted_sampler_indices(IMBALANCED, 30_000, seed=1))
    assert len(weighted_sampler_indices(IMBALANCED, seed=0)) == 200
    # sqrt weights sit between plain and balanced: class shares proportional to sqrt(n)
    sqrt_share = (
        np.bincount(IMBALANCED[weighted_sampler_indices(IMBALANCED, 30_000, seed=0, method="sqrt")])
        / 30_000
    )
    expected = np.sqrt([10, 30, 160]) / np.sqrt([10, 30, 160]).sum()
    assert sqrt_share == pytest.approx(expected, abs=0.02)


def test_torch_weighted_sampler_is_seeded_and_balanced() -> None:
    sampler = make_weighted_sampler(IMBALANCED, 30_000, seed=4)
    draws = np.array(list(sampler))
    share = np.bincount(IMBALANCED[draws], minlength=3) / draws.size
    assert share == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=0.02)
    assert np.array_equal(draws, np.array(list(make_weighted_sampler(IMBALANCED, 30_000, seed=4))))
    assert len(make_weighted_sampler(IMBALANCED, seed=4)) == 200


def test_balance_table_rows() -> None:
    rows = balance_table({"Rococo": 3, "Baroque": 40, "Cubism": 10, "Minimalism": 0}, 12)
    assert rows == [
        {"style": "Baroque", "before": 40, "after": 12, "copies_per_image_max": 1},
        {"style": "Cubism", "before": 10, "after": 12, "copies_per_image_max": 2},
        {"style": "Rococo", "before": 3, "after": 12, "copies_per_image_max": 4},
        {"style": "Minimalism", "before": 0, "after": 0, "copies_per_image_max": 0},
    ]
    summary = balance_summary({"Rococo": 3, "Baroque": 40, "Cubism": 10}, "max")
    assert summary["per_class"] == 40 and summary["n_before"] == 53 and summary["n_after"] == 120
    assert summary["n_oversampled"] == 2 and summary["n_undersampled"] == 0
    assert summary["n_distinct_after"] == 53


def test_balance_table_from_an_index(tmp_path: Path) -> None:
    from conftest import make_dataset

    root = make_dataset(tmp_path / "d", {"train": {"A": 2, "B": 5, "C": 9}, "test": {"A": 1}})
    rows = balance_table(scan(root), "mean")  # mean 16/3 = 5.33 -> 5
    assert [(r["style"], r["before"], r["after"], r["copies_per_image_max"]) for r in rows] == [
        ("C", 9, 5, 1),
        ("B", 5, 5, 1),
        ("A", 2, 5, 3),
    ]


def test_cli_balance_table_and_json(tiny_data: Path, capsys) -> None:
    assert main(["data", "balance", str(tiny_data), "--target", "20"]) == 0
    out = capsys.readouterr().out
    assert "Baroque" in out and "24" in out and "60" in out  # 3 x 8 before, 3 x 20 after
    assert "3 styles oversampled" in out
    assert main(["data", "balance", str(tiny_data), "--target", "0.5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["per_class"] == 4 and summary["n_after"] == 12
    assert [row["after"] for row in summary["rows"]] == [4, 4, 4]


def test_cli_balance_bad_input(tmp_path: Path, tiny_data: Path, capsys) -> None:
    assert main(["data", "balance", str(tiny_data), "--target", "banana"]) == 2
    err = capsys.readouterr().err
    assert "banana" in err and "Traceback" not in err
    assert main(["data", "balance", str(tmp_path / "nope"), "--target", "mean"]) == 2
    assert "does not exist" in capsys.readouterr().err
