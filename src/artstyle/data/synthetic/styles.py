"""The 27 course styles and how many images of each the synthetic set holds.

Counts follow the course's training proportions (times ``scale``), with a test
split of about a fifth per style that lacks Action_painting, like the course.
"""

from __future__ import annotations

import math

from artstyle.errors import ArtstyleError

# Approximate per-style image counts of the full WikiArt collection.
WIKIART_COUNTS: dict[str, int] = {
    "Impressionism": 13060, "Realism": 10733, "Romanticism": 7019, "Expressionism": 6736,
    "Post_Impressionism": 6450, "Symbolism": 4528, "Art_Nouveau_Modern": 4334, "Baroque": 4240,
    "Abstract_Expressionism": 2782, "Northern_Renaissance": 2552, "Naive_Art_Primitivism": 2405,
    "Cubism": 2235, "Rococo": 2089, "Color_Field_Painting": 1615, "Pop_Art": 1483,
    "Early_Renaissance": 1391, "High_Renaissance": 1343, "Minimalism": 1337,
    "Mannerism_Late_Renaissance": 1279, "Ukiyo_e": 1167, "Fauvism": 934, "Pointillism": 513,
    "Contemporary_Realism": 481, "New_Realism": 314, "Synthetic_Cubism": 216,
    "Analytical_Cubism": 110, "Action_painting": 98,
}  # fmt: skip

# An approximation of the course's training split (~13k images, 27 styles): the
# WikiArt counts above scaled so that Impressionism has the course's 2269
# images (round half up), with Analytical_Cubism pinned to the course's 15.
COURSE_TRAIN_COUNTS: dict[str, int] = {
    "Abstract_Expressionism": 483, "Action_painting": 17, "Analytical_Cubism": 15,
    "Art_Nouveau_Modern": 753, "Baroque": 737, "Color_Field_Painting": 281,
    "Contemporary_Realism": 84, "Cubism": 388, "Early_Renaissance": 242, "Expressionism": 1170,
    "Fauvism": 162, "High_Renaissance": 233, "Impressionism": 2269,
    "Mannerism_Late_Renaissance": 222, "Minimalism": 232, "Naive_Art_Primitivism": 418,
    "New_Realism": 55, "Northern_Renaissance": 443, "Pointillism": 89, "Pop_Art": 258,
    "Post_Impressionism": 1121, "Realism": 1865, "Rococo": 363, "Romanticism": 1219,
    "Symbolism": 787, "Synthetic_Cubism": 38, "Ukiyo_e": 203,
}  # fmt: skip

# The 27 style folder names as the course spells them, sorted (= the class map).
STYLES: tuple[str, ...] = tuple(sorted(COURSE_TRAIN_COUNTS))
# Like the course data, the test split has no Action_painting.
STYLES_MISSING_IN_TEST = frozenset({"Action_painting"})
# 0.2 gives ~2.8k training images (3 for Analytical_Cubism), enough for the
# demo classifier to learn every style within minutes on a CPU.
DEMO_SCALE = 0.2
# Short side in pixels; the other side is 1.08-1.33x longer (3:4 to 4:3 around it).
DEFAULT_SIZE = 96
DEFAULT_TEST_FRACTION = 0.2
MIN_TRAIN_PER_STYLE = 2


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def synth_counts(
    scale: float = DEMO_SCALE, *, test_fraction: float = DEFAULT_TEST_FRACTION
) -> dict[str, dict[str, int]]:
    """Images per style and split: course proportions times ``scale``.

    Train gets at least 2 per style; test gets ``test_fraction`` of train
    (at least 1), except Action_painting, which the course test split lacks.
    """
    _check_scale(scale)
    _check_test_fraction(test_fraction)
    train = {
        style: max(MIN_TRAIN_PER_STYLE, _round_half_up(COURSE_TRAIN_COUNTS[style] * scale))
        for style in STYLES
    }
    test = {
        style: 0 if style in STYLES_MISSING_IN_TEST else max(1, _round_half_up(n * test_fraction))
        for style, n in train.items()
    }
    return {"train": train, "test": test}


def _check_scale(scale: float) -> None:
    if not (isinstance(scale, int | float) and math.isfinite(scale) and 0 < scale <= 100):
        raise ArtstyleError(f"--scale must be a number above 0 (1 = course size), got {scale!r}")


def _check_test_fraction(test_fraction: float) -> None:
    if not (isinstance(test_fraction, int | float) and 0 < test_fraction < 1):
        raise ArtstyleError(
            f"--test-fraction must be between 0 and 1 (exclusive), got {test_fraction!r}"
        )
