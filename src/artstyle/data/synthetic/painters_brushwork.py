"""Painters built from visible brushwork: strokes, dots, dabs, gestures and drips.

Impressionism, Post_Impressionism, Pointillism, Expressionism, Fauvism,
Abstract_Expressionism and Action_painting.

What a painter takes and returns, and the style -> painter table: painters.py.
"""

from __future__ import annotations

import numpy as np

from artstyle.data.synthetic.brush import (
    _blur,
    _density,
    _edges,
    _ellipse,
    _flow_paths,
    _glow,
    _grid,
    _landscape,
    _lookup,
    _mix,
    _noise,
    _palette,
    _px,
    _scatter,
    _stamp,
    _stamp_paths,
    _strokes,
    _walks,
)


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
        weight = _glow(yy, xx, cy, cx, 0.3 * min(h, w))
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
    _stamp_paths(canvas, py, px, colors, _px(h, w, 0.018))
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
    _stamp_paths(image, py, px, colors, _px(h, w, 0.011))
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


def paint_abstract_expressionism(rng, h, w):
    # big gestural brush marks laid over each other on a mottled ground
    pal = _palette(rng, 6, {"vivid": 2, "dark": 1, "warm": 1, "earth": 1})
    image = _mix(pal[0], pal[1], _noise(rng, h, w, rng.uniform(2, 4), octaves=2))
    n = _density(h, w, rng.uniform(14, 28))
    ys, xs = _scatter(rng, h, w, n)
    step = min(h, w) * rng.uniform(0.02, 0.03)
    py, px = _walks(rng, ys, xs, int(rng.integers(8, 16)), step, 0.25)
    colors = pal[rng.integers(0, 6, n)] * rng.uniform(0.7, 1.2, (n, 1))
    _stamp_paths(image, py, px, colors, _px(h, w, rng.uniform(0.04, 0.07)))
    n_small = _density(h, w, rng.uniform(20, 40))
    ys, xs = _scatter(rng, h, w, n_small)
    py, px = _walks(rng, ys, xs, 6, step, 0.4)
    colors = pal[rng.integers(0, 6, n_small)]
    _stamp_paths(image, py, px, colors, _px(h, w, 0.02))
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
    _stamp_paths(image, py, px, colors, 0)
    n_splat = _density(h, w, rng.uniform(150, 300))
    sy, sx = _scatter(rng, h, w, n_splat)
    for radius in (0, 1, _px(h, w, 0.02)):
        pick = rng.random(n_splat) < 0.4
        _stamp(image, sy[pick], sx[pick], inks[rng.integers(0, len(inks), pick.sum())], radius)
    return image
