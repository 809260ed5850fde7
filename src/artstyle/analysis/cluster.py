"""Do styles cluster? scikit-learn pipelines, scores against the style labels, 2-D views.

A representation (raw pixels, an autoencoder's latent, a classifier's
features; see :mod:`artstyle.analysis.embed`) goes through one scikit-learn
``Pipeline``: ``StandardScaler -> PCA -> KMeans`` (or ``GaussianMixture``,
``AgglomerativeClustering``, ``HDBSCAN``). The clusters are scored against the
style labels (NMI, ARI, homogeneity, completeness, purity) and on their own
(silhouette), swept over k, drawn as a cluster-by-style heatmap, as strips of
each cluster's most central images, and as 2-D PCA / t-SNE (/ UMAP) views in
which every point is coloured and shaped by its style beside the same points
coloured by cluster.

    artstyle cluster runs/ae --data DATA --method kmeans --projections pca,tsne
    artstyle compare-representations --data DATA --autoencoder runs/ae --classifier runs/clf --out cmp
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import (
    adjusted_rand_score,
    homogeneity_completeness_v_measure,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.metrics.cluster import contingency_matrix
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from artstyle.config import ClusterConfig
from artstyle.errors import ArtstyleError
from artstyle.io import write_json, write_text
from artstyle.text import md_cell, md_code, md_text

METHODS = ("kmeans", "gmm", "agglomerative", "hdbscan")
PROJECTIONS = ("pca", "tsne", "umap")
# silhouette is O(n^2); beyond this many points it is estimated on a seeded sample
SILHOUETTE_SAMPLE = 5000


# ---------------------------------------------------------------- the pipeline


def make_pipeline(
    method: str,
    *,
    n_clusters: int | None,
    n_components: int,
    seed: int,
    min_cluster_size: int = 10,
) -> Pipeline:
    """``StandardScaler -> PCA(n_components) -> clusterer``; ``n_components=0`` leaves PCA out.

    Standardising first keeps one high-variance dimension (e.g. brightness in
    raw pixels) from dominating the Euclidean distances every method uses.
    """
    if method == "kmeans":
        # n_init=10 restarts: k-means++ seeding alone is noisy for k ~ 27 (Arthur & Vassilvitskii 2007)
        clusterer: Any = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    elif method == "gmm":
        # diagonal covariances: full ones need ~d^2/2 numbers per cluster, too many for small styles
        clusterer = GaussianMixture(
            n_components=n_clusters, covariance_type="diag", reg_covar=1e-4, random_state=seed
        )
    elif method == "agglomerative":
        clusterer = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward")
    elif method == "hdbscan":
        # density-based: finds its own number of clusters and marks outliers -1 (Campello et al. 2013)
        clusterer = HDBSCAN(min_cluster_size=min_cluster_size, copy=True)
    else:
        raise ArtstyleError(
            f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}"
        )
    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if n_components:
        steps.append(("pca", PCA(n_components=n_components, random_state=seed)))
    steps.append(("cluster", clusterer))
    return Pipeline(steps)


def pca_components_for(n_samples: int, n_features: int, wanted: int) -> int:
    """``wanted`` PCA dimensions, clipped to what the data can give (0 stays 0)."""
    if not wanted:
        return 0
    return max(1, min(wanted, n_features, n_samples - 1))


def fit_clusters(
    features: np.ndarray,
    method: str,
    *,
    n_clusters: int | None,
    n_components: int,
    seed: int,
    min_cluster_size: int = 10,
) -> tuple[np.ndarray, np.ndarray, Pipeline]:
    """Fit the pipeline; returns (cluster labels, the reduced features the clusterer saw, pipeline)."""
    features = np.asarray(features, dtype=np.float64)
    n_components = pca_components_for(len(features), features.shape[1], n_components)
    pipeline = make_pipeline(
        method,
        n_clusters=n_clusters,
        n_components=n_components,
        seed=seed,
        min_cluster_size=min_cluster_size,
    )
    labels = np.asarray(pipeline.fit_predict(features), dtype=np.int64)
    reduced = pipeline[:-1].transform(features)
    return labels, reduced, pipeline


# ---------------------------------------------------------------- scores


def purity(contingency: np.ndarray) -> float:
    """Share of points whose cluster's most common style is their own.

    ``contingency`` is (n_styles, n_clusters) as sklearn's ``contingency_matrix`` gives it.
    """
    contingency = np.asarray(contingency)
    total = contingency.sum()
    return float(contingency.max(axis=0).sum() / total) if total else 0.0


def clustering_scores(true_labels: np.ndarray, cluster_labels: np.ndarray) -> dict[str, float]:
    """Agreement of clusters with styles: NMI, ARI, homogeneity, completeness, V-measure, purity.

    NMI and V-measure use the arithmetic mean normalisation (they coincide);
    ARI is 0 in expectation for random clusters and can go negative.
    """
    true_labels = np.asarray(true_labels)
    cluster_labels = np.asarray(cluster_labels)
    homogeneity, completeness, v_measure = homogeneity_completeness_v_measure(
        true_labels, cluster_labels
    )
    return {
        "nmi": float(normalized_mutual_info_score(true_labels, cluster_labels)),
        "ari": float(adjusted_rand_score(true_labels, cluster_labels)),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
        "v_measure": float(v_measure),
        "purity": purity(contingency_matrix(true_labels, cluster_labels)),
    }


def chance_nmi(
    true_labels: np.ndarray, cluster_labels: np.ndarray, *, seed: int, n_repeats: int = 5
) -> float:
    """NMI of the same cluster sizes assigned at random: NMI is biased above 0 for many clusters and few points."""
    rng = np.random.default_rng(seed)
    values = [
        normalized_mutual_info_score(true_labels, rng.permutation(cluster_labels))
        for _ in range(n_repeats)
    ]
    return float(np.mean(values))


def silhouette(reduced: np.ndarray, cluster_labels: np.ndarray, *, seed: int) -> float | None:
    """Mean silhouette of the clustering in the space it was made in; None when undefined (one cluster)."""
    n_labels = len(np.unique(cluster_labels))
    if n_labels < 2 or n_labels > len(cluster_labels) - 1:
        return None
    sample = min(len(cluster_labels), SILHOUETTE_SAMPLE)
    return float(silhouette_score(reduced, cluster_labels, sample_size=sample, random_state=seed))


def verdict(scores: dict[str, float], n_chance: float | None = None) -> str:
    """One plain sentence on how well the clusters follow the styles.

    Judged on NMI above what the same cluster sizes score when shuffled
    (``n_chance``): few images of many styles give a high NMI to any clustering,
    random vectors included, so raw NMI alone would call noise "clustered".
    """
    nmi = scores["nmi"]
    chance = n_chance if n_chance is not None and math.isfinite(n_chance) else 0.0
    above = (nmi - chance) / max(1.0 - chance, 1e-9)  # 0: chance, 1: clusters = styles
    if above >= 0.4:
        how = "Styles cluster well"
    elif above >= 0.15:
        how = "Styles cluster partly"
    elif above >= 0.05:
        how = "Styles barely cluster"
    else:
        how = "Styles do not cluster (no better than chance)"
    shown = f" (chance {n_chance:.2f})" if n_chance is not None else ""
    return f"{how}: NMI {nmi:.2f}{shown}, ARI {scores['ari']:.2f}, purity {scores['purity']:.2f}."


def default_sweep(n_styles: int, n_points: int) -> list[int]:
    """k values from 2 to twice the number of styles (roughly geometric), always including n_styles."""
    upper = max(2, min(2 * n_styles, n_points - 1))
    ks = {2, n_styles}
    k = 2.0
    while k <= upper:
        ks.add(int(round(k)))
        k *= 1.5
    ks.add(upper)
    return sorted(k for k in ks if 2 <= k <= min(upper, n_points - 1))


def sweep_k(
    reduced: np.ndarray, true_labels: np.ndarray, clusterer: Any, ks: list[int], *, seed: int
) -> list[dict[str, float]]:
    """Scores vs k with the fitted scaler + PCA kept fixed (refitting them per k changes nothing)."""
    rows = []
    for k in ks:
        model = clone(clusterer)
        model.set_params(
            **{"n_components" if isinstance(model, GaussianMixture) else "n_clusters": k}
        )
        labels = np.asarray(model.fit_predict(reduced))
        row = {
            "k": int(k),
            **clustering_scores(true_labels, labels),
            "silhouette": silhouette(reduced, labels, seed=seed),
        }
        if isinstance(model, KMeans):
            row["inertia"] = float(model.inertia_)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- clusters' members


def central_members(
    reduced: np.ndarray, cluster_labels: np.ndarray, n: int
) -> dict[int, np.ndarray]:
    """Per cluster, the indices of its ``n`` members nearest its mean (nearest first)."""
    members: dict[int, np.ndarray] = {}
    for cluster in np.unique(cluster_labels):
        index = np.flatnonzero(cluster_labels == cluster)
        centre = reduced[index].mean(axis=0)
        distance = ((reduced[index] - centre) ** 2).sum(axis=1)
        members[int(cluster)] = index[np.argsort(distance, kind="stable")[:n]]
    return members


def cluster_table(
    cluster_labels: np.ndarray,
    true_labels: np.ndarray,
    classes: list[str],
    central: dict[int, np.ndarray],
    rels: list[str],
) -> list[dict[str, Any]]:
    """One row per cluster (largest first): size, top styles with counts, central images."""
    rows = []
    for cluster in sorted(central, key=lambda c: (-int((cluster_labels == c).sum()), c)):
        in_cluster = true_labels[cluster_labels == cluster]
        counts = np.bincount(in_cluster, minlength=len(classes))
        top = np.argsort(-counts, kind="stable")[:3]
        rows.append(
            {
                "cluster": int(cluster),
                "size": int(len(in_cluster)),
                "top_styles": [[classes[i], int(counts[i])] for i in top if counts[i]],
                "central": [rels[i] for i in central[cluster]],
            }
        )
    return rows


# ---------------------------------------------------------------- 2-D views


def subsample_indices(n: int, cap: int | None, seed: int) -> np.ndarray:
    """All of ``range(n)``, or a seeded random ``cap`` of them (sorted) when n > cap."""
    if cap is None or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=cap, replace=False))


def project_2d(
    reduced: np.ndarray, method: str, *, seed: int, perplexity: float = 30.0
) -> np.ndarray:
    """(N, d) -> (N, 2) by PCA, t-SNE or UMAP.

    t-SNE runs on the PCA-reduced features, the usual first step that removes
    noise dimensions and speeds it up (van der Maaten & Hinton 2008, sec. 5).
    """
    reduced = np.asarray(reduced, dtype=np.float64)
    n = len(reduced)
    if method == "pca":
        if reduced.shape[1] < 2:
            return np.column_stack([reduced[:, 0], np.zeros(n)])
        return PCA(n_components=2, random_state=seed).fit_transform(reduced)
    if method == "tsne":
        # perplexity must stay below the number of points; ~n/3 keeps neighbourhoods meaningful
        perplexity = float(min(perplexity, max(1.0, (n - 1) / 3)))
        return TSNE(
            n_components=2,
            perplexity=perplexity,
            init="pca",
            learning_rate="auto",
            random_state=seed,
        ).fit_transform(reduced)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ArtstyleError(
                "--projections umap needs umap-learn, which is not installed: "
                "pip install 'artstyle[umap]' (or use pca and tsne)"
            ) from None
        n_neighbors = max(2, min(15, n - 1))
        return umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed).fit_transform(
            reduced
        )
    raise ArtstyleError(f"unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}")


def subsample_note(n_total: int, n_shown: int, seed: int) -> str:
    if n_shown == n_total:
        return f"all {n_total:,} points"
    return f"{n_shown:,} of {n_total:,} points (random subsample, seed {seed})"


# ---------------------------------------------------------------- the whole analysis


@dataclass
class ClusterResult:
    """Everything ``cluster_embeddings`` computed; ``report`` is what cluster.json holds."""

    labels: np.ndarray  # (N,) cluster of each point
    reduced: np.ndarray  # (N, d) the features the clusterer saw
    report: dict[str, Any]
    figures: dict[str, Any]


def cluster_embeddings(
    embeddings,
    config: ClusterConfig,
    *,
    out: str | Path | None = None,
    images: np.ndarray | None = None,
    figures: bool = True,
    sweep: bool = True,
    log=None,
) -> ClusterResult:
    """Cluster one :class:`~artstyle.analysis.embed.Embeddings` table, score it, draw it.

    ``images`` (uint8 (N, S, S, 3), aligned with the rows) enables the strips
    of central images. With ``out``, writes ``out/cluster.json`` and
    ``out/figures/*.png``.
    """
    from threadpoolctl import threadpool_limits

    # OpenMP workers that wait on a busy core spin for their barrier; on a
    # shared machine one thread each is several times faster (config.threads)
    with threadpool_limits(limits=config.threads):
        return _cluster_embeddings(
            embeddings, config, out=out, images=images, figures=figures, sweep=sweep, log=log
        )


def _cluster_embeddings(embeddings, config, *, out, images, figures, sweep, log) -> ClusterResult:
    from artstyle.analysis import plots

    say = log or (lambda message: None)
    vectors = np.asarray(embeddings.vectors, dtype=np.float64)
    n_points = len(vectors)
    if n_points < 3:
        raise ArtstyleError(
            f"{embeddings.source}: {n_points} vectors are too few to cluster (need at least 3)"
        )
    if not np.isfinite(vectors).all():
        raise ArtstyleError(
            f"{embeddings.source}: the vectors hold NaN or infinite values; re-create the embeddings"
        )
    classes = list(embeddings.classes)
    true_labels = embeddings.labels
    present = np.unique(true_labels)
    n_styles = len(present)
    k = config.k or max(2, n_styles)
    if config.method != "hdbscan" and k > n_points - 1:
        raise ArtstyleError(f"k={k} clusters need more than {n_points} points; pass a smaller --k")
    if config.method == "hdbscan" and config.min_cluster_size > n_points:
        raise ArtstyleError(
            f"--min-cluster-size {config.min_cluster_size} is more than the {n_points} points of "
            f"{embeddings.source}; pass --min-cluster-size {max(2, n_points // 3)} or fewer"
        )
    seed = config.seed

    started = time.perf_counter()
    labels, reduced, pipeline = fit_clusters(
        vectors,
        config.method,
        n_clusters=None if config.method == "hdbscan" else k,
        n_components=config.pca_components,
        seed=seed,
        min_cluster_size=config.min_cluster_size,
    )
    fit_seconds = time.perf_counter() - started
    scores = clustering_scores(true_labels, labels)
    chance = chance_nmi(true_labels, labels, seed=seed)
    report: dict[str, Any] = {
        "source": str(embeddings.source),
        "kind": embeddings.kind,
        "data": embeddings.data,
        "split": embeddings.split,
        "n_points": n_points,
        "dim": int(vectors.shape[1]),
        "n_styles": n_styles,
        "styles": [classes[i] for i in present],
        "method": config.method,
        "k": int(len(np.unique(labels[labels >= 0]))) if config.method == "hdbscan" else int(k),
        "pca_components": int(reduced.shape[1]) if "pca" in pipeline.named_steps else 0,
        "pca_explained_variance": float(pipeline.named_steps["pca"].explained_variance_ratio_.sum())
        if "pca" in pipeline.named_steps
        else None,
        "seed": seed,
        "scores": {
            **scores,
            "nmi_chance": chance,
            "silhouette": silhouette(reduced, labels, seed=seed),
        },
        "fit_seconds": round(fit_seconds, 3),
    }
    if config.method == "hdbscan":
        report["n_noise"] = int((labels < 0).sum())
        report["note"] = "HDBSCAN's outliers (cluster -1) are scored as one more cluster"
    report["verdict"] = verdict(scores, chance)

    central = central_members(reduced, labels, config.n_central)
    report["clusters"] = cluster_table(labels, true_labels, classes, central, list(embeddings.rels))
    cluster_ids = sorted(central)
    table = contingency_matrix(true_labels, labels)  # (styles present, clusters)
    report["contingency"] = {
        "styles": [classes[i] for i in present],
        "clusters": [int(c) for c in cluster_ids],
        "counts": table.tolist(),
    }

    sweep_rows: list[dict[str, Any]] = []
    if sweep and config.method != "hdbscan":
        ks = config.sweep if config.sweep is not None else default_sweep(n_styles, n_points)
        ks = [k_value for k_value in ks if 2 <= k_value <= n_points - 1]
        sweep_rows = sweep_k(reduced, true_labels, pipeline.named_steps["cluster"], ks, seed=seed)
    report["sweep"] = sweep_rows

    figs: dict[str, Any] = {}
    projections: dict[str, Any] = {}
    if figures:
        style_names = [classes[i] for i in true_labels]
        title = f"{embeddings.kind} ({embeddings.split}, {report['dim']}-d), {config.method} k={report['k']}"
        figs["contingency.png"] = plots.contingency_heatmap(
            table,
            style_names=report["contingency"]["styles"],
            cluster_names=[str(c) for c in cluster_ids],
            title=title,
        )
        if sweep_rows:
            figs["k_sweep.png"] = plots.k_sweep_figure(sweep_rows, n_styles=n_styles, title=title)
        shown = subsample_indices(n_points, config.max_points, seed)
        for method in config.projections:
            started = time.perf_counter()
            points = project_2d(reduced[shown], method, seed=seed, perplexity=config.perplexity)
            seconds = time.perf_counter() - started
            note = subsample_note(n_points, len(shown), seed)
            projections[method] = {
                "n_points": int(len(shown)),
                "subsampled": bool(len(shown) < n_points),
                "seconds": round(seconds, 2),
            }
            say(f"{method}: {note} in {seconds:.1f} s")
            figs[f"embedding_{method}.png"] = plots.embedding_scatter(
                points,
                [style_names[i] for i in shown],
                labels[shown],
                style_order=classes,
                title=f"{method.upper() if method == 'pca' else method}: {title}\n{note}",
            )
        if images is not None:
            order = [row["cluster"] for row in report["clusters"]]
            figs["cluster_images.png"] = plots.cluster_strips(
                [images[central[c]] for c in order],
                [_strip_label(row) for row in report["clusters"]],
                title=f"most central images per cluster: {title}",
            )
    report["projections"] = projections

    if out is not None:
        out = Path(out)
        # a figure of an earlier clustering into this folder (another projection, a sweep
        # this run did not make) would be shown beside this one's numbers as if it were its own
        for stale in _own_figures(out / "figures"):
            if stale.name not in figs:
                stale.unlink()
        report["figures"] = []
        for name, fig in figs.items():
            plots.save_figure(fig, out / "figures" / name)
            report["figures"].append(f"figures/{name}")
        write_json(out / "cluster.json", report)
    return ClusterResult(labels=labels, reduced=reduced, report=report, figures=figs)


def _own_figures(folder: Path) -> list[Path]:
    """The figures :func:`cluster_embeddings` writes, as they lie in ``folder``."""
    fixed = ("contingency.png", "k_sweep.png", "cluster_images.png")
    if not folder.is_dir():
        return []
    return [
        path
        for path in folder.iterdir()
        if path.is_file() and (path.name in fixed or re.fullmatch(r"embedding_\w+\.png", path.name))
    ]


def _strip_label(row: dict[str, Any]) -> str:
    top = ", ".join(f"{name} {count}" for name, count in row["top_styles"][:2])
    return f"cluster {row['cluster']} (n={row['size']}): {top}"


# ---------------------------------------------------------------- comparing representations


def _method_text(result: dict[str, Any]) -> str:
    if result["method"] != "hdbscan":
        return f"{result['method']} with k = {result['k']}"
    found = ", ".join(f"{_pretty(row['representation'])} {row['k']}" for row in result["rows"])
    size = result.get("min_cluster_size")
    return f"hdbscan (min cluster size {size}; clusters found: {found})"


def check_same_images(tables: list, sources: list) -> None:
    """Refuse tables made from other data, another split or another held-out draw than the first.

    Rows are matched by their path below the split root, which repeats across
    splits and data folders (``Baroque/1.jpg``), so such tables would pair
    different images without a word.
    """
    from artstyle.config import absolute_path

    def where(table) -> dict[str, Any]:
        held_out = table.test_fraction is not None
        return {
            "data folder": str(absolute_path(table.data)) if table.data else None,
            "split": table.split,
            "--test-fraction": table.test_fraction,
            "held-out split seed": table.split_seed if held_out else None,
        }

    first = where(tables[0])
    for table, source in zip(tables[1:], sources[1:], strict=True):
        for key, value in where(table).items():
            if key == "data folder" and (value is None or first[key] is None):
                continue
            if value != first[key]:
                raise ArtstyleError(
                    f"{source} was embedded with {key} {value}, but {sources[0]} with "
                    f"{first[key]}: the rows would be other images; embed both from the same "
                    "data, split and held-out draw"
                )


def align_embeddings(tables: list) -> list:
    """The same images in the same order in every table (rows no table lacks, in the first one's order)."""
    common = set(tables[0].rels)
    for table in tables[1:]:
        common &= set(table.rels)
    if not common:
        raise ArtstyleError(
            "the representations share no image; embed them from the same data and split"
        )
    order = [rel for rel in tables[0].rels if rel in common]
    aligned = []
    for table in tables:
        position = {rel: i for i, rel in enumerate(table.rels)}
        aligned.append(table.subset(np.array([position[rel] for rel in order], dtype=np.int64)))
    return aligned


def compare_representations(
    tables: list,
    config: ClusterConfig,
    *,
    out: str | Path,
    images=None,
    log=None,
) -> dict[str, Any]:
    """Cluster each representation the same way and table the scores (DIR/representations.md/.json).

    The tables are first cut to the images they all hold, in one order.
    Every table is clustered ``config.n_seeds`` times (seeds seed, seed+1, ...)
    and the mean and spread of each score are reported, so a difference can be
    read against the seed-to-seed noise. ``images``, a function of a table
    giving its rows' uint8 images (or None), enables the strips of central
    images; each representation also gets its own ``DIR/<kind>/`` folder of
    figures and cluster.json.
    """
    from artstyle.analysis import plots

    say = log or (lambda message: None)
    out = Path(out)
    tables = align_embeddings(tables)
    rows = []
    for table in tables:
        say(f"{table.kind}: {len(table.rels)} images, {table.vectors.shape[1]}-d")
        table_images = images(table) if images is not None else None
        result = cluster_embeddings(
            table, config, out=out / table.kind.replace(":", "_"), images=table_images, log=say
        )
        say(f"{table.kind}: {result.report['verdict']}")
        per_seed = [result.report["scores"]]
        for offset in range(1, config.n_seeds):
            seeded = config.model_copy(update={"seed": config.seed + offset})
            extra = cluster_embeddings(table, seeded, figures=False, sweep=False)
            per_seed.append(extra.report["scores"])
        summary = {}
        for key in (
            "nmi",
            "ari",
            "homogeneity",
            "completeness",
            "purity",
            "silhouette",
            "nmi_chance",
        ):
            values = [s[key] for s in per_seed if s[key] is not None]
            summary[key] = float(np.mean(values)) if values else None
            summary[f"{key}_std"] = float(np.std(values)) if values else None
        rows.append(
            {
                "representation": table.kind,
                "source": str(table.source),
                "dim": int(table.vectors.shape[1]),
                "n_points": int(len(table.rels)),
                # what was used, not asked for: PCA is cut to what the data can give, and
                # HDBSCAN finds its own number of clusters
                "k": result.report["k"],
                "pca_components": result.report["pca_components"],
                **summary,
                "folder": table.kind.replace(":", "_"),
            }
        )
    ranked = sorted(rows, key=lambda row: -row["nmi"])
    best = ranked[0]
    sentence = (
        f"Best at grouping the styles: {_pretty(best['representation'])} (NMI {best['nmi']:.3f})"
    )
    others = ranked[1:]
    if others:
        sentence += ", " + " and ".join(
            f"{best['nmi'] - row['nmi']:+.3f} over {_pretty(row['representation'])} ({row['nmi']:.3f})"
            for row in others
        )
    if config.n_seeds > 1:
        noise = max(row["nmi_std"] or 0.0 for row in rows)
        sentence += f"; seed-to-seed spread of NMI at most {noise:.3f}."
    else:  # a spread of one value is 0: it says nothing about how much the scores move
        sentence += "; one seed only, so no seed-to-seed spread was measured (--n-seeds 3)."
    result = {
        "data": tables[0].data,
        "split": tables[0].split,
        "n_points": rows[0]["n_points"],
        "n_styles": int(len(np.unique(tables[0].labels))),
        "method": config.method,
        "k": None
        if config.method == "hdbscan"
        else config.k or int(len(np.unique(tables[0].labels))),
        "pca_components": sorted({row["pca_components"] for row in rows}),
        "min_cluster_size": config.min_cluster_size if config.method == "hdbscan" else None,
        "seeds": [config.seed + i for i in range(config.n_seeds)],
        "rows": rows,
        "best": best["representation"],
        "answer": sentence,
    }
    write_json(out / "representations.json", result)
    write_text(out / "representations.md", representations_markdown(result))
    plots.save_figure(plots.representation_bars(rows), out / "figures" / "representations.png")
    return result


def _pretty(kind: str) -> str:
    return {
        "pixels": "raw pixels",
        "autoencoder": "the autoencoder latent",
        "classifier": "the classifier features",
    }.get(kind, kind)


def representations_markdown(result: dict[str, Any]) -> str:
    """The comparison table as markdown, with the one-sentence answer on top."""

    def cell(row: dict[str, Any], key: str) -> str:
        value, spread = row[key], row.get(f"{key}_std")
        if value is None:
            return "n/a"
        return f"{value:.3f} ± {spread:.3f}" if spread else f"{value:.3f}"

    lines = [
        "# Do styles cluster? Representations compared",
        "",
        result["answer"],
        "",
        f"Data: {md_code(result['data'])} ({result['split']} split), {result['n_points']} images of {result['n_styles']} styles. "
        f"Same images and pipeline for every row: StandardScaler -> "
        f"PCA({' / '.join(map(str, result['pca_components']))}) -> {_method_text(result)}; "
        f"mean ± std over seeds {', '.join(map(str, result['seeds']))}. "
        "Chance NMI: the same cluster sizes assigned at random.",
        "",
        "| representation | dim | NMI | ARI | homogeneity | completeness | purity | silhouette | chance NMI |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {md_cell(row['representation'])} | {row['dim']} | {cell(row, 'nmi')} | {cell(row, 'ari')} | "
            f"{cell(row, 'homogeneity')} | {cell(row, 'completeness')} | {cell(row, 'purity')} | "
            f"{cell(row, 'silhouette')} | {cell(row, 'nmi_chance')} |"
        )
    lines += ["", "Sources:"]
    lines += [
        f"- {md_text(row['representation'])}: {md_code(row['source'])}" for row in result["rows"]
    ]
    lines += [
        "",
        "Figures per representation: `<representation>/figures/` (2-D views, contingency, k sweep).",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- from the command line's inputs


def default_out(source: str | Path, split: str) -> Path:
    """Where ``artstyle cluster`` writes without --out: RUN/cluster-<split>, or FILE_cluster/ beside an .npz."""
    source = Path(source)
    if source.suffix == ".npz":
        return source.with_name(f"{source.stem}_cluster")
    if str(source) == "pixels":
        raise ArtstyleError(
            "clustering raw pixels needs --out DIR (there is no run folder to write into)"
        )
    return source / f"cluster-{split}"


def cluster_source(
    source: str | Path, config: ClusterConfig, *, out: str | Path | None = None, log=None
) -> ClusterResult:
    """``artstyle cluster``: an .npz table, a run folder or ``pixels`` -> DIR/cluster.json + figures.

    artstyle cluster runs/ae --data DATA --split test --method kmeans --projections pca,tsne
    """
    from artstyle.analysis.embed import images_for, load_or_embed

    table = load_or_embed(source, config)
    out = Path(out) if out is not None else default_out(source, table.split)
    images = images_for(
        table,
        data=config.data,
        cache_dir=config.cache_dir,
        workers=config.workers,
        progress=config.progress,
    )
    if images is None and log is not None:
        log(f"no images at hand for {table.data!r}: no strips of central images (pass --data DATA)")
    result = cluster_embeddings(table, config, out=out, images=images, log=log)
    result.report["out"] = str(out)
    return result


def compare_sources(
    config: ClusterConfig,
    *,
    out: str | Path,
    autoencoder: str | Path | None = None,
    classifier: str | Path | None = None,
    extra: list[str | Path] | None = None,
    log=None,
) -> dict[str, Any]:
    """``artstyle compare-representations``: raw pixels, the autoencoder latent and the classifier
    features of the same images, clustered the same way; DIR/representations.md + .json.

        artstyle compare-representations --data DATA --autoencoder runs/ae --classifier runs/clf --out cmp
    """
    from artstyle.analysis.embed import embed, images_for, load_embeddings

    if config.data is None:
        raise ArtstyleError(
            "compare-representations needs --data DATA (the images every representation embeds)"
        )
    sources: list[str | Path] = ["pixels"]
    sources += [s for s in (autoencoder, classifier) if s is not None]
    sources += list(extra or [])
    if len(sources) < 2:
        raise ArtstyleError(
            "nothing to compare with raw pixels: pass --autoencoder RUN and/or --classifier RUN"
        )
    # the runs first: the raw-pixel baseline then holds out the same images as they did
    # (their seed and test fraction) when the data has no test folder of its own
    tables = [
        load_embeddings(source) if str(source).endswith(".npz") else embed(source, config)
        for source in sources[1:]
    ]
    reference = tables[0]
    tables.insert(
        0,
        embed(
            "pixels",
            config,
            test_fraction=reference.test_fraction
            if config.test_fraction is None
            else config.test_fraction,
            split_seed=reference.split_seed,
        ),
    )
    check_same_images(tables, sources)
    kinds = [table.kind for table in tables]
    if len(set(kinds)) < len(kinds):
        # two runs of one kind: tell them apart by folder name
        for table in tables:
            if kinds.count(table.kind) > 1:
                table.kind = f"{table.kind}:{Path(table.source).name}"
    first = tables[0]

    def load_images(table):
        return images_for(
            table,
            data=config.data,
            cache_dir=config.cache_dir,
            workers=config.workers,
            progress=False,
        )

    return compare_representations(
        tables, config, out=out, images=load_images if first.data else None, log=log
    )
