"""Painters of flat areas, planes and outlines.

Analytical_Cubism, Cubism and Synthetic_Cubism, Color_Field_Painting, Minimalism,
Art_Nouveau_Modern, Naive_Art_Primitivism, Pop_Art and Ukiyo_e.

What a painter takes and returns, and the style -> painter table: painters.py.
"""

from __future__ import annotations

import math

import numpy as np

from artstyle.data.synthetic.brush import (
    _edges,
    _ellipse,
    _grid,
    _mix,
    _noise,
    _palette,
    _px,
    _rect,
    _smoothstep,
)


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
