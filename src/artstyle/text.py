"""Small helpers for the sentences artstyle prints and writes, and for the names users type."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from artstyle.errors import ArtstyleError


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an "s" unless n is 1: "1 group", "2 groups", "1,200 images"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def resolve_style(
    name: str, classes: Sequence[str], *, among: str = "the run was trained on"
) -> str:
    """``name`` as spelled in ``classes`` (case, spaces, dashes and underscores ignored):
    "post impressionism" finds "Post_Impressionism"; an unknown or ambiguous name is an
    ArtstyleError that lists the styles."""
    if name in classes:
        return name

    def key(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    matches = [style for style in classes if key(style) == key(name)]
    if len(matches) == 1:
        return matches[0]
    raise ArtstyleError(f"style {name!r} is not one {among}; choose from: {', '.join(classes)}")


# markdown: names from users' folders and files (styles, runs, config values) are shown as
# text: HTML in them is not rendered and markdown marks in them stay literal
_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "[": "\\[",
        "]": "\\]",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\n": " ",
    }
)


def md_text(text: Any) -> str:
    return str(text).translate(_MD_ESCAPES)


def md_cell(text: Any) -> str:
    return md_text(text).replace("|", "\\|")


def md_fence(text: Any, least: int = 1) -> str:
    """Backticks enough to open a code span (1) or block (3) around ``text``, which may hold some."""
    longest = max((len(run) for run in re.findall(r"`+", str(text))), default=0)
    return "`" * max(least, longest + 1)


def md_code(text: Any) -> str:
    """``text`` as an inline code span, literal whatever backticks it holds."""
    text = str(text).replace("\n", " ")
    fence = md_fence(text)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def time_cap_sentence(metrics: dict[str, Any], epochs_asked: int | None = None) -> str | None:
    """The plain-words warning for a run that ``--max-minutes`` cut short (``stopped: time`` in
    its metrics.json), else None. Its numbers depend on the machine's speed that day."""
    if metrics.get("stopped") != "time":
        return None
    run = metrics.get("epochs_run")
    asked = f" of the {epochs_asked} asked for" if epochs_asked else ""
    return (
        f"stopped by its --max-minutes cap after {run} epochs{asked}: these numbers come from a "
        "shortened run and depend on how fast the machine was; rerun without --max-minutes "
        "for numbers that repeat"
    )
