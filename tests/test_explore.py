"""The interactive map (``artstyle explore``): sampling, neighbours, spread, the page, bad input, the report link."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from artstyle.analysis.embed import Embeddings, save_embeddings
from artstyle.analysis.explore import (
    nearest_neighbours,
    per_style_sample,
    style_spread,
)
from artstyle.cli import main
from artstyle.config import ExploreConfig
from artstyle.errors import ArtstyleError
from artstyle.report import build_report
from artstyle.workflows.explore import explore
from conftest import make_dataset

STYLES = ("Baroque", "Cubism", "Rococo")


def data_folder(root, n_test: int = 6):
    return make_dataset(
        root,
        {"train": dict.fromkeys(STYLES, 2), "test": dict.fromkeys(STYLES, n_test)},
    )


def table_of(
    data, *, kind: str = "pixels", source: str = "pixels", split: str = "test", seed: int = 0
):
    """A table of the split's images: each style a tight blob far from the others."""
    rels = sorted(p.relative_to(data / split).as_posix() for p in (data / split).rglob("*.jpg"))
    styles = [rel.split("/")[0] for rel in rels]
    rng = np.random.default_rng(seed)
    centres = {name: 10.0 * np.eye(4)[i] for i, name in enumerate(STYLES)}
    vectors = np.stack([centres[s] + rng.normal(0, 0.1, 4) for s in styles]).astype(np.float32)
    return Embeddings(
        vectors=vectors,
        rels=rels,
        styles=styles,
        artists=[rel.split("/")[1].split("_")[0] for rel in rels],
        classes=list(STYLES),
        kind=kind,
        source=source,
        data=str(data),
        split=split,
    )


def quick_config(**values) -> ExploreConfig:
    return ExploreConfig(**{"projection": "pca", "progress": False, "workers": 1, **values})


# ---------------------------------------------------------------- the numbers


def test_per_style_sample_keeps_every_style_in_proportion_and_is_seeded():
    styles = ["A"] * 900 + ["B"] * 90 + ["C"] * 10 + ["D"] * 1
    chosen = per_style_sample(styles, 100, seed=3)
    assert len(chosen) == 100
    assert np.all(np.diff(chosen) > 0)  # sorted, no repeats
    picked = [styles[i] for i in chosen]
    counts = {name: picked.count(name) for name in "ABCD"}
    assert counts["D"] == 1  # a style of one image stays on the map
    assert 88 <= counts["A"] <= 90 and 8 <= counts["B"] <= 10 and counts["C"] >= 1
    assert np.array_equal(chosen, per_style_sample(styles, 100, seed=3))
    assert not np.array_equal(chosen, per_style_sample(styles, 100, seed=4))
    assert np.array_equal(per_style_sample(styles, 5000, seed=0), np.arange(len(styles)))
    with pytest.raises(ArtstyleError, match="fewer than the 4 styles"):
        per_style_sample(styles, 3, seed=0)


