"""Comparison folders' parts: imbalance strategies and representations, one row each.

The runs inside a comparison folder are folded under its part by the builder.
"""

from __future__ import annotations

from typing import Any

from artstyle.metrics import balance_verdict
from artstyle.report.blocks import Details, Note, Part
from artstyle.report.figures import figure_block
from artstyle.report.read import Run
from artstyle.report.tables import (
    SENTENCE_KEYS,
    find_sentence,
    key_value_table,
    rows_of,
    rows_table,
    scalar_items,
)
from artstyle.report.wording import as_number, label_of, short


def balance_comparison_part(run: Run, part: Part) -> None:
    comparison = run.comparison
    rows = rows_of(comparison)
    key = "balanced_accuracy" if any("balanced_accuracy" in row for row in rows) else None
    table = rows_table(
        rows,
        caption="One model per strategy, same seed and budget (best balanced accuracy in bold)",
        best=key,
    )
    sentence = find_sentence(comparison)
    if not sentence and key:
        sentence = comparison_sentence(rows, key)
    part.answer = sentence
    if table is not None:
        part.blocks.append(table)
    elif comparison is not None:
        part.blocks.append(Note("comparison.json holds no table of strategies", "info"))
    _comparison_extras(
        run, part, comparison, r"comparison|balance", "Imbalance strategies compared"
    )


def _comparison_extras(run: Run, part: Part, result: Any, figures: str, title: str) -> None:
    """A comparison's figures (file names matching ``figures``) and its other settings."""
    block = figure_block(run.claim(figures), lambda p: title, run.problems)
    part.add(block)
    if isinstance(result, dict):
        extra = key_value_table(scalar_items(result, skip=SENTENCE_KEYS))
        if extra is not None:
            part.blocks.append(Details("Comparison settings", [extra]))


def representations_part(run: Run, part: Part) -> None:
    data = run.representations
    rows = rows_of(data)
    key = next((k for k in ("nmi", "NMI", "ari") if any(k in row for row in rows)), None)
    part.answer = find_sentence(data) or (representation_sentence(rows, key) if key else "")
    table = rows_table(
        rows,
        caption="Same images, same clustering; one row per representation (best in bold)",
        best=key,
    )
    if table is not None:
        part.blocks.append(table)
    elif data is not None:
        part.blocks.append(Note("representations.json holds no table of representations", "info"))
    _comparison_extras(run, part, data, r"represent|compar", "Representations compared")
    # the 2-D views of every representation side by side: the picture the question asks for
    order = [str(row.get("folder") or row.get("representation")) for row in rows]
    children = sorted(
        run.children,
        key=lambda child: order.index(child.path.name) if child.path.name in order else len(order),
    )
    views = [
        (child, path)
        for child in children
        for path in child.claim(r"embedding|tsne|pca|umap|projection")
    ]
    figures = figure_block(
        [path for _, path in views],
        lambda p: (
            f"{p.parent.parent.name if p.parent.name == 'figures' else p.parent.name}: "
            f"2-D view, points by style (left) and by cluster (right)"
        ),
        run.problems,
    )
    part.add(figures)


def comparison_sentence(rows: list[dict[str, Any]], key: str) -> str:
    named = [
        (
            str(row.get("strategy") or row.get("name") or row.get("balance") or "?"),
            as_number(row.get(key)),
        )
        for row in rows
    ]
    scores = {name: value for name, value in named if value is not None}
    if not scores:
        return ""
    verdict = balance_verdict(scores)
    best_name, best_value, none_value = verdict.best, verdict.best_score, verdict.none_score
    sentence = f"Best strategy: {best_name} with {label_of(key)} {short(best_value)}"
    if none_value is not None and best_name != "none":
        delta = best_value - none_value
        verb = "beats" if delta > 0 else "ties with"
        sentence += f"; it {verb} none ({short(none_value)}) by {delta:+.2f}"
    elif best_name == "none":
        sentence += "; no strategy beats training without re-balancing"
    return sentence + "."


def representation_sentence(rows: list[dict[str, Any]], key: str) -> str:
    named = [
        (
            str(row.get("representation") or row.get("name") or row.get("source") or "?"),
            as_number(row.get(key)),
        )
        for row in rows
    ]
    named = [(name, value) for name, value in named if value is not None]
    if len(named) < 1:
        return ""
    named.sort(key=lambda nv: -nv[1])
    best_name, best_value = named[0]
    sentence = f"{best_name} groups styles best: {label_of(key)} {short(best_value)}"
    others = ", ".join(f"{name} {short(value)}" for name, value in named[1:])
    return sentence + (f" vs {others}." if others else ".")
