"""Label issues (`artstyle data label-issues DATA --out issues.json`) -> the Dataset section's blocks.

Reads issues.json and the thumbnail sheet beside it (its ``sheet`` key); nothing is recomputed.
"""

from __future__ import annotations

from typing import Any

from artstyle.report.blocks import Cell, Note, Paragraph, Part, Table
from artstyle.report.figures import figure_block
from artstyle.report.read import DataFile
from artstyle.report.tables import num_cell
from artstyle.report.wording import fmt
from artstyle.text import plural

N_LISTED = 15  # issues listed in the table; the sheet and the JSON hold more


def label_issues_part(issues: dict[str, Any], data_file: DataFile, part: Part) -> str:
    """The count and method, the top issues, the styles most flagged and the sheet; returns the answer."""
    n_images, n_flagged = int(issues["n_images"]), int(issues["n_flagged"])
    share = 100 * n_flagged / n_images if n_images else 0.0
    part.blocks.append(
        Paragraph(
            f"Label issues ({data_file.path.name}): {plural(n_flagged, 'training image')} of "
            f"{n_images:,} ({share:.1f}%) are probably filed under the wrong style, by confident "
            f"learning (cleanlab, {issues.get('filter_by', 'prune_by_noise_rate')}) on out-of-fold "
            f"probabilities: {issues.get('method', '?')}, seed {issues.get('seed', '?')}; "
            f"out-of-fold accuracy {fmt(issues.get('out_of_fold_accuracy'))}."
        )
    )
    accuracy = issues.get("out_of_fold_accuracy")
    if isinstance(accuracy, int | float) and accuracy < 0.7:
        part.blocks.append(
            Note(
                f"the fold models are right on {100 * accuracy:.0f}% of the images they did not "
                "see: many flags are their mistakes, not the labels'. Read the list as images "
                "to look at, most suspicious first, not as a count of label errors",
                "info",
            )
        )
    rows = issues.get("issues") or []
    if rows:
        part.blocks.append(
            Table(
                ["#", "file", "given style", "p(given)", "suggested style", "p(suggested)"],
                [
                    [
                        num_cell(row.get("rank")),
                        Cell(str(row["file"])),
                        Cell(str(row["given_style"])),
                        num_cell(row.get("self_confidence")),
                        Cell(str(row["suggested_style"])),
                        num_cell(row.get("suggested_probability")),
                    ]
                    for row in rows[:N_LISTED]
                ],
                caption=f"The {min(N_LISTED, len(rows))} most likely label errors (lowest "
                "probability of the given style first)",
            )
        )
    per_style = [row for row in issues.get("per_style") or [] if row.get("n_flagged")]
    if per_style:
        part.blocks.append(
            Table(
                ["style", "flagged", "images", "share"],
                [
                    [
                        Cell(str(row["style"])),
                        num_cell(row["n_flagged"]),
                        num_cell(row.get("n_images")),
                        Cell(f"{100 * float(row.get('share', 0)):.1f}%", numeric=True),
                    ]
                    for row in per_style
                ],
                caption="Flagged images per given style",
                compact=True,
            )
        )
    sheet = issues.get("sheet")
    if sheet:
        problems: list[str] = []
        block = figure_block(
            [data_file.path.parent / sheet],
            lambda p: "Top label issues: given style (its probability) -> suggested style",
            problems,
        )
        if block is not None:
            part.blocks.append(block)
        part.blocks.extend(Note(text) for text in problems)
    if not n_flagged:
        return "Confident learning flags no training image as filed under the wrong style."
    top = per_style[0]["style"] if per_style else "?"
    return (
        f"Confident learning flags {plural(n_flagged, 'training image')} ({share:.1f}%) as "
        f"probably filed under the wrong style, most of them in {top}."
    )
