"""Aspect-ratio buckets for LoRA training: the bucket rules, and batches of real training runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors import safe_open

from artstyle.cli import main
from artstyle.data import images as images_module
from artstyle.generate import lora
from artstyle.generate.lora import buckets as B
from artstyle.generate.lora import data as lora_data_module
from artstyle.generate.lora.tiny_pipeline import build_tiny_pipeline
from conftest import write_image
from test_lora import _config, _one_thread  # noqa: F401 (_one_thread: test_lora's autouse fixture)

RESOLUTION = 128  # buckets of 64 px steps around 128 x 128: (64, 256) ... (128, 128) ... (256, 64)
# (width, height) of each training image: square, 3:1 landscape, 1:3 portrait, and one square
# image smaller than the 128 px bucket, which must go to a smaller bucket instead of being upscaled
SIZES = {
    "Baroque": [(200, 200), (240, 80), (80, 240), (100, 100), (260, 90)],
    "Rococo": [(150, 140), (250, 84), (90, 260), (70, 210)],
}
EXPECTED_BUCKET = {
    (200, 200): (128, 128),
    (150, 140): (128, 128),
    (240, 80): (192, 64),
    (250, 84): (192, 64),
    (260, 90): (192, 64),
    (80, 240): (64, 192),
    (90, 260): (64, 192),
    (70, 210): (64, 192),
    (100, 100): (64, 64),  # 128 x 128 would upscale it: the same shape, rounded down to 64 px
}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")


def shaped_data(root: Path) -> Path:
    """Training PNGs of the sizes in SIZES (a test split too, so none is held out of train)."""
    seed = 0
    for style, sizes in SIZES.items():
        for k, size in enumerate(sizes):
            seed += 1
            write_image(root / "train" / style / f"work-{k}.png", seed=seed, size=size)
        write_image(root / "test" / style / "held.png", seed=100 + seed, size=(64, 64))
    return root


# ---------------------------------------------------------------- the rules


def test_bucket_list_is_64px_steps_of_at_most_the_target_area():
    assert B.bucket_resolutions(128) == [(64, 192), (64, 256), (128, 128), (192, 64), (256, 64)]
    for resolution in (256, 512, 768):
        buckets = B.bucket_resolutions(resolution)
        assert (resolution, resolution) in buckets
        for width, height in buckets:
            assert width % 64 == 0 and height % 64 == 0
            assert width * height <= resolution * resolution
            assert resolution // 2 <= min(width, height) and max(width, height) <= 2 * resolution
            assert (height, width) in buckets  # every shape also upright
    # SD 1.5 at 512: the usual kohya list's 640 x 384 (5:3) and 768 x 320 are there
    assert {(640, 384), (768, 320), (512, 512), (256, 1024)} <= set(B.bucket_resolutions(512))


def test_each_image_gets_the_bucket_nearest_its_shape_and_is_never_upscaled():
    choices = B.bucket_resolutions(RESOLUTION)
    for size, bucket in EXPECTED_BUCKET.items():
        assert B.choose_bucket(size, choices) == bucket, size
    assert B.choose_bucket((50, 300), choices) is None  # under 64 px wide: no bucket fits
    rng = np.random.default_rng(0)
    for resolution in (128, 512):
        choices = B.bucket_resolutions(resolution)
        for width, height in rng.integers(64, 1500, size=(300, 2)):
            bucket = B.choose_bucket((int(width), int(height)), choices)
            assert bucket[0] <= width and bucket[1] <= height
            cover = B.cover_size((int(width), int(height)), bucket)
            # scaled down (or kept) to a size that covers the bucket
            assert bucket[0] <= cover[0] <= width and bucket[1] <= cover[1] <= height
            # the list's shape nearest the image's, or (a small image) that shape made smaller
            nearest = min(choices, key=lambda b: abs(np.log(b[0] / b[1]) - np.log(width / height)))
            assert bucket == nearest or (
                bucket[0] <= nearest[0] and bucket[1] <= nearest[1] and bucket not in choices
            )


def test_an_epoch_holds_every_image_once_in_one_bucket_batches():
    buckets = [(128, 128)] * 5 + [(192, 64)] * 3 + [None] + [(64, 192)] * 2
    batches = B.epoch_batches(buckets, [1] * len(buckets), batch_size=2, seed=3, epoch=0)
    assert sorted(i for batch in batches for i in batch) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]
    assert all(len({buckets[i] for i in batch}) == 1 for batch in batches)
    # 5 -> 2+2+1, 3 -> 2+1, 2 -> 2: each bucket's last partial batch is kept
    assert sorted(len(batch) for batch in batches) == [1, 1, 2, 2, 2, 2]
    assert batches == B.epoch_batches(buckets, [1] * len(buckets), batch_size=2, seed=3, epoch=0)
    assert batches != B.epoch_batches(buckets, [1] * len(buckets), batch_size=2, seed=3, epoch=1)
    # repeats: an item with 3 repeats appears 3 times per epoch
    repeated = B.epoch_batches(buckets, [3] + [1] * 10, batch_size=2, seed=3, epoch=0)
    assert Counter(i for batch in repeated for i in batch)[0] == 3


def test_balance_becomes_repeats_per_style_and_longer_runs_extend_shorter_ones():
    styles = ["Big"] * 12 + ["Small"] * 3
    assert B.style_repeats(styles, "none") == {"Big": 1, "Small": 1}
    assert B.style_repeats(styles, "inverse") == {"Big": 1, "Small": 4}
    assert B.style_repeats(styles, "sqrt") == {"Big": 1, "Small": 2}
    buckets = [(128, 128)] * 7
    plan, batches = B.batch_plan(buckets, [1] * 7, n_batches=9, batch_size=2, seed=0)
    assert len(batches) == 9
    first_epoch = sorted(int(plan[p]) for batch in batches[:4] for p in batch)
    assert first_epoch == list(range(7))  # 7 images in batches of 2: 4 batches per epoch
    short_plan, short = B.batch_plan(buckets, [1] * 7, n_batches=5, batch_size=2, seed=0)
    assert short == batches[:5] and list(short_plan) == list(plan[: len(short_plan)])


# ---------------------------------------------------------------- through training


@pytest.fixture
def recorded(monkeypatch) -> list[dict]:
    """What each bucketed image load decoded and returned."""
    loads: list[dict] = []
    decode = images_module.decode_item_rgb
    real_bucket_pixels = lora_data_module.bucket_pixels

    def spy_decode(item, **kwargs):
        image = decode(item, **kwargs)
        loads.append({"rel": item.rel, "decoded": (image.shape[1], image.shape[0])})
        return image

    def spy_bucket_pixels(item, size, bucket, **kwargs):
        pixels = real_bucket_pixels(item, size, bucket, **kwargs)
        loads[-1].update(size=size, bucket=bucket, out=(pixels.shape[2], pixels.shape[1]))
        return pixels

    monkeypatch.setattr(images_module, "decode_item_rgb", spy_decode)
    monkeypatch.setattr(lora_data_module, "bucket_pixels", spy_bucket_pixels)
    return loads


def test_bucketed_batches_have_one_shape_no_upscaling_and_every_image_per_epoch(
    tiny_base, tmp_path, recorded
):
    data = shaped_data(tmp_path / "data")
    n_images = sum(len(sizes) for sizes in SIZES.values())
    # balance none: one epoch = every image once; 9 images in buckets of 2, 3, 3, 1 -> 1+2+2+1 = 6
    # batches of 2 per epoch; 12 micro-batches = exactly two epochs
    config = _config(
        tiny_base,
        data,
        tmp_path / "run",
        resolution=RESOLUTION,
        buckets=True,
        balance="none",
        batch_size=2,
        max_steps=12,
        validation_every=0,
    )
    training = lora.setup_training(config)
    sizes = {item.rel: size for item, size in zip(training.items, training.sizes, strict=True)}
    assert {rel: bucket for rel, bucket in zip(sizes, training.buckets, strict=True)} == {
        rel: EXPECTED_BUCKET[size] for rel, size in sizes.items()
    }
    epochs: list[list[str]] = [[], []]
    batches = lora.training_batches(training)
    for micro in range(12):
        start = len(recorded)
        pixels, input_ids = next(batches)
        loads = recorded[start:]
        assert len(loads) == pixels.shape[0] == input_ids.shape[0]
        (bucket,) = {load["bucket"] for load in loads}  # one bucket per batch
        assert tuple(pixels.shape[2:]) == (bucket[1], bucket[0])
        for load in loads:
            assert load["out"] == bucket
            # decoded at least as large as it is resized to: only ever scaled down
            cover = B.cover_size(load["size"], bucket)
            assert load["decoded"][0] >= cover[0] and load["decoded"][1] >= cover[1]
            assert cover[0] <= load["size"][0] and cover[1] <= load["size"][1]
        epochs[micro // 6].extend(load["rel"] for load in loads)
    for epoch in epochs:
        assert sorted(epoch) == sorted(sizes), "every image exactly once per epoch"
        assert len(epoch) == n_images
    assert epochs[0] != epochs[1]  # each epoch shuffled anew


def test_bucketed_run_records_buckets_in_its_config_metrics_and_kohya_export(
    tiny_base, tmp_path, capsys
):
    data = shaped_data(tmp_path / "data")
    out = tmp_path / "run"
    args = ["lora", "train", "--base", str(tiny_base), "--data", str(data), "--out", str(out),
            "--resolution", str(RESOLUTION), "--buckets", "true", "--max-steps", "2", "--grad-accum", "1",
            "--batch-size", "2", "--validation-every", "0", "--progress", "false",
            "--accelerator", "cpu"]  # fmt: skip
    code = main(args)
    assert code == 0, capsys.readouterr().err
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["buckets"] is True and config["cache_latents"] is False
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["buckets"] == {"192x64": 3, "128x128": 2, "64x64": 1, "64x192": 3}
    exported = tmp_path / "style.safetensors"
    assert main(["lora", "export", str(out), "--format", "kohya", "--out", str(exported)]) == 0
    with safe_open(str(exported), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["ss_enable_bucket"] == "True" and metadata["ss_cache_latents"] == "False"


def test_buckets_need_a_resolution_in_64px_steps(tiny_base, tmp_path, capsys):
    data = shaped_data(tmp_path / "data")
    out = tmp_path / "run"
    code = main(["lora", "train", "--base", str(tiny_base), "--data", str(data), "--out", str(out),
                 "--resolution", "96", "--buckets", "true", "--max-steps", "1"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert "--buckets" in err and "--resolution 96" in err and "--resolution 128" in err, err
    assert not out.exists()
