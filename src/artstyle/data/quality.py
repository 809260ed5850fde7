"""Image-quality checks: too dark, too light, blurry, low information (near-blank), greyscale.

The definitions follow cleanvision's image-property issue managers (cleanlab's image auditor,
``cleanvision/issue_managers/image_property.py`` and ``image_property_issue_manager.py``),
score for score and threshold for threshold; a score below its threshold is an issue:

* **dark**: the 99th percentile of perceived brightness, ``sqrt(0.241 R^2 + 0.691 G^2 +
  0.068 B^2) / 255`` per pixel (the HSP colour model): even the brightest 1% of the picture
  is dim. Flagged below 0.37.
* **light**: 1 - the 5th percentile of the same brightness: even the darkest 5% is nearly
  white. Flagged below 0.05.
* **blurry**: ``1 - exp(-0.01 * sd)``, where ``sd`` is the standard deviation of the 3x3
  edge filter (8 x centre - the 8 neighbours, clipped to 0..255, Pillow's FIND_EDGES) over
  the greyscale picture (ITU-R 601 luma, Pillow's "L"). Flagged below 0.17. A dark picture
  has faint edges anyway; as in cleanvision, an image flagged dark gets ``1 - dark score``
  added to its blur score, so it is called dark rather than blurry too.
* **low information**: ``0.1 x`` the entropy in bits of the 256-bin greyscale histogram,
  capped at 1. Flagged below 0.3, i.e. under 3 bits: a blank or near-blank scan.
* **greyscale**: cleanvision flags files whose mode is "L". The audit sees every picture
  converted to RGB, so here it is the colour channels that are equal: the score is the 99th
  percentile over pixels of ``max(R, G, B) - min(R, G, B)``, flagged at most
  :data:`GREY_SPREAD` (of 255). A greyscale file scores 0; a grey picture stored as colour
  JPEG keeps a little chroma noise and still passes under the tolerance; a sepia print does
  not (its channels differ).

Where ours differ from cleanvision's:

* the numbers are computed on the image the audit decodes anyway for its perceptual hashes
  (a JPEG is decoded at the smallest DCT scale whose short side is >= 64 px, so a 224 px
  WikiArt file is measured at 112 px), reduced by whole-pixel block means to at most
  :data:`MAX_SIDE` px a side, where cleanvision blurs on a thumbnail of at most 256 px and
  measures brightness and entropy on the full image. Edges are steeper on a smaller image,
  so the blur check is, if anything, more lenient here;
* letterbox bars (outer rows and columns of one level near black or white, what resizing
  into a square canvas leaves) are not painting and are left out of every number; cleanvision
  counts them, which hides a near-white painting behind its black bars from the light check;
* the edge filter is taken over the inner pixels only (Pillow copies the outermost ring);
* entropy is that of the greyscale histogram (Pillow's ``Image.entropy`` of an RGB image
  pools the three channel histograms).

``image_properties`` is pure numpy on a uint8 (H, W, 3) array, so it also measures the rows of
a decoded cache (``quality_issues(image_properties(row) for row in cached.images)``) without
decoding anything again.

    artstyle data audit DATA --out audit.json     # the quality findings are in the audit
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any

import numpy as np

# cleanvision's defaults (ImagePropertyIssueManager.get_default_params).
DARK_THRESHOLD = 0.37
LIGHT_THRESHOLD = 0.05
BLURRY_THRESHOLD = 0.17
BLUR_NORMALIZER = 0.01
LOW_INFORMATION_THRESHOLD = 0.3
ENTROPY_NORMALIZER = 0.1
# Ours: the channel spread (of 255) that a greyscale picture stored as colour JPEG keeps.
GREY_SPREAD = 2.0
# cleanvision's MAX_RESOLUTION_FOR_BLURRY_DETECTION: larger images are reduced first.
MAX_SIDE = 256
# A letterbox bar: an outer line whose pixels all lie within this of one level that is
# itself this close to black or white (JPEG ringing keeps a bar a few levels off).
_BAR_SPREAD = 12
_BAR_EDGE = 24
_BAR_MAX_SHARE = 0.45

QUALITY_ISSUES = ("dark", "light", "blurry", "low_information", "grayscale")
THRESHOLDS = {
    "dark": DARK_THRESHOLD,
    "light": LIGHT_THRESHOLD,
    "blurry": BLURRY_THRESHOLD,
    "low_information": LOW_INFORMATION_THRESHOLD,
    "grayscale": GREY_SPREAD,
}
DEFINITIONS = {
    "dark": "99th percentile of perceived brightness sqrt(.241R^2+.691G^2+.068B^2)/255; issue below the threshold",
    "light": "1 - 5th percentile of perceived brightness; issue below the threshold",
    "blurry": "1 - exp(-0.01 x sd of the 3x3 edge filter on greyscale) (+ 1 - dark score when dark); issue below the threshold",
    "low_information": "0.1 x entropy (bits) of the greyscale histogram, capped at 1; issue below the threshold",
    "grayscale": "99th percentile of max(R,G,B) - min(R,G,B) per pixel (of 255); issue at or below the threshold",
}


@dataclass(frozen=True)
class ImageProperties:
    """The raw numbers one image gives (cheap to send back from a worker process)."""

    brightness_p99: float  # perceived brightness, 0..1
    brightness_p5: float
    edge_sd: float  # standard deviation of the 3x3 edge filter, 0..255 scale
    entropy: float  # bits, 0..8
    colour_spread: float  # 99th percentile of max - min channel, 0..255

    def as_tuple(self) -> tuple[float, ...]:
        return astuple(self)


def image_properties(rgb: np.ndarray) -> ImageProperties:
    """The quality numbers of one uint8 (H, W, 3) RGB image (letterbox bars left out)."""
    pixels = _reduce(np.asarray(rgb, dtype=np.uint8))
    pixels = pixels[content_box(pixels)]
    channels = pixels.astype(np.float32)
    red, green, blue = channels[..., 0], channels[..., 1], channels[..., 2]
    # perceived brightness (HSP): what cleanvision's calculate_brightness computes per pixel
    brightness = np.sqrt(0.241 * red * red + 0.691 * green * green + 0.068 * blue * blue) / 255.0
    p5, p99 = np.percentile(brightness, [5, 99])
    grey = _luma(channels)
    spread = channels.max(axis=-1) - channels.min(axis=-1)
    return ImageProperties(
        brightness_p99=float(p99),
        brightness_p5=float(p5),
        edge_sd=_edge_sd(grey),
        entropy=_entropy(grey),
        colour_spread=float(np.percentile(spread, 99)),
    )


def scores(props: ImageProperties) -> dict[str, float]:
    """Each check's score (low is bad, as in cleanvision; greyscale: the channel spread)."""
    dark = min(props.brightness_p99, 1.0)
    blur = 1.0 - float(np.exp(-BLUR_NORMALIZER * props.edge_sd))
    if dark < DARK_THRESHOLD:
        # cleanvision's BlurrinessProperty.get_scores: a dark image is reported as dark
        blur = min(blur + (1.0 - dark), 1.0)
    return {
        "dark": dark,
        "light": 1.0 - min(props.brightness_p5, 1.0),
        "blurry": blur,
        "low_information": min(ENTROPY_NORMALIZER * props.entropy, 1.0),
        "grayscale": props.colour_spread,
    }


