"""Cached VAE latents for LoRA training: same losses as decoding, no encoder in the steps, a keyed cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from artstyle.cli import main
from artstyle.generate import lora
from artstyle.generate.lora.tiny_pipeline import build_tiny_pipeline
from conftest import write_image
from test_lora import _config, _one_thread  # noqa: F401 (_one_thread: test_lora's autouse fixture)
from test_lora_buckets import RESOLUTION, shaped_data

# float32 on one CPU thread: the cached path reproduces the decoding path's numbers; the
# tolerance allows for a backend that rounds a conv of 8 images differently from one of 2
LOSS_TOLERANCE = 1e-5
N_STEPS = 4


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")


@pytest.fixture
def encodes(monkeypatch) -> list[int]:
    """The number of images in each VAE encode call on real pixels (64 px zero probes left out)."""
    calls: list[int] = []
    real_encode = AutoencoderKL.encode

    def spy(self, x, *args, **kwargs):
        if bool(x.any()):
            calls.append(int(x.shape[0]))
        return real_encode(self, x, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "encode", spy)
    return calls


def _losses(config, n_steps: int = N_STEPS) -> tuple[list[float], lora.LoraTraining]:
    training = lora.setup_training(config)
    batches = lora.training_batches(training)
    return [lora.train_step(training, batches) for _ in range(n_steps)], training


@pytest.mark.parametrize("buckets", [False, True], ids=["square", "buckets"])
def test_cached_latents_give_the_loss_curve_of_decoded_images(tiny_base, tmp_path, buckets):
    data = shaped_data(tmp_path / "data")
    options = {"resolution": RESOLUTION, "buckets": buckets, "batch_size": 2, "max_steps": N_STEPS}
    decoded, _ = _losses(_config(tiny_base, data, tmp_path / "decoded", **options))
    cached, training = _losses(
        _config(tiny_base, data, tmp_path / "cached", cache_latents=True, **options)
    )
    assert training.latents is not None and training.latents.built
    assert len(set(decoded)) == N_STEPS  # four different batches, not one repeated number
    assert np.max(np.abs(np.array(decoded) - np.array(cached))) <= LOSS_TOLERANCE


def test_training_from_the_cache_never_calls_the_encoder(tiny_base, tmp_path, encodes, monkeypatch):
    data = shaped_data(tmp_path / "data")
    config = _config(
        tiny_base,
        data,
        tmp_path / "run",
        resolution=RESOLUTION,
        buckets=True,
        cache_latents=True,
        max_steps=3,
    )
    training = lora.setup_training(config)
    n_images = len(training.items)
    # every (image, flip) encoded once while the cache was built, then the encoder is freed
    assert sum(encodes) == 2 * n_images
    assert training.models["vae"].encoder is None

    def refuse(*args, **kwargs):
        raise AssertionError("the VAE encoder was called during training")

    monkeypatch.setattr(AutoencoderKL, "encode", refuse)
    first, _ = next(lora.training_batches(training))
    assert (
        first.shape[1] == 2 * training.models["vae"].config.latent_channels
    )  # mean + log-variance
    batches = lora.training_batches(training)
    losses = [lora.train_step(training, batches) for _ in range(3)]
    assert training.step == 3 and all(np.isfinite(losses))


def test_the_cache_is_reused_and_a_changed_image_rebuilds_it(tiny_base, tmp_path, encodes):
    data = shaped_data(tmp_path / "data")
    options = {"resolution": RESOLUTION, "cache_latents": True, "flip": False}
    first = lora.setup_training(_config(tiny_base, data, tmp_path / "one", **options))
    n_images = len(first.items)
    assert first.latents.built and sum(encodes) == n_images  # no flips: one encoding each
    folder = first.latents.folder
    assert (folder / "index.json").is_file() and (
        folder / f"{RESOLUTION}x{RESOLUTION}.npy"
    ).is_file()
    assert folder.parent.name.startswith("data-")  # beside the image cache of this data folder

    encodes.clear()
    again = lora.setup_training(_config(tiny_base, data, tmp_path / "two", **options))
    assert not again.latents.built and encodes == [] and again.latents.folder == folder
    row = again.latents.read(3, flipped=False)
    assert torch.equal(row, first.latents.read(3, flipped=False))

    changed = data / "train" / "Baroque" / "work-0.png"
    write_image(changed, seed=999, size=(200, 200))
    rebuilt = lora.setup_training(_config(tiny_base, data, tmp_path / "three", **options))
    assert rebuilt.latents.built and rebuilt.latents.folder != folder
    assert sum(encodes) == n_images
    index = [item.rel for item in rebuilt.items].index("Baroque/work-0.png")
    other = [item.rel for item in rebuilt.items].index("Rococo/work-0.png")
    assert not torch.equal(
        rebuilt.latents.read(index, flipped=False), first.latents.read(index, flipped=False)
    )
    assert torch.equal(
        rebuilt.latents.read(other, flipped=False), first.latents.read(other, flipped=False)
    )


def test_an_unreadable_image_is_replaced_from_the_cache_too(tiny_base, tmp_path):
    data = shaped_data(tmp_path / "data")
    (data / "train" / "Rococo" / "work-1.png").write_bytes(b"not a png")
    config = _config(
        tiny_base, data, tmp_path / "run", resolution=RESOLUTION, cache_latents=True, max_steps=6
    )
    metrics = lora.train_lora(config)
    assert metrics["steps"] == 6 and metrics["cache_latents"] is True
    assert any(entry.startswith("Rococo/work-1.png") for entry in metrics["unreadable"])


def test_cache_latents_with_a_random_crop_is_refused(tiny_base, tmp_path, capsys):
    data = shaped_data(tmp_path / "data")
    out = tmp_path / "run"
    code = main(["lora", "train", "--base", str(tiny_base), "--data", str(data), "--out", str(out),
                 "--resolution", "64", "--cache-latents", "true", "--crop", "random"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--cache-latents" in err and "--crop center" in err
    assert not out.exists()


def test_one_file_name_in_both_splits_gets_one_cached_row_each(tiny_base, tmp_path):
    # the leakage the audit looks for: the same name under train/ and test/ (--images all)
    data = shaped_data(tmp_path / "data")
    shutil.copyfile(
        data / "train" / "Baroque" / "work-0.png", data / "test" / "Baroque" / "work-0.png"
    )
    config = _config(
        tiny_base, data, tmp_path / "run", resolution=RESOLUTION, cache_latents=True, images="all"
    )
    training = lora.setup_training(config)
    names = [(item.split, item.rel) for item in training.items]
    assert ("train", "Baroque/work-0.png") in names and ("test", "Baroque/work-0.png") in names
    rows = [training.latents.read(i, flipped=False) for i in range(len(training.items))]
    assert len(rows) == len(names)
    train_row = rows[names.index(("train", "Baroque/work-0.png"))]
    test_row = rows[names.index(("test", "Baroque/work-0.png"))]
    assert torch.equal(train_row, test_row)  # the same pixels, encoded twice, the same latent
