"""Hostile input: random and mutated bytes as images, CSV rows, parquet rows, checkpoints, weights, configs.

Property-based (hypothesis): whatever the bytes, scan / decode / cache / audit
never crash; a bad file is a reported skip, a bad collection or file of
settings is one clear ArtstyleError. Decompression bombs, huge declared
dimensions and paths that leave the data root are refused with a message.

    python -m pytest -q tests/test_hostile.py
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from artstyle.cli import main
from artstyle.config import ClassifierConfig, load_config, read_config_file
from artstyle.data import images
from artstyle.data.audit import audit
from artstyle.data.cache import load_split
from artstyle.data.images import ImageError, decode_image
from artstyle.data.scan import scan
from artstyle.errors import ArtstyleError
from artstyle.models import build_model
from artstyle.train import runs
from conftest import write_image

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def folder():
    """A fresh temporary folder per hypothesis example (function fixtures are shared by all examples)."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as name:
        yield Path(name)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _seed_images() -> list[bytes]:
    """Valid encodings in every format the scanner accepts, the raw material of the mutations."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8), "RGB")
    return [
        _encode(rgb, "JPEG", quality=80),
        _encode(rgb, "JPEG", progressive=True),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgb.convert("CMYK"), "JPEG"),
        _encode(rgb, "PNG"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(rgb.convert("P"), "GIF"),
        _encode(rgb, "BMP"),
        _encode(rgb, "TIFF"),
        _encode(rgb, "WEBP"),
    ]


SEEDS = _seed_images()


@st.composite
def mutated(draw, seeds: list[bytes] = SEEDS) -> bytes:
    """A valid encoding with a few bytes overwritten, a run inserted or deleted, or the tail cut."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        else:
            data = data[:position]
    return bytes(data)


def _decodes_or_reports(data: bytes, size: int = 8) -> None:
    for resize in ("crop", "letterbox"):
        try:
            pixels = decode_image(data, size, resize)
        except ImageError as exc:
            assert exc.reason  # a reason a person can read
        else:
            assert pixels.shape == (size, size, 3) and pixels.dtype == np.uint8


# ---------------------------------------------------------------- images


@FAST
@given(st.binary(max_size=512))
def test_random_bytes_are_an_image_error_never_a_crash(data):
    _decodes_or_reports(data)


@FAST
@given(mutated())
def test_mutated_images_decode_or_are_an_image_error(data):
    _decodes_or_reports(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds (almost) no pixels: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b""))
        + _chunk(b"IEND", b"")
    )


def _gif_header(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00\x3b"


def _jpeg_header(width: int, height: int) -> bytes:
    data = bytearray(SEEDS[0])
    sof = data.index(b"\xff\xc0")  # baseline frame header: precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


MAKERS = [_png_header, _gif_header, _jpeg_header]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(MAKERS), st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_huge_declared_dimensions_are_refused(make, width, height):
    limit = (
        2**16 - 1 if make in (_gif_header, _jpeg_header) else 2**31 - 1
    )  # the formats' own fields
    width, height = min(width, limit), min(height, limit)
    assume(width * height > images.MAX_PIXELS)
    with pytest.raises(ImageError, match="decompression bomb"):
        decode_image(make(width, height), 16)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(MAKERS), st.integers(1, 4000), st.integers(1, 4000))
def test_the_pixel_limit_holds_even_when_pillow_checks_nothing(make, width, height):
    """Some libraries switch Pillow's own bomb check off for the whole process; artstyle's limit stays.

    The limit is lowered to 100 kPixel so that, were the check missing, the
    decoder would allocate megabytes and not gigabytes before failing this test.
    """
    assume(width * height > 100_000)
    previous_limit, previous_pillow = images.MAX_PIXELS, Image.MAX_IMAGE_PIXELS
    images.MAX_PIXELS, Image.MAX_IMAGE_PIXELS = 100_000, None
    try:
        with pytest.raises(ImageError, match=f"decompression bomb: {width}x{height} = "):
            decode_image(make(width, height), 16)
    finally:
        images.MAX_PIXELS, Image.MAX_IMAGE_PIXELS = previous_limit, previous_pillow


