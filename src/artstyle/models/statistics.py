"""The statistics expert: a kernel model on a painting's colour and texture statistics.

The classifier network learns from a few thousand paintings and, with them, the
painters it saw; fixed statistics (:mod:`artstyle.data.texture`) carry what holds
across painters. The expert standardises the 854 numbers, maps them through an
RBF kernel against up to 1,000 training images (the Nystroem approximation,
Williams & Seeger 2001) and fits a class-balanced multinomial logistic
regression there. Its log-probabilities are mixed with the network's
(``--statistics``, the expert's share).

Stored as plain arrays in ``statistics.safetensors``: loading runs no code.

    python -c "from artstyle.models.statistics import StatisticsExpert; help(StatisticsExpert)"
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from artstyle.errors import ArtstyleError

N_COMPONENTS = 1000  # kernel centres: the training images, or 1,000 of them (the seed's choice)
# inverse regularisation: 5-fold cross-validation on wikiart7's training split chose 10 of
# 0.3, 1, 3, 10, 30 (docs/real-paintings.md)
C = 10.0
_KEYS = ("mean", "scale", "centres", "normalization", "coef", "intercept", "gamma")


@dataclass
class StatisticsExpert:
    """Standardise -> RBF kernel against ``centres`` -> ``normalization`` -> linear -> softmax."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    centres: np.ndarray  # (M, F), standardised
    normalization: np.ndarray  # (M, M): K_mm^(-1/2)
    coef: np.ndarray  # (K, M)
    intercept: np.ndarray  # (K,)
    gamma: float

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray, n_classes: int, *, seed: int = 0
    ) -> StatisticsExpert:
        """Fit on ``features`` (N, F) with ``labels`` in 0..n_classes-1 (every class with a
        training image gets weight inversely proportional to its count)."""
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels)
        if len(present) < 2:
            raise ArtstyleError("the statistics expert needs training images of 2 styles or more")
        x = np.asarray(features, dtype=np.float64)
        scaler = StandardScaler().fit(x)
        z = scaler.transform(x)
        gamma = 1.0 / x.shape[1]  # sklearn's "scale" for standardised features
        kernel = Nystroem(
            gamma=gamma, n_components=min(N_COMPONENTS, len(z)), random_state=seed
        ).fit(z)
        regression = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
        regression.fit(kernel.transform(z), labels)
        # classes without a training image get no weight and a very low score
        coef = np.zeros((n_classes, regression.coef_.shape[1]))
        intercept = np.full(n_classes, -30.0)
        if len(present) == 2:  # sklearn keeps one row for two classes: the second's logit
            coef[present[1]], intercept[present[1]] = regression.coef_[0], regression.intercept_[0]
            intercept[present[0]] = 0.0
        else:
            coef[present], intercept[present] = regression.coef_, regression.intercept_
        return cls(
            mean=scaler.mean_,
            scale=scaler.scale_,
            centres=kernel.components_,
            normalization=kernel.normalization_,
            coef=coef,
            intercept=intercept,
            gamma=gamma,
        )

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        """(N, F) statistics -> (N, K) log-probabilities (float32)."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        squared = (
            (z**2).sum(axis=1)[:, None]
            + (self.centres**2).sum(axis=1)[None, :]
            - 2.0 * z @ self.centres.T
        )
        mapped = np.exp(-self.gamma * np.maximum(squared, 0.0)) @ self.normalization.T
        logits = mapped @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)

    def save(self, path: str | os.PathLike) -> None:
        from safetensors.numpy import save

        from artstyle.io import atomic_path

        arrays = {
            key: np.ascontiguousarray(np.atleast_1d(getattr(self, key)), dtype=np.float64)
            for key in _KEYS
        }
        data = save(arrays, metadata={"kind": "statistics-expert"})
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> StatisticsExpert:
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path))
        except Exception as exc:
            raise ArtstyleError(
                f"cannot read {path}: {exc}; restore it from a copy, or set statistics: 0 in the "
                "run's config.yaml to score the network alone"
            ) from exc
        missing = [key for key in _KEYS if key not in arrays]
        if missing:
            raise ArtstyleError(f"{path} lacks {', '.join(missing)}; it is not a statistics expert")
        return cls(
            **{key: arrays[key] for key in _KEYS[:-1]}, gamma=float(arrays["gamma"].reshape(-1)[0])
        )
