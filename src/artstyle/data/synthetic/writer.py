"""Write the set: image names and generators, jobs, parallel painting, staging and swap into place.

Everything is a function of ``seed``: each image has its own generator derived
from (seed, split, style, index), so the same seed gives the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from artstyle.config import IMAGE_SIDE, TRAIN_SIDE, check_image_side
from artstyle.data.images import encode_jpeg, worker_context
from artstyle.data.synthetic.painters import PAINTERS, paint
from artstyle.data.synthetic.styles import (
    DEFAULT_SIZE,
    DEFAULT_TEST_FRACTION,
    DEMO_SCALE,
    STYLES,
    synth_counts,
)
from artstyle.errors import ArtstyleError
from artstyle.progress import progress_bar

GENERATOR_NAME = "artstyle.data.synthetic"
FORMAT_VERSION = 1
MARKER_FILE = "synthetic.json"
SPLITS = ("train", "test")
JPEG_QUALITY = 90
_ASPECT_RANGE = (1.08, 4.0 / 3.0)


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


# ====================================================================== the data set


def _jobs(counts: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    return [
        (split, style, index)
        for split in SPLITS
        for style in STYLES
        for index in range(counts[split][style])
    ]


def _render_chunk(folder: str, seed: int, size: int, jobs: list[tuple[str, str, int]]) -> list[str]:
    """Render and write a list of (split, style, index) jobs under ``folder``; returns their paths."""
    written = []
    for split, style, index in jobs:
        name, pixels = render_image(seed, split, style, index, size)
        rel = f"{split}/{style}/{name}"
        Path(folder, rel).write_bytes(encode_jpeg(pixels, JPEG_QUALITY))
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
        ok = rel == (MARKER_FILE,) or (
            rel[0] in SPLITS
            and (
                (len(rel) == 1 and path.is_dir())
                or (len(rel) == 2 and rel[1] in PAINTERS and path.is_dir())
                or (
                    len(rel) == 3
                    and rel[1] in PAINTERS
                    and path.suffix == ".jpg"
                    and path.is_file()
                )
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
    # written to be trained on: no smaller than a model trains at
    check_image_side(size, "--size", (TRAIN_SIDE[0], IMAGE_SIDE[1]))
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
        for split in SPLITS:
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
    with progress_bar("painting", len(jobs), progress) as advance:
        if workers <= 1:
            for part in chunks:
                files += _render_chunk(str(staging), seed, size, part)
                advance(len(part))
            return files
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
