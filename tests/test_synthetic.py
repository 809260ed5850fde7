"""The synthetic 27-style set: counts, layout, determinism, names, shapes, and that colour alone is not enough."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artstyle.cli import main
from artstyle.data.scan import parse_artist, scan
from artstyle.data.synthetic import (
    COURSE_TRAIN_COUNTS,
    DEMO_SCALE,
    STYLES,
    WIKIART_COUNTS,
    artists_of,
    make_synthetic,
    paint,
    synth_counts,
)
from artstyle.errors import ArtstyleError

COURSE_STYLES = [
    "Abstract_Expressionism", "Action_painting", "Analytical_Cubism", "Art_Nouveau_Modern",
    "Baroque", "Color_Field_Painting", "Contemporary_Realism", "Cubism", "Early_Renaissance",
    "Expressionism", "Fauvism", "High_Renaissance", "Impressionism", "Mannerism_Late_Renaissance",
    "Minimalism", "Naive_Art_Primitivism", "New_Realism", "Northern_Renaissance", "Pointillism",
    "Pop_Art", "Post_Impressionism", "Realism", "Rococo", "Romanticism", "Symbolism",
    "Synthetic_Cubism", "Ukiyo_e",
]  # fmt: skip
# scale 0.002: every style at the minimum of 2, except the largest few
TINY = {"scale": 0.002, "size": 24, "workers": 1, "progress": False}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


def test_style_names_and_course_table() -> None:
    assert list(STYLES) == COURSE_STYLES
    assert COURSE_TRAIN_COUNTS["Impressionism"] == 2269
    assert COURSE_TRAIN_COUNTS["Analytical_Cubism"] == 15
    # every other style is its WikiArt count scaled by 2269 / 13060, rounded half up
    for style, n in WIKIART_COUNTS.items():
        if style != "Analytical_Cubism":
            assert COURSE_TRAIN_COUNTS[style] == int(n * 2269 / 13060 + 0.5), style
    assert sum(COURSE_TRAIN_COUNTS.values()) == 14147


def test_counts_follow_course_proportions() -> None:
    full = synth_counts(1.0)
    assert full["train"] == COURSE_TRAIN_COUNTS
    assert full["test"]["Impressionism"] == 454 and full["test"]["Analytical_Cubism"] == 3
    assert full["test"]["Action_painting"] == 0

    demo = synth_counts(DEMO_SCALE)
    assert DEMO_SCALE == 0.2
    assert demo["train"]["Impressionism"] == 454 and demo["test"]["Impressionism"] == 91
    assert demo["train"]["Realism"] == 373 and demo["test"]["Realism"] == 75
    assert demo["train"]["Analytical_Cubism"] == 3 and demo["test"]["Analytical_Cubism"] == 1
    assert demo["train"]["Action_painting"] == 3 and demo["test"]["Action_painting"] == 0
    assert sum(demo["train"].values()) == 2831 and sum(demo["test"].values()) == 566

    tiny = synth_counts(0.001)  # everything at the floor: 2 train, 1 test, none for Action_painting
    assert set(tiny["train"].values()) == {2}
    assert tiny["test"] == {s: 0 if s == "Action_painting" else 1 for s in STYLES}

    assert synth_counts(0.1, test_fraction=0.5)["test"]["Impressionism"] == 114  # 227 * 0.5 = 113.5


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_scale_is_refused(bad: float) -> None:
    with pytest.raises(ArtstyleError, match="--scale"):
        synth_counts(bad)


def test_writes_course_layout_that_scan_reads(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    summary = make_synthetic(out, seed=3, **TINY)
    counts = synth_counts(0.002)
    assert summary["n_train"] == sum(counts["train"].values()) == 59
    assert summary["n_test"] == sum(counts["test"].values()) == 26
    assert summary["missing_in_test"] == ["Action_painting"] and summary["reused"] is False

    index = scan(out)
    assert index.classes == COURSE_STYLES
    assert index.class_to_index["Abstract_Expressionism"] == 0
    assert index.class_to_index["Ukiyo_e"] == 26
    assert index.counts("train") == counts["train"]
    assert index.counts("test") == counts["test"]
    assert index.missing_in_test == ["Action_painting"]
    assert not (out / "test" / "Action_painting").exists()

    marker = json.loads((out / "synthetic.json").read_text())
    assert marker["params"] == {"scale": 0.002, "size": 24, "seed": 3, "test_fraction": 0.2}
    assert len(marker["files"]) == 85
    # nothing left behind beside the set (the staging folder was renamed into place)
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]


def test_file_names_are_wikiart_like_with_a_few_artists_per_style(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    make_synthetic(out, scale=0.01, size=24, workers=1, progress=False)
    names = [p.name for p in (out / "train" / "Impressionism").iterdir()]
    assert len(names) == 23
    assert all(re.fullmatch(r"[a-z]+-[a-z]+_[a-z-]+-\d{4}\.jpg", n) for n in names), names
    assert sorted(int(n[-8:-4]) for n in names) == list(range(23))
    artists = {parse_artist(n) for n in names}
    assert artists <= set(artists_of("Impressionism")) and len(artists) >= 2
    assert len(artists_of("Impressionism")) == 4
    assert not set(artists_of("Impressionism")) & set(artists_of("Baroque"))


def test_images_are_non_square_around_the_requested_size(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    make_synthetic(out, scale=0.002, size=40, workers=1, progress=False)
    shapes = []
    for path in out.rglob("*.jpg"):
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.format == "JPEG"
            shapes.append(image.size)
    assert len(shapes) == 85
    for width, height in shapes:
        assert min(width, height) == 40
        assert 43 <= max(width, height) <= 53  # 1.08x to 4:3
    orientations = {width > height for width, height in shapes}
    assert orientations == {True, False}  # both portrait and landscape


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = _files(Path(make_synthetic(tmp_path / "a", seed=5, **TINY)["out"]))
    again = _files(Path(make_synthetic(tmp_path / "b", seed=5, **TINY)["out"]))
    other = _files(Path(make_synthetic(tmp_path / "c", seed=6, **TINY)["out"]))
    assert first == again
    assert len(other) == len(first)
    assert set(first.values()).isdisjoint(other.values())


def test_parallel_workers_write_the_same_bytes(tmp_path: Path) -> None:
    serial = _files(Path(make_synthetic(tmp_path / "a", seed=2, **TINY)["out"]))
    parallel = make_synthetic(tmp_path / "b", seed=2, **{**TINY, "workers": 2})
    assert parallel["workers"] == 2
    assert _files(Path(parallel["out"])) == serial


def test_a_larger_scale_keeps_the_smaller_sets_images(tmp_path: Path) -> None:
    small = _files(Path(make_synthetic(tmp_path / "small", **TINY)["out"]))
    large = _files(Path(make_synthetic(tmp_path / "large", **{**TINY, "scale": 0.004})["out"]))
    assert len(large) > len(small)
    assert {rel: large[rel] for rel in small} == small


def test_paint_every_style_any_size() -> None:
    for style in STYLES:
        for size in ((16, 20), (37, 45), (96, 80)):
            image = paint(style, np.random.default_rng(0), size=size)
            assert image.dtype == np.uint8 and image.shape == (*size, 3), style
            assert image.std() > 2, f"{style} painted a blank image"
    a = paint("Cubism", np.random.default_rng(1), size=(32, 40))
    assert np.array_equal(a, paint("Cubism", np.random.default_rng(1), size=(32, 40)))
    assert not np.array_equal(a, paint("Cubism", np.random.default_rng(2), size=(32, 40)))
    with pytest.raises(ArtstyleError, match="unknown style 'Vaporwave'"):
        paint("Vaporwave", np.random.default_rng(0))


def _colour_features(image: np.ndarray) -> np.ndarray:
    pixels = image.reshape(-1, 3).astype(np.float32) / 255
    return np.concatenate([pixels.mean(axis=0), pixels.std(axis=0)])


def _texture_features(image: np.ndarray) -> np.ndarray:
    """Gradient-orientation histograms and edge densities at three scales (no colour)."""
    grey = image.astype(np.float32).mean(axis=2) / 255
    features: list[float] = []
    for _ in range(3):
        gy, gx = np.gradient(grey)
        magnitude = np.hypot(gx, gy)
        angle = np.mod(np.arctan2(gy, gx), np.pi)
        hist, _ = np.histogram(angle, bins=8, range=(0, np.pi), weights=magnitude)
        features += [*(hist / (magnitude.sum() + 1e-6)), magnitude.mean(), (magnitude > 0.1).mean()]
        h, w = grey.shape[0] // 2 * 2, grey.shape[1] // 2 * 2
        grey = grey[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return np.array(features)


def test_mean_colour_is_far_weaker_than_texture() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    styles = ["Impressionism", "Pointillism", "Cubism", "Ukiyo_e", "Color_Field_Painting"]
    styles.append("Action_painting")
    images, labels = [], []
    for k, style in enumerate(styles):  # balanced: 30 per style, 64 px short side
        for i in range(30):
            rng = np.random.default_rng([7, k, i])
            images.append(paint(style, rng, size=(64, 64 + int(rng.integers(6, 21)))))
            labels.append(k)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)

    def accuracy(features: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        return float(cross_val_score(model, features, np.array(labels), cv=folds).mean())

    colour = accuracy(np.stack([_colour_features(im) for im in images]))
    texture = accuracy(np.stack([_texture_features(im) for im in images]))
    # measured: colour 0.38-0.40, texture 0.97-0.98 over four sampling seeds; chance is 1/6
    assert colour < 0.6
    assert texture > 0.85
    assert texture - colour > 0.3


def test_refuses_a_folder_that_is_not_a_synthetic_set(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ArtstyleError, match="not a synthetic data set"):
        make_synthetic(mine, **TINY)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging folder left behind

    with pytest.raises(ArtstyleError, match="is a file"):
        make_synthetic(mine / "notes.txt", **TINY)
    with pytest.raises(ArtstyleError, match="cannot create a folder"):
        make_synthetic(mine / "notes.txt" / "deeper", **TINY)


def test_reuses_or_replaces_an_earlier_set_but_never_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    make_synthetic(out, **TINY)
    marker_mtime = (out / "synthetic.json").stat().st_mtime_ns
    again = make_synthetic(out, **TINY)
    assert again["reused"] is True
    assert (out / "synthetic.json").stat().st_mtime_ns == marker_mtime

    replaced = make_synthetic(out, **{**TINY, "seed": 9, "size": 20})
    assert replaced["reused"] is False
    assert json.loads((out / "synthetic.json").read_text())["params"]["seed"] == 9
    with Image.open(next(out.rglob("*.jpg"))) as image:
        assert min(image.size) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # old set removed

    (out / "train" / "Baroque" / "my-own.png").write_bytes(b"x")
    with pytest.raises(ArtstyleError, match="my-own.png"):
        make_synthetic(out, **TINY)
    assert (out / "train" / "Baroque" / "my-own.png").exists()


def test_empty_folder_is_used(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert make_synthetic(out, **TINY)["n_train"] == 59
    assert scan(out).classes == COURSE_STYLES


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 8}, "--size"),
        ({"seed": -1}, "--seed"),
        ({"test_fraction": 1.0}, "--test-fraction"),
        ({"workers": 0}, "--workers"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ArtstyleError, match=message):
        make_synthetic(tmp_path / "x", **{**TINY, **kwargs})
    assert not (tmp_path / "x").exists()


def test_cli_synth_writes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    code = main(
        ["data", "synth", str(out), *"--scale 0.002 --size 24 --seed 1 --workers 1".split()]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote 59 train + 26 test images of 27 styles" in printed
    assert str(out) in printed.replace("\n", "")
    assert "no test images for: Action_painting" in printed
    assert scan(out).counts("train")["Impressionism"] == 5

    code = main(["data", "synth", str(out), *"--scale 0.002 --size 24 --seed 1 --json".split()])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reused"] is True and summary["n_test"] == 26
    assert summary["counts"]["test"]["Action_painting"] == 0

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.txt").write_text("x")
    assert main(["data", "synth", str(tmp_path / "other"), "--scale", "0.002"]) == 2
    err = capsys.readouterr().err
    assert "not a synthetic data set" in err and "Traceback" not in err
