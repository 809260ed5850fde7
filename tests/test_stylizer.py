"""Style-conditioned autoencoder: model, style statistics, training, generation, scores, CLI."""

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
from artstyle.errors import ArtstyleError
from artstyle.generate.stylize import style_indices
from artstyle.models.stylizer import (
    AdaptiveNorm,
    RandomFeatures,
    Stylizer,
    StylizerArgs,
    gram_matrix,
)

# ---------------------------------------------------------------- model


@pytest.mark.parametrize("size", [16, 32, 48])
def test_stylizer_keeps_shape_for_several_sizes(size):
    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8))
    x = torch.randn(2, 3, size, size)
    out = model(x, torch.tensor([0, 2]))
    assert out.shape == (2, 3, size, size)
    assert model.encode(x).shape == (2, 32, size // 4, size // 4)


def test_side_not_divisible_is_refused():
    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8))
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 3, 18, 18), torch.tensor([0]))
    with pytest.raises(ValueError, match="modulation"):
        StylizerArgs(modulation="concat")


def test_style_enters_decoder_at_every_scale():
    # Every AdaIN layer reads the style: at the content resolution and after each upsampling.
    model = Stylizer(StylizerArgs(n_styles=4, width=8, style_dim=8, n_down=3, n_res=2))
    sides = []
    for module in model.modules():
        if isinstance(module, AdaptiveNorm):
            module.register_forward_hook(lambda mod, args, out: sides.append(args[0].shape[-1]))
    model(torch.randn(1, 3, 32, 32), torch.tensor([1]))
    assert sorted(set(sides)) == [4, 8, 16, 32]
    assert len(sides) == 2 * 2 + 3


def _randomize_modulation(model: Stylizer) -> None:
    for module in model.modules():
        if isinstance(module, AdaptiveNorm):
            torch.nn.init.normal_(module.to_scale_shift.weight, std=0.3)
    torch.nn.init.normal_(model.to_rgb.weight, std=0.1)


def test_fresh_model_returns_its_input_for_every_style():
    # The change painted on the input starts at zero: the style must be learned.
    torch.manual_seed(0)
    from artstyle.data.batches import normalize

    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8))
    pixels = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    out = model(normalize(pixels), torch.tensor([[0, 1, 2], [2, 1, 0]]))  # (2, 3, 3, 16, 16)
    expected = pixels.permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(out, expected[:, None].expand_as(out), atol=1.01 / 255)


@pytest.mark.parametrize("modulation", ["film", "adain"])
def test_style_changes_output_once_modulation_is_learned(modulation):
    torch.manual_seed(0)
    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8, modulation=modulation))
    x = torch.randn(2, 3, 16, 16)
    _randomize_modulation(model)
    assert not torch.allclose(
        model(x, torch.tensor([0, 0])), model(x, torch.tensor([1, 1])), atol=1e-3
    )


def test_stylize_with_table_rows_equals_forward():
    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8))
    _randomize_modulation(model)
    x = torch.randn(2, 3, 16, 16)
    styles = torch.tensor([2, 1])
    assert torch.allclose(model(x, styles), model.stylize_with(x, model.style_vectors(styles)))


# ---------------------------------------------------------------- style statistics


def test_gram_matrix_of_known_map():
    # One image, two channels over four positions: [1,1,1,1] and [0,2,0,2].
    f = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]], [[0.0, 2.0], [0.0, 2.0]]]])
    g = gram_matrix(f)
    assert torch.allclose(g, torch.tensor([[[1.0, 1.0], [1.0, 2.0]]]))


def test_gram_ignores_position_but_not_texture():
    torch.manual_seed(0)
    net = RandomFeatures(seed=0)
    stripes = torch.zeros(1, 3, 32, 32)
    stripes[..., ::4, :] = 1.0
    shifted = torch.roll(stripes, shifts=2, dims=2)
    noise = torch.rand(1, 3, 32, 32)
    g_stripes = gram_matrix(net(stripes)[1])
    g_shifted = gram_matrix(net(shifted)[1])
    g_noise = gram_matrix(net(noise)[1])
    same = (g_stripes - g_shifted).abs().mean()
    different = (g_stripes - g_noise).abs().mean()
    assert same < 0.1 * different