def test_a_compressed_bomb_is_refused_before_it_is_inflated(monkeypatch):
    """6000 x 6000 of one colour compresses to ~100 kB; over a 20 MPixel limit it is refused unopened."""
    monkeypatch.setattr(images, "MAX_PIXELS", 20_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    row = b"\x00" + b"\x00" * (3 * 6_000)
    body = zlib.compress(row * 6_000, 9)
    bomb = b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", 6_000, 6_000, 8, 2, 0, 0, 0)
    )
    bomb += _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match=r"decompression bomb: 6000x6000 = 36\.0 MPixel exceeds"):
        decode_image(bomb, 16)


# ---------------------------------------------------------------- folders, CSV rows, parquet rows


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), mutated()), min_size=1, max_size=5))
def test_scan_cache_and_audit_report_every_bad_file_and_never_crash(blobs):
    with folder() as root:
        for k in range(2):  # two good images per style keep the collection trainable
            write_image(root / "train" / "Baroque" / f"good-{k}.jpg", seed=k, size=(12, 12))
            write_image(root / "train" / "Cubism" / f"good-{k}.png", seed=10 + k, size=(12, 12))
        for k, blob in enumerate(blobs):
            (root / "train" / ("Baroque", "Cubism")[k % 2] / f"hostile-{k}.jpg").write_bytes(blob)
        index = scan(root, test_fraction=0.25)
        assert len(index.items) == 4 + len(blobs)
        for split in ("train", "test"):
            try:
                cached = load_split(
                    index, split, size=8, cache_dir=root / "cache", workers=1, progress=False
                )
            except ArtstyleError as exc:  # every image of the split is hostile: refused as a whole
                assert "could be decoded" in str(exc)
                continue
            assert len(cached) + len(cached.failed) == len(index.split(split))
            assert all(f.reason and "hostile-" in f.path for f in cached.failed)
            assert cached.images.shape[1:] == (8, 8, 3)
        report = audit(index, workers=1, progress=False)
        assert all(entry["reason"] and "hostile-" in entry["path"] for entry in report.unreadable)


