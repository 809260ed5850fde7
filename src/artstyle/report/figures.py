"""Figure files -> figures embedded in the page as base64 data URIs."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from artstyle.data.images import checked_image_bytes
from artstyle.report.blocks import Figure, Figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# A figure larger than this is downscaled before it is embedded, to keep the page light.
MAX_FIGURE_BYTES = 3_000_000
MAX_FIGURE_SIDE = 1800


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
    # decoded to the end (a figure cut short by a killed run would show broken) and
    # downscaled when oversized (a 20 MB grid would make the page sluggish)
    return checked_image_bytes(data, MAX_FIGURE_BYTES, MAX_FIGURE_SIDE)


def caption_from_name(path: Path) -> str:
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name
