"""`artstyle evaluate` and `artstyle predict`: scores of any run kind, styles of new images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from artstyle.cli.app import (
    DataOpt,
    EvalSplitOpt,
    JsonOpt,
    RunArg,
    TtaOpt,
    app,
    console,
    new_table,
    print_json,
    print_plain,
    score_cell,
)
from artstyle.train import runs as run_folders


@app.command("evaluate")
def evaluate_command(
    run: RunArg,
    data: DataOpt = None,
    split: EvalSplitOpt = "test",
    tta: TtaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a classifier run: metrics.json, confusion matrix and per-style table.

    An autoencoder run gets MSE, PSNR and SSIM instead, and figures/reconstructions.png;
    a stylizer run gets style_hit_rate and content_ssim from the judge it was trained with.

    Example: artstyle evaluate runs/clf --split test
    """
    from artstyle.workflows.evaluate import evaluate

    task, metrics = evaluate(run, data=data, split=split, tta=tta, progress=not as_json)
    if as_json:
        print_json(metrics)
        return
    if task == "autoencoder":
        _print_autoencoder(metrics, run, split)
        return
    if task == "stylizer":
        from artstyle.generate.stylize import summary_line

        print_plain(summary_line(metrics))
        return
    table = new_table(
        escape(f"{run} on {split}" + (_tta_words(metrics) if metrics["tta"] else "")),
        ("style", "precision", "recall", "f1", "support"),
    )
    for style, row in metrics["per_class"].items():
        cells = [score_cell(row[key], "-") for key in ("precision", "recall", "f1")]
        table.add_row(escape(style), *cells, str(row["support"]))
    console.print(table)
    print_plain(
        f"accuracy {metrics['accuracy']:.3f}  balanced accuracy {metrics['balanced_accuracy']:.3f}  "
        f"macro-F1 {metrics['macro_f1']:.3f}  top-3 {metrics['top3_accuracy']:.3f}  n {metrics['n_test']}\n"
        f"baselines: majority ({metrics['majority_baseline_style']}) {metrics['majority_baseline_accuracy']:.3f}, "
        f"chance {metrics['chance_accuracy']:.3f}",
        soft_wrap=False,
    )
    if "network_balanced_accuracy" in metrics:
        print_plain(
            f"the network and the statistics expert mixed ({1 - metrics['statistics']:g} : "
            f"{metrics['statistics']:g}); balanced accuracy of the network alone "
            f"{metrics['network_balanced_accuracy']:.3f}, of the statistics expert alone "
            f"{metrics['statistics_balanced_accuracy']:.3f}",
            soft_wrap=False,
        )
    if metrics["styles_absent_from_test"]:
        console.print(
            f"[yellow]styles absent from {split} (not averaged):[/] {escape(', '.join(metrics['styles_absent_from_test']))}"
        )
    from artstyle.workflows.train import leakage_warning

    warning = leakage_warning(metrics, data)
    if warning:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    written = run_folders.RunFolder(Path(run)).split_metrics_path(split)
    print_plain(f"wrote {written} and figures/", soft_wrap=False)


@app.command("predict")
def predict_command(
    run: RunArg,
    images: Annotated[
        list[Path], typer.Argument(help="Image files or folders of images (any size or format).")
    ],
    top_k: Annotated[int, typer.Option("--top-k", help="How many styles to list per image.")] = 3,
    tta: TtaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Most likely styles of images, with probabilities.

    Example: artstyle predict runs/clf painting.jpg folder_of_paintings/ --top-k 3
    """
    from artstyle.workflows.evaluate import predict

    results = predict(run, images, top_k=top_k, tta=tta)
    if as_json:
        print_json(results)
        return
    # paths below the folder they share: a full path leaves no room for the file names
    folder, names = _below_common_folder([result["path"] for result in results])
    if folder:  # a line of its own: as a table title it is cut to the table's width
        print_plain(f"images in {folder}")
    table = Table()
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
    if os.path.dirname(folder) == folder:  # only the filesystem root is shared: say the paths whole
        return "", [os.path.abspath(p) for p in paths]
    return folder, [os.path.relpath(os.path.abspath(p), folder) for p in paths]


def _print_autoencoder(metrics: dict[str, Any], run: Path, split: str) -> None:
    """``artstyle evaluate`` on an autoencoder run: MSE, PSNR and SSIM against two references."""
    print_plain(
        f"{split}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, MSE {metrics['mse']:.5f} on {metrics['n_test']} images "
        f"(references: mean image {metrics['baseline_psnr_mean_image']:.2f} dB, "
        f"{metrics['baseline_downsampled_side']} px thumbnail {metrics['baseline_psnr_downsampled']:.2f} dB)"
    )

    written = run_folders.RunFolder(Path(run)).split_metrics_path(split)
    print_plain(
        f"wrote {written}" + (" and figures/reconstructions.png" if split == "test" else ""),
        soft_wrap=False,
    )


def _tta_words(metrics: dict) -> str:
    """How the scores averaged views: the mirror only, or crops too (a run's tta_crop)."""
    crop = metrics.get("tta_crop")
    if crop is None or crop >= 1.0:
        return " (mirror TTA)"
    return f" (12-view TTA: mirror, corner and centre crops of {crop:g})"