def test_random_features_are_fixed_by_seed_and_frozen():
    a, b, c = RandomFeatures(seed=1), RandomFeatures(seed=1), RandomFeatures(seed=2)
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    assert not any(p.requires_grad for p in a.parameters())
    shapes = [f.shape for f in a(torch.randn(1, 3, 32, 32))]
    assert shapes == [(1, 32, 32, 32), (1, 64, 16, 16), (1, 128, 8, 8)]


def test_several_styles_per_image_in_one_call():
    torch.manual_seed(0)
    model = Stylizer(StylizerArgs(n_styles=3, width=8, style_dim=8))
    _randomize_modulation(model)
    x = torch.randn(2, 3, 16, 16)
    styles = torch.tensor([[0, 2], [1, 0]])
    with torch.no_grad():
        out = model(x, styles)
    assert out.shape == (2, 2, 3, 16, 16)
    assert torch.allclose(out[:, 1], model(x, styles[:, 1]), atol=1e-6)
    assert torch.allclose(out[1, 0], model(x[1:], torch.tensor([1]))[0], atol=1e-6)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# ---------------------------------------------------------------- helpers of the training task


def test_embeddings_from_means_keep_how_styles_differ():
    from artstyle.train.tasks.stylizer import embeddings_from_means

    means = np.array([[0.0, 0.0, 5.0], [2.0, 0.0, 5.0], [0.0, 4.0, 5.0]])
    table = embeddings_from_means(means, style_dim=4)
    assert table.shape == (3, 4)
    assert np.allclose(table[:, 2:], 0.0)  # 3 styles span 2 directions; the rest is padding
    assert table[:, :2].std() == pytest.approx(1.0, abs=1e-5)
    # distances between styles keep their ratios (PCA is a rotation of the centred means)
    d = lambda a, b: np.linalg.norm(table[a] - table[b])  # noqa: E731
    assert d(0, 2) / d(0, 1) == pytest.approx(2.0, rel=1e-5)


def test_target_styles_are_never_the_own_style():
    from artstyle.train.tasks.stylizer import fixed_other_styles, random_other_styles

    labels = torch.arange(5).repeat(200)
    other = random_other_styles(labels, 5, torch.Generator().manual_seed(0))
    assert not torch.any(other == labels)
    counts = torch.bincount(other, minlength=5)
    assert counts.min() > 150  # uniform over the other styles: 1000 draws, 200 expected each
    rows = np.arange(1000)
    fixed = fixed_other_styles(rows, labels.numpy(), 5)
    assert not np.any(fixed == labels.numpy())
    assert np.array_equal(fixed, fixed_other_styles(rows, labels.numpy(), 5))
    assert set(np.unique(fixed)) == {0, 1, 2, 3, 4}


def test_training_batches_without_a_generator_use_the_fixed_targets():
    """make_batch on the train split with no generator (evaluating --split train) must not draw
    from any RNG: the target styles are the fixed per-row ones, as for val and test."""
    from artstyle.config import StylizerConfig
    from artstyle.data.dataset import ClassifierData
    from artstyle.train.tasks.stylizer import StylizerTask, fixed_other_styles, random_other_styles

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(12) % 3
    data = ClassifierData.from_arrays(["A", "B", "C"], images, labels, val_fraction=0.25, seed=0)
    task = StylizerTask(StylizerConfig(size=16, accelerator="cpu"), data)
    task.setup(torch.device("cpu"))
    rows = data.indices["train"][:6]
    _, _, own, other = task.make_batch(rows, "train", None)
    assert other.tolist() == fixed_other_styles(rows, labels[rows], 3).tolist()
    assert not torch.any(other == own)
    # with a generator, two ranks of 3 draw the targets one process of 6 draws
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    y = torch.as_tensor(labels[rows])
    one = random_other_styles(y, 3, g())
    two = torch.empty_like(one)
    two[0::2] = random_other_styles(y[0::2], 3, g(), (0, 2))
    two[1::2] = random_other_styles(y[1::2], 3, g(), (1, 2))
    assert torch.equal(one, two)


# ---------------------------------------------------------------- training, generation and scores end to end

STYLES = ("Baroque", "Pointillism", "Ukiyo_e")


