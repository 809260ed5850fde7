"""Runs and data files under the given folders -> one :class:`Report` (nothing is written)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from artstyle.errors import ArtstyleError
from artstyle.report.blocks import Details, Figure, Figures, Part, Report, Section
from artstyle.report.read import DataFile, Run, discover
from artstyle.report.sections.builder import SECTIONS, Builder
from artstyle.report.wording import as_number, lower_first


def collect(paths: Sequence[str | os.PathLike], *, title: str | None = None) -> Report:
    """Read every run and data file under ``paths`` into a :class:`Report` (nothing is written)."""
    runs, data_files = discover(paths)
    builder = Builder()
    sections: list[Section] = []

    if data_files:
        by_folder: dict[str, list[DataFile]] = {}
        for data_file in data_files:
            by_folder.setdefault(data_file.label.rsplit("/", 1)[0], []).append(data_file)
        parts = [builder.data_part(folder, files) for folder, files in by_folder.items()]
        sections.append(Section("dataset", "Dataset", answer=_first_answer(parts), parts=parts))

    top_level = [run for run in runs if run.parent is None]
    names = [run.path.name for run in top_level]
    builder.shared_names = {name for name in names if names.count(name) > 1}
    first_part: dict[int, Part] = {}
    section_parts: dict[str, list[Part]] = {anchor: [] for anchor, _, _ in SECTIONS}
    for run in top_level:
        for kind in run.kinds:
            anchor = next(a for a, _, kinds in SECTIONS if kind in kinds)
            part = builder.run_parts(run, kind)
            section_parts[anchor].append(part)
            first_part.setdefault(id(run), part)
    for run in top_level:
        builder.finish_run(run, first_part[id(run)])
    for anchor, section_title, kinds in SECTIONS:
        parts = sorted(
            section_parts[anchor], key=lambda part: (kinds.index(part.kind), part.path_text)
        )
        if parts:
            sections.append(
                Section(
                    anchor,
                    section_title,
                    answer=_section_answer(anchor, parts, top_level),
                    parts=parts,
                )
            )

    if not sections:
        raise ArtstyleError(
            f"no run folders or data summaries found under {', '.join(str(p) for p in paths)}; "
            "a run folder holds metrics.json or config.yaml (see `artstyle train --help`)"
        )
    figures = _number_figures(sections)
    sources = [str(Path(p)) for p in paths]
    return Report(
        title=title or "artstyle report",
        sources=sources,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=_version(),
        sections=sections,
        notes=builder.notes,
        n_runs=len(runs),
        figures=figures,
    )


def _number_figures(sections: list[Section]) -> list[Figure]:
    """Number the figures in the order a reader meets them."""
    figures: list[Figure] = []

    def visit(blocks: list[Any]) -> None:
        for block in blocks:
            if isinstance(block, Figures):
                for figure in block.figures:
                    figures.append(figure)
                    figure.number = len(figures)
            elif isinstance(block, Details):
                visit(block.blocks)

    for section in sections:
        for part in section.parts:
            visit(part.blocks)
    return figures


def _first_answer(parts: list[Part]) -> str:
    return next((part.answer for part in parts if part.answer), "")


def data_key(run: Run | None) -> tuple[str, str | None]:
    """Which data set a run is of: its data folder (as recorded) and the fingerprint of its
    files, when the run recorded one. Runs are compared only within one data set."""
    if run is None:
        return ("", None)
    recorded = [run.config or {}, run.metrics or {}]
    for source in (run.cluster, run.representations, run.comparison):
        if isinstance(source, dict):
            recorded.append(source)
    data = next((str(r["data"]) for r in recorded if r.get("data")), "")
    fingerprint = next((r["data_fingerprint"] for r in recorded if r.get("data_fingerprint")), None)
    return (os.path.normpath(data) if data else "", fingerprint)


def _data_name(key: tuple[str, str | None]) -> str:
    return Path(key[0]).name or "unrecorded data"


def _section_answer(anchor: str, parts: list[Part], runs: list[Run]) -> str:
    """The first answer of each kind of part, for each data set; with several classifiers of
    one data set, the best one's. Runs of different data sets are never ranked together."""
    by_path = {run.path: run for run in runs}
    keys = {data_key(by_path.get(part.run_path)) for part in parts if part.answer}
    several = len(keys) > 1
    answers: dict[tuple[str, tuple[str, str | None]], str] = {}
    named = set()  # the answers that already say which data set they are of
    for part in parts:
        if part.answer:
            key = data_key(by_path.get(part.run_path))
            answers.setdefault((part.kind, key), part.answer)
    if anchor == "classifier":
        groups: dict[tuple[str, str | None], list[Run]] = {}
        for run in runs:
            if "classifier" in run.kinds and (
                as_number((run.metrics or {}).get("balanced_accuracy")) is not None
            ):
                groups.setdefault(data_key(run), []).append(run)
        for key, scored in groups.items():
            if len(scored) < 2:
                continue
            best = max(scored, key=lambda run: run.metrics["balanced_accuracy"])
            answer = next(
                (
                    p.answer
                    for p in parts
                    if p.kind == "classifier" and p.run_path == best.path and p.answer
                ),
                "",
            )
            if answer:
                where = f" on {_data_name(key)}" if several else ""
                answers[("classifier", key)] = (
                    f"Best of {len(scored)} classifier runs{where} ({best.label}): "
                    + lower_first(answer)
                )
                named.add(("classifier", key))
    if not several:
        return " ".join(answers.values())
    return " ".join(
        answer if (kind, key) in named else f"On {_data_name(key)}: {lower_first(answer)}"
        for (kind, key), answer in answers.items()
    )


def _version() -> str:
    try:
        return metadata.version("artstyle")
    except metadata.PackageNotFoundError:
        return "0+unknown"
