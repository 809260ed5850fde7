"""The built-in synthetic 27-style data set: procedural paintings in the course layout.

Each WikiArt style has its own painter, written with vectorised numpy: dots for
Pointillism, short broken strokes for Impressionism, faceted planes for the
Cubisms, flat bands for Colour Field, drips for Action painting, and so on.
Related styles share a painter with different settings (the three Cubisms, the
four Renaissance periods, the Realisms, Impressionism next to
Post-Impressionism), and every style draws its colours from the same shared,
randomised pools, so the style sits in texture and shape rather than in the
mean colour. Counts follow the course's training proportions, with a test
split of about a fifth per style that lacks Action_painting, like the course.

Everything is a function of ``seed``: each image has its own generator derived
from (seed, split, style, index), so the same seed gives the same bytes (with
the same numpy and Pillow versions) and a larger ``scale`` keeps the images a
smaller one made.

    artstyle data synth data/synthetic --scale 0.2
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

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
GENERATOR_NAME = "artstyle.data.synthetic"
FORMAT_VERSION = 1
MARKER_FILE = "synthetic.json"
JPEG_QUALITY = 90
_ASPECT_RANGE = (1.08, 4.0 / 3.0)


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


# ====================================================================== colour
#
# Shared pools: every style draws from the same pools (hue-centre range,
# saturation range, value range). A style only shifts the odds between pools,
# and a quarter of the time any pool is used, so the mean colour of an image
# says little about its style.

_POOLS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "earth": ((0.02, 0.14), (0.25, 0.65), (0.25, 0.80)),
    "pastel": ((0.0, 1.0), (0.10, 0.35), (0.72, 0.98)),
    "vivid": ((0.0, 1.0), (0.55, 0.95), (0.55, 1.00)),
    "muted": ((0.0, 1.0), (0.05, 0.30), (0.30, 0.85)),
    "cool": ((0.45, 0.72), (0.20, 0.70), (0.30, 0.90)),
    "warm": ((-0.06, 0.16), (0.30, 0.85), (0.40, 0.95)),
    "dark": ((0.0, 1.0), (0.20, 0.70), (0.06, 0.40)),
}
_POOL_NAMES = tuple(_POOLS)
_ANY_POOL_CHANCE = 0.25


def _hsv_to_rgb(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, all in [0, 1]; returns shape (..., 3)."""
    h6 = (np.asarray(hue) % 1.0) * 6.0
    sector = np.floor(h6).astype(np.int64) % 6
    frac = h6 - np.floor(h6)
    p = val * (1 - sat)
    q = val * (1 - sat * frac)
    t = val * (1 - sat * (1 - frac))
    red = np.choose(sector, [val, q, p, p, t, val])
    green = np.choose(sector, [t, val, val, q, p, p])
    blue = np.choose(sector, [p, p, t, val, val, q])
    return np.stack([red, green, blue], axis=-1).astype(np.float32)


