"""Figures from arrays: every function takes numbers and returns a matplotlib ``Figure``.

Nothing here loads a model or reads a run folder (scikit-learn's display
split); :func:`save_figure` writes a PNG atomically and closes the figure.

    python -c "from artstyle.analysis.plots import style_markers; print(style_markers(27)[:3])"
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, safe in worker processes
# Labels are style names and prompts from users' folders: "$" in them is text, not TeX math
# (a name like "Art$_$Deco" would fail to draw, "Pop$_x$" would be drawn as "Popₓ").
matplotlib.rcParams["text.parse_math"] = False

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from artstyle.io import atomic_path  # noqa: E402


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Write ``fig`` (temporary name, then rename) in the format its suffix names (.png,
    .jpg, .pdf, .svg, ...; PNG without a suffix) and close it."""
    from artstyle.errors import ArtstyleError

    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = suffix or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        plt.close(fig)
        raise ArtstyleError(
            f"cannot write {path}: .{suffix} is not a figure format; use .png, .jpg, .pdf or .svg"
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------- styles as colour + marker

# Ten well-separated colours (matplotlib's tab10) and nine filled markers. Style
# i gets colour i mod 10 and marker i mod 9: since 10 and 9 share no factor,
# the first 90 styles all get different pairs, and neighbours in the sorted
# list differ in both colour and shape.
_STYLE_COLOURS = [matplotlib.colormaps["tab10"](i) for i in range(10)]
_STYLE_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "p"]


def style_markers(n_styles: int) -> list[tuple[tuple[float, float, float, float], str]]:
    """(colour, marker) for each of ``n_styles`` styles; all pairs distinct up to 90 styles."""
    return [
        (_STYLE_COLOURS[i % len(_STYLE_COLOURS)], _STYLE_MARKERS[i % len(_STYLE_MARKERS)])
        for i in range(n_styles)
    ]


def _cluster_colours(n: int) -> list[Any]:
    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    # many clusters: evenly spaced hues, interleaved so that neighbouring ids differ strongly
    hues = matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, n))
    order = np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)])
    return [hues[i] for i in order]


def _point_size(n_points: int) -> float:
    # big markers for a few hundred points, small ones for 10,000 so they do not merge
    return float(np.clip(20000 / max(n_points, 1), 6, 40))


