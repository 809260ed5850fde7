"""Numbers -> tables: key/value lists, result rows, training history, per-class scores,
clusters and the confusion matrix."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from artstyle.report.blocks import Cell, Table
from artstyle.report.wording import as_number, fmt, label_of
from artstyle.text import plural


def num_cell(value: Any, key: str = "", **kwargs: Any) -> Cell:
    return Cell(
        fmt(value, key),
        numeric=isinstance(value, (int, float)) and not isinstance(value, bool),
        **kwargs,
    )


def key_value_table(items: Iterable[tuple[str, Any]], caption: str = "") -> Table | None:
    rows = [[Cell(label_of(key)), num_cell(value, key)] for key, value in items]
    return Table(["", "value"], rows, caption=caption, compact=True) if rows else None


def scalar_items(mapping: dict[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """Top-level numbers, strings and short lists of ``mapping`` (nested tables are shown elsewhere)."""
    skip = set(skip)
    items = []
    for key, value in mapping.items():
        if key in skip:
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            items.append((key, value))
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, (int, float, str)) for v in value)
            and len(value) <= 30
        ):
            items.append((key, value))
    return items


def rows_of(
    obj: Any,
    preferred: Sequence[str] = ("rows", "results", "strategies", "representations", "table"),
) -> list[dict[str, Any]]:
    """The table inside a result JSON: a list of objects, or an object of objects (name -> numbers)."""
    if isinstance(obj, list) and obj and all(isinstance(row, dict) for row in obj):
        return obj
    if not isinstance(obj, dict):
        return []
    for key in (*preferred, *obj.keys()):
        value = obj.get(key)
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            return value
    if obj and all(isinstance(row, dict) for row in obj.values()):
        return [{"name": name, **row} for name, row in obj.items()]
    for key in (*preferred, *obj.keys()):
        value = obj.get(key)
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(row, dict) for row in value.values())
        ):
            return [{"name": name, **row} for name, row in value.items()]
    return []


# Columns of result tables that hold file paths: long, and the folded runs show them anyway.
PATH_COLUMNS = frozenset({"run", "source", "folder", "path", "out"})


def rows_table(
    rows: list[dict[str, Any]],
    caption: str = "",
    best: str | None = None,
    higher_is_better: bool = True,
) -> Table | None:
    """One column per scalar key of ``rows`` (``best`` row in bold).

    A ``key_std`` column is merged into ``key`` as "mean ± std"; a column of small
    dicts (e.g. recall per style) becomes one column per inner key; path columns are left out.
    """
    columns: list[tuple[str, str | None]] = []  # (key, inner key of a dict column)
    for row in rows:
        for key, value in row.items():
            if key in PATH_COLUMNS or (key.endswith("_std") and key[:-4] in row):
                continue
            if isinstance(value, dict) and all(
                not isinstance(v, (dict, list)) for v in value.values()
            ):
                columns.extend((key, inner) for inner in value if (key, inner) not in columns)
            elif not isinstance(value, (dict, list)) and (key, None) not in columns:
                columns.append((key, None))
    if not columns:
        return None
    values = [as_number(row.get(best)) for row in rows] if best else []
    finite = [v for v in values if v is not None]
    target = (max(finite) if higher_is_better else min(finite)) if finite else None
    table_rows = []
    for i, row in enumerate(rows):
        strong = target is not None and values[i] == target
        cells = []
        for key, inner in columns:
            value = row.get(key) if inner is None else (row.get(key) or {}).get(inner)
            cell = num_cell(value, key, strong=strong and key == best)
            spread = as_number(row.get(f"{key}_std")) if inner is None else None
            if spread is not None and as_number(value) is not None:
                cell.text += f" ± {spread:.3f}" if abs(value) < 10 else f" ± {fmt(spread, key)}"
            cells.append(cell)
        table_rows.append(cells)
    header = [
        label_of(key) if inner is None else f"{label_of(key)}: {inner}" for key, inner in columns
    ]
    return Table(header, table_rows, caption=caption)


# keys under which a result JSON may store its ready-made answer sentence
SENTENCE_KEYS = ("answer", "summary", "sentence", "conclusion", "verdict", "headline")


def find_sentence(obj: Any) -> str:
    """A ready-made answer sentence stored in a result JSON, if any."""
    if isinstance(obj, dict):
        for key in SENTENCE_KEYS:
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


# ---------------------------------------------------------------- sparklines


def spark_points(values: Sequence[float | None], width: int = 120, height: int = 26) -> str:
    """SVG polyline points of ``values`` scaled into width x height (y grows downwards)."""
    finite = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low = min(v for _, v in finite)
    high = max(v for _, v in finite)
    span = (high - low) or 1.0
    last = max(i for i, _ in finite) or 1
    return " ".join(
        f"{2 + (width - 4) * i / last:.1f},{height - 2 - (height - 4) * (v - low) / span:.1f}"
        for i, v in finite
    )


# the stylizer logs its loss terms by name: recon (L1), gram, critic (cross-entropy), content (1 - SSIM)
LOWER_IS_BETTER = re.compile(r"loss|mse|error|mae|perplexity|_(recon|gram|critic|content)$")
NO_BEST = re.compile(r"^(epoch|step|lr|learning_rate)$|seconds|time|per_second|images_s")


def history_table(history: list[dict[str, Any]]) -> Table | None:
    """One row per numeric history column: first, best (at which epoch or step), last, and a small curve."""
    if not history:
        return None
    x_key = next((key for key in ("epoch", "step") if key in history[0]), None)
    columns = [key for key in history[0] if key not in ("epoch", "step")]
    rows = []
    for key in columns:
        series = [as_number(row.get(key)) for row in history]
        finite = [(i, v) for i, v in enumerate(series) if v is not None]
        if (
            not finite
            or key == "best"
            or set(v for _, v in finite) <= {0.0, 1.0}
            and len(finite) > 1
        ):
            continue  # marker columns (e.g. "best" = 1 on the epochs that improved) are not curves
        best_cell = Cell("—")
        if not NO_BEST.search(key):
            pick = min if LOWER_IS_BETTER.search(key) else max
            i_best, v_best = pick(finite, key=lambda iv: iv[1])
            at = history[i_best].get(x_key) if x_key else i_best + 1
            at_text = fmt(int(at)) if isinstance(at, float) and at.is_integer() else fmt(at)
            best_cell = Cell(f"{fmt(v_best, key)} ({x_key or 'row'} {at_text})", numeric=True)
        rows.append(
            [
                Cell(label_of(key)),
                num_cell(finite[0][1], key),
                best_cell,
                num_cell(finite[-1][1], key),
                Cell("", spark=spark_points(series)),
            ]
        )
    if not rows:
        return None
    unit = {"epoch": "epoch", "step": "logged step"}.get(x_key or "", "row")
    return Table(
        ["", "first", "best", "last", "curve"],
        rows,
        caption=f"history.csv: {plural(len(history), unit)}",
    )


# ---------------------------------------------------------------- tables of one kind of result


def per_class_table(per_class: Any) -> Table | None:
    """Precision, recall, F1 and support per style, largest test support first, recall drawn as a bar."""
    if isinstance(per_class, list):
        per_class = {
            str(row.get("style", i)): row
            for i, row in enumerate(per_class)
            if isinstance(row, dict)
        }
    if not isinstance(per_class, dict) or not per_class:
        return None
    items = [(style, values) for style, values in per_class.items() if isinstance(values, dict)]
    items.sort(key=lambda kv: (-(kv[1].get("support") or 0), kv[0]))
    rows = []
    for style, values in items:
        recall = as_number(values.get("recall"))
        rows.append(
            [
                Cell(style),
                num_cell(values.get("precision"), "precision"),
                num_cell(values.get("recall"), "recall", bar=recall),
                num_cell(values.get("f1"), "f1"),
                num_cell(values.get("support")),
            ]
        )
    return Table(
        ["style", "precision", "recall", "F1", "support"],
        rows,
        caption="Per-class scores on the test split (largest support first)",
    )


def clusters_table(clusters: list[dict[str, Any]]) -> Table:
    """One row per cluster: size and its most common styles."""
    rows = []
    for row in clusters:
        top = row.get("top_styles") or []
        text = ", ".join(
            f"{pair[0]} {pair[1]}" for pair in top if isinstance(pair, list) and len(pair) == 2
        )
        rows.append([Cell(str(row.get("cluster", "?"))), num_cell(row.get("size")), Cell(text)])
    return Table(
        ["cluster", "images", "most common styles (count)"], rows, caption="Clusters, largest first"
    )


def confusion_table(matrix: list[list[Any]], classes: list[str]) -> Table | None:
    """The confusion matrix as a shaded table (rows normalised), when the run saved no figure of it."""
    if len(matrix) != len(classes) or any(
        not isinstance(row, list) or len(row) != len(classes) for row in matrix
    ):
        return None
    rows = []
    for i, (style, row) in enumerate(zip(classes, matrix, strict=True)):
        total = sum(v for v in row if isinstance(v, (int, float))) or 0
        cells = [Cell(f"{i + 1} {style}")]
        for value in row:
            number = value if isinstance(value, (int, float)) else None  # null: unknown, shown so
            share = number / total if total and number is not None else 0.0
            cells.append(Cell(fmt(value) if value != 0 else "", numeric=True, heat=share))
        rows.append(cells)
    return Table(
        ["true \\ predicted", *[str(i + 1) for i in range(len(classes))]],
        rows,
        caption="Confusion matrix (counts; shade = share of the true style's images)",
        compact=True,
    )
