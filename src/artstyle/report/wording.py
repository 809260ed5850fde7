"""Numbers and words as the report shows them: rounding, durations, labels, anchors."""

from __future__ import annotations

import math
import re
from typing import Any

# Scores in [0, 1], shown with 3 decimals.
RATE_KEY = re.compile(
    r"accuracy|f1|precision|recall|(?<!learning_)rate|ssim|nmi|ari|purity|homogeneity|completeness|silhouette|chance"
)
# Integers that are names, not amounts: no thousands separator.
ID_KEY = re.compile(r"seed|^k$|epoch|step|year|port")


def fmt(value: Any, key: str = "") -> str:
    """A number rounded for reading: 3 decimals for rates, 3 significant digits for small values."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value) if ID_KEY.search(key) else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if key.endswith("seconds") or key in ("seconds", "elapsed", "duration"):
            return duration(value)
        if key.endswith("minutes"):
            return duration(60 * value)
        if "per_second" in key:
            return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
        if _is_rate(key) and abs(value) <= 1:
            return f"{value:.3f}"  # scores in [0, 1]: one precision, so columns line up
        if value.is_integer() and abs(value) >= 1:
            return str(int(value)) if ID_KEY.search(key) else f"{int(value):,}"
        size = abs(value)
        if size >= 100:
            return f"{value:,.0f}"
        if size >= 10:
            return f"{value:.1f}"
        if size >= 1:
            return f"{value:.2f}"
        if size >= 0.01 or size == 0:
            return f"{value:.3f}"
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list)) for v in value):
            text = ", ".join(fmt(v) for v in value)
            return text if len(text) <= 200 else text[:200] + " …"
        return f"{len(value)} entries"
    if isinstance(value, dict):
        return f"{len(value)} entries"
    return str(value)


def _is_rate(key: str) -> bool:
    return bool(RATE_KEY.search(key))


def short(value: Any) -> str:
    """Two decimals, for the one-line answers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.2f}"
    return "—"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def label_of(key: str) -> str:
    """``balanced_accuracy`` -> ``balanced accuracy``; known abbreviations kept upper case."""
    special = {
        "psnr": "PSNR",
        "ssim": "SSIM",
        "mse": "MSE",
        "nmi": "NMI",
        "ari": "ARI",
        "f1": "F1",
        "macro_f1": "macro-F1",
    }
    if key in special:
        return special[key]
    words = [special.get(word, word) for word in key.split("_")]
    return " ".join(words)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def slug(text: str) -> str:
    """Lower-case words joined by dashes, letters of any script kept ("分类器一" stays)."""
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-") or "part"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
