"""The ``artstyle`` command line: parse, call one library function, print.

    artstyle --help
    artstyle data stats DATA

Every command turns bad input (:class:`~artstyle.errors.ArtstyleError`) into
one line on stderr and exit code 2; anything else is an internal error
(exit code 1). Library imports happen inside the commands so that
``artstyle --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from artstyle.errors import ArtstyleError

app = typer.Typer(
    name="artstyle",
    help="Audit, balance, classify, cluster, stylize and LoRA-paint WikiArt-style collections.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Look at and prepare a data set.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model into a run folder.", no_args_is_help=True)
lora_app = typer.Typer(help="LoRA fine-tuning of a local text-to-image model.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(lora_app, name="lora")

console = Console()
err_console = Console(stderr=True)

# Commands that take free ``--key value`` overrides for their config.
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}

DataArg = Annotated[Path, typer.Argument(help="Data folder (train/ and test/ of style folders), ArtGAN release or parquet.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
TestFractionOpt = Annotated[
    float | None,
    typer.Option("--test-fraction", help="Hold out this share of each style when the data has no test split."),
]


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``--key value`` / ``--key=value`` / ``--flag`` pairs into a dict (values left as text).

    Dashes in keys become underscores; pydantic converts the values to each field's type.
    """
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) < 3:
            raise ArtstyleError(f"unexpected argument {token!r}; options are written --key value")
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        overrides[key] = value
        i += 1
    return overrides


def _print_json(obj: Any) -> None:
    from artstyle.io import _json_default

    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


# ---------------------------------------------------------------- data


@data_app.command("stats")
def data_stats(data: DataArg, as_json: JsonOpt = False, test_fraction: TestFractionOpt = None) -> None:
    """Images per style and split, largest first; imbalance ratio; missing styles.

    Example: artstyle data stats DATA
    """
    from artstyle.data.stats import dataset_stats

    stats = dataset_stats(data, test_fraction=test_fraction)
    if as_json:
        _print_json(stats)
        return
    table = Table(title=f"{stats['root']} ({stats['source_kind']})")
    table.add_column("style")
    for split in ("train", "test"):
        table.add_column(split, justify="right")
    for row in stats["rows"]:
        table.add_row(row["style"], str(row["train"]), str(row["test"]))
    table.add_section()
    table.add_row("total", str(stats["splits"]["train"]["n_images"]), str(stats["splits"]["test"]["n_images"]))
    console.print(table)
    for split in ("train", "test"):
        info = stats["splits"][split]
        if info["n_images"]:
            console.print(
                f"{split}: {info['n_images']} images, {info['n_styles']} styles, "
                f"imbalance ratio {info['imbalance_ratio']:.1f} (largest {info['largest']}, smallest {info['smallest']})"
            )
    if stats["missing_in_test"]:
        console.print(f"[yellow]styles missing from test:[/] {', '.join(stats['missing_in_test'])}")
    for note in stats["notes"]:
        console.print(f"note: {note}")
    if stats["n_skipped"]:
        console.print(f"skipped {stats['n_skipped']} files: " + ", ".join(f"{k} {v}" for k, v in stats["skipped_by_reason"].items()))


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line, internal errors exit 1."""
    try:
        app(args=argv, standalone_mode=False)
    except ArtstyleError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        return int(code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # click usage errors come through here too
        import click

        if isinstance(exc, click.exceptions.UsageError):
            err_console.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False)
            return 2
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