def embedding_scatter(
    points: np.ndarray,
    styles: Sequence[str],
    clusters: np.ndarray,
    *,
    style_order: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Two panels of the same 2-D points: coloured and shaped by style (legend below), and by cluster.

    ``points`` is (N, 2); ``styles`` the N style names; ``clusters`` N cluster
    ids (-1 = noise, grey). ``style_order`` fixes each style's colour-marker
    pair (the run's sorted class list), so figures of one data set agree.
    """
    points = np.asarray(points, dtype=float)
    clusters = np.asarray(clusters)
    order = list(style_order) if style_order is not None else sorted(set(styles))
    present = [name for name in order if name in set(styles)]
    pairs = dict(zip(order, style_markers(len(order)), strict=True))
    size = _point_size(len(points))
    n_legend_cols = min(len(present), 5)
    legend_rows = int(np.ceil(len(present) / max(n_legend_cols, 1)))
    legend_inches = 0.45 + 0.2 * legend_rows  # title + one line per row at fontsize 8
    height = 6.8 + legend_inches
    fig, (ax_style, ax_cluster) = plt.subplots(1, 2, figsize=(15, height))
    # leave the bottom strip for the legend: outside the axes, below both panels
    fig.subplots_adjust(
        left=0.02,
        right=0.98,
        top=1 - 0.75 / height,
        bottom=(legend_inches + 0.15) / height,
        wspace=0.04,
    )
    styles_array = np.asarray(styles)
    handles = []
    for name in present:
        colour, marker = pairs[name]
        mask = styles_array == name
        ax_style.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            c=[colour],
            marker=marker,
            alpha=0.75,
            linewidths=0,
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker=marker,
                color=colour,
                markersize=8,
                label=f"{name} ({int(mask.sum())})",
            )
        )
    ax_style.set_title("coloured and shaped by style")

    ids = sorted(int(c) for c in np.unique(clusters))
    real = [c for c in ids if c >= 0]
    colours = dict(zip(real, _cluster_colours(len(real)), strict=True))
    for cluster in ids:
        mask = clusters == cluster
        colour = colours.get(cluster, (0.6, 0.6, 0.6, 1.0))
        ax_cluster.scatter(
            points[mask, 0], points[mask, 1], s=size, c=[colour], alpha=0.75, linewidths=0
        )
        if cluster >= 0 and mask.any():
            x, y = np.median(points[mask], axis=0)
            ax_cluster.annotate(
                str(cluster),
                (x, y),
                ha="center",
                va="center",
                fontsize=8,
                weight="bold",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": colour, "alpha": 0.6},
            )
    noise = " (grey: noise)" if any(c < 0 for c in ids) else ""
    ax_cluster.set_title(f"coloured by cluster, {len(real)} clusters{noise}")
    for ax in (ax_style, ax_cluster):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    # legend outside the axes, below both panels, so 27 styles never cover points
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.01),
        ncol=n_legend_cols,
        fontsize=8,
        frameon=False,
        title="style",
        title_fontsize=9,
        handletextpad=0.3,
        columnspacing=1.2,
    )
    return fig


# ---------------------------------------------------------------- clustering figures


def contingency_heatmap(
    table: np.ndarray, *, style_names: Sequence[str], cluster_names: Sequence[str], title: str = ""
) -> Figure:
    """Styles (rows) x clusters (columns), colour = share of the style's images in the cluster.

    Columns are ordered by the style they hold most of, so a clean clustering
    shows up as a diagonal; counts are written in the cells when they fit.
    """
    table = np.asarray(table, dtype=float)
    n_styles, n_clusters = table.shape
    dominant = table.argmax(axis=0)
    column_order = np.lexsort((-table.max(axis=0), dominant))
    table = table[:, column_order]
    names = [cluster_names[i] for i in column_order]
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.42 * n_clusters + 3.5), max(4, 0.34 * n_styles + 1.8)))
    image = ax.imshow(shares, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(n_clusters), names, fontsize=8)
    ax.set_yticks(range(n_styles), style_names, fontsize=8)
    ax.set_xlabel("cluster (ordered by dominant style)")
    ax.set_ylabel("style")
    if n_styles * n_clusters <= 40 * 40:
        for i in range(n_styles):
            for j in range(n_clusters):
                if table[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(table[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="black" if shares[i, j] > 0.6 else "white",
                    )
    fig.colorbar(image, ax=ax, label="share of the style's images", fraction=0.04)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def k_sweep_figure(rows: Sequence[dict[str, Any]], *, n_styles: int, title: str = "") -> Figure:
    """NMI, ARI, purity and silhouette against k, with the number of styles marked."""
    ks = [row["k"] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, marker in (("nmi", "o"), ("ari", "s"), ("purity", "^"), ("silhouette", "D")):
        values = [np.nan if row.get(key) is None else row[key] for row in rows]
        ax.plot(ks, values, marker=marker, label=key)
    ax.axvline(n_styles, color="grey", linestyle="--", linewidth=1)
    ax.annotate(
        f"{n_styles} styles",
        (n_styles, 1.0),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
        color="grey",
    )
    ax.set_xlabel("k (clusters)")
    ax.set_ylabel("score")
    ax.set_ylim(
        min(
            0.0,
            *[row.get("ari", 0) or 0 for row in rows],
            *[row.get("silhouette") or 0 for row in rows],
        )
        - 0.02,
        1.02,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _to_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def cluster_strips(
    groups: Sequence[np.ndarray], labels: Sequence[str], *, title: str = ""
) -> Figure:
    """One row per cluster of its most central images (uint8 (n, S, S, 3) each), labelled on the left."""
    n_rows = max(len(groups), 1)
    n_cols = max((len(group) for group in groups), default=1)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(1.1 * n_cols + 3.2, 1.1 * n_rows + 0.6), squeeze=False
    )
    for r, (group, label) in enumerate(zip(groups, labels, strict=True)):
        group = _to_uint8(group)
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(group):
                ax.imshow(group[c])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def representation_bars(rows: Sequence[dict[str, Any]]) -> Figure:
    """Grouped bars of NMI, ARI, purity (mean ± std over seeds) per representation, chance NMI dashed."""
    keys = ["nmi", "ari", "homogeneity", "completeness", "purity"]
    names = [row["representation"] for row in rows]
    x = np.arange(len(keys))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, row in enumerate(rows):
        means = [row[key] or 0.0 for key in keys]
        spreads = [row.get(f"{key}_std") or 0.0 for key in keys]
        bars = ax.bar(
            x + (i - (len(rows) - 1) / 2) * width,
            means,
            width,
            yerr=spreads,
            capsize=2,
            label=names[i],
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        if row.get("nmi_chance") is not None:
            centre = x[0] + (i - (len(rows) - 1) / 2) * width
            ax.hlines(
                row["nmi_chance"],
                centre - width / 2,
                centre + width / 2,
                colors="black",
                linestyles="--",
                linewidth=1,
            )
    ax.set_xticks(x, keys)
    ax.set_ylabel("score against style labels")
    # ARI can be negative: room below its bar (and error bar) for the value label
    lowest = min(
        [0.0] + [(row[key] or 0.0) - (row.get(f"{key}_std") or 0.0) for row in rows for key in keys]
    )
    ax.set_ylim(lowest - (0.1 if lowest < 0 else 0.02), 1.1)
    ax.legend(fontsize=8)
    ax.set_title(
        "Same images, same clustering: which representation groups styles? (dashed: chance NMI)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- autoencoder figures


def reconstruction_grid(
    originals: np.ndarray, reconstructions: np.ndarray, *, title: str = ""
) -> Figure:
    """Originals (top row) over their reconstructions (bottom row); uint8 or [0, 1] float (N, S, S, 3)."""
    originals = _to_uint8(originals)
    reconstructions = _to_uint8(reconstructions)
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.4 * n + 0.8, 3.3), squeeze=False)
    for row, (images, name) in enumerate(
        ((originals, "original"), (reconstructions, "reconstruction"))
    ):
        for c in range(n):
            ax = axes[row, c]
            ax.imshow(images[c])
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def autoencoder_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Loss per epoch (train and held-out) beside held-out PSNR and SSIM."""
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("train_loss", "train"), ("val_loss", "held-out")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            ax_loss.plot(
                epochs, [np.nan if v is None else v for v in values], marker="o", label=label
            )
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    psnr = [np.nan if row.get("val_psnr") is None else row["val_psnr"] for row in history]
    ax_psnr.plot(epochs, psnr, marker="o", color="tab:green", label="PSNR (dB)")
    ax_psnr.set_xlabel("epoch")
    ax_psnr.set_ylabel("held-out PSNR (dB)")
    ax_psnr.grid(alpha=0.3)
    ssim_values = [np.nan if row.get("val_ssim") is None else row["val_ssim"] for row in history]
    if not np.all(np.isnan(ssim_values)):
        ax_ssim = ax_psnr.twinx()
        ax_ssim.plot(epochs, ssim_values, marker="s", color="tab:purple", label="SSIM")
        ax_ssim.set_ylabel("held-out SSIM")
        lines = ax_psnr.get_lines() + ax_ssim.get_lines()
        ax_psnr.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- classifier figures


def training_curves(
    epochs: Sequence[float],
    losses: dict[str, Sequence[float | None]],
    scores: dict[str, Sequence[float | None]],
    *,
    best_epoch: float | None = None,
    title: str = "",
) -> Figure:
    """Loss curves (left) and accuracy-like scores (right) against the epoch; best epoch dashed."""
    epochs = np.asarray(epochs, dtype=float)
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, series, ylabel in ((ax_loss, losses, "loss"), (ax_score, scores, "score")):
        for label, values in series.items():
            values = np.array([np.nan if v is None else v for v in values], dtype=float)
            if np.isfinite(values).any():
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_score.set_ylim(0, 1.02)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix_figure(
    matrix: np.ndarray, classes: Sequence[str], *, title: str = "", split: str = "test"
) -> Figure:
    """Row-normalised confusion matrix (each true style's row sums to 1), labelled on both axes.

    Rows of styles absent from the data stay empty and are marked in their label; ``split``
    names the images counted (test, val or train).
    """
    matrix = np.asarray(matrix, dtype=float)
    n = len(classes)
    support = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    side = max(4.5, 0.36 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    row_labels = [
        f"{name} ({int(s)})" if s else f"{name} (absent)"
        for name, s in zip(classes, support[:, 0], strict=True)
    ]
    ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(n), row_labels, fontsize=7)
    ax.set_xlabel("predicted style")
    ax.set_ylabel(f"true style ({split} images)")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if shares[i, j] >= 0.005:
                    ax.text(
                        j,
                        i,
                        f"{shares[i, j]:.2f}".lstrip("0"),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if shares[i, j] > 0.55 else "black",
                    )
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true style's images")
    ax.set_title(title or "confusion matrix (rows sum to 1)", fontsize=10)
    fig.tight_layout()
    return fig


def per_class_figure(
    classes: Sequence[str],
    values: dict[str, Sequence[float | None]],
    support: Sequence[int],
    *,
    title: str = "",
    split: str = "test",
) -> Figure:
    """Horizontal bars per style (e.g. recall and F1), the style's image count in ``split`` in
    its label."""
    n = len(classes)
    y = np.arange(n)
    height = 0.8 / max(len(values), 1)
    fig, ax = plt.subplots(figsize=(7.5, max(3.0, 0.3 * n + 1.2)))
    for i, (label, series) in enumerate(values.items()):
        numbers = np.array([np.nan if v is None else v for v in series], dtype=float)
        ax.barh(
            y + (i - (len(values) - 1) / 2) * height, np.nan_to_num(numbers), height, label=label
        )
    ax.set_yticks(
        y,
        [
            f"{name} ({int(s)})" if s else f"{name} (absent)"
            for name, s in zip(classes, support, strict=True)
        ],
        fontsize=7,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"score on the {split} split ({split} images per style in brackets)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )  # outside: never covers a bar
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def balance_comparison_figure(
    strategies: Sequence[str],
    scores: dict[str, Sequence[float | None]],
    *,
    title: str = "",
) -> Figure:
    """Grouped bars: one group per imbalance strategy, one bar per score (accuracy, balanced accuracy, ...)."""
    x = np.arange(len(strategies))
    width = 0.8 / max(len(scores), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(strategies) + 2), 4.2))
    for i, (label, series) in enumerate(scores.items()):
        numbers = np.array([np.nan if v is None else v for v in series], dtype=float)
        bars = ax.bar(
            x + (i - (len(scores) - 1) / 2) * width, np.nan_to_num(numbers), width, label=label
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(x, strategies)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score on the test split")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(scores), frameon=False
    )
    ax.set_title(title or "imbalance strategies, same seed and budget", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- stylizer figures


def _pretty_style(name: str) -> str:
    return name.replace("_", " ")


def stylize_grid_figure(
    inputs: np.ndarray,
    outputs: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str = "",
    mark_diagonal: bool = True,
) -> Figure:
    """Inputs (N, S, S, 3) in a first column, then their outputs (N, M, S, S, 3) under each style.

    Rows are labelled with ``row_labels`` (the input's style), columns with
    ``col_labels`` (the style asked for). With ``mark_diagonal`` the cells
    where row and column name the same style (the own-style reconstruction)
    get a frame.
    """
    inputs = _to_uint8(inputs)
    outputs = _to_uint8(outputs)
    n_rows, n_cols = outputs.shape[0], outputs.shape[1]
    cell = 1.05 if n_cols > 6 else 1.3
    fig, axes = plt.subplots(
        n_rows, n_cols + 1, figsize=(cell * (n_cols + 1) + 1.6, cell * n_rows + 1.2), squeeze=False
    )
    for r in range(n_rows):
        for c in range(n_cols + 1):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = inputs[r] if c == 0 else outputs[r, c - 1]
            ax.imshow(image)
            same = c > 0 and mark_diagonal and row_labels[r] == col_labels[c - 1]
            for spine in ax.spines.values():
                spine.set_visible(c == 0 or same)
                spine.set_linewidth(2.5 if same else 1.0)
                spine.set_edgecolor("crimson" if same else "black")
        axes[r, 0].set_ylabel(
            _pretty_style(row_labels[r]), rotation=0, ha="right", va="center", fontsize=7
        )
    axes[0, 0].set_title("input", fontsize=7)
    for c, label in enumerate(col_labels, start=1):
        axes[0, c].set_title(_pretty_style(label), fontsize=7, rotation=30, ha="left", va="bottom")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def style_embedding_map(
    points: np.ndarray,
    names: Sequence[str],
    *,
    title: str = "",
    explained: Sequence[float] | None = None,
) -> Figure:
    """A 2-D map (e.g. PCA) of one point per style, each with its style's colour-marker pair and its name."""
    points = np.asarray(points, dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    for i, ((colour, marker), name) in enumerate(
        zip(style_markers(len(names)), names, strict=True)
    ):
        ax.scatter(
            points[i, 0],
            points[i, 1],
            color=colour,
            marker=marker,
            s=70,
            edgecolors="black",
            linewidths=0.5,
        )
        ax.annotate(
            _pretty_style(name),
            (points[i, 0], points[i, 1]),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=7,
        )
    if explained is not None and len(explained) >= 2:
        ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}% of variance)")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def stylizer_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Per epoch: the stylizer's loss terms (train and validation) and its SSIM / critic-hit rates."""
    epochs = [row.get("epoch") for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (
        ("loss", "total"),
        ("recon", "reconstruction L1"),
        ("gram", "Gram style"),
        ("critic", "critic CE"),
        ("content", "1 - SSIM content"),
    ):
        for prefix, style in (("train_", "-"), ("val_", "--")):
            values = [row.get(prefix + key) for row in history]
            if any(v is not None for v in values):
                left.plot(
                    epochs,
                    [np.nan if v is None else v for v in values],
                    style,
                    label=f"{prefix[:-1]} {label}",
                )
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.set_yscale("log")
    left.grid(alpha=0.3)
    left.legend(fontsize=6, ncol=2)
    for key, label in (
        ("val_own_ssim", "own-style SSIM"),
        ("val_content_ssim", "other-style SSIM to input"),
        ("val_critic_hit_rate", "critic sees target style"),
    ):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            right.plot(
                epochs,
                [np.nan if v is None else v for v in values],
                marker="o",
                markersize=3,
                label=label,
            )
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    right.set_title("validation", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- LoRA figures


def image_grid_figure(
    images: np.ndarray,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str | None = None,
) -> Figure:
    """A labelled grid of images (rows, cols, H, W, 3) in [0, 1] as a matplotlib Figure."""
    n_rows, n_cols = images.shape[:2]
    side = 2.4
    figure = Figure(
        figsize=(side * n_cols + 1.2, side * n_rows + (0.5 if title else 0.2)), layout="constrained"
    )
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.imshow(np.clip(images[r, c], 0.0, 1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_labels[c].replace("_", " "), fontsize=9, parse_math=False)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9, parse_math=False)
    if title:
        figure.suptitle(title, fontsize=10, parse_math=False)
    return figure


def lora_loss_figure(history: Sequence[dict[str, Any]]) -> Figure:
    """The LoRA training loss per history row (``step``, ``loss``: the mean over the steps since
    the row before)."""
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(
        [row["step"] for row in history],
        [row["loss"] for row in history],
        marker="." if len(history) < 30 else None,
    )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(
        f"denoising loss (mean of {history[0]['step']} steps)" if len(history) > 0 else "loss"
    )
    ax.set_title("LoRA training loss")
    ax.grid(alpha=0.3)
    return figure


# ---------------------------------------------------------------- label issues


def label_issues_sheet(
    images: np.ndarray,
    rows: Sequence[dict[str, Any]],
    *,
    n_columns: int = 6,
    title: str | None = None,
) -> Figure:
    """Thumbnails of flagged images (uint8 (N, H, W, 3)), each captioned with its given style,
    the suggested one and both probabilities (``rows``: label-issue rows, same order)."""
    n_images = len(rows)
    n_columns = max(1, min(n_columns, n_images))
    n_rows = max(1, -(-n_images // n_columns))
    figure = Figure(figsize=(2.3 * n_columns, 2.75 * n_rows + (0.4 if title else 0.0)))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n_images:
            ax.set_axis_off()
            continue
        row = rows[k]
        ax.imshow(_to_uint8(images[k : k + 1])[0])
        ax.set_title(
            f"#{row.get('rank', k + 1)} {_pretty_style(row['given_style'])} "
            f"({row['self_confidence']:.2f})\n-> {_pretty_style(row['suggested_style'])} "
            f"({row['suggested_probability']:.2f})",
            fontsize=7,
        )
        ax.set_xlabel(_short_path(str(row.get("file", ""))), fontsize=6)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _short_path(path: str, limit: int = 34) -> str:
    return path if len(path) <= limit else "…" + path[-(limit - 1) :]
