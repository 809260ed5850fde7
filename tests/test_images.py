"""Decoding: every mode converts to RGB, every unreadable file raises ImageError with its reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artstyle.data import images
from artstyle.data.images import ImageError, decode_image, decode_item, open_rgb
from artstyle.data.scan import scan
from conftest import write_image


def _solid(path: Path, colour, size=(40, 30), mode="RGB", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **save)
    return path


def _jpeg_bytes(size=(416, 416), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# ---------------------------------------------------------------- unreadable files


def test_truncated_jpeg_is_reported_as_truncated(tmp_path):
    data = _jpeg_bytes((64, 64))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        open_rgb(path)
    assert info.value.reason.startswith("truncated file")
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)"):
        decode_image(path, 16)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a painting\n")
    with pytest.raises(ImageError) as info:
        open_rgb(path)
    assert info.value.reason == "not an image Pillow can read (the file holds text, not image data)"


def test_random_binary_is_unrecognised():
    data = bytes(np.random.default_rng(0).integers(128, 256, size=200, dtype=np.uint8))
    with pytest.raises(ImageError, match="unrecognised format, first bytes"):
        open_rgb(data)


def test_missing_file_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="cannot read file"):
        open_rgb(tmp_path / "nowhere.jpg")


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    path = _solid(tmp_path / "big.png", (10, 20, 30), size=(50, 40))
    with pytest.raises(ImageError) as info:
        open_rgb(path)
    assert "decompression bomb: 50x40 = 0.0 MPixel exceeds" in info.value.reason
    assert "MAX_PIXELS" in info.value.reason
    # the same image passes under the default limit
    monkeypatch.undo()
    assert open_rgb(path).size == (50, 40)


# ---------------------------------------------------------------- modes


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("RGB", (32, 32), (200, 30, 30)).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    image = open_rgb(path)
    assert image.mode == "RGB"
    red, green, blue = np.asarray(image).reshape(-1, 3).mean(axis=0)
    assert abs(red - 200) < 8 and abs(green - 30) < 8 and abs(blue - 30) < 8


def test_greyscale_and_one_bit(tmp_path):
    grey = open_rgb(_solid(tmp_path / "grey.png", 100, mode="L"))
    assert grey.mode == "RGB"
    assert np.asarray(grey)[0, 0].tolist() == [100, 100, 100]
    bits = Image.new("1", (8, 8), 0)
    bits.putpixel((3, 3), 1)
    path = tmp_path / "bits.png"
    bits.save(path)
    array = np.asarray(open_rgb(path))
    assert array[3, 3].tolist() == [255, 255, 255]
    assert array[0, 0].tolist() == [0, 0, 0]


def test_rgba_png_transparent_areas_become_white(tmp_path):
    pixels = np.zeros((10, 20, 4), dtype=np.uint8)
    pixels[:, :10] = (200, 0, 0, 255)  # opaque red on the left
    pixels[:, 10:] = (0, 0, 200, 0)  # fully transparent blue on the right
    pixels[0, 0] = (0, 0, 0, 128)  # half-transparent black over white -> mid grey
    path = tmp_path / "alpha.png"
    Image.fromarray(pixels, "RGBA").save(path)
    array = np.asarray(open_rgb(path))
    assert array[5, 2].tolist() == [200, 0, 0]
    assert array[5, 15].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 1 for v in array[0, 0].tolist())


def test_la_png_transparent_is_white(tmp_path):
    pixels = np.zeros((4, 4, 2), dtype=np.uint8)
    pixels[..., 0] = 30
    pixels[:2, ..., 1] = 255
    path = tmp_path / "la.png"
    Image.fromarray(pixels, "LA").save(path)
    array = np.asarray(open_rgb(path))
    assert array[0, 0].tolist() == [30, 30, 30]
    assert array[3, 3].tolist() == [255, 255, 255]


def test_palette_gif_with_and_without_transparency(tmp_path):
    base = Image.new("P", (8, 8), 1)
    base.putpalette([0, 0, 0, 10, 200, 40] + [0] * 762)
    base.putpixel((0, 0), 0)
    plain = tmp_path / "plain.gif"
    base.save(plain)
    array = np.asarray(open_rgb(plain))
    assert array[4, 4].tolist() == [10, 200, 40]
    assert array[0, 0].tolist() == [0, 0, 0]
    see_through = tmp_path / "transparent.gif"
    base.save(see_through, transparency=0)
    array = np.asarray(open_rgb(see_through))
    assert array[0, 0].tolist() == [255, 255, 255]  # the transparent index is white paper
    assert array[4, 4].tolist() == [10, 200, 40]


@pytest.mark.parametrize(
    ("mode", "see_through", "kept"),
    [("L", 0, 90), ("RGB", (0, 0, 0), (90, 20, 200))],
    ids=["grey", "rgb"],
)
def test_a_png_colour_marked_transparent_becomes_white(tmp_path, mode, see_through, kept):
    image = Image.new(mode, (6, 4), kept)
    image.putpixel((0, 0), see_through)
    path = tmp_path / f"{mode}.png"
    image.save(path, transparency=see_through)  # a PNG tRNS chunk, no alpha channel
    assert Image.open(path).mode == mode and "transparency" in Image.open(path).info
    array = np.asarray(open_rgb(path))
    assert array[0, 0].tolist() == [255, 255, 255]
    grey = [kept] * 3 if mode == "L" else list(kept)
    assert array[3, 5].tolist() == grey


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    array = np.asarray(open_rgb(path))
    assert array[0, :, 0].tolist() == [0, 4, 128, 255]
    assert (array[..., 0] == array[..., 2]).all()


def test_float_and_int32_images_are_scaled(tmp_path):
    float_image = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    path = tmp_path / "float.tif"
    float_image.save(path)
    assert np.asarray(open_rgb(path))[0, :, 1].tolist() == [0, 128, 255]
    # no 8- or 16-bit range holds these values: stretched onto 0..255
    wide = Image.fromarray(np.array([[-50, 100, 205]], dtype=np.int32), "I")
    path = tmp_path / "wide.tif"
    wide.save(path)
    assert np.asarray(open_rgb(path))[0, :, 0].tolist() == [0, 150, 255]


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)  # stored: red left half
    pixels[:, 20:] = (0, 0, 255)  # blue right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = open_rgb(path)
    assert image.size == (20, 40)  # portrait once displayed
    array = np.asarray(image).astype(int)
    assert array[5, 10, 0] > 200 and array[5, 10, 2] < 50  # top: red
    assert array[35, 10, 2] > 200 and array[35, 10, 0] < 50  # bottom: blue


def test_upper_case_extension_spaces_and_non_ascii_names(tmp_path):
    data = make_named(tmp_path)
    index = scan(data)
    rels = [item.rel for item in index.split("train")]
    assert "Fauvism/Ölgemälde mit Raum.JPG" in rels
    assert "Fauvism/日本 画.PNG" in rels
    for item in index.split("train"):
        array = decode_item(item, 12)
        assert array.shape == (12, 12, 3) and array.dtype == np.uint8


def make_named(tmp_path: Path) -> Path:
    root = tmp_path / "named"
    write_image(root / "train" / "Fauvism" / "Ölgemälde mit Raum.JPG", seed=1, fmt="JPEG")
    write_image(root / "train" / "Fauvism" / "日本 画.PNG", seed=2, fmt="PNG")
    write_image(root / "train" / "Ukiyo_e" / "plain.jpeg", seed=3)
    return root


# ---------------------------------------------------------------- draft and resize


def test_jpeg_draft_keeps_short_side_at_least_the_request():
    data = _jpeg_bytes((416, 416))
    assert open_rgb(data).size == (416, 416)
    assert open_rgb(data, draft_size=64).size == (104, 104)  # 1/4 scale: 1/8 would give 52 < 64
    assert open_rgb(data, draft_size=200).size == (208, 208)
    assert open_rgb(data, draft_size=500).size == (416, 416)
    wide = _jpeg_bytes((800, 400))
    assert open_rgb(wide, draft_size=64).size == (200, 100)


def test_draft_does_not_apply_to_png(tmp_path):
    path = _solid(tmp_path / "p.png", (1, 2, 3), size=(416, 416))
    assert open_rgb(path, draft_size=64).size == (416, 416)


def test_crop_keeps_the_centre_square(tmp_path):
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:60] = (0, 255, 0)
    pixels[:, 60:] = (0, 0, 255)
    path = tmp_path / "bands.png"
    Image.fromarray(pixels).save(path)
    out = decode_image(path, 16, "crop")
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[:, 1:15] == np.array([0, 255, 0], dtype=np.uint8)).all()
    # the resampling kernel may see a little past the crop's edge, never much
    assert out[:, [0, 15], 1].min() >= 200 and out[:, [0, 15], 0].max() <= 40


def test_letterbox_fits_and_pads_black(tmp_path):
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:60] = (0, 255, 0)
    pixels[:, 60:] = (0, 0, 255)
    path = tmp_path / "bands.png"
    Image.fromarray(pixels).save(path)
    out = decode_image(path, 16, "letterbox").astype(int)
    assert out.shape == (16, 16, 3)
    # the 16x8 image is centred: 4 black rows on each side
    assert (out[:4] == 0).all() and (out[12:] == 0).all()
    assert out[8, 1].tolist() == [255, 0, 0]
    assert out[8, 8].tolist() == [0, 255, 0]
    assert out[8, 14].tolist() == [0, 0, 255]


def test_decode_matches_full_decode_closely():
    """Draft-mode decoding changes pixels only slightly versus a full decode and resize."""
    smooth = np.linspace(0, 255, 416 * 416 * 3).reshape(416, 416, 3).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=95)
    fast = decode_image(buffer.getvalue(), 64).astype(float)
    full = np.asarray(
        Image.open(io.BytesIO(buffer.getvalue()))
        .convert("RGB")
        .resize((64, 64), Image.Resampling.BICUBIC)
    ).astype(float)
    assert np.abs(fast - full).mean() < 3.0


def test_bad_resize_mode_and_size():
    data = _jpeg_bytes((32, 32))
    with pytest.raises(ValueError, match="resize must be one of crop, letterbox"):
        decode_image(data, 16, "stretch")
    with pytest.raises(ValueError, match="size must be a positive"):
        decode_image(data, 0)
