"""The statistics expert: colour and texture statistics, the kernel model on them, and the
classifier's mixture of it with the network (train, evaluate, predict)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from artstyle.cli import main
from artstyle.data.texture import N_FEATURES, describe
from artstyle.errors import ArtstyleError
from artstyle.models.statistics import StatisticsExpert
from conftest import classifier_args

GRADIENTS = 146  # after the RGB and HSV moments (18) and the HSV histogram (128)
LBP = GRADIENTS + 40 + 2  # after the gradient histogram and the strength's mean and deviation
LAYOUT = LBP + 256 + 40 + 2 + 256  # after the same three at half the side


def test_a_flat_image_has_only_flat_gradients_and_one_binary_pattern() -> None:
    flat = np.full((64, 64, 3), 128, dtype=np.uint8)
    features = describe(flat)
    assert features.shape == (N_FEATURES,)
    assert features[GRADIENTS] == pytest.approx(1.0)  # orientation 0, strength "flat"
    assert features[GRADIENTS + 1 : GRADIENTS + 40].sum() == pytest.approx(0.0)
    assert features[LBP + 255] == pytest.approx(1.0)  # every neighbour >= the centre
    assert features[0:3] == pytest.approx([128 / 255] * 3, abs=1e-3)  # RGB means
    assert features[3:6] == pytest.approx([0.0] * 3, abs=1e-5)  # no deviation


def test_the_layout_says_where_the_dark_half_is() -> None:
    dark_top = np.full((64, 64, 3), 220, dtype=np.uint8)
    dark_top[:32] = 20
    top, bottom = describe(dark_top), describe(dark_top[::-1].copy())
    assert N_FEATURES == LAYOUT + 16 * 6 + 16
    means = top[LAYOUT : LAYOUT + 96].reshape(4, 4, 6)
    # red in the top and bottom rows of cells (the two middle rows hold the blurred edge)
    assert means[0, :, 0] == pytest.approx(np.full(4, 20 / 255), abs=1e-3)
    assert means[3, :, 0] == pytest.approx(np.full(4, 220 / 255), abs=1e-3)
    assert means[1, 0, 0] < means[2, 0, 0]
    spread = top[LAYOUT + 96 :].reshape(4, 4)
    assert np.allclose(spread[[0, 3]], 0.0, atol=1e-6) and (spread[[1, 2]] > 0.01).all()
    # the same colours, the same amount of edge: only where they sit differs
    assert np.allclose(top[:18], bottom[:18], atol=1e-6)
    assert np.allclose(top[18 : 18 + 128], bottom[18 : 18 + 128])
    assert not np.allclose(top[LAYOUT:], bottom[LAYOUT:])


def test_stripes_of_two_directions_fill_other_orientation_bins() -> None:
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::8] = 255
    stripes[:, 1::8] = 255
    vertical, horizontal = describe(stripes), describe(stripes.transpose(1, 0, 2))
    orient_v = vertical[GRADIENTS : GRADIENTS + 40].reshape(8, 5)[:, 1:].sum(axis=1)
    orient_h = horizontal[GRADIENTS : GRADIENTS + 40].reshape(8, 5)[:, 1:].sum(axis=1)
    # vertical stripes: gradients along x (orientation 0); horizontal: along y (orientation 4)
    assert orient_v.argmax() == 0 and orient_h.argmax() == 4
    assert np.allclose(vertical[:GRADIENTS], horizontal[:GRADIENTS])  # same colours


def test_black_letterbox_bars_are_cut_before_counting(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    painting = rng.integers(40, 255, size=(90, 120, 3), dtype=np.uint8)
    barred = np.zeros((130, 120, 3), dtype=np.uint8)
    barred[20:110] = painting
    Image.fromarray(barred).save(tmp_path / "barred.png")
    assert np.allclose(describe(painting), describe(tmp_path / "barred.png"))
    assert not np.allclose(describe(painting), describe(barred[:, :, ::-1].copy()))


def _clusters(n_per_class: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1, size=(n_classes, 20))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return centres[labels] + rng.normal(0, 0.3, size=(len(labels), 20)), labels


def test_the_expert_separates_styles_and_matches_its_sklearn_pipeline() -> None:
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from artstyle.models import statistics

    x, y = _clusters(30, 3, seed=0)
    expert = StatisticsExpert.fit(x, y, 3, seed=0)
    new_x, new_y = _clusters(10, 3, seed=1)
    log_p = expert.log_probs(new_x)
    assert log_p.shape == (30, 3) and log_p.dtype == np.float32
    assert np.allclose(np.exp(log_p).sum(axis=1), 1.0, atol=1e-5)
    assert (log_p.argmax(axis=1) == new_y).all()
    reference = make_pipeline(
        StandardScaler(),
        Nystroem(gamma=1 / 20, n_components=90, random_state=0),
        LogisticRegression(C=statistics.C, max_iter=2000, class_weight="balanced"),
    ).fit(x, y)
    assert np.allclose(np.exp(log_p), reference.predict_proba(new_x), atol=1e-4)


def test_the_expert_round_trips_through_safetensors_and_refuses_other_files(tmp_path) -> None:
    x, y = _clusters(20, 4, seed=0)
    expert = StatisticsExpert.fit(x, y, 4, seed=0)
    expert.save(tmp_path / "statistics.safetensors")
    again = StatisticsExpert.load(tmp_path / "statistics.safetensors")
    assert np.array_equal(expert.log_probs(x), again.log_probs(x))
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ArtstyleError, match="broken.safetensors"):
        StatisticsExpert.load(tmp_path / "broken.safetensors")


def test_two_styles_and_a_style_without_training_images() -> None:
    x, y = _clusters(20, 3, seed=0)
    keep = y != 1  # style 1 has no training image
    expert = StatisticsExpert.fit(x[keep], y[keep], 3, seed=0)
    log_p = expert.log_probs(x)
    assert (log_p.argmax(axis=1)[keep] == y[keep]).all()
    assert (log_p[:, 1] < log_p[:, [0, 2]].min(axis=1)).all()
    with pytest.raises(ArtstyleError, match="2 styles"):
        StatisticsExpert.fit(x[y == 0], y[y == 0], 3)


# -- the mixture through the command line


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-epoch default-recipe run on 3 styles of distinct palettes: (data, run)."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 3)):
        for style, base in (
            ("Baroque", (40, 20, 10)),
            ("Cubism", (90, 90, 90)),
            ("Fauvism", (200, 40, 160)),
        ):
            for k in range(n):
                pixels = np.clip(np.array(base) + rng.normal(0, 25, (36, 44, 3)), 0, 255)
                path = root / "data" / split / style / f"a-{k}_w-{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint8)).save(path)
    run = root / "run"
    assert main(classifier_args(root / "data", run, root / "cache", "--epochs", "2")) == 0
    return root / "data", run


def test_a_default_run_mixes_the_statistics_expert_in_and_records_each_part(mixed_run) -> None:
    _, run = mixed_run
    assert (run / "statistics.safetensors").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert yaml.safe_load((run / "config.yaml").read_text())["statistics"] == 0.5
    assert metrics["statistics"] == 0.5
    # the palettes alone tell these styles apart; after 2 epochs the network cannot yet
    assert metrics["statistics_balanced_accuracy"] == pytest.approx(1.0)
    assert metrics["balanced_accuracy"] > metrics["network_balanced_accuracy"]


def test_evaluate_and_predict_score_the_mixture(mixed_run, tmp_path, capsys) -> None:
    from artstyle.data.texture import describe as stats_of
    from artstyle.train import runs
    from artstyle.workflows.evaluate import predict

    data, shared = mixed_run
    run = shutil.copytree(shared, tmp_path / "run")
    trained = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("balanced_accuracy", "network_balanced_accuracy", "statistics_balanced_accuracy"):
        assert again[key] == pytest.approx(trained[key])
    assert main(["evaluate", str(run)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "the network and the statistics expert mixed (0.5 : 0.5)" in said
    assert f"of the network alone {trained['network_balanced_accuracy']:.3f}" in said
    image = data / "test" / "Fauvism" / "a-0_w-0.png"
    [mixed] = predict(run, [image], top_k=3)
    # by hand: the network's mirror-averaged probabilities, the expert's log-probabilities
    from artstyle.data.batches import normalize
    from artstyle.data.images import decode_image

    model = runs.load_model(runs.open_run(run))
    x = normalize(torch.from_numpy(decode_image(image, 32)[None]))
    with torch.no_grad():
        network = (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2
    expert = StatisticsExpert.load(run / "statistics.safetensors").log_probs(stats_of(image)[None])
    by_hand = (0.5 * network.log() + 0.5 * torch.from_numpy(expert)).softmax(1)[0]
    classes = ["Baroque", "Cubism", "Fauvism"]
    for entry in mixed["predictions"]:
        assert entry["probability"] == pytest.approx(
            float(by_hand[classes.index(entry["style"])]), abs=1e-4
        )


def test_statistics_zero_trains_the_network_alone(tmp_path, capsys) -> None:
    from conftest import make_dataset

    data = make_dataset(
        tmp_path / "data",
        {"train": {"A": 6, "B": 6}, "test": {"A": 2, "B": 2}},
    )
    run = tmp_path / "run"
    args = classifier_args(data, run, tmp_path / "cache", "--epochs", "1", "--statistics", "0")
    assert main(args) == 0
    assert not (run / "statistics.safetensors").exists()
    assert "network_balanced_accuracy" not in json.loads((run / "metrics.json").read_text())


def test_a_mixed_run_without_its_expert_file_is_refused_and_an_older_run_reads_without(
    mixed_run, tmp_path, capsys
) -> None:
    _, shared = mixed_run
    run = shutil.copytree(shared, tmp_path / "run")
    (run / "statistics.safetensors").unlink()
    before = (run / "metrics.json").read_bytes()
    assert main(["evaluate", str(run)]) == 2
    said = capsys.readouterr().err
    assert "statistics.safetensors not found" in said and "statistics: 0" in " ".join(said.split())
    assert (run / "metrics.json").read_bytes() == before  # nothing written
    # a run written before the expert existed scored with the network alone, and still does
    config = run / "config.yaml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if not line.startswith("statistics:")))
    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert "network_balanced_accuracy" not in metrics
    assert metrics["balanced_accuracy"] == pytest.approx(
        json.loads(before)["network_balanced_accuracy"]
    )


def test_statistics_are_kept_beside_the_image_cache_and_redone_when_a_file_changes(
    tiny_data, tmp_path, monkeypatch
) -> None:
    from artstyle.config import ClassifierConfig
    from artstyle.data import texture
    from artstyle.data.dataset import load_classifier_data
    from conftest import write_image

    config = ClassifierConfig(data=tiny_data, size=32, cache_dir=tmp_path / "cache")
    data = load_classifier_data(config, progress=False)
    rows = np.array([3, 0, 5])
    first = texture.describe_rows(data, "train", rows, progress=False)
    assert (tmp_path / "cache" / "train-statistics-128px.npz").is_file()
    # from the file itself (40 x 32 px, stretched to 128), not from the 32 px cached array
    assert np.allclose(first[0], texture.describe(data.items("train")[3]), atol=1e-5)
    assert not np.allclose(first[0], texture.describe(data.arrays["train"].images[3]), atol=1e-3)
    described: list[int] = []
    real = texture.statistics_pixels
    monkeypatch.setattr(
        texture, "statistics_pixels", lambda *args: described.append(1) or real(*args)
    )
    assert np.array_equal(texture.describe_rows(data, "train", rows, progress=False), first)
    assert described == []  # read back
    changed = tiny_data / "train" / data.arrays["train"].rels[0]
    write_image(changed, seed=999, size=(48, 40))
    data = load_classifier_data(config, progress=False)
    again = texture.describe_rows(data, "train", rows, progress=False)
    assert len(described) == len(data.arrays["train"])  # every row described again
    assert np.allclose(again[0], first[0]) and not np.allclose(again[1], first[1])
