"""A set of procedural styles told apart by structure only, strongly imbalanced.

    python bench/structure_set.py OUT [--size 96] [--seed 0]

Eight styles: horizontal stripes, vertical stripes, diagonal hatching,
checkerboard, dots, rings, wavy lines and blotches. Every image draws its two
colours, contrast, frequency, phase and noise from the same distributions
whatever its style, so palette and brightness say nothing: only the structure
does. Training counts fall geometrically from 240 to 12 (20:1); the test split
holds 30 per style. Written as JPEG, ``OUT/{train,test}/<Style>/*.jpg``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

STYLES = (
    "Blotches",
    "Checkerboard",
    "Diagonal_hatching",
    "Dots",
    "Horizontal_stripes",
    "Rings",
    "Vertical_stripes",
    "Wavy_lines",
)
TRAIN_MOST, TRAIN_FEWEST, TEST_EACH = 240, 12, 30


def train_counts() -> dict[str, int]:
    ratios = np.geomspace(TRAIN_MOST, TRAIN_FEWEST, len(STYLES))
    return {style: int(round(n)) for style, n in zip(STYLES, ratios, strict=True)}


def pattern(style: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size) field in [0, 1] whose structure is the style's."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frequency = rng.uniform(3.0, 9.0)
    phase = rng.uniform(0, 2 * np.pi)
    angle = rng.uniform(-0.25, 0.25)  # a small tilt for every striped style
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    if style == "Horizontal_stripes":
        field = np.sin(2 * np.pi * frequency * v + phase)
    elif style == "Vertical_stripes":
        field = np.sin(2 * np.pi * frequency * u + phase)
    elif style == "Diagonal_hatching":
        sign = rng.choice([-1.0, 1.0])
        field = np.sin(2 * np.pi * frequency * (u + sign * v) / np.sqrt(2) + phase)
    elif style == "Checkerboard":
        field = np.sin(2 * np.pi * frequency * u / 2 + phase) * np.sin(
            2 * np.pi * frequency * v / 2 + phase
        )
    elif style == "Dots":
        cell_u = (u * frequency + phase) % 1.0 - 0.5
        cell_v = (v * frequency + phase) % 1.0 - 0.5
        field = 1.0 - 2.0 * (np.hypot(cell_u, cell_v) < rng.uniform(0.18, 0.32))
    elif style == "Rings":
        cy, cx = rng.uniform(0.2, 0.8, size=2)
        field = np.sin(2 * np.pi * frequency * np.hypot(x - cx, y - cy) + phase)
    elif style == "Wavy_lines":
        amplitude = rng.uniform(0.03, 0.08)
        field = np.sin(
            2 * np.pi * frequency * (v + amplitude * np.sin(2 * np.pi * frequency * u / 2)) + phase
        )
    elif style == "Blotches":
        coarse = rng.normal(size=(5, 5)).astype(np.float32)
        field = np.asarray(
            Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32
        )
        field = np.tanh(2.0 * field / (np.abs(field).max() + 1e-6))
    else:
        raise ValueError(style)
    return (field + 1.0) / 2.0


def painting(style: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """The style's structure in two random colours, plus grain: (size, size, 3) uint8."""
    field = pattern(style, size, rng)[..., None]
    first, second = rng.uniform(0, 255, size=(2, 3))
    image = first * field + second * (1 - field)
    image += rng.normal(0, rng.uniform(4, 14), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write(out: Path, size: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    counts = train_counts()
    for split in ("train", "test"):
        for style in STYLES:
            folder = out / split / style
            folder.mkdir(parents=True, exist_ok=True)
            n = counts[style] if split == "train" else TEST_EACH
            for index in range(n):
                Image.fromarray(painting(style, size, rng)).save(
                    folder / f"{style.lower()}_{index:04d}.jpg", quality=90
                )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write(args.out, args.size, args.seed))


if __name__ == "__main__":
    main()
