"""Small helpers for the sentences artstyle prints and writes, and for the names users type."""

from __future__ import annotations

from collections.abc import Sequence

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
