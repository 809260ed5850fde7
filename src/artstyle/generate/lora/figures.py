"""Validation images drawn from the model in training, and what draws the run's figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from artstyle.generate.lora.base_model import _load_component, _scheduler_class, assemble_pipeline
from artstyle.generate.lora.captions import prompt_for

if TYPE_CHECKING:  # pragma: no cover
    from artstyle.generate.lora.training import LoraTraining


class FigureWriter(Protocol):
    """Draws the run's figures (:mod:`artstyle.workflows.lora` passes one that uses matplotlib)."""

    def image_grid(
        self,
        images: np.ndarray,
        path: Path,
        *,
        row_labels: Sequence[str],
        col_labels: Sequence[str],
        title: str | None = None,
    ) -> Path:
        """A labelled grid of images (rows, cols, H, W, 3) in [0, 1] written as a PNG to ``path``."""

    def loss_curve(self, history: list[dict[str, Any]], path: Path) -> Path:
        """The training loss per logged step, written as a PNG to ``path``."""


def _pipeline_from_models(models: dict[str, Any]):
    scheduler = _load_component(_scheduler_class(models["base"]), models["base"], "scheduler")
    pipe = assemble_pipeline({**models, "scheduler": scheduler})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def validation_figure(training: LoraTraining, figures: FigureWriter) -> Path:
    """``figures/validation_step_NNNNNN.png``: one image per validation style, one seed, from the model in training."""
    config, models, fabric = training.config, training.models, training.fabric
    pipe = _pipeline_from_models(models)
    models["unet"].eval()  # train_step switches training mode back on
    models["text_encoder"].eval()
    images = []
    with fabric.autocast():
        for style in training.validation_styles:
            generator = torch.Generator(device=fabric.device).manual_seed(config.seed)
            out = pipe(
                prompt_for(style, config.validation_prompt, config),
                num_inference_steps=config.inference_steps,
                guidance_scale=config.guidance_scale,
                height=config.resolution,
                width=config.resolution,
                generator=generator,
                output_type="np",
            )
            images.append(out.images[0])
    grid = np.stack(images)[None].astype(np.float32)  # (1, n_styles, H, W, 3)
    return figures.image_grid(
        grid,
        training.run.figure_path(f"validation_step_{training.step:06d}.png"),
        row_labels=[f"step {training.step}"],
        col_labels=training.validation_styles,
        title=f"validation, seed {config.seed}",
    )