def _painting(style: str, seed: int, side: int = 24) -> np.ndarray:
    """A smooth two-colour composition (the content) with a texture that marks the style."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    cy, cx = rng.uniform(0.3, 0.7, 2)
    blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(0.03, 0.08)).astype(float)
    colours = rng.uniform(0.25, 0.75, (2, 3))
    image = colours[0] * (1 - blob[..., None]) + colours[1] * blob[..., None]
    if style == "Baroque":  # horizontal stripes
        image = image * (0.55 + 0.45 * ((np.arange(side) // 2) % 2))[:, None, None]
    elif style == "Pointillism":  # a grid of bright dots
        dots = ((np.arange(side) % 4 == 0)[:, None] & (np.arange(side) % 4 == 0)[None, :]).astype(
            float
        )
        image = np.clip(image + 0.5 * dots[..., None], 0, 1)
    return (image * 255).astype(np.uint8)


def _write_paintings(root: Path, n_train: int = 8, n_test: int = 2) -> Path:
    seed = 0
    for split, n in (("train", n_train), ("test", n_test)):
        for style in STYLES:
            for k in range(n):
                seed += 1
                path = root / split / style / f"artist-{style.lower()}_work-{k:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_painting(style, seed)).save(path)
    return root


STY = [
    "--size",
    "16",
    "--batch-size",
    "8",
    "--width",
    "8",
    "--style-dim",
    "8",
    "--val-fraction",
    "0.125",
    "--lr",
    "0.003",
    "--progress",
    "false",
    "--n-grid",
    "3",
    "--score-images",
    "6",
]


def _classifier_run(path: Path, *, seed: int, size: int = 16) -> Path:
    """A classifier run folder written through the run-folder API (untrained weights: these tests check wiring)."""
    from artstyle.config import ClassifierConfig
    from artstyle.models import build_model
    from artstyle.train import runs

    torch.manual_seed(seed)
    run = runs.create_run(path)
    runs.write_config(run, ClassifierConfig(size=size, seed=seed), task="classifier")
    runs.write_classes(run, list(STYLES))
    runs.save_model(
        run, build_model("resnet_tiny", num_classes=len(STYLES), widths=(8, 16, 32)).eval()
    )
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data, cache, critic, judge, stylizer run): two classifier runs of different seeds and a stylizer trained against one."""
    root = tmp_path_factory.mktemp("sty")
    data = _write_paintings(root / "data")
    cache = root / "cache"
    critic = _classifier_run(root / "critic", seed=0)
    judge = _classifier_run(root / "judge", seed=1)
    run = root / "sty"
    paths = ["--data", str(data), "--out", str(run), "--cache-dir", str(cache)]
    helpers = ["--critic", str(critic), "--judge", str(judge)]
    code = main(
        ["train", "stylizer", *paths, *helpers, "--epochs", "40", "--recon-weight", "4", *STY]
    )
    assert code == 0
    return data, cache, critic, judge, run


