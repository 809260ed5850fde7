"""`artstyle demo`: the whole job on the built-in synthetic set, ending with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artstyle.cli.app import app, print_plain


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
    from artstyle.workflows.demo import run_demo

    run_demo(
        out,
        quick=quick,
        redo=redo,
        base_model=base_model,
        seed=seed,
        say=print_plain,
    )