def _palette(rng: np.random.Generator, n_colors: int, odds: dict[str, float]) -> np.ndarray:
    """``n_colors`` RGB colours (n, 3) from one shared pool, chosen by the style's ``odds``."""
    if rng.random() < _ANY_POOL_CHANCE:
        name = _POOL_NAMES[rng.integers(len(_POOL_NAMES))]
    else:
        names = list(odds)
        weights = np.array([odds[k] for k in names], dtype=np.float64)
        name = names[rng.choice(len(names), p=weights / weights.sum())]
    hue_range, sat_range, val_range = _POOLS[name]
    centre = rng.uniform(*hue_range)
    scheme = rng.integers(3)  # 0 analogous, 1 complementary, 2 triadic
    offsets = rng.normal(0.0, 0.05, n_colors)
    if scheme == 1:
        offsets[1::2] += 0.5
    elif scheme == 2:
        offsets += (np.arange(n_colors) % 3) / 3.0
    hue = centre + offsets
    sat = rng.uniform(*sat_range, n_colors)
    val = rng.uniform(*val_range, n_colors)
    return _hsv_to_rgb(hue, sat, val)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend colours ``a`` and ``b`` by weights ``t`` (H, W) -> (H, W, 3)."""
    t = t[..., None]
    return (a * (1 - t) + b * t).astype(np.float32)


# ====================================================================== drawing tools


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Smooth (smoothstep-weighted bilinear) upsampling of a small 2-D grid to (h, w)."""
    gh, gw = grid.shape[:2]
    ys = np.linspace(0, gh - 1, h, dtype=np.float32)
    xs = np.linspace(0, gw - 1, w, dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int64), gh - 2)
    x0 = np.minimum(xs.astype(np.int64), gw - 2)
    fy = _smoothstep(ys - y0)[:, None]
    fx = _smoothstep(xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _noise(rng: np.random.Generator, h: int, w: int, cells: float, octaves: int = 1) -> np.ndarray:
    """Value noise in [0, 1] with about ``cells`` features across the short side."""
    short = min(h, w)
    total = np.zeros((h, w), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        n_cells = cells * 2**octave
        gh = max(2, math.ceil(n_cells * h / short) + 1)
        gw = max(2, math.ceil(n_cells * w / short) + 1)
        total += amplitude * _upsample(rng.random((gh, gw), dtype=np.float32), h, w)
        weight += amplitude
        amplitude *= 0.5
    total /= weight
    low, high = total.min(), total.max()
    return (total - low) / max(high - low, 1e-6)


def _noise_1d(rng: np.random.Generator, n: int, cells: float) -> np.ndarray:
    knots = rng.random(max(2, math.ceil(cells) + 1))
    return np.interp(np.linspace(0, len(knots) - 1, n), np.arange(len(knots)), knots).astype(
        np.float32
    )


def _box_blur_axis(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius + 1, radius)
    summed = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
    # window sum of original i over [i - r, i + r] = c[i + 2r + 1] - c[i] in padded coordinates
    high = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    low = np.take(summed, np.arange(n), axis=axis)
    return (high - low) / (2 * radius + 1)


def _blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Two box-blur passes per axis: a cheap, nearly Gaussian blur."""
    if radius <= 0:
        return a
    for _ in range(2):
        a = _box_blur_axis(_box_blur_axis(a, radius, 0), radius, 1)
    return a.astype(np.float32)


@functools.lru_cache(maxsize=32)
def _disc_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    keep = dy * dy + dx * dx <= radius * radius + 0.5 * radius
    return dy[keep].astype(np.int64), dx[keep].astype(np.int64)


def _stamp(
    canvas: np.ndarray, ys: np.ndarray, xs: np.ndarray, colors: np.ndarray, radius: int
) -> None:
    """Paint opaque discs of ``radius`` px at (ys, xs); later discs cover earlier ones."""
    h, w = canvas.shape[:2]
    dy, dx = _disc_offsets(int(radius))
    py = np.rint(ys).astype(np.int64)[:, None] + dy[None, :]  # (N, D)
    px = np.rint(xs).astype(np.int64)[:, None] + dx[None, :]
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    colors = np.broadcast_to(np.asarray(colors, np.float32)[:, None, :], (*py.shape, 3))
    canvas.reshape(-1, 3)[(py * w + px)[inside]] = colors[inside]


def _strokes(
    canvas: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    angles: np.ndarray,
    lengths: np.ndarray,
    colors: np.ndarray,
    radius: int,
) -> None:
    """Straight strokes centred at (ys, xs): discs stamped along each one."""
    n_steps = max(2, int(np.ceil(lengths.max() / max(radius, 1))) + 1)
    t = np.linspace(-0.5, 0.5, n_steps, dtype=np.float32)[None, :] * lengths[:, None]  # (N, K)
    py = ys[:, None] + t * np.sin(angles)[:, None]
    px = xs[:, None] + t * np.cos(angles)[:, None]
    _stamp(canvas, py.ravel(), px.ravel(), np.repeat(colors, n_steps, axis=0), radius)


def _walks(
    rng: np.random.Generator,
    ys: np.ndarray,
    xs: np.ndarray,
    n_steps: int,
    step: float,
    turn: float,
    angles: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk curves from (ys, xs): (N, n_steps) point arrays; ``turn`` = radians per step."""
    n = len(ys)
    start = rng.uniform(0, 2 * np.pi, n) if angles is None else angles
    heading = start[:, None] + np.cumsum(rng.normal(0, turn, (n, n_steps)), axis=1)
    py = ys[:, None] + np.cumsum(step * np.sin(heading), axis=1)
    px = xs[:, None] + np.cumsum(step * np.cos(heading), axis=1)
    return py.astype(np.float32), px.astype(np.float32)


def _flow_paths(
    field: np.ndarray, ys: np.ndarray, xs: np.ndarray, n_steps: int, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Follow an angle field (H, W) from each start point: (N, n_steps) point arrays."""
    h, w = field.shape
    py = np.empty((len(ys), n_steps), np.float32)
    px = np.empty((len(ys), n_steps), np.float32)
    y, x = ys.astype(np.float32), xs.astype(np.float32)
    for k in range(n_steps):
        py[:, k], px[:, k] = y, x
        angle = field[np.clip(y.astype(np.int64), 0, h - 1), np.clip(x.astype(np.int64), 0, w - 1)]
        y = y + step * np.sin(angle)
        x = x + step * np.cos(angle)
    return py, px


def _edges(labels: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Where a label map changes value: a boolean outline ``thickness`` px wide."""
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    for _ in range(thickness - 1):
        grown = edge.copy()
        grown[1:, :] |= edge[:-1, :]
        grown[:, 1:] |= edge[:, :-1]
        edge = grown
    return edge


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    """Normalised squared radius of a rotated ellipse: < 1 inside."""
    cos, sin = math.cos(angle), math.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    return (u / rx) ** 2 + (v / ry) ** 2


def _rect(yy, xx, cy, cx, hh, hw, angle=0.0) -> np.ndarray:
    """Boolean rotated rectangle with half-sizes (hh, hw)."""
    cos, sin = math.cos(angle), math.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    return (np.abs(u) <= hw) & (np.abs(v) <= hh)


def _figure(yy, xx, cy, cx, height, width, lean=0.0) -> np.ndarray:
    """A figure-like silhouette (head + tapering robe), centred at (cy, cx): soft mask in [0, 1]."""
    top = cy - height / 2
    head_r = 0.12 * height
    head = _ellipse(yy, xx, top + head_r, cx + lean * head_r, head_r, head_r * 0.85)
    rel = np.clip((yy - (top + 2 * head_r)) / max(height - 2 * head_r, 1), 0, 1)
    half_width = width / 2 * (0.45 + 0.55 * rel)
    centre = cx + lean * (1 - rel) * head_r
    body = (
        (np.abs(xx - centre) <= half_width) & (yy >= top + 1.7 * head_r) & (yy <= cy + height / 2)
    )
    return np.maximum(body.astype(np.float32), (head < 1).astype(np.float32))


def _landscape(
    rng: np.random.Generator, h: int, w: int, pal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sky over ground with a hilly horizon: (image, horizon row per column)."""
    yy, _ = _grid(h, w)
    short = min(h, w)
    horizon = (
        h * rng.uniform(0.35, 0.65)
        + short * rng.uniform(0.02, 0.14) * (_noise_1d(rng, w, rng.uniform(2, 6)) - 0.5) * 2
    )
    sky = _mix(pal[0], pal[1], np.clip(yy / horizon[None, :], 0, 1))
    ground_t = np.clip((yy - horizon[None, :]) / np.maximum(h - horizon[None, :], 1), 0, 1)
    ground = _mix(pal[2], pal[3], ground_t)
    ground *= (0.8 + 0.4 * _noise(rng, h, w, rng.uniform(2, 5), octaves=2))[..., None]
    image = np.where((yy < horizon[None, :])[..., None], sky, ground)
    return image.astype(np.float32), horizon.astype(np.float32)


def _lookup(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[np.clip(ys.astype(np.int64), 0, h - 1), np.clip(xs.astype(np.int64), 0, w - 1)]


def _scatter(rng: np.random.Generator, h: int, w: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0, h, n).astype(np.float32), rng.uniform(0, w, n).astype(np.float32)


def _density(h: int, w: int, per_square: float) -> int:
    """A count per short-side square, scaled to the image area."""
    return max(1, int(per_square * h * w / min(h, w) ** 2))


def _px(h: int, w: int, fraction: float, minimum: int = 1) -> int:
    """A length as a fraction of the short side, in whole pixels."""
    return max(minimum, int(round(fraction * min(h, w))))


# ====================================================================== painters
#
# Each painter takes (rng, h, w) and returns float32 RGB (h, w, 3), roughly in [0, 1].
# Lengths are fractions of the short side so a style looks the same at any --size.


def _impressionist_base(rng, h, w, odds) -> np.ndarray:
    pal = _palette(rng, 6, odds)
    base, _ = _landscape(rng, h, w, pal)
    yy, xx = _grid(h, w)
    for _ in range(rng.integers(1, 4)):  # soft masses: trees, haystacks, figures
        cy, cx = rng.uniform(0.3 * h, 0.9 * h), rng.uniform(0, w)
        r = rng.uniform(0.08, 0.22) * min(h, w)
        inside = _ellipse(yy, xx, cy, cx, r * rng.uniform(0.6, 1.4), r) < 1
        base[inside] = pal[rng.integers(4, 6)] * rng.uniform(0.7, 1.1)
    return _blur(base, _px(h, w, 0.02))


def paint_impressionism(rng, h, w):
    # short broken strokes of many nearby tints, loosely aligned, ground showing through
    odds = {"pastel": 3, "vivid": 1, "cool": 1, "warm": 1}
    base = _impressionist_base(rng, h, w, odds)
    canvas = base.copy()
    n = _density(h, w, rng.uniform(900, 1300))
    ys, xs = _scatter(rng, h, w, n)
    angles = rng.normal(rng.uniform(0, np.pi), 0.5, n)
    lengths = min(h, w) * rng.uniform(0.035, 0.07, n)
    colors = _lookup(base, ys, xs) + rng.normal(0, 0.08, (n, 3)) + rng.normal(0, 0.06, (n, 1))
    _strokes(canvas, ys, xs, angles, lengths, colors, _px(h, w, 0.011))
    return canvas


def paint_post_impressionism(rng, h, w):
    # longer, thicker strokes that follow swirling currents; dark contours round the masses
    odds = {"vivid": 2, "warm": 2, "cool": 1, "pastel": 1}
    base = _impressionist_base(rng, h, w, odds)
    canvas = base.copy()
    yy, xx = _grid(h, w)
    field = (_noise(rng, h, w, rng.uniform(1.5, 3.0)) * 2 * np.pi * rng.uniform(0.6, 1.2)).astype(
        np.float32
    )
    for _ in range(rng.integers(1, 3)):  # swirl centres: strokes circle round them
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        swirl = np.arctan2(yy - cy, xx - cx) + np.pi / 2
        weight = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.3 * min(h, w)) ** 2)
        field = field * (1 - weight) + swirl * weight
    if rng.random() < 0.7:
        labels = np.digitize(
            _blur(base.mean(axis=2), 1), np.quantile(base.mean(axis=2), [0.33, 0.66])
        )
        canvas[_edges(labels, _px(h, w, 0.015))] *= rng.uniform(0.2, 0.45)
    n = _density(h, w, rng.uniform(320, 450))
    ys, xs = _scatter(rng, h, w, n)
    py, px = _flow_paths(field, ys, xs, 6, min(h, w) * rng.uniform(0.018, 0.025))
    colors = _lookup(base, ys, xs) * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 0.1, (n, 3))
    _stamp(canvas, py.ravel(), px.ravel(), np.repeat(colors, 6, axis=0), _px(h, w, 0.018))
    return canvas


def paint_pointillism(rng, h, w):
    # a mosaic of small round dots of pure, contrasting tints on a light ground
    odds = {"pastel": 2, "vivid": 2, "cool": 1}
    pal = _palette(rng, 6, odds)
    base, _ = _landscape(rng, h, w, pal)
    base = _blur(base, _px(h, w, 0.03))
    canvas = np.full((h, w, 3), 0.92, np.float32) * rng.uniform(0.85, 1.05, 3).astype(np.float32)
    spacing = min(h, w) * rng.uniform(0.026, 0.034)
    gy, gx = np.mgrid[0 : h + spacing : spacing, 0 : w + spacing : spacing]
    ys = (gy.ravel() + rng.normal(0, spacing * 0.3, gy.size)).astype(np.float32)
    xs = (gx.ravel() + rng.normal(0, spacing * 0.3, gx.size)).astype(np.float32)
    order = rng.permutation(len(ys))
    ys, xs = ys[order], xs[order]
    accents = pal[rng.integers(0, len(pal), len(ys))]
    colors = 0.6 * _lookup(base, ys, xs) + 0.4 * accents + rng.normal(0, 0.07, (len(ys), 3))
    _stamp(canvas, ys, xs, colors, _px(h, w, 0.012))
    return canvas


def paint_realism(rng, h, w):
    # natural light on a landscape: soft gradients, shaded masses, fine grain
    pal = _palette(rng, 6, {"earth": 3, "muted": 2, "cool": 1})
    image, horizon = _landscape(rng, h, w, pal)
    yy, xx = _grid(h, w)
    light = rng.uniform(0, 2 * np.pi)
    for _ in range(rng.integers(1, 4)):
        cy = rng.uniform(0.45, 0.85) * h
        cx = rng.uniform(0.1, 0.9) * w
        ry, rx = min(h, w) * rng.uniform(0.08, 0.22), min(h, w) * rng.uniform(0.06, 0.2)
        inside = _ellipse(yy, xx, cy, cx, ry, rx) < 1
        shade = 0.75 + 0.35 * (((xx - cx) * math.cos(light) + (yy - cy) * math.sin(light)) / rx)
        color = pal[rng.integers(4, 6)]
        image = np.where(inside[..., None], color * np.clip(shade, 0.3, 1.3)[..., None], image)
    image = _blur(image, _px(h, w, 0.012))
    grain = _noise(rng, h, w, min(h, w) / 3) - 0.5
    return image * (1 + 0.08 * grain[..., None])


def paint_contemporary_realism(rng, h, w):
    # crisp still life: smooth wall and table, solid objects with exact shading and highlights
    pal = _palette(rng, 7, {"vivid": 1, "muted": 2, "pastel": 1, "cool": 1})
    yy, xx = _grid(h, w)
    table = h * rng.uniform(0.5, 0.72)
    image = np.where(
        (yy < table)[..., None],
        _mix(pal[0], pal[0] * 0.8, yy / h),
        _mix(pal[1], pal[1] * 0.7, yy / h),
    )
    lx, ly = rng.uniform(-1, 1), -abs(rng.uniform(0.3, 1))
    norm = math.hypot(lx, ly)
    lx, ly = lx / norm, ly / norm
    for _ in range(rng.integers(2, 6)):
        r = min(h, w) * rng.uniform(0.07, 0.16)
        cx = rng.uniform(0.1, 0.9) * w
        cy = table + rng.uniform(-0.2, 0.6) * r
        color = pal[rng.integers(2, 7)]
        shadow = _ellipse(yy, xx, cy + 0.9 * r, cx - lx * r, 0.25 * r, 1.3 * r) < 1
        image[shadow] *= 0.6
        if rng.random() < 0.5:  # sphere: Lambert shading and a specular spot
            d2 = _ellipse(yy, xx, cy, cx, r, r)
            inside = d2 < 1
            nz = np.sqrt(np.clip(1 - d2, 0, 1))
            lambert = np.clip(((xx - cx) / r * lx + (yy - cy) / r * ly) + 0.6 * nz, 0.1, 1.2)
            shaded = color * (0.25 + 0.75 * lambert)[..., None]
            spec = (
                np.clip(
                    1 - (((xx - cx) / r - 0.4 * lx) ** 2 + ((yy - cy) / r - 0.4 * ly) ** 2) * 8,
                    0,
                    1,
                )
                ** 2
            )
            shaded = shaded + spec[..., None] * 0.8
            image = np.where(inside[..., None], shaded, image)
        else:  # box or cylinder: linear shading across the width
            half_h, half_w = r * rng.uniform(0.8, 2.0), r * rng.uniform(0.5, 1.0)
            inside = _rect(yy, xx, cy - half_h + r, cx, half_h, half_w)
            across = (xx - cx) / half_w
            shade = 0.55 + 0.45 * np.clip(1 - (across - lx * 0.6) ** 2, 0, 1)
            image = np.where(inside[..., None], color * shade[..., None], image)
    return image


def paint_new_realism(rng, h, w):
    # flat, simplified streets: blocks of buildings, rows of windows, hard raking shadows
    pal = _palette(rng, 7, {"warm": 2, "earth": 2, "muted": 1, "cool": 1})
    yy, xx = _grid(h, w)
    image = _mix(pal[0], pal[1], yy / h)
    ground = h * rng.uniform(0.7, 0.9)
    image[yy >= ground] = pal[2]
    x = -rng.uniform(0, 0.1) * w
    while x < w:
        width = w * rng.uniform(0.18, 0.45)
        top = h * rng.uniform(0.12, 0.55)
        color = pal[rng.integers(3, 7)]
        block = (xx >= x) & (xx < x + width) & (yy >= top) & (yy < ground)
        image[block] = color
        step_y, step_x = min(h, w) * rng.uniform(0.07, 0.11), min(h, w) * rng.uniform(0.06, 0.1)
        wy = np.mod(yy - top, step_y) < step_y * 0.5
        wx = np.mod(xx - x, step_x) < step_x * 0.5
        windows = (
            block
            & wy
            & wx
            & (yy > top + step_y * 0.5)
            & (xx > x + step_x * 0.4)
            & (xx < x + width - step_x * 0.4)
        )
        image[windows] = color * rng.uniform(0.2, 0.45)
        x += width
    slope = rng.uniform(-1.5, 1.5)
    offset = rng.uniform(0.2, 0.8) * w
    shadow = (xx - slope * yy) > offset
    image[shadow & (yy > h * 0.1)] *= rng.uniform(0.45, 0.65)
    return image


def paint_romanticism(rng, h, w):
    # a dramatic sky: big bright-and-dark clouds, a low glowing sun, a dark foreground
    pal = _palette(rng, 5, {"warm": 2, "dark": 2, "earth": 1, "cool": 1})
    yy, xx = _grid(h, w)
    horizon = h * rng.uniform(0.55, 0.8)
    clouds = _noise(rng, h, w, rng.uniform(1.5, 3), octaves=4)
    clouds = np.clip((clouds - 0.5) * rng.uniform(1.8, 2.6) + 0.5, 0, 1)
    sky = _mix(pal[0] * 0.35, pal[1], clouds)
    sy, sx = horizon - rng.uniform(0.05, 0.3) * h, rng.uniform(0.15, 0.85) * w
    glow = np.exp(-((yy - sy) ** 2 + (xx - sx) ** 2) / (rng.uniform(0.15, 0.3) * min(h, w)) ** 2)
    sky = sky + glow[..., None] * pal[2] * 1.3
    ridge = horizon + min(h, w) * 0.2 * (_noise_1d(rng, w, rng.uniform(3, 8)) - 0.5)
    land = yy > ridge[None, :]
    ground = pal[3] * 0.3 * (0.6 + 0.8 * _noise(rng, h, w, 6, octaves=2))[..., None]
    image = np.where(land[..., None], ground, sky)
    return _blur(image, _px(h, w, 0.01))


def paint_baroque(rng, h, w):
    # chiaroscuro: figures pulled out of a near-black ground by one raking light
    pal = _palette(rng, 5, {"warm": 2, "earth": 2, "dark": 1, "vivid": 1})
    yy, xx = _grid(h, w)
    # the light falls from anywhere above the middle, sometimes from the side
    ly, lx = rng.uniform(-0.2, 0.6) * h, rng.uniform(-0.1, 1.1) * w
    reach = rng.uniform(0.35, 0.75) * max(h, w)
    light = np.exp(-((yy - ly) ** 2 + (xx - lx) ** 2) / reach**2)
    image = pal[0] * rng.uniform(0.08, 0.18) * (0.3 + 0.7 * light)[..., None]
    # a dim architectural element in the gloom: a column, a window or a table edge
    for _ in range(rng.integers(0, 3)):
        ry, rx = rng.uniform(0.1, 0.5) * h, rng.uniform(0.03, 0.25) * w
        if rng.random() < 0.5:
            ry, rx = rx * h / w, ry * w / h  # lying down: a table or a ledge
        block = _rect(yy, xx, rng.uniform(0.2, 0.9) * h, rng.uniform(0, 1) * w, ry, rx)
        tone = pal[rng.integers(0, 5)] * rng.uniform(0.15, 0.45) * (0.4 + 0.6 * light)[..., None]
        image = np.where((block > 0)[..., None], tone, image)
    for _ in range(rng.integers(1, 4)):
        height = h * rng.uniform(0.35, 0.9)
        cy, cx = h - height / 2 * rng.uniform(0.9, 1.4), rng.uniform(0.1, 0.9) * w
        mask = _figure(yy, xx, cy, cx, height, height * rng.uniform(0.35, 0.55), rng.uniform(-1, 1))
        # drapery folds: ridges of light across the robe
        folds = 0.75 + 0.25 * np.sin((xx - cx) / min(h, w) * rng.uniform(25, 45) + yy / h * 3)
        color = pal[rng.integers(1, 5)]
        # lit cloth is bright whatever the pool: scale the colour up to a high value
        color = color / max(float(color.max()), 0.05) * rng.uniform(0.75, 1.0)
        lit = np.clip(light * 1.3, 0, 1) ** 1.5 * folds
        image = np.where((mask > 0)[..., None], color * lit[..., None], image)
    return _blur(image, _px(h, w, 0.008))


def paint_rococo(rng, h, w):
    # pastel airiness: soft foliage, light scrolls and curls, scattered blossoms
    pal = _palette(rng, 6, {"pastel": 4, "warm": 1, "cool": 1})
    yy, xx = _grid(h, w)
    image = _mix(pal[0], pal[1], _noise(rng, h, w, 1.5))
    foliage = _noise(rng, h, w, rng.uniform(3, 5), octaves=2)
    image = np.where((foliage > 0.6)[..., None], _mix(pal[2], pal[3], foliage), image)
    image = _blur(image, _px(h, w, 0.025))
    n_curls = rng.integers(5, 12)
    theta = np.linspace(0, rng.uniform(2.5, 4.0) * np.pi, 60, dtype=np.float32)
    cy, cx = rng.uniform(0, h, n_curls), rng.uniform(0, w, n_curls)
    scale = min(h, w) * rng.uniform(0.015, 0.03, n_curls)
    turn = rng.uniform(0, 2 * np.pi, n_curls)
    sense = rng.choice([-1.0, 1.0], n_curls)
    radius = scale[:, None] * (0.3 + theta[None, :])
    py = cy[:, None] + radius * np.sin(sense[:, None] * theta[None, :] + turn[:, None])
    px = cx[:, None] + radius * np.cos(sense[:, None] * theta[None, :] + turn[:, None])
    colors = np.clip(pal[rng.integers(4, 6, n_curls)] * 1.2 + 0.15, 0, 1)
    _stamp(image, py.ravel(), px.ravel(), np.repeat(colors, theta.size, axis=0), _px(h, w, 0.008))
    n_flowers = _density(h, w, rng.uniform(20, 60))
    fy, fx = _scatter(rng, h, w, n_flowers)
    _stamp(
        image, fy, fx, np.clip(pal[rng.integers(0, 6, n_flowers)] + 0.25, 0, 1), _px(h, w, 0.015)
    )
    return _blur(image, 1)


def _renaissance(rng, h, w, *, period: str) -> np.ndarray:
    """One painter, four periods: flat and outlined, soft (sfumato), elongated, or minutely detailed."""
    odds = {
        "early": {"warm": 2, "earth": 2, "pastel": 1},
        "high": {"earth": 2, "cool": 2, "muted": 1},
        "mannerism": {"vivid": 2, "cool": 1, "dark": 1},
        "northern": {"dark": 2, "earth": 2, "vivid": 1},
    }[period]
    pal = _palette(rng, 7, odds)
    yy, xx = _grid(h, w)
    short = min(h, w)
    horizon = h * rng.uniform(0.45, 0.7)
    sky = _mix(pal[0], np.clip(pal[0] + 0.35, 0, 1), np.clip(yy / horizon, 0, 1))
    ground = _mix(pal[1], pal[1] * 0.6, np.clip((yy - horizon) / (h - horizon), 0, 1))
    image = np.where((yy < horizon)[..., None], sky, ground)

    if period == "early":  # tiled floor in one-point perspective and columns at the sides
        depth = np.maximum(yy - horizon, 1.0)
        u = (xx - w / 2) / depth * rng.uniform(2, 4)
        v = short / depth * rng.uniform(1.5, 3)
        tiles = ((np.floor(u) + np.floor(v)) % 2 == 0) & (yy > horizon)
        if rng.random() < 0.75:
            image[tiles] *= 0.7
        if rng.random() < 0.6:
            col_w = w * rng.uniform(0.06, 0.1)
            for x0 in (rng.uniform(0, 0.08) * w, w - col_w - rng.uniform(0, 0.08) * w):
                column = (xx >= x0) & (xx < x0 + col_w)
                image[column] = (
                    pal[5] * np.clip(1.1 - 0.4 * (xx[column] - x0) / col_w, 0, 1.2)[..., None]
                )
    elif period == "high":  # distant bluish hills fading into haze
        hills = horizon - short * 0.15 * _noise_1d(rng, w, rng.uniform(2, 4))
        haze = np.clip((yy - hills[None, :]) / (horizon - hills.min() + 1), 0, 1)
        hill_color = np.clip(pal[2] * 0.5 + np.array([0.2, 0.3, 0.45], np.float32), 0, 1)
        image = np.where(
            ((yy > hills[None, :]) & (yy < horizon))[..., None],
            _mix(hill_color, pal[1], haze),
            image,
        )
    elif period == "mannerism":  # crowded, airless space
        image = _mix(pal[0] * 0.3, pal[1] * 0.5, _noise(rng, h, w, 2))
    else:  # northern: an interior with a window onto a miniature landscape
        image = np.broadcast_to(pal[0] * 0.35, (h, w, 3)).copy()
        wy0, wx0 = rng.uniform(0.08, 0.25) * h, rng.uniform(0.05, 0.6) * w
        wh, ww = rng.uniform(0.25, 0.4) * h, rng.uniform(0.2, 0.35) * w
        window = (yy >= wy0) & (yy < wy0 + wh) & (xx >= wx0) & (xx < wx0 + ww)
        view = _mix(np.clip(pal[2] + 0.3, 0, 1), pal[3], np.clip((yy - wy0) / wh, 0, 1))
        view *= (0.85 + 0.3 * _noise(rng, h, w, short / 6))[..., None]
        image = np.where(window[..., None], view, image)
        image[_edges(window.astype(np.int8), 1)] = pal[4] * 0.5

    n_figures = {
        "early": rng.integers(1, 3),
        "high": rng.integers(1, 4),
        "mannerism": rng.integers(2, 6),
        "northern": rng.integers(1, 3),
    }[period]
    for k in range(n_figures):
        if period == "mannerism":  # elongated, twisting bodies (Parmigianino's long necks)
            height = h * rng.uniform(0.75, 0.95)
            width = height * rng.uniform(0.16, 0.24)
            lean = rng.uniform(-2.5, 2.5)
        else:
            height = h * rng.uniform(0.45, 0.75)
            width = height * rng.uniform(0.4, 0.6)
            lean = rng.uniform(-0.5, 0.5)
        spread = 0.0 if n_figures == 1 else (k / (n_figures - 1) - 0.5) * rng.uniform(0.4, 0.7) * w
        cx = w / 2 + spread + rng.normal(0, 0.04 * w)
        cy = h - height / 2 - rng.uniform(0, 0.1) * h
        mask = _figure(yy, xx, cy, cx, height, width, lean)
        robe = pal[3 + (k % 4)]
        inside = mask > 0
        halo_chance = {"early": 0.9, "high": 0.3}.get(period, 0.0)
        if halo_chance and rng.random() < halo_chance:  # a gold halo behind the head
            head_y = cy - height / 2 + 0.12 * height
            halo = _ellipse(yy, xx, head_y, cx, 0.2 * height, 0.2 * height) < 1
            image[halo & ~inside] = np.array([0.85, 0.7, 0.25], np.float32) * rng.uniform(0.8, 1.05)
        if period == "early":  # flat robe, dark outline
            image[inside] = robe
            image[_edges(inside.astype(np.int8), 1)] = robe * 0.25
        elif period == "high":  # modelled softly, then blurred below (sfumato)
            shade = 0.6 + 0.4 * np.clip(1 - np.abs(xx - cx - 0.2 * width) / width, 0, 1)
            image = np.where(inside[..., None], robe * shade[..., None], image)
        elif period == "mannerism":
            shade = 0.4 + 0.8 * np.clip(1 - np.abs(xx - cx + lean * 2) / width, 0, 1)
            image = np.where(inside[..., None], robe * shade[..., None], image)
            image[_edges(inside.astype(np.int8), 1)] *= 0.5
        else:  # northern: brocade pattern and crisp edges
            period_px = max(2.0, short * rng.uniform(0.035, 0.05))
            brocade = ((np.floor(xx / period_px) + np.floor(yy / period_px)) % 2 == 0) | (
                np.abs(np.mod(xx + yy, period_px) - period_px / 2) < 0.7
            )
            cloth = np.where(brocade[..., None], robe, robe * 0.6)
            image = np.where(inside[..., None], cloth, image)
            image[_edges(inside.astype(np.int8), 1)] = robe * 0.2
    if period == "high":
        image = _blur(image, _px(h, w, 0.02))
    elif period == "northern":  # small detailed objects along the bottom
        n_items = _density(h, w, rng.uniform(6, 14))
        iy = rng.uniform(0.75, 0.98, n_items) * h
        ix = rng.uniform(0, w, n_items)
        _stamp(image, iy, ix, pal[rng.integers(0, 7, n_items)] * 1.2, _px(h, w, 0.02))
        _stamp(image, iy, ix, pal[rng.integers(0, 7, n_items)] * 0.5, 0)
    return image


def paint_early_renaissance(rng, h, w):
    return _renaissance(rng, h, w, period="early")


def paint_high_renaissance(rng, h, w):
    return _renaissance(rng, h, w, period="high")


def paint_mannerism_late_renaissance(rng, h, w):
    return _renaissance(rng, h, w, period="mannerism")


def paint_northern_renaissance(rng, h, w):
    return _renaissance(rng, h, w, period="northern")


def _faceted(
    rng, h, w, *, n_seeds: int, n_lines: int, shading: float, edge_dark: float, grey: float, odds
) -> np.ndarray:
    """Planes from a Voronoi split crossed by straight lines, each plane shaded on its own."""
    pal = _palette(rng, 6, odds)
    pal = pal * (1 - grey) + pal.mean(axis=1, keepdims=True) * grey
    yy, xx = _grid(h, w)
    cy, cx = h / 2 + rng.normal(0, 0.1 * h), w / 2 + rng.normal(0, 0.1 * w)
    # seeds crowd round the centre of the motif, so the planes are smallest there
    sy = (cy + rng.normal(0, 0.3 * h, n_seeds)).astype(np.float32)
    sx = (cx + rng.normal(0, 0.3 * w, n_seeds)).astype(np.float32)
    labels = np.argmin((yy[..., None] - sy) ** 2 + (xx[..., None] - sx) ** 2, axis=-1).astype(
        np.int64
    )
    for _ in range(n_lines):
        py, px = cy + rng.normal(0, 0.3 * h), cx + rng.normal(0, 0.3 * w)
        angle = rng.uniform(0, np.pi)
        side = (xx - px) * math.sin(angle) - (yy - py) * math.cos(angle) > 0
        labels = labels * 2 + side
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(h, w)
    n_facets = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), None, n_facets)
    motif = _ellipse(yy, xx, cy, cx, 0.35 * h, 0.25 * w) < 1  # the hidden still life or sitter
    in_motif = np.bincount(labels.ravel(), motif.ravel(), n_facets) > 0.5 * area
    colors = pal[np.where(in_motif, rng.integers(0, 3, n_facets), rng.integers(3, 6, n_facets))]
    colors = colors * rng.uniform(0.8, 1.15, (n_facets, 1))
    direction = rng.uniform(0, 2 * np.pi, n_facets)
    # each plane gets its own light direction: a linear ramp across the facet, zero on average
    ramp = (xx * np.cos(direction)[labels] + yy * np.sin(direction)[labels]) / min(h, w)
    ramp = ramp - (np.bincount(labels.ravel(), ramp.ravel(), n_facets) / area)[labels]
    image = colors[labels] * (1 + shading * 4 * ramp)[..., None]
    image[_edges(labels, 1)] *= edge_dark
    return image


def paint_analytical_cubism(rng, h, w):
    # many small, strongly shaded planes in a narrow, nearly monochrome range
    return _faceted(
        rng, h, w, n_seeds=int(rng.integers(35, 60)), n_lines=int(rng.integers(3, 6)),
        shading=0.6, edge_dark=0.45, grey=0.6, odds={"earth": 3, "muted": 3},
    )  # fmt: skip


def paint_cubism(rng, h, w):
    # fewer, larger planes with some colour, still shaded
    return _faceted(
        rng, h, w, n_seeds=int(rng.integers(6, 12)), n_lines=int(rng.integers(4, 7)),
        shading=0.35, edge_dark=0.6, grey=0.2, odds={"earth": 2, "muted": 1, "cool": 1, "vivid": 1},
    )  # fmt: skip


def paint_synthetic_cubism(rng, h, w):
    # large flat pasted shapes, some patterned (stripes, dots, wood grain), overlapping
    pal = _palette(rng, 7, {"vivid": 2, "earth": 2, "warm": 1, "muted": 1})
    yy, xx = _grid(h, w)
    image = np.broadcast_to(pal[0], (h, w, 3)).copy()
    labels = np.zeros((h, w), np.int64)
    for k in range(1, int(rng.integers(5, 10))):
        hh, hw = rng.uniform(0.12, 0.35) * h, rng.uniform(0.1, 0.3) * w
        shape = _rect(yy, xx, rng.uniform(0, h), rng.uniform(0, w), hh, hw, rng.normal(0, 0.35))
        color = pal[rng.integers(1, 7)]
        kind = rng.integers(4)
        period = min(h, w) * rng.uniform(0.05, 0.09)
        if kind == 1:
            fill = np.where(
                (np.mod(xx + yy * rng.uniform(-1, 1), period) < period / 2)[..., None],
                color,
                color * 0.5,
            )
        elif kind == 2:
            dots = (np.mod(yy, period) - period / 2) ** 2 + (
                np.mod(xx, period) - period / 2
            ) ** 2 < (period / 3.5) ** 2
            fill = np.where(dots[..., None], color * 0.3, color)
        elif kind == 3:
            grain = np.sin(yy / period * 4 + 2 * np.sin(xx / period))
            fill = color * (0.8 + 0.2 * grain)[..., None]
        else:
            fill = np.broadcast_to(color, (h, w, 3))
        image = np.where(shape[..., None], fill, image)
        labels[shape] = k
    image[_edges(labels, _px(h, w, 0.012))] = pal[0] * 0.15
    return image


def paint_color_field_painting(rng, h, w):
    # large soft-edged fields of colour, stacked bands floating on a ground
    pal = _palette(rng, 5, {"vivid": 2, "warm": 2, "dark": 1, "cool": 1})
    yy, xx = _grid(h, w)
    vertical = rng.random() < 0.3
    pos, length = (xx, w) if vertical else (yy, h)
    across, across_len = (yy, h) if vertical else (xx, w)
    image = np.broadcast_to(pal[0], (h, w, 3)).copy()
    n_bands = int(rng.integers(2, 5))
    margin = rng.uniform(0.04, 0.12)
    edges = np.sort(rng.uniform(margin, 1 - margin, n_bands - 1)) if n_bands > 1 else np.array([])
    bounds = np.concatenate([[margin], edges, [1 - margin]]) * length
    soft = min(h, w) * rng.uniform(0.015, 0.04)
    side = margin * across_len * rng.uniform(0.8, 1.6)
    for k in range(n_bands):
        inside = _smoothstep((pos - bounds[k] - 1) / soft + 0.5) * _smoothstep(
            (bounds[k + 1] - 1 - pos) / soft + 0.5
        )
        inside *= _smoothstep((across - side) / soft + 0.5) * _smoothstep(
            (across_len - side - across) / soft + 0.5
        )
        color = pal[1 + k % 4] * (0.95 + 0.1 * _noise(rng, h, w, 2))[..., None]
        image = image * (1 - inside[..., None]) + color * inside[..., None]
    return image


def paint_minimalism(rng, h, w):
    # a flat, even ground with a few exact, hard-edged shapes or lines
    pal = _palette(rng, 4, {"muted": 3, "pastel": 1, "vivid": 1})
    yy, xx = _grid(h, w)
    image = np.broadcast_to(pal[0], (h, w, 3)).copy()
    kind = rng.integers(3)
    if kind == 0:  # one to three rectangles
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
            image[_rect(yy, xx, cy, cx, rng.uniform(0.08, 0.3) * h, rng.uniform(0.08, 0.3) * w)] = (
                pal[rng.integers(1, 4)]
            )
    elif kind == 1:  # parallel stripes
        n = int(rng.integers(2, 7))
        period = (h if rng.random() < 0.5 else w) / n
        line = _px(h, w, rng.uniform(0.02, 0.08))
        coord = yy if rng.random() < 0.5 else xx
        # stripes start anywhere and some are left out: one series, not one picture
        keep = rng.random(n + 2) < rng.uniform(0.6, 1.0)
        shifted = coord + rng.uniform(0, period)
        stripe = (np.mod(shifted, period) < line) & keep[(shifted // period).astype(int) % (n + 2)]
        image[stripe] = pal[1]
    else:  # a grid of thin lines
        period = min(h, w) * rng.uniform(0.15, 0.3)
        line = _px(h, w, 0.012)
        oy, ox = rng.uniform(0, period, 2)
        image[(np.mod(yy + oy, period) < line) | (np.mod(xx + ox, period) < line)] = pal[1]
    return image


def paint_abstract_expressionism(rng, h, w):
    # big gestural brush marks laid over each other on a mottled ground
    pal = _palette(rng, 6, {"vivid": 2, "dark": 1, "warm": 1, "earth": 1})
    image = _mix(pal[0], pal[1], _noise(rng, h, w, rng.uniform(2, 4), octaves=2))
    n = _density(h, w, rng.uniform(14, 28))
    ys, xs = _scatter(rng, h, w, n)
    step = min(h, w) * rng.uniform(0.02, 0.03)
    py, px = _walks(rng, ys, xs, int(rng.integers(8, 16)), step, 0.25)
    colors = pal[rng.integers(0, 6, n)] * rng.uniform(0.7, 1.2, (n, 1))
    _stamp(
        image,
        py.ravel(),
        px.ravel(),
        np.repeat(colors, py.shape[1], axis=0),
        _px(h, w, rng.uniform(0.04, 0.07)),
    )
    n_small = _density(h, w, rng.uniform(20, 40))
    ys, xs = _scatter(rng, h, w, n_small)
    py, px = _walks(rng, ys, xs, 6, step, 0.4)
    colors = pal[rng.integers(0, 6, n_small)]
    _stamp(image, py.ravel(), px.ravel(), np.repeat(colors, 6, axis=0), _px(h, w, 0.02))
    return image


def paint_action_painting(rng, h, w):
    # dripped and poured paint: long thin tangled lines and splatter on a plain ground
    pal = _palette(rng, 5, {"vivid": 1, "earth": 1, "muted": 1, "dark": 1})
    ground = np.array([0.9, 0.87, 0.8], np.float32) if rng.random() < 0.6 else pal[0] * 0.5
    image = np.broadcast_to(ground, (h, w, 3)).copy()
    inks = np.concatenate([pal[1:], [[0.05, 0.05, 0.05], [0.95, 0.95, 0.95]]]).astype(np.float32)
    n_lines = _density(h, w, rng.uniform(15, 30))
    ys, xs = _scatter(rng, h, w, n_lines)
    n_steps = 4 * min(h, w)
    py, px = _walks(rng, ys, xs, n_steps, 1.0, rng.uniform(0.15, 0.3))
    colors = inks[rng.integers(0, len(inks), n_lines)]
    _stamp(image, py.ravel(), px.ravel(), np.repeat(colors, n_steps, axis=0), 0)
    n_splat = _density(h, w, rng.uniform(150, 300))
    sy, sx = _scatter(rng, h, w, n_splat)
    for radius in (0, 1, _px(h, w, 0.02)):
        pick = rng.random(n_splat) < 0.4
        _stamp(image, sy[pick], sx[pick], inks[rng.integers(0, len(inks), pick.sum())], radius)
    return image


def _regions(rng, h, w, n_levels: int, cells: float) -> np.ndarray:
    """A label map of irregular blobs: warped noise cut into ``n_levels`` bands."""
    field = _noise(rng, h, w, cells, octaves=2)
    return np.digitize(field, np.quantile(field, np.linspace(0, 1, n_levels + 1)[1:-1]))


def paint_expressionism(rng, h, w):
    # distorted masses in intense, unnatural colour, heavy dark contours, agitated strokes
    pal = _palette(rng, 6, {"vivid": 2, "dark": 2, "warm": 1})
    labels = _regions(rng, h, w, int(rng.integers(3, 6)), rng.uniform(1.5, 3))
    image = pal[labels % 6] * (0.85 + 0.3 * _noise(rng, h, w, 4))[..., None]
    field = (_noise(rng, h, w, 2) * 4 * np.pi).astype(np.float32)
    n = _density(h, w, rng.uniform(250, 400))
    ys, xs = _scatter(rng, h, w, n)
    py, px = _flow_paths(field, ys, xs, 5, min(h, w) * 0.02)
    colors = _lookup(image, ys, xs) * rng.uniform(0.6, 1.3, (n, 1))
    _stamp(image, py.ravel(), px.ravel(), np.repeat(colors, 5, axis=0), _px(h, w, 0.011))
    image[_edges(labels, _px(h, w, 0.025, 2))] = pal[0] * 0.12
    return image


def paint_fauvism(rng, h, w):
    # broad patches of pure, clashing colour laid in short wide dabs; bare ground shows; no contours
    pal = _palette(rng, 6, {"vivid": 4, "warm": 1})
    labels = _regions(rng, h, w, int(rng.integers(3, 6)), rng.uniform(1.0, 2.0))
    image = pal[labels % 6].copy()
    # bare canvas between the dabs: specks of ground that the strokes below mostly cover
    bare = _noise(rng, h, w, min(h, w) / 8) > rng.uniform(0.75, 0.85)
    image[bare] = np.float32(0.93)
    n = _density(h, w, rng.uniform(300, 450))
    ys, xs = _scatter(rng, h, w, n)
    shift = (rng.random(n) < 0.3).astype(np.int64)  # some dabs take the neighbouring colour
    colors = pal[(labels[ys.astype(int), xs.astype(int)] + shift) % 6] * rng.uniform(
        0.85, 1.15, (n, 1)
    )
    angles = rng.normal(rng.uniform(0, np.pi), 0.4, n)
    lengths = min(h, w) * rng.uniform(0.04, 0.07, n)
    _strokes(image, ys, xs, angles, lengths, colors, _px(h, w, 0.022))
    return image


def paint_symbolism(rng, h, w):
    # dreamlike, symmetric and hazy: a glowing central figure, mist, a few faint stars
    pal = _palette(rng, 5, {"dark": 2, "cool": 2, "pastel": 1, "muted": 1})
    yy, xx = _grid(h, w)
    # the dusk light comes from any side: a gradient at a random angle and steepness
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((yy - h / 2) * np.cos(angle) + (xx - w / 2) * np.sin(angle)) / max(h, w)
    image = _mix(pal[0] * 0.6, pal[1], np.clip(0.5 + ramp * rng.uniform(0.6, 2.0), 0, 1))
    mist = _noise(rng, h, w, rng.uniform(1.5, 4), octaves=3)
    mist = 0.5 * (mist + mist[:, ::-1])  # mirror symmetry
    haze = rng.uniform(0.15, 0.45)
    image = image * (1 - haze + 2 * haze * mist[..., None])
    # the glowing figure stands anywhere but the edges, alone or with a mirrored twin
    cx = w * rng.uniform(0.2, 0.8)
    cy = h * rng.uniform(0.2, 0.8)
    glow = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (rng.uniform(0.2, 0.45) * min(h, w)) ** 2)
    image = image + glow[..., None] * np.clip(pal[2] + 0.3, 0, 1) * rng.uniform(0.5, 0.9)
    height = h * rng.uniform(0.35, 0.85)
    centres = [cx] if rng.random() < 0.6 else [cx * 0.6, w - cx * 0.6]
    for x_centre in centres:
        figure = _figure(yy, xx, h - height / 2 * rng.uniform(1.0, 1.5), x_centre, height,
                         height * rng.uniform(0.25, 0.45), rng.uniform(-0.3, 0.3))  # fmt: skip
        image = np.where((figure > 0)[..., None], pal[3] * 0.5 + glow[..., None] * 0.4, image)
    n_stars = _density(h, w, rng.uniform(0, 25))
    sy, sx = rng.uniform(0, 0.4 * h, n_stars), rng.uniform(0, w, n_stars)
    _stamp(image, sy, sx, np.full((n_stars, 3), 1.0, np.float32), 0)
    return _blur(image, _px(h, w, 0.015))


def paint_art_nouveau_modern(rng, h, w):
    # flat decorative areas bounded by flowing whiplash curves, a patterned frame, flower discs
    pal = _palette(rng, 7, {"warm": 2, "pastel": 2, "earth": 1, "cool": 1})
    yy, xx = _grid(h, w)
    labels = np.zeros((h, w), np.int64)
    for _ in range(int(rng.integers(3, 6))):
        wave = h * rng.uniform(0.1, 0.9) + h * rng.uniform(0.05, 0.15) * np.sin(
            xx / w * rng.uniform(3, 9) + rng.uniform(0, 6) + np.sin(yy / h * 4)
        )
        labels += (yy > wave).astype(np.int64)
    image = pal[labels % 7].copy()
    line = pal[rng.integers(0, 7)] * 0.3
    image[_edges(labels, _px(h, w, 0.02))] = line
    for _ in range(rng.integers(1, 4)):  # stylised flowers: discs with petals
        fy, fx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        r0 = min(h, w) * rng.uniform(0.07, 0.13)
        theta = np.arctan2(yy - fy, xx - fx)
        flower = np.hypot(yy - fy, xx - fx) < r0 * (
            0.7 + 0.3 * np.cos(int(rng.integers(5, 9)) * theta)
        )
        image[flower] = pal[rng.integers(0, 7)]
        image[_edges(flower.astype(np.int8), 1)] = line
    border = _px(h, w, rng.uniform(0.06, 0.1), 3)
    frame = (yy < border) | (yy >= h - border) | (xx < border) | (xx >= w - border)
    period = max(3, border)
    pattern = np.mod(xx + yy, period) < period / 2
    image[frame] = np.where(pattern[frame][..., None], pal[1], line)
    return image


def paint_naive_art_primitivism(rng, h, w):
    # no perspective: flat sky and field, rows of simple houses, round trees and a sun
    pal = _palette(rng, 7, {"vivid": 2, "pastel": 1, "warm": 1, "cool": 1})
    yy, xx = _grid(h, w)
    horizon = h * rng.uniform(0.3, 0.5)
    image = np.where((yy < horizon)[..., None], pal[0], pal[1]).astype(np.float32)
    sun = (
        _ellipse(yy, xx, h * 0.12, rng.uniform(0.1, 0.9) * w, min(h, w) * 0.07, min(h, w) * 0.07)
        < 1
    )
    image[sun] = np.array([0.95, 0.85, 0.2], np.float32)
    unit = min(h, w) * rng.uniform(0.07, 0.1)
    outline = np.zeros((h, w), np.int64)
    n_rows = int(rng.integers(2, 4))
    for row in range(n_rows):
        base = horizon + (row + 1) * (h - horizon) / (n_rows + 0.5)
        x = rng.uniform(0, unit)
        while x < w:
            if rng.random() < 0.5:  # house: square body and triangular roof
                body = (xx >= x) & (xx < x + unit) & (yy < base) & (yy >= base - unit)
                roof = (
                    (yy < base - unit)
                    & (yy >= base - 1.6 * unit)
                    & (np.abs(xx - x - unit / 2) < (yy - (base - 1.6 * unit)) * 0.85)
                )
                image[body] = pal[rng.integers(2, 7)]
                image[roof] = pal[rng.integers(2, 7)]
                outline[body] = outline.max() + 1
                outline[roof] = outline.max() + 1
            else:  # tree: round crown on a trunk
                crown = (
                    _ellipse(yy, xx, base - 1.2 * unit, x + unit / 2, unit * 0.55, unit * 0.5) < 1
                )
                trunk = (
                    (np.abs(xx - x - unit / 2) < unit * 0.1)
                    & (yy < base)
                    & (yy >= base - 0.7 * unit)
                )
                image[trunk] = np.array([0.4, 0.25, 0.1], np.float32)
                image[crown] = pal[rng.integers(2, 7)] * np.array([0.6, 1.0, 0.6], np.float32)
                outline[crown] = outline.max() + 1
            x += unit * rng.uniform(1.3, 1.8)
    image[_edges(outline, 1)] = 0.1
    return image


def paint_pop_art(rng, h, w):
    # flat bright colour, halftone (Ben-Day) dots and thick black outlines
    pal = _palette(rng, 6, {"vivid": 4, "warm": 1})
    yy, xx = _grid(h, w)
    image = np.broadcast_to(pal[0], (h, w, 3)).copy()
    period = min(h, w) * rng.uniform(0.06, 0.09)
    field = _noise(rng, h, w, 1.5)
    dots = (np.mod(yy, period) - period / 2) ** 2 + (
        np.mod(xx + (np.floor(yy / period) % 2) * period / 2, period) - period / 2
    ) ** 2 < (period * (0.2 + 0.3 * field)) ** 2
    image[dots] = pal[1]
    labels = np.zeros((h, w), np.int64)
    for k in range(1, int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        r = min(h, w) * rng.uniform(0.15, 0.3)
        if rng.random() < 0.5:
            shape = _ellipse(yy, xx, cy, cx, r * rng.uniform(0.8, 1.3), r) < 1
        else:
            shape = _rect(yy, xx, cy, cx, r * rng.uniform(0.5, 1), r, rng.normal(0, 0.2))
        image[shape] = pal[1 + k % 5]
        labels[shape] = k
    image[_edges(labels, _px(h, w, 0.03, 2))] = 0.03
    return image


def paint_ukiyo_e(rng, h, w):
    # woodblock print: flat areas, fine dark key-block outlines, graded sky, patterned waves
    pal = _palette(rng, 6, {"cool": 3, "earth": 1, "muted": 1})
    yy, xx = _grid(h, w)
    paper = np.array([0.93, 0.88, 0.76], np.float32) * rng.uniform(0.9, 1.02)
    image = np.broadcast_to(paper, (h, w, 3)).copy()
    band = h * rng.uniform(0.15, 0.3)
    image = np.where((yy < band)[..., None], _mix(pal[0], paper, yy / band), image)  # bokashi
    labels = np.zeros((h, w), np.int64)
    peak_x, peak_h = rng.uniform(0.2, 0.8) * w, h * rng.uniform(0.25, 0.45)
    mountain = yy > (h * 0.6 - peak_h) + np.abs(xx - peak_x) * rng.uniform(0.5, 0.9)
    image[mountain] = pal[1]
    labels[mountain] = 1
    sea = h * rng.uniform(0.55, 0.7) + min(h, w) * 0.06 * np.sin(xx / w * rng.uniform(6, 12))
    water = yy > sea
    r = min(h, w) * rng.uniform(0.05, 0.08)
    row = np.floor(yy / r)
    local_x = np.mod(xx + (row % 2) * r, 2 * r) - r
    local_y = np.mod(yy, r) - r
    # seigaiha: overlapping concentric arcs
    ring = np.mod(np.sqrt(local_x**2 + local_y**2), r / 3) < r / 7
    image[water] = pal[2]
    image[water & ring] = np.clip(pal[2] + 0.45, 0, 1)
    labels[water] = 2
    if rng.random() < 0.6:  # title cartouche
        cy, cx = rng.uniform(0.15, 0.4) * h, rng.choice([0.1, 0.9]) * w
        box = _rect(yy, xx, cy, cx, 0.15 * h, 0.05 * w)
        image[box] = np.clip(pal[3] + 0.3, 0, 1)
        labels[box] = 3
    image[_edges(labels, 1)] = pal[4] * 0.2
    grain = _noise(rng, h, w, min(h, w) / 4)
    return image * (0.96 + 0.06 * grain[..., None])


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


# ====================================================================== names

_GIVEN = (
    "anna", "bruno", "clara", "dmitri", "elena", "felix", "greta", "hugo", "ines", "jonas",
    "kasia", "lorenzo", "mirela", "nils", "olga", "pavel", "rosa", "sven", "tomas", "vera",
)  # fmt: skip
_FAMILY_PARTS = (
    ("bel", "cor", "dan", "fer", "gal", "hol", "kov", "lind", "mar", "nov", "ost", "pel",
     "ros", "sal", "tor", "val", "wen", "zar"),
    ("ani", "eck", "ello", "enko", "ier", "in", "ova", "sen", "ski", "ström", "ti", "uzzi"),
)  # fmt: skip
_TITLE_WORDS = (
    "landscape", "portrait", "still-life", "composition", "study", "evening", "harbour",
    "garden", "the-river", "figures", "interior", "morning", "the-bridge", "woman-reading",
    "mountain", "the-sea", "flowers", "street", "dancers", "untitled",
)  # fmt: skip


def _stable_rng(*parts: object) -> np.random.Generator:
    """A generator seeded by a hash of ``parts``: stable across runs, platforms and processes."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


@functools.lru_cache(maxsize=64)
def artists_of(style: str) -> tuple[str, ...]:
    """A few invented artist slugs for a style, e.g. ``('greta-korsen', ...)``; fixed per style."""
    rng = _stable_rng("artists", style)
    names: list[str] = []
    while len(names) < 4:
        family = "".join(part[rng.integers(len(part))] for part in _FAMILY_PARTS)
        family = family.replace("ö", "o")
        name = f"{_GIVEN[rng.integers(len(_GIVEN))]}-{family}"
        if name not in names:
            names.append(name)
    return tuple(names)


def image_rng(seed: int, split: str, style: str, index: int) -> np.random.Generator:
    """The generator of one image: depends on (seed, split, style, index) only."""
    return _stable_rng(GENERATOR_NAME, seed, split, style, index)


def render_image(
    seed: int, split: str, style: str, index: int, size: int
) -> tuple[str, np.ndarray]:
    """File name (``artist_title-NNNN.jpg``) and pixels of one image of the set."""
    rng = image_rng(seed, split, style, index)
    artists = artists_of(style)
    artist = artists[rng.integers(len(artists))]
    title = _TITLE_WORDS[rng.integers(len(_TITLE_WORDS))]
    long_side = int(round(size * rng.uniform(*_ASPECT_RANGE)))
    shape = (long_side, size) if rng.random() < 0.5 else (size, long_side)
    return f"{artist}_{title}-{index:04d}.jpg", paint(style, rng, size=shape)


def encode_jpeg(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


# ====================================================================== the data set


def _jobs(counts: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    return [
        (split, style, index)
        for split in ("train", "test")
        for style in STYLES
        for index in range(counts[split][style])
    ]


def _render_chunk(folder: str, seed: int, size: int, jobs: list[tuple[str, str, int]]) -> list[str]:
    """Render and write a list of (split, style, index) jobs under ``folder``; returns their paths."""
    written = []
    for split, style, index in jobs:
        name, pixels = render_image(seed, split, style, index, size)
        rel = f"{split}/{style}/{name}"
        Path(folder, rel).write_bytes(encode_jpeg(pixels))
        written.append(rel)
    return written


def _existing_set(out: Path) -> dict[str, Any] | None:
    """The marker of a previous synthetic set in ``out``, None for a missing or empty folder.

    Refuses a folder that holds anything else, so regenerating never deletes a user's files.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise ArtstyleError(f"{out} is a file; pass a folder for the synthetic data set")
    entries = [p for p in out.iterdir()]
    if not entries:
        return None
    marker_path = out / MARKER_FILE
    marker = None
    if marker_path.is_file():
        try:
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            marker = None
    if not isinstance(marker, dict) or marker.get("generator") != GENERATOR_NAME:
        raise ArtstyleError(
            f"{out} is not empty and is not a synthetic data set (no {MARKER_FILE} from artstyle); "
            "pass a new or empty folder"
        )
    for path in out.rglob("*"):
        rel = path.relative_to(out).parts
        ok = (
            rel == (MARKER_FILE,)
            or (len(rel) == 1 and rel[0] in ("train", "test") and path.is_dir())
            or (
                len(rel) == 2
                and rel[0] in ("train", "test")
                and rel[1] in PAINTERS
                and path.is_dir()
            )
            or (
                len(rel) == 3
                and rel[0] in ("train", "test")
                and rel[1] in PAINTERS
                and path.suffix == ".jpg"
                and path.is_file()
            )
        )
        if not ok:
            raise ArtstyleError(
                f"{out} holds {path.relative_to(out)}, which the synthetic set did not write; "
                "move it away or pass another folder"
            )
    return marker


def _is_complete(out: Path, marker: dict[str, Any], params: dict[str, Any]) -> bool:
    if marker.get("format") != FORMAT_VERSION or marker.get("params") != params:
        return False
    expected = marker.get("files")
    if not isinstance(expected, list) or len(expected) != sum(
        sum(c.values()) for c in marker.get("counts", {}).values()
    ):
        return False
    return all((out / rel).is_file() for rel in expected)


def _summary(
    out: Path, params: dict[str, Any], counts, seconds: float, workers: int, reused: bool
) -> dict[str, Any]:
    return {
        "out": str(out),
        **params,
        "counts": counts,
        "n_train": sum(counts["train"].values()),
        "n_test": sum(counts["test"].values()),
        "n_styles": len(STYLES),
        "missing_in_test": sorted(s for s, n in counts["test"].items() if n == 0),
        "seconds": round(seconds, 3),
        "workers": workers,
        "reused": reused,
    }


def make_synthetic(
    out: str | os.PathLike,
    *,
    scale: float = DEMO_SCALE,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the synthetic 27-style set to ``out/train/<Style>/*.jpg`` and ``out/test/<Style>/*.jpg``.

    The set is built in a temporary folder beside ``out`` and renamed into
    place, so ``out`` never holds half a set. A previous synthetic set in
    ``out`` is replaced (or reused as it is when made with the same
    parameters); any other non-empty folder is refused. ``workers`` processes
    render in parallel (default: one per core, for sets large enough to gain);
    a script that calls this with more than one worker needs the usual
    ``if __name__ == "__main__":`` guard, or ``workers=1``.
    Returns a summary: parameters, counts per split and style, seconds.

        artstyle data synth data/synthetic --scale 0.2 --seed 0
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ArtstyleError(
            f"--size must be a whole number of pixels from 16 to 4096, got {size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArtstyleError(f"--seed must be a whole number >= 0, got {seed!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ArtstyleError(f"--workers must be a whole number >= 1, got {workers!r}")
    counts = synth_counts(scale, test_fraction=test_fraction)
    params = {
        "scale": float(scale),
        "size": size,
        "seed": seed,
        "test_fraction": float(test_fraction),
    }
    out = Path(out).expanduser().absolute()
    started = time.perf_counter()

    marker = _existing_set(out)
    if marker is not None and _is_complete(out, marker, params):
        return _summary(out, params, counts, time.perf_counter() - started, 0, reused=True)

    jobs = _jobs(counts)
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, 8, len(jobs) // 150))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise ArtstyleError(
            f"cannot create a folder in {out.parent}: {exc.strerror or exc}"
        ) from exc
    try:
        for split in ("train", "test"):
            for style in STYLES:
                if counts[split][style]:
                    (staging / split / style).mkdir(parents=True)
        files = _render_all(staging, seed, size, jobs, workers, progress)
        marker = {
            "generator": GENERATOR_NAME,
            "format": FORMAT_VERSION,
            "params": params,
            "counts": counts,
            "files": sorted(files),
        }
        (staging / MARKER_FILE).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        _swap_into_place(staging, out)
    except OSError as exc:  # disk full, permissions: nothing half-written is left behind
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtstyleError(
            f"could not write the synthetic set to {out}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _summary(out, params, counts, time.perf_counter() - started, workers, reused=False)


def _render_all(
    staging: Path,
    seed: int,
    size: int,
    jobs: list[tuple[str, str, int]],
    workers: int,
    progress: bool,
) -> list[str]:
    chunk = max(1, min(64, math.ceil(len(jobs) / (4 * workers))))
    chunks = [jobs[i : i + chunk] for i in range(0, len(jobs), chunk)]
    files: list[str] = []
    with _progress(progress, len(jobs)) as advance:
        if workers <= 1:
            for part in chunks:
                files += _render_chunk(str(staging), seed, size, part)
                advance(len(part))
            return files
        from artstyle.data.images import worker_context

        # fork on Linux: forkserver would re-run an unguarded script in every worker
        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context()) as pool:
            futures = [
                pool.submit(_render_chunk, str(staging), seed, size, part) for part in chunks
            ]
            for future in as_completed(futures):
                done = future.result()
                files += done
                advance(len(done))
    return files


class _progress:
    """A rich progress bar when ``enabled``; yields a function that advances it."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("painting", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename the finished set onto ``out``; an old set is moved aside first, then deleted."""
    old = None
    if out.exists():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:
            out.rmdir()
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
