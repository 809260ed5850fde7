"""The entry point: run the Typer app, turn bad input into one line and exit code 2."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

import typer
from rich.markup import escape

from artstyle.cli.app import app, err_console
from artstyle.errors import ArtstyleError


class _ClosedPipeGuard(io.TextIOBase):
    """stdout that survives its reader leaving (``artstyle train ... | head -1``).

    Files are written before results are printed; once the pipe is closed, what is
    printed after is dropped instead of failing the command (and costing its work).
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.closed_early = False

    def write(self, text: str) -> int:
        if not self.closed_early:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.closed_early:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def _reader_left(self) -> None:
        self.closed_early = True
        # interpreter exit flushes the real stdout again: point it at /dev/null first
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line, internal errors exit 1."""
    ok = False
    stdout = sys.stdout
    guard = _ClosedPipeGuard(stdout)
    sys.stdout = guard
    try:
        code = _main(argv)
        ok = code == 0
        return code
    finally:
        sys.stdout = stdout
        if guard.closed_early:
            err_console.print(
                "note: the reader of stdout left early (a closed pipe); what was printed after "
                "that was dropped, and every file was written",
                highlight=False,
                markup=False,
            )
        if "torch.distributed" in sys.modules:  # else no process group can exist
            from artstyle.train.engine import end_distributed

            end_distributed(ok=ok)


def _main(argv: list[str] | None) -> int:
    try:
        # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns that code
        code = app(args=argv, standalone_mode=False)
    except ArtstyleError as exc:
        # escaped: messages quote file and style names, whose [brackets] rich would read as markup
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        return int(code or 0)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False)
        return 130
    except Exception as exc:  # click usage errors come through here too
        import click

        # recent typer releases raise from their own vendored copy of click (typer._click)
        vendored = getattr(getattr(typer, "_click", None), "exceptions", click.exceptions)
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `artstyle` or `artstyle data` alone asks for the help: on stdout, no error
            sys.stdout.write(exc.ctx.get_help() + "\n")
            return 0
        if isinstance(exc, (click.exceptions.UsageError, vendored.UsageError)):
            err_console.print(
                f"[bold red]error:[/] {escape(exc.format_message())}", highlight=False
            )
            return 2
        if isinstance(exc, (click.exceptions.ClickException, vendored.ClickException)):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def _entry() -> None:
    sys.exit(main())
