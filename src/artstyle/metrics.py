"""Classification metrics and the baselines they are read against.

Everything is computed from one confusion matrix over the run's full class
map (rows = true style, columns = predicted style), so numbers reduced across
DDP ranks and numbers from one process agree exactly. A style with no test
image (the course test split lacks Action_painting) is reported in
``styles_absent_from_test`` and left out of the class averages: counting it
as a zero-recall class would punish the model for the data.

    python -c "from artstyle.metrics import classification_metrics as m; print(m([0,1,1],[0,1,0],['a','b'])['balanced_accuracy'])"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artstyle.errors import ArtstyleError


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int
) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ArtstyleError(f"{y_true.size} true labels but {y_pred.size} predictions")
    for name, values in (("true label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ArtstyleError(f"a {name} lies outside 0..{n_classes - 1}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def metrics_from_confusion(
    matrix: np.ndarray,
    classes: Sequence[str],
    *,
    train_counts: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, baselines and per-class numbers.

    ``balanced_accuracy`` is the mean recall and ``macro_f1`` the mean F1 over
    the styles that have at least one test image. ``majority_baseline_accuracy``
    is the accuracy of always answering the largest training style
    (``train_counts``; the largest test style when not given);
    ``chance_accuracy`` is 1 / (styles present in the test split), what a
    uniform random guess scores on balanced accuracy.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    n_classes = len(classes)
    if matrix.shape != (n_classes, n_classes):
        raise ArtstyleError(
            f"confusion matrix of shape {matrix.shape} does not match {n_classes} classes"
        )
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    correct = np.diag(matrix)
    n_test = int(support.sum())
    present = support > 0
    recall = np.divide(correct, support, out=np.zeros(n_classes), where=present)
    precision = np.divide(correct, predicted, out=np.zeros(n_classes), where=predicted > 0)
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros(n_classes), where=denominator > 0
    )

    if train_counts is not None:
        train_counts = np.asarray(train_counts)
        if train_counts.shape != (n_classes,):
            raise ArtstyleError(f"{train_counts.size} training counts for {n_classes} classes")
        majority = int(np.argmax(train_counts))
    else:
        majority = int(np.argmax(support))

    per_class = {}
    for i, style in enumerate(classes):
        per_class[style] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]) if present[i] else None,
            "f1": float(f1[i]) if present[i] else None,
            "support": int(support[i]),
        }
    n_present = int(present.sum())
    return {
        "accuracy": float(correct.sum() / n_test) if n_test else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if n_present else 0.0,
        "macro_f1": float(f1[present].mean()) if n_present else 0.0,
        "majority_baseline_accuracy": float(support[majority] / n_test) if n_test else 0.0,
        "majority_baseline_style": classes[majority],
        "chance_accuracy": 1.0 / n_present if n_present else 0.0,
        "n_test": n_test,
        "n_styles_in_test": n_present,
        "styles_absent_from_test": [style for i, style in enumerate(classes) if not present[i]],
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    classes: Sequence[str],
    *,
    train_counts: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`metrics_from_confusion` of the labels and predictions."""
    return metrics_from_confusion(
        confusion_matrix(y_true, y_pred, len(classes)), classes, train_counts=train_counts
    )


def top_k_accuracy(y_true: Sequence[int] | np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` highest scores."""
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores)
    if y_true.size == 0:
        return 0.0
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == y_true[:, None]).any(axis=1).mean())


def rarest_recalls(
    metrics: dict[str, Any], train_counts: dict[str, int], n: int = 5
) -> dict[str, float | None]:
    """Recall of the ``n`` styles with the fewest training images that appear in the test split."""
    candidates = [style for style in train_counts if metrics["per_class"][style]["support"] > 0]
    rarest = sorted(candidates, key=lambda style: (train_counts[style], style))[:n]
    return {style: metrics["per_class"][style]["recall"] for style in rarest}


def per_class_table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{style, precision, recall, f1, support}`` in class-map order."""
    return [{"style": style, **values} for style, values in metrics["per_class"].items()]


@dataclass(frozen=True)
class BalanceVerdict:
    """Which imbalance strategy wins on one score, and whether it beats training on the data as it is."""

    best: str
    best_score: float
    none_score: float | None  # None: `none` was not run
    beating_none: list[str]  # every strategy scoring above `none`, in the order given

    @property
    def beats_none(self) -> bool | None:
        return None if self.none_score is None else self.best_score > self.none_score


def balance_verdict(scores: dict[str, float]) -> BalanceVerdict:
    """The strategy with the highest score; on a tie `none` wins, since a strategy has to beat
    the data as it is to be worth its cost. ``scores``: strategy -> score (non-empty)."""
    if not scores:
        raise ArtstyleError("no strategy scores to compare")
    best = max(scores, key=lambda name: (scores[name], name == "none"))
    none_score = scores.get("none")
    beating = (
        [] if none_score is None else [name for name, score in scores.items() if score > none_score]
    )
    return BalanceVerdict(best, scores[best], none_score, beating)
