"""See the styles: an interactive map of one embedding, as one self-contained HTML page.

The 2-D view ``artstyle cluster`` draws (StandardScaler -> PCA -> t-SNE, PCA
or UMAP) becomes a Bokeh page that opens from disk with no server and no
network: Bokeh's JavaScript, the data and a small WebP thumbnail of every
painting are inlined (``bokeh.resources.INLINE``, ``bokeh.embed.file_html``).

* hover: the thumbnail, style, artist, file and, for a classifier's features,
  its predicted style and probability;
* colour by style, by k-means cluster, or by right/wrong prediction; marker
  shape by split; a legend whose entries hide and show their style;
* click: the painting larger and its nearest neighbours in the full embedding
  space (standardised, computed here with scikit-learn's ``NearestNeighbors``);
* search by file or artist; box and lasso selection list what they hold;
* each style's centroid and one-standard-deviation ellipse on demand.

Beyond ``max_points`` a seeded per-style subsample is shown, and the page says
so; images that cannot be found or decoded are grey squares, listed on the page.
This module computes what the page shows; :mod:`artstyle.analysis.explore_page`
lays it out.

    artstyle explore runs/clf --data DATA --out runs/clf/map.html
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artstyle.errors import ArtstyleError

MAP_FILE = "map.html"  # where `artstyle explore RUN` writes, and where the report looks
# Below this share of the embedded names found in --data, the table is of other data.
MIN_NAMES_FOUND = 0.5


def grey_square(px: int) -> str:
    """A grey ``px`` x ``px`` SVG as a data URI: the stand-in for an image that cannot be shown."""
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}">'
        f'<rect width="{px}" height="{px}" fill="#9a9a9a"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


@dataclass
class MapResult:
    """What :func:`build_map` wrote and what the page says about its points."""

    out: Path
    n_points: int  # points on the map
    n_total: int  # rows of the embedding(s)
    n_bytes: int
    projection: str
    kind: str
    missing: list[tuple[str, str]] = field(default_factory=list)  # (file, why) shown grey
    notes: list[str] = field(default_factory=list)  # the notes printed at the top of the page
    has_predictions: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- the numbers behind the page


def per_style_sample(styles: Sequence[str], cap: int, seed: int) -> np.ndarray:
    """Sorted row indices: all rows when ``len(styles) <= cap``, else ``cap`` of them drawn per style.

    Each style keeps a share proportional to its size (largest remainders get
    the leftover places) and at least one point, so a rare style stays on the
    map; within a style the rows are a seeded random draw.
    """
    styles = np.asarray(styles)
    n = len(styles)
    if n <= cap:
        return np.arange(n)
    names, counts = np.unique(styles, return_counts=True)
    if len(names) > cap:
        raise ArtstyleError(
            f"--max-points {cap} is fewer than the {len(names)} styles; pass --max-points {len(names)} or more"
        )
    exact = counts * (cap / n)
    quota = np.maximum(1, np.floor(exact).astype(np.int64))
    quota = np.minimum(quota, counts)
    while quota.sum() > cap:  # the floor of one point per style pushed it over
        quota[np.argmax(quota)] -= 1
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    for i in order:
        if quota.sum() >= cap:
            break
        if quota[i] < counts[i]:
            quota[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(styles == name), size=int(q), replace=False)
        for name, q in zip(names, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def nearest_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows in the full, standardised space: (indices, distances), (N, k).

    Standardised as the clustering is, so one high-variance dimension does not
    decide who is near whom; the 2-D map is not used (it distorts distances).
    """
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    vectors = np.asarray(vectors, dtype=np.float64)
    k = min(k, len(vectors) - 1)
    if k < 1:
        return np.zeros((len(vectors), 0), dtype=np.int64), np.zeros((len(vectors), 0))
    scaled = StandardScaler().fit_transform(vectors)
    # k + 1: each row is its own nearest neighbour, dropped below
    distance, index = NearestNeighbors(n_neighbors=k + 1).fit(scaled).kneighbors(scaled)
    own = index == np.arange(len(vectors))[:, None]
    keep = np.zeros_like(own)
    for row in range(len(vectors)):
        # drop the row itself (or, among exact duplicates, the last of the k + 1)
        drop = np.flatnonzero(own[row])
        keep[row] = True
        keep[row, drop[0] if len(drop) else k] = False
    return index[keep].reshape(len(vectors), k), distance[keep].reshape(len(vectors), k)


