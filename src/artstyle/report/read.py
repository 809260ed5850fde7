"""Run folders -> :class:`Run`: finding them, reading their files leniently, telling their kind.

A file that cannot be read adds a line to its run's ``problems`` instead of raising,
so one broken run folder never stops the report.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from artstyle.errors import ArtstyleError
from artstyle.report.wording import first_line

# Files that make a folder a run (or a result folder the report reads).
METRICS = "metrics.json"
CONFIG = "config.yaml"
MODEL = "model.json"
CLASSES = "classes.json"
HISTORY = "history.csv"
COMPARISON = "comparison.json"
REPRESENTATIONS = "representations.json"
CLUSTER = "cluster.json"
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
MAP = "map.html"  # `artstyle explore RUN` writes the run's interactive map here
RUN_MARKERS = frozenset(
    {METRICS, CONFIG, MODEL, COMPARISON, REPRESENTATIONS, CLUSTER, LORA_WEIGHTS}
)
# Data summaries written by `artstyle data stats|audit|balance --json` (also "wikiart7_audit.json" etc.)
# and by `artstyle data label-issues --out issues.json`.
DATA_FILE = re.compile(r"^(?:.*[_.-])?(stats|audit|balance|issues)\.json$")
# Folders whose content belongs to the run above them, or that never hold results.
SKIP_DIRS = frozenset({"checkpoints", "figures", "__pycache__", "node_modules"})
FIGURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
# Kinds of result that hold other runs (one per strategy or representation; a stylizer's own
# critic and judge), shown folded inside them.
GROUP_KINDS = frozenset({"balance_comparison", "representations", "stylizer"})


# ---------------------------------------------------------------- reading files leniently


@dataclass
class Run:
    """Everything the report reads from one folder; ``problems`` collects what could not be read."""

    path: Path
    label: str
    files: frozenset[str]
    config: dict[str, Any] | None = None
    config_text: str = ""
    metrics: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    classes: list[str] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    comparison: Any = None
    representations: Any = None
    cluster: Any = None
    figures: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    claimed: set[Path] = field(default_factory=set)
    parent: Run | None = None
    children: list[Run] = field(default_factory=list)

    def claim(self, pattern: str) -> list[Path]:
        """Unclaimed figures whose file name matches ``pattern``; they are claimed now."""
        regex = re.compile(pattern, re.IGNORECASE)
        found = [p for p in self.figures if p not in self.claimed and regex.search(p.stem)]
        self.claimed.update(found)
        return found

    def claim_paths(self, paths: Iterable[Path]) -> None:
        """Claim ``paths`` without showing them."""
        self.claimed.update(paths)

    def unclaimed(self) -> list[Path]:
        return [p for p in self.figures if p not in self.claimed]


def read_json(
    path: Path, problems: list[str], expect: type | tuple[type, ...] = (dict, list)
) -> Any:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(
            f"{path.name} could not be read ({first_line(exc)}); the numbers it holds are missing here"
        )
        return None
    if not isinstance(value, expect):
        problems.append(
            f"{path.name} does not hold the expected {_type_names(expect)}; it is ignored"
        )
        return None
    return value


def _type_names(expect: type | tuple[type, ...]) -> str:
    types = expect if isinstance(expect, tuple) else (expect,)
    names = {dict: "JSON object", list: "JSON list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _read_config(run: Run) -> None:
    path = run.path / CONFIG
    if not path.is_file():
        return
    try:
        run.config_text = path.read_text(encoding="utf-8")
        value = yaml.safe_load(run.config_text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        run.problems.append(f"{CONFIG} could not be read ({first_line(exc)})")
        return
    if isinstance(value, dict):
        run.config = value
    else:
        run.problems.append(f"{CONFIG} does not hold a mapping of keys to values")


def _read_history(run: Run) -> None:
    path = run.path / HISTORY
    if not path.is_file():
        return
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        run.problems.append(f"{HISTORY} could not be read ({first_line(exc)})")
        return
    run.history = [
        {key: _number_or_text(value) for key, value in row.items() if key} for row in rows
    ]


def _number_or_text(value: str | None) -> Any:
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


def read_run(path: Path, label: str) -> Run:
    files = frozenset(entry.name for entry in path.iterdir() if entry.is_file())
    run = Run(path=path, label=label, files=files)
    _read_config(run)
    run.metrics = read_json(path / METRICS, run.problems, dict)
    run.model = read_json(path / MODEL, run.problems, dict)
    classes = read_json(path / CLASSES, run.problems, list)
    if classes is not None:
        run.classes = [str(name) for name in classes]
    _read_history(run)
    run.comparison = read_json(path / COMPARISON, run.problems)
    run.representations = read_json(path / REPRESENTATIONS, run.problems)
    run.cluster = read_json(path / CLUSTER, run.problems)
    run.figures = _figure_files(path)
    run.kinds = recognise(run)
    return run


def _figure_files(folder: Path) -> list[Path]:
    """PNG/JPEG figures in ``folder`` itself and anywhere under ``folder/figures``."""
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FIGURE_SUFFIXES]
    figures_dir = folder / "figures"
    if figures_dir.is_dir():
        found += [
            p for p in figures_dir.rglob("*") if p.is_file() and p.suffix.lower() in FIGURE_SUFFIXES
        ]
    return sorted(found, key=lambda p: (len(p.relative_to(folder).parts), str(p)))


def recognise(run: Run) -> list[str]:
    """The kinds of result ``run`` holds (a folder can hold several, e.g. a run and its clustering)."""
    kinds: list[str] = []
    declared = [
        (run.model or {}).get("kind"),
        (run.model or {}).get("task"),
        (run.config or {}).get("task"),
        (run.model or {}).get("architecture"),
    ]
    for text in declared:
        kind = _kind_from_name(text)
        if kind:
            kinds.append(kind)
            break
    metrics = run.metrics or {}
    if not kinds:
        if "balanced_accuracy" in metrics:
            kinds.append("classifier")
        elif "psnr" in metrics:
            kinds.append("autoencoder")
        elif "style_hit_rate" in metrics:
            kinds.append("stylizer")
    if COMPARISON in run.files:
        kinds.append("balance_comparison")
    if REPRESENTATIONS in run.files:
        kinds.append("representations")
    if CLUSTER in run.files:
        kinds.append("clustering")
    if LORA_WEIGHTS in run.files and "lora" not in kinds:
        kinds.append("lora")
    return list(dict.fromkeys(kinds)) or ["unknown"]


def _kind_from_name(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    text = text.lower()
    if re.search(r"(^|_)ae($|_)", text):  # conv_ae and the like
        return "autoencoder"
    for needle, kind in (
        ("autoencod", "autoencoder"),
        ("stylize", "stylizer"),
        ("lora", "lora"),
        ("classif", "classifier"),
        ("resnet", "classifier"),
        ("compare", "balance_comparison"),
        ("cluster", "clustering"),
    ):
        if needle in text:
            return kind
    return None


# ---------------------------------------------------------------- finding runs


@dataclass
class DataFile:
    path: Path
    label: str
    kind: str  # "stats" | "audit" | "balance" | "issues"


def discover(paths: Sequence[str | os.PathLike]) -> tuple[list[Run], list[DataFile]]:
    """Every run folder and data summary under ``paths`` (folders are searched recursively)."""
    if not paths:
        raise ArtstyleError("give at least one run folder or a folder that holds runs")
    run_dirs: dict[Path, str] = {}
    data_files: dict[Path, DataFile] = {}
    for given in paths:
        root = Path(given).expanduser()
        if not root.exists():
            raise ArtstyleError(
                f"{root} does not exist; pass run folders or a folder that holds them"
            )
        base = root.resolve()
        name = base.name or str(base)
        if root.is_file():
            match = DATA_FILE.match(root.name)
            if match:
                # labelled with its folder: files of one folder given one by one make one part
                label = f"{base.parent.name}/{name}" if base.parent.name else name
                data_files.setdefault(base, DataFile(base, label, match.group(1)))
            elif root.name in RUN_MARKERS:
                run_dirs.setdefault(base.parent, base.parent.name)
            else:
                raise ArtstyleError(
                    f"{root} is not a file the report reads; pass a run folder (or stats/audit/balance JSON)"
                )
            continue
        # symlinked run folders (runs/latest -> ...) are followed, each real folder once
        visited = {base}
        for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
            here = Path(dirpath)
            keep = []
            for d in sorted(dirnames):
                real = (here / d).resolve()
                if not d.startswith(".") and d not in SKIP_DIRS and real not in visited:
                    visited.add(real)
                    keep.append(d)
            dirnames[:] = keep
            label = "/".join((name, *here.relative_to(base).parts))
            if RUN_MARKERS.intersection(filenames):
                run_dirs.setdefault(here, label)
            for file_name in sorted(filenames):
                match = DATA_FILE.match(file_name)
                if match:
                    data_files.setdefault(
                        here / file_name,
                        DataFile(here / file_name, f"{label}/{file_name}", match.group(1)),
                    )
    run_dirs = _unique_labels(run_dirs)
    files = _unique_labels({path: data_file.label for path, data_file in data_files.items()})
    for path, data_file in data_files.items():
        data_file.label = files[path]
    runs = [read_run(path, label) for path, label in sorted(run_dirs.items(), key=lambda kv: kv[1])]
    _nest(runs)
    return runs, sorted(data_files.values(), key=lambda d: d.label)


def _unique_labels(labels: dict[Path, str]) -> dict[Path, str]:
    """Labels that tell paths apart: ``a/clf`` and ``b/clf`` where both were called ``clf``."""
    by_label: dict[str, list[Path]] = {}
    for path, label in labels.items():
        by_label.setdefault(label, []).append(path)
    unique = dict(labels)
    for paths in by_label.values():
        if len(paths) > 1:
            common = Path(os.path.commonpath(paths))
            if common in paths:  # one is inside another: keep the outer one's name
                common = common.parent
            for path in paths:
                unique[path] = path.relative_to(common).as_posix()
    return unique


def _nest(runs: list[Run]) -> None:
    """Runs inside a comparison folder belong to that comparison (shown inside it, folded)."""
    groups = [run for run in runs if GROUP_KINDS & set(run.kinds)]
    for run in runs:
        owners = [g for g in groups if g is not run and g.path in run.path.parents]
        if owners:
            run.parent = max(owners, key=lambda g: len(g.path.parts))
            run.parent.children.append(run)
