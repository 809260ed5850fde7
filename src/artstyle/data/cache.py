"""Decode a split once into a memory-mapped uint8 array ``[N, S, S, 3]`` plus a JSON index.

The cache is keyed by the split's fingerprint (file list, sizes, mtimes), the
side ``S``, the resize mode and a format version: a changed, added or removed
file rebuilds it, anything else opens it without decoding. Decoding runs in
worker processes that write their rows straight into the temporary array
file, which is renamed into place only when complete (and fsynced). A file
lock makes two processes building the same cache produce one good cache.
Unreadable images are listed with the reason and left out of the arrays.

    artstyle data cache DATA --size 64
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from artstyle.config import check_image_side
from artstyle.data.images import RESIZE_MODES, ImageError, decode_item, worker_context
from artstyle.data.scan import Index, Item, Skipped
from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path, read_json, write_json
from artstyle.progress import progress_bar

try:  # POSIX only; without it, concurrent builders fall back to last-rename-wins
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT_VERSION = 1
_MAX_CHUNK = 64  # images per worker task: small enough for a smooth progress bar


@dataclass
class CachedSplit:
    """One split's decoded images (a read-only memmap) and what each row is."""

    images: np.ndarray  # uint8 (N, S, S, 3), read-only np.memmap
    labels: np.ndarray  # int64 (N,), indices into ``classes``
    rels: list[str]
    styles: list[str]
    artists: list[str | None]
    classes: list[str]
    failed: list[Skipped] = field(default_factory=list)
    size: int = 0
    resize: str = "crop"
    path: Path = Path()  # the .npy file; its index is path.with_suffix(".json")
    split: str = "train"
    built: bool = False  # True when this call decoded the images (False: opened an existing cache)

    def __len__(self) -> int:
        return len(self.rels)


def default_cache_dir(root: str | os.PathLike) -> Path:
    """``$ARTSTYLE_CACHE/<name>-<hash>`` or ``~/.cache/artstyle/<name>-<hash>`` for a data root.

    The cache lives outside the data folder, which may be read-only; the hash
    of the resolved root keeps two collections with the same folder name apart.
    """
    root = Path(root).expanduser().resolve()
    base = os.environ.get("ARTSTYLE_CACHE")
    if base:
        base_dir = Path(base).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base_dir = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "artstyle"
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:10]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name) or "data"
    return base_dir / f"{name}-{digest}"


def cache_key(index: Index, split: str, *, size: int, resize: str) -> str:
    """What a cache must match to be reused: files (names, sizes, mtimes), S, resize mode, format."""
    text = f"v{FORMAT_VERSION}|{index.root}|{split}|{index.fingerprint(split)}|{size}|{resize}"
    return hashlib.sha256(text.encode(errors="surrogateescape")).hexdigest()[:20]


