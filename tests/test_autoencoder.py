"""The convolutional autoencoder, SSIM / PSNR, and ``artstyle train autoencoder``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from artstyle.cli import main
from artstyle.errors import ArtstyleError
from artstyle.models import architecture_names, build_model, model_spec
from artstyle.models.autoencoder import (
    AutoencoderArgs,
    ConvAutoencoder,
    psnr,
    psnr_from_mse,
    reconstruction_loss,
    ssim,
)
from conftest import make_dataset

# ---------------------------------------------------------------- the model


@pytest.mark.parametrize(
    ("size", "widths", "latent_dim", "stem_stride", "bottleneck"),
    [
        (16, [8, 16], 12, 1, "linear"),
        (32, [8, 16, 32], 64, 1, "linear"),
        (64, [8, 16, 32, 32], 256, 1, "linear"),
        (96, [8, 16, 32], 32, 1, "linear"),
        (64, [8, 16], 256, 2, "conv"),  # 8x8 grid of 4 channels
        (128, [8, 16, 32], 1024, 2, "conv"),  # 8x8 grid of 16 channels
        (32, [8, 16], 32, 2, "linear"),
    ],
)
def test_shapes_for_several_sizes(size, widths, latent_dim, stem_stride, bottleneck):
    args = AutoencoderArgs(
        image_size=size,
        widths=widths,
        latent_dim=latent_dim,
        stem_stride=stem_stride,
        bottleneck=bottleneck,
    )
    model = ConvAutoencoder(args).eval()
    x = torch.randn(3, 3, size, size)
    z = model.encode(x)
    assert z.shape == (3, latent_dim)
    out = model.decode(z)
    assert out.shape == (3, 3, size, size)
    assert model(x).shape == (3, 3, size, size)
    assert args.bottleneck_size == size // (stem_stride * 2 ** len(widths))


def test_conv_bottleneck_latent_must_fill_the_grid():
    with pytest.raises(ValueError, match="multiple of 64"):
        AutoencoderArgs(
            image_size=64, widths=[8, 16], stem_stride=2, bottleneck="conv", latent_dim=100
        )
    with pytest.raises(ValueError, match="bottleneck must be"):
        AutoencoderArgs(bottleneck="global")


def test_decoder_output_stays_in_unit_range():
    model = ConvAutoencoder(AutoencoderArgs(image_size=16, widths=[8, 16], latent_dim=8)).eval()
    out = model.decode(torch.randn(5, 8) * 100)  # extreme latents
    assert out.min() >= 0.0
    assert out.max() <= 1.0


def test_size_not_divisible_by_the_stages_is_refused():
    with pytest.raises(ValueError, match=r"divisible by (stem_stride \* )?2\*\*len\(widths\) = 16"):
        AutoencoderArgs(image_size=40, widths=[8, 16, 32, 64])
    with pytest.raises(ArtstyleError, match="conv_ae"):
        build_model("conv_ae", image_size=40)


def test_every_registered_autoencoder_builds_and_round_trips_its_spec():
    names = architecture_names("autoencoder")
    assert "conv_ae" in names
    for name in names:
        model = build_model(name, image_size=32, widths=[8, 16])
        spec = model_spec(model)
        assert spec["kind"] == "autoencoder"
        rebuilt = build_model(spec["architecture"], **spec["args"])
        assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
        assert model.encode(torch.zeros(2, 3, 32, 32)).shape == (2, spec["args"]["latent_dim"])


def test_decoder_upsamples_by_resize_convolution_not_transposed_convolution():
    model = ConvAutoencoder(AutoencoderArgs(image_size=32, widths=[8, 16], upsample="bilinear"))
    kinds = {type(module).__name__ for module in model.modules()}
    assert "ConvTranspose2d" not in kinds
    assert model.up[0].mode == "bilinear"


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = ConvAutoencoder(AutoencoderArgs(image_size=16, widths=[8, 16], latent_dim=16))
    # smooth images (a colour gradient per image) are learnable in a few steps
    ramp = torch.linspace(0, 1, 16)
    colours = torch.rand(8, 3, 1, 1)
    target = (colours * ramp.view(1, 1, 1, 16) + (1 - colours) * ramp.view(1, 1, 16, 1)) / 1.0
    target = target.clamp(0, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = reconstruction_loss(
            model((target - 0.5) / 0.25), target, l1_weight=0.1, ssim_weight=0.1
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- SSIM and PSNR


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=generator)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    noisy_a = (x + 0.05 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    noisy_b = (x + 0.3 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    a, b = float(ssim(noisy_a, x)), float(ssim(noisy_b, x))
    assert 0.5 < a < 0.99
    assert b < a - 0.2
    assert ssim(noisy_a, x, reduction="none").shape == (4,)


def test_ssim_of_two_flat_images_matches_the_formula():
    # flat images: no variance, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1) (Wang et al. 2004, eq. 13)
    a, b = 0.2, 0.6
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    value = ssim(torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b))
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_ssim_is_differentiable_and_handles_small_images():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)  # smaller than the 11-pixel window
    y = torch.rand(2, 3, 8, 8)
    (1 - ssim(x, y)).backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert float(x.grad.abs().sum()) > 0


def test_psnr_of_a_known_mse():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.full((2, 3, 8, 8), 0.1)  # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    assert float(psnr(x, y)) == pytest.approx(20.0, abs=1e-4)
    assert float(psnr(x * 255, y * 255, data_range=255.0)) == pytest.approx(20.0, abs=1e-4)
    assert float(psnr_from_mse(0.001)) == pytest.approx(30.0, abs=1e-4)
    assert float(psnr(x, x)) == pytest.approx(100.0)  # capped instead of infinite


def test_reconstruction_loss_adds_its_weighted_terms():
    x = torch.zeros(1, 3, 16, 16)
    y = torch.full((1, 3, 16, 16), 0.5)
    mse = 0.25
    l1 = 0.5
    one_minus_ssim = 1 - float(ssim(x, y))
    assert float(reconstruction_loss(x, y)) == pytest.approx(mse)
    assert float(reconstruction_loss(x, y, l1_weight=2.0)) == pytest.approx(mse + 2 * l1)
    assert float(reconstruction_loss(x, y, ssim_weight=0.5)) == pytest.approx(
        mse + 0.5 * one_minus_ssim, rel=1e-5
    )


# ---------------------------------------------------------------- the command


TINY = [
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
]


def test_cli_trains_an_autoencoder_run_folder(tiny_data, tmp_path, capsys):
    run = tmp_path / "ae"
    cache = tmp_path / "cache"
    code = main(
        [
            "train",
            "autoencoder",
            "--data",
            str(tiny_data),
            "--out",
            str(run),
            "--epochs",
            "2",
            "--cache-dir",
            str(cache),
            "--val-fraction",
            "0.25",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    for name in (
        "config.yaml",
        "classes.json",
        "model.safetensors",
        "model.json",
        "checkpoints/last.ckpt",
        "metrics.json",
        "history.csv",
        "figures/reconstructions.png",
        "figures/training_curves.png",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 6
    assert metrics["split"] == "test"
    assert 0 < metrics["mse"] < 1
    assert metrics["psnr"] == pytest.approx(metrics["psnr"])  # a number, not NaN
    assert 0 < metrics["psnr"] < 100
    assert -1 <= metrics["ssim"] <= 1
    assert metrics["latent_dim"] == 8
    assert metrics["compression_ratio"] == pytest.approx(3 * 16 * 16 / 8)
    assert {"baseline_psnr_mean_image", "baseline_psnr_downsampled"} <= set(metrics)
    spec = json.loads((run / "model.json").read_text())
    assert spec["architecture"] == "conv_ae"
    assert spec["kind"] == "autoencoder"
    assert spec["args"]["widths"] == [8, 16]
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs
    assert "val_psnr" in history[0] and "val_ssim" in history[0]
    assert json.loads((run / "classes.json").read_text()) == ["Baroque", "Cubism", "Rococo"]

    # evaluate refreshes metrics.json with the same numbers for the same weights
    (run / "metrics.json").unlink()
    assert main(["evaluate", str(run), "--data", str(tiny_data)]) == 0, capsys.readouterr().err
    refreshed = json.loads((run / "metrics.json").read_text())
    assert refreshed["psnr"] == pytest.approx(metrics["psnr"], abs=1e-4)
    assert refreshed["ssim"] == pytest.approx(metrics["ssim"], abs=1e-4)
    assert "PSNR" in capsys.readouterr().out
    (run / "metrics.json").write_text("[1, 2]")  # valid JSON, but not metrics
    assert main(["evaluate", str(run), "--data", str(tiny_data)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "metrics.json does not hold a JSON object of metrics; delete or restore it" in err
    assert (run / "metrics.json").read_text() == "[1, 2]"


def test_cli_refuses_an_existing_run_and_a_size_the_model_cannot_take(tiny_data, tmp_path, capsys):
    run = tmp_path / "ae"
    run.mkdir()
    (run / "config.yaml").write_text("task: autoencoder\n")
    assert main(["train", "autoencoder", "--data", str(tiny_data), "--out", str(run), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    code = main(
        [
            "train",
            "autoencoder",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "b"),
            "--size",
            "18",
            "--widths",
            "8,16",
            "--progress",
            "false",
        ]
    )
    assert code == 2
    assert "divisible" in capsys.readouterr().err


def test_one_style_is_enough_for_an_autoencoder_but_not_for_a_stylizer(tmp_path, capsys):
    # an autoencoder learns no labels: a folder of one style trains; a stylizer swaps styles
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 10}, "test": {"Baroque": 2}})
    run = tmp_path / "ae"
    assert main(["train", "autoencoder", "--data", str(data), "--out", str(run), *TINY]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 2 and math.isfinite(metrics["psnr"])
    assert json.loads((run / "classes.json").read_text()) == ["Baroque"]
    capsys.readouterr()
    args = ["train", "stylizer", "--data", str(data), "--out", str(tmp_path / "st")]
    args += ["--size", "16", "--progress", "false"]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "1 style(s) in train; the stylizer needs at least 2" in err
    assert not (tmp_path / "st").exists()


def test_resume_continues_an_interrupted_run_to_the_planned_steps(tiny_data, tmp_path, capsys):
    run = tmp_path / "ae"
    cache = tmp_path / "cache"
    # a tiny time budget stops the run after its first batch
    code = main(
        [
            "train",
            "autoencoder",
            "--data",
            str(tiny_data),
            "--out",
            str(run),
            "--epochs",
            "2",
            "--cache-dir",
            str(cache),
            "--max-minutes",
            "0.00001",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    from artstyle.train.runs import load_checkpoint

    first = load_checkpoint(run / "checkpoints" / "last.ckpt")["state"]
    assert first["step"] < 6
    assert main(["train", "autoencoder", "--resume", str(run), "--max-minutes", "60"]) == 0, (
        capsys.readouterr().err
    )
    state = load_checkpoint(run / "checkpoints" / "last.ckpt")["state"]
    # 24 train images, 1 per style held out for validation -> 21 -> batches of 8, 8 and 5 per epoch
    assert state["epoch"] == 2
    assert state["step"] == 2 * math.ceil(21 / 8)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stopped"] == "finished"


def test_reference_psnr_of_flat_images_is_perfect():
    from artstyle.data.dataset import pick_spread
    from artstyle.train.tasks.autoencoder import reference_psnr

    images = np.full((4, 16, 16, 3), 200, dtype=np.uint8)
    reference = reference_psnr(images, latent_dim=12)
    assert reference["baseline_psnr_mean_image"] == pytest.approx(100.0)
    assert reference["baseline_psnr_downsampled"] == pytest.approx(100.0, abs=0.1)
    assert reference["baseline_downsampled_side"] == 2
    assert pick_spread(np.array([0, 0, 0, 1, 1, 2]), 4).tolist() == [0, 3, 5, 1]
