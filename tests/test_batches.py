"""Device batches: normalisation values, seeded augmentation, gathering by any index plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artstyle.data import batches as batches_module
from artstyle.data.batches import MEAN, STD, DeviceData, augment, denormalize, normalize
from artstyle.data.cache import load_split
from artstyle.data.scan import scan


def _images(n=6, size=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _gradient_batch(n=32, size=16) -> torch.Tensor:
    """Images that get brighter from left to right, normalised."""
    ramp = np.linspace(0, 255, size).astype(np.uint8)
    images = np.broadcast_to(ramp[None, None, :, None], (n, size, size, 3)).copy()
    return normalize(torch.from_numpy(images))


def test_normalize_shape_dtype_and_values():
    pixels = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    pixels[1] = (255, 0, 0)
    x = normalize(torch.from_numpy(pixels))
    assert (
        x.shape == (2, 3, 4, 4)
        and x.dtype == torch.float32
        and x.is_contiguous(memory_format=torch.channels_last)
    )
    for channel in range(3):
        assert x[0, channel].unique().item() == pytest.approx(
            -MEAN[channel] / STD[channel], abs=1e-5
        )
    assert x[1, 0, 0, 0].item() == pytest.approx((1 - MEAN[0]) / STD[0], abs=1e-5)
    assert x[1, 1, 0, 0].item() == pytest.approx(-MEAN[1] / STD[1], abs=1e-5)
    back = denormalize(x)
    assert back[1, 0].min().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        normalize(x)


def test_normalize_matches_the_formula_for_any_input_layout():
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.integers(0, 256, (3, 6, 10, 3), dtype=np.uint8))
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    expected = (pixels.permute(0, 3, 1, 2).float() / 255 - mean) / std
    # a contiguous batch, a strided one (every other image row) and an empty one
    for batch in (pixels, pixels[:, ::2], pixels[:0]):
        got = normalize(batch)
        assert got.shape == (batch.shape[0], 3, batch.shape[1], batch.shape[2])
        assert torch.allclose(got, expected[:, :, :: 6 // batch.shape[1]][: len(batch)], atol=1e-5)


def test_augment_is_deterministic_for_a_seed():
    x = normalize(torch.from_numpy(_images(8, 16)))
    first = augment(x, torch.Generator().manual_seed(3))
    second = augment(x, torch.Generator().manual_seed(3))
    other = augment(x, torch.Generator().manual_seed(4))
    assert first.shape == x.shape and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)
    low = torch.tensor([-m / s for m, s in zip(MEAN, STD, strict=True)]).view(1, 3, 1, 1)
    high = torch.tensor([(1 - m) / s for m, s in zip(MEAN, STD, strict=True)]).view(1, 3, 1, 1)
    assert (first >= low - 1e-5).all() and (first <= high + 1e-5).all()


def test_flip_alone_mirrors_about_half_the_images():
    x = _gradient_batch()
    out = augment(x, torch.Generator().manual_seed(0), crop_scale=None, jitter=0)
    mirrored = [torch.equal(out[i], x[i].flip(2)) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(
        m != k for m, k in zip(mirrored, kept, strict=True)
    )  # each image is exactly one of the two
    assert 6 <= sum(mirrored) <= 26
    unflipped = augment(x, torch.Generator().manual_seed(0), flip=False, crop_scale=None, jitter=0)
    assert torch.equal(unflipped, x)


def test_flip_inside_the_crop_reverses_the_gradient():
    x = _gradient_batch()
    out = augment(x, torch.Generator().manual_seed(1), jitter=0)
    left, right = out[:, 0, :, 1], out[:, 0, :, -2]
    increasing = (right > left).all(dim=1)
    decreasing = (right < left).all(dim=1)
    assert bool((increasing | decreasing).all())
    assert 6 <= int(decreasing.sum()) <= 26
    no_flip = augment(x, torch.Generator().manual_seed(1), flip=False, jitter=0)
    assert bool((no_flip[:, 0, :, -2] > no_flip[:, 0, :, 1]).all())


def test_crop_zooms_in():
    x = _gradient_batch(16, 32)
    out = augment(
        x, torch.Generator().manual_seed(0), flip=False, crop_scale=(0.25, 0.25), jitter=0
    )
    # a quarter of the area at ratio 3/4..4/3 spans about half the width: the ramp gets steeper
    # per pixel but covers a narrower range of values
    span_in = (x[:, 0, 0, -1] - x[:, 0, 0, 0]).mean()
    span_out = (out[:, 0, 0, -1] - out[:, 0, 0, 0]).mean()
    assert 0.3 * span_in < span_out < 0.7 * span_in


def _shift_of(out: torch.Tensor, x: torch.Tensor, reach: int) -> tuple[int, int] | None:
    """The whole-pixel shift (dy, dx) that maps ``x``'s interior onto ``out``'s, if one does."""
    side = x.shape[-1]
    inner = slice(reach, side - reach)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            moved = x[:, reach + dy : side - reach + dy, reach + dx : side - reach + dx]
            if torch.equal(out[:, inner, inner], moved):
                return dy, dx
    return None


def test_translate_shifts_whole_pixels_within_reach_and_mirrors_the_border():
    x = torch.randn(64, 3, 16, 16)
    out = augment(
        x, torch.Generator().manual_seed(0), flip=False, crop_scale=None, jitter=0, translate=0.125
    )
    shifts = [_shift_of(o, i, reach=2) for o, i in zip(out, x, strict=True)]
    assert all(shift is not None for shift in shifts)  # pixel values kept: no resampling blur
    assert {dy for dy, _ in shifts} == {-2, -1, 0, 1, 2} == {dx for _, dx in shifts}
    # the border mirrors the image: shifted by two rows down, row 0 repeats row 1 and row 1 row 0
    index = shifts.index((-2, 0))
    torch.testing.assert_close(out[index, :, 0], x[index, :, 1])
    torch.testing.assert_close(out[index, :, 1], x[index, :, 0])
    # with flips, mirrored images are shifted the same way
    flipped = augment(
        x, torch.Generator().manual_seed(0), flip=True, crop_scale=None, jitter=0, translate=0.125
    )
    mirrored = [_shift_of(o.flip(-1), i, reach=2) for o, i in zip(flipped, x, strict=True)]
    straight = [_shift_of(o, i, reach=2) for o, i in zip(flipped, x, strict=True)]
    assert all(a is not None or b is not None for a, b in zip(mirrored, straight, strict=True))
    assert sum(a is not None for a in mirrored) > 16
    with pytest.raises(ValueError, match="translate must be in"):
        augment(x, torch.Generator(), crop_scale=None, translate=0.75)


def test_colour_jitter_matches_step_by_step_reference():
    x = normalize(torch.from_numpy(_images(2, 8)))
    factors = torch.tensor([[1.1, 0.9, 1.05], [0.95, 1.1, 0.9]])
    out = batches_module._colour_jitter(x, factors)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    b, c, s = (factors[:, k].view(-1, 1, 1, 1) for k in range(3))
    u = (x * std + mean) * b
    u = c * u + (1 - c) * (u * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    u = s * u + (1 - s) * (u * luma).sum(1, keepdim=True)
    expected = (u.clamp(0, 1) - mean) / std
    assert torch.allclose(out, expected, atol=1e-5)
    identity = batches_module._colour_jitter(x, torch.ones(2, 3))
    assert torch.allclose(identity, x, atol=1e-5)


def test_device_data_batches_cover_the_indices():
    images = _images(10)
    labels = np.arange(10) % 3
    data = DeviceData(images, labels, device=torch.device("cpu"))
    order = np.random.default_rng(0).permutation(10)
    seen_x, seen_y = [], []
    for x, y in data.batches(order, 4):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (3, 8, 8)
        assert x.is_contiguous(memory_format=torch.channels_last)  # what the models run on
        seen_x.append(x)
        seen_y.append(y)
    assert [len(y) for y in seen_y] == [4, 4, 2]
    assert torch.cat(seen_y).tolist() == labels[order].tolist()
    assert torch.equal(torch.cat(seen_x), normalize(torch.from_numpy(images[order])))
    assert [len(y) for _, y in data.batches(order, 4, drop_last=True)] == [4, 4]
    assert data.n_batches(10, 4) == 3 and data.n_batches(10, 4, drop_last=True) == 2


def test_uint8_batches_are_the_cached_rows_in_order():
    images = _images(10)
    labels = np.arange(10) % 3
    data = DeviceData(images, labels, device=torch.device("cpu"))
    order = np.random.default_rng(1).permutation(10)
    raw = list(data.uint8_batches(order, 4))
    assert [len(y) for _, y in raw] == [4, 4, 2]
    assert all(x.dtype == torch.uint8 and x.shape[1:] == (8, 8, 3) for x, _ in raw)
    assert np.array_equal(torch.cat([x for x, _ in raw]).numpy(), images[order])
    assert torch.cat([y for _, y in raw]).tolist() == labels[order].tolist()
    # batches() is exactly the normalised raw read
    for (x, y), (images_uint8, y_raw) in zip(data.batches(order, 4), raw, strict=True):
        assert torch.equal(x, normalize(images_uint8)) and torch.equal(y, y_raw)
    assert [len(y) for _, y in data.uint8_batches(order, 4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        next(data.uint8_batches(order, 0))


def test_indices_with_repeats_and_tensors():
    images = _images(4)
    data = DeviceData(images, [0, 1, 2, 3], "cpu")
    ((x, y),) = list(data.batches(torch.tensor([2, 2, 0, 2]), 8))
    assert y.tolist() == [2, 2, 0, 2]
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[3])
    assert list(data.batches(np.array([], dtype=np.int64), 8)) == []


def test_augmented_batches_are_deterministic():
    data = DeviceData(_images(12, 16), np.zeros(12, dtype=np.int64), "cpu")
    order = np.arange(12)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.cat([x for x, _ in data.batches(order, 5, augment=True, generator=g)])

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))
    # augmented batches come channels_last too, with every augmentation and with flips only
    # (the autoencoder's and stylizer's setting)
    flips_only = DeviceData(
        _images(12, 16), np.zeros(12, dtype=np.int64), "cpu", crop_scale=None, jitter=0.0
    )
    for source in (data, flips_only):
        g = torch.Generator().manual_seed(0)
        for x, _ in source.batches(order, 5, augment=True, generator=g):
            assert x.is_contiguous(memory_format=torch.channels_last)
    plain = torch.cat([x for x, _ in data.batches(order, 5)])
    assert not torch.equal(run(7), plain)


def test_ranks_sharing_a_batch_augment_as_one_process_does():
    """Rank r of 2 holds rows r, r + 2, ... of the global batch (loop.shard) and gets their draws."""
    images = torch.from_numpy(_images(8, 16))
    x = normalize(images)

    def augmented(rows, share):
        g = torch.Generator().manual_seed(11)  # every rank seeds alike (loop.batch_seed)
        return augment(x[rows], g, crop_scale=(0.3, 1.0), jitter=0.2, share=share)

    one = augmented(slice(None), (0, 1))
    two = torch.empty_like(one)
    two[0::2] = augmented(slice(0, None, 2), (0, 2))
    two[1::2] = augmented(slice(1, None, 2), (1, 2))
    assert torch.allclose(one, two, atol=1e-6)
    # without the share each rank would repeat rank 0's draws
    assert not torch.allclose(augmented(slice(1, None, 2), (0, 1)), one[1::2], atol=1e-3)
    with pytest.raises(ValueError, match="rank"):
        augmented(slice(None), (2, 2))


def test_bad_arguments_are_refused():
    data = DeviceData(_images(4), [0, 1, 0, 1], "cpu")
    with pytest.raises(IndexError, match=r"indices must lie in 0\.\.3, got 0\.\.4"):
        list(data.batches([0, 4], 2))
    with pytest.raises(ValueError, match="explicit torch.Generator"):
        list(data.batches([0, 1], 2, augment=True))
    with pytest.raises(ValueError, match="1-D"):
        list(data.batches(np.zeros((2, 2), dtype=np.int64), 2))
    with pytest.raises(TypeError, match="device="):
        DeviceData(_images(4), "cpu")
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        DeviceData(_images(4), [0, 1, 0], "cpu")
    with pytest.raises(ValueError, match=r"\(N, S, S, 3\) uint8"):
        DeviceData(np.zeros((4, 8, 8, 3), dtype=np.float32), [0, 0, 0, 0], "cpu")


def test_from_cached_split_shares_the_memory_map(tiny_data, tmp_path):
    cached = load_split(
        scan(tiny_data), "train", size=16, cache_dir=tmp_path, workers=1, progress=False
    )
    data = DeviceData(cached, device=torch.device("cpu"))
    assert len(data) == 24 and data.image_size == 16
    assert data.images.data_ptr() == cached.images.ctypes.data  # a view, not a copy
    assert data.labels.tolist() == cached.labels.tolist()
    x, y = next(data.batches(np.array([23, 0]), 2))
    assert torch.equal(x, normalize(torch.from_numpy(np.array(cached.images[[23, 0]]))))
    assert y.tolist() == [2, 0]


def test_host_path_gathers_each_batch(monkeypatch):
    """A cache too big for the device stays on the host; batches are gathered and copied over."""
    monkeypatch.setattr(batches_module, "_fits", lambda n_bytes, device: False)
    images = _images(9)
    data = DeviceData(images, np.arange(9), device="cpu")
    assert data.on_device is False
    order = np.array([8, 1, 1, 4, 0])
    got = [x for x, _ in data.batches(order, 2)]
    assert [len(x) for x in got] == [2, 2, 1]
    assert torch.equal(torch.cat(got), normalize(torch.from_numpy(images[order])))
    monkeypatch.undo()
    assert DeviceData(images, np.arange(9), device="cpu").on_device is True


def test_cpu_data_ops_leave_the_thread_setting_as_it_was():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data = DeviceData(_images(6), np.zeros(6, dtype=np.int64), device="cpu")
        seen = []
        for x, _ in data.batches(np.arange(6), 3, augment=True, generator=torch.Generator()):
            seen.append(torch.get_num_threads())  # the caller's code runs with every thread
            assert x.shape == (3, 3, 8, 8)
        assert seen == [2, 2]
        normalize(torch.from_numpy(_images(2)))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_box_grid_is_affine_grid_of_an_axis_aligned_box():
    import torch.nn.functional as F

    from artstyle.data.batches import _box_grid

    torch.manual_seed(0)
    scale_x, shift_x = torch.rand(5) * 2 - 1, torch.rand(5) - 0.5
    scale_y, shift_y = torch.rand(5), torch.rand(5) - 0.5
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = scale_x, shift_x
    theta[:, 1, 1], theta[:, 1, 2] = scale_y, shift_y
    for height, width in ((7, 7), (6, 11)):
        expected = F.affine_grid(theta, [5, 3, height, width], align_corners=False)
        got = _box_grid(scale_x, shift_x, scale_y, shift_y, height, width)
        assert got.shape == (5, height, width, 2)
        assert torch.allclose(got, expected, atol=1e-6)


def test_colour_constants_are_made_once_and_work_outside_inference_mode():
    from artstyle.data import batches

    batches._colour_constants.cache_clear()
    batches._channel_constants.cache_clear()
    pixels = torch.from_numpy(_images(4, 8))
    with torch.inference_mode():  # embedding runs normalize here first
        normalize(pixels)
    scale, shift = batches._channel_constants(torch.device("cpu"), 8)
    assert not scale.is_inference() and not shift.is_inference()
    # the same tensors again: nothing is rebuilt (or copied to the device) per batch
    assert batches._channel_constants(torch.device("cpu"), 8)[0] is scale
    first = batches._colour_constants(torch.device("cpu"), torch.float32)
    assert batches._colour_constants(torch.device("cpu"), torch.float32)[0] is first[0]
    assert torch.allclose(first[0], torch.tensor(MEAN)) and torch.allclose(
        first[1], torch.tensor(STD)
    )
    # and training-mode normalising and augmentation use them: plain tensors come out
    out = augment(normalize(pixels), torch.Generator().manual_seed(0))
    assert not out.is_inference() and torch.isfinite(out).all()


def test_out_size_resizes_each_crop_and_the_uncropped_image():
    x = _gradient_batch(8, 16)
    out = augment(x, torch.Generator().manual_seed(0), out_size=12)
    again = augment(x, torch.Generator().manual_seed(0), out_size=12)
    full = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == (8, 3, 12, 12) and torch.equal(out, again)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert full.shape == (8, 3, 16, 16)
    # the same random boxes, sampled on a coarser grid: each row still spans the same values
    assert torch.allclose(out[:, 0, 0, 0], full[:, 0, 0, 0], atol=0.15)
    # no crop: the whole image resized; a ramp stays a ramp, from one end to the other
    whole = augment(
        x, torch.Generator().manual_seed(0), flip=False, crop_scale=None, jitter=0, out_size=8
    )
    assert whole.shape == (8, 3, 8, 8)
    assert bool((whole[:, 0, :, 1:] > whole[:, 0, :, :-1]).all())
    assert torch.allclose(whole.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-4)
    with pytest.raises(ValueError, match="out_size"):
        augment(x, torch.Generator().manual_seed(0), out_size=0)


def test_device_data_serves_training_crops_at_out_size_and_evaluation_at_full_size():
    data = DeviceData(_images(10, 16), list(range(10)), out_size=12)
    generator = torch.Generator().manual_seed(0)
    ((train_x, _),) = list(data.batches(range(10), 10, augment=True, generator=generator))
    ((eval_x, _),) = list(data.batches(range(10), 10))
    assert train_x.shape == (10, 3, 12, 12)
    assert eval_x.shape == (10, 3, 16, 16)
