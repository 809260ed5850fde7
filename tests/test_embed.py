"""Embedding tables (.npz without pickle), raw-pixel vectors, and the embed / cluster / compare commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from artstyle.analysis.embed import (
    Embeddings,
    embed_pixels,
    load_embeddings,
    model_vectors,
    pixel_vectors,
    save_embeddings,
)
from artstyle.cli import main
from artstyle.errors import ArtstyleError
from artstyle.models import build_model
from conftest import make_dataset


def small_table() -> Embeddings:
    return Embeddings(
        vectors=np.arange(12, dtype=np.float32).reshape(3, 4),
        rels=["Baroque/a b.jpg", "Cubism/ünïcode.jpg", "Cubism/x.jpg"],
        styles=["Baroque", "Cubism", "Cubism"],
        artists=["rembrandt", None, "pablo-picasso"],
        classes=["Baroque", "Cubism", "Rococo"],
        kind="autoencoder",
        source="runs/ae",
        data="/data/wikiart",
        split="test",
        image_size=32,
        resize="letterbox",
    )


def test_npz_round_trip_without_pickle(tmp_path):
    path = save_embeddings(small_table(), tmp_path / "t.npz")
    loaded = load_embeddings(path)
    original = small_table()
    assert np.array_equal(loaded.vectors, original.vectors)
    assert loaded.vectors.dtype == np.float32
    for key in (
        "rels",
        "styles",
        "artists",
        "classes",
        "kind",
        "source",
        "data",
        "split",
        "image_size",
        "resize",
    ):
        assert getattr(loaded, key) == getattr(original, key), key
    assert loaded.test_fraction is None
    assert loaded.labels.tolist() == [0, 1, 1]
    with np.load(path, allow_pickle=False) as npz:  # a plain numpy reader needs no pickle either
        assert all(npz[name].dtype.kind != "O" for name in npz.files)
        assert npz["rels"].tolist() == original.rels


def test_a_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(
        path,
        vectors=np.zeros((1, 2)),
        rels=np.array([{"a": 1}], dtype=object),
        styles=np.array(["A"]),
        artists=np.array([""]),
        classes=np.array(["A"]),
        kind=np.array("pixels"),
    )
    with pytest.raises(ArtstyleError, match="cannot read"):
        load_embeddings(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtstyleError, match="not a readable .npz"):
        load_embeddings(tmp_path / "junk.npz")
    with pytest.raises(ArtstyleError, match="not found"):
        load_embeddings(tmp_path / "missing.npz")


def test_pixel_vectors_are_area_averages():
    images = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    images[0, :, 2:] = 255  # right half white
    vectors = pixel_vectors(images, side=2)
    # (3, 2, 2) flattened channel-first: per channel [[0, 1], [0, 1]]
    assert vectors.shape == (1, 12)
    assert vectors[0].tolist() == [0.0, 1.0, 0.0, 1.0] * 3
    images[0, 0, 0] = 51  # one pixel of a 2x2 block: its average moves by 51 / 4 / 255 = 0.05
    assert pixel_vectors(images, side=2)[0, 0] == pytest.approx(0.05)
    with pytest.raises(ArtstyleError, match="larger than the cached images"):
        pixel_vectors(images, side=8)


def test_model_vectors_use_encode_or_forward_features():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8)
    autoencoder = build_model("conv_ae", image_size=16, widths=[8, 16], latent_dim=8)
    classifier = build_model("resnet_tiny", num_classes=3)
    assert model_vectors(autoencoder, images, batch_size=2).shape == (5, 8)
    features = model_vectors(classifier, images, batch_size=4)
    assert features.shape == (5, classifier.config.feature_dim)
    with torch.no_grad():
        from artstyle.data.batches import normalize

        expected = classifier.eval().forward_features(normalize(torch.from_numpy(images))).numpy()
    assert np.allclose(features, expected, atol=1e-5)


def test_embed_pixels_of_a_data_folder(tiny_data, tmp_path):
    table = embed_pixels(
        tiny_data,
        split="test",
        size=16,
        side=4,
        cache_dir=tmp_path / "cache",
        progress=False,
        workers=1,
    )
    assert table.vectors.shape == (6, 4 * 4 * 3)
    assert table.classes == ["Baroque", "Cubism", "Rococo"]
    assert table.styles == ["Baroque", "Baroque", "Cubism", "Cubism", "Rococo", "Rococo"]
    assert table.artists[0] == "artist-baroque"
    assert table.kind == "pixels"
    assert 0.0 <= table.vectors.min() and table.vectors.max() <= 1.0


# ---------------------------------------------------------------- commands


@pytest.fixture
def ae_run(tiny_data, tmp_path):
    run = tmp_path / "ae"
    code = main(
        [
            "train",
            "autoencoder",
            "--data",
            str(tiny_data),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--size",
            "16",
            "--widths",
            "8,16",
            "--latent-dim",
            "8",
            "--batch-size",
            "8",
            "--progress",
            "false",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    return run


def test_embed_and_cluster_commands(ae_run, tiny_data, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    out = tmp_path / "ae_train.npz"
    code = main(
        [
            "embed",
            str(ae_run),
            "--data",
            str(tiny_data),
            "--split",
            "train",
            "--out",
            str(out),
            "--cache-dir",
            cache,
            "--progress",
            "false",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "24 autoencoder vectors of 8 values" in capsys.readouterr().out
    table = load_embeddings(out)
    assert table.vectors.shape == (24, 8)
    assert table.image_size == 16

    code = main(
        [
            "cluster",
            str(out),
            "--k",
            "3",
            "--projection",
            "pca,tsne",
            "--max-points",
            "20",
            "--cache-dir",
            cache,
            "--threads",
            "1",
            "--progress",
            "false",
            "--sweep",
            "2,3,4",
        ]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "nmi" in printed
    folder = tmp_path / "ae_train_cluster"
    report = json.loads((folder / "cluster.json").read_text())
    assert report["k"] == 3
    assert report["n_points"] == 24
    assert [row["k"] for row in report["sweep"]] == [2, 3, 4]
    assert report["projections"]["tsne"]["n_points"] == 20
    assert set(report["scores"]) >= {
        "nmi",
        "ari",
        "homogeneity",
        "completeness",
        "purity",
        "silhouette",
    }
    for name in (
        "contingency.png",
        "k_sweep.png",
        "embedding_pca.png",
        "embedding_tsne.png",
        "cluster_images.png",
    ):
        assert (folder / "figures" / name).is_file(), name

    code = main(
        [
            "embed",
            "pixels",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "px.npz"),
            "--pixel-size",
            "16",
            "--pixel-side",
            "4",
            "--cache-dir",
            cache,
            "--progress",
            "false",
        ]
    )
    assert code == 0
    assert load_embeddings(tmp_path / "px.npz").vectors.shape == (6, 48)


def test_cluster_and_embed_refuse_bad_input(tiny_data, tmp_path, capsys):
    assert main(["cluster", str(tmp_path / "nothing.npz")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["cluster", "pixels", "--data", str(tiny_data)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["embed", "pixels", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["cluster", str(tmp_path / "x.npz"), "--method", "dbscan"]) == 2
    assert "method" in capsys.readouterr().err
    assert (
        main(["cluster", str(tmp_path), "--data", str(tiny_data), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "not a run folder" in capsys.readouterr().err
    # a run of another kind is named before any data is read
    sty = tmp_path / "sty"
    sty.mkdir()
    (sty / "config.yaml").write_text(f"task: stylizer\ndata: {tmp_path / 'gone'}\n")
    (sty / "model.json").write_text(
        '{"architecture": "stylizer_tiny", "kind": "stylizer", "args": {}}'
    )
    assert main(["embed", str(sty), "--out", str(tmp_path / "s.npz")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{sty} is a run of task 'stylizer'; embed an autoencoder or classifier run" in err


def test_compare_representations_command(ae_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(
        [
            "compare-representations",
            "--data",
            str(tiny_data),
            "--autoencoder",
            str(ae_run),
            "--out",
            str(out),
            "--split",
            "train",
            "--pixel-size",
            "16",
            "--pixel-side",
            "4",
            "--projections",
            "pca",
            "--n-seeds",
            "2",
            "--sweep",
            "",
            "--threads",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--progress",
            "false",
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "representations.json").read_text())
    assert [row["representation"] for row in result["rows"]] == ["pixels", "autoencoder"]
    assert result["n_points"] == 24
    assert result["seeds"] == [0, 1]
    assert result["answer"].startswith("Best at grouping the styles:")
    markdown = (out / "representations.md").read_text()
    assert "| pixels | 48 |" in markdown
    assert "| autoencoder | 8 |" in markdown
    # PCA(50) asked; 24 points of 8 and 48 values give 8 and 23: the summary says what ran
    assert result["pca_components"] == [8, 23] and "PCA(8 / 23) -> kmeans with k = 3" in markdown
    assert (out / "autoencoder" / "figures" / "cluster_images.png").is_file()
    assert (out / "figures" / "representations.png").is_file()


AE_TINY = ["--epochs", "1", "--size", "16", "--widths", "8,16", "--latent-dim", "8"]
CMP_FAST = ["--pixel-size", "16", "--pixel-side", "4", "--projections", "pca"]
CMP_FAST += ["--n-seeds", "1", "--sweep", "", "--threads", "1", "--progress", "false"]


def test_compare_representations_uses_the_runs_held_out_images(tmp_path, capsys):
    # one folder of style folders: the run held out 30 % with its seed 5; the pixel baseline
    # must hold out the same images, not a draw of its own that shares only a few of them
    data = make_dataset(tmp_path / "flat", {"train": {"A": 10, "B": 10, "C": 10}}) / "train"
    run = tmp_path / "ae"
    args = ["train", "autoencoder", "--data", str(data), "--out", str(run), *AE_TINY]
    assert main([*args, "--test-fraction", "0.3", "--seed", "5", "--progress", "false"]) == 0
    held_out = json.loads((run / "metrics.json").read_text())["n_test"]
    out = tmp_path / "cmp"
    args = ["compare-representations", "--data", str(data), "--autoencoder", str(run)]
    assert main([*args, "--test-fraction", "0.3", "--out", str(out), *CMP_FAST]) == 0
    assert json.loads((out / "representations.json").read_text())["n_points"] == held_out == 9

    capsys.readouterr()
    other = ["--test-fraction", "0.5", "--out", str(tmp_path / "cmp2"), *CMP_FAST]
    assert main([*args, *other]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--test-fraction 0.3" in err and "would be other images" in err


def test_an_embedding_of_another_split_is_refused(ae_run, tiny_data, tmp_path, capsys):
    train_npz = tmp_path / "train.npz"
    args = ["embed", str(ae_run), "--data", str(tiny_data), "--split", "train"]
    assert main([*args, "--out", str(train_npz), "--progress", "false"]) == 0
    capsys.readouterr()
    cmp = ["compare-representations", "--data", str(tiny_data), "--autoencoder", str(train_npz)]
    assert main([*cmp, "--out", str(tmp_path / "cmp"), *CMP_FAST]) == 2
    assert "split train, but pixels with test" in " ".join(capsys.readouterr().err.split())
    cluster = ["cluster", str(train_npz), "--split", "test", "--out", str(tmp_path / "c")]
    assert main([*cluster, "--progress", "false", "--threads", "1"]) == 2
    assert "holds the train split, not --split test" in " ".join(capsys.readouterr().err.split())


def test_run_folders_record_absolute_data_paths(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "autoencoder", "--data", "data", "--out", "ae", *AE_TINY]
    assert main([*args, "--progress", "false"]) == 0
    config = yaml.safe_load((tmp_path / "ae" / "config.yaml").read_text())
    assert (config["data"], config["out"]) == (str(tiny_data), str(tmp_path / "ae"))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)  # a folder of the same name that is not the data
    monkeypatch.chdir(elsewhere)
    assert main(["embed", str(tmp_path / "ae"), "--out", "x.npz", "--progress", "false"]) == 0
    table = load_embeddings(elsewhere / "x.npz")
    assert table.data == str(tiny_data) and len(table.rels) == 6


def test_compare_representations_with_hdbscan_reports_the_clusters_it_found(
    ae_run, tiny_data, tmp_path
):
    out = tmp_path / "cmp"
    args = ["compare-representations", "--data", str(tiny_data), "--autoencoder", str(ae_run)]
    args += ["--split", "train", "--method", "hdbscan", "--min-cluster-size", "3"]
    assert main([*args, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *CMP_FAST]) == 0
    result = json.loads((out / "representations.json").read_text())
    assert result["k"] is None and result["min_cluster_size"] == 3
    found = {row["representation"]: row["k"] for row in result["rows"]}
    text = " ".join((out / "representations.md").read_text().split())
    assert (
        f"hdbscan (min cluster size 3; clusters found: raw pixels {found['pixels']}, "
        f"the autoencoder latent {found['autoencoder']})" in text
    )
