"""The ``artstyle`` command line: parse, call one library function, print.

    artstyle --help
    artstyle data stats DATA

Every command turns bad input (:class:`~artstyle.errors.ArtstyleError`) into
one line on stderr and exit code 2; anything else is an internal error
(exit code 1). Library imports happen inside the commands so that
``artstyle --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from artstyle.errors import ArtstyleError
from artstyle.text import plural

app = typer.Typer(
    name="artstyle",
    help="Audit, balance, classify, cluster, stylize and LoRA-paint WikiArt-style collections.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


def _print_json(obj: Any) -> None:
    from artstyle.io import json_text

    sys.stdout.write(json_text(obj) + "\n")


# ---------------------------------------------------------------- data


@data_app.command("stats")
def data_stats(
    data: DataArg, as_json: JsonOpt = False, test_fraction: TestFractionOpt = None
) -> None:
    """Images per style and split, largest first; imbalance ratio; missing styles.

    Example: artstyle data stats DATA
    """
    from artstyle.data.stats import dataset_stats

    stats = dataset_stats(data, test_fraction=test_fraction)
    if as_json:
        _print_json(stats)
        return
    table = Table(title=escape(f"{stats['root']} ({stats['source_kind']})"))
    table.add_column("style")
    for split in ("train", "test"):
        table.add_column(split, justify="right")
    for row in stats["rows"]:
        table.add_row(escape(row["style"]), str(row["train"]), str(row["test"]))
    table.add_section()
    table.add_row(
        "total", str(stats["splits"]["train"]["n_images"]), str(stats["splits"]["test"]["n_images"])
    )
    console.print(table)
    for split in ("train", "test"):
        info = stats["splits"][split]
        if info["n_images"]:
            console.print(
                f"{split}: {plural(info['n_images'], 'image')}, {plural(info['n_styles'], 'style')}, "
                f"imbalance ratio {info['imbalance_ratio']:.1f} (largest {info['largest']}, smallest {info['smallest']})",
                markup=False,
            )
    if stats["missing_in_test"]:
        console.print(
            f"[yellow]styles missing from test:[/] {escape(', '.join(stats['missing_in_test']))}"
        )
    for note in stats["notes"]:
        console.print(f"note: {note}", markup=False)
    if stats["n_skipped"]:
        console.print(
            f"skipped {stats['n_skipped']} files: "
            + ", ".join(f"{k} {v}" for k, v in stats["skipped_by_reason"].items()),
            markup=False,
        )


@data_app.command("audit")
def data_audit(
    data: DataArg,
    as_json: JsonOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the full report as JSON to this file.")
    ] = None,
    test_fraction: TestFractionOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Hashing processes (default: all CPUs).")
    ] = None,
) -> None:
    """Unreadable files, exact and near duplicates, train/test leakage, tiny or odd images, small styles.

    Example: artstyle data audit DATA --out audit.json
    """
    from artstyle.data.audit import audit, summary_lines
    from artstyle.data.scan import scan
    from artstyle.io import write_json

    report = audit(scan(data, test_fraction=test_fraction), workers=workers)
    if out is not None:
        write_json(out, report.to_dict())
    if as_json:
        _print_json(report.to_dict())
        return
    for line in summary_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        console.print(f"full report: {out}", markup=False, highlight=False)


@data_app.command("balance")
def data_balance(
    data: DataArg,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="Images per style: a count (400), mean, max, min, or a fraction of the largest style (0.5).",
        ),
    ],
    as_json: JsonOpt = False,
    test_fraction: TestFractionOpt = None,
) -> None:
    """What resampling the train split to one count per style does: before/after per style, largest first.

    Example: artstyle data balance DATA --target mean
    """
    from artstyle.data.balance import balance_summary, parse_target
    from artstyle.data.scan import scan

    parsed = parse_target(target)  # a bad --target fails before the folder is read
    summary = balance_summary(scan(data, test_fraction=test_fraction), parsed)
    if as_json:
        _print_json(summary)
        return
    table = Table(title=f"resample train to {summary['per_class']} per style (--target {target})")
    for name in ("style", "before", "after", "max copies of one image"):
        table.add_column(name, justify="left" if name == "style" else "right")
    for row in summary["rows"]:
        table.add_row(
            escape(row["style"]),
            str(row["before"]),
            str(row["after"]),
            str(row["copies_per_image_max"]),
        )
    table.add_section()
    table.add_row("total", str(summary["n_before"]), str(summary["n_after"]), "")
    console.print(table)
    console.print(
        f"{plural(summary['n_oversampled'], 'style')} oversampled, {summary['n_undersampled']} undersampled; "
        f"{summary['n_distinct_after']} of {summary['n_before']} images used at least once",
        highlight=False,
        markup=False,
    )


@data_app.command("synth")
def data_synth(
    out: Annotated[
        Path,
        typer.Argument(
            help="Folder to write train/<Style>/*.jpg and test/<Style>/*.jpg into (new, empty, or an earlier synthetic set)."
        ),
    ],
    scale: Annotated[
        float | None,
        typer.Option(
            "--scale",
            help="Times the course's per-style training counts (1 = ~14k images); default 0.2, the demo scale.",
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            "--size", help="Short side in pixels (the long side is 1.08-1.33x); default 96."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same bytes.")] = 0,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            "--test-fraction",
            help="Test images per style as a share of train (at least 1; none for Action_painting); default 0.2.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Painting processes (default: one per CPU for large sets)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the built-in synthetic 27-style data set (procedural paintings, course proportions).

    Example: artstyle data synth data/synthetic --scale 0.2 --seed 0
    """
    from artstyle.data.synthetic import make_synthetic

    given = {"scale": scale, "size": size, "test_fraction": test_fraction}
    summary = make_synthetic(
        out,
        seed=seed,
        workers=workers,
        progress=not as_json,
        **{k: v for k, v in given.items() if v is not None},
    )
    if as_json:
        _print_json(summary)
        return
    table = Table(
        title=f"synthetic styles in {summary['out']} (scale {summary['scale']:g}, seed {summary['seed']})"
    )
    for name in ("style", "train", "test"):
        table.add_column(name, justify="left" if name == "style" else "right")
    for style in summary["counts"]["train"]:
        table.add_row(
            style, str(summary["counts"]["train"][style]), str(summary["counts"]["test"][style])
        )
    table.add_section()
    table.add_row("total", str(summary["n_train"]), str(summary["n_test"]))
    console.print(table)
    verb = "kept (already there, same settings)" if summary["reused"] else "wrote"
    console.print(
        f"{verb} {summary['n_train']} train + {summary['n_test']} test images of {plural(summary['n_styles'], 'style')} "
        f"({summary['size']} px short side) in {summary['out']} in {summary['seconds']:.1f} s; "
        f"no test images for: {', '.join(summary['missing_in_test']) or 'none'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@data_app.command("cache")
def data_cache(
    data: DataArg,
    size: Annotated[
        int,
        typer.Option("--size", help="Side S of the cached S x S images, in pixels (8 to 4096)."),
    ],
    resize: Annotated[
        str,
        typer.Option(
            "--resize", help="crop: short side to S, centre crop; letterbox: fit inside, pad black."
        ),
    ] = "crop",
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Cache folder (default $ARTSTYLE_CACHE or ~/.cache/artstyle/<data>-<hash>).",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Decoding processes (default: one per CPU).")
    ] = None,
    test_fraction: TestFractionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decode every image once into a memory-mapped uint8 cache (train and test); reused until a file changes.

    Example: artstyle data cache DATA --size 64
    """
    import time

    from artstyle.data.cache import build_all
    from artstyle.data.scan import scan

    started = time.perf_counter()
    index = scan(data, test_fraction=test_fraction)
    splits = build_all(
        index, size, resize=resize, cache_dir=cache_dir, workers=workers, progress=not as_json
    )
    seconds = time.perf_counter() - started
    summary = {
        split: {
            "n_images": len(cached),
            "n_failed": len(cached.failed),
            "failed": [{"path": f.path, "reason": f.reason} for f in cached.failed],
            "built": cached.built,
            "path": str(cached.path),
            "shape": list(cached.images.shape),
        }
        for split, cached in splits.items()
    }
    if as_json:
        _print_json({"size": size, "resize": resize, "seconds": seconds, "splits": summary})
        return
    for split, info in summary.items():
        verb = "built" if info["built"] else "up to date"
        console.print(
            f"{split}: {info['n_images']} images {size}x{size} ({resize}), {verb}, "
            f"{info['n_failed']} unreadable -> {info['path']}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for failure in info["failed"][:10]:
            console.print(
                f"  unreadable: {failure['path']}: {failure['reason']}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if info["n_failed"] > 10:
            console.print(
                f"  ... and {info['n_failed'] - 10} more (see --json)",
                highlight=False,
                markup=False,
            )
    console.print(f"done in {seconds:.1f} s", highlight=False, markup=False)


@app.command("report")
def report(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders, or folders that hold runs and data summaries (searched recursively)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The HTML file to write (one self-contained page).")
    ] = Path("report.html"),
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown", help="Also write a markdown twin (figures linked by relative path)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
) -> None:
    """One self-contained HTML page (and optional markdown) from run folders; loads no model.

    Example: artstyle report demo-out --out demo-out/report.html --markdown demo-out/REPORT.md
    """
    from artstyle.report.html import build_report

    summary = build_report(runs, out=out, markdown=markdown, title=title)
    console.print(
        f"wrote {summary.out} ({plural(summary.n_runs, 'run')}, {plural(summary.n_figures, 'figure')}, "
        f"{summary.n_bytes / 1e6:.1f} MB; "
        f"sections: {', '.join(summary.sections)})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if summary.markdown:
        console.print(f"wrote {summary.markdown}", highlight=False, soft_wrap=True, markup=False)

    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- classifier

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


def _merge_overrides(ctx: typer.Context, typed: dict[str, Any]) -> dict[str, Any]:
    """Typed options (when given) plus the free ``--key value`` pairs; a key given twice is refused."""
    free = parse_overrides(ctx.args)
    given = {key: value for key, value in typed.items() if value is not None}
    twice = sorted(set(free) & set(given))
    if twice:
        raise ArtstyleError(
            f"option(s) given twice: {', '.join('--' + k.replace('_', '-') for k in twice)}"
        )
    return {**given, **free}


def _train_or_resume(
    ctx: typer.Context,
    typed: dict[str, Any],
    config_file: Path | None,
    resume: Path | None,
    model: type,
    train: Callable[[Any], Any],
    resume_run: Callable[..., Any],
    task: str,
) -> tuple[Any, Path]:
    """Start a run from defaults < ``config_file`` < options, or continue ``resume`` with its own config.

    Returns what the training function returned and the run folder.
    """
    from artstyle.config import load_config

    overrides = _merge_overrides(ctx, typed)
    if resume is not None:
        if config_file is not None:
            raise ArtstyleError("--resume continues a run with its own config.yaml; drop --config")
        return resume_run(resume, overrides=overrides), resume
    settings = load_config(model, config_file, overrides, task=task)
    return train(settings), settings.out


@train_app.command("classifier", context_settings=OVERRIDES)
def train_classifier_command(
    ctx: typer.Context,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    size: SizeOpt = None,
    epochs: EpochsOpt = None,
    max_minutes: MinutesOpt = None,
    balance: BalanceOpt = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Train the from-scratch style classifier into a run folder.

    Every key of the classifier config is also accepted as --key value
    (e.g. --model resnet_small --lr 0.003 --ema --class-weights sqrt).

    Example: artstyle train classifier --data DATA --out runs/clf --epochs 20
    """
    from artstyle.config import ClassifierConfig
    from artstyle.train.classify import resume_classifier, train_classifier

    typed = {
        "data": data,
        "out": out,
        "size": size,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "balance": balance,
        "devices": devices,
        "seed": seed,
    }
    _train_or_resume(
        ctx,
        typed,
        config,
        resume,
        ClassifierConfig,
        train_classifier,
        resume_classifier,
        task="classifier",
    )


