"""Run folders -> one self-contained HTML page and a markdown twin.

    artstyle report demo-out --out demo-out/report.html --markdown demo-out/REPORT.md

The report reads files only (JSON, YAML, CSV, PNG): it never loads a model and
never imports torch, so it can be rebuilt anywhere from copied run folders.
Figures are embedded as base64 data URIs, the CSS is inline and the page
needs no server, network or fonts: it opens from disk. The markdown twin has
the same sections for pasting into a README; it links figures by relative path.

A run's kind is recognised from what it holds: ``model.json``'s ``kind`` (or
``config.yaml``'s ``task``), else the metrics keys (``balanced_accuracy`` ->
classifier, ``psnr`` -> autoencoder, ``style_hit_rate`` -> stylizer), and
``comparison.json``, ``representations.json``, ``cluster.json`` and
``pytorch_lora_weights.safetensors`` mark a balance comparison, a
representation comparison, a clustering and a LoRA run. A missing section is
left out; a broken file gives a visible note in its run's part, not a crash.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import jinja2
import markupsafe
import yaml

from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path, write_bytes
from artstyle.text import md_cell, md_code, md_fence, md_text, plural

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
RUN_MARKERS = frozenset(
    {METRICS, CONFIG, MODEL, COMPARISON, REPRESENTATIONS, CLUSTER, LORA_WEIGHTS}
)
# Data summaries written by `artstyle data stats|audit|balance --json` (also "wikiart7_audit.json" etc.).
DATA_FILE = re.compile(r"^(?:.*[_.-])?(stats|audit|balance)\.json$")
# Folders whose content belongs to the run above them, or that never hold results.
SKIP_DIRS = frozenset({"checkpoints", "figures", "__pycache__", "node_modules"})
FIGURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# A figure larger than this is downscaled before it is embedded, to keep the page light.
MAX_FIGURE_BYTES = 3_000_000
MAX_FIGURE_SIDE = 1800

METHOD_NAMES = {
    "kmeans": "k-means",
    "gmm": "Gaussian mixture",
    "agglomerative": "agglomerative clustering",
    "hdbscan": "HDBSCAN",
}
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
# Keys that say which software and machine made a run, and how long it took.
ENVIRONMENT_KEY = re.compile(
    r"^(version|artstyle_version|python(_version)?|torch(_version)?|lightning(_version)?|cuda(_version)?|"
    r"platform|machine|hostname|host|cpu|cpu_count|gpu|gpu_name|device|devices|accelerator|precision|"
    r"num_nodes|world_size|environment)$"
)
TIMING_KEY = re.compile(
    r"(seconds|minutes|hours|per_second|duration|elapsed|wall|started|finished|_time$|^time_|epochs_run|steps_run|"
    r"^steps$|^global_step$|^epochs_done$|^stopped|stop_reason)"
)


# Scores in [0, 1], shown with 3 decimals.
RATE_KEY = re.compile(
    r"accuracy|f1|precision|recall|(?<!learning_)rate|ssim|nmi|ari|purity|homogeneity|completeness|silhouette|chance"
)
# Integers that are names, not amounts: no thousands separator.
ID_KEY = re.compile(r"seed|^k$|epoch|step|year|port")


# ---------------------------------------------------------------- blocks the templates render


@dataclass
class Cell:
    """One table cell: its text plus optional drawing hints (HTML only)."""

    text: str
    numeric: bool = False
    bar: float | None = None  # 0..1: a bar behind the number
    heat: float | None = None  # 0..1: cell shade (confusion matrix)
    spark: str = ""  # SVG polyline points of a small curve
    strong: bool = False


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    compact: bool = False
    type: ClassVar[str] = "table"

    def text_columns(self) -> list[int]:
        """Columns that hold text (the markdown twin drops the HTML-only curve columns)."""
        return [
            i
            for i in range(len(self.header))
            if not all(row[i].spark for row in self.rows if i < len(row))
        ]

    def numeric_column(self, i: int) -> bool:
        cells = [row[i] for row in self.rows if i < len(row) and row[i].text not in ("", "—")]
        return bool(cells) and all(cell.numeric for cell in cells)


@dataclass
class Figure:
    path: Path
    caption: str
    number: int = 0
    data_uri: str = ""
    md_src: str = ""
    type: ClassVar[str] = "figure"


@dataclass
class Figures:
    figures: list[Figure]
    type: ClassVar[str] = "figures"


@dataclass
class Note:
    text: str
    level: str = "warn"  # "warn" | "info"
    type: ClassVar[str] = "note"


@dataclass
class Paragraph:
    text: str
    type: ClassVar[str] = "paragraph"


@dataclass
class Card:
    label: str
    value: str
    context: str = ""  # baseline or unit, shown under the value


@dataclass
class Cards:
    cards: list[Card]
    type: ClassVar[str] = "cards"


@dataclass
class Code:
    text: str
    caption: str
    language: str = ""
    type: ClassVar[str] = "code"


@dataclass
class Details:
    summary: str
    blocks: list[Any]
    type: ClassVar[str] = "details"


@dataclass
class Part:
    """One run (or data folder) inside a section."""

    anchor: str
    title: str
    path_text: str
    answer: str = ""
    blocks: list[Any] = field(default_factory=list)
    kind: str = ""
    run_path: Path | None = None  # the run folder shown (None for data parts)

    def add(self, block: Any) -> None:
        """Append ``block``; None (a figure or table the run does not have) adds nothing."""
        if block is not None:
            self.blocks.append(block)


def no_metrics_note() -> Note:
    """What a run part says in place of its numbers when metrics.json is missing or unreadable."""
    return Note(
        "no usable metrics.json: the run has not finished or its metrics are unreadable", "info"
    )


@dataclass
class Section:
    anchor: str
    title: str
    answer: str = ""
    parts: list[Part] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sources: list[str]
    generated: str
    version: str
    sections: list[Section]
    notes: list[str]
    n_runs: int
    figures: list[Figure]


@dataclass
class ReportSummary:
    """What :func:`build_report` wrote."""

    out: Path
    markdown: Path | None
    n_runs: int
    n_figures: int
    n_bytes: int
    sections: list[str]
    notes: list[str]


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


def _read_json(
    path: Path, problems: list[str], expect: type | tuple[type, ...] = (dict, list)
) -> Any:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(
            f"{path.name} could not be read ({_first_line(exc)}); the numbers it holds are missing here"
        )
        return None
    if not isinstance(value, expect):
        problems.append(
            f"{path.name} does not hold the expected {_type_names(expect)}; it is ignored"
        )
        return None
    return value


def _read_config(run: Run) -> None:
    path = run.path / CONFIG
    if not path.is_file():
        return
    try:
        run.config_text = path.read_text(encoding="utf-8")
        value = yaml.safe_load(run.config_text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        run.problems.append(f"{CONFIG} could not be read ({_first_line(exc)})")
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
        run.problems.append(f"{HISTORY} could not be read ({_first_line(exc)})")
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
    run.metrics = _read_json(path / METRICS, run.problems, dict)
    run.model = _read_json(path / MODEL, run.problems, dict)
    classes = _read_json(path / CLASSES, run.problems, list)
    if classes is not None:
        run.classes = [str(name) for name in classes]
    _read_history(run)
    run.comparison = _read_json(path / COMPARISON, run.problems)
    run.representations = _read_json(path / REPRESENTATIONS, run.problems)
    run.cluster = _read_json(path / CLUSTER, run.problems)
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
    kind: str  # "stats" | "audit" | "balance"


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
    groups = [run for run in runs if {"balance_comparison", "representations"} & set(run.kinds)]
    for run in runs:
        owners = [g for g in groups if g is not run and g.path in run.path.parents]
        if owners:
            run.parent = max(owners, key=lambda g: len(g.path.parts))
            run.parent.children.append(run)


# ---------------------------------------------------------------- formatting


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


def _ratio(value: Any) -> str:
    return f"{value:.1f}" if _num(value) is not None else "?"


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


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _type_names(expect: type | tuple[type, ...]) -> str:
    types = expect if isinstance(expect, tuple) else (expect,)
    names = {dict: "JSON object", list: "JSON list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def slug(text: str) -> str:
    """Lower-case words joined by dashes, letters of any script kept ("分类器一" stays)."""
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-") or "part"


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
    values = [_num(row.get(best)) for row in rows] if best else []
    finite = [v for v in values if v is not None]
    target = (max(finite) if higher_is_better else min(finite)) if finite else None
    table_rows = []
    for i, row in enumerate(rows):
        strong = target is not None and values[i] == target
        cells = []
        for key, inner in columns:
            value = row.get(key) if inner is None else (row.get(key) or {}).get(inner)
            cell = num_cell(value, key, strong=strong and key == best)
            spread = _num(row.get(f"{key}_std")) if inner is None else None
            if spread is not None and _num(value) is not None:
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


# ---------------------------------------------------------------- figures


def embed_figure(path: Path, caption: str, problems: list[str]) -> Figure | None:
    """``path`` as a data-URI figure, or None (and a note in ``problems``) when it is not a readable image.

    Figures are numbered later, once the page is laid out, in the order a reader meets them.
    """
    data = _figure_bytes(path)
    if data is None:
        problems.append(f"figure {path.name} is not a readable PNG or JPEG; it is left out")
        return None
    mime = "image/png" if data[:8] == PNG_SIGNATURE else "image/jpeg"
    return Figure(
        path=path,
        caption=caption,
        data_uri=f"data:{mime};base64," + base64.b64encode(data).decode("ascii"),
    )


def figure_block(
    paths: Iterable[Path], caption: Callable[[Path], str], problems: list[str]
) -> Figures | None:
    """A row of figures (those that could be read), or None."""
    figures = [
        figure
        for path in paths
        if (figure := embed_figure(path, caption(path), problems)) is not None
    ]
    return Figures(figures) if figures else None


def _figure_bytes(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not (data[:8] == PNG_SIGNATURE or data[:3] == JPEG_SIGNATURE):
        return None
    return _decoded(data)


def _decoded(data: bytes) -> bytes | None:
    """``data`` if it decodes to the end (a figure cut short by a killed run would show
    broken), downscaled if it is oversized (a 20 MB grid would make the page sluggish)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if len(data) <= MAX_FIGURE_BYTES:
                return data
            image.thumbnail((MAX_FIGURE_SIDE, MAX_FIGURE_SIDE))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG", optimize=True)
            return buffer.getvalue()
    except (OSError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def caption_from_name(path: Path) -> str:
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


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
        series = [_num(row.get(key)) for row in history]
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


# ---------------------------------------------------------------- run parts


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
        order = {"stats": 0, "audit": 1, "balance": 2}
        for data_file in sorted(files, key=lambda d: (order[d.kind], d.label)):
            obj = _read_json(data_file.path, problems, dict)
            if obj is None:
                continue
            render = {"stats": self._stats, "audit": self._audit, "balance": self._balance}[
                data_file.kind
            ]
            try:
                answer = render(obj, data_file, part)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                problems.append(
                    f"{data_file.path.name} has an unexpected layout ({_first_line(exc)}); it is skipped"
                )
                continue
            if answer:
                answers.append(answer)
        part.answer = " ".join(_upper_first(answer) for answer in answers)
        part.blocks[:0] = [Note(text) for text in problems]
        self.notes.extend(f"{folder_label}: {text}" for text in problems)
        return part

    def _stats(self, stats: dict[str, Any], data_file: DataFile, part: Part) -> str:
        rows = stats["rows"]
        splits = stats["splits"]
        train = splits.get("train", {})
        most = max((row.get("train", 0) for row in rows), default=0) or 1
        table_rows = [
            [
                Cell(row["style"]),
                num_cell(row.get("train", 0), bar=row.get("train", 0) / most),
                num_cell(row.get("test", 0)),
            ]
            for row in rows
        ]
        total = [Cell("total", strong=True)] + [
            num_cell(splits.get(s, {}).get("n_images", 0), strong=True) for s in ("train", "test")
        ]
        part.blocks.append(
            Table(
                ["style", "train", "test"],
                table_rows + [total],
                caption=f"Images per style and split ({data_file.path.name}, largest first)",
            )
        )
        facts = []
        for split in ("train", "test"):
            info = splits.get(split) or {}
            if info.get("n_images"):
                facts.append(
                    f"{split}: {info['n_images']:,} images in {info.get('n_styles', '?')} styles, imbalance ratio "
                    f"{_ratio(info.get('imbalance_ratio'))} (largest {info.get('largest')}, smallest {info.get('smallest')})"
                )
        part.blocks.extend(Paragraph(text) for text in facts)
        missing = stats.get("missing_in_test") or []
        notes = [str(note) for note in stats.get("notes") or []]
        # the scan's own notes usually name the missing styles already
        if missing and not any(all(style in note for style in missing) for note in notes):
            part.blocks.append(
                Note(
                    f"styles with no test images: {', '.join(missing)}; their test accuracy cannot be measured",
                    "info",
                )
            )
        part.blocks.extend(Note(note, "info") for note in notes)
        if stats.get("n_skipped"):
            reasons = ", ".join(
                f"{k} {v}" for k, v in (stats.get("skipped_by_reason") or {}).items()
            )
            part.blocks.append(
                Note(f"the scan skipped {stats['n_skipped']} files ({reasons})", "info")
            )
        if not train.get("n_images"):
            return ""
        counts = {row["style"]: row.get("train", 0) for row in rows}
        largest, smallest = train.get("largest"), train.get("smallest")
        answer = (
            f"{train['n_images']:,} training images in {train.get('n_styles')} styles; the largest style "
            f"({largest}, {counts.get(largest, 0):,}) has {_ratio(train.get('imbalance_ratio'))}x the images of the smallest "
            f"({smallest}, {counts.get(smallest, 0):,})."
        )
        if missing:
            answer += f" No test images for {', '.join(missing)}."
        return answer

    def _audit(self, audit: dict[str, Any], data_file: DataFile, part: Part) -> str:
        params = audit.get("params") or {}
        findings = [
            (
                "unreadable",
                "unreadable files",
                "re-download or delete them (training skips them)",
                _member_text,
            ),
            (
                "leakage_exact",
                "exact copies across train/test (groups)",
                "remove the test copy to avoid leakage",
                _group_text,
            ),
            (
                "leakage_near",
                "near copies across train/test (groups)",
                "check by eye; remove the test copy of true copies",
                _group_text,
            ),
            (
                "exact_duplicates",
                "exact duplicates (groups)",
                "keep one file per group",
                _group_text,
            ),
            (
                "near_duplicates",
                "near duplicates (groups)",
                "resized, greyscale or mirrored copies: keep one",
                _group_text,
            ),
            (
                "label_conflicts",
                "pictures filed under two styles",
                "decide which style is right",
                _group_text,
            ),
            (
                "tiny",
                f"tiny images (short side < {params.get('min_side', '?')} px)",
                "drop them or accept blurry upscaling",
                _member_text,
            ),
            (
                "extreme_aspect",
                f"extreme aspect ratios (> {params.get('max_aspect', '?')}:1)",
                "consider --resize letterbox",
                _member_text,
            ),
            (
                "small_styles",
                f"styles with < {params.get('min_style_images', '?')} train images",
                "collect more or merge",
                _style_text,
            ),
            (
                "missing_in_test",
                "train styles missing from test",
                "balanced accuracy averages the others",
                str,
            ),
        ]
        rows = []
        for key, text, action, describe in findings:
            entries = audit.get(key) or []
            if not entries:
                continue
            examples = "; ".join(describe(e) for e in entries[:3]) + (
                f"; … {len(entries) - 3} more" if len(entries) > 3 else ""
            )
            rows.append([Cell(text), num_cell(len(entries)), Cell(examples), Cell(action)])
        n_images = audit.get("n_images") or {}
        caption = f"Audit of {audit.get('root', data_file.path.name)}: " + ", ".join(
            f"{n:,} {s}" for s, n in n_images.items()
        )
        if rows:
            part.blocks.append(
                Table(["finding", "count", "examples", "what to do"], rows, caption=caption)
            )
        else:
            part.blocks.append(Paragraph(caption + ": no problems found."))
        if audit.get("skipped"):
            part.blocks.append(
                Note(
                    f"the scan skipped {len(audit['skipped'])} files (hidden or not images)", "info"
                )
            )
        if not rows:
            return "The audit found no problems."
        counted = [
            (
                len(audit.get("leakage_exact") or []) + len(audit.get("leakage_near") or []),
                "copy group",
                " across train/test (leakage)",
            ),
            (len(audit.get("exact_duplicates") or []), "exact duplicate group", ""),
            (len(audit.get("near_duplicates") or []), "near-duplicate group", ""),
            (len(audit.get("unreadable") or []), "unreadable file", ""),
            (len(audit.get("label_conflicts") or []), "picture", " filed under two styles"),
        ]
        found = [plural(n, noun) + tail for n, noun, tail in counted if n]
        if not found:
            return f"Audit: {len(rows)} minor finding kinds (see the table)."
        return "Audit: " + ", ".join(found) + "."

    def _balance(self, balance: dict[str, Any], data_file: DataFile, part: Part) -> str:
        rows = balance["rows"]
        most = max((row.get("before", 0) for row in rows), default=0) or 1
        table_rows = [
            [
                Cell(row["style"]),
                num_cell(row.get("before"), bar=(row.get("before") or 0) / most),
                num_cell(row.get("after")),
                num_cell(row.get("copies_per_image_max")),
            ]
            for row in rows
        ]
        caption = f"Balance plan to {fmt(balance.get('per_class'))} images per style (target {balance.get('target')}, split {balance.get('split', 'train')})"
        part.blocks.append(
            Table(
                ["style", "before", "after", "max copies of one image"], table_rows, caption=caption
            )
        )
        if "n_before" in balance:
            return (
                f"Balancing to {fmt(balance.get('per_class'))} per style turns {fmt(balance['n_before'])} images into "
                f"{fmt(balance.get('n_after'))} ({plural(balance.get('n_oversampled', 0), 'style')} oversampled, "
                f"{fmt(balance.get('n_undersampled', 0))} undersampled)."
            )
        return ""

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
        render = getattr(self, f"_{kind}", self._unknown)
        try:
            render(run, part)
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            IndexError,
            ZeroDivisionError,
        ) as exc:
            run.problems.append(
                f"part of this run could not be shown ({type(exc).__name__}: {_first_line(exc)})"
            )
        part.answer = _upper_first(part.answer)
        return part

    def finish_run(self, run: Run, part: Part) -> None:
        """Notes, other figures and the run's facts: once per run, in its first part."""
        if run.problems:
            part.blocks[:0] = [Note(text) for text in run.problems]
            self.notes.extend(f"{run.label}: {text}" for text in run.problems)
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

    def _headline(
        self, metrics: dict[str, Any], spec: Sequence[tuple[str, str, str]]
    ) -> Cards | None:
        """Cards for (key, label, context) of ``spec`` that the metrics hold."""
        cards = [
            Card(label, fmt(metrics[key], key), context)
            for key, label, context in spec
            if key in metrics
        ]
        return Cards(cards) if cards else None

    def _other_numbers(self, metrics: dict[str, Any], shown: Iterable[str]) -> None | Details:
        rest = [
            (key, value)
            for key, value in scalar_items(metrics, skip=shown)
            if not (ENVIRONMENT_KEY.match(key) or TIMING_KEY.search(key))
        ]
        table = key_value_table(rest)
        return Details("Other numbers in metrics.json", [table]) if table else None

    def _classifier(self, run: Run, part: Part) -> None:
        metrics = run.metrics
        if metrics is None:
            part.add(no_metrics_note())
            part.blocks.extend(self._curves(run))
            return
        chance = metrics.get("chance_accuracy")
        if chance is None and run.classes:
            chance = 1.0 / len(run.classes)
        majority = metrics.get("majority_baseline_accuracy")
        balanced = metrics.get("balanced_accuracy")
        if _num(balanced) is not None:
            answer = f"Balanced accuracy {short(balanced)}"
            if _num(majority) is not None:
                answer += f" vs majority baseline {short(majority)}"
            if _num(chance) is not None:
                answer += f" (chance {short(chance)})"
            if metrics.get("n_test"):
                answer += f" on {fmt(metrics['n_test'])} test images"
            part.answer = answer + "."
        majority_style = metrics.get("majority_baseline_style")
        cards = [
            Card(
                "accuracy",
                fmt(metrics.get("accuracy"), "accuracy"),
                f"majority baseline {fmt(majority, 'accuracy')}"
                + (f" ({majority_style})" if majority_style else ""),
            ),
            Card(
                "balanced accuracy", fmt(balanced, "accuracy"), f"chance {fmt(chance, 'accuracy')}"
            ),
            Card(
                "macro-F1",
                fmt(metrics.get("macro_f1"), "f1"),
                f"chance ≈ {fmt(chance, 'accuracy')}",
            ),
        ]
        if _num(metrics.get("top3_accuracy")) is not None:
            cards.append(
                Card(
                    "top-3 accuracy",
                    fmt(metrics["top3_accuracy"], "accuracy"),
                    "true style among the 3 best",
                )
            )
        if "n_test" in metrics:
            cards.append(
                Card(
                    "test images",
                    fmt(metrics["n_test"]),
                    f"{fmt(metrics.get('n_styles_in_test', len(run.classes or [])))} styles",
                )
            )
        part.blocks.append(Cards(cards))
        absent = metrics.get("styles_absent_from_test")
        if absent is None and isinstance(metrics.get("per_class"), dict):
            absent = [
                s
                for s, v in metrics["per_class"].items()
                if isinstance(v, dict) and v.get("support") == 0
            ]
        if absent:
            part.blocks.append(
                Note(
                    f"styles absent from the test split: {', '.join(absent)}; they are left out of balanced accuracy and macro-F1",
                    "info",
                )
            )
        copies = _num(metrics.get("n_test_in_train"))
        if copies:
            named = metrics.get("test_in_train") or []
            part.blocks.append(
                Note(
                    f"{plural(int(copies), 'test image')} of {fmt(metrics.get('n_test'))} equal a "
                    "training image pixel for pixel, so these scores partly measure memory"
                    + (
                        f" ({', '.join(map(str, named[:5]))}{', ...' if copies > 5 else ''})"
                        if named
                        else ""
                    )
                    + "; `artstyle data audit` lists the copies to remove"
                )
            )
        classes = run.classes or list((metrics.get("per_class") or {}).keys())
        confusion = figure_block(
            run.claim(r"^confusion(_matrix)?$"),
            lambda p: "Confusion matrix, rows normalised (true style in rows)",
            run.problems,
        )
        if confusion is not None:
            part.blocks.append(confusion)
        elif isinstance(metrics.get("confusion_matrix"), list) and classes:
            table = confusion_table(metrics["confusion_matrix"], classes)
            part.add(table)
        per_class = per_class_table(metrics.get("per_class"))
        part.add(per_class)
        figures = figure_block(
            run.claim(r"^per_?class(_scores)?$"), lambda p: "Per-class scores", run.problems
        )
        part.add(figures)
        part.blocks.extend(self._curves(run))
        shown = {
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "majority_baseline_accuracy",
            "majority_baseline_style",
            "chance_accuracy",
            "top3_accuracy",
            "n_test",
            "n_styles_in_test",
            "styles_absent_from_test",
            "n_test_in_train",
            "test_in_train",
            "per_class",
            "confusion_matrix",
        }
        other = self._other_numbers(metrics, shown)
        part.add(other)

    def _curves(self, run: Run) -> list[Any]:
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

    def _balance_comparison(self, run: Run, part: Part) -> None:
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
        self._comparison_extras(
            run, part, comparison, r"comparison|balance", "Imbalance strategies compared"
        )
        self._children(run, part)

    def _comparison_extras(
        self, run: Run, part: Part, result: Any, figures: str, title: str
    ) -> None:
        """A comparison's figures (file names matching ``figures``) and its other settings."""
        block = figure_block(run.claim(figures), lambda p: title, run.problems)
        part.add(block)
        if isinstance(result, dict):
            extra = key_value_table(scalar_items(result, skip=SENTENCE_KEYS))
            if extra is not None:
                part.blocks.append(Details("Comparison settings", [extra]))

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

    def _autoencoder(self, run: Run, part: Part) -> None:
        metrics = run.metrics
        if metrics is None:
            part.add(no_metrics_note())
        else:
            # baselines the autoencoder must beat: the mean image, and a plain downsample of similar size
            mean_image = _num(metrics.get("baseline_psnr_mean_image"))
            downsampled = _num(metrics.get("baseline_psnr_downsampled"))
            side = metrics.get("baseline_downsampled_side")
            baselines = []
            if mean_image is not None:
                baselines.append(f"mean image {mean_image:.1f} dB")
            if downsampled is not None:
                baselines.append(
                    f"{side} px downsample {downsampled:.1f} dB"
                    if side
                    else f"downsample {downsampled:.1f} dB"
                )
            if _num(metrics.get("psnr")) is not None:
                answer = f"Reconstructions of held-out images reach PSNR {metrics['psnr']:.1f} dB"
                if _num(metrics.get("ssim")) is not None:
                    answer += f" and SSIM {short(metrics['ssim'])}"
                if baselines:
                    answer += f" (baselines: {', '.join(baselines)})"
                part.answer = answer + "."
            cards = self._headline(
                metrics,
                [
                    (
                        "psnr",
                        "PSNR (dB)",
                        "; ".join(baselines) if baselines else "held-out images; higher is better",
                    ),
                    ("ssim", "SSIM", "1 = identical"),
                    ("mse", "MSE", "lower is better"),
                    ("compression_ratio", "compression", "pixel values per latent value"),
                ],
            )
            part.add(cards)
        figures = figure_block(
            run.claim(r"recon"),
            lambda p: "Held-out originals (top) over their reconstructions (bottom)",
            run.problems,
        )
        part.add(figures)
        part.blocks.extend(self._curves(run))
        if metrics is not None:
            other = self._other_numbers(
                metrics,
                {
                    "psnr",
                    "ssim",
                    "mse",
                    "compression_ratio",
                    "baseline_psnr_mean_image",
                    "baseline_psnr_downsampled",
                },
            )
            part.add(other)

    def _clustering(self, run: Run, part: Part) -> None:
        cluster = run.cluster if isinstance(run.cluster, dict) else {}
        scores = cluster.get("scores") if isinstance(cluster.get("scores"), dict) else cluster
        chance = _num(scores.get("nmi_chance"))
        contexts = {
            "nmi": f"chance {fmt(chance, 'nmi')}"
            if chance is not None
            else "0 = unrelated to styles",
            "silhouette": "cluster shape, -1..1",
        }
        score_keys = ("nmi", "ari", "homogeneity", "completeness", "purity", "silhouette")
        cards = self._headline(
            scores, [(k, label_of(k), contexts.get(k, "vs style labels")) for k in score_keys]
        )
        method = METHOD_NAMES.get(
            str(cluster.get("method")).lower(), cluster.get("method") or "clustering"
        )
        k = cluster.get("k") or cluster.get("n_clusters")
        what = cluster.get("kind") or cluster.get("representation")
        setting = method + (f", k={k}" if k else "")
        if what:
            setting += f", {what} vectors"
        if cluster.get("n_points"):
            setting += (
                f" of {fmt(cluster['n_points'])} {cluster.get('split') or ''} images".replace(
                    "  ", " "
                )
            )
        sentence = find_sentence(cluster)
        if not sentence and _num(scores.get("nmi")) is not None:
            sentence = (
                f"NMI {short(scores['nmi'])}"
                + "".join(
                    f", {label_of(key)} {short(scores[key])}"
                    for key in ("ari", "purity")
                    if _num(scores.get(key)) is not None
                )
                + " (0 = no relation to the styles, 1 = the clusters are the styles)."
            )
        if sentence:
            part.answer = f"{sentence.rstrip('.')} ({setting})."
        part.add(cards)
        listed = cluster.get("figures")
        if run.kinds == ["clustering"] and isinstance(listed, list):
            # figures an earlier clustering into this folder left behind are not this one's
            shown = {str(name) for name in listed}
            run.claim_paths(
                p for p in run.figures if p.relative_to(run.path).as_posix() not in shown
            )
        for pattern, caption in (
            (
                r"embedding|style|tsne|pca|umap|projection|scatter",
                "2-D view, points by style (left) and by cluster (right)",
            ),
            (r"contingency|heatmap", "Clusters against styles"),
            (r"sweep|_k$|vs_k", "Scores against the number of clusters k"),
            (r"central|strip|examples|cluster", "The most central images of each cluster"),
        ):
            figures = figure_block(
                run.claim(pattern),
                lambda p, c=caption: f"{c} ({caption_from_name(p).lower()})",
                run.problems,
            )
            part.add(figures)
        folded: list[Any] = []
        sweep = rows_of(cluster.get("sweep") or cluster.get("k_sweep") or [])
        if sweep and (table := rows_table(sweep, caption="Scores for each number of clusters k")):
            folded.append(table)
        clusters = cluster.get("clusters")
        if (
            isinstance(clusters, list)
            and clusters
            and all(isinstance(row, dict) for row in clusters)
        ):
            folded.append(clusters_table(clusters))
        settings = key_value_table(
            (key, value)
            for key, value in scalar_items(cluster)
            if key not in score_keys and key != "verdict"
        )
        if settings is not None:
            folded.append(settings)
        if folded:
            part.blocks.append(Details("Clusters, k sweep and settings", folded))

    def _representations(self, run: Run, part: Part) -> None:
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
            part.blocks.append(
                Note("representations.json holds no table of representations", "info")
            )
        self._comparison_extras(run, part, data, r"represent|compar", "Representations compared")
        # the 2-D views of every representation side by side: the picture the question asks for
        order = [str(row.get("folder") or row.get("representation")) for row in rows]
        children = sorted(
            run.children,
            key=lambda child: (
                order.index(child.path.name) if child.path.name in order else len(order)
            ),
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
        self._children(run, part)

    def _stylizer(self, run: Run, part: Part) -> None:
        metrics = run.metrics
        if metrics is None:
            part.add(no_metrics_note())
        else:
            chance = (
                metrics.get("chance")
                or metrics.get("chance_accuracy")
                or metrics.get("style_hit_chance")
            )
            if chance is None and run.classes:
                chance = 1.0 / len(run.classes)
            hit = metrics.get("style_hit_rate")
            shuffled = _num(metrics.get("shuffled_target_hit_rate"))
            if _num(hit) is not None:
                answer = f"The classifier recognises the requested style in {short(hit)} of stylized images"
                if _num(chance) is not None:
                    answer += f" (chance {short(chance)}"
                    if shuffled is not None:
                        answer += f"; {short(shuffled)} with the targets shuffled"
                    answer += ")"
                if _num(metrics.get("content_ssim")) is not None:
                    answer += f"; content SSIM {short(metrics['content_ssim'])}"
                part.answer = answer + "."
            context = f"chance {fmt(chance, 'rate')}"
            if shuffled is not None:
                context += f", targets shuffled {fmt(shuffled, 'rate')}"
            cards = [Card("style hit rate", fmt(hit, "rate"), context)]
            if "content_ssim" in metrics:
                cards.append(
                    Card(
                        "content SSIM",
                        fmt(metrics["content_ssim"], "ssim"),
                        "stylized vs source; 1 = unchanged",
                    )
                )
            for key in ("psnr", "ssim", "mse"):
                if key in metrics:
                    cards.append(Card(label_of(key), fmt(metrics[key], key), "reconstruction"))
            part.blocks.append(Cards(cards))
        maps = run.claim(r"style_embedding")
        figures = figure_block(
            run.claim(r"grid|styl|transfer|mismatch"),
            lambda p: f"Stylized images ({caption_from_name(p).lower()})",
            run.problems,
        )
        part.add(figures)
        part.add(
            figure_block(
                maps,
                lambda p: (
                    "The learned style embeddings in 2-D (PCA): styles the generator "
                    "treats alike lie close together"
                ),
                run.problems,
            )
        )
        part.blocks.extend(self._curves(run))
        if metrics is not None:
            other = self._other_numbers(
                metrics,
                {
                    "style_hit_rate",
                    "content_ssim",
                    "chance",
                    "chance_accuracy",
                    "psnr",
                    "ssim",
                    "mse",
                },
            )
            part.add(other)

    def _lora(self, run: Run, part: Part) -> None:
        config = run.config or {}
        metrics = run.metrics or {}
        base = config.get("base") or config.get("base_model") or config.get("pretrained")
        facts = [f"rank {config['rank']}"] if "rank" in config else []
        if "resolution" in config:
            facts.append(f"{config['resolution']} px")
        answer = (
            "LoRA" + (f" ({', '.join(facts)})" if facts else "") + (f" on {base}" if base else "")
        )
        first = _num(metrics.get("loss_mean_first_10pct", metrics.get("loss_first")))
        last = _num(metrics.get("loss_mean_last_10pct", metrics.get("loss_last")))
        if first is not None and last is not None:
            answer += f": training loss {fmt(first, 'loss')} → {fmt(last, 'loss')}"
            if metrics.get("steps"):
                answer += f" over {fmt(metrics['steps'])} steps"
        if _num(metrics.get("train_images_per_second")) is not None:
            answer += f", {fmt(metrics['train_images_per_second'], 'per_second')} images/s"
        part.answer = answer + "."
        if LORA_WEIGHTS not in run.files:
            part.blocks.append(
                Note(f"no {LORA_WEIGHTS} in this folder: the run has not saved weights", "info")
            )
        figures = figure_block(
            run.claim(r"style_grid|grid"),
            lambda p: "One prompt and seed across styles, base model beside LoRA",
            run.problems,
        )
        part.add(figures)
        # validation images every N steps: the latest in view, the earlier ones folded
        validation = sorted(run.claim(r"validation|sample"), key=lambda p: p.name)
        if validation:
            latest = figure_block(
                validation[-1:],
                lambda p: f"Validation images, latest ({caption_from_name(p).lower()})",
                run.problems,
            )
            part.add(latest)
            earlier = figure_block(validation[:-1], lambda p: caption_from_name(p), run.problems)
            if earlier is not None:
                part.blocks.append(
                    Details(f"{len(earlier.figures)} earlier validation images", [earlier])
                )
        part.blocks.extend(self._curves(run))
        numbers = key_value_table(
            (key, value)
            for key, value in scalar_items(metrics)
            if not (ENVIRONMENT_KEY.match(key) or TIMING_KEY.search(key))
        )
        if numbers is not None:
            part.blocks.append(Details("Other numbers in metrics.json", [numbers]))

    def _unknown(self, run: Run, part: Part) -> None:
        part.blocks.append(
            Note(
                "the kind of this run could not be recognised; its files are shown as found", "info"
            )
        )
        if run.metrics:
            table = key_value_table(scalar_items(run.metrics), caption="metrics.json")
            part.add(table)
        part.blocks.extend(self._curves(run))


def _flatten(mapping: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Leaves of nested dicts as (dotted key, value)."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _member_text(entry: Any) -> str:
    if isinstance(entry, dict):
        text = str(entry.get("path", entry))
        if "reason" in entry:
            text += f": {entry['reason']}"
        elif "width" in entry:
            text += f": {entry['width']}x{entry.get('height')}"
        elif "aspect" in entry:
            text += f": {entry['aspect']}:1"
        return text
    return str(entry)


def _group_text(group: Any) -> str:
    if isinstance(group, dict) and isinstance(group.get("members"), list):
        members = group["members"]
        text = " = ".join(
            str(m.get("path", m)) if isinstance(m, dict) else str(m) for m in members[:3]
        )
        return text + (" …" if len(members) > 3 else "")
    return str(group)


def _style_text(entry: Any) -> str:
    if isinstance(entry, dict) and "style" in entry:
        return f"{entry['style']} ({entry.get('n_train', '?')})"
    return str(entry)


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
        recall = _num(values.get("recall"))
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


def comparison_sentence(rows: list[dict[str, Any]], key: str) -> str:
    named = [
        (
            str(row.get("strategy") or row.get("name") or row.get("balance") or "?"),
            _num(row.get(key)),
        )
        for row in rows
    ]
    named = [(name, value) for name, value in named if value is not None]
    if not named:
        return ""
    best_name, best_value = max(named, key=lambda nv: nv[1])
    none_value = next((value for name, value in named if name == "none"), None)
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
            _num(row.get(key)),
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


# ---------------------------------------------------------------- assembling the report


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


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _first_answer(parts: list[Part]) -> str:
    return next((part.answer for part in parts if part.answer), "")


def _section_answer(anchor: str, parts: list[Part], runs: list[Run]) -> str:
    """The first answer of each kind of part; with several classifiers, the best one's."""
    answers: dict[str, str] = {}
    for part in parts:
        if part.answer:
            answers.setdefault(part.kind, part.answer)
    scored = [
        run
        for run in runs
        if "classifier" in run.kinds
        and _num((run.metrics or {}).get("balanced_accuracy")) is not None
    ]
    if anchor == "classifier" and len(scored) > 1:
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
            answers["classifier"] = (
                f"Best of {len(scored)} classifier runs ({best.label}): " + _lower_first(answer)
            )
    return " ".join(answers.values())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _version() -> str:
    try:
        return metadata.version("artstyle")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["breakable"] = _breakable
    env.filters["md_cell"] = md_cell
    env.filters["md_text"] = md_text
    env.filters["md_code"] = md_code
    env.filters["md_fence"] = md_fence
    return env


def _template(name: str, *, html: bool) -> jinja2.Template:
    text = resources.files("artstyle.report").joinpath(name).read_text(encoding="utf-8")
    env = _environment()
    env.autoescape = html
    return env.from_string(text)


def render_html(report: Report) -> str:
    """The self-contained page."""
    return _template("template.html.j2", html=True).render(report=report)


def render_markdown(report: Report, markdown_path: str | os.PathLike) -> str:
    """The markdown twin; figure links are relative to ``markdown_path``'s folder."""
    folder = Path(markdown_path).resolve().parent
    for figure in report.figures:
        figure.md_src = _relative_url(figure.path, folder)
    return _template("template.md.j2", html=False).render(report=report)


def _relative_url(path: Path, folder: Path) -> str:
    try:
        relative = os.path.relpath(path.resolve(), folder)
    except ValueError:  # another drive on Windows
        relative = str(path.resolve())
    # the file name's own bytes, percent-encoded: a name that is not UTF-8 still resolves
    return quote(os.fsencode(Path(relative).as_posix()))


def _breakable(text: Any) -> markupsafe.Markup:
    """Escaped text that may wrap after underscores (long style names in narrow columns)."""
    return markupsafe.Markup("_<wbr>").join(
        markupsafe.escape(part) for part in str(text).split("_")
    )


def build_report(
    paths: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    markdown: str | os.PathLike | None = None,
    title: str | None = None,
) -> ReportSummary:
    """Write the HTML report of every run under ``paths`` to ``out`` (and its markdown twin).

    Example: artstyle report demo-out --out demo-out/report.html --markdown demo-out/REPORT.md
    """
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".html", ".htm"):
        raise ArtstyleError(f"--out {out} must end in .html")
    if out.is_dir():
        raise ArtstyleError(f"--out {out} is a folder; give a file name ending in .html")
    markdown_path = None if markdown is None else Path(markdown).expanduser()
    if markdown_path is not None:
        if markdown_path.is_dir():
            raise ArtstyleError(
                f"--markdown {markdown_path} is a folder; give a file name ending in .md"
            )
        if markdown_path.resolve() == out.resolve():
            raise ArtstyleError(
                f"--markdown and --out are both {out}; give the markdown twin its own name (.md)"
            )
    report = collect(paths, title=title)
    # a file name need not be UTF-8 (Python holds such bytes as lone surrogates): "?" here
    page = render_html(report).encode("utf-8", errors="replace")
    if markdown_path is None:
        write_bytes(out, page)
    else:
        text = render_markdown(report, markdown_path).encode("utf-8", errors="replace")
        # both written before either is renamed into place: a markdown path that cannot be
        # written leaves the previous page as it was
        with atomic_path(out) as page_tmp, atomic_path(markdown_path) as text_tmp:
            page_tmp.write_bytes(page)
            text_tmp.write_bytes(text)
    return ReportSummary(
        out=out,
        markdown=markdown_path,
        n_runs=report.n_runs,
        n_figures=len(report.figures),
        n_bytes=len(page),
        sections=[section.title for section in report.sections],
        notes=report.notes,
    )
