"""The figures of every run kind, drawn from what a run wrote or holds: plots in, PNGs out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from artstyle.data.dataset import pick_spread
from artstyle.generate.stylize import embedding_map_points, grid_arrays, split_arrays
from artstyle.models.autoencoder import psnr
from artstyle.train.runs import RunFolder
from artstyle.train.tasks.autoencoder import reconstruct


def write_classifier_figures(
    run: RunFolder,
    metrics: dict[str, Any],
    history: Sequence[dict[str, Any]],
    *,
    best_epoch: float | None,
    suffix: str = "",
) -> None:
    """figures/confusion_matrix.png, per_class.png and (with a history) training_curves.png."""
    from artstyle.analysis import plots

    classes = list(metrics["per_class"])
    split = metrics.get("split", "test")
    plots.save_figure(
        plots.confusion_matrix_figure(
            np.asarray(metrics["confusion_matrix"]),
            classes,
            title=f"{split}: balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy {metrics['accuracy']:.3f} (rows sum to 1)",
            split=split,
        ),
        run.figure_path(f"confusion_matrix{suffix}.png"),
    )
    per_class = metrics["per_class"]
    plots.save_figure(
        plots.per_class_figure(
            classes,
            {
                "recall": [per_class[c]["recall"] for c in classes],
                "precision": [per_class[c]["precision"] for c in classes],
                "F1": [per_class[c]["f1"] for c in classes],
            },
            [per_class[c]["support"] for c in classes],
            title=f"per style on {split}",
            split=split,
        ),
        run.figure_path(f"per_class{suffix}.png"),
    )
    if history:
        epochs = [row["epoch"] for row in history]
        plots.save_figure(
            plots.training_curves(
                epochs,
                {
                    "train": [row.get("train_loss") for row in history],
                    "val": [row.get("val_loss") for row in history],
                },
                {
                    "train accuracy": [row.get("train_accuracy") for row in history],
                    "val accuracy": [row.get("val_accuracy") for row in history],
                    "val balanced accuracy": [row.get("val_balanced_accuracy") for row in history],
                },
                best_epoch=best_epoch,
                title="training curves (train: augmented batches as trained; val: held-out part of train)",
            ),
            run.figure_path("training_curves.png"),
        )


def write_autoencoder_figures(
    run: RunFolder, model, images: np.ndarray, history, *, n: int, device: Any = "cpu", labels=None
) -> None:
    """figures/reconstructions.png (originals over reconstructions) and figures/training_curves.png."""
    from artstyle.analysis import plots

    if len(images):
        rows = np.arange(min(n, len(images))) if labels is None else pick_spread(labels, n)
        originals = images[rows]
        recon = reconstruct(model, originals, device=device)
        values = torch.from_numpy(recon).permute(0, 3, 1, 2)
        targets = torch.from_numpy(originals).permute(0, 3, 1, 2).float() / 255.0
        shown_psnr = float(psnr(values, targets))
        plots.save_figure(
            plots.reconstruction_grid(
                originals,
                recon,
                title=f"held-out images (top) and reconstructions (bottom); PSNR of these {len(rows)}: {shown_psnr:.1f} dB",
            ),
            run.figure_path("reconstructions.png"),
        )
    if history:
        plots.save_figure(plots.autoencoder_curves(history), run.figure_path("training_curves.png"))


GRID_FIGURE = "style_grid.png"


EMBEDDING_FIGURE = "style_embeddings.png"


def write_stylizer_figures(
    run: RunFolder, model, data, *, stage: str = "test", n: int = 8, device: Any = "cpu"
) -> None:
    """figures/style_grid.png (mismatched grid) and figures/style_embeddings.png (PCA of the learned styles)."""
    from artstyle.analysis import plots

    classes = list(data.classes)
    if stage in data.indices and len(data.indices[stage]):
        images, labels = split_arrays(data, stage)
        inputs, outputs, styles = grid_arrays(model, images, labels, n, device=device)
        names = [classes[i] for i in styles]
        title = (
            f"{stage} images (rows) decoded with each learned style (columns); framed: own style"
        )
        plots.save_figure(
            plots.stylize_grid_figure(inputs, outputs, names, names, title=title),
            run.figure_path(GRID_FIGURE),
        )
    with torch.no_grad():
        # the codes every modulation layer reads (table row -> MLP): what the decoder tells apart
        codes = model.style_mlp(model.styles.weight).float().cpu().numpy()
    points, explained = embedding_map_points(codes)
    plots.save_figure(
        plots.style_embedding_map(
            points,
            classes,
            title="learned style embeddings (table row -> style MLP), PCA",
            explained=explained,
        ),
        run.figure_path(EMBEDDING_FIGURE),
    )
