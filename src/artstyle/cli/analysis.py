"""`artstyle embed`, `cluster` and `compare-representations`: do styles cluster?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from artstyle.cli.app import (
    OVERRIDES,
    ConfigOpt,
    DataOpt,
    JsonOpt,
    SeedOpt,
    app,
    console,
    log_plain,
    merge_overrides,
    new_table,
    print_json,
    print_plain,
    score_cell,
)
from artstyle.errors import ArtstyleError
from artstyle.text import plural

SourceArg = Annotated[
    str,
    typer.Argument(
        help="A run folder (autoencoder or classifier), the word 'pixels' (raw-pixel baseline), or an .npz from `embed`."
    ),
]


SplitOpt = Annotated[str | None, typer.Option("--split", help="train | test (default: test)")]
MethodOpt = Annotated[
    str | None, typer.Option("--method", help="kmeans | gmm | agglomerative | hdbscan")
]
KOpt = Annotated[int | None, typer.Option("--k", help="Clusters (default: the number of styles).")]


def _cluster_config(ctx: typer.Context, config_file: Path | None, typed: dict[str, Any]):
    from artstyle.config import ClusterConfig, load_config

    return load_config(ClusterConfig, config_file, merge_overrides(ctx, typed))


@app.command("embed", context_settings=OVERRIDES)
def embed_command(
    ctx: typer.Context,
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="The .npz file to write.")],
    data: DataOpt = None,
    split: SplitOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One vector per image: an autoencoder's latent, a classifier's features, or raw pixels.

    Writes an .npz (vectors, rels, styles, artists, classes, kind) readable with
    numpy.load(allow_pickle=False). Raw pixels: each image cached at
    --pixel-size px, area-averaged to --pixel-side px.

    Example: artstyle embed runs/ae --data DATA --split test --out ae_test.npz
    """
    from artstyle.analysis.embed import embed, save_embeddings

    if source.endswith(".npz"):
        raise ArtstyleError(
            f"{source} is already an embedding file; embed a run folder or 'pixels'"
        )
    settings = _cluster_config(ctx, config, {"data": data, "split": split})
    table = embed(source, settings)
    save_embeddings(table, out)
    if as_json:
        print_json(
            {
                "out": str(out),
                "n_vectors": len(table.rels),
                "dimensions": int(table.vectors.shape[1]),
                "kind": table.kind,
                "split": table.split,
                "data": table.data,
                "n_styles": len(set(table.styles)),
            }
        )
        return
    print_plain(
        f"wrote {out}: {len(table.rels)} {table.kind} vectors of {table.vectors.shape[1]} values "
        f"({table.split} split of {table.data}, {plural(len(set(table.styles)), 'style')})"
    )