def test_training_writes_a_stylizer_run_folder_with_scores(trained):
    data, _, critic, judge, run = trained
    for name in (
        "config.yaml",
        "classes.json",
        "model.safetensors",
        "model.json",
        "checkpoints/last.ckpt",
        "metrics.json",
        "history.csv",
        "figures/style_grid.png",
        "figures/style_embeddings.png",
        "figures/training_curves.png",
    ):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (
        config["task"] == "stylizer"
        and config["critic"] == str(critic)
        and config["judge"] == str(judge)
    )
    spec = json.loads((run / "model.json").read_text())
    assert spec["architecture"] == "stylizer_tiny" and spec["kind"] == "stylizer"
    assert spec["args"]["n_styles"] == 3 and spec["args"]["style_dim"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["chance"] == pytest.approx(1 / 3)
    assert metrics["judge"] == str(judge)
    assert metrics["n_scored_images"] == 6
    assert metrics["n_mismatched_pairs"] == 6 * 2
    for key in (
        "style_hit_rate",
        "content_ssim",
        "own_style_ssim",
        "input_hit_rate",
        "critic_hit_rate",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["own_style_psnr"] > 0
    assert set(metrics["per_style_hit_rate"]) == set(STYLES)
    header = (run / "history.csv").read_text().splitlines()[0]
    assert (
        "val_content_ssim" in header and "train_gram" in header and "val_critic_hit_rate" in header
    )


def _outputs(run: Path, cache: Path, data: Path):
    from artstyle.data.batches import normalize
    from artstyle.data.cache import load_split
    from artstyle.data.scan import scan
    from artstyle.train.runs import load_model, open_run

    model = load_model(open_run(run))
    split = load_split(scan(data), "test", size=16, cache_dir=cache, progress=False)
    x = normalize(torch.from_numpy(np.ascontiguousarray(split.images)))
    labels = torch.from_numpy(split.labels)
    with torch.no_grad():
        every = model(x, torch.arange(3).repeat(len(labels), 1))  # (N, 3 styles, 3, S, S)
    target = torch.from_numpy(np.ascontiguousarray(split.images)).permute(0, 3, 1, 2).float() / 255
    return every, labels, target


def test_changing_only_the_style_changes_the_output_and_own_style_reconstructs(trained):
    from artstyle.models.autoencoder import psnr, ssim

    data, cache, _, _, run = trained
    every, labels, target = _outputs(run, cache, data)
    own = every[torch.arange(len(labels)), labels]  # (N, 3, S, S)
    # the own-style output is the input again: over 20 dB, far better than the mean test image, and on
    # average closer to the input than the outputs under the other styles
    mean_image = target.mean(dim=0, keepdim=True).expand_as(target)
    assert float(psnr(own, target)) > max(20.0, float(psnr(mean_image, target)) + 3.0)
    assert float(ssim(own, target)) > float(ssim(mean_image, target)) + 0.2
    errors = (every - target[:, None]).abs().mean(dim=(2, 3, 4))  # (N, 3 styles)
    own_error = errors[torch.arange(len(labels)), labels]
    assert float(own_error.mean()) < float(errors.sum(dim=1).sub(own_error).mean() / 2)
    # same image, same content code, another style: every picture changes by more than 8-bit rounding, on
    # average by several grey levels
    changes = []
    for other in range(1, 3):
        shifted = every[torch.arange(len(labels)), (labels + other) % 3]
        changes.append((shifted - own).abs().mean(dim=(1, 2, 3)))
    changes = torch.cat(changes)
    assert float(changes.min()) > 1.0 / 255
    assert float(changes.mean()) > 0.03


def test_stylize_cli_image_styles_grid_and_interpolation(trained, tmp_path, capsys):
    data, cache, _, _, run = trained
    image = tmp_path / "photo.jpg"
    Image.fromarray(_painting("Ukiyo_e", 999, side=50)).convert("RGB").save(image)
    out = tmp_path / "styles.png"
    assert (
        main(
            [
                "stylize",
                str(run),
                "--image",
                str(image),
                "--styles",
                "Baroque,Pointillism",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert Image.open(out).size[0] > 100
    assert Image.open(out).format == "PNG"
    grid = tmp_path / "grid.png"
    assert main(["stylize", str(run), "--grid", "3", "--data", str(data), "--out", str(grid)]) == 0
    assert grid.is_file()
    blend = tmp_path / "blend.png"
    assert (
        main(
            [
                "stylize",
                str(run),
                "--image",
                str(image),
                "--interpolate",
                "Baroque,Pointillism",
                "--steps",
                "4",
                "--out",
                str(blend),
            ]
        )
        == 0
    )
    assert blend.is_file()
    text = capsys.readouterr().out
    assert "Baroque, Pointillism" in text and "3 x 3 grid" in text and "4 blends" in text
    for suffix, fmt in ((".jpg", "JPEG"), (".pdf", None)):  # the format the name asks for
        named = tmp_path / f"styles{suffix}"
        args = ["stylize", str(run), "--image", str(image), "--styles", "Baroque"]
        assert main([*args, "--out", str(named)]) == 0
        if fmt:
            assert Image.open(named).format == fmt
        else:
            assert named.read_bytes().startswith(b"%PDF")
    assert main([*args, "--out", str(tmp_path / "styles.xyz")]) == 2
    assert ".xyz is not a figure format" in capsys.readouterr().err


def test_interpolation_ends_are_the_two_styles(trained, tmp_path):
    from artstyle.workflows.stylize import interpolate_styles, stylize_image

    _, _, _, _, run = trained
    image = tmp_path / "photo.png"
    Image.fromarray(_painting("Baroque", 7)).save(image)
    blend = interpolate_styles(
        run, image, "Baroque", "Ukiyo_e", steps=3, out=tmp_path / "b.png", device="cpu"
    )
    direct = stylize_image(run, image, ["Baroque", "Ukiyo_e"], out=tmp_path / "d.png", device="cpu")
    assert np.allclose(blend["outputs"][0], direct["outputs"][0], atol=1e-5)
    assert np.allclose(blend["outputs"][-1], direct["outputs"][1], atol=1e-5)
    middle = blend["outputs"][1]
    assert not np.allclose(middle, blend["outputs"][0], atol=1e-3)


def test_score_cli_writes_metrics_and_refuses_the_critic_as_judge(trained, capsys):
    data, _, critic, judge, run = trained
    assert (
        main(
            [
                "stylize",
                str(run),
                "--score",
                "--judge",
                str(judge),
                "--data",
                str(data),
                "--n-images",
                "3",
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_scored_images"] == 3 and metrics["n_mismatched_pairs"] == 6
    assert json.loads((run / "metrics.json").read_text())["n_scored_images"] == 3
    test_scores = (run / "metrics.json").read_bytes()
    args = ["stylize", str(run), "--score", "--judge", str(judge), "--data", str(data)]
    assert main([*args, "--split", "train", "--n-images", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score_split"] == "train"
    assert (run / "metrics.json").read_bytes() == test_scores  # the held-out numbers stay
    train_scores = json.loads((run / "metrics_train.json").read_text())
    assert (train_scores["score_split"], train_scores["n_scored_images"]) == ("train", 4)
    assert main(["stylize", str(run), "--score", "--judge", str(critic), "--data", str(data)]) == 2
    assert "critic" in capsys.readouterr().err


def test_a_stylizer_blind_to_the_style_asked_for_scores_no_better_than_shuffled_targets(
    trained, tmp_path
):
    from safetensors.torch import load_file, save_file

    from artstyle.generate.stylize import score_stylizer

    data, _, _, judge, run = trained
    blind = shutil.copytree(run, tmp_path / "blind")
    weights = load_file(blind / "model.safetensors")
    table = weights["styles.weight"]
    weights["styles.weight"] = table[:1].repeat(table.shape[0], 1).contiguous()
    save_file(weights, blind / "model.safetensors")
    scores = score_stylizer(blind, judge, data=data, n_images=6, device="cpu")
    # every target gets the same output: the hit rate is what shuffling the targets gives,
    # which can sit above 1/K (a judge that reads the output as any other style hits once)
    assert scores["style_hit_rate"] == pytest.approx(scores["shuffled_target_hit_rate"])
    assert scores["shuffled_target_hit_rate"] <= 1 / (3 - 1)
    trained_scores = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= trained_scores["shuffled_target_hit_rate"] <= 0.5


def test_a_judge_of_other_styles_is_refused_before_training(trained, tmp_path, capsys):
    data, cache, critic, _, _ = trained
    judge = _classifier_run(tmp_path / "judge", seed=2)
    (judge / "classes.json").write_text(json.dumps(["Cubism", "Fauvism", "Rococo"]))
    run = tmp_path / "sty"
    args = ["train", "stylizer", "--data", str(data), "--out", str(run), "--cache-dir", str(cache)]
    assert main([*args, "--critic", str(critic), "--judge", str(judge), *STY]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"--judge {judge} was trained on 3 styles, the stylizer's data has 3" in err
    assert "it lacks Baroque, Pointillism, Ukiyo_e; it has Cubism, Fauvism, Rococo besides" in err
    assert not (run / "history.csv").exists() and not (run / "model.safetensors").exists()


def test_bad_stylize_input_is_one_clear_line(trained, tmp_path, capsys):
    data, _, _, _, run = trained
    image = tmp_path / "photo.png"
    Image.fromarray(_painting("Baroque", 7)).save(image)
    assert main(["stylize", str(run), "--image", str(image), "--styles", "Baroque,Vaporwave"]) == 2
    err = capsys.readouterr().err
    assert "Vaporwave" in err and "Pointillism" in err
    assert (
        main(["stylize", str(run), "--image", str(tmp_path / "missing.jpg"), "--styles", "Baroque"])
        == 2
    )
    assert "not found" in capsys.readouterr().err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    assert main(["stylize", str(run), "--image", str(broken), "--styles", "Baroque"]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["stylize", str(run), "--styles", "Baroque"]) == 2
    assert "--image" in capsys.readouterr().err
    assert main(["stylize", str(run), "--grid", "3", "--score"]) == 2
    assert "exactly one" in capsys.readouterr().err
    assert main(["stylize", str(tmp_path), "--grid", "3"]) == 2
    capsys.readouterr()
    for device, says in (("banana", "is not a device"), ("cuda:7", "cuda:7")):
        args = ["stylize", str(run), "--image", str(image), "--styles", "Baroque"]
        assert main([*args, "--device", device]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
    # the source image is never the output; a folder as --out gets the default name inside it
    before = image.read_bytes()
    for mode in (["--styles", "Baroque"], ["--interpolate", "Baroque,Pointillism"]):
        assert main(["stylize", str(run), "--image", str(image), *mode, "--out", str(image)]) == 2
        assert "is the --image file itself" in " ".join(capsys.readouterr().err.split())
    assert image.read_bytes() == before
    args = ["stylize", str(run), "--image", str(image), "--styles", "Baroque"]
    assert main([*args, "--out", f"{tmp_path / 'figs'}/"]) == 0
    assert (tmp_path / "figs" / "stylized.png").is_file()
    steps = ["--interpolate", "Baroque,Pointillism", "--steps", "1000"]
    assert main(["stylize", str(run), "--image", str(image), *steps]) == 2
    assert "--steps must be 2 (both ends) to 32" in capsys.readouterr().err


def test_a_grid_drawn_later_keeps_the_runs_own_grid_and_scores_say_where_they_went(
    trained, tmp_path, capsys
):
    data, _, _, judge, shared = trained
    run = shutil.copytree(shared, tmp_path / "sty")
    own = (run / "figures" / "style_grid.png").read_bytes()
    assert main(["stylize", str(run), "--grid", "2", "--split", "train", "--data", str(data)]) == 0
    assert (run / "figures" / "style_grid.png").read_bytes() == own
    assert (run / "figures" / "style_grid_train_2.png").is_file()
    capsys.readouterr()
    args = ["stylize", str(run), "--score", "--judge", str(judge), "--data", str(data)]
    assert main([*args, "--split", "train", "--n-images", "3"]) == 0
    assert f"wrote {run / 'metrics_train.json'}" in " ".join(capsys.readouterr().out.split())


def test_style_names_as_people_type_them():
    # classes.json may hold "Post Impressionism" or "Ukiyo_e"; any spacing and case finds it
    classes = ["Baroque", "Post Impressionism", "Ukiyo_e", "Naïve Art"]
    typed = ["post impressionism", "Post_Impressionism", "ukiyo-e", "Ukiyo e", "NAÏVE_ART"]
    assert style_indices(typed, classes) == [1, 1, 2, 2, 3]
    assert style_indices("Baroque, Ukiyo_e", classes) == [0, 2]
    with pytest.raises(ArtstyleError, match="choose from: Baroque, Post Impressionism"):
        style_indices(["Rococo"], classes)


def test_train_refuses_the_critic_as_judge_and_a_classifier_as_stylizer(trained, tmp_path, capsys):
    data, cache, critic, _, _ = trained
    code = main(
        [
            "train",
            "stylizer",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "x"),
            "--critic",
            str(critic),
            "--judge",
            str(critic),
            "--cache-dir",
            str(cache),
            *STY,
        ]
    )
    assert code == 2
    assert "second classifier" in capsys.readouterr().err
    assert main(["stylize", str(critic), "--grid", "3", "--data", str(data)]) == 2
    assert "not a stylizer" in capsys.readouterr().err


def test_init_from_a_run_and_resume(trained, tmp_path, capsys):
    from artstyle.train.runs import load_checkpoint, load_model, open_run

    data, cache, critic, _, _ = trained
    run = tmp_path / "sty"
    # random Gram features, embeddings started at the classifier's per-style mean features, stopped after one batch
    code = main(
        [
            "train",
            "stylizer",
            "--data",
            str(data),
            "--out",
            str(run),
            "--init-styles",
            str(critic),
            "--epochs",
            "2",
            "--cache-dir",
            str(cache),
            "--max-minutes",
            "0.00001",
            "--helpers",
            "none",
            *STY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    # --helpers none: today's run, with no critic or judge of its own
    assert "[stylizer]" not in capsys.readouterr().out
    assert not (run / "critic").exists() and not (run / "judge").exists()
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["state"]["step"] < 6
    table = load_model(open_run(run)).styles.weight.detach()
    assert (
        table[:, 2:].abs().max() < 0.05
    )  # 3 styles: two principal directions, the rest starts at zero
    # killed before its first checkpoint: resume starts over from step 0, from the same table
    import shutil

    early = shutil.copytree(run, tmp_path / "sty-early")
    (early / "checkpoints" / "last.ckpt").unlink()
    (early / "model.safetensors").unlink()
    capsys.readouterr()
    assert main(["train", "stylizer", "--resume", str(early)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    assert "over from step 0" in " ".join((printed.out + printed.err).split())
    restarted = load_model(open_run(early)).styles.weight.detach()
    assert restarted[:, 2:].abs().max() < 0.05
    assert main(["train", "stylizer", "--resume", str(run), "--max-minutes", "60"]) == 0, (
        capsys.readouterr().err
    )
    state = load_checkpoint(run / "checkpoints" / "last.ckpt")["state"]
    assert state["epoch"] == 2 and state["step"] == 2 * 3  # 21 train images in batches of 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["style_features"] == "random" and metrics["style_hit_rate"] is None
    assert metrics["critic"] is None and "shuffled_target_hit_rate" not in metrics
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["helpers"] == "none" and config["critic"] is None and config["judge"] is None


def test_evaluate_of_a_run_without_a_judge_names_the_command_that_scores_it(
    trained, tmp_path, capsys
):
    _, _, _, _, run = trained
    copy = tmp_path / "no-judge"
    shutil.copytree(run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["judge"] = None
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    capsys.readouterr()
    assert main(["evaluate", str(copy)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"artstyle stylize {copy} --score --judge CLASSIFIER_RUN" in err


# ---------------------------------------------------------------- one command: the run trains its own critic and judge


def _run_main(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` with its stdout captured (for module fixtures, where capsys is not available)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


HELPED = [*STY, "--epochs", "2", "--helper-epochs", "1"]


@pytest.fixture(scope="module")
def helped(tmp_path_factory):
    """A stylizer run given neither --critic nor --judge, stopped after its first batch; what it
    printed, wrote in metrics.json and config.yaml."""
    root = tmp_path_factory.mktemp("helped")
    data = _write_paintings(root / "data")
    cache = root / "cache"
    run = root / "sty"
    paths = ["--data", str(data), "--out", str(run), "--cache-dir", str(cache)]
    code, out = _run_main(["train", "stylizer", *paths, *HELPED, "--max-minutes", "0.00001"])
    assert code == 0, out
    return {
        "data": data,
        "cache": cache,
        "run": run,
        "out": " ".join(out.split()),
        "metrics": json.loads((run / "metrics.json").read_text()),
        "config": yaml.safe_load((run / "config.yaml").read_text()),
    }


def test_without_critic_and_judge_the_run_trains_both_and_the_judge_scores_it(helped):
    run, out = helped["run"], helped["out"]
    seeds = {}
    for role in ("critic", "judge"):
        helper = yaml.safe_load((run / role / "config.yaml").read_text())
        assert helper["task"] == "classifier" and helper["model"] == "resnet_tiny"
        assert helper["size"] == 16 and helper["epochs"] == 1 and helper["devices"] == 1
        assert helper["balance"] == "logit-adjust" and helper["batch_size"] == 64
        assert (run / role / "metrics.json").is_file() and (
            run / role / "model.safetensors"
        ).is_file()
        assert json.loads((run / role / "classes.json").read_text()) == list(STYLES)
        seeds[role] = helper["seed"]
        assert (
            f"[stylizer] no --{role} given: training one into {run / role} "
            f"(resnet_tiny, 16 px, 1 epoch, seed {helper['seed']})" in out
        )
        # recorded absolute, so --resume, evaluate and stylize --score find them
        assert helped["config"][role] == str((run / role).resolve())
    assert seeds == {"critic": 1000, "judge": 2000}
    assert out.index("no --critic given") < out.index("no --judge given")
    metrics = helped["metrics"]
    assert metrics["judge"] == str((run / "judge").resolve())
    assert metrics["critic"] == str((run / "critic").resolve())
    assert metrics["style_features"] == "critic"
    for key in ("style_hit_rate", "shuffled_target_hit_rate", "content_ssim", "critic_hit_rate"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["chance"] == pytest.approx(1 / 3)
    # the result line: the judge's hit rate beside chance and the shuffled-target floor, and SSIM
    last = out[out.index("style-hit rate") :]
    assert "vs chance 0.333" in last and "targets shuffled" in last and "content SSIM" in last


def test_resume_reuses_the_critic_and_judge_it_trained(helped, capsys):
    run = helped["run"]
    files = [
        run / role / name
        for role in ("critic", "judge")
        for name in ("model.safetensors", "metrics.json")
    ]
    before = [path.stat().st_mtime_ns for path in files]
    assert main(["train", "stylizer", "--resume", str(run), "--max-minutes", "60"]) == 0
    out = capsys.readouterr().out
    assert "[stylizer]" not in out and "style-hit rate" in out
    assert [path.stat().st_mtime_ns for path in files] == before
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stopped"] == "finished" and metrics["epochs_run"] == 2
    assert metrics["judge"] == str((run / "judge").resolve())
    assert 0.0 <= metrics["style_hit_rate"] <= 1.0


def test_a_given_critic_trains_only_the_judge(helped, tmp_path, capsys):
    critic = helped["run"] / "critic"
    run = tmp_path / "sty"
    paths = ["--data", str(helped["data"]), "--out", str(run), "--cache-dir", str(helped["cache"])]
    assert main(["train", "stylizer", *paths, *HELPED, "--critic", str(critic)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no --judge given: training one into" in out and "no --critic given" not in out
    assert not (run / "critic").exists() and (run / "judge" / "metrics.json").is_file()
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["critic"] == str(critic) and config["judge"] == str((run / "judge").resolve())
    assert json.loads((run / "metrics.json").read_text())["style_hit_rate"] is not None


def test_a_rerun_reuses_a_finished_helper_and_trains_an_unfinished_one_again(
    helped, tmp_path, capsys
):
    # the first command stopped while the judge trained: RUN holds no config.yaml yet
    run = tmp_path / "sty"
    for role in ("critic", "judge"):
        shutil.copytree(helped["run"] / role, run / role)
    (run / "judge" / "metrics.json").unlink()
    paths = ["--data", str(helped["data"]), "--out", str(run), "--cache-dir", str(helped["cache"])]
    capsys.readouterr()
    assert main(["train", "stylizer", *paths, *HELPED, "--epochs", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"no --critic given: using the one trained earlier in {run / 'critic'}" in out
    assert "no --judge given: training one into" in out
    assert (run / "judge" / "metrics.json").is_file()
    # a helper folder made with other settings is refused, not overwritten
    other = tmp_path / "other"
    shutil.copytree(helped["run"] / "critic", other / "critic")
    paths = [
        "--data",
        str(helped["data"]),
        "--out",
        str(other),
        "--cache-dir",
        str(helped["cache"]),
    ]
    assert main(["train", "stylizer", *paths, *HELPED, "--seed", "5"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds a run with other settings (seed: 1000 there, 1005 here)" in err


def test_train_stylizer_help_lists_every_config_key(capsys):
    from artstyle.config import StylizerConfig

    assert main(["train", "stylizer", "--help"]) == 0
    text = capsys.readouterr().out
    for name in StylizerConfig.model_fields:
        assert f"--{name.replace('_', '-')} " in text, name
    assert "--helpers train|none [train]" in text and "--helper-epochs int [12]" in text
