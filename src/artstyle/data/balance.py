"""Class balance: counts, resampling plans, class weights, weighted samplers, logit prior.

The course data runs from 2269 Impressionism paintings down to 15 of Analytical
Cubism. Four standard answers live here, all deterministic for a seed:

* resample every style to one target count (:func:`resample_plan`): small
  styles get evenly spread copies, large ones a random subset;
* weight the loss per class (:func:`class_weights`: inverse frequency, its
  square root, or the effective number of samples of Cui et al. 2019);
* draw samples with probability proportional to a class weight
  (:func:`weighted_sampler_indices`, :func:`make_weighted_sampler`);
* or leave the data alone and adjust the logits by the class prior
  (:func:`log_prior`, :func:`adjust_logits`; Menon et al. 2021).

No torch at import time; only :func:`make_weighted_sampler` needs it.

    artstyle data balance DATA --target mean
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from artstyle.errors import ArtstyleError

if TYPE_CHECKING:  # pragma: no cover
    import torch.utils.data

    from artstyle.data.scan import Index

WEIGHT_METHODS = ("inverse", "sqrt", "effective", "none")
TARGET_WORDS = ("mean", "max", "min")

Target = int | float | str


# ---------------------------------------------------------------- counts and targets


def class_counts(labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Images per class, int64 of length ``n_classes`` (0 for a class with no image)."""
    labels = _as_labels(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ArtstyleError(
            f"labels must lie in 0..{n_classes - 1}; found {int(labels.min())}..{int(labels.max())}"
        )
    return np.bincount(labels, minlength=n_classes).astype(np.int64)


def parse_target(text: str | int | float) -> Target:
    """The CLI's ``--target`` text as a target: ``"400"`` -> 400, ``"0.5"`` -> 0.5, ``"mean"`` -> "mean"."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in TARGET_WORDS:
        return word
    try:
        return int(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        raise ArtstyleError(
            f"--target {text!r} is not understood; use a count (400), mean, max, min, "
            "or a fraction of the largest style (0.5)"
        ) from None


def resolve_target(target: Target, counts: Sequence[int] | np.ndarray) -> int:
    """The per-class count a target means for these class counts.

    ``int`` -> itself; ``"mean"`` / ``"max"`` / ``"min"`` -> that statistic over the
    classes that have images (mean rounded half up); a ``float`` in
    (0, 1] -> that fraction of the largest class, rounded half up, at least 1.
    """
    counts = np.asarray(counts, dtype=np.int64)
    present = counts[counts > 0]
    if present.size == 0:
        raise ArtstyleError("no class has any image; nothing to balance")
    if isinstance(target, str):
        target = parse_target(target)
    if isinstance(target, bool):
        raise ArtstyleError(f"target {target!r} is not a count, a fraction or mean/max/min")
    if isinstance(target, str):
        if target == "mean":
            return max(1, _round_half_up(float(present.mean())))
        if target == "max":
            return int(present.max())
        return int(present.min())
    if isinstance(target, (int, np.integer)):
        if target < 1:
            raise ArtstyleError(f"target count must be at least 1, got {target}")
        return int(target)
    if isinstance(target, (float, np.floating)):
        if not 0.0 < target <= 1.0 or math.isnan(target):
            raise ArtstyleError(
                f"target fraction must be in (0, 1] (a share of the largest style, {int(present.max())}), "
                f"got {target}; give a whole number for a count"
            )
        return max(1, _round_half_up(float(target) * int(present.max())))
    raise ArtstyleError(f"target {target!r} is not a count, a fraction or mean/max/min")


# ---------------------------------------------------------------- resampling


def resample_plan(
    labels: Sequence[int] | np.ndarray,
    target: Target,
    *,
    seed: int = 0,
    n_classes: int | None = None,
    shuffle: bool = True,
) -> np.ndarray:
    """Indices into ``labels`` that hold every class ``target`` times.

    A class with fewer images than the target is repeated in full shuffled
    rounds and then one partial round, so no image is used k + 1 times before
    every image of its class is used k times; a larger class gets a random
    subset of distinct images. Classes without images stay absent. Each class
    draws from its own generator seeded by ``(seed, class)``, so one class's
    plan does not depend on the others. ``shuffle`` mixes the classes (the
    order a training epoch reads); otherwise the plan is grouped by class.
    """
    labels = _as_labels(labels)
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size else 0
    counts = class_counts(labels, n_classes)
    per_class = resolve_target(target, counts)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    parts: list[np.ndarray] = []
    for cls in range(n_classes):
        members = order[starts[cls] : starts[cls + 1]]
        if members.size == 0:
            continue
        rng = np.random.default_rng([seed, cls])
        n_rounds = -(-per_class // members.size)  # ceil: full rounds plus the partial one
        # each row is an independent shuffle of the class: round r uses every image once
        rounds = rng.permuted(np.broadcast_to(members, (n_rounds, members.size)), axis=1)
        parts.append(rounds.reshape(-1)[:per_class])
    plan = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if shuffle:
        plan = np.random.default_rng([seed, n_classes]).permutation(plan)
    return plan.astype(np.int64)


# ---------------------------------------------------------------- weights and priors


def class_weights(
    counts: Sequence[int] | np.ndarray,
    method: str = "inverse",
    beta: float = 0.999,
) -> np.ndarray:
    """Per-class loss weights, scaled so their mean over the training samples is 1.

    ``inverse``: 1 / n; ``sqrt``: 1 / sqrt(n) (a milder correction);
    ``effective``: the inverse effective number of samples (1 - beta) / (1 - beta^n)
    of Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of
    Samples" (beta -> 1 gives inverse frequency, beta = 0 no re-weighting);
    ``none``: 1 for every class. A class with no sample gets weight 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ArtstyleError("class counts must be a 1-D list of non-negative numbers")
    present = counts > 0
    if not present.any():
        raise ArtstyleError("no class has any sample; cannot compute class weights")
    raw = np.zeros_like(counts)
    n = counts[present]
    if method == "inverse":
        raw[present] = 1.0 / n
    elif method == "sqrt":
        raw[present] = 1.0 / np.sqrt(n)
    elif method == "effective":
        if not 0.0 <= beta < 1.0:
            raise ArtstyleError(f"beta for effective-number weights must be in [0, 1), got {beta}")
        # Cui et al. 2019, eq. 3: effective number E_n = (1 - beta^n) / (1 - beta); weight = 1 / E_n
        raw[present] = (1.0 - beta) / (1.0 - np.power(beta, n))
    elif method == "none":
        raw[present] = 1.0
    else:
        raise ArtstyleError(
            f"class weight method {method!r} is unknown; use one of {', '.join(WEIGHT_METHODS)}"
        )
    # sum_c n_c w_c / N = 1: the loss keeps its usual scale whatever the method
    return raw * counts.sum() / float((raw * counts).sum())


def log_prior(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Log class frequencies log(n_c / N), float64, for logit adjustment.

    A class with no sample gets log(1e-12) instead of -inf so that ``tau * prior``
    stays finite for any tau (0 * -inf would be NaN).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if counts.ndim != 1 or total <= 0 or (counts < 0).any():
        raise ArtstyleError("class counts must be non-negative with at least one sample")
    return np.log(np.maximum(counts / total, 1e-12))


def adjust_logits(logits: Any, prior: Any, tau: float = 1.0) -> Any:
    """``logits + tau * log_prior`` for numpy arrays or torch tensors (the prior broadcasts over the batch).

    Logit adjustment (Menon et al. 2021, "Long-tail learning via logit
    adjustment", eq. 10): train with the cross-entropy of the adjusted logits,
    predict with the plain logits; that targets the balanced error.
    """
    if hasattr(logits, "new_tensor"):  # torch without importing it here
        prior = logits.new_tensor(np.asarray(prior, dtype=np.float64))
    return logits + tau * prior


def sample_weights(
    labels: Sequence[int] | np.ndarray, weights_per_class: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Each sample's weight: the weight of its class (float64)."""
    labels = _as_labels(labels)
    weights_per_class = np.asarray(weights_per_class, dtype=np.float64)
    if labels.size and labels.max() >= weights_per_class.size:
        raise ArtstyleError(
            f"label {int(labels.max())} has no class weight ({weights_per_class.size} weights given)"
        )
    return weights_per_class[labels]


def _weighted_draw(
    labels: Sequence[int] | np.ndarray, n_samples: int | None, method: str, beta: float
) -> tuple[int, np.ndarray]:
    """(how many to draw, each sample's probability): the draw both samplers make."""
    labels = _as_labels(labels)
    if labels.size == 0:
        raise ArtstyleError("no labels to sample from")
    n_samples = labels.size if n_samples is None else int(n_samples)
    n_classes = int(labels.max()) + 1
    weights = sample_weights(labels, class_weights(class_counts(labels, n_classes), method, beta))
    return n_samples, weights / weights.sum()


def weighted_sampler_indices(
    labels: Sequence[int] | np.ndarray,
    n_samples: int | None = None,
    *,
    seed: int = 0,
    method: str = "inverse",
    beta: float = 0.999,
) -> np.ndarray:
    """``n_samples`` indices drawn with replacement, each sample weighted by its class weight.

    With ``inverse`` every class is drawn equally often on average; ``n_samples``
    defaults to the number of labels (one epoch's worth).
    """
    n_samples, probabilities = _weighted_draw(labels, n_samples, method, beta)
    return np.random.default_rng(seed).choice(
        probabilities.size, size=n_samples, replace=True, p=probabilities
    )


def make_weighted_sampler(
    labels: Sequence[int] | np.ndarray,
    n_samples: int | None = None,
    *,
    seed: int = 0,
    method: str = "inverse",
    beta: float = 0.999,
) -> torch.utils.data.WeightedRandomSampler:
    """The same draw for a ``torch.utils.data.DataLoader``, with its own seeded generator."""
    import torch
    from torch.utils.data import WeightedRandomSampler

    n_samples, probabilities = _weighted_draw(labels, n_samples, method, beta)
    return WeightedRandomSampler(
        torch.from_numpy(probabilities),
        num_samples=n_samples,
        replacement=True,
        generator=torch.Generator().manual_seed(seed),
    )


# ---------------------------------------------------------------- before/after table


def balance_table(
    index_or_counts: Index | Mapping[str, int], target: Target, *, split: str = "train"
) -> list[dict[str, Any]]:
    """One row per style, largest first: ``{style, before, after, copies_per_image_max}``.

    ``copies_per_image_max`` is how often the most-used image of the style
    appears in a :func:`resample_plan` (1 for a subset, 0 for an empty style).
    """
    counts = _counts_of(index_or_counts, split)
    per_class = resolve_target(target, list(counts.values()))
    rows = []
    for style, before in counts.items():
        after = per_class if before > 0 else 0
        rows.append(
            {
                "style": style,
                "before": before,
                "after": after,
                "copies_per_image_max": -(-after // before) if before > 0 else 0,
            }
        )
    rows.sort(key=lambda row: (-row["before"], row["style"]))
    return rows


def balance_summary(
    index_or_counts: Index | Mapping[str, int], target: Target, *, split: str = "train"
) -> dict[str, Any]:
    """The table plus totals: what ``artstyle data balance --json`` prints."""
    counts = _counts_of(index_or_counts, split)
    per_class = resolve_target(target, list(counts.values()))
    rows = balance_table(counts, per_class)
    before = sum(row["before"] for row in rows)
    after = sum(row["after"] for row in rows)
    return {
        "split": split,
        "target": target if isinstance(target, (int, float)) else str(target),
        "per_class": per_class,
        "rows": rows,
        "n_before": before,
        "n_after": after,
        # images that appear at least once after resampling
        "n_distinct_after": sum(min(row["before"], row["after"]) for row in rows),
        "n_oversampled": sum(1 for row in rows if 0 < row["before"] < row["after"]),
        "n_undersampled": sum(1 for row in rows if row["before"] > row["after"]),
        "empty_styles": [row["style"] for row in rows if row["before"] == 0],
    }


def _counts_of(index_or_counts: Index | Mapping[str, int], split: str) -> dict[str, int]:
    if isinstance(index_or_counts, Mapping):
        counts = {str(style): int(n) for style, n in index_or_counts.items()}
    else:
        counts = index_or_counts.counts(split)
    if not counts:
        raise ArtstyleError("no styles to balance")
    return counts


def _round_half_up(value: float) -> int:
    # Python's round() rounds halves to even (12.5 -> 12); a count reads better half-up
    return int(math.floor(value + 0.5))


def _as_labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ArtstyleError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size == 0:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ArtstyleError(f"labels must be integers, got {labels.dtype}")
    if labels.min() < 0:
        raise ArtstyleError(f"labels must be non-negative, found {int(labels.min())}")
    return labels.astype(np.int64, copy=False)
