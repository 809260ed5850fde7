"""What every benchmark section shares: the row format and a timer.

A section is one function ``section(*, quick: bool) -> list[dict]`` in its own
module ``bench/bench_<topic>.py``, listed in ``SECTIONS`` of ``bench/run.py``.
Each row is ``{name, value, unit, target, ok}``; build it with :func:`row`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def styles_of(data: Path) -> list[str]:
    """The style folders of ``data/train``, sorted: the class indices of the reference scripts."""
    return sorted(p.name for p in (data / "train").iterdir() if p.is_dir())


def labelled_files(root: Path, classes: list[str]) -> Iterator[tuple[Path, int]]:
    """(image file, class index) for every image under ``root/<style>/``, style by style, in
    name order; other files are skipped."""
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield path, label


def row(
    name: str,
    value: float,
    unit: str,
    *,
    target: float | None = None,
    higher_is_better: bool = True,
    note: str = "",
) -> dict[str, Any]:
    """One measurement; ``ok`` is None when there is no target to meet."""
    ok = None
    if target is not None:
        ok = bool(value >= target) if higher_is_better else bool(value <= target)
    target_text = None
    if target is not None:
        target_text = f"{'>=' if higher_is_better else '<='} {target:g}"
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target_text,
        "ok": ok,
        "note": note,
    }


def best_time(function: Callable[[], Any], *, repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls: the least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def run_artstyle(*args: str, env: dict[str, str]) -> float:
    """Run one ``artstyle`` command in a child process; its wall seconds; raises with its last error line."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "artstyle.cli", *args], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(
            f"artstyle {' '.join(args[:2])} failed: {lines[-1] if lines else result.returncode}"
        )
    return seconds
