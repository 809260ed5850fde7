"""Captions of training images and prompts for sampling: style folder names, artist slugs, or an image's own caption.

An image's own caption comes from ``IMAGE.txt`` beside it or from a row of
``captions.csv`` at the data folder's root, as kohya-ss sd-scripts and
OneTrainer read them; each draw of an image may then drop its caption or
shuffle its comma-separated tags (kohya's ``caption_dropout_rate``,
``shuffle_caption`` and ``keep_tokens``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from artstyle.config import LoraConfig
from artstyle.errors import ArtstyleError

if TYPE_CHECKING:  # pragma: no cover
    from artstyle.data.scan import Item

CAPTIONS_CSV = "captions.csv"  # at the data folder's root: columns file,caption

# ---------------------------------------------------------------- captions and prompts


def style_text(style: str) -> str:
    """Folder name -> words: ``Post_Impressionism`` -> ``Post Impressionism``."""
    return " ".join(style.replace("_", " ").split())


def artist_text(slug: str) -> str:
    """WikiArt artist slug -> name: ``claude-monet`` -> ``Claude Monet``."""
    return " ".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part)


def caption_for(style: str, artist: str | None, config: LoraConfig) -> str:
    """The training caption of one image made from its style (and artist)."""
    if artist and config.artist_caption:
        return config.artist_caption.format(style=style_text(style), artist=artist_text(artist))
    return config.caption.format(style=style_text(style), artist="")


def prompt_for(style: str, prompt: str | None, config: LoraConfig) -> str:
    """The sampling prompt: the style caption, plus a subject.

    A ``prompt`` holding ``{style}`` is filled in and used as it is; any other
    prompt is appended to the caption ("a painting in the Rococo style, a harbour at dawn").
    """
    caption = config.caption.format(style=style_text(style), artist="")
    if not prompt:
        return caption
    if "{style}" in prompt:
        return prompt.replace("{style}", style_text(style))
    return f"{caption}, {prompt}"


def default_validation_styles(classes: Sequence[str], n: int = 4) -> list[str]:
    """Up to ``n`` styles spread evenly over the sorted class list."""
    if len(classes) <= n:
        return list(classes)
    positions = np.linspace(0, len(classes) - 1, n).round().astype(int)
    return [classes[i] for i in positions]


# ---------------------------------------------------------------- captions per image


def training_captions(
    items: Sequence[Item], *, root: Path, every_item: Sequence[Item], config: LoraConfig
) -> tuple[list[str], int]:
    """One caption per item, and how many of them are the images' own.

    With ``captions="auto"`` an image's own caption (``.txt`` beside it, else
    its ``captions.csv`` row) replaces the style caption; ``"style"`` ignores
    both. ``every_item`` is the whole data set, which the CSV's rows may name.
    """
    templates = [caption_for(item.style, item.artist, config) for item in items]
    if config.captions == "style":
        return templates, 0
    table_path = root / CAPTIONS_CSV
    table = (
        read_captions_csv(table_path, {data_path(item, root) for item in every_item})
        if table_path.is_file()
        else {}
    )
    captions = []
    n_own = 0
    for item, template in zip(items, templates, strict=True):
        # the .txt beside an image wins over its captions.csv row
        beside = Path(item.source).with_suffix(".txt") if item.row < 0 else None
        if beside is not None and beside.is_file():
            own: str | None = read_caption_file(beside)
        else:
            own = table.get(data_path(item, root))
        n_own += own is not None
        captions.append(own if own is not None else template)
    return captions, n_own


def data_path(item: Item, root: Path) -> str:
    """An item's name in ``captions.csv``: its file relative to the data folder (``train/Baroque/a.jpg``)."""
    if item.row >= 0:  # a parquet row has no file of its own
        return item.rel
    return Path(os.path.relpath(item.source, root)).as_posix()


def _utf8_text(path: Path, name: str) -> str:
    """The text of ``path`` (UTF-8, a byte-order mark dropped); ``name`` says what it is in errors."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArtstyleError(
            f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise ArtstyleError(f"cannot read {name}: {exc.strerror}") from exc


def read_caption_file(path: Path) -> str:
    """The one-line caption in ``path`` (UTF-8, stripped); an empty or unreadable file is an error."""
    lines = _utf8_text(path, f"caption file {path}").strip().splitlines()
    if not lines:
        raise ArtstyleError(
            f"caption file {path} is empty; write the image's caption in it, or delete it "
            "to train the image with its style caption"
        )
    if len(lines) > 1:
        raise ArtstyleError(
            f"caption file {path} holds {len(lines)} lines; write its caption on one line"
        )
    return lines[0].strip()


def read_captions_csv(path: Path, known: set[str]) -> dict[str, str]:
    """``captions.csv`` (header row with ``file`` and ``caption``) -> {file: caption}.

    Every row must name an image of the data set (``known``: paths relative to
    the data folder) once, with a caption; a bad row is an error naming it.
    """
    reader = csv.reader(io.StringIO(_utf8_text(path, str(path)), newline=""))
    try:
        return _caption_rows(reader, path, known)
    except csv.Error as exc:
        raise ArtstyleError(f"{path}:{reader.line_num}: unreadable CSV row: {exc}") from exc


def _caption_rows(reader, path: Path, known: set[str]) -> dict[str, str]:
    """The rows of a ``csv.reader`` over ``path``, checked (see :func:`read_captions_csv`)."""
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in ("file", "caption") if name not in header]
    if missing:
        raise ArtstyleError(
            f"{path}:1: no column {' or '.join(missing)} (header: {','.join(header) or 'empty'}); "
            "the first row must name the columns file,caption"
        )
    file_column, caption_column = header.index("file"), header.index("caption")
    captions: dict[str, str] = {}
    first_line: dict[str, int] = {}
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        where = f"{path}:{start}"
        cells = row + [""] * (len(header) - len(row))
        name = cells[file_column].strip().replace("\\", "/").removeprefix("./")
        caption = cells[caption_column].strip()
        if name not in known:
            raise ArtstyleError(
                f"{where}: {name or '(no file)'} is no image of the data set; "
                f"name files relative to {path.parent} (e.g. {min(known)})"
            )
        if name in captions:
            raise ArtstyleError(
                f"{where}: {name} has a caption already (line {first_line[name]}); keep one row per image"
            )
        if not caption:
            raise ArtstyleError(f"{where}: {name} has an empty caption; write one or drop the row")
        if len(caption.splitlines()) > 1:
            raise ArtstyleError(f"{where}: {name} has a caption of several lines; write it on one")
        captions[name] = caption
        first_line[name] = start
    return captions


def vary_caption(
    caption: str,
    rng: np.random.Generator,
    *,
    dropout: float = 0.0,
    shuffle_tags: bool = False,
    keep_tokens: int = 0,
) -> str:
    """The caption one draw of an image is trained with (kohya's ``process_caption``).

    With probability ``dropout`` it is empty, which trains the unconditional
    prediction that classifier-free guidance subtracts (Ho & Salimans 2022).
    With ``shuffle_tags`` its comma-separated tags are shuffled, the first
    ``keep_tokens`` of them staying in front (kohya's keep_tokens counts tags).
    """
    if dropout and rng.random() < dropout:
        return ""
    if not shuffle_tags:
        return caption
    tags = [tag.strip() for tag in caption.strip().split(",")]
    kept, rest = tags[:keep_tokens], tags[keep_tokens:]
    return ", ".join(kept + [rest[i] for i in rng.permutation(len(rest))])
