"""`artstyle train TASK` (one command per task) and `artstyle compare-balance`."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from artstyle.cli.app import (
    OVERRIDES,
    BalanceOpt,
    ConfigOpt,
    CriticOpt,
    DataOpt,
    DevicesOpt,
    EpochsOpt,
    JsonOpt,
    JudgeOpt,
    MinutesOpt,
    ResumeOpt,
    RunOutOpt,
    SeedOpt,
    SizeOpt,
    app,
    comma_list,
    config_keys_help,
    console,
    merge_overrides,
    new_table,
    print_json,
    print_plain,
    score_cell,
    train_app,
    train_or_resume,
    with_options,
)
from artstyle.config import AutoencoderConfig, ClassifierConfig, StylizerConfig

# The config model of each train command: its keys are listed in the command's --help
# (artstyle.train.tasks.TASKS names the same models; importing it here would load torch).
TASK_CONFIGS = {
    "classifier": ClassifierConfig,
    "autoencoder": AutoencoderConfig,
    "stylizer": StylizerConfig,
}

# The options each train command shows in --help beyond the common ones, and its help text.
# Every config key is also accepted as --key value.
TRAIN_COMMANDS: dict[str, tuple[tuple[tuple[str, Any], ...], str]] = {
    "classifier": (
        (("balance", BalanceOpt),),
        """Train the from-scratch style classifier into a run folder.

    Every key of the classifier config is also accepted as --key value
    (e.g. --model resnet_small --lr 0.003 --ema --class-weights sqrt).

    Example: artstyle train classifier --data DATA --out runs/clf --epochs 20
    """,
    ),
    "autoencoder": (
        (),
        """Train a convolutional autoencoder; its latent vectors are what `embed` and `cluster` use.

    Every key of the autoencoder config is also accepted as --key value
    (e.g. --latent-dim 128 --widths 32,64,128,256 --ssim-weight 0.2).
    metrics.json holds psnr, ssim and mse on the test split;
    figures/reconstructions.png shows test images over their reconstructions.

    Example: artstyle train autoencoder --data DATA --out runs/ae --epochs 10
    """,
    ),
    "stylizer": (
        (("critic", CriticOpt), ("judge", JudgeOpt)),
        """Train a style-conditioned autoencoder: one learned embedding per style, injected at every decoder scale.

    Without --critic or --judge it first trains the missing ones into RUN/critic and
    RUN/judge (small classifiers of other seeds; --helpers none goes without). The
    critic steers training; the judge only scores the end: metrics.json gets
    style_hit_rate beside chance and shuffled_target_hit_rate, and content_ssim.
    Every key of the stylizer config is also accepted as --key value
    (e.g. --gram-weight 2 --critic-weight 0.5 --init-styles runs/clf --style-features random).

    Example: artstyle train stylizer --data DATA --out runs/sty
    """,
    ),
}
_COMMON = (
    ("data", DataOpt),
    ("out", RunOutOpt),
    ("config", ConfigOpt),
    ("resume", ResumeOpt),
)
_BUDGET = (
    ("size", SizeOpt),
    ("epochs", EpochsOpt),
    ("max_minutes", MinutesOpt),
    ("devices", DevicesOpt),
    ("seed", SeedOpt),
)


def _train_command(task: str, extra: tuple[tuple[str, Any], ...], help_text: str):
    """``artstyle train TASK``: the common options, the task's own, free ``--key value`` pairs."""

    def command(ctx: typer.Context, **options: Any) -> None:
        from artstyle.workflows.train import resume, train

        # --json: metrics.json's content on stdout and nothing else there
        quiet = bool(options.pop("as_json"))
        metrics, _ = train_or_resume(
            ctx,
            options,
            task=task,
            model=TASK_CONFIGS[task],
            train=functools.partial(train, quiet=quiet),
            resume=functools.partial(resume, task, quiet=quiet),
        )
        if quiet and metrics is not None:  # None: a DDP rank other than 0
            print_json(metrics)

    command.__name__ = f"train_{task}_command"
    command.__doc__ = help_text
    # --help lists where to, then what the task adds, then the budget
    named = (*_COMMON, *extra, *_BUDGET)
    ctx = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    options = [(name, kind, None) for name, kind in named] + [("as_json", JsonOpt, False)]
    return with_options(command, [ctx], options)


for _task, (_extra, _help) in TRAIN_COMMANDS.items():
    train_app.command(
        _task, context_settings=OVERRIDES, epilog=config_keys_help(TASK_CONFIGS[_task])
    )(_train_command(_task, _extra, _help))


@app.command("compare-balance", context_settings=OVERRIDES)
def compare_balance_command(
    ctx: typer.Context,
    data: DataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for one run per strategy and the comparison."),
    ] = None,
    config: ConfigOpt = None,
    strategies: Annotated[
        str | None,
        typer.Option(
            "--strategies",
            help="Comma-separated, default all: none,weights,resample,sampler,logit-adjust",
        ),
    ] = None,
    size: SizeOpt = None,
    epochs: EpochsOpt = None,
    max_minutes: MinutesOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train one classifier per imbalance strategy with the same seed and budget, and compare them.

    Writes DIR/comparison.md, DIR/comparison.json and DIR/figures/balance_comparison.png.
    Any classifier key is accepted as --key value (e.g. --model resnet_small).

    Example: artstyle compare-balance --data DATA --out runs/balance --epochs 10
    """
    from artstyle.config import CompareBalanceConfig, load_config
    from artstyle.workflows.compare import compare_balance

    typed = {
        "data": data,
        "out": out,
        "size": size,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "seed": seed,
        "strategies": comma_list(strategies),
    }
    summary = compare_balance(
        load_config(CompareBalanceConfig, config, merge_overrides(ctx, typed)), quiet=as_json
    )
    if as_json:  # comparison.json's content
        print_json(summary)
        return
    table = new_table(
        "imbalance strategies (test split)",
        ("strategy", "accuracy", "balanced acc.", "macro-F1", "rarest-5 recall"),
    )
    for row in summary["rows"]:
        rare = score_cell(row["rarest5_recall_mean"], "-")
        name = row["strategy"] + (" (best)" if row["strategy"] == summary["best_strategy"] else "")
        table.add_row(
            name,
            f"{row['accuracy']:.3f}",
            f"{row['balanced_accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            rare,
        )
    console.print(table)
    print_plain(
        f"wrote {Path(summary['rows'][0]['run']).parent / 'comparison.md'}", soft_wrap=False
    )
