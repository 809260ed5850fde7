"""The one progress display every long step uses: a transient rich bar on stderr.

stdout may carry a JSON report, so the bar (and `Progress.print`) write to stderr.
A disabled bar does nothing, so callers never branch on whether progress is shown.

    with progress_bar("decoding", total=len(items), enabled=True) as advance:
        for item in items:
            ...
            advance(1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Progress:
    """A rich progress bar (label, bar, done/total, elapsed, remaining, info text), or nothing.

    `start(description, total, completed)` begins a new task (a new epoch, say) in place of the
    last; `advance` and `update` move it; `print` writes a line above the bar (or to stderr when
    the bar is off).
    """

    def __init__(self, enabled: bool, *, elapsed: bool = True) -> None:
        self.enabled = enabled
        self._elapsed = elapsed
        self._bar = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
            if self._elapsed:
                columns.append(TimeElapsedColumn())
            columns += [TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
            self._bar = RichProgress(*columns, console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def start(self, description: str, total: int, completed: int = 0) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(description, total=total, completed=completed, info="")

    def advance(self, n: int = 1, info: str | None = None) -> None:
        if self._bar is None:
            return
        if info is None:
            self._bar.update(self._task, advance=n)
        else:
            self._bar.update(self._task, advance=n, info=info)

    def update(self, completed: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, info=info)

    def print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, soft_wrap=True)
        else:
            from rich.console import Console

            Console(stderr=True).print(text, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)`` for a bar of ``total`` units named ``label`` (a no-op when off)."""
    if not enabled or total == 0:
        yield lambda n: None
        return
    with Progress(True, elapsed=False) as bar:
        bar.start(label, total)
        yield bar.advance