def style_spread(
    x: np.ndarray, y: np.ndarray, styles: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per style on the map: centroid, and the one-standard-deviation ellipse (width, height, angle)."""
    styles = np.asarray(styles)
    spread: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(styles.tolist()):
        member = styles == name
        points = np.column_stack([x[member], y[member]])
        centre = points.mean(axis=0)
        if len(points) > 1:
            values, axes = np.linalg.eigh(np.cov(points, rowvar=False))
            values = np.clip(values, 0.0, None)
            major = axes[:, 1]  # eigh sorts ascending: the last axis is the longest
            width, height = 2 * np.sqrt(values[1]), 2 * np.sqrt(values[0])
            angle = float(np.arctan2(major[1], major[0]))
        else:
            width = height = angle = 0.0
        spread[str(name)] = {
            "x": float(centre[0]),
            "y": float(centre[1]),
            "width": float(width),
            "height": float(height),
            "angle": angle,
            "n": int(member.sum()),
        }
    return spread


def full_space_spread(vectors: np.ndarray, styles: Sequence[str]) -> dict[str, float]:
    """Per style, the mean distance of its points to their centroid in the standardised full space."""
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(np.asarray(vectors, dtype=np.float64))
    styles = np.asarray(styles)
    result = {}
    for name in dict.fromkeys(styles.tolist()):
        members = scaled[styles == name]
        result[str(name)] = float(np.linalg.norm(members - members.mean(axis=0), axis=1).mean())
    return result


def _head_inputs(model) -> int | None:
    """The feature width the classifier's head (a linear layer) reads, where it has one."""
    head = getattr(model, "head", None)
    return int(head.in_features) if hasattr(head, "in_features") else None


def classifier_predictions(source: str, vectors: np.ndarray) -> tuple[list[str], np.ndarray] | None:
    """The run's predicted style and its softmax probability for each feature row, or None.

    Classifier features are the input of ``forward_head``, so the prediction
    needs no image: the head of the run the features came from is applied here.
    None when that run folder is not at hand.
    """
    import torch

    from artstyle.train import runs

    path = Path(source)
    if not (path / "model.safetensors").is_file():
        return None
    run = runs.open_run(path)
    classes = runs.read_classes(run)
    model = runs.load_model(run).eval()
    if not hasattr(model, "forward_head"):
        return None
    expected = _head_inputs(model)
    if expected is not None and np.shape(vectors)[1] != expected:
        raise ArtstyleError(
            f"{run.path}: its head reads {expected}-d features but the embeddings are "
            f"{np.shape(vectors)[1]}-d (the run was trained again after they were written?); "
            "embed the run again with `artstyle embed`"
        )
    with torch.inference_mode():
        logits = model.forward_head(torch.from_numpy(np.asarray(vectors, dtype=np.float32)))
        probability = torch.softmax(logits.float(), dim=1).numpy()  # (N, D) -> (N, classes)
    if probability.shape[1] != len(classes):
        raise ArtstyleError(
            f"{run.path}: the head gives {probability.shape[1]} scores but classes.json names "
            f"{len(classes)} styles; the run folder is damaged"
        )
    best = probability.argmax(axis=1)
    return [classes[i] for i in best], probability[np.arange(len(best)), best]


# ---------------------------------------------------------------- thumbnails


def _thumbnail(job: tuple[Any, int, str, int]) -> tuple[str | None, str]:
    """One item -> (data URI, "") or (None, why it could not be shown)."""
    from artstyle.data.images import ImageError, thumbnail_bytes

    item, px, fmt, quality = job
    try:
        data = thumbnail_bytes(item, px, fmt, quality=quality)
    except ImageError as exc:  # unreadable bytes or an undecodable image
        return None, exc.reason
    mime = "image/webp" if fmt == "webp" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii"), ""


def thumbnails(
    items: Sequence[Any | None],
    *,
    px: int,
    fmt: str,
    quality: int,
    workers: int | None,
    names: Sequence[str],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Data URIs of the items' thumbnails; a None item or an unreadable image is a grey square.

    Returns (uris, missing) where missing lists (name, why) for every grey square.
    """
    import os

    from artstyle.data.images import worker_context

    jobs = [(item, px, fmt, quality) for item in items if item is not None]
    n_workers = min(workers or os.cpu_count() or 1, max(1, len(jobs) // 200))
    if n_workers > 1:
        with worker_context().Pool(n_workers) as pool:
            made = pool.map(_thumbnail, jobs, chunksize=64)
    else:
        made = [_thumbnail(job) for job in jobs]
    grey = grey_square(px)
    uris: list[str] = []
    missing: list[tuple[str, str]] = []
    results = iter(made)
    for item, name in zip(items, names, strict=True):
        if item is None:
            uris.append(grey)
            missing.append((name, "not in the data folder"))
            continue
        uri, why = next(results)
        uris.append(uri if uri is not None else grey)
        if uri is None:
            missing.append((name, why))
    return uris, missing


def match_items(
    tables: Sequence[Any], data: str | Path | None, *, source: str
) -> tuple[list[Any], list[str]]:
    """The data item of every row (None where the data lacks it), and notes.

    Refuses a table whose names are mostly absent from ``data``: it was made
    from other images, and its thumbnails, styles and neighbours would be of
    other paintings.
    """
    from artstyle.config import absolute_path
    from artstyle.data.scan import scan

    notes: list[str] = []
    found: list[Any] = []
    for table in tables:
        folder = data if data is not None else table.data
        if folder is None or not Path(folder).exists():
            where = "no data folder is recorded" if folder is None else f"{folder} is not here"
            notes.append(f"No thumbnails: {where}; pass --data DATA to see the paintings.")
            found += [None] * len(table.rels)
            continue
        index = scan(folder, test_fraction=table.test_fraction, seed=table.split_seed)
        by_rel = {item.rel: item for item in index.split(table.split)}
        items = [by_rel.get(rel) for rel in table.rels]
        n_found = sum(item is not None for item in items)
        if table.rels and n_found < MIN_NAMES_FOUND * len(table.rels):
            example = next(rel for rel, item in zip(table.rels, items, strict=True) if item is None)
            recorded = (
                f" (it was made from {table.data})"
                if table.data and (absolute_path(table.data) != absolute_path(folder))
                else ""
            )
            raise ArtstyleError(
                f"{source}: {len(table.rels) - n_found} of {len(table.rels)} images it names "
                f"(e.g. {example}) are not in the {table.split} split of {folder}{recorded}; "
                "pass the --data it was embedded from, or embed this data again"
            )
        found += items
    return found, notes


# ---------------------------------------------------------------- one embedding -> one page


def build_map(
    tables: Sequence[Any],
    config,
    *,
    out: str | Path,
    data: str | Path | None = None,
    source: str = "",
    log: Callable[[str], None] | None = None,
) -> MapResult:
    """The map of one or more :class:`~artstyle.analysis.embed.Embeddings` tables (one per split).

    ``config`` is an :class:`~artstyle.config.ExploreConfig`. Writes ``out``
    (one HTML file) and returns what it holds.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _build_map(tables, config, out=Path(out), data=data, source=source, log=log)


def _build_map(tables, config, *, out, data, source, log) -> MapResult:
    from artstyle.analysis.cluster import fit_clusters, project_2d
    from artstyle.analysis.explore_page import MapData, write_page

    say = log or (lambda message: None)
    source = source or str(tables[0].source)
    seconds: dict[str, float] = {}
    kinds = {table.kind for table in tables}
    if len(kinds) > 1:
        raise ArtstyleError(
            f"{source}: tables of different kinds ({', '.join(sorted(kinds))}) cannot share one map"
        )
    kind = tables[0].kind
    vectors = np.concatenate([np.asarray(t.vectors, dtype=np.float32) for t in tables])
    styles = [s for t in tables for s in t.styles]
    splits = [t.split for t in tables for _ in t.rels]
    n_total = len(vectors)
    if n_total < 3:
        raise ArtstyleError(f"{source}: {n_total} images are too few for a map (need at least 3)")
    if not np.isfinite(vectors).all():
        raise ArtstyleError(
            f"{source}: the vectors hold NaN or infinite values; re-create the embeddings"
        )

    started = time.perf_counter()
    items, notes = match_items(tables, data, source=source)
    seconds["match"] = time.perf_counter() - started

    shown = per_style_sample(styles, config.max_points, config.seed)
    if len(shown) < n_total:
        notes.insert(
            0,
            f"Showing {len(shown):,} of {n_total:,} images: a random sample of each style in "
            f"proportion to its size (seed {config.seed}, --max-points {config.max_points}).",
        )
    vectors = vectors[shown]
    styles = [styles[i] for i in shown]
    splits = [splits[i] for i in shown]
    rels = [rel for t in tables for rel in t.rels]
    artists = [a for t in tables for a in t.artists]
    rels = [rels[i] for i in shown]
    artists = [artists[i] or "" for i in shown]
    items = [items[i] for i in shown]
    n_styles = len(set(styles))
    if n_styles == 1:
        notes.append(
            f"Every image is of one style ({styles[0]}): colour by cluster to see how it divides."
        )

    started = time.perf_counter()
    k = min(config.k or max(2, n_styles), len(vectors) - 1)
    clusters, reduced, _ = fit_clusters(
        vectors, "kmeans", n_clusters=k, n_components=config.pca_components, seed=config.seed
    )
    seconds["cluster"] = time.perf_counter() - started
    started = time.perf_counter()
    points = project_2d(reduced, config.projection, seed=config.seed, perplexity=config.perplexity)
    seconds["projection"] = time.perf_counter() - started
    say(f"{config.projection}: {len(vectors):,} points in {seconds['projection']:.1f} s")

    started = time.perf_counter()
    neighbour_index, neighbour_distance = nearest_neighbours(vectors, config.n_neighbours)
    spread_full = full_space_spread(vectors, styles)
    seconds["neighbours"] = time.perf_counter() - started

    predictions = probabilities = None
    if kind == "classifier":
        predicted = classifier_predictions(str(tables[0].source), vectors)
        if predicted is None:
            notes.append(
                f"No predictions: the classifier run {tables[0].source} is not at hand "
                "(explore the run folder, or keep the .npz beside it)."
            )
        else:
            predictions, probabilities = predicted

    started = time.perf_counter()
    thumbs, missing = thumbnails(
        items,
        px=config.thumb_px,
        fmt=config.thumb_format,
        quality=config.thumb_quality,
        workers=config.workers,
        names=[f"{split}/{rel}" for split, rel in zip(splits, rels, strict=True)],
    )
    seconds["thumbnails"] = time.perf_counter() - started
    say(f"thumbnails: {len(thumbs) - len(missing):,} made in {seconds['thumbnails']:.1f} s")
    if missing:
        notes.append(
            f"{len(missing)} of {len(thumbs)} images could not be shown and are grey squares "
            "(listed below)."
        )
    originals = [
        Path(item.source).resolve().as_uri() if item is not None and item.row < 0 else ""
        for item in items
    ]
    where = {t.data for t in tables if t.data}
    title = (
        f"{_kind_text(kind)} of {len(vectors):,} images, {n_styles} "
        f"{'style' if n_styles == 1 else 'styles'} ({', '.join(dict.fromkeys(splits))} split"
        f"{'s' if len(set(splits)) > 1 else ''}{' of ' + Path(next(iter(where))).name if where else ''}), "
        f"{ {'pca': 'PCA', 'tsne': 't-SNE', 'umap': 'UMAP'}[config.projection] } map"
    )
    map_data = MapData(
        x=np.asarray(points[:, 0], dtype=np.float64),
        y=np.asarray(points[:, 1], dtype=np.float64),
        styles=styles,
        artists=artists,
        files=rels,
        splits=splits,
        thumbs=thumbs,
        originals=originals,
        clusters=clusters,
        neighbours=neighbour_index,
        distances=neighbour_distance,
        predictions=predictions,
        probabilities=probabilities,
        spread=style_spread(points[:, 0], points[:, 1], styles),
        spread_full=spread_full,
        title=title,
        notes=notes,
        missing=missing,
        thumb_px=config.thumb_px,
    )
    started = time.perf_counter()
    n_bytes = write_page(map_data, out)
    seconds["page"] = time.perf_counter() - started
    return MapResult(
        out=out,
        n_points=len(vectors),
        n_total=n_total,
        n_bytes=n_bytes,
        projection=config.projection,
        kind=kind,
        missing=missing,
        notes=notes,
        has_predictions=predictions is not None,
        seconds={key: round(value, 2) for key, value in seconds.items()},
    )


def _kind_text(kind: str) -> str:
    return {
        "pixels": "Raw pixels",
        "autoencoder": "Autoencoder latent",
        "classifier": "Classifier features",
    }.get(kind, kind)
