"""The style -> painter table and :func:`paint`, which turns one painter's canvas into uint8 RGB.

The painters themselves live by family in painters_brushwork.py (strokes, dots,
drips), painters_scenes.py (lit scenes and figures) and painters_flat.py (flat
areas, planes, outlines).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from artstyle.data.synthetic.painters_brushwork import (
    paint_abstract_expressionism,
    paint_action_painting,
    paint_expressionism,
    paint_fauvism,
    paint_impressionism,
    paint_pointillism,
    paint_post_impressionism,
)
from artstyle.data.synthetic.painters_flat import (
    paint_analytical_cubism,
    paint_art_nouveau_modern,
    paint_color_field_painting,
    paint_cubism,
    paint_minimalism,
    paint_naive_art_primitivism,
    paint_pop_art,
    paint_synthetic_cubism,
    paint_ukiyo_e,
)
from artstyle.data.synthetic.painters_scenes import (
    paint_baroque,
    paint_contemporary_realism,
    paint_early_renaissance,
    paint_high_renaissance,
    paint_mannerism_late_renaissance,
    paint_new_realism,
    paint_northern_renaissance,
    paint_realism,
    paint_rococo,
    paint_romanticism,
    paint_symbolism,
)
from artstyle.data.synthetic.styles import DEFAULT_SIZE, STYLES
from artstyle.errors import ArtstyleError

# ====================================================================== painters
#
# Each painter takes (rng, h, w) and returns float32 RGB (h, w, 3), roughly in [0, 1].
# Lengths are fractions of the short side so a style looks the same at any --size.


PAINTERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "Abstract_Expressionism": paint_abstract_expressionism,
    "Action_painting": paint_action_painting,
    "Analytical_Cubism": paint_analytical_cubism,
    "Art_Nouveau_Modern": paint_art_nouveau_modern,
    "Baroque": paint_baroque,
    "Color_Field_Painting": paint_color_field_painting,
    "Contemporary_Realism": paint_contemporary_realism,
    "Cubism": paint_cubism,
    "Early_Renaissance": paint_early_renaissance,
    "Expressionism": paint_expressionism,
    "Fauvism": paint_fauvism,
    "High_Renaissance": paint_high_renaissance,
    "Impressionism": paint_impressionism,
    "Mannerism_Late_Renaissance": paint_mannerism_late_renaissance,
    "Minimalism": paint_minimalism,
    "Naive_Art_Primitivism": paint_naive_art_primitivism,
    "New_Realism": paint_new_realism,
    "Northern_Renaissance": paint_northern_renaissance,
    "Pointillism": paint_pointillism,
    "Pop_Art": paint_pop_art,
    "Post_Impressionism": paint_post_impressionism,
    "Realism": paint_realism,
    "Rococo": paint_rococo,
    "Romanticism": paint_romanticism,
    "Symbolism": paint_symbolism,
    "Synthetic_Cubism": paint_synthetic_cubism,
    "Ukiyo_e": paint_ukiyo_e,
}


def paint(
    style: str, rng: np.random.Generator, size: tuple[int, int] = (DEFAULT_SIZE, DEFAULT_SIZE)
) -> np.ndarray:
    """One procedural painting of ``style`` as uint8 RGB of shape (h, w, 3).

    Example: ``paint("Pointillism", np.random.default_rng(0), size=(96, 120))``
    """
    if style not in PAINTERS:
        raise ArtstyleError(f"unknown style {style!r}; choose one of: {', '.join(STYLES)}")
    h, w = (int(v) for v in size)
    if h < 8 or w < 8:
        raise ArtstyleError(f"image size must be at least 8x8 px, got {h}x{w}")
    image = np.asarray(PAINTERS[style](rng, h, w), np.float32)
    # a per-image varnish: slight tint and gamma, so even the same palette never repeats exactly
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    gamma = rng.uniform(0.85, 1.15)
    image = np.clip(image * tint, 0, 1) ** gamma
    return (image * 255 + 0.5).astype(np.uint8)
