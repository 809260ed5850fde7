"""`artstyle stylize`: restyle images with a stylizer run, or score it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artstyle.cli.app import (
    DataOpt,
    EvalSplitOpt,
    JsonOpt,
    JudgeOpt,
    RunArg,
    app,
    comma_list,
    print_json,
    print_plain,
)
from artstyle.errors import ArtstyleError


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
    split: EvalSplitOpt = "test",
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
    from artstyle.workflows import stylize as pictures

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
        result = pictures.stylize_image(run, image, styles, out=out, device=device)
        print_plain(f"wrote {result['out']}: {image.name} in {', '.join(result['styles'])}")
    elif interpolate:
        pair = comma_list(interpolate)
        if len(pair) != 2:
            raise ArtstyleError(f"--interpolate takes two styles A,B, got {interpolate!r}")
        result = pictures.interpolate_styles(
            run, image, pair[0], pair[1], steps=steps, out=out, device=device
        )
        print_plain(f"wrote {result['out']}: {steps} blends from {pair[0]} to {pair[1]}")
    elif grid:
        result = pictures.stylize_grid(run, data=data, n=grid, split=split, out=out, device=device)
        print_plain(
            f"wrote {result['out']}: {len(result['styles'])} x {len(result['styles'])} grid"
        )
    else:
        metrics = stylize.score_run(
            run, judge=judge, data=data, split=split, n_images=n_images, device=device
        )
        if as_json:
            print_json(metrics)
            return
        print_plain(stylize.summary_line(metrics))
        from artstyle.train.runs import open_run

        print_plain(f"wrote {open_run(run).split_metrics_path(split)}")
