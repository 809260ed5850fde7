"""A :class:`Report` -> the self-contained HTML page (template.html.j2) and its markdown
twin (template.md.j2), written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import markupsafe

from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path, write_bytes
from artstyle.report.blocks import Details, Link, Report, ReportSummary
from artstyle.report.collect import collect
from artstyle.text import md_cell, md_code, md_fence, md_text


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
    for link in links(report):
        link.md_src = _relative_url(link.path, folder)
    return _template("template.md.j2", html=False).render(report=report)


def _relative_url(path: Path, folder: Path) -> str:
    try:
        relative = os.path.relpath(path.resolve(), folder)
    except ValueError:  # another drive on Windows
        relative = str(path.resolve())
    # the file name's own bytes, percent-encoded: a name that is not UTF-8 still resolves
    return quote(os.fsencode(Path(relative).as_posix()))


def links(report: Report) -> list[Link]:
    """Every :class:`Link` block of the report, folded ones included."""
    found: list[Link] = []

    def visit(blocks: list[Any]) -> None:
        for block in blocks:
            if isinstance(block, Link):
                found.append(block)
            elif isinstance(block, Details):
                visit(block.blocks)

    for section in report.sections:
        for part in section.parts:
            visit(part.blocks)
    return found


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
    # relative to the page: report and runs copied together keep their links
    for link in links(report):
        link.href = _relative_url(link.path, out.resolve().parent)
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
