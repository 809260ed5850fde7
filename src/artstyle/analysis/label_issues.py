"""Label issues: which images are probably filed under the wrong style (confident learning).

Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty
in Dataset Labels", JAIR 2021) compares each image's given label with out-of-sample
predicted probabilities: per style it takes the mean probability the model gives that style
on images filed under it as a threshold, counts the images confidently belonging to another
style (the confident joint), and prunes that many of the least likely labels per pair of
styles. Northcutt, Athalye and Mueller ("Pervasive Label Errors in Test Sets Destabilize
Machine Learning Benchmarks", NeurIPS 2021 Datasets and Benchmarks) used it, with
cross-validated probabilities, to find the label errors of ImageNet, CIFAR and others. The
``cleanlab`` package implements it; this module prepares its inputs (stratified folds,
cross-validated probabilities from fixed features) and turns its output into rows a person
can check.

    from artstyle.analysis.label_issues import find_issues
    ranked = find_issues(labels, pred_probs)   # indices, least likely label first
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from artstyle.errors import ArtstyleError
from artstyle.text import plural


def check_labels(labels: np.ndarray, classes: Sequence[str], n_folds: int) -> None:
    """Refuse data that K-fold confident learning cannot work on, in one line that says why.

    Every style needs at least ``n_folds`` images, so that each fold's model sees it in
    training and each fold holds one out; and there must be two styles to confuse.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=len(classes))
    present = [i for i in range(len(classes)) if counts[i] > 0]
    if len(present) < 2:
        only = classes[present[0]] if present else "none"
        raise ArtstyleError(
            f"label issues need at least 2 styles in the training split, found 1 ({only}); "
            "add folders train/<Style>/ for the other styles"
        )
    thin = [(classes[i], int(counts[i])) for i in present if counts[i] < n_folds]
    if thin:
        names = ", ".join(f"{name} ({n})" for name, n in thin[:5])
        more = f" and {len(thin) - 5} more" if len(thin) > 5 else ""
        smallest = min(n for _, n in thin)
        hint = f"pass --folds {smallest} or fewer" if smallest >= 2 else "add images"
        raise ArtstyleError(
            f"too few images per fold: {plural(len(thin), 'style')} {names}{more} "
            f"{'has' if len(thin) == 1 else 'have'} fewer training images than the {n_folds} "
            f"folds; {hint}, or remove those styles"
        )


def stratified_folds(labels: np.ndarray, n_folds: int, *, seed: int) -> list[np.ndarray]:
    """The held-out rows of each of ``n_folds`` folds: every style split about evenly, shuffled by ``seed``."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [held_out for _, held_out in splitter.split(np.zeros(len(labels)), labels)]


def feature_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    n_folds: int,
    seed: int,
    n_jobs: int | None = 1,
) -> np.ndarray:
    """(N, n_classes) out-of-fold probabilities of a standardised logistic regression on ``features``.

    The fast path: a linear model on fixed features, cross-validated with
    ``cross_val_predict`` over the same stratified folds as the network path.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels, dtype=np.int64)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    probabilities = cross_val_predict(
        model, features, labels, cv=splitter, method="predict_proba", n_jobs=n_jobs
    )
    # columns are the classes seen in training (all present: check_labels asked for >= n_folds
    # images of each); put them in the class map's order, zeros for styles with no images
    present = np.unique(labels)
    full = np.zeros((len(labels), n_classes), dtype=np.float64)
    full[:, present] = probabilities
    return full


def find_issues(
    labels: np.ndarray, pred_probs: np.ndarray, *, n_jobs: int | None = 1
) -> np.ndarray:
    """Indices of the images whose label is probably wrong, most likely wrong first.

    cleanlab's ``find_label_issues`` with its default filter (``prune_by_noise_rate``, the
    "prune by noise rate" method of Northcutt et al., JAIR 2021), ranked by self-confidence:
    the probability the model gives the given label, lowest first.
    """
    from cleanlab.filter import find_label_issues

    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    present = np.unique(labels)
    # cleanlab wants labels 0..K-1 with every class present: drop the class map's empty styles
    remap = np.full(pred_probs.shape[1], -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    probs = pred_probs[:, present]
    probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    ranked = find_label_issues(
        remap[labels], probs, return_indices_ranked_by="self_confidence", n_jobs=n_jobs
    )
    return np.asarray(ranked, dtype=np.int64)


def issue_rows(
    ranked: np.ndarray,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    classes: Sequence[str],
    files: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per flagged image, in ``ranked`` order: file, given and suggested style, confidences.

    ``self_confidence`` is the probability of the given style (cleanlab's label quality
    score); ``suggested_probability`` that of the most probable other style.
    """
    rows = []
    for rank, i in enumerate(np.asarray(ranked, dtype=np.int64).tolist(), start=1):
        given = int(labels[i])
        others = np.array(pred_probs[i], dtype=np.float64)
        others[given] = -1.0
        suggested = int(np.argmax(others))
        rows.append(
            {
                "rank": rank,
                "file": files[i],
                "given_style": classes[given],
                "suggested_style": classes[suggested],
                "self_confidence": round(float(pred_probs[i][given]), 4),
                "suggested_probability": round(float(pred_probs[i][suggested]), 4),
            }
        )
    return rows


def per_style_counts(
    rows: Sequence[dict[str, Any]], labels: np.ndarray, classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Flagged images per given style, with the share of that style's images, most flagged first."""
    totals = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    flagged: dict[str, int] = {}
    for row in rows:
        flagged[row["given_style"]] = flagged.get(row["given_style"], 0) + 1
    table = [
        {
            "style": style,
            "n_images": int(totals[i]),
            "n_flagged": flagged.get(style, 0),
            "share": round(flagged.get(style, 0) / totals[i], 4) if totals[i] else 0.0,
        }
        for i, style in enumerate(classes)
        if totals[i]
    ]
    return sorted(table, key=lambda r: (-r["n_flagged"], r["style"]))


def out_of_fold_accuracy(labels: np.ndarray, pred_probs: np.ndarray) -> float:
    """How often the out-of-fold prediction matches the given label (a check on the model)."""
    labels = np.asarray(labels, dtype=np.int64)
    return float((np.argmax(pred_probs, axis=1) == labels).mean()) if len(labels) else 0.0