@app.command("evaluate")
def evaluate_command(
    run: RunArg,
    data: DataOpt = None,
    split: Annotated[str, typer.Option("--split", help="test | val | train")] = "test",
    tta: Annotated[
        bool | None,
        typer.Option(
            "--tta/--no-tta",
            help="Average over each image and its mirror (default: as the run was trained).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a classifier run: metrics.json, confusion matrix and per-style table.

    An autoencoder run gets MSE, PSNR and SSIM instead, and figures/reconstructions.png;
    a stylizer run gets style_hit_rate and content_ssim from the judge it was trained with.

    Example: artstyle evaluate runs/clf --split test
    """
    from artstyle.train import runs as run_folders
    from artstyle.train.classify import evaluate_run

    if run_folders.run_task(run_folders.open_run(run)) == "autoencoder":
        _evaluate_autoencoder(run, data=data, split=split, as_json=as_json)
        return
    if run_folders.run_task(run_folders.open_run(run)) == "stylizer":
        # scored with the judge recorded at training; `artstyle stylize RUN --score --judge CLF` picks another
        from artstyle.generate.stylize import score_run, summary_line

        scores = score_run(run, data=data, split=split)
        if as_json:
            _print_json(scores)
        else:
            console.print(summary_line(scores), highlight=False, soft_wrap=True, markup=False)
        return
    metrics = evaluate_run(run, data=data, split=split, tta=tta, progress=not as_json)
    if as_json:
        _print_json(metrics)
        return
    table = Table(title=escape(f"{run} on {split}" + (" (flip TTA)" if metrics["tta"] else "")))
    for column in ("style", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "style" else "right")
    for style, row in metrics["per_class"].items():
        cells = [
            "-" if row[key] is None else f"{row[key]:.3f}" for key in ("precision", "recall", "f1")
        ]
        table.add_row(escape(style), *cells, str(row["support"]))
    console.print(table)
    console.print(
        f"accuracy {metrics['accuracy']:.3f}  balanced accuracy {metrics['balanced_accuracy']:.3f}  "
        f"macro-F1 {metrics['macro_f1']:.3f}  top-3 {metrics['top3_accuracy']:.3f}  n {metrics['n_test']}\n"
        f"baselines: majority ({metrics['majority_baseline_style']}) {metrics['majority_baseline_accuracy']:.3f}, "
        f"chance {metrics['chance_accuracy']:.3f}",
        highlight=False,
        markup=False,
    )
    if metrics["styles_absent_from_test"]:
        console.print(
            f"[yellow]styles absent from {split} (not averaged):[/] {escape(', '.join(metrics['styles_absent_from_test']))}"
        )
    from artstyle.train.classify import leakage_warning

    warning = leakage_warning(metrics, data)
    if warning:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    written = run_folders.RunFolder(Path(run)).split_metrics_path(split)
    console.print(f"wrote {written} and figures/", highlight=False, markup=False)


@app.command("predict")
def predict_command(
    run: RunArg,
    images: Annotated[
        list[Path], typer.Argument(help="Image files or folders of images (any size or format).")
    ],
    top_k: Annotated[int, typer.Option("--top-k", help="How many styles to list per image.")] = 3,
    tta: Annotated[
        bool | None,
        typer.Option(
            "--tta/--no-tta",
            help="Average over each image and its mirror (default: as the run was trained).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Most likely styles of images, with probabilities.

    Example: artstyle predict runs/clf painting.jpg folder_of_paintings/ --top-k 3
    """
    from artstyle.train.classify import predict

    results = predict(run, images, top_k=top_k, tta=tta)
    if as_json:
        _print_json(results)
        return
    # paths below the folder they share: a full path leaves no room for the file names
    folder, names = _below_common_folder([result["path"] for result in results])
    table = Table(title=escape(f"images in {folder}") if folder else None)
    # folded onto more lines, never cut short with "…": the ends name the file and the style
    table.add_column("image", overflow="fold", ratio=3)
    # as many columns as styles were ranked: --top-k above the number of styles lists them all
    ranked = max((len(result.get("predictions", [])) for result in results), default=0)
    for rank in range(1, ranked + 1):
        table.add_column(f"#{rank}", overflow="fold", ratio=2)
    for result, name in zip(results, names, strict=True):
        if "error" in result:
            table.add_row(escape(name), f"[red]unreadable: {escape(result['error'])}[/]")
            continue
        table.add_row(
            escape(name),
            *[escape(f"{p['style']} {p['probability']:.2f}") for p in result["predictions"]],
        )
    console.print(table)


def _below_common_folder(paths: list[str]) -> tuple[str, list[str]]:
    """The folder that holds all ``paths`` ("" if none) and each path relative to it."""
    if not paths:
        return "", []
    try:
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # different drives
        return "", list(paths)
    return folder, [os.path.relpath(os.path.abspath(p), folder) for p in paths]


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
) -> None:
    """Train one classifier per imbalance strategy with the same seed and budget, and compare them.

    Writes DIR/comparison.md, DIR/comparison.json and DIR/figures/balance_comparison.png.
    Any classifier key is accepted as --key value (e.g. --model resnet_small).

    Example: artstyle compare-balance --data DATA --out runs/balance --epochs 10
    """
    from artstyle.config import CompareBalanceConfig, load_config
    from artstyle.train.classify import compare_balance

    typed = {
        "data": data,
        "out": out,
        "size": size,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "seed": seed,
        "strategies": [s.strip() for s in strategies.split(",") if s.strip()]
        if strategies
        else None,
    }
    summary = compare_balance(
        load_config(CompareBalanceConfig, config, _merge_overrides(ctx, typed))
    )
    table = Table(title="imbalance strategies (test split)")
    for column in ("strategy", "accuracy", "balanced acc.", "macro-F1", "rarest-5 recall"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for row in summary["rows"]:
        rare = "-" if row["rarest5_recall_mean"] is None else f"{row['rarest5_recall_mean']:.3f}"
        name = row["strategy"] + (" (best)" if row["strategy"] == summary["best_strategy"] else "")
        table.add_row(
            name,
            f"{row['accuracy']:.3f}",
            f"{row['balanced_accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            rare,
        )
    console.print(table)
    console.print(
        f"wrote {Path(summary['rows'][0]['run']).parent / 'comparison.md'}",
        highlight=False,
        markup=False,
    )


# ---------------------------------------------------------------- lora

BaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base", help="Local Stable Diffusion 1.x/2.x folder (default: the one the run recorded)."
    ),
]
LoraStepsOpt = Annotated[
    int | None,
    typer.Option("--steps", min=1, help="Sampling steps (default: the run's inference_steps)."),
]
GuidanceOpt = Annotated[
    float | None,
    typer.Option(
        "--guidance", min=0.0, help="Classifier-free guidance scale (default: the run's)."
    ),
]
PromptOpt = Annotated[
    str | None,
    typer.Option(
        "--prompt", help="Subject added to the style caption; a {style} in it is filled in instead."
    ),
]
SafetyOpt = Annotated[
    bool | None,
    typer.Option(
        "--safety-checker/--no-safety-checker",
        help="Run the NSFW checker (off by default: it blacks out nudes in paintings).",
    ),
]


@lora_app.command("train", context_settings=OVERRIDES)
def lora_train_command(
    ctx: typer.Context,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="Local Stable Diffusion 1.x/2.x folder (model_index.json, unet/, vae/, ...).",
        ),
    ] = None,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    resolution: Annotated[
        int | None,
        typer.Option("--resolution", help="Training image side in pixels (multiple of 8)."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="LoRA rank.")] = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """LoRA-fine-tune a local Stable Diffusion folder on the styles of a data set.

    Every key of the LoRA config is also accepted as --key value (e.g. --lr 1e-4
    --grad-accum 4 --gradient-checkpointing --snr-gamma 5 --crop random
    --validation-styles Baroque,Rococo --precision 16-mixed).

    Example: artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    """
    from artstyle.config import LoraConfig
    from artstyle.generate.lora import resume_lora, train_lora

    typed = {
        "base": base,
        "data": data,
        "out": out,
        "resolution": resolution,
        "max_steps": max_steps,
        "rank": rank,
        "devices": devices,
        "seed": seed,
    }
    metrics, run = _train_or_resume(
        ctx, typed, config, resume, LoraConfig, train_lora, resume_lora, task="lora"
    )
    import torch.distributed

    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return  # one summary, from rank 0, when --devices > 1
    speed = metrics["train_images_per_second"]
    console.print(
        f"trained {metrics['steps']} steps ({metrics['precision']}, {speed:.2f} images/s); "
        f"loss {metrics['loss_mean_first_10pct']:.4f} -> {metrics['loss_mean_last_10pct']:.4f}; "
        f"wrote {Path(run) / 'pytorch_lora_weights.safetensors'}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if metrics.get("stopped"):
        console.print(f"[yellow]stopped early:[/] {metrics['stopped']}", highlight=False)
    if metrics["unreadable"]:
        console.print(
            f"[yellow]unreadable images replaced:[/] {len(metrics['unreadable'])} (listed in metrics.json)"
        )


@lora_app.command("generate")
def lora_generate_command(
    run: RunArg,
    style: Annotated[
        str, typer.Option("--style", help="A style the run was trained on (e.g. Rococo).")
    ],
    prompt: PromptOpt = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Number of images (image i uses seed S + i).")
    ] = 4,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**63 - 1, help="Seed of the first image.")
    ] = 0,
    steps: LoraStepsOpt = None,
    guidance: GuidanceOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write (default: RUN/samples/STYLE_seedS.png)."),
    ] = None,
    base: BaseOpt = None,
    safety_checker: SafetyOpt = None,
) -> None:
    """Paint images in one style with a LoRA run.

    Example: artstyle lora generate runs/lora --style Rococo --prompt "a harbour at dawn" --n 4 --seed 1
    """
    from artstyle.generate.lora import generate

    result = generate(
        run,
        style=style,
        prompt=prompt,
        n=n,
        seed=seed,
        steps=steps,
        guidance=guidance,
        base=base,
        out=out,
        safety_checker=safety_checker,
    )
    console.print(
        f"wrote {result['path']} ({result['n']} images, prompt: {result['prompt']!r})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if result["nsfw_flagged"]:
        console.print(
            f"[yellow]the safety checker blacked out {result['nsfw_flagged']} image(s)[/]"
        )


@lora_app.command("grid")
def lora_grid_command(
    run: RunArg,
    styles: Annotated[
        str | None,
        typer.Option(
            "--styles", help="Comma-separated styles (default: up to 4 spread over the run's)."
        ),
    ] = None,
    prompt: PromptOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**63 - 1, help="One seed for every image.")
    ] = 0,
    steps: LoraStepsOpt = None,
    guidance: GuidanceOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write (default: RUN/figures/style_grid.png)."),
    ] = None,
    base: BaseOpt = None,
    safety_checker: SafetyOpt = None,
) -> None:
    """One prompt and seed across styles: the base model's row above the LoRA model's.

    Example: artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn" --seed 3
    """
    from artstyle.generate.lora import style_grid

    names = [name.strip() for name in styles.split(",") if name.strip()] if styles else None
    result = style_grid(
        run,
        styles=names,
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        base=base,
        out=out,
        safety_checker=safety_checker,
    )
    console.print(
        f"wrote {result['path']} (styles: {', '.join(result['styles'])}; seed {result['seed']})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


# ---------------------------------------------------------------- autoencoder, embeddings, clustering


@train_app.command("autoencoder", context_settings=OVERRIDES)
def train_autoencoder_command(
    ctx: typer.Context,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    size: SizeOpt = None,
    epochs: EpochsOpt = None,
    max_minutes: MinutesOpt = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Train a convolutional autoencoder; its latent vectors are what `embed` and `cluster` use.

    Every key of the autoencoder config is also accepted as --key value
    (e.g. --latent-dim 128 --widths 32,64,128,256 --ssim-weight 0.2).
    metrics.json holds psnr, ssim and mse on the test split;
    figures/reconstructions.png shows test images over their reconstructions.

    Example: artstyle train autoencoder --data DATA --out runs/ae --epochs 10
    """
    from artstyle.config import AutoencoderConfig
    from artstyle.train.autoencode import resume_autoencoder, train_autoencoder

    typed = {
        "data": data,
        "out": out,
        "size": size,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "devices": devices,
        "seed": seed,
    }
    _train_or_resume(
        ctx,
        typed,
        config,
        resume,
        AutoencoderConfig,
        train_autoencoder,
        resume_autoencoder,
        task="autoencoder",
    )


def _evaluate_autoencoder(run: Path, *, data: Path | None, split: str, as_json: bool) -> None:
    """``artstyle evaluate`` on an autoencoder run: MSE, PSNR, SSIM and the reconstruction grid."""
    from artstyle.train import runs as run_folders
    from artstyle.train.autoencode import evaluate_autoencoder

    metrics = evaluate_autoencoder(run, data=data, split=split, progress=not as_json)
    if as_json:
        _print_json(metrics)
        return
    console.print(
        f"{split}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, MSE {metrics['mse']:.5f} on {metrics['n_test']} images "
        f"(references: mean image {metrics['baseline_psnr_mean_image']:.2f} dB, "
        f"{metrics['baseline_downsampled_side']} px thumbnail {metrics['baseline_psnr_downsampled']:.2f} dB)",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    written = run_folders.RunFolder(Path(run)).split_metrics_path(split)
    console.print(
        f"wrote {written}" + (" and figures/reconstructions.png" if split == "test" else ""),
        highlight=False,
        markup=False,
    )


SourceArg = Annotated[
    str,
    typer.Argument(
        help="A run folder (autoencoder or classifier), the word 'pixels' (raw-pixel baseline), or an .npz from `embed`."
    ),
]
SplitOpt = Annotated[str | None, typer.Option("--split", help="train | test (default: test)")]


def _cluster_config(ctx: typer.Context, config_file: Path | None, typed: dict[str, Any]):
    from artstyle.config import ClusterConfig, load_config

    return load_config(ClusterConfig, config_file, _merge_overrides(ctx, typed))


@app.command("embed", context_settings=OVERRIDES)
def embed_command(
    ctx: typer.Context,
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="The .npz file to write.")],
    data: DataOpt = None,
    split: SplitOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One vector per image: an autoencoder's latent, a classifier's features, or raw pixels.

    Writes an .npz (vectors, rels, styles, artists, classes, kind) readable with
    numpy.load(allow_pickle=False). Raw pixels: each image cached at
    --pixel-size px, area-averaged to --pixel-side px.

    Example: artstyle embed runs/ae --data DATA --split test --out ae_test.npz
    """
    from artstyle.analysis.embed import embed, save_embeddings

    if source.endswith(".npz"):
        raise ArtstyleError(
            f"{source} is already an embedding file; embed a run folder or 'pixels'"
        )
    settings = _cluster_config(ctx, config, {"data": data, "split": split})
    table = embed(source, settings)
    save_embeddings(table, out)
    console.print(
        f"wrote {out}: {len(table.rels)} {table.kind} vectors of {table.vectors.shape[1]} values "
        f"({table.split} split of {table.data}, {plural(len(set(table.styles)), 'style')})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


@app.command("cluster", context_settings=OVERRIDES)
def cluster_command(
    ctx: typer.Context,
    source: SourceArg,
    data: DataOpt = None,
    split: SplitOpt = None,
    method: Annotated[
        str | None, typer.Option("--method", help="kmeans | gmm | agglomerative | hdbscan")
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="Clusters (default: the number of styles).")
    ] = None,
    projection: Annotated[
        str | None,
        typer.Option(
            "--projection",
            "--projections",
            help="2-D views, comma-separated: pca,tsne,umap (default pca,tsne).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for cluster.json and figures/ (default: RUN/cluster-SPLIT)."
        ),
    ] = None,
    max_points: Annotated[
        int | None,
        typer.Option("--max-points", help="2-D views subsample (seeded) beyond this many points."),
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Do styles cluster? StandardScaler -> PCA -> clustering, scored against the style labels.

    Writes DIR/cluster.json (NMI, ARI, homogeneity, completeness, purity,
    silhouette, scores vs k, clusters with their top styles) and
    DIR/figures/: contingency.png, k_sweep.png, embedding_<projection>.png
    (points coloured and shaped by style beside the same points coloured by
    cluster) and cluster_images.png (most central images per cluster).
    Every key of the cluster config is also accepted as --key value
    (e.g. --pca-components 20 --sweep 2,4,8,16 --perplexity 50 --threads 1).

    Example: artstyle cluster runs/ae --data DATA --method kmeans --projection pca,tsne
    """
    from artstyle.analysis.cluster import cluster_source

    settings = _cluster_config(
        ctx,
        config,
        {
            "data": data,
            "split": split,
            "method": method,
            "k": k,
            "projections": projection,
            "max_points": max_points,
            "seed": seed,
        },
    )
    result = cluster_source(
        source,
        settings,
        out=out,
        log=lambda text: err_console.print(text, highlight=False, markup=False),
    )
    report = result.report
    table = Table(
        title=f"{report['kind']}: {report['n_points']} images, {report['method']} k={report['k']}"
    )
    table.add_column("score")
    table.add_column("value", justify="right")
    for key, value in report["scores"].items():
        table.add_row(key, "n/a" if value is None else f"{value:.3f}")
    console.print(table)
    console.print(report["verdict"], highlight=False, markup=False)
    console.print(
        f"wrote {report['out']}/cluster.json and {len(report.get('figures', []))} figures",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


@app.command("compare-representations", context_settings=OVERRIDES)
def compare_representations_command(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for representations.md/.json and per-representation figures."
        ),
    ],
    data: DataOpt = None,
    autoencoder: Annotated[
        Path | None, typer.Option("--autoencoder", help="An autoencoder run folder.")
    ] = None,
    classifier: Annotated[
        Path | None, typer.Option("--classifier", help="A classifier run folder.")
    ] = None,
    split: SplitOpt = None,
    method: Annotated[
        str | None, typer.Option("--method", help="kmeans | gmm | agglomerative | hdbscan")
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="Clusters (default: the number of styles).")
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Which representation groups styles best? Raw pixels vs autoencoder latent vs classifier features.

    The same images (the --split of DATA) and the same clustering for each;
    scores averaged over --n-seeds seeds. Writes DIR/representations.md and
    .json (the table plus one sentence naming the best and by how much),
    DIR/figures/representations.png and DIR/<representation>/ (the figures
    `artstyle cluster` makes). Every key of the cluster config is also
    accepted as --key value (e.g. --n-seeds 5 --pixel-side 8 --projections pca).

    Example: artstyle compare-representations --data DATA --autoencoder runs/ae --classifier runs/clf --out runs/compare
    """
    from artstyle.analysis.cluster import compare_sources

    settings = _cluster_config(
        ctx, config, {"data": data, "split": split, "method": method, "k": k, "seed": seed}
    )
    result = compare_sources(
        settings,
        out=out,
        autoencoder=autoencoder,
        classifier=classifier,
        log=lambda text: err_console.print(text, highlight=False, markup=False),
    )
    table = Table(
        title=f"{result['n_points']} images, {plural(result['n_styles'], 'style')}, {result['method']}"
        + (f" k={result['k']}" if result["k"] is not None else " (k found per representation)")
    )
    for column in ("representation", "dim", "NMI", "ARI", "purity", "silhouette", "chance NMI"):
        table.add_column(column, justify="left" if column == "representation" else "right")
    for row in result["rows"]:
        table.add_row(
            row["representation"],
            str(row["dim"]),
            *[
                "n/a" if row[key] is None else f"{row[key]:.3f}"
                for key in ("nmi", "ari", "purity", "silhouette", "nmi_chance")
            ],
        )
    console.print(table)
    console.print(result["answer"], highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"wrote {out}/representations.md and representations.json",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


# ---------------------------------------------------------------- stylizer

CriticOpt = Annotated[
    Path | None,
    typer.Option("--critic", help="Classifier run used as a frozen critic while training."),
]
JudgeOpt = Annotated[
    Path | None,
    typer.Option("--judge", help="A different classifier run that scores the style-hit rate."),
]


@train_app.command("stylizer", context_settings=OVERRIDES)
def train_stylizer_command(
    ctx: typer.Context,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    critic: CriticOpt = None,
    judge: JudgeOpt = None,
    size: SizeOpt = None,
    epochs: EpochsOpt = None,
    max_minutes: MinutesOpt = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Train a style-conditioned autoencoder: one learned embedding per style, injected at every decoder scale.

    Every key of the stylizer config is also accepted as --key value
    (e.g. --gram-weight 2 --critic-weight 0.5 --init-styles runs/clf --style-features random).
    With --judge, metrics.json gets style_hit_rate, chance and content_ssim.

    Example: artstyle train stylizer --data DATA --out runs/sty --critic runs/critic --judge runs/judge
    """
    from artstyle.config import StylizerConfig
    from artstyle.train.stylize_task import resume_stylizer, train_stylizer

    typed = {
        "data": data,
        "out": out,
        "critic": critic,
        "judge": judge,
        "size": size,
        "epochs": epochs,
        "max_minutes": max_minutes,
        "devices": devices,
        "seed": seed,
    }
    _train_or_resume(
        ctx, typed, config, resume, StylizerConfig, train_stylizer, resume_stylizer, task="stylizer"
    )


@app.command("stylize")
def stylize_command(
    run: RunArg,
    image: Annotated[
        Path | None, typer.Option("--image", help="Any image file to restyle.")
    ] = None,
    styles: Annotated[
        str | None,
        typer.Option("--styles", help="Comma-separated style names, e.g. Baroque,Pop_Art."),
    ] = None,
    grid: Annotated[
        int | None,
        typer.Option("--grid", help="N test images x N styles, own style on the diagonal."),
    ] = None,
    interpolate: Annotated[
        str | None, typer.Option("--interpolate", help="Two styles A,B: blend their embeddings.")
    ] = None,
    steps: Annotated[
        int, typer.Option("--steps", min=2, help="Blends from A to B, both ends included.")
    ] = 5,
    score: Annotated[
        bool,
        typer.Option("--score", help="Score style-hit rate and content SSIM into metrics.json."),
    ] = False,
    judge: JudgeOpt = None,
    data: DataOpt = None,
    split: Annotated[str, typer.Option("--split", help="test | val | train")] = "test",
    n_images: Annotated[
        int | None,
        typer.Option(
            "--n-images",
            help="Images scored against every other style (default: the run's score_images).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="PNG to write (default: inside RUN/figures/).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Restyle images with a stylizer run: one image x styles, a mismatched grid, a blend, or scores.

    Examples:
      artstyle stylize runs/sty --image photo.jpg --styles Baroque,Pop_Art --out out.png
      artstyle stylize runs/sty --grid 8 --data DATA --out grid.png
      artstyle stylize runs/sty --image photo.jpg --interpolate Baroque,Pop_Art --steps 6 --out blend.png
      artstyle stylize runs/sty --score --judge runs/judge --data DATA
    """
    from artstyle.generate import stylize

    modes = [
        name
        for name, on in (
            ("--styles", styles),
            ("--grid", grid),
            ("--interpolate", interpolate),
            ("--score", score),
        )
        if on
    ]
    if len(modes) != 1:
        raise ArtstyleError(
            "give exactly one of --styles (with --image), --grid N, --interpolate A,B (with --image) or --score"
            + (f"; got {', '.join(modes)}" if modes else "")
        )
    if split not in ("test", "val", "train"):
        raise ArtstyleError(f"--split must be test, val or train, got {split!r}")
    if styles or interpolate:
        if image is None:
            raise ArtstyleError(f"{modes[0]} restyles one image; pass --image IMG")
    if styles:
        result = stylize.stylize_image(run, image, styles, out=out, device=device)
        console.print(
            f"wrote {result['out']}: {image.name} in {', '.join(result['styles'])}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    elif interpolate:
        pair = [part.strip() for part in interpolate.split(",") if part.strip()]
        if len(pair) != 2:
            raise ArtstyleError(f"--interpolate takes two styles A,B, got {interpolate!r}")
        result = stylize.interpolate_styles(
            run, image, pair[0], pair[1], steps=steps, out=out, device=device
        )
        console.print(
            f"wrote {result['out']}: {steps} blends from {pair[0]} to {pair[1]}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    elif grid:
        result = stylize.stylize_grid(run, data=data, n=grid, split=split, out=out, device=device)
        console.print(
            f"wrote {result['out']}: {len(result['styles'])} x {len(result['styles'])} grid",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    else:
        metrics = stylize.score_run(
            run, judge=judge, data=data, split=split, n_images=n_images, device=device
        )
        if as_json:
            _print_json(metrics)
            return
        console.print(stylize.summary_line(metrics), highlight=False, soft_wrap=True, markup=False)
        from artstyle.train.runs import open_run

        console.print(
            f"wrote {open_run(run).split_metrics_path(split)}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


# ---------------------------------------------------------------- demo


@app.command("demo")
def demo_command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for data, runs and the report.")
    ] = Path("demo-out"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller data and budgets (about 3 minutes on CPU).")
    ] = False,
    redo: Annotated[
        bool, typer.Option("--redo", help="Run every step again instead of reusing finished ones.")
    ] = False,
    base_model: Annotated[
        Path | None,
        typer.Option("--base-model", help="Local Stable Diffusion folder: adds the LoRA step."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Synthetic data -> audit -> classifier -> balance comparison -> autoencoder -> clustering -> stylizer -> report.

    Example: artstyle demo --quick --out demo-quick
    """
    from artstyle.demo import run_demo

    run_demo(
        out,
        quick=quick,
        redo=redo,
        base_model=base_model,
        seed=seed,
        say=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
    )


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line, internal errors exit 1."""
    ok = False
    try:
        code = _main(argv)
        ok = code == 0
        return code
    finally:
        if "torch.distributed" in sys.modules:  # else no process group can exist
            from artstyle.train.loop import end_distributed

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


if __name__ == "__main__":
    _entry()
