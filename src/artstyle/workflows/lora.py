"""LoRA runs end to end: train or resume with their figures, base-vs-LoRA grids, the demo step.

artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --seed 3
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from artstyle.config import LoraConfig
from artstyle.generate import lora
from artstyle.io import atomic_path


class PlotFigures:
    """The LoRA run's figures drawn by :mod:`artstyle.analysis.plots` (PNG, 100 dpi)."""

    @staticmethod
    def _save(figure, path: Path) -> Path:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        return path

    def image_grid(
        self,
        images,
        path: Path,
        *,
        row_labels: Sequence[str],
        col_labels: Sequence[str],
        title: str | None = None,
    ) -> Path:
        from artstyle.analysis import plots

        figure = plots.image_grid_figure(
            images, row_labels=row_labels, col_labels=col_labels, title=title
        )
        return self._save(figure, path)

    def loss_curve(self, history: list[dict[str, Any]], path: Path) -> Path:
        from artstyle.analysis import plots

        return self._save(plots.lora_loss_figure(history), path)


FIGURES = PlotFigures()


def train_lora(config: LoraConfig, *, resume: bool = False) -> dict[str, Any]:
    """:func:`artstyle.generate.lora.train_lora` with its validation images and loss curve drawn."""
    return lora.train_lora(config, resume=resume, figures=FIGURES)


def resume_lora(run: str | os.PathLike, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`artstyle.generate.lora.resume_lora` with its figures drawn."""
    return lora.resume_lora(run, overrides, figures=FIGURES)


def style_grid(run: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """:func:`artstyle.generate.lora.style_grid`, drawn to its ``path`` (RUN/figures/style_grid.png).

    artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn" --seed 3
    """
    result = lora.style_grid(run, **options)
    FIGURES.image_grid(
        result["images"],
        result["path"],
        row_labels=result["row_labels"],
        col_labels=result["col_labels"],
        title=result["title"],
    )
    return result


def lora_demo_step(
    base: str | os.PathLike | None,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    max_steps: int | None = None,
    resolution: int | None = None,
    styles: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The demo's LoRA part: a short run on ``data`` and a base-vs-LoRA style grid.

    Returns ``{"skipped": reason}`` without a base model folder, else
    ``{"run", "metrics", "grid", "note"}``. The defaults fit the machine: on a
    CUDA GPU 200 steps at 512 px (a few minutes); on a CPU 10 steps at 256 px
    and 20 sampling steps, which only shows that the pipeline works.

        make demo BASE_MODEL=~/models/stable-diffusion-v1-5
    """
    if base is None:
        return {
            "skipped": "LoRA skipped: no base model folder (run `make demo BASE_MODEL=path/to/stable-diffusion-v1-5`)"
        }
    gpu = torch.cuda.is_available()
    steps = max_steps or (200 if gpu else 10)
    config = LoraConfig(
        base=Path(base),
        data=Path(data),
        out=Path(out),
        resolution=resolution or (512 if gpu else 256),
        max_steps=steps,
        rank=8,
        batch_size=1,
        grad_accum=4 if gpu else 1,
        checkpoint_every=steps,
        validation_every=0,
        inference_steps=30 if gpu else 20,
        validation_styles=list(styles or []),
        progress=progress,
    )
    metrics = train_lora(config)
    grid = style_grid(out, styles=styles or None, seed=0)
    note = f"{steps} steps at {config.resolution} px on {'GPU' if gpu else 'CPU'}" + (
        "" if gpu else " (a smoke run: use a GPU and 1500+ steps for a real style)"
    )
    return {"run": Path(out), "metrics": metrics, "grid": grid["path"], "note": note}
