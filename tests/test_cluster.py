"""Clustering pipelines, scores against style labels, subsampling, 2-D views and figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from artstyle.analysis import plots
from artstyle.analysis.cluster import (
    central_members,
    chance_nmi,
    cluster_embeddings,
    clustering_scores,
    compare_representations,
    default_sweep,
    make_pipeline,
    project_2d,
    purity,
    subsample_indices,
)
from artstyle.analysis.embed import Embeddings
from artstyle.config import ClusterConfig
from artstyle.errors import ArtstyleError

STYLES_27 = [
    "Abstract_Expressionism",
    "Action_painting",
    "Analytical_Cubism",
    "Art_Nouveau_Modern",
    "Baroque",
    "Color_Field_Painting",
    "Contemporary_Realism",
    "Cubism",
    "Early_Renaissance",
    "Expressionism",
    "Fauvism",
    "High_Renaissance",
    "Impressionism",
    "Mannerism_Late_Renaissance",
    "Minimalism",
    "Naive_Art_Primitivism",
    "New_Realism",
    "Northern_Renaissance",
    "Pointillism",
    "Pop_Art",
    "Post_Impressionism",
    "Realism",
    "Rococo",
    "Romanticism",
    "Symbolism",
    "Synthetic_Cubism",
    "Ukiyo_e",
]


def table(
    vectors: np.ndarray, labels: np.ndarray, classes: list[str], kind: str = "pixels"
) -> Embeddings:
    styles = [classes[i] for i in labels]
    return Embeddings(
        vectors=vectors.astype(np.float32),
        rels=[f"{style}/img-{i:04d}.jpg" for i, style in enumerate(styles)],
        styles=styles,
        artists=[None] * len(styles),
        classes=classes,
        kind=kind,
        source=kind,
    )


def blobs(
    n: int = 300, centers: int = 3, std: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_blobs(
        n_samples=n, n_features=10, centers=centers, cluster_std=std, random_state=seed
    )
    return x, y


FAST = {"threads": 1, "progress": False}


# ---------------------------------------------------------------- scores


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_planted_blobs_are_found_by_every_method(method):
    x, y = blobs()
    labels = make_pipeline(
        method, n_clusters=None if method == "hdbscan" else 3, n_components=5, seed=0
    ).fit_predict(x)
    scores = clustering_scores(y, labels)
    assert scores["nmi"] > 0.95
    assert scores["ari"] > 0.95
    assert scores["purity"] > 0.97


def test_random_clusters_score_near_zero():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=2000)
    guess = rng.integers(0, 5, size=2000)
    scores = clustering_scores(truth, guess)
    assert scores["nmi"] < 0.01
    assert abs(scores["ari"]) < 0.01
    assert scores["purity"] < 0.25
    assert chance_nmi(truth, truth, seed=0) < 0.01  # a shuffled perfect clustering is chance too


def test_purity_by_hand():
    # styles x clusters: cluster 0 holds 3 of style A and 1 of B, cluster 1 holds 4 of B -> (3 + 4) / 8
    contingency = np.array([[3, 0], [1, 4]])
    assert purity(contingency) == pytest.approx(7 / 8)
    truth = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    clusters = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = clustering_scores(truth, clusters)
    assert scores["purity"] == pytest.approx(7 / 8)
    assert scores["homogeneity"] < 1.0
    assert scores["completeness"] < 1.0
    # one cluster per point is perfectly pure but not complete
    assert clustering_scores(truth, np.arange(8))["purity"] == 1.0


def test_default_sweep_covers_the_number_of_styles():
    ks = default_sweep(27, 1000)
    assert ks[0] == 2
    assert 27 in ks
    assert ks[-1] == 54
    assert ks == sorted(set(ks))
    assert default_sweep(3, 6) == [2, 3, 4, 5]


def test_central_members_are_nearest_the_cluster_mean():
    points = np.array([[0.0], [1.0], [2.0], [10.0], [10.5], [13.0]])
    members = central_members(points, np.array([0, 0, 0, 1, 1, 1]), 2)
    # cluster 0 has mean 1.0: the point at 1 first, then the tie (0 and 2) broken by order
    assert members[0].tolist() == [1, 0]
    # cluster 1 has mean 11.17
    assert members[1].tolist() == [4, 3]


# ---------------------------------------------------------------- subsampling and projections


def test_subsample_respects_the_cap_and_is_deterministic():
    picked = subsample_indices(10_000, 500, seed=3)
    assert len(picked) == 500
    assert len(set(picked.tolist())) == 500
    assert picked.tolist() == sorted(picked.tolist())
    assert np.array_equal(picked, subsample_indices(10_000, 500, seed=3))
    assert not np.array_equal(picked, subsample_indices(10_000, 500, seed=4))
    assert subsample_indices(40, 500, seed=3).tolist() == list(range(40))
    assert subsample_indices(40, None, seed=3).tolist() == list(range(40))


def test_projections_are_two_dimensional_and_umap_is_explained_when_missing():
    from threadpoolctl import threadpool_limits

    x, _ = blobs(n=60)
    for method in ("pca", "tsne"):
        with threadpool_limits(1):  # OpenMP threads spin on a busy machine
            points = project_2d(x, method, seed=0)
        assert points.shape == (60, 2)
        assert np.isfinite(points).all()
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ArtstyleError, match="umap-learn"):
            project_2d(x, "umap", seed=0)


# ---------------------------------------------------------------- figures


def test_27_styles_get_27_distinct_colour_marker_pairs():
    pairs = plots.style_markers(27)
    assert len(set((tuple(colour), marker) for colour, marker in pairs)) == 27
    # neighbours in the sorted list differ in colour and in shape
    for (colour_a, marker_a), (colour_b, marker_b) in zip(pairs, pairs[1:], strict=False):
        assert tuple(colour_a) != tuple(colour_b)
        assert marker_a != marker_b
    assert len(set(plots.style_markers(90))) == 90


def test_scatter_has_one_legend_entry_per_style_outside_the_axes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 27, size=400)
    styles = [STYLES_27[i] for i in labels]
    fig = plots.embedding_scatter(
        rng.normal(size=(400, 2)), styles, labels % 5, style_order=STYLES_27, title="t"
    )
    legend = fig.legends[0]
    texts = [text.get_text() for text in legend.get_texts()]
    assert len(texts) == len(set(styles))
    assert texts[0].startswith("Abstract_Expressionism (")
    fig.canvas.draw()
    legend_box = legend.get_window_extent()
    for ax in fig.axes:
        assert legend_box.y1 <= ax.get_window_extent().y0 + 1  # the legend sits below both panels
    plots.plt.close(fig)


# ---------------------------------------------------------------- the whole analysis


def test_random_vectors_of_few_images_per_style_are_judged_by_chance_not_raw_nmi():
    # 27 styles x 3 images of pure noise: NMI is high (about 0.6) for any clustering this
    # fine, and so is its chance level; the verdict must say noise does not cluster
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(27), 3)
    noise = table(rng.normal(size=(81, 32)), labels, STYLES_27)
    config = ClusterConfig(projections=["pca"], sweep=[27], **FAST)
    report = cluster_embeddings(noise, config).report
    assert report["scores"]["nmi"] > 0.5
    assert report["verdict"].startswith("Styles do not cluster (no better than chance)")
    x, y = blobs(n=81, centers=3, std=0.5)
    planted = cluster_embeddings(
        table(x, y, ["A", "B", "C"]), config.model_copy(update={"sweep": [3]})
    )
    assert planted.report["verdict"].startswith("Styles cluster well")


def test_cluster_embeddings_writes_json_and_figures(tmp_path):
    x, y = blobs(n=120, centers=4, std=0.6)
    classes = ["A", "B", "C", "D"]
    images = np.random.default_rng(0).integers(0, 256, size=(120, 8, 8, 3), dtype=np.uint8)
    config = ClusterConfig(max_points=50, projections=["pca", "tsne"], n_central=3, **FAST)
    result = cluster_embeddings(table(x, y, classes), config, out=tmp_path, images=images)
    report = json.loads((tmp_path / "cluster.json").read_text())
    assert report["k"] == 4  # defaults to the number of styles
    assert report["scores"]["nmi"] > 0.95
    assert report["scores"]["silhouette"] > 0.5
    assert report["n_points"] == 120
    assert report["projections"]["tsne"] == {
        "n_points": 50,
        "subsampled": True,
        "seconds": report["projections"]["tsne"]["seconds"],
    }
    assert [row["k"] for row in report["sweep"]] == default_sweep(4, 120)
    assert sum(row["size"] for row in report["clusters"]) == 120
    assert all(len(row["central"]) == 3 for row in report["clusters"])
    assert np.asarray(report["contingency"]["counts"]).sum() == 120
    assert "Styles cluster well" in report["verdict"]
    for name in (
        "contingency.png",
        "k_sweep.png",
        "embedding_pca.png",
        "embedding_tsne.png",
        "cluster_images.png",
    ):
        assert (tmp_path / "figures" / name).is_file(), name
    assert (
        "50 of 120 points (random subsample, seed 0)"
        in result.figures["embedding_tsne.png"].texts[0].get_text()
    )


def test_clustering_again_into_a_folder_removes_the_earlier_figures(tmp_path):
    x, y = blobs(n=60, centers=3, std=0.6)
    vectors = table(x, y, ["A", "B", "C"])
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "notes.png").write_bytes(b"the user's own")
    first = ClusterConfig(projections=["pca"], sweep=[2, 3], **FAST)
    cluster_embeddings(vectors, first, out=tmp_path)
    assert (tmp_path / "figures" / "embedding_pca.png").is_file()
    again = ClusterConfig(projections=["tsne"], sweep=[], **FAST)
    cluster_embeddings(vectors, again, out=tmp_path)
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert names == ["contingency.png", "embedding_tsne.png", "notes.png"]
    report = json.loads((tmp_path / "cluster.json").read_text())
    assert sorted(report["figures"]) == ["figures/contingency.png", "figures/embedding_tsne.png"]


def test_too_many_clusters_and_bad_vectors_are_refused():
    x, y = blobs(n=10)
    with pytest.raises(ArtstyleError, match="--k"):
        cluster_embeddings(table(x, y, ["A", "B", "C"]), ClusterConfig(k=12, **FAST), figures=False)
    x[0, 0] = np.nan
    with pytest.raises(ArtstyleError, match="NaN"):
        cluster_embeddings(table(x, y, ["A", "B", "C"]), ClusterConfig(**FAST), figures=False)


def test_compare_representations_names_the_best_one(tmp_path):
    x, y = blobs(n=150, centers=3, std=0.5)
    noise = np.random.default_rng(1).normal(size=(150, 10))
    classes = ["A", "B", "C"]
    good = table(x, y, classes, kind="classifier")
    bad = table(noise, y, classes, kind="pixels")
    config = ClusterConfig(projections=["pca"], n_seeds=2, sweep=[], **FAST)
    result = compare_representations([bad, good], config, out=tmp_path)
    assert result["best"] == "classifier"
    rows = {row["representation"]: row for row in result["rows"]}
    assert rows["classifier"]["nmi"] > 0.95
    assert rows["pixels"]["nmi"] < 0.1
    assert result["answer"].startswith("Best at grouping the styles: the classifier features (NMI ")
    assert "over raw pixels" in result["answer"]
    markdown = (tmp_path / "representations.md").read_text()
    assert "| classifier | 10 |" in markdown
    assert result["answer"] in markdown
    assert json.loads((tmp_path / "representations.json").read_text())["best"] == "classifier"
    assert result["answer"].endswith("seed-to-seed spread of NMI at most " + result["answer"][-6:])
    one = compare_representations(
        [bad, good], config.model_copy(update={"n_seeds": 1}), out=tmp_path / "one"
    )
    assert one["answer"].endswith(
        "one seed only, so no seed-to-seed spread was measured (--n-seeds 3)."
    )
    assert (tmp_path / "figures" / "representations.png").is_file()
    assert (tmp_path / "pixels" / "cluster.json").is_file()


def test_hdbscan_on_fewer_points_than_its_smallest_cluster_is_one_clear_error():
    x, y = blobs(n=9, centers=3)
    config = ClusterConfig(method="hdbscan", projections=["pca"], **FAST)
    with pytest.raises(ArtstyleError, match="--min-cluster-size 10 is more than the 9 points"):
        cluster_embeddings(table(x, y, ["A", "B", "C"]), config)


@pytest.mark.parametrize("shape", [(6,), (6, 4, 2), (6, 0)])
def test_vectors_that_are_not_a_two_d_table_are_refused(shape):
    styles = ["A", "B"] * 3
    with pytest.raises(ArtstyleError, match=r"images x values, got shape"):
        Embeddings(
            vectors=np.zeros(shape, dtype=np.float32),
            rels=[f"{s}/{i}.jpg" for i, s in enumerate(styles)],
            styles=styles,
            artists=[None] * 6,
            classes=["A", "B"],
            kind="pixels",
            source="x.npz",
        )


def test_representation_bars_keep_every_value_label_inside_the_axes():
    row = {"nmi": 0.05, "ari": -0.12, "homogeneity": 0.04, "completeness": 0.06, "purity": 0.3}
    rows = [
        {"representation": "pixels", **row, "ari_std": 0.03, "nmi_chance": 0.03},
        {"representation": "latent", **row, "ari": 0.9, "purity": 0.98, "nmi_chance": 0.03},
    ]
    fig = plots.representation_bars(rows)
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_window_extent()
    labels = [text for text in ax.texts if text.get_text()]
    assert {"-0.12", "0.98"} <= {text.get_text() for text in labels}
    for text in labels:
        extent = text.get_window_extent()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, text.get_text()
    plots.plt.close(fig)


def test_style_names_with_dollar_signs_are_drawn_as_text(tmp_path):
    names = ["Art$_$Deco", "Pop$_x$", "Plain"]
    fig = plots.confusion_matrix_figure(np.eye(3) * 4, names)
    fig.canvas.draw()  # "Art$_$Deco" as TeX math raises here
    drawn = {label.get_text() for label in fig.axes[0].get_yticklabels()}
    assert {"Art$_$Deco (4)", "Pop$_x$ (4)"} <= drawn
    assert not any(label.get_parse_math() for label in fig.axes[0].get_yticklabels())
    plots.save_figure(fig, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 0
