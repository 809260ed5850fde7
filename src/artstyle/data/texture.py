"""Colour, texture and layout statistics of paintings: 854 fixed numbers per image, no learning.

What a painting's palette and brushwork look like, summed over its whole surface:
the mean, standard deviation and skewness of R, G, B, H, S and V; a joint hue x
saturation x value histogram (8 x 4 x 4); and, on its grey image and on that
image at half the side, a histogram of Sobel gradients' orientation x strength
(as HOG over the whole image, Dalal & Triggs 2005), the strength's mean and
deviation, and the histogram of the 256 local binary patterns of 3x3
neighbourhoods (Ojala et al. 2002); and where light, dark and colour sit: the
mean of each channel and the grey deviation in the cells of a 4 x 4 grid.
Histograms are square-rooted (Hellinger).

They hold across painters where a network trained on a few thousand paintings
learns the painters it saw: :mod:`artstyle.models.statistics` fits a kernel
model on them, whose log-probabilities the classifier mixes with its own
(docs/real-paintings.md).

    python -c "from artstyle.data.texture import describe; import numpy as np; print(describe(np.zeros((64, 64, 3), np.uint8)).shape)"
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from artstyle.data.images import ImageError, statistics_pixels
from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path
from artstyle.progress import progress_bar

SIDE = 128  # pixels a side: the texture histograms need more than the network's 64
GRID = 4  # cells a side of the layout statistics
N_FEATURES = 854
_VERSION = 2  # of the statistics: a change to what they count makes older cached ones stale
# Sobel responses of grey in 0..1 (weights summing to 4 a side): flat, faint, soft, edge, hard
STRENGTH_EDGES = (0.05, 0.15, 0.4, 1.0)
LBP_OFFSETS = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))


def _moments(x: np.ndarray) -> np.ndarray:
    """(N, C) -> (3C,): each column's mean, standard deviation and skewness."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    return np.concatenate([mean, std, (((x - mean) / std) ** 3).mean(axis=0)])


def _frequencies(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes.ravel(), minlength=n_bins).astype(np.float64)
    return np.sqrt(counts / max(counts.sum(), 1.0))


def _texture(grey: np.ndarray) -> list[np.ndarray]:
    """Gradient orientation x strength histogram, the strength's mean and deviation, and the
    local-binary-pattern histogram of one grey image."""
    gx, gy = ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=0)
    strength = np.hypot(gx, gy)
    orientation = np.floor((np.arctan2(gy, gx) % np.pi) / np.pi * 8).clip(0, 7).astype(int)
    gradients = _frequencies(orientation * 5 + np.digitize(strength, STRENGTH_EDGES), 40)
    centre = grey[1:-1, 1:-1]
    h, w = centre.shape
    codes = np.zeros(centre.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(LBP_OFFSETS):
        codes |= (grey[dy : dy + h, dx : dx + w] >= centre).astype(np.int64) << bit
    return [gradients, np.array([strength.mean(), strength.std()]), _frequencies(codes, 256)]


def describe_pixels(rgb: np.ndarray, hsv: np.ndarray) -> np.ndarray:
    """The statistics of one image given as RGB and HSV ``(S, S, 3)`` uint8: ``(854,)`` float64."""
    rgb_f = rgb.astype(np.float64) / 255
    hsv_f = hsv.astype(np.float64) / 255
    bins = [np.floor(hsv_f[..., i] * n).clip(0, n - 1).astype(int) for i, n in enumerate((8, 4, 4))]
    parts = [
        _moments(rgb_f.reshape(-1, 3)),
        _moments(hsv_f.reshape(-1, 3)),
        _frequencies((bins[0] * 4 + bins[1]) * 4 + bins[2], 128),
    ]
    grey = rgb_f.mean(axis=2)
    parts += _texture(grey) + _texture(ndimage.zoom(grey, 0.5, order=1))
    parts += _layout(np.concatenate([rgb_f, hsv_f], axis=2), grey)
    return np.concatenate(parts)


def _layout(channels: np.ndarray, grey: np.ndarray) -> list[np.ndarray]:
    """Where light, dark and colour sit: the mean of each of the 6 channels and the grey
    deviation in each cell of a 4 x 4 grid (96 + 16 numbers)."""
    side = (min(grey.shape) // GRID) * GRID
    cell = side // GRID
    means = channels[:side, :side].reshape(GRID, cell, GRID, cell, -1).mean(axis=(1, 3))
    spread = grey[:side, :side].reshape(GRID, cell, GRID, cell).std(axis=(1, 3))
    return [means.ravel(), spread.ravel()]


def describe(source: Any, side: int = SIDE) -> np.ndarray:
    """The statistics of an :class:`~artstyle.data.scan.Item` or an ``(H, W, 3)`` uint8 array,
    black bars cut off and resized to ``side``: ``(854,)`` float64. Raises
    :class:`~artstyle.data.images.ImageError` for an item that cannot be read."""
    return describe_pixels(*statistics_pixels(source, side))


def describe_rows(data: Any, split: str, rows: np.ndarray, *, progress: bool = True) -> np.ndarray:
    """The statistics of rows ``rows`` of ``data.arrays[split]``: ``(len(rows), 854)`` float32.

    From each image's own file (its whole surface at :data:`SIDE` px) when the data was
    scanned from files, else from the decoded array itself; a file that no longer reads
    (it decoded when the cache was built) gets the statistics of its decoded array. For
    scanned data every row of the split is described once and kept beside its image cache
    (``<split>-statistics-128px.npz``), so later runs on the same files read them back.
    """
    rows = np.asarray(rows, dtype=np.int64)
    array = data.arrays[split]
    items = data.items(split)
    if items is None:
        return _describe(array, None, rows, progress)
    cache = Path(array.path).with_name(f"{split}-statistics-{SIDE}px.npz")
    key = _cache_key(data, split, array.rels)
    found = _read_cache(cache, key, len(array))
    if found is None:
        found = _describe(array, items, np.arange(len(array)), progress)
        _write_cache(cache, key, found)
    return found[rows]


def _describe(array: Any, items: list[Any] | None, rows: np.ndarray, progress: bool) -> np.ndarray:
    out = np.empty((len(rows), N_FEATURES), dtype=np.float32)
    with progress_bar("colour and texture statistics", len(rows), progress) as advance:
        for position, row in enumerate(rows):
            try:
                pixels = statistics_pixels(array.images[row] if items is None else items[row], SIDE)
            except ImageError:  # the file no longer reads: the image as it was decoded
                pixels = statistics_pixels(array.images[row], SIDE)
            out[position] = describe_pixels(*pixels)
            advance(1)
    return out


def _cache_key(data: Any, split: str, rels: list[str]) -> str:
    """The files (names, sizes, times), their row order and the statistics' version."""
    text = f"{_VERSION}|{SIDE}|{data.index.root}|{split}|{data.index.fingerprint(split)}|"
    return hashlib.sha256((text + "\n".join(rels)).encode(errors="surrogateescape")).hexdigest()


def _read_cache(path: Path, key: str, n_rows: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) == key and stored["features"].shape == (n_rows, N_FEATURES):
                return stored["features"]
    except (OSError, ValueError, KeyError):  # none yet, or a damaged file: describe again
        pass
    return None


def _write_cache(path: Path, key: str, features: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, key=np.array(key), features=features)
    except (ArtstyleError, OSError):  # a read-only cache folder: the statistics are kept in memory
        pass
