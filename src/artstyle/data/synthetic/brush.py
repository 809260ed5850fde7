"""Colour pools and drawing tools the painters share: vectorised numpy, float32 RGB canvases."""

from __future__ import annotations

import functools
import math

import numpy as np

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


def _stamp_paths(
    canvas: np.ndarray, py: np.ndarray, px: np.ndarray, colors: np.ndarray, radius: int
) -> None:
    """Discs along (N, K) paths of points, each path in its own colour (N, 3)."""
    _stamp(canvas, py.ravel(), px.ravel(), np.repeat(colors, py.shape[1], axis=0), radius)


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
    _stamp_paths(canvas, py, px, colors, radius)


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
    py = np.empty((len(ys), n_steps), np.float32)
    px = np.empty((len(ys), n_steps), np.float32)
    y, x = ys.astype(np.float32), xs.astype(np.float32)
    for k in range(n_steps):
        py[:, k], px[:, k] = y, x
        angle = _lookup(field, y, x)
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


def _rotated(yy, xx, cy, cx, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to (cy, cx) on axes turned by ``angle``: (u along x, v along y)."""
    cos, sin = math.cos(angle), math.sin(angle)
    dy, dx = yy - cy, xx - cx
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    """Normalised squared radius of a rotated ellipse: < 1 inside."""
    u, v = _rotated(yy, xx, cy, cx, angle)
    return (u / rx) ** 2 + (v / ry) ** 2


def _rect(yy, xx, cy, cx, hh, hw, angle=0.0) -> np.ndarray:
    """Boolean rotated rectangle with half-sizes (hh, hw)."""
    u, v = _rotated(yy, xx, cy, cx, angle)
    return (np.abs(u) <= hw) & (np.abs(v) <= hh)


def _glow(yy, xx, cy, cx, reach) -> np.ndarray:
    """A round Gaussian falloff: 1 at (cy, cx), 1/e at ``reach`` px from it."""
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / reach**2)


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
