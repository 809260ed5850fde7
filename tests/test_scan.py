"""Scanning: layouts, identities, class map, skipped files, and refused input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from artstyle.cli import main
from artstyle.data.scan import _parquet_split, parse_artist, read_item_bytes, scan
from artstyle.data.stats import dataset_stats
from artstyle.errors import ArtstyleError
from conftest import make_dataset, write_image


def test_course_layout_sorted_and_stable(tiny_data: Path) -> None:
    index = scan(tiny_data)
    assert index.source_kind == "folders"
    assert index.classes == ["Baroque", "Cubism", "Rococo"]
    assert len(index.split("train")) == 24 and len(index.split("test")) == 6
    rels = [item.rel for item in index.split("train")]
    assert rels == sorted(rels)
    assert index.labels("test") == [0, 0, 1, 1, 2, 2]
    assert index.counts("train") == {"Baroque": 8, "Cubism": 8, "Rococo": 8}
    # a second scan gives the same fingerprint; touching a file changes it
    before = index.fingerprint("train")
    assert scan(tiny_data).fingerprint("train") == before
    first = Path(index.split("train")[0].source)
    os.utime(first, ns=(1, 1))
    assert scan(tiny_data).fingerprint("train") != before


def test_same_name_in_two_styles_both_kept_and_nested_folders_belong_to_top_style(
    tmp_path: Path,
) -> None:
    root = tmp_path / "d"
    write_image(root / "train" / "Baroque" / "x.jpg", seed=1)
    write_image(root / "train" / "Rococo" / "x.jpg", seed=2)
    write_image(root / "train" / "Rococo" / "deeper" / "more" / "y.JPG", seed=3)
    write_image(root / "train" / "Rococo" / "ümlaut name é.jpeg", seed=4)
    write_image(root / "test" / "Rococo" / "x.jpg", seed=5)
    index = scan(root)
    assert [(i.rel, i.style) for i in index.split("train")] == [
        ("Baroque/x.jpg", "Baroque"),
        ("Rococo/deeper/more/y.JPG", "Rococo"),
        ("Rococo/x.jpg", "Rococo"),
        ("Rococo/ümlaut name é.jpeg", "Rococo"),
    ]
    assert read_item_bytes(index.split("train")[0]) != read_item_bytes(index.split("train")[2])


def test_hidden_and_non_images_are_skipped_and_counted(tiny_data: Path) -> None:
    (tiny_data / "train" / "Baroque" / ".DS_Store").write_bytes(b"junk")
    (tiny_data / "train" / "Baroque" / "notes.txt").write_text("hello")
    (tiny_data / "train" / ".hidden_style").mkdir()
    write_image(tiny_data / "train" / "loose.jpg", seed=9)
    index = scan(tiny_data)
    reasons = sorted(s.reason.split(" (")[0] for s in index.skipped)
    assert reasons == [
        "hidden file",
        "hidden folder",
        "image outside a style folder",
        "not an image extension",
    ]
    assert index.classes == ["Baroque", "Cubism", "Rococo"]


def test_test_only_style_is_an_error_naming_it(tiny_data: Path) -> None:
    write_image(tiny_data / "test" / "Fauvism" / "a.jpg", seed=5)
    with pytest.raises(ArtstyleError, match="Fauvism"):
        scan(tiny_data)


def test_train_style_missing_from_test_is_reported(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"train": {"A": 3, "B": 3}, "test": {"A": 1}})
    index = scan(root)
    assert index.missing_in_test == ["B"]
    assert any("B" in note for note in index.notes)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no style folders"),
        (lambda root: (root / "train" / "Baroque").mkdir(parents=True), "no image files"),
        (lambda root: (root / "test" / "A").mkdir(parents=True), "no train/"),
    ],
)
def test_bad_folders_give_clear_errors(tmp_path: Path, setup, message: str) -> None:
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(ArtstyleError, match=message):
        scan(root)


def test_single_folder_is_split_stratified_and_deterministic(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"": {"A": 10, "B": 5, "C": 1}})
    index = scan(root / "", test_fraction=0.2, seed=3)
    assert index.source_kind == "single-folder"
    assert index.counts("test") == {"A": 2, "B": 1, "C": 0}
    assert index.counts("train") == {"A": 8, "B": 4, "C": 1}
    again = scan(root, test_fraction=0.2, seed=3)
    assert [i.rel for i in again.split("test")] == [i.rel for i in index.split("test")]
    other = scan(root, test_fraction=0.2, seed=4)
    assert [i.rel for i in other.split("test")] != [i.rel for i in index.split("test")]
    with pytest.raises(ArtstyleError, match="between 0 and 1"):
        scan(root, test_fraction=1.5)


def test_symlink_loop_is_not_followed(tiny_data: Path) -> None:
    loop = tiny_data / "train" / "Baroque" / "loop"
    loop.symlink_to(tiny_data / "train" / "Baroque", target_is_directory=True)
    index = scan(tiny_data)
    assert len(index.split("train")) == 24
    assert any("symlink loop" in s.reason for s in index.skipped)


def test_a_style_folder_linked_to_another_is_read_once_and_says_so(tiny_data: Path) -> None:
    (tiny_data / "train" / "Zz_alias").symlink_to(
        tiny_data / "train" / "Baroque", target_is_directory=True
    )
    index = scan(tiny_data)
    assert index.counts("train") == {"Baroque": 8, "Cubism": 8, "Rococo": 8}
    (reason,) = [s.reason for s in index.skipped if s.path.endswith("Zz_alias")]
    assert reason.startswith("same folder as Baroque (a symlink)")


def test_artist_parsed_from_wikiart_names() -> None:
    assert parse_artist("claude-monet_water-lilies-1916.jpg") == "claude-monet"
    assert parse_artist("Untitled.jpg") is None
    assert parse_artist("1_foo.jpg") is None


def test_artgan_csv_layout_and_refused_rows(tmp_path: Path) -> None:
    root = tmp_path / "artgan"
    for style, n in (("Baroque", 3), ("Rococo", 3)):
        for k in range(n):
            write_image(root / "wikiart" / style / f"jan-steen_work-{k}.jpg", seed=k + len(style))
    (root / "wikiart_csv").mkdir(parents=True)
    (root / "wikiart_csv" / "style_train.csv").write_text(
        "Baroque/jan-steen_work-0.jpg,0\nBaroque/jan-steen_work-1.jpg,0\nRococo/jan-steen_work-0.jpg,1\n"
        "../outside.jpg,0\n/etc/passwd.jpg,0\nRococo/missing.jpg,1\n"
    )
    (root / "wikiart_csv" / "style_val.csv").write_text(
        "Baroque/jan-steen_work-2.jpg,0\nRococo/jan-steen_work-2.jpg,1\n"
    )
    index = scan(root)
    assert index.source_kind == "artgan"
    assert index.classes == ["Baroque", "Rococo"]
    assert [i.rel for i in index.split("train")] == [
        "Baroque/jan-steen_work-0.jpg",
        "Baroque/jan-steen_work-1.jpg",
        "Rococo/jan-steen_work-0.jpg",
    ]
    assert len(index.split("test")) == 2
    assert index.split("train")[0].artist == "jan-steen"
    reasons = " | ".join(s.reason for s in index.skipped)
    assert "'..' would leave the data root" in reasons
    assert "absolute paths are not allowed" in reasons
    assert "missing" in reasons


def test_parquet_export_with_label_names(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = [write_image(tmp_path / "src" / f"{k}.png", seed=k).read_bytes() for k in range(6)]
    names = ["Baroque", "Cubism"]
    meta = {"info": {"features": {"style": {"_type": "ClassLabel", "names": names}}}}
    table = pa.table(
        {"image": [{"bytes": b, "path": None} for b in images], "style": [0, 1, 0, 1, 0, 1]}
    )
    table = table.replace_schema_metadata({"huggingface": json.dumps(meta)})
    (tmp_path / "pq").mkdir()
    pq.write_table(table.slice(0, 4), tmp_path / "pq" / "train-00000.parquet")
    pq.write_table(table.slice(4, 2), tmp_path / "pq" / "test-00000.parquet")
    index = scan(tmp_path / "pq")
    assert index.source_kind == "parquet"
    assert index.classes == names
    assert index.counts("train") == {"Baroque": 2, "Cubism": 2}
    assert index.counts("test") == {"Baroque": 1, "Cubism": 1}
    assert read_item_bytes(index.split("test")[1]) == images[5]


def test_stats_largest_first_and_imbalance(tmp_path: Path) -> None:
    root = make_dataset(
        tmp_path / "d", {"train": {"A": 2, "B": 6, "C": 4}, "test": {"B": 1, "C": 1}}
    )
    stats = dataset_stats(root)
    assert [row["style"] for row in stats["rows"]] == ["B", "C", "A"]
    assert stats["splits"]["train"]["imbalance_ratio"] == pytest.approx(3.0)
    assert stats["missing_in_test"] == ["A"]


def test_cli_stats_json_and_bad_folder(tmp_path: Path, tiny_data: Path, capsys) -> None:
    assert main(["data", "stats", str(tiny_data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["train"]["n_images"] == 24
    assert main(["data", "stats", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_a_file_name_that_is_not_utf8_is_scanned_cached_and_audited(tmp_path: Path) -> None:
    from artstyle.data.audit import audit, summary_lines
    from artstyle.data.cache import load_split

    data = make_dataset(tmp_path / "d", {"train": {"A": 3, "B": 3}, "test": {"A": 1, "B": 1}})
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: Python holds them as a lone surrogate
    write_image(data / "train" / "A" / name, seed=50)
    index = scan(data)
    assert name in [item.rel.split("/")[-1] for item in index.split("train")]
    with_name = index.fingerprint("train")
    (data / "train" / "A" / name).unlink()
    assert scan(data).fingerprint("train") != with_name
    write_image(data / "train" / "A" / name, seed=50)
    cached = load_split(index, "train", size=8, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert f"A/{name}" in cached.rels and cached.images.shape == (7, 8, 8, 3)
    assert summary_lines(audit(index, workers=1, progress=False))  # no UnicodeEncodeError
    single = tmp_path / "single"  # no test split: the stratified split hashes every name
    (single / "A").mkdir(parents=True)
    for k in range(3):
        write_image(single / "A" / f"{k}.jpg", seed=k)
        write_image(single / "B" / f"{k}.jpg", seed=k + 9)
    write_image(single / "A" / name, seed=51)
    assert len(scan(single).items) == 7


def test_a_folder_that_cannot_be_listed_is_reported_as_skipped(
    tiny_data: Path, monkeypatch
) -> None:
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "Cubism":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    index = scan(tiny_data)
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons.get("Cubism") == "cannot read folder: Permission denied"


def test_an_artgan_csv_saved_with_a_byte_order_mark_keeps_its_first_row(tmp_path: Path) -> None:
    root = tmp_path / "artgan"
    for style in ("Baroque", "Rococo"):
        for k in range(2):
            write_image(root / "wikiart" / style / f"a-b_{k}.jpg", seed=k + len(style))
    (root / "wikiart_csv").mkdir(parents=True)
    rows = "Baroque/a-b_0.jpg,0\nRococo/a-b_0.jpg,1\n"
    (root / "wikiart_csv" / "style_train.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    (root / "wikiart_csv" / "style_val.csv").write_text("Baroque/a-b_1.jpg,0\nRococo/a-b_1.jpg,1\n")
    index = scan(root)
    assert [i.rel for i in index.split("train")] == ["Baroque/a-b_0.jpg", "Rococo/a-b_0.jpg"]
    assert index.skipped == []


def test_parquet_files_of_the_same_name_in_two_folders_keep_rows_apart(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for k, folder in enumerate(("part-a", "part-b")):
        cells = [
            write_image(tmp_path / "src" / f"{k}{j}.png", seed=10 * k + j).read_bytes()
            for j in range(2)
        ]
        (tmp_path / "pq" / folder).mkdir(parents=True)
        pq.write_table(
            pa.table({"image": cells, "label": [0, 1]}), tmp_path / "pq" / folder / "train.parquet"
        )
    index = scan(tmp_path / "pq", test_fraction=0.5)
    rels = sorted(item.rel for item in index.items)
    assert rels == [
        "part-a/train.parquet#0",
        "part-a/train.parquet#1",
        "part-b/train.parquet#0",
        "part-b/train.parquet#1",
    ]


@pytest.mark.parametrize("given", ["dataset", "config"])
def test_the_hubs_parquet_conversion_layout_reads_splits_from_folders(tmp_path, given) -> None:
    # <dataset>/<config>/<split>/0000.parquet, passed as the dataset or as its config folder
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {"train": [0, 1, 0, 1, 1], "test": [0, 1]}
    for split, labels in rows.items():
        cells = [
            write_image(tmp_path / "src" / f"{split}{j}.png", seed=j).read_bytes()
            for j in range(len(labels))
        ]
        folder = tmp_path / "ds" / "default" / split
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"image": cells, "label": labels}), folder / "0000.parquet")
    index = scan(tmp_path / "ds" if given == "dataset" else tmp_path / "ds" / "default")
    assert index.source_kind == "parquet"
    assert index.counts("train") == {"style_00": 2, "style_01": 3}
    assert index.counts("test") == {"style_00": 1, "style_01": 1}
    prefix = "default/" if given == "dataset" else ""
    assert sorted(item.rel for item in index.split("test")) == [
        f"{prefix}test/0000.parquet#0",
        f"{prefix}test/0000.parquet#1",
    ]


@pytest.mark.parametrize(
    ("rel", "split"),
    [
        ("data/train-00000-of-00002.parquet", "train"),
        ("data/test-00000-of-00001.parquet", "test"),
        ("data/validation-00000-of-00001.parquet", "test"),
        ("wikiart-val.parquet", "test"),
        ("default/test/0000.parquet", "test"),
        ("default/train/0000.parquet", "train"),
        ("test_config/train/0000.parquet", "train"),  # the file's own folder decides
        ("contest/part.parquet", "train"),
        ("test_runs/0000.parquet", "train"),  # only a folder named exactly test/val counts
        ("Validation/0000.parquet", "test"),
        ("latest.parquet", "train"),
    ],
)
def test_parquet_split_from_the_file_name_then_its_folder(rel, split) -> None:
    assert _parquet_split(Path(rel)) == split


def test_an_empty_test_folder_takes_test_fraction(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "d", {"train": {"A": 4, "B": 4}})
    (data / "test").mkdir()
    index = scan(data, test_fraction=0.5)
    assert index.counts("test") == {"A": 2, "B": 2}
    write_image(data / "test" / "A" / "x.jpg", seed=3)
    with pytest.raises(ArtstyleError, match="has its own test/ split"):
        scan(data, test_fraction=0.5)
