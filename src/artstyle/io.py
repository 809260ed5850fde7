"""Atomic file writes: a temporary name in the same folder, fsync, then rename.

A reader never sees a half-written file; a failed write (disk full, kill) leaves
the previous good file in place.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from artstyle.errors import ArtstyleError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a file where a folder must be, no permission, a full disk
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise ArtstyleError(
            f"could not write {path}: {reason}; choose another output path"
        ) from exc
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would, so a cache or a
        # run folder shared by a group stays readable by the others
        os.fchmod(fd, 0o666 & ~_umask())
    except (AttributeError, OSError):  # pragma: no cover - Windows, or a file system without modes
        pass
    finally:
        os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        advice = ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = f"; free space on the disk that holds {path.parent} and run the command again"
        raise ArtstyleError(
            f"could not write {path}: {exc.strerror or exc}; the previous file (if any) is unchanged{advice}"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask sets as it reads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """``obj`` as indented JSON. NaN and infinities become null: JSON has no such numbers,
    and strict readers (JavaScript's JSON.parse, jq) refuse the text otherwise."""
    return json.dumps(
        _finite_only(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False
    )


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as indented JSON (atomic), as :func:`json_text` writes it."""
    write_text(path, json_text(obj) + "\n")


def _finite_only(obj: Any) -> Any:
    if isinstance(obj, float):  # numpy's float64 too
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite_only(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_only(value) for value in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalars, arrays
        return _finite_only(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, Paths
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtstyleError(f"{path} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtstyleError(f"{path} is not valid JSON ({exc}); delete or restore it") from exc
