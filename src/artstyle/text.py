"""Small helpers for the sentences artstyle prints and writes."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an "s" unless n is 1: "1 group", "2 groups", "1,200 images"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
