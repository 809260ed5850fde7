"""Captions of training images and prompts for sampling, made from style folder names and artist slugs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artstyle.config import LoraConfig

# ---------------------------------------------------------------- captions and prompts


def style_text(style: str) -> str:
    """Folder name -> words: ``Post_Impressionism`` -> ``Post Impressionism``."""
    return " ".join(style.replace("_", " ").split())


def artist_text(slug: str) -> str:
    """WikiArt artist slug -> name: ``claude-monet`` -> ``Claude Monet``."""
    return " ".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part)


def caption_for(style: str, artist: str | None, config: LoraConfig) -> str:
    """The training caption of one image."""
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
