"""Painters of lit, modelled scenes: landscapes, still lifes, interiors and figures.

Early, High, Mannerism (Late) and Northern Renaissance (one painter, four periods),
Baroque, Rococo, Romanticism, Realism, Contemporary_Realism, New_Realism and Symbolism.

What a painter takes and returns, and the style -> painter table: painters.py.
"""

from __future__ import annotations

import math

import numpy as np

from artstyle.data.synthetic.brush import (
    _blur,
    _density,
    _edges,
    _ellipse,
    _figure,
    _glow,
    _grid,
    _landscape,
    _mix,
    _noise,
    _noise_1d,
    _palette,
    _px,
    _rect,
    _scatter,
    _stamp,
    _stamp_paths,
)


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


def paint_baroque(rng, h, w):
    # chiaroscuro: figures pulled out of a near-black ground by one raking light
    pal = _palette(rng, 5, {"warm": 2, "earth": 2, "dark": 1, "vivid": 1})
    yy, xx = _grid(h, w)
    # the light falls from anywhere above the middle, sometimes from the side
    ly, lx = rng.uniform(-0.2, 0.6) * h, rng.uniform(-0.1, 1.1) * w
    reach = rng.uniform(0.35, 0.75) * max(h, w)
    light = _glow(yy, xx, ly, lx, reach)
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
    _stamp_paths(image, py, px, colors, _px(h, w, 0.008))
    n_flowers = _density(h, w, rng.uniform(20, 60))
    fy, fx = _scatter(rng, h, w, n_flowers)
    _stamp(
        image, fy, fx, np.clip(pal[rng.integers(0, 6, n_flowers)] + 0.25, 0, 1), _px(h, w, 0.015)
    )
    return _blur(image, 1)


def paint_romanticism(rng, h, w):
    # a dramatic sky: big bright-and-dark clouds, a low glowing sun, a dark foreground
    pal = _palette(rng, 5, {"warm": 2, "dark": 2, "earth": 1, "cool": 1})
    yy, xx = _grid(h, w)
    horizon = h * rng.uniform(0.55, 0.8)
    clouds = _noise(rng, h, w, rng.uniform(1.5, 3), octaves=4)
    clouds = np.clip((clouds - 0.5) * rng.uniform(1.8, 2.6) + 0.5, 0, 1)
    sky = _mix(pal[0] * 0.35, pal[1], clouds)
    sy, sx = horizon - rng.uniform(0.05, 0.3) * h, rng.uniform(0.15, 0.85) * w
    glow = _glow(yy, xx, sy, sx, rng.uniform(0.15, 0.3) * min(h, w))
    sky = sky + glow[..., None] * pal[2] * 1.3
    ridge = horizon + min(h, w) * 0.2 * (_noise_1d(rng, w, rng.uniform(3, 8)) - 0.5)
    land = yy > ridge[None, :]
    ground = pal[3] * 0.3 * (0.6 + 0.8 * _noise(rng, h, w, 6, octaves=2))[..., None]
    image = np.where(land[..., None], ground, sky)
    return _blur(image, _px(h, w, 0.01))


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
    glow = _glow(yy, xx, cy, cx, rng.uniform(0.2, 0.45) * min(h, w))
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