@app.command("cluster", context_settings=OVERRIDES)
def cluster_command(
    ctx: typer.Context,
    source: SourceArg,
    data: DataOpt = None,
    split: SplitOpt = None,
    method: MethodOpt = None,
    k: KOpt = None,
    projection: Annotated[
        str | None,
        typer.Option(
            "--projection",
            "--projections",
            help="2-D views, comma-separated: pca,tsne,umap (default pca,tsne).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for cluster.json and figures/ (default: RUN/cluster-SPLIT)."
        ),
    ] = None,
    max_points: Annotated[
        int | None,
        typer.Option("--max-points", help="2-D views subsample (seeded) beyond this many points."),
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Do styles cluster? StandardScaler -> PCA -> clustering, scored against the style labels.

    Writes DIR/cluster.json (NMI, ARI, homogeneity, completeness, purity,
    silhouette, scores vs k, clusters with their top styles) and
    DIR/figures/: contingency.png, k_sweep.png, embedding_<projection>.png
    (points coloured and shaped by style beside the same points coloured by
    cluster) and cluster_images.png (most central images per cluster).
    Every key of the cluster config is also accepted as --key value
    (e.g. --pca-components 20 --sweep 2,4,8,16 --perplexity 50 --threads 1).

    Example: artstyle cluster runs/ae --data DATA --method kmeans --projection pca,tsne
    """
    from artstyle.analysis.cluster import cluster_source

    settings = _cluster_config(
        ctx,
        config,
        {
            "data": data,
            "split": split,
            "method": method,
            "k": k,
            "projections": projection,
            "max_points": max_points,
            "seed": seed,
        },
    )
    result = cluster_source(
        source,
        settings,
        out=out,
        log=log_plain,
    )
    report = result.report
    if as_json:  # cluster.json's content
        print_json(report)
        return
    # a line of its own: as a table title it was cut to the narrow table's width
    print_plain(
        f"{report['kind']}: {report['n_points']} images, {report['method']} k={report['k']}"
    )
    table = new_table(None, ("score", "value"))
    for key, value in report["scores"].items():
        table.add_row(key, score_cell(value, "n/a"))
    console.print(table)
    print_plain(report["verdict"], soft_wrap=False)
    print_plain(f"wrote {report['out']}/cluster.json and {len(report.get('figures', []))} figures")


@app.command("compare-representations", context_settings=OVERRIDES)
def compare_representations_command(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for representations.md/.json and per-representation figures."
        ),
    ],
    data: DataOpt = None,
    autoencoder: Annotated[
        Path | None, typer.Option("--autoencoder", help="An autoencoder run folder.")
    ] = None,
    classifier: Annotated[
        Path | None, typer.Option("--classifier", help="A classifier run folder.")
    ] = None,
    split: SplitOpt = None,
    method: MethodOpt = None,
    k: KOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which representation groups styles best? Raw pixels vs autoencoder latent vs classifier features.

    The same images (the --split of DATA) and the same clustering for each;
    scores averaged over --n-seeds seeds. Writes DIR/representations.md and
    .json (the table plus one sentence naming the best and by how much),
    DIR/figures/representations.png and DIR/<representation>/ (the figures
    `artstyle cluster` makes). Every key of the cluster config is also
    accepted as --key value (e.g. --n-seeds 5 --pixel-side 8 --projections pca).

    Example: artstyle compare-representations --data DATA --autoencoder runs/ae --classifier runs/clf --out runs/compare
    """
    from artstyle.analysis.cluster import compare_sources

    settings = _cluster_config(
        ctx, config, {"data": data, "split": split, "method": method, "k": k, "seed": seed}
    )
    result = compare_sources(
        settings,
        out=out,
        autoencoder=autoencoder,
        classifier=classifier,
        log=log_plain,
    )
    if as_json:  # representations.json's content
        print_json(result)
        return
    table = new_table(
        f"{result['n_points']} images, {plural(result['n_styles'], 'style')}, {result['method']}"
        + (f" k={result['k']}" if result["k"] is not None else " (k found per representation)"),
        ("representation", "dim", "NMI", "ARI", "purity", "silhouette", "chance NMI"),
    )
    for row in result["rows"]:
        table.add_row(
            row["representation"],
            str(row["dim"]),
            *[
                score_cell(row[key], "n/a")
                for key in ("nmi", "ari", "purity", "silhouette", "nmi_chance")
            ],
        )
    console.print(table)
    print_plain(result["answer"])
    print_plain(f"wrote {out}/representations.md and representations.json")


@app.command("explore", context_settings=OVERRIDES)
def explore_command(
    ctx: typer.Context,
    source: SourceArg,
    data: DataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="The HTML file to write (default: RUN/map.html, or FILE_map.html)."
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="train | test | train,test (a run or pixels; default: test)."),
    ] = None,
    projection: Annotated[
        str | None, typer.Option("--projection", help="pca | tsne | umap (default: tsne).")
    ] = None,
    max_points: Annotated[
        int | None,
        typer.Option(
            "--max-points", help="Beyond this many images, a seeded per-style sample is shown."
        ),
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """See the styles: an interactive map of an embedding, one HTML file that opens from disk.

    Hover a point for the painting's thumbnail, style, artist, file (and a
    classifier's prediction); colour by style, cluster or right/wrong; click
    for its nearest neighbours in the full embedding space; search by file or
    artist; box or lasso to list a group; show each style's centroid and
    spread. Every key of the explore config is also accepted as --key value
    (e.g. --n-neighbours 12 --thumb-px 48 --perplexity 50 --threads 1).

    Example: artstyle explore runs/clf --data DATA --out runs/clf/map.html
    """
    from artstyle.config import ExploreConfig, load_config
    from artstyle.workflows.explore import explore

    settings = load_config(
        ExploreConfig,
        config,
        merge_overrides(
            ctx,
            {
                "data": data,
                "split": split,
                "projection": projection,
                "max_points": max_points,
                "seed": seed,
            },
        ),
    )
    result = explore(source, settings, out=out, log=log_plain)
    if as_json:
        print_json(
            {
                "out": str(result.out),
                "n_points": result.n_points,
                "n_total": result.n_total,
                "bytes": result.n_bytes,
                "projection": result.projection,
                "kind": result.kind,
                "predictions": result.has_predictions,
                "missing": [{"file": name, "reason": why} for name, why in result.missing],
                "notes": result.notes,
                "seconds": result.seconds,
            }
        )
        return
    for note in result.notes:
        print_plain(note, soft_wrap=False)
    for name, why in result.missing[:10]:
        print_plain(f"  grey square: {name} ({why})", soft_wrap=False)
    print_plain(
        f"wrote {result.out}: {result.n_points:,} of {result.n_total:,} images, "
        f"{result.n_bytes / 1e6:.1f} MB; open it in a browser (no server needed)"
    )
