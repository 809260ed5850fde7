"""Benchmark section "cache": building the uint8 cache, and reading it back an epoch at a time.

Three comparisons, each timed in the same run on the same files (1,500
generated 416x416 JPEGs, grain tuned to ~0.3 bytes per pixel like WikiArt's):

(a) building a 64 px cache (draft-mode JPEG decode, worker processes, memmap
    writes) against a naive loop that fully decodes and resizes each 416x416
    JPEG in one process;
(b) a full pass over a built 64 px cache through ``DeviceData.batches``
    (normalisation included, augmentation off), also on a course-sized
    13,000-image cache;
(c) a cached epoch of uint8 batches against decoding the same files again
    into the same uint8 arrays (and, for reference, the normalised epoch of (b)).

    python bench/run.py --only cache
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_time, row

SIZE = 64
SOURCE_SIDE = 416
N_STYLES = 5
BATCH_SIZE = 256
GRAIN = 6.0
COURSE_IMAGES = 13_000  # the course's training split
BUILD_TARGET = 2.5  # x faster than the naive loop
PASS_TARGET = 50_000  # images/s over a built 64 px cache
EPOCH_TARGET = 100  # x faster than decoding again


def make_paintings(root: Path, n_images: int, *, seed: int = 0) -> list[Path]:
    """Noisy 'painted' 416x416 JPEGs: smooth colour fields, a few hard-edged strokes, grain."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    # grain strength chosen so the files weigh ~0.3 bytes per pixel, like WikiArt JPEGs
    grain = [
        rng.normal(0, GRAIN, size=(SOURCE_SIDE, SOURCE_SIDE, 3)).astype(np.int16) for _ in range(4)
    ]
    paths = []
    for k in range(n_images):
        folder = root / "train" / f"Style_{k % N_STYLES}"
        folder.mkdir(parents=True, exist_ok=True)
        field = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        canvas = Image.fromarray(field).resize((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(canvas)
        for _ in range(8):
            x0, y0 = rng.integers(0, SOURCE_SIDE, size=2)
            x1, y1 = rng.integers(0, SOURCE_SIDE, size=2)
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            draw.line(
                [(int(x0), int(y0)), (int(x1), int(y1))],
                fill=colour,
                width=int(rng.integers(3, 15)),
            )
        noise = np.roll(grain[k % 4], int(rng.integers(0, SOURCE_SIDE)), axis=1)
        pixels = (np.asarray(canvas, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8)
        path = folder / f"artist-{k % 37}_work-{k:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    # a test split so the folder reads as the course layout
    test = root / "test" / "Style_0"
    test.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (SOURCE_SIDE, SOURCE_SIDE), (90, 80, 70)).save(test / "t.jpg")
    return paths


def naive_decode(paths: list[Path]) -> np.ndarray:
    """The loop a first version would write: full decode, resize, centre crop, one process."""
    from PIL import Image

    out = np.empty((len(paths), SIZE, SIZE, 3), dtype=np.uint8)
    for k, path in enumerate(paths):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        width, height = rgb.size
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        box = (left, top, left + side, top + side)
        out[k] = np.asarray(rgb.resize((SIZE, SIZE), Image.Resampling.BICUBIC, box=box))
    return out


def epoch_rates(data, *, min_seconds: float, seed: int = 0, raw: bool = False) -> list[float]:
    """Images/s of whole shuffled passes until ``min_seconds`` have gone by.

    Through ``data.batches`` (normalised float batches), or with ``raw`` through
    ``data.uint8_batches`` (the cached uint8 rows a decode would also give).
    """
    rng = np.random.default_rng(seed)
    rates = []
    spent = 0.0
    read = data.uint8_batches if raw else data.batches
    while spent < min_seconds or len(rates) < 3:
        order = rng.permutation(len(data))
        started = time.perf_counter()
        n_seen = 0
        for _x, y in read(order, BATCH_SIZE):
            n_seen += len(y)
        elapsed = time.perf_counter() - started
        spent += elapsed
        rates.append(n_seen / elapsed)
    return rates


def timed(function) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and of the workers it started and joined)."""
    before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    started = time.perf_counter()
    function()
    wall = time.perf_counter() - started
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(
        (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
        for a, b in zip(after, before, strict=True)
    )
    return wall, cpu


def section(*, quick: bool) -> list[dict]:
    import torch

    from artstyle.data.batches import DeviceData
    from artstyle.data.cache import load_split
    from artstyle.data.images import decode_item
    from artstyle.data.scan import scan

    n_images = 300 if quick else 1500
    repeats = 1 if quick else 3
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        paths = make_paintings(tmp_path / "data", n_images)
        print(f"   wrote {n_images} {SOURCE_SIDE}px JPEGs in {time.perf_counter() - started:.1f} s")
        index = scan(tmp_path / "data")
        items = index.split("train")
        for path in paths:  # both sides read from the page cache, not the disk
            path.read_bytes()

        # (a) cache build vs naive loop, alternating so both see the same machine load
        naive_runs, build_runs = [], []
        for attempt in range(repeats):
            naive_runs.append(timed(lambda: naive_decode(paths)))
            folder = tmp_path / f"cache-{attempt}"
            build_runs.append(
                timed(
                    lambda f=folder: load_split(
                        index, "train", size=SIZE, cache_dir=f, progress=False
                    )
                )
            )
        cached = load_split(
            index, "train", size=SIZE, cache_dir=tmp_path / "cache-0", progress=False
        )
        assert not cached.built and len(cached) == n_images
        naive, build = min(naive_runs), min(build_runs)
        rows += [
            row(
                f"naive loop, {SOURCE_SIDE}px JPEG -> {SIZE}px, 1 process",
                n_images / naive[0],
                "images/s",
            ),
            row(
                f"cache build, {SIZE}px, {os.cpu_count()} workers", n_images / build[0], "images/s"
            ),
            row(
                "cache build speed-up over naive loop (wall clock)",
                naive[0] / build[0],
                "x",
                target=BUILD_TARGET,
            ),
            row("CPU time per image, naive loop", 1000 * naive[1] / n_images, "ms"),
            row(
                "CPU time per image, cache build (all processes)", 1000 * build[1] / n_images, "ms"
            ),
        ]

        # (b) a full pass over the built cache, and over a course-sized one
        data = DeviceData(cached, device=torch.device("cpu"))
        rates = epoch_rates(data, min_seconds=0.5 if quick else 3.0)
        best_rate = max(rates)
        rows.append(
            row(
                f"epoch over the built {SIZE}px cache ({n_images} images, batch {BATCH_SIZE})",
                best_rate,
                "images/s",
                target=PASS_TARGET,
                note=f"best of {len(rates)} passes, median {statistics.median(rates):,.0f}",
            )
        )
        n_course = 3000 if quick else COURSE_IMAGES
        big_path = tmp_path / "course.npy"
        big = np.lib.format.open_memmap(
            big_path, mode="w+", dtype=np.uint8, shape=(n_course, SIZE, SIZE, 3)
        )
        for start in range(0, n_course, len(cached)):  # tile the built cache up to course size
            stop = min(n_course, start + len(cached))
            big[start:stop] = cached.images[: stop - start]
        big.flush()
        del big
        course = DeviceData(
            np.load(big_path, mmap_mode="r"), np.zeros(n_course, dtype=np.int64), device="cpu"
        )
        course_rates = epoch_rates(course, min_seconds=1.0 if quick else 5.0)
        rows.append(
            row(
                f"epoch over a course-sized {SIZE}px cache ({n_course} images, memmap)",
                max(course_rates),
                "images/s",
                target=PASS_TARGET,
                note=f"best of {len(course_rates)} passes, median {statistics.median(course_rates):,.0f}",
            )
        )

        # (c) a cached epoch vs decoding every file again (the fast draft-mode decode, one
        # process). Both sides deliver the same thing, shuffled uint8 S x S x 3 images, so the
        # ratio compares reads with decodes; normalising to float costs both sides alike and
        # is in (b)'s rows.
        raw_rates = epoch_rates(data, min_seconds=0.5 if quick else 3.0, raw=True)
        best_raw = max(raw_rates)

        def decode_again():
            for item in items:
                decode_item(item, SIZE, "crop")

        decode_seconds = best_time(decode_again, repeats=repeats)
        rows += [
            row(
                f"cached epoch read, uint8 batches ({n_images} images, batch {BATCH_SIZE})",
                best_raw,
                "images/s",
                note=f"best of {len(raw_rates)} passes, median {statistics.median(raw_rates):,.0f}",
            ),
            row(
                f"decode all files again, uint8 ({SIZE}px, draft mode, 1 process)",
                n_images / decode_seconds,
                "images/s",
            ),
            row(
                "cached epoch speed-up over decoding again (uint8 both sides)",
                decode_seconds / (n_images / best_raw),
                "x",
                target=EPOCH_TARGET,
            ),
            row(
                "the same with the cached side normalised to float (as training reads it)",
                decode_seconds / (n_images / best_rate),
                "x",
            ),
        ]
    rows.append(
        row(
            "machine load at the end of the section (1-min load average)",
            os.getloadavg()[0],
            "",
            note=f"{load_before:.1f} at the start, {os.cpu_count()} cores",
        )
    )
    return rows
