"""The blocks the templates render: tables, figures, notes, cards, folded details, and
the parts, sections and report that hold them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


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
class Link:
    """A file beside the report (an interactive map), linked by a path relative to the page."""

    path: Path
    text: str
    caption: str = ""
    href: str = ""  # set when the page's own location is known; else the file's URI
    md_src: str = ""
    type: ClassVar[str] = "link"

    @property
    def url(self) -> str:
        return self.href or self.path.resolve().as_uri()


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
