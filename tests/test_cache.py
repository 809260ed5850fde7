"""The uint8 cache: built once, reopened without decoding, rebuilt on change, bad files listed."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
from PIL import Image

from artstyle.cli import main
from artstyle.data import cache as cache_module
from artstyle.data.cache import default_cache_dir, load_split
from artstyle.data.images import decode_item
from artstyle.data.scan import scan
from artstyle.errors import ArtstyleError
from conftest import make_dataset, write_image


def _load(index, split="train", *, cache_dir=None, size=16, **options):
    options = {"workers": 1, "progress": False, **options}
    return load_split(index, split, size=size, cache_dir=cache_dir, **options)


def test_build_shapes_labels_and_pixels(tiny_data, tmp_path):
    index = scan(tiny_data)
    cached = _load(index, "train", size=16, cache_dir=tmp_path / "c")
    assert cached.built is True
    assert cached.images.shape == (24, 16, 16, 3) and cached.images.dtype == np.uint8
    assert isinstance(cached.images, np.memmap) and not cached.images.flags.writeable
    assert cached.classes == ["Baroque", "Cubism", "Rococo"]
    assert cached.labels.dtype == np.int64
    assert cached.labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert cached.rels == [item.rel for item in index.split("train")]
    assert cached.styles[0] == "Baroque" and cached.artists[0] == "artist-baroque"
    assert cached.failed == []
    assert cached.path == tmp_path / "c" / "train-16px-crop.npy"
    for row, item in enumerate(index.split("train")):
        assert np.array_equal(cached.images[row], decode_item(item, 16, "crop"))
    meta = json.loads(cached.path.with_suffix(".json").read_text())
    assert meta["n_images"] == 24 and meta["size"] == 16 and meta["resize"] == "crop"


def test_reopen_does_not_decode(tiny_data, tmp_path, monkeypatch):
    index = scan(tiny_data)
    first = _load(index, "test", size=16, cache_dir=tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache_module, "decode_item", refuse)
    again = _load(scan(tiny_data), "test", size=16, cache_dir=tmp_path)
    assert again.built is False
    assert np.array_equal(first.images, again.images)
    assert again.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_changed_file_size_or_mtime_rebuilds(tiny_data, tmp_path):
    index = scan(tiny_data)
    first = _load(index, "train", size=16, cache_dir=tmp_path)
    before = np.array(first.images[0])
    target = tiny_data / "train" / "Baroque" / "artist-baroque_work-000.jpg"
    Image.new("RGB", (40, 32), (250, 250, 250)).save(target)  # new content, new size
    changed = _load(scan(tiny_data), "train", size=16, cache_dir=tmp_path)
    assert changed.built is True
    assert not np.array_equal(before, changed.images[0])
    assert changed.images[0].min() >= 240
    assert np.array_equal(first.images[1], changed.images[1])
    # a touch alone (same bytes, new mtime) also invalidates
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = _load(scan(tiny_data), "train", size=16, cache_dir=tmp_path)
    assert touched.built is True
    # size and resize mode are separate caches
    other = _load(scan(tiny_data), "train", size=8, cache_dir=tmp_path)
    assert other.built is True and other.images.shape == (24, 8, 8, 3)


def test_corrupt_files_are_listed_and_skipped(tiny_data, tmp_path):
    bad = tiny_data / "train" / "Cubism" / "artist-cubism_work-003.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    (tiny_data / "train" / "Rococo" / "notes.jpg").write_text("not an image")
    index = scan(tiny_data)
    cached = _load(index, "train", size=16, cache_dir=tmp_path)
    assert len(cached) == 23 and cached.images.shape == (23, 16, 16, 3)
    assert [f.path for f in cached.failed] == [
        str(bad),
        str(tiny_data / "train" / "Rococo" / "notes.jpg"),
    ]
    assert cached.failed[0].reason.startswith("truncated file")
    assert "text" in cached.failed[1].reason
    assert "Cubism/artist-cubism_work-003.jpg" not in cached.rels
    assert cached.labels.tolist() == [0] * 8 + [1] * 7 + [2] * 8
    # rows after the removed ones moved up intact (the in-place compaction)
    good = {item.rel: item for item in index.split("train")}
    for row, rel in enumerate(cached.rels):
        assert np.array_equal(cached.images[row], decode_item(good[rel], 16))
    assert cached.path.stat().st_size == 128 + 23 * 16 * 16 * 3
    reopened = _load(index, "train", size=16, cache_dir=tmp_path)
    assert reopened.built is False and len(reopened.failed) == 2


def test_every_file_broken_is_an_error(tmp_path):
    root = tmp_path / "broken"
    for style in ("A", "B"):
        folder = root / "train" / style
        folder.mkdir(parents=True)
        for k in range(2):
            (folder / f"x{k}.jpg").write_bytes(b"")
    index = scan(root)
    with pytest.raises(ArtstyleError) as info:
        _load(index, "train", size=16, cache_dir=tmp_path / "c")
    message = str(info.value)
    assert "none of the" in message and str(root) in message
    assert "empty file (0 bytes)" in message
    assert not (tmp_path / "c" / "train-16px-crop.npy").exists()
    assert [p.name for p in (tmp_path / "c").iterdir() if p.suffix != ".lock"] == []


def test_same_file_name_in_two_styles(tmp_path):
    root = tmp_path / "dupes"
    write_image(root / "train" / "A" / "same.jpg", seed=1)
    write_image(root / "train" / "B" / "same.jpg", seed=2)
    write_image(root / "test" / "A" / "t.jpg", seed=3)
    cached = _load(scan(root), "train", size=8, cache_dir=tmp_path / "c")
    assert cached.rels == ["A/same.jpg", "B/same.jpg"]
    assert cached.labels.tolist() == [0, 1]
    assert not np.array_equal(cached.images[0], cached.images[1])


def test_crop_and_letterbox_geometry(tmp_path):
    root = tmp_path / "wide"
    pixels = np.full((20, 60, 3), 200, dtype=np.uint8)
    folder = root / "train" / "A"
    folder.mkdir(parents=True)
    Image.fromarray(pixels).save(folder / "wide.png")
    index = scan(root, test_fraction=0.5)
    crop = _load(index, "train", size=12, cache_dir=tmp_path / "c")
    box = _load(index, "train", size=12, resize="letterbox", cache_dir=tmp_path / "c")
    assert (crop.images[0] == 200).all()
    assert (box.images[0, :4] == 0).all() and (box.images[0, 8:] == 0).all()  # 12x4 band centred
    assert (box.images[0, 4:8] == 200).all()
    assert crop.path != box.path


def test_parallel_workers_match_one_process(tiny_data, tmp_path):
    index = scan(tiny_data)
    serial = _load(index, cache_dir=tmp_path / "one")
    parallel = _load(index, cache_dir=tmp_path / "two", workers=2)
    assert parallel.built is True
    assert np.array_equal(np.asarray(serial.images), np.asarray(parallel.images))


def test_concurrent_builders_produce_one_good_cache(tiny_data, tmp_path):
    index = scan(tiny_data)
    results = []

    def build():
        results.append(_load(index, "train", size=16, cache_dir=tmp_path / "c"))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.built for r in results) == [False, True]
    assert np.array_equal(np.asarray(results[0].images), np.asarray(results[1].images))
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "train-16px-crop.json",
        "train-16px-crop.lock",
        "train-16px-crop.npy",
    ]


def test_damaged_cache_file_is_rebuilt(tiny_data, tmp_path):
    index = scan(tiny_data)
    first = _load(index, "train", size=16, cache_dir=tmp_path)
    expected = np.array(first.images)
    del first
    with open(tmp_path / "train-16px-crop.npy", "r+b") as handle:
        handle.truncate(1000)
    again = _load(index, "train", size=16, cache_dir=tmp_path)
    assert again.built is True
    assert np.array_equal(np.asarray(again.images), expected)


def test_default_folder_follows_artstyle_cache(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTSTYLE_CACHE", str(tmp_path / "env"))
    folder = default_cache_dir(tiny_data)
    assert folder.parent == tmp_path / "env"
    assert folder.name.startswith("data-") and len(folder.name) == len("data-") + 10
    cached = _load(scan(tiny_data), "test", size=8)
    assert cached.path.parent == folder
    assert default_cache_dir(tmp_path / "other" / "data") != folder


def test_bad_options_are_clear(tiny_data, tmp_path):
    index = scan(tiny_data)
    with pytest.raises(ArtstyleError, match="resize must be one of crop, letterbox"):
        load_split(index, "train", size=16, resize="stretch", cache_dir=tmp_path)
    with pytest.raises(ArtstyleError, match="size must be a whole number of pixels from 8 to 4096"):
        load_split(index, "train", size=3, cache_dir=tmp_path)


# ---------------------------------------------------------------- CLI


def test_cli_data_cache(tiny_data, tmp_path, capsys):
    (tiny_data / "train" / "Rococo" / "broken.jpg").write_bytes(b"")
    args = ["data", "cache", str(tiny_data), "--size", "16", "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train: 24 images 16x16 (crop), built, 1 unreadable" in out
    assert "test: 6 images 16x16 (crop), built, 0 unreadable" in out
    assert "broken.jpg: empty file (0 bytes)" in out
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"]["built"] is False
    assert report["splits"]["train"]["shape"] == [24, 16, 16, 3]
    assert report["splits"]["train"]["failed"][0]["reason"] == "empty file (0 bytes)"


def test_cli_data_cache_bad_input(tmp_path, capsys):
    assert main(["data", "cache", str(tmp_path / "missing"), "--size", "16"]) == 2
    assert "does not exist" in capsys.readouterr().err
    root = make_dataset(tmp_path / "d", {"train": {"A": 2, "B": 2}})
    base = ["data", "cache", str(root), "--cache-dir", str(tmp_path / "c")]
    assert main([*base, "--size", "16", "--resize", "stretch"]) == 2
    assert "resize must be one of crop, letterbox" in capsys.readouterr().err
    assert main([*base, "--size", "2"]) == 2
    assert "size must be a whole number of pixels from 8 to 4096" in capsys.readouterr().err
    assert main([*base, "--size", "16", "--workers", "0"]) == 2
    assert "workers must be at least 1" in capsys.readouterr().err
    assert main(base) == 2  # a usage error, not a traceback
    assert "Missing option '--size'" in capsys.readouterr().err


def test_parquet_rows_are_cached_and_bad_cells_listed(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def jpeg(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20), colour).save(buffer, format="JPEG")
        return buffer.getvalue()

    cells = [jpeg((200, 0, 0)), jpeg((0, 200, 0)), b"garbage", jpeg((0, 0, 200))]
    table = pa.table({"image": cells, "label": [0, 1, 1, 0]})
    pq.write_table(table, tmp_path / "styles.parquet")
    index = scan(tmp_path / "styles.parquet", test_fraction=0.25)  # 2 rows per style: none held out
    cached = _load(index, size=8, cache_dir=tmp_path / "c")
    assert cached.rels == ["styles.parquet#0", "styles.parquet#1", "styles.parquet#3"]
    assert cached.images.shape == (3, 8, 8, 3)
    assert len(cached.failed) == 1
    assert cached.failed[0].path.endswith("styles.parquet#2")
    assert cached.failed[0].reason.startswith("not an image Pillow can read")
    for row, rel in enumerate(cached.rels):
        colour = {"#0": 0, "#1": 1, "#3": 2}[rel[-2:]]
        assert cached.images[row, 4, 4, colour] > 150


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rewritten_parquet_file_is_decoded_anew_in_the_same_process(tmp_path, workers):
    import io
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    def export(colour, stamp_ns):
        cells = []
        for _ in range(4):
            buffer = io.BytesIO()
            Image.new("RGB", (20, 20), colour).save(buffer, format="PNG")
            cells.append(buffer.getvalue())
        path = tmp_path / "styles.parquet"
        pq.write_table(pa.table({"image": cells, "label": [0, 1, 0, 1]}), path)
        os.utime(path, ns=(stamp_ns, stamp_ns))  # a new mtime even on a coarse clock
        return scan(path, test_fraction=0.25)

    red = _load(export((255, 0, 0), 10**18), cache_dir=tmp_path / "c", workers=workers)
    assert red.images[:, 4, 4].tolist() == [[255, 0, 0]] * 4
    blue = _load(export((0, 0, 255), 2 * 10**18), cache_dir=tmp_path / "c", workers=workers)
    assert blue.built is True
    assert blue.images[:, 4, 4].tolist() == [[0, 0, 255]] * 4
