"""`artstyle data ...`: look at and prepare a data set (stats, audit, label-issues, balance, synth, cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from artstyle.cli.app import (
    OVERRIDES,
    ConfigOpt,
    DataArg,
    JsonOpt,
    SeedOpt,
    TestFractionOpt,
    console,
    data_app,
    merge_overrides,
    new_table,
    print_json,
    print_plain,
)
from artstyle.text import plural

CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache folder (default $ARTSTYLE_CACHE or ~/.cache/artstyle/<data>-<hash>).",
    ),
]


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
        print_json(stats)
        return
    table = new_table(
        escape(f"{stats['root']} ({stats['source_kind']})"), ("style", "train", "test")
    )
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
        print_json(report.to_dict())
        return
    for line in summary_lines(report):
        print_plain(line)
    if out is not None:
        print_plain(f"full report: {out}", soft_wrap=False)


@data_app.command("label-issues", context_settings=OVERRIDES)
def data_label_issues(
    ctx: typer.Context,
    data: DataArg,
    out: Annotated[
        Path, typer.Option("--out", help="issues.json to write (the sheet goes beside it, .png).")
    ],
    folds: Annotated[
        int | None, typer.Option("--folds", help="Cross-validation folds (default 5).")
    ] = None,
    seed: SeedOpt = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Classifier run: logistic regression on its features instead of training fold models.",
        ),
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Image side of the fold models (default 48).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs per fold model (default 12).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads (default: all cores).")
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", help="Top issues drawn on the thumbnail sheet (24).")
    ] = None,
    config: ConfigOpt = None,
    test_fraction: TestFractionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Training images probably filed under the wrong style (confident learning, cleanlab).

    Out-of-fold probabilities from small classifiers trained per fold (or --features RUN),
    then cleanlab's find_label_issues; writes issues.json and a thumbnail sheet of the top
    issues. Any classifier key is accepted as --key value (e.g. --model resnet_small).

    Example: artstyle data label-issues DATA --out issues.json
    """
    from artstyle.config import LabelIssuesConfig, load_config
    from artstyle.workflows.label_issues import find_label_issues, summary_lines

    typed = {
        "data": data,
        "out": out,
        "folds": folds,
        "seed": seed,
        "features": features,
        "size": size,
        "epochs": epochs,
        "threads": threads,
        "top": top,
        "test_fraction": test_fraction,
    }
    settings = load_config(LabelIssuesConfig, config, merge_overrides(ctx, typed))
    summary = find_label_issues(settings, quiet=as_json)
    if as_json:
        print_json(summary)
        return
    for line in summary_lines(summary):
        print_plain(line)
    written = f"issues: {out}" + (
        f", sheet: {out.parent / summary['sheet']}" if summary["sheet"] else ""
    )
    print_plain(written)


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
        print_json(summary)
        return
    table = new_table(
        f"resample train to {summary['per_class']} per style (--target {target})",
        ("style", "before", "after", "max copies of one image"),
    )
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
    print_plain(
        f"{plural(summary['n_oversampled'], 'style')} oversampled, {summary['n_undersampled']} undersampled; "
        f"{summary['n_distinct_after']} of {summary['n_before']} images used at least once",
        soft_wrap=False,
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
        print_json(summary)
        return
    table = new_table(
        f"synthetic styles in {summary['out']} (scale {summary['scale']:g}, seed {summary['seed']})",
        ("style", "train", "test"),
    )
    for style in summary["counts"]["train"]:
        table.add_row(
            style, str(summary["counts"]["train"][style]), str(summary["counts"]["test"][style])
        )
    table.add_section()
    table.add_row("total", str(summary["n_train"]), str(summary["n_test"]))
    console.print(table)
    verb = "kept (already there, same settings)" if summary["reused"] else "wrote"
    print_plain(
        f"{verb} {summary['n_train']} train + {summary['n_test']} test images of {plural(summary['n_styles'], 'style')} "
        f"({summary['size']} px short side) in {summary['out']} in {summary['seconds']:.1f} s; "
        f"no test images for: {', '.join(summary['missing_in_test']) or 'none'}"
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
    cache_dir: CacheDirOpt = None,
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
        print_json({"size": size, "resize": resize, "seconds": seconds, "splits": summary})
        return
    for split, info in summary.items():
        verb = "built" if info["built"] else "up to date"
        print_plain(
            f"{split}: {info['n_images']} images {size}x{size} ({resize}), {verb}, "
            f"{info['n_failed']} unreadable -> {info['path']}"
        )
        for failure in info["failed"][:10]:
            print_plain(f"  unreadable: {failure['path']}: {failure['reason']}")
        if info["n_failed"] > 10:
            print_plain(f"  ... and {info['n_failed'] - 10} more (see --json)", soft_wrap=False)
    print_plain(f"done in {seconds:.1f} s", soft_wrap=False)
