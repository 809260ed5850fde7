"""What the parts of every run kind share: headline cards, the other numbers, training curves."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from artstyle.report.blocks import Card, Cards, Details, Note, Part
from artstyle.report.figures import caption_from_name, figure_block
from artstyle.report.read import Run
from artstyle.report.tables import history_table, key_value_table, scalar_items
from artstyle.report.wording import fmt

# Keys that say which software and machine made a run, and how long it took.
ENVIRONMENT_KEY = re.compile(
    r"^(version|artstyle_version|python(_version)?|torch(_version)?|lightning(_version)?|cuda(_version)?|"
    r"platform|machine|hostname|host|cpu|cpu_count|gpu|gpu_name|device|devices|accelerator|precision|"
    r"num_nodes|world_size|environment|threads|data_fingerprint)$"
)
TIMING_KEY = re.compile(
    r"(seconds|minutes|hours|per_second|duration|elapsed|wall|started|finished|_time$|^time_|epochs_run|steps_run|"
    r"^steps$|^global_step$|^epochs_done$|^stopped|stop_reason)"
)


def headline(metrics: dict[str, Any], spec: Sequence[tuple[str, str, str]]) -> Cards | None:
    """Cards for (key, label, context) of ``spec`` that the metrics hold."""
    cards = [
        Card(label, fmt(metrics[key], key), context)
        for key, label, context in spec
        if key in metrics
    ]
    return Cards(cards) if cards else None


def other_numbers(metrics: dict[str, Any], shown: Iterable[str]) -> None | Details:
    rest = [
        (key, value)
        for key, value in scalar_items(metrics, skip=shown)
        if not (ENVIRONMENT_KEY.match(key) or TIMING_KEY.search(key))
    ]
    table = key_value_table(rest)
    return Details("Other numbers in metrics.json", [table]) if table else None


def curves(run: Run) -> list[Any]:
    blocks: list[Any] = []
    table = history_table(run.history)
    if table is not None:
        blocks.append(table)
    figures = figure_block(
        run.claim(r"curve|loss|history|psnr|learning"),
        lambda p: f"Training curves ({caption_from_name(p).lower()})",
        run.problems,
    )
    if figures is not None:
        blocks.append(figures)
    return blocks


def add_curves_and_other_numbers(run: Run, part: Part, shown: Iterable[str]) -> None:
    """The training curves, then (folded) the numbers of metrics.json that ``part`` does not show yet."""
    part.blocks.extend(curves(run))
    if run.metrics is not None:
        part.add(other_numbers(run.metrics, shown))


def unknown_part(run: Run, part: Part) -> None:
    part.blocks.append(
        Note("the kind of this run could not be recognised; its files are shown as found", "info")
    )
    if run.metrics:
        table = key_value_table(scalar_items(run.metrics), caption="metrics.json")
        part.add(table)
    part.blocks.extend(curves(run))
