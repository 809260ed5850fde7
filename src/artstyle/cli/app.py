"""The Typer app, its sub-apps and consoles, and the options every command shares."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

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
    # plain help: rich's boxed panels cut option names and help words short at 80 columns
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Look at and prepare a data set.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model into a run folder.", no_args_is_help=True)
lora_app = typer.Typer(
    help="LoRA fine-tuning of a local text-to-image model.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(lora_app, name="lora")

console = Console()
err_console = Console(stderr=True)


def version_line() -> str:
    """``artstyle 0.1.0 (torch 2.13.0+cpu, Python 3.11.7; 2 threads of 2 cores, ...)``."""
    import platform
    from importlib import metadata

    from artstyle.threads import describe

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"artstyle {version('artstyle')} (torch {version('torch')}, Python "
        f"{platform.python_version()}; {describe()})"
    )


def _print_version(asked: bool) -> None:
    if asked:
        sys.stdout.write(version_line() + "\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version, torch's, and the CPU threads a run would use, then exit.",
        ),
    ] = False,
) -> None:
    pass


# Commands that take free ``--key value`` overrides for their config.
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}

DataArg = Annotated[
    Path,
    typer.Argument(
        help="Data folder (train/ and test/ of style folders), ArtGAN release or parquet."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
TestFractionOpt = Annotated[
    float | None,
    typer.Option(
        "--test-fraction", help="Hold out this share of each style when the data has no test split."
    ),
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


def print_json(obj: Any) -> None:
    from artstyle.io import json_text

    sys.stdout.write(json_text(obj) + "\n")


def print_plain(text: str, *, soft_wrap: bool = True) -> None:
    """``text`` as it is on stdout: no markup, no highlighting.

    ``soft_wrap`` leaves a long line (paths, a summary) whole for the terminal to wrap,
    so that it can be copied; without it rich breaks it at the console width.
    """
    console.print(text, highlight=False, soft_wrap=soft_wrap, markup=False)


def log_plain(text: str) -> None:
    """A progress line on stderr, as it is (no markup, no highlighting)."""
    err_console.print(text, highlight=False, markup=False)


def score_cell(value: float | None, missing: str) -> str:
    """A score in a table cell: three decimals, or ``missing`` where there is none."""
    return missing if value is None else f"{value:.3f}"


def comma_list(text: str | None) -> list[str] | None:
    """The names of a comma-separated option (``"a, b,"`` -> ``["a", "b"]``); None if not given."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def new_table(title: str | None, columns: Iterable[str]) -> Table:
    """A table of ``columns``: the first (the names) left-aligned, the rest (numbers) right."""
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


RunArg = Annotated[Path, typer.Argument(help="A run folder written by a training command.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML or YAML file of config keys (below the command line)."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Data folder (train/ and test/ of style folders), ArtGAN release or parquet."
    ),
]
SizeOpt = Annotated[int | None, typer.Option("--size", help="Image side in pixels after resizing.")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Training epochs.")]
MinutesOpt = Annotated[
    float | None,
    typer.Option(
        "--max-minutes", help="Wall-clock budget; stops cleanly, keeps best and last weights."
    ),
]
BalanceOpt = Annotated[
    str | None, typer.Option("--balance", help="none | weights | resample | sampler | logit-adjust")
]
DevicesOpt = Annotated[
    int | None, typer.Option("--devices", help="Processes/GPUs per node; > 1 runs DDP.")
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="The one seed every random choice derives from.")
]
RunOutOpt = Annotated[Path | None, typer.Option("--out", help="Run folder to create.")]
ResumeOpt = Annotated[
    Path | None, typer.Option("--resume", help="Continue this run from checkpoints/last.ckpt.")
]
EvalSplitOpt = Annotated[str, typer.Option("--split", help="test | val | train")]
TtaOpt = Annotated[
    bool | None,
    typer.Option(
        "--tta/--no-tta",
        help="Average over views of each image: its mirror, and crops when the run's tta_crop < 1 (default: as the run was trained).",
    ),
]


def merge_overrides(ctx: typer.Context, typed: dict[str, Any]) -> dict[str, Any]:
    """Typed options (when given) plus the free ``--key value`` pairs; a key given twice is refused."""
    free = parse_overrides(ctx.args)
    given = {key: value for key, value in typed.items() if value is not None}
    twice = sorted(set(free) & set(given))
    if twice:
        raise ArtstyleError(
            f"option(s) given twice: {', '.join('--' + k.replace('_', '-') for k in twice)}"
        )
    return {**given, **free}


CriticOpt = Annotated[
    Path | None,
    typer.Option(
        "--critic",
        help="Classifier run used as a frozen critic while training (default: one trained into RUN/critic).",
    ),
]
JudgeOpt = Annotated[
    Path | None,
    typer.Option("--judge", help="A different classifier run that scores the style-hit rate."),
]


def train_or_resume(
    ctx: typer.Context,
    options: dict[str, Any],
    *,
    task: str,
    model: type,
    train: Callable[[Any], Any],
    resume: Callable[..., Any],
) -> tuple[Any, Path | None]:
    """Start a run from defaults < ``options["config"]`` file < options, or continue
    ``options["resume"]`` with its own config.yaml.

    Returns what the training function returned and the run folder.
    """
    from artstyle.config import load_config

    config_file, resume_path = options.pop("config"), options.pop("resume")
    overrides = merge_overrides(ctx, options)
    if resume_path is not None:
        if config_file is not None:
            raise ArtstyleError("--resume continues a run with its own config.yaml; drop --config")
        return resume(resume_path, overrides=overrides), resume_path
    settings = load_config(model, config_file, overrides, task=task)
    return train(settings), settings.out


CommandFn = TypeVar("CommandFn", bound=Callable[..., Any])


def with_options(
    command: CommandFn,
    leading: Iterable[inspect.Parameter],
    options: Iterable[tuple[str, Any, Any]],
) -> CommandFn:
    """``command`` with the signature typer reads its arguments and options from: the
    ``leading`` parameters, then one keyword-only parameter per ``(name, annotated type,
    default)`` in ``options``, in that order in --help.

    For commands whose options come from a table; typer passes every value by keyword, so
    the function itself may take them as ``**options``.
    """
    parameters = list(leading)
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in options
    ]
    command.__signature__ = inspect.Signature(parameters)
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


def config_keys_help(model: type) -> str:
    """Every key of a config model as ``--key TYPE [default]  description``, one per line: the
    epilog of a command that takes them all as ``--key value``. Click keeps ``\\b`` paragraphs
    as they are."""

    lines = ["\b", "Every config key (--key value; a --config file takes the same names):"]
    for name, field in model.model_fields.items():
        type_text = _type_text(field.annotation)
        if field.default_factory is not None:
            default = "machine's"
        else:
            default = "none" if field.default is None else str(field.default)
        about = f"  {field.description}" if field.description else ""
        lines.append(f"  --{name.replace('_', '-')} {type_text} [{default}]{about}")
    return "\n".join(lines)


def _type_text(annotation: Any) -> str:
    """``int|none``, ``crop|letterbox``, ``list[int]``: a config key's type as a user writes it."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return "|".join(_type_text(a) for a in args)
    if annotation is type(None):
        return "none"
    if origin is not None:
        return f"{origin.__name__}[{','.join(_type_text(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))
