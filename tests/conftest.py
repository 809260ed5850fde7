"""Shared fixtures: tiny synthetic image folders built on the fly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# Tests run two pytest workers on two cores: one thread per process (and per child
# process started by a test) avoids oversubscription that slows training ~100x.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image


def write_image(
    path: Path,
    *,
    seed: int,
    size: tuple[int, int] = (40, 32),
    mode: str = "RGB",
    fmt: str | None = None,
) -> Path:
    """A small random-ish image whose colours depend on ``seed``; returns the path."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(0, 256, size=3)
    pixels = (base + rng.integers(-40, 40, size=(height, width, 3))).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def make_dataset(
    root: Path, layout: dict[str, dict[str, int]], *, size: tuple[int, int] = (40, 32)
) -> Path:
    """``{"train": {"A": 8, "B": 8}, "test": {"A": 2}}`` -> root/train/A/a_000.jpg ..."""
    seed = 0
    for split, styles in layout.items():
        for style, n_images in styles.items():
            for k in range(n_images):
                seed += 1
                write_image(
                    root / split / style / f"artist-{style.lower()}_work-{k:03d}.jpg",
                    seed=seed,
                    size=size,
                )
    return root


# a tiny, quick classifier for tests that train through the command line
FAST_CLASSIFIER = [
    "--size",
    "32",
    "--batch-size",
    "8",
    "--width",
    "8",
    "--workers",
    "1",
    "--progress",
    "false",
]


def classifier_args(
    data: Path, out: Path, cache: Path, *extra: str, fast: Sequence[str] = FAST_CLASSIFIER
) -> list[str]:
    """``artstyle train classifier`` arguments for ``data`` -> ``out``, quick (``fast``)."""
    return [
        "train",
        "classifier",
        "--data",
        str(data),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *fast,
        *extra,
    ]


@pytest.fixture(autouse=True)
def _image_cache_in_tmp(tmp_path_factory, monkeypatch):
    """Every test's default image cache lives in a temporary folder, never in ~/.cache."""
    monkeypatch.setenv("ARTSTYLE_CACHE", str(tmp_path_factory.mktemp("artstyle-cache")))


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """3 styles x 8 train images, 3 x 2 test images, 40x32 JPEGs."""
    return make_dataset(
        tmp_path / "data",
        {
            "train": {"Baroque": 8, "Cubism": 8, "Rococo": 8},
            "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2},
        },
    )


def interrupt_after_update(monkeypatch, n_updates: int) -> None:
    """A Ctrl-C that lands right after the ``n_updates``-th learning-rate scheduler step, that
    is after an optimizer update and before the training loop counts it."""
    import torch

    real_step = torch.optim.lr_scheduler.LambdaLR.step

    def step_then_interrupt(self, *args, **kwargs):
        real_step(self, *args, **kwargs)
        if self.last_epoch == n_updates:
            raise KeyboardInterrupt

    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "step", step_then_interrupt)