def is_issue(kind: str, score: float) -> bool:
    if kind == "grayscale":
        return score <= GREY_SPREAD
    return score < THRESHOLDS[kind]


def quality_issues(
    properties: Iterable[ImageProperties | None], members: Sequence[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """{check: [member + score, ...]} for every flagged image, worst first.

    ``members[i]`` describes image i (path, split, style); None properties (an unreadable
    image) are skipped.
    """
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in QUALITY_ISSUES}
    for member, props in zip(members, properties, strict=True):
        if props is None:
            continue
        for kind, score in scores(props).items():
            if is_issue(kind, score):
                found[kind].append({**member, "score": round(score, 4)})
    for entries in found.values():
        entries.sort(key=lambda e: (e["score"], e["path"]))
    return found


def params() -> dict[str, Any]:
    """The thresholds and definitions, as the audit's JSON records them."""
    return {
        "thresholds": dict(THRESHOLDS),
        "definitions": dict(DEFINITIONS),
        "measured_on": (
            f"the audit's decode (JPEG draft, short side >= 64 px), block-reduced to at most "
            f"{MAX_SIDE} px, letterbox bars removed"
        ),
        "after": "cleanvision's image-property issue managers",
    }


# ---------------------------------------------------------------- pieces


def content_box(pixels: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of ``pixels`` (H, W[, 3]) that are not letterbox bars.

    A side loses its outer lines while each is flat (every value within _BAR_SPREAD of the
    outermost line's median) and that median is near black or near white; at most 45% per
    side, and never the whole image.
    """
    # a black bar is dark in every channel (its brightest channel is low) and a white bar bright
    # in every channel (its darkest is high): a saturated red or yellow border is neither
    if pixels.ndim == 2:
        brightest = darkest = pixels
    else:
        brightest, darkest = pixels.max(axis=-1), pixels.min(axis=-1)
    height, width = brightest.shape

    def bar(high: np.ndarray, low: np.ndarray, limit: int) -> int:
        # high, low: (n_lines, line_length), outermost first
        if float(np.median(high[0])) <= _BAR_EDGE:
            lines = high
        elif float(np.median(low[0])) >= 255 - _BAR_EDGE:
            lines = low
        else:
            return 0
        level = float(np.median(lines[0]))
        flat = np.abs(lines[:limit].astype(np.int16) - level).max(axis=1) <= _BAR_SPREAD
        return limit if flat.all() else int(np.argmin(flat))

    rows, cols = max(1, int(height * _BAR_MAX_SHARE)), max(1, int(width * _BAR_MAX_SHARE))
    top, bottom = bar(brightest, darkest, rows), bar(brightest[::-1], darkest[::-1], rows)
    left = bar(brightest.T, darkest.T, cols)
    right = bar(brightest.T[::-1], darkest.T[::-1], cols)
    if top + bottom >= height - 2 or left + right >= width - 2:  # all flat: a blank image
        return slice(None), slice(None)
    return slice(top, height - bottom), slice(left, width - right)


def _reduce(pixels: np.ndarray) -> np.ndarray:
    """Block means by the smallest whole factor that brings the long side to <= MAX_SIDE."""
    height, width = pixels.shape[:2]
    # never below one pixel a side: a 600 x 2 strip keeps its 2 rows
    factor = min(-(-max(height, width) // MAX_SIDE), height, width)
    if factor <= 1:
        return pixels
    h, w = height // factor * factor, width // factor * factor
    blocks = pixels[:h, :w].reshape(h // factor, factor, w // factor, factor, -1)
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


def _luma(channels: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, as Pillow's convert("L"), rounded to 0..255."""
    grey = channels[..., 0] * 0.299 + channels[..., 1] * 0.587 + channels[..., 2] * 0.114
    return np.rint(grey)


def _edge_sd(grey: np.ndarray) -> float:
    """Standard deviation of the 3x3 edge filter (8 x centre - neighbours, clipped to 0..255)."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    neighbours = (
        grey[:-2, :-2] + grey[:-2, 1:-1] + grey[:-2, 2:]
        + grey[1:-1, :-2] + grey[1:-1, 2:]
        + grey[2:, :-2] + grey[2:, 1:-1] + grey[2:, 2:]
    )  # fmt: skip
    edges = np.clip(8.0 * centre - neighbours, 0.0, 255.0)
    return float(edges.std())


def _entropy(grey: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin histogram."""
    counts = np.bincount(grey.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