def load_split(
    index: Index,
    split: str,
    *,
    size: int,
    resize: str = "crop",
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> CachedSplit:
    """The split's images as a memory-mapped uint8 array, decoding only when the cache is missing or stale.

    Example::

        from artstyle.data.scan import scan
        from artstyle.data.cache import load_split
        train = load_split(scan("DATA"), "train", size=64)
        train.images.shape  # (N, 64, 64, 3)
    """
    _check_options(size, resize, workers)
    items = index.split(split)
    if not items:
        raise ArtstyleError(f"the {split} split of {index.root} has no images; nothing to cache")
    folder = (
        Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(index.root)
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtstyleError(
            f"cannot create the cache folder {folder} ({exc.strerror}); "
            "set ARTSTYLE_CACHE or pass --cache-dir to a writable folder"
        ) from exc
    stem = f"{split}-{size}px-{resize}"
    array_path, index_path = folder / f"{stem}.npy", folder / f"{stem}.json"
    key = cache_key(index, split, size=size, resize=resize)
    with _locked(folder / f"{stem}.lock"):
        _remove_orphans(array_path, index_path)
        meta = _valid_meta(index_path, array_path, key, size)
        built = meta is None
        if built:
            meta = _build(
                items,
                array_path,
                index_path,
                key=key,
                size=size,
                resize=resize,
                split=split,
                root=index.root,
                workers=workers,
                progress=progress,
            )
        images = np.load(array_path, mmap_mode="r")
    lookup = index.class_to_index
    unknown = sorted({style for style in meta["styles"] if style not in lookup})
    if unknown:
        raise ArtstyleError(
            f"styles {', '.join(unknown)} in the {split} split are not in the class map "
            f"({len(index.classes)} training styles); add training images for them"
        )
    return CachedSplit(
        images=images,
        labels=np.array([lookup[s] for s in meta["styles"]], dtype=np.int64),
        rels=list(meta["rels"]),
        styles=list(meta["styles"]),
        artists=list(meta["artists"]),
        classes=list(index.classes),
        failed=[Skipped(f["path"], f["reason"]) for f in meta["failed"]],
        size=size,
        resize=resize,
        path=array_path,
        split=split,
        built=built,
    )


class CacheOptions(TypedDict, total=False):
    """:func:`load_split`'s options after the side, as passed on by the functions that call it."""

    resize: str
    cache_dir: str | os.PathLike | None
    workers: int | None
    progress: bool


def build_all(index: Index, size: int, **options: Unpack[CacheOptions]) -> dict[str, CachedSplit]:
    """Build (or check) the caches of every split that has images; what ``artstyle data cache`` runs.

    artstyle data cache DATA --size 64
    """
    return {
        split: load_split(index, split, size=size, **options)
        for split in ("train", "test")
        if index.split(split)
    }


def _check_options(size: int, resize: str, workers: int | None) -> None:
    if resize not in RESIZE_MODES:
        raise ArtstyleError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    check_image_side(size, "size")
    if workers is not None and workers < 1:
        raise ArtstyleError(f"workers must be at least 1, got {workers}")


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    try:
        handle = open(lock_path, "a+b")  # closed below, after the lock is released
    except OSError as exc:
        raise ArtstyleError(
            f"cannot write in the cache folder {lock_path.parent} ({exc.strerror}); "
            "set ARTSTYLE_CACHE or pass --cache-dir to a writable folder"
        ) from exc
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_orphans(*paths: Path) -> None:
    """Delete temporary files that a killed build left (atomic_path names them ``.<name>.*.tmp``).

    Only a holder of this cache's lock writes them, and the caller holds it, so
    any found now belong to a dead process; a full-size array each, they would
    otherwise fill the disk one kill at a time.
    """
    for path in paths:
        for orphan in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                orphan.unlink()


def _valid_meta(index_path: Path, array_path: Path, key: str, size: int) -> dict | None:
    """The index of an existing cache when it matches ``key`` and its array is whole, else None."""
    if not index_path.is_file() or not array_path.is_file():
        return None
    try:
        meta = read_json(index_path)
    except ArtstyleError:
        return None
    if (
        not isinstance(meta, dict)
        or meta.get("key") != key
        or meta.get("format_version") != FORMAT_VERSION
    ):
        return None
    try:
        images = np.load(array_path, mmap_mode="r")
    except (ValueError, OSError):
        return None
    expected = (len(meta.get("rels", [])), size, size, 3)
    if images.dtype != np.uint8 or images.shape != expected:
        return None
    return meta


def _build(
    items: list[Item],
    array_path: Path,
    index_path: Path,
    *,
    key: str,
    size: int,
    resize: str,
    split: str,
    root: Path,
    workers: int | None,
    progress: bool,
) -> dict:
    # The old index goes first: a crash mid-build leaves no index, so no stale pair is ever trusted.
    index_path.unlink(missing_ok=True)
    n_items = len(items)
    with atomic_path(array_path) as tmp:
        array = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(n_items, size, size, 3)
        )
        header_bytes = array.offset
        del array  # workers (or the in-process path) reopen the file; nothing is held here
        _reserve(tmp, header_bytes + n_items * size * size * 3)
        failures = _decode_into(
            tmp, items, size=size, resize=resize, workers=workers, progress=progress
        )
        good = [i for i in range(n_items) if i not in failures]
        if not good:
            first = "; ".join(f"{_where(items[i])}: {failures[i]}" for i in sorted(failures)[:3])
            raise ArtstyleError(
                f"none of the {n_items} images of the {split} split of {root} could be decoded "
                f"(first failures: {first}); check the files or their format"
            )
        if failures:
            _compact(tmp, good, header_bytes=header_bytes, row_shape=(size, size, 3))
    meta = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "root": str(root),
        "split": split,
        "size": size,
        "resize": resize,
        "n_images": len(good),
        "rels": [items[i].rel for i in good],
        "styles": [items[i].style for i in good],
        "artists": [items[i].artist for i in good],
        "failed": [{"path": _where(items[i]), "reason": failures[i]} for i in sorted(failures)],
    }
    write_json(index_path, meta)
    return meta


def _reserve(path: Path, n_bytes: int) -> None:
    """Claim the disk space up front: a full disk is then an OSError here (reported by
    atomic_path), not a SIGBUS in a worker writing to the memory map."""
    if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS, Windows
        return
    with open(path, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, n_bytes)
        except OSError as exc:
            if exc.errno in (
                errno.EOPNOTSUPP,
                errno.EINVAL,
            ):  # pragma: no cover - filesystem without it
                return
            raise


