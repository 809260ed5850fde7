"""Runs and data files -> parts of sections; each run kind's part is drawn by its own module."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from artstyle.report.blocks import Code, Details, Link, Note, Paragraph, Part
from artstyle.report.figures import caption_from_name, figure_block
from artstyle.report.read import CONFIG, GROUP_KINDS, LORA_WEIGHTS, MAP, DataFile, Run, read_json
from artstyle.report.sections.autoencoder import autoencoder_part, clustering_part
from artstyle.report.sections.classifier import classifier_part
from artstyle.report.sections.common import ENVIRONMENT_KEY, TIMING_KEY, unknown_part
from artstyle.report.sections.comparisons import balance_comparison_part, representations_part
from artstyle.report.sections.data import audit_part, balance_part, stats_part
from artstyle.report.sections.label_issues import label_issues_part
from artstyle.report.sections.lora import lora_part
from artstyle.report.sections.stylizer import stylizer_part
from artstyle.report.tables import key_value_table
from artstyle.report.wording import first_line, slug, upper_first
from artstyle.text import time_cap_sentence

KIND_TITLES = {
    "classifier": "classifier",
    "balance_comparison": "imbalance strategies",
    "autoencoder": "autoencoder",
    "clustering": "clustering",
    "representations": "representations compared",
    "stylizer": "stylizer",
    "lora": "LoRA",
    "unknown": "run",
}
# Section -> the run kinds it shows, in order.
SECTIONS = (
    ("classifier", "Classifier", ("classifier", "balance_comparison")),
    ("representation", "Representation", ("autoencoder", "representations", "clustering")),
    ("generation", "Generation", ("stylizer", "lora")),
    ("other", "Other runs", ("unknown",)),
)

# Run kind -> what draws its part; a kind not listed is shown as found.
RENDERERS: dict[str, Callable[[Run, Part], None]] = {
    "classifier": classifier_part,
    "balance_comparison": balance_comparison_part,
    "autoencoder": autoencoder_part,
    "clustering": clustering_part,
    "representations": representations_part,
    "stylizer": stylizer_part,
    "lora": lora_part,
}
# Data summary kind -> what draws its blocks and returns its one-line answer.
DATA_RENDERERS: dict[str, Callable[[dict[str, Any], DataFile, Part], str]] = {
    "stats": stats_part,
    "audit": audit_part,
    "balance": balance_part,
    "issues": label_issues_part,
}


class Builder:
    """Turns runs and data files into sections of blocks."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        # ids in use: two parts whose names slug alike ("clf v1.0", "clf-v1-0") get -2, -3, ...
        self._anchors: set[str] = {"dataset", *(anchor for anchor, _, _ in SECTIONS)}
        # folder names of more than one run: such parts are titled by their longer label
        self.shared_names: set[str] = set()

    def _anchor(self, base: str) -> str:
        anchor, n = base, 1
        while anchor in self._anchors:
            n += 1
            anchor = f"{base}-{n}"
        self._anchors.add(anchor)
        return anchor

    # ---- data

    def data_part(self, folder_label: str, files: list[DataFile]) -> Part:
        part = Part(
            anchor=self._anchor("data-" + slug(folder_label)),
            title=f"Data · {folder_label}",
            path_text=folder_label,
        )
        answers = []
        problems: list[str] = []
        order = {"stats": 0, "audit": 1, "balance": 2, "issues": 3}
        for data_file in sorted(files, key=lambda d: (order[d.kind], d.label)):
            obj = read_json(data_file.path, problems, dict)
            if obj is None:
                continue
            render = DATA_RENDERERS[data_file.kind]
            try:
                answer = render(obj, data_file, part)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                problems.append(
                    f"{data_file.path.name} has an unexpected layout ({first_line(exc)}); it is skipped"
                )
                continue
            if answer:
                answers.append(answer)
        part.answer = " ".join(upper_first(answer) for answer in answers)
        part.blocks[:0] = [Note(text) for text in problems]
        self.notes.extend(f"{folder_label}: {text}" for text in problems)
        return part

    # ---- runs

    def run_parts(self, run: Run, kind: str) -> Part:
        name = run.label if run.path.name in self.shared_names else run.path.name
        part = Part(
            anchor=self._anchor(f"{slug(kind)}-{slug(run.label)}"),
            title=f"{KIND_TITLES.get(kind, kind)} · {name}",
            path_text=run.label,
            kind=kind,
            run_path=run.path,
        )
        render = RENDERERS.get(kind, unknown_part)
        try:
            render(run, part)
            if kind in GROUP_KINDS:  # the runs of a comparison folder, folded under its part
                self._children(run, part)
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            IndexError,
            ZeroDivisionError,
        ) as exc:
            run.problems.append(
                f"part of this run could not be shown ({type(exc).__name__}: {first_line(exc)})"
            )
        part.answer = upper_first(part.answer)
        return part

    def _children(self, run: Run, part: Part) -> None:
        """Runs inside this folder (one per strategy, say), folded under it."""
        if not run.children:
            return
        blocks: list[Any] = []
        for child in run.children:
            holder = Part("", "", child.label)
            for kind in child.kinds:
                child_part = self.run_parts(child, kind)
                holder.blocks.append(
                    Paragraph(
                        f"{child_part.title} ({child.label})"
                        + (f": {child_part.answer}" if child_part.answer else "")
                    )
                )
                holder.blocks.extend(child_part.blocks)
            self.finish_run(child, holder)
            blocks.extend(holder.blocks)
        part.blocks.append(Details(f"The {len(run.children)} runs inside this folder", blocks))

    def finish_run(self, run: Run, part: Part) -> None:
        """Notes, other figures and the run's facts: once per run, in its first part."""
        capped = time_cap_sentence(run.metrics or {}, (run.config or {}).get("epochs"))
        if capped:  # said before its numbers: they would not repeat on another day
            part.blocks.insert(0, Note(capped[0].upper() + capped[1:] + "."))
            self.notes.append(f"{run.label}: {capped}")
        if run.problems:
            part.blocks[:0] = [Note(text) for text in run.problems]
            self.notes.extend(f"{run.label}: {text}" for text in run.problems)
        if MAP in run.files:
            size = (run.path / MAP).stat().st_size / 1e6
            part.blocks.append(
                Link(
                    run.path / MAP,
                    "Interactive map of this run's embedding",
                    f"{MAP}, {size:.1f} MB: hover for the paintings, click for nearest neighbours; "
                    "opens from disk in a browser",
                )
            )
        other = figure_block(run.unclaimed(), lambda p: caption_from_name(p), run.problems)
        if other is not None:
            part.blocks.append(Paragraph("Other figures of this run:"))
            part.blocks.append(other)
        part.blocks.append(self.run_facts(run))

    def run_facts(self, run: Run) -> Details:
        config = run.config or {}
        metrics = run.metrics or {}
        items: list[tuple[str, Any]] = [
            ("folder", run.label),
            ("kind", ", ".join(KIND_TITLES.get(k, k) for k in run.kinds)),
        ]
        if run.model:
            items.append(("architecture", run.model.get("architecture")))
        for key in ("seed", "version", "task"):
            if key in config:
                items.append((key, config[key]))
        if run.classes is not None:
            items.append(("styles", len(run.classes)))
        seen = {key for key, _ in items}
        for source in (metrics, config):  # what the run measured wins over what it was asked for
            for key, value in _flatten(source):
                names = key.split(".")
                wanted = any(ENVIRONMENT_KEY.match(n) or TIMING_KEY.search(n) for n in names)
                if key in seen or not wanted or names[0] in ("per_class", "confusion_matrix"):
                    continue
                if isinstance(value, list) and len(value) > 8:
                    continue
                seen.add(key)
                items.append((key, value))
        weights = [name for name in ("model.safetensors", LORA_WEIGHTS) if name in run.files]
        for name in weights:
            items.append((name, f"{(run.path / name).stat().st_size / 1e6:.1f} MB"))
        blocks: list[Any] = [
            key_value_table(
                items, caption="Seed, versions, machine and timings (what the run recorded)"
            )
        ]
        if run.config_text:
            blocks.append(
                Code(
                    run.config_text.rstrip(),
                    caption=f"{CONFIG}: the resolved config",
                    language="yaml",
                )
            )
        else:
            blocks.append(Note("no config.yaml in this folder", "info"))
        return Details(summary="Run details: config, seed, versions, timings", blocks=blocks)


def _flatten(mapping: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Leaves of nested dicts as (dotted key, value)."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value
