"""An autoencoder run's part (reconstructions against baselines) and a clustering's part."""

from __future__ import annotations

from typing import Any

from artstyle.report.blocks import Details, Part, no_metrics_note
from artstyle.report.figures import caption_from_name, figure_block
from artstyle.report.read import Run
from artstyle.report.sections.common import (
    add_curves_and_other_numbers,
    headline,
)
from artstyle.report.tables import (
    clusters_table,
    find_sentence,
    key_value_table,
    rows_of,
    rows_table,
    scalar_items,
)
from artstyle.report.wording import as_number, fmt, label_of, short

METHOD_NAMES = {
    "kmeans": "k-means",
    "gmm": "Gaussian mixture",
    "agglomerative": "agglomerative clustering",
    "hdbscan": "HDBSCAN",
}


def autoencoder_part(run: Run, part: Part) -> None:
    metrics = run.metrics
    if metrics is None:
        part.add(no_metrics_note())
    else:
        # baselines the autoencoder must beat: the mean image, and a plain downsample of similar size
        mean_image = as_number(metrics.get("baseline_psnr_mean_image"))
        downsampled = as_number(metrics.get("baseline_psnr_downsampled"))
        side = metrics.get("baseline_downsampled_side")
        baselines = []
        if mean_image is not None:
            baselines.append(f"mean image {mean_image:.1f} dB")
        if downsampled is not None:
            baselines.append(
                f"{side} px downsample {downsampled:.1f} dB"
                if side
                else f"downsample {downsampled:.1f} dB"
            )
        if as_number(metrics.get("psnr")) is not None:
            answer = f"Reconstructions of held-out images reach PSNR {metrics['psnr']:.1f} dB"
            if as_number(metrics.get("ssim")) is not None:
                answer += f" and SSIM {short(metrics['ssim'])}"
            if baselines:
                answer += f" (baselines: {', '.join(baselines)})"
            part.answer = answer + "."
        cards = headline(
            metrics,
            [
                (
                    "psnr",
                    "PSNR (dB)",
                    "; ".join(baselines) if baselines else "held-out images; higher is better",
                ),
                ("ssim", "SSIM", "1 = identical"),
                ("mse", "MSE", "lower is better"),
                ("compression_ratio", "compression", "pixel values per latent value"),
            ],
        )
        part.add(cards)
    figures = figure_block(
        run.claim(r"recon"),
        lambda p: "Held-out originals (top) over their reconstructions (bottom)",
        run.problems,
    )
    part.add(figures)
    add_curves_and_other_numbers(
        run,
        part,
        {
            "psnr",
            "ssim",
            "mse",
            "compression_ratio",
            "baseline_psnr_mean_image",
            "baseline_psnr_downsampled",
        },
    )


def clustering_part(run: Run, part: Part) -> None:
    cluster = run.cluster if isinstance(run.cluster, dict) else {}
    scores = cluster.get("scores") if isinstance(cluster.get("scores"), dict) else cluster
    chance = as_number(scores.get("nmi_chance"))
    contexts = {
        "nmi": f"chance {fmt(chance, 'nmi')}" if chance is not None else "0 = unrelated to styles",
        "silhouette": "cluster shape, -1..1",
    }
    score_keys = ("nmi", "ari", "homogeneity", "completeness", "purity", "silhouette")
    cards = headline(
        scores, [(k, label_of(k), contexts.get(k, "vs style labels")) for k in score_keys]
    )
    method = METHOD_NAMES.get(
        str(cluster.get("method")).lower(), cluster.get("method") or "clustering"
    )
    k = cluster.get("k") or cluster.get("n_clusters")
    what = cluster.get("kind") or cluster.get("representation")
    setting = method + (f", k={k}" if k else "")
    if what:
        setting += f", {what} vectors"
    if cluster.get("n_points"):
        setting += f" of {fmt(cluster['n_points'])} {cluster.get('split') or ''} images".replace(
            "  ", " "
        )
    sentence = find_sentence(cluster)
    if not sentence and as_number(scores.get("nmi")) is not None:
        sentence = (
            f"NMI {short(scores['nmi'])}"
            + "".join(
                f", {label_of(key)} {short(scores[key])}"
                for key in ("ari", "purity")
                if as_number(scores.get(key)) is not None
            )
            + " (0 = no relation to the styles, 1 = the clusters are the styles)."
        )
    if sentence:
        part.answer = f"{sentence.rstrip('.')} ({setting})."
    part.add(cards)
    listed = cluster.get("figures")
    if run.kinds == ["clustering"] and isinstance(listed, list):
        # figures an earlier clustering into this folder left behind are not this one's
        shown = {str(name) for name in listed}
        run.claim_paths(p for p in run.figures if p.relative_to(run.path).as_posix() not in shown)
    for pattern, caption in (
        (
            r"embedding|style|tsne|pca|umap|projection|scatter",
            "2-D view, points by style (left) and by cluster (right)",
        ),
        (r"contingency|heatmap", "Clusters against styles"),
        (r"sweep|_k$|vs_k", "Scores against the number of clusters k"),
        (r"central|strip|examples|cluster", "The most central images of each cluster"),
    ):
        figures = figure_block(
            run.claim(pattern),
            lambda p, c=caption: f"{c} ({caption_from_name(p).lower()})",
            run.problems,
        )
        part.add(figures)
    folded: list[Any] = []
    sweep = rows_of(cluster.get("sweep") or cluster.get("k_sweep") or [])
    if sweep and (table := rows_table(sweep, caption="Scores for each number of clusters k")):
        folded.append(table)
    clusters = cluster.get("clusters")
    if isinstance(clusters, list) and clusters and all(isinstance(row, dict) for row in clusters):
        folded.append(clusters_table(clusters))
    settings = key_value_table(
        (key, value)
        for key, value in scalar_items(cluster)
        if key not in score_keys and key != "verdict"
    )
    if settings is not None:
        folded.append(settings)
    if folded:
        part.blocks.append(Details("Clusters, k sweep and settings", folded))
