"""Benchmark section "cluster": clustering and 2-D views of 10,000 points of 27 styles on CPU.

The whole ``artstyle cluster`` pipeline (PCA, k-means, scores, the k sweep,
the PCA and t-SNE scatter plots written as PNG files) on a table of 10,000
vectors, 27 styles (course proportions are not needed: the cost depends on
the number of points), 256 dimensions like the classifier's features. The
2-D views draw a seeded random subsample beyond ``max_points`` (default
5,000); the target is the whole job within three minutes on this machine.

    python bench/run.py --only cluster
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from common import row

N_POINTS = 10_000
N_STYLES = 27
DIM = 256
TARGET_SECONDS = 180.0


def style_blobs(n_points: int, seed: int = 0):
    """An Embeddings table: one Gaussian blob per style in DIM dimensions."""
    from artstyle.analysis.embed import Embeddings

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_STYLES, size=n_points)
    centres = rng.normal(0.0, 1.0, size=(N_STYLES, DIM))
    vectors = (centres[labels] + rng.normal(0.0, 1.5, size=(n_points, DIM))).astype(np.float32)
    classes = [f"Style_{k:02d}" for k in range(N_STYLES)]
    return Embeddings(
        vectors=vectors,
        rels=[f"{classes[label]}/{i:05d}.jpg" for i, label in enumerate(labels)],
        styles=[classes[label] for label in labels],
        artists=[None] * n_points,
        classes=classes,
        kind="classifier",
        source="bench",
    )


def section(*, quick: bool) -> list[dict]:
    from artstyle.analysis.cluster import cluster_embeddings
    from artstyle.config import ClusterConfig

    n_points = 2_000 if quick else N_POINTS
    embeddings = style_blobs(n_points)
    config = ClusterConfig()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder:
        started = time.perf_counter()
        result = cluster_embeddings(embeddings, config, out=Path(folder))
        total = time.perf_counter() - started
        written = sorted(p.name for p in (Path(folder) / "figures").glob("*.png"))
    report = result.report
    views = report["projections"]
    rows = [
        row(
            f"cluster + score + k sweep + figures, {n_points:,} points x {DIM}-d, {N_STYLES} styles",
            total,
            "s",
            target=TARGET_SECONDS,
            higher_is_better=False,
            note=f"{len(written)} figures: {', '.join(written)}",
        ),
        row("k-means fit (PCA to 50-d first)", report["fit_seconds"], "s"),
    ]
    for method, view in views.items():
        rows.append(
            row(
                f"{method} view of {view['n_points']:,} points",
                view["seconds"],
                "s",
                note=f"seeded subsample of {n_points:,} (seed {config.seed}, cap --max-points "
                f"{config.max_points})"
                if view["subsampled"]
                else "all points",
            )
        )
    rows.append(row("NMI of the 27 blobs (a sanity check)", report["scores"]["nmi"], ""))
    if not quick:
        # every point in the view: the cap raised to the table's size
        from artstyle.analysis.cluster import project_2d

        started = time.perf_counter()
        project_2d(result.reduced, "tsne", seed=config.seed, perplexity=config.perplexity)
        rows.append(
            row(
                f"tsne view of all {n_points:,} points (--max-points {n_points})",
                time.perf_counter() - started,
                "s",
            )
        )
    return rows