def _where(item: Item) -> str:
    return item.source if item.row < 0 else f"{item.source}#{item.row}"


def _decode_into(
    array_file: Path,
    items: list[Item],
    *,
    size: int,
    resize: str,
    workers: int | None,
    progress: bool,
) -> dict[int, str]:
    """Decode every item into its row of the array file; returns {row: reason} for the failures."""
    n_items = len(items)
    n_workers = min(workers or os.cpu_count() or 1, n_items)
    chunk = max(1, min(_MAX_CHUNK, math.ceil(n_items / (n_workers * 4))))
    tasks = [
        (str(array_file), start, items[start : start + chunk], size, resize)
        for start in range(0, n_items, chunk)
    ]
    failures: dict[int, str] = {}
    with progress_bar("decoding", n_items, progress) as advance:
        pending = (
            tasks if n_workers == 1 else _decode_in_workers(tasks, n_workers, failures, advance)
        )
        for task in pending:
            n_done, failed = _decode_chunk(task)
            failures.update(failed)
            advance(n_done)
        _OPEN_ARRAYS.clear()  # drop this process's writable map of the temporary file
    return failures


def _decode_in_workers(tasks: list, n_workers: int, failures: dict[int, str], advance) -> list:
    """Run the tasks in worker processes; returns the tasks left undone if the pool broke."""
    context = worker_context()  # fork on Linux: spawn would re-run an unguarded script
    done: set[int] = set()
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=context)
    try:
        futures = {pool.submit(_decode_chunk, task): k for k, task in enumerate(tasks)}
        for future in as_completed(futures):
            n_done, failed = future.result()
            failures.update(failed)
            done.add(futures[future])
            advance(n_done)
    except BrokenProcessPool as exc:
        # A worker died (killed for memory, or could not start); finish here rather than lose the build.
        print(
            f"warning: decode workers stopped ({exc}); decoding the rest in this process",
            file=sys.stderr,
        )
    finally:
        # on Ctrl-C or an error, drop the queued chunks instead of decoding them all first
        pool.shutdown(wait=True, cancel_futures=True)
    return [task for k, task in enumerate(tasks) if k not in done]


_OPEN_ARRAYS: dict[str, np.ndarray] = {}


def _decode_chunk(task: tuple[str, int, list[Item], int, str]) -> tuple[int, dict[int, str]]:
    """Worker: decode items and write them to rows ``start...`` of the array file (no big pickles back)."""
    array_file, start, items, size, resize = task
    array = _OPEN_ARRAYS.get(array_file)
    if array is None:
        _OPEN_ARRAYS.clear()
        array = np.lib.format.open_memmap(array_file, mode="r+")
        _OPEN_ARRAYS[array_file] = array
    failed: dict[int, str] = {}
    for offset, item in enumerate(items):
        try:
            array[start + offset] = decode_item(item, size, resize)
        except ImageError as exc:
            failed[start + offset] = exc.reason
        except MemoryError:
            failed[start + offset] = "out of memory while decoding"
    array.flush()
    return len(items), failed


def _compact(path: Path, good: list[int], *, header_bytes: int, row_shape: tuple[int, ...]) -> None:
    """Move the good rows to the front, rewrite the shape in the .npy header, truncate the file.

    Done in place so a large cache with one bad file is not copied; the new
    header is padded with spaces to the old length, which the .npy format
    allows, so the data offset does not move.
    """
    _OPEN_ARRAYS.clear()
    array = np.lib.format.open_memmap(path, mode="r+")
    # Rows only move towards the front (good[k] >= k), so copying in order never overwrites
    # a row still to be read; runs of consecutive rows move as one slice.
    k = 0
    while k < len(good):
        end = k
        while end + 1 < len(good) and good[end + 1] == good[end] + 1:
            end += 1
        if good[k] != k:
            array[k : end + 1] = array[good[k] : good[end] + 1]
        k = end + 1
    array.flush()
    del array
    n_good = len(good)
    header = repr({"descr": "|u1", "fortran_order": False, "shape": (n_good, *row_shape)})
    with open(path, "rb") as handle:
        major = handle.read(8)[6]
    # magic (6) + version (2) + header length: 2 bytes in format 1.0, 4 in 2.0 and 3.0
    prefix = 10 if major == 1 else 12
    room = header_bytes - prefix
    text = header.ljust(room - 1) + "\n"
    if len(text) != room:  # pragma: no cover - a shorter shape always fits
        raise RuntimeError("npy header does not fit after compaction")
    with open(path, "r+b") as handle:
        handle.seek(prefix)
        handle.write(text.encode("latin1"))
        handle.truncate(header_bytes + n_good * int(np.prod(row_shape)))
