"""`artstyle report`: one HTML page (and optional markdown) from run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from artstyle.cli.app import JsonOpt, app, console, print_json, print_plain
from artstyle.text import plural


@app.command("report")
def report(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders, or folders that hold runs and data summaries (searched recursively)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The HTML file to write (one self-contained page).")
    ] = Path("report.html"),
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown", help="Also write a markdown twin (figures linked by relative path)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One self-contained HTML page (and optional markdown) from run folders; loads no model.

    Example: artstyle report demo-out --out demo-out/report.html --markdown demo-out/REPORT.md
    """
    from artstyle.report import build_report

    summary = build_report(runs, out=out, markdown=markdown, title=title)
    if as_json:
        print_json(
            {
                "out": str(summary.out),
                "markdown": str(summary.markdown) if summary.markdown else None,
                "n_runs": summary.n_runs,
                "n_figures": summary.n_figures,
                "bytes": summary.n_bytes,
                "sections": list(summary.sections),
                "notes": list(summary.notes),
            }
        )
        return
    print_plain(
        f"wrote {summary.out} ({plural(summary.n_runs, 'run')}, {plural(summary.n_figures, 'figure')}, "
        f"{summary.n_bytes / 1e6:.1f} MB; "
        f"sections: {', '.join(summary.sections)})"
    )
    if summary.markdown:
        print_plain(f"wrote {summary.markdown}")

    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