ESCAPING = [
    "../outside.jpg",
    "Baroque/../../outside.jpg",
    "/etc/passwd.jpg",
    "C:\\outside.jpg",
    "..\\outside.jpg",
    "Baroque/\x00.jpg",
    "Baroque/link.jpg",
]
csv_rows = st.one_of(
    st.sampled_from(ESCAPING).map(lambda path: f"{path},0"),
    st.sampled_from(
        [
            "Baroque/a_one.jpg,0",
            "Baroque/b_two.jpg,0",
            "Rococo/c_three.jpg,1",
            "Rococo/missing.jpg,1",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1").replace("\n", "").replace("\r", "")),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(csv_rows, max_size=12), st.booleans())
def test_artgan_csv_rows_never_crash_and_never_leave_the_data_root(rows, huge_field):
    with folder() as root:
        outside = root / "outside.jpg"
        write_image(outside, seed=99, size=(12, 12))  # what an escaping row would reach
        images_root = root / "release" / "wikiart"
        write_image(images_root / "Baroque" / "a_one.jpg", seed=1, size=(12, 12))
        write_image(images_root / "Baroque" / "b_two.jpg", seed=2, size=(12, 12))
        write_image(images_root / "Rococo" / "c_three.jpg", seed=3, size=(12, 12))
        (images_root / "Baroque" / "link.jpg").symlink_to(outside)
        text = "Baroque/a_one.jpg,0\nRococo/c_three.jpg,1\n" + "".join(f"{row}\n" for row in rows)
        if huge_field:
            text += "Baroque/" + "x" * 200_000 + ".jpg,0\n"  # over the csv module's field limit
        csv_dir = root / "release" / "wikiart_csv"
        csv_dir.mkdir()
        (csv_dir / "style_train.csv").write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            index = scan(root / "release")
        except ArtstyleError as exc:
            assert "style_train.csv" in str(exc)  # e.g. one style given two indices
            return
        for item in index.items:
            assert Path(item.source).resolve().is_relative_to(images_root.resolve())
            assert ".." not in item.rel.split("/")
        assert str(outside) not in {item.source for item in index.items}
        reasons = " | ".join(s.reason for s in index.skipped)
        for escaping in ESCAPING:
            # (a stray quote earlier makes the row part of a joined, skipped row instead)
            if f"{escaping},0" in rows and not any('"' in row for row in rows):
                assert "refused path" in reasons
        if huge_field:
            assert "unreadable CSV row: field larger than field limit" in reasons


hostile_labels = st.one_of(st.integers(-3, 6), st.none())
hostile_names = st.one_of(
    st.sampled_from(["Baroque", "Rococo", "../up", "a/b", "", " ", "..", "x\x00y"]),
    st.text(max_size=8),
)
image_cells = st.one_of(
    st.sampled_from(SEEDS[:3]),
    st.binary(max_size=64),
    mutated(SEEDS[:2]),
    st.none(),
)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(hostile_labels, image_cells), min_size=1, max_size=8),
    st.lists(hostile_names, min_size=0, max_size=4),
    st.sampled_from(["binary", "hf-struct", "string-labels"]),
)
def test_parquet_rows_are_cached_or_listed_never_a_crash(rows, names, layout):
    with folder() as root:
        labels = [label for label, _ in rows]
        cells = [cell for _, cell in rows]
        if layout == "string-labels":
            label_array = pa.array(
                [
                    None if v is None else (names[v % len(names)] if names else str(v))
                    for v in labels
                ]
            )
        else:
            label_array = pa.array(labels, type=pa.int64())
        if layout == "hf-struct":
            # a Hugging Face Image feature; the path points outside and must never be opened
            image_array = pa.array([{"bytes": cell, "path": "/etc/passwd"} for cell in cells])
        else:
            image_array = pa.array(cells, type=pa.binary())
        table = pa.table({"image": image_array, "label": label_array})
        if names:
            meta = {"info": {"features": {"label": {"names": names}}}}
            table = table.replace_schema_metadata({b"huggingface": json.dumps(meta).encode()})
        pq.write_table(table, root / "train.parquet")
        try:
            index = scan(root, test_fraction=0.3)
        except ArtstyleError as exc:
            assert str(exc)
            return
        assert len(index.items) + len(index.skipped) == len(rows)
        for item in index.items:
            assert item.style.strip() and "/" not in item.style and ".." != item.style
        for split in ("train", "test"):
            if not index.split(split):
                continue
            try:
                cached = load_split(
                    index, split, size=8, cache_dir=root / "cache", workers=1, progress=False
                )
            except ArtstyleError as exc:
                assert "could be decoded" in str(exc)
                continue
            assert len(cached) + len(cached.failed) == len(index.split(split))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_damaged_parquet_files_are_skipped_or_refused(data):
    with folder() as root:
        table = pa.table({"image": [SEEDS[0], SEEDS[4]] * 3, "label": [0, 1] * 3})
        meta = {"info": {"features": {"label": {"names": ["Baroque", "Rococo"]}}}}
        buffer = io.BytesIO()
        pq.write_table(
            table.replace_schema_metadata({b"huggingface": json.dumps(meta).encode()}), buffer
        )
        raw = data.draw(mutated([buffer.getvalue()]))
        (root / "train.parquet").write_bytes(raw)
        try:
            index = scan(root, test_fraction=0.3)
        except ArtstyleError as exc:
            assert "train.parquet" in str(exc) or "no training rows" in str(exc)
            return
        for split in ("train", "test"):
            if index.split(split):
                try:
                    cached = load_split(
                        index, split, size=8, cache_dir=root / "cache", workers=1, progress=False
                    )
                except ArtstyleError as exc:
                    assert "could be decoded" in str(exc)
                    continue
                assert len(cached) + len(cached.failed) == len(index.split(split))


def test_a_damaged_image_column_is_read_once_and_every_row_listed(tmp_path, monkeypatch):
    table = pa.table({"image": [SEEDS[4]] * 6, "label": [0, 1] * 3})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    raw = bytearray(buffer.getvalue())
    chunk = (
        pq.ParquetFile(io.BytesIO(bytes(raw))).metadata.row_group(0).column(0)
    )  # the image column
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    raw[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    (tmp_path / "train.parquet").write_bytes(bytes(raw))
    index = scan(tmp_path, test_fraction=0.3)  # the label column is intact: the rows are listed
    assert len(index.split("train")) == 4
    opened = []
    real_open = pq.ParquetFile

    def counting(source, *args, **kwargs):
        opened.append(source)
        return real_open(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", counting)
    with pytest.raises(
        ArtstyleError, match="none of the 4 images .* cannot read the image column of train.parquet"
    ):
        load_split(index, "train", size=8, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert len(opened) == 1  # a 13k-row file is not read 13k times


def test_a_parquet_image_path_is_never_opened(tmp_path):
    """A Hugging Face Image cell may name a file; only embedded bytes are used, never that path."""
    outside = write_image(tmp_path / "elsewhere" / "private.png", seed=3, size=(12, 12), fmt="PNG")
    cells = [{"bytes": SEEDS[4], "path": "a.png"}, {"bytes": None, "path": str(outside)}] * 3
    table = pa.table({"image": pa.array(cells), "label": [0, 0, 1, 1, 0, 1]})
    (tmp_path / "export").mkdir()
    pq.write_table(table, tmp_path / "export" / "train.parquet")
    index = scan(tmp_path / "export", test_fraction=0.3)
    cached = load_split(
        index, "train", size=8, cache_dir=tmp_path / "cache", workers=1, progress=False
    )
    by_row = {int(rel.rsplit("#", 1)[1]) % 2 for rel in cached.rels}
    assert by_row == {0}  # only the rows with embedded bytes
    assert cached.failed and all(
        f.reason == "parquet cell holds no image bytes" for f in cached.failed
    )


@pytest.mark.parametrize(
    "raw", [b"[1, 2]", b'{"info": "x"}', b'{"features": ["a"]}', b"\xff\xfe", b"null"]
)
def test_parquet_metadata_of_the_wrong_shape_is_ignored(tmp_path, raw):
    table = pa.table({"image": [SEEDS[0]] * 4, "label": [0, 1, 0, 1]})
    pq.write_table(table.replace_schema_metadata({b"huggingface": raw}), tmp_path / "train.parquet")
    assert scan(tmp_path).classes == ["style_00", "style_01"]


def test_a_stray_quote_in_a_csv_is_reported_with_the_lines_it_joined(tmp_path):
    release = tmp_path / "release"
    for k, name in enumerate(["a_one.jpg", "b_two.jpg", "c_three.jpg"]):
        write_image(release / "wikiart" / "Baroque" / name, seed=k)
    lines = [
        "Baroque/a_one.jpg,0",
        '"Baroque/b_two.jpg,0',
        "../outside.jpg,0",
        'Baroque/c_three.jpg",0',
    ]
    (release / "style_train.csv").write_text("\n".join(lines) + "\n")
    index = scan(release)
    assert [item.rel for item in index.items] == ["Baroque/a_one.jpg"]
    [skip] = index.skipped
    assert skip.path.endswith("style_train.csv:2-4")
    assert "quote opened on line 2 closes on line 4" in skip.reason


def test_a_symlink_in_a_csv_that_leaves_the_root_is_refused(tmp_path):
    secret = write_image(tmp_path / "private" / "secret.jpg", seed=1)
    release = tmp_path / "release"
    write_image(release / "wikiart" / "Baroque" / "a_one.jpg", seed=2)
    (release / "wikiart" / "Baroque" / "b_link.jpg").symlink_to(secret)
    (release / "style_train.csv").write_text("Baroque/a_one.jpg,0\nBaroque/b_link.jpg,0\n")
    index = scan(release)
    assert [item.rel for item in index.items] == ["Baroque/a_one.jpg"]
    assert any("leaves the data root via a link" in s.reason for s in index.skipped)


# ---------------------------------------------------------------- checkpoints and weights


def _checkpoint_bytes() -> bytes:
    model = build_model("resnet_tiny", num_classes=3, widths=(4, 4, 4))
    buffer = io.BytesIO()
    torch.save(
        {
            "format": 1,
            "model": model.state_dict(),
            "state": {"step": 3},
            "rng": torch.get_rng_state(),
        },
        buffer,
    )
    return buffer.getvalue()


CHECKPOINT = _checkpoint_bytes()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on random bytes
@FAST
@given(st.one_of(st.binary(max_size=256), mutated([CHECKPOINT])))
def test_damaged_checkpoints_are_one_clear_error(data):
    with folder() as root:
        path = root / "last.ckpt"
        path.write_bytes(data)
        try:
            state = runs.load_checkpoint(path)
        except ArtstyleError as exc:
            assert "last.ckpt" in str(exc)
        else:
            assert isinstance(state, dict)


def _weights_bytes() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as name:
        run = runs.RunFolder(Path(name))
        runs.save_model(run, build_model("resnet_tiny", num_classes=3, widths=(4, 4, 4)))
        return run.weights_path.read_bytes(), run.model_json_path.read_bytes()


WEIGHTS, MODEL_JSON = _weights_bytes()


@FAST
@given(st.one_of(st.binary(max_size=256), mutated([WEIGHTS])))
def test_damaged_weights_are_one_clear_error(data):
    with folder() as root:
        run = runs.RunFolder(root)
        run.model_json_path.write_bytes(MODEL_JSON)
        run.weights_path.write_bytes(data)
        try:
            model = runs.load_model(run)
        except ArtstyleError as exc:
            assert "model.safetensors" in str(exc)
        else:
            assert model.architecture == "resnet_tiny"


# ---------------------------------------------------------------- configs and names


config_values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
config_keys = st.one_of(
    st.sampled_from(sorted(ClassifierConfig.model_fields)), st.text(max_size=12)
)


@FAST
@given(st.dictionaries(config_keys, config_values, max_size=5))
def test_any_config_values_are_accepted_or_refused_by_name(values):
    try:
        config = load_config(ClassifierConfig, None, values)
    except ArtstyleError as exc:
        message = str(exc)
        assert message.startswith("bad configuration from the command line: ")
        assert "key '" in message or "keys '" in message
    else:
        assert isinstance(config, ClassifierConfig)


@FAST
@given(st.text(max_size=80), st.sampled_from([".yaml", ".toml"]))
def test_any_config_file_text_is_read_or_refused_in_one_line(text, suffix):
    with folder() as root:
        path = root / f"c{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            values = read_config_file(path)
        except ArtstyleError as exc:
            assert path.name in str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(values, dict)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(alphabet="ab[]/*@# _-", min_size=1, max_size=10).filter(
        lambda s: "/" not in s and s.strip()
    )
)
def test_style_folders_with_markup_like_names_are_shown_as_they_are(capsys, name):
    with folder() as root:
        write_image(root / "train" / name / "x_one.jpg", seed=1, size=(12, 12))
        write_image(root / "train" / "Plain" / "x_two.jpg", seed=2, size=(12, 12))
        write_image(root / "test" / name / "x_three.jpg", seed=3, size=(12, 12))
        capsys.readouterr()
        assert main(["data", "stats", str(root)]) == 0
        assert f" {name} " in capsys.readouterr().out
        assert main(["data", "balance", str(root), "--target", "max"]) == 0
        assert f" {name} " in capsys.readouterr().out