def test_nearest_neighbours_are_found_in_the_full_space_and_exclude_the_point():
    # two points near each other in dimension 3 only: a 2-D view of dimensions 0-1 would miss it
    vectors = np.array(
        [[0, 0, 0, 0], [0, 0, 0, 0.1], [0, 0, 0, 5], [0, 0, 0, 5.2], [0, 0, 0, 20]], dtype=float
    )
    index, distance = nearest_neighbours(vectors, 2)
    assert index.shape == distance.shape == (5, 2)
    assert index[0].tolist() == [1, 2]
    assert index[2].tolist() == [3, 1]
    assert all(i not in row for i, row in enumerate(index.tolist()))
    assert np.all(np.diff(distance, axis=1) >= 0)
    # exact duplicates: each lists the other first, never itself
    twins = np.array([[1.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    index, _ = nearest_neighbours(twins, 1)
    assert index[:2, 0].tolist() == [1, 0]
    # more neighbours asked for than there are other points: all the others
    index, _ = nearest_neighbours(vectors[:3], 8)
    assert index.shape == (3, 2)


def test_style_spread_is_the_centroid_and_one_standard_deviation_ellipse():
    x = np.array([-2.0, 2.0, 0.0, 0.0, 10.0])
    y = np.array([0.0, 0.0, -1.0, 1.0, 10.0])
    spread = style_spread(x, y, ["A", "A", "A", "A", "B"])
    a = spread["A"]
    assert (a["x"], a["y"], a["n"]) == (0.0, 0.0, 4)
    # variances 8/3 along x and 2/3 along y: axes 2 * sqrt(variance), the long one along x
    assert a["width"] == pytest.approx(2 * np.sqrt(8 / 3))
    assert a["height"] == pytest.approx(2 * np.sqrt(2 / 3))
    assert abs(np.sin(a["angle"])) == pytest.approx(0.0, abs=1e-9)
    assert spread["B"] == {"x": 10.0, "y": 10.0, "width": 0.0, "height": 0.0, "angle": 0.0, "n": 1}


# ---------------------------------------------------------------- the page


def test_map_page_is_self_contained_with_one_thumbnail_per_point(tmp_path):
    data = data_folder(tmp_path / "data")
    npz = save_embeddings(table_of(data), tmp_path / "pixels_test.npz")
    out = tmp_path / "map.html"
    result = explore(npz, quick_config(data=data), out=out)
    page = out.read_text(encoding="utf-8")
    assert (result.n_points, result.n_total, result.missing, result.notes) == (18, 18, [], [])
    assert result.n_bytes == len(page.encode("utf-8"))
    # nothing is fetched: no script, style sheet or image is loaded from anywhere
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert "Bokeh" in page
    assert len(re.findall(r"data:image/webp;base64,", page)) == 18
    for rel in table_of(data).rels:
        assert rel in page
    # the click panel lists neighbours stored in the page: 18 points x 8 neighbours
    assert "nearest neighbours" in page
    assert "style centroids and spread" in page
    assert "Raw pixels of 18 images, 3 styles (test split of data), PCA map" in page


def test_missing_image_is_a_grey_square_listed_on_the_page(tmp_path, capsys):
    data = data_folder(tmp_path / "data")
    npz = save_embeddings(table_of(data), tmp_path / "t.npz")
    (data / "test" / "Cubism" / "artist-cubism_work-002.jpg").unlink()
    (data / "test" / "Rococo" / "artist-rococo_work-001.jpg").write_bytes(b"not an image")
    out = tmp_path / "map.html"
    code = main(
        [
            "explore",
            str(npz),
            "--data",
            str(data),
            "--out",
            str(out),
            "--projection",
            "pca",
            "--progress",
            "false",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 of 18 images could not be shown and are grey squares" in printed
    page = out.read_text(encoding="utf-8")
    assert "data:image/svg+xml;base64," in page
    assert len(re.findall(r"data:image/webp;base64,", page)) == 16
    assert "test/Cubism/artist-cubism_work-002.jpg: not in the data folder" in page
    assert "test/Rococo/artist-rococo_work-001.jpg" in page


def test_more_points_than_the_limit_are_sampled_per_style_with_a_note(tmp_path):
    data = data_folder(tmp_path / "data", n_test=8)
    npz = save_embeddings(table_of(data), tmp_path / "t.npz")
    result = explore(npz, quick_config(data=data, max_points=12), out=tmp_path / "map.html")
    assert (result.n_points, result.n_total) == (12, 24)
    note = "Showing 12 of 24 images: a random sample of each style in proportion to its size"
    assert result.notes[0].startswith(note)
    assert note in (tmp_path / "map.html").read_text(encoding="utf-8")


def test_a_set_of_one_style_gets_a_note_not_an_error(tmp_path):
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 2}, "test": {"Baroque": 5}})
    table = table_of(data)
    result = explore(
        save_embeddings(table, tmp_path / "t.npz"), quick_config(data=data), out=tmp_path / "m.html"
    )
    assert result.n_points == 5
    assert any("one style (Baroque)" in note for note in result.notes)


def test_train_and_test_splits_share_one_map_shaped_by_split(tmp_path):
    from artstyle.analysis.explore import build_map

    data = data_folder(tmp_path / "data")
    tables = [table_of(data, split="train"), table_of(data, split="test")]
    result = build_map(tables, quick_config(data=data), out=tmp_path / "m.html", data=data)
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert result.n_points == 6 + 18
    assert "train, test splits" in page
    assert '"triangle"' in page and '"circle"' in page


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    data = data_folder(tmp_path / "data")
    other = make_dataset(tmp_path / "other", {"train": {"Fauvism": 2}, "test": {"Fauvism": 3}})
    npz = save_embeddings(table_of(data), tmp_path / "t.npz")
    cases = [
        # embeddings of other data: their names are not in --data
        (
            ["explore", str(npz), "--data", str(other), "--out", str(tmp_path / "m.html")],
            r"18 of 18 images it names .* are not in the test split of .*other",
        ),
        (["explore", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "m.html")], "not found"),
        (["explore", str(npz), "--out", str(tmp_path / "m.png")], "must end in .html"),
        (
            ["explore", str(npz), "--split", "train", "--out", str(tmp_path / "m.html")],
            "holds the test split, not --split train",
        ),
        (["explore", "pixels", "--data", str(data)], "needs --out FILE.html"),
        (["explore", str(npz), "--thumb-px", "4", "--out", str(tmp_path / "m.html")], "thumb_px"),
    ]
    for argv, message in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert re.search(message, err, re.S), (message, err)
        assert "Traceback" not in err
    assert not (tmp_path / "m.html").exists()


def test_too_few_points_and_non_finite_vectors_are_refused(tmp_path):
    data = data_folder(tmp_path / "data")
    table = table_of(data)
    with pytest.raises(ArtstyleError, match="2 images are too few"):
        explore(
            save_embeddings(table.subset(np.arange(2)), tmp_path / "a.npz"),
            quick_config(data=data),
            out=tmp_path / "m.html",
        )
    table.vectors[0, 0] = np.nan
    with pytest.raises(ArtstyleError, match="NaN"):
        explore(
            save_embeddings(table, tmp_path / "b.npz"),
            quick_config(data=data),
            out=tmp_path / "m.html",
        )


# ---------------------------------------------------------------- a classifier's predictions


@pytest.fixture
def classifier_run(tmp_path):
    data = data_folder(tmp_path / "data", n_test=4)
    # train has 2 per style in data_folder: enough for one tiny epoch
    run = tmp_path / "clf"
    code = main(
        [
            "train", "classifier", "--data", str(data), "--out", str(run), "--epochs", "1",
            "--size", "16", "--batch-size", "8", "--progress", "false", "--val-fraction", "0",
        ]
    )  # fmt: skip
    assert code == 0
    return run, data


def test_classifier_predictions_are_the_runs_own(classifier_run, tmp_path):
    from artstyle.analysis.embed import embed_run
    from artstyle.analysis.explore import classifier_predictions
    from artstyle.data.batches import normalize
    from artstyle.train import runs

    run, data = classifier_run
    table = embed_run(run, data=data, progress=False)
    predicted, probability = classifier_predictions(str(run), table.vectors)
    model = runs.load_model(runs.open_run(run)).eval()
    from artstyle.analysis.embed import images_for

    images = torch.from_numpy(images_for(table, progress=False))
    with torch.inference_mode():
        full = torch.softmax(model(normalize(images)), dim=1).numpy()
    classes = runs.read_classes(runs.open_run(run))
    assert predicted == [classes[i] for i in full.argmax(axis=1)]
    assert np.allclose(probability, full.max(axis=1), atol=1e-5)

    result = explore(run, quick_config())
    assert result.out == run / "map.html" and result.has_predictions
    page = result.out.read_text(encoding="utf-8")
    assert "prediction right / wrong" in page
    assert f"predicted {predicted[0]} ({probability[0]:.2f})" in page
    assert classifier_predictions(str(tmp_path / "gone"), table.vectors) is None
    # embeddings of another width than the run's head (the run trained again): one line
    with pytest.raises(
        ArtstyleError, match=r"head reads \d+-d features but the embeddings are 5-d"
    ):
        classifier_predictions(str(run), table.vectors[:, :5])


# ---------------------------------------------------------------- the report links the map


def test_report_links_a_runs_map_relative_to_the_page(tmp_path):
    from test_report import classifier_run as classifier_folder

    run = classifier_folder(tmp_path / "runs" / "clf")
    (run / "map.html").write_text("<html>map</html>", encoding="utf-8")
    other = classifier_folder(tmp_path / "runs" / "clf2")  # without a map: no link
    out = tmp_path / "site" / "report.html"
    build_report([tmp_path / "runs"], out=out, markdown=tmp_path / "site" / "REPORT.md")
    page = out.read_text(encoding="utf-8")
    assert page.count('<p class="map-link">') == 1
    assert '<a href="../runs/clf/map.html">Interactive map of this run&#39;s embedding</a>' in page
    text = (tmp_path / "site" / "REPORT.md").read_text(encoding="utf-8")
    assert "[Interactive map of this run's embedding](../runs/clf/map.html)" in text
    assert not (other / "map.html").exists()
