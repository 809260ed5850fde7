"""Audit: planted copies (exact, greyscale, mirrored), leakage, bad and odd images, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from artstyle.cli import main
from artstyle.data import audit as audit_module
from artstyle.data.audit import audit, near_pairs, rows_also_in, summary_lines
from artstyle.data.images import trim_borders
from artstyle.data.scan import scan
from conftest import make_dataset


def painting(seed: int, size: tuple[int, int] = (160, 128)) -> Image.Image:
    """A picture with structure (gradient ground, bold shapes), different for every seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height + 1) / 2
    ground = ramp[..., None] * rng.integers(40, 255, 3) + (1 - ramp[..., None]) * rng.integers(
        0, 200, 3
    )
    image = Image.fromarray(ground.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 3 // 4))
        x1, y1 = (
            x0 + int(rng.integers(width // 10, width // 2)),
            y0 + int(rng.integers(height // 10, height // 2)),
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return image


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


DISTINCT = [
    "train/Baroque/artist-a_distinct-1.jpg",
    "train/Baroque/artist-a_distinct-2.jpg",
    "train/Cubism/artist-b_distinct-3.jpg",
    "train/Rococo/artist-c_distinct-4.jpg",
    "train/Minimalism/artist-d_distinct-5.jpg",
    "train/Minimalism/artist-d_distinct-6.jpg",
    "test/Baroque/artist-a_distinct-7.jpg",
    "test/Cubism/artist-b_distinct-8.jpg",
    "test/Rococo/artist-c_distinct-9.jpg",
]


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    root = tmp_path / "planted"
    for k, rel in enumerate(DISTINCT):
        save(painting(100 + k), root / rel, quality=92)
    # an exact copy across train and test (leakage)
    original = save(painting(1), root / "train/Baroque/artist-a_original.jpg", quality=92)
    (root / "test/Baroque").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(original, root / "test/Baroque/artist-a_original-copy.jpg")
    # a smaller greyscale re-encode of a colour painting, same split and style
    colour = painting(2)
    save(colour, root / "train/Cubism/artist-b_colour.jpg", quality=92)
    save(
        colour.convert("L").resize((120, 96), Image.Resampling.LANCZOS),
        root / "train/Cubism/artist-b_grey.jpg",
        quality=80,
    )
    # a left-right mirrored copy in test (near leakage)
    mirrored = painting(3)
    save(mirrored, root / "train/Rococo/artist-c_facing-left.jpg", quality=92)
    save(ImageOps.mirror(mirrored), root / "test/Rococo/artist-c_facing-right.jpg", quality=88)
    # odd shapes
    save(painting(4, size=(40, 30)), root / "train/Rococo/artist-c_tiny.jpg")
    save(painting(5, size=(400, 100)), root / "train/Cubism/artist-b_frieze.jpg", quality=92)
    # a truncated JPEG
    data = (root / DISTINCT[0]).read_bytes()
    (root / "train/Baroque/artist-a_broken.jpg").write_bytes(data[: len(data) // 3])
    # files the scan skips
    (root / "train/Baroque/.DS_Store").write_bytes(b"\0\0")
    (root / "train/Baroque/notes.txt").write_text("provenance notes")
    return root


def paths_in(entries: list[dict]) -> set[str]:
    found = set()
    for entry in entries:
        for member in entry.get("members", [entry]):
            if "path" in member:
                found.add(member["path"])
    return found


def test_planted_findings(planted: Path) -> None:
    report = audit(scan(planted), workers=1, progress=False, min_style_images=3)

    assert report.n_images == {"train": 13, "test": 5}
    assert [(e["path"], e["split"]) for e in report.unreadable] == [
        ("train/Baroque/artist-a_broken.jpg", "train")
    ]
    assert (
        "truncated" in report.unreadable[0]["reason"] or "corrupt" in report.unreadable[0]["reason"]
    )

    assert len(report.exact_duplicates) == 1
    exact = report.exact_duplicates[0]
    assert [m["path"] for m in exact["members"]] == [  # index order: train, then test
        "train/Baroque/artist-a_original.jpg",
        "test/Baroque/artist-a_original-copy.jpg",
    ]
    assert exact["cross_split"] and exact["sha256"] and report.leakage_exact == [exact]

    near = {frozenset(m["path"] for m in g["members"]): g for g in report.near_duplicates}
    grey_pair = frozenset({"train/Cubism/artist-b_colour.jpg", "train/Cubism/artist-b_grey.jpg"})
    mirror_pair = frozenset(
        {"train/Rococo/artist-c_facing-left.jpg", "test/Rococo/artist-c_facing-right.jpg"}
    )
    assert set(near) == {grey_pair, mirror_pair}
    assert not near[grey_pair]["cross_split"]
    assert [m["mirrored"] for m in near[grey_pair]["members"]] == [False, False]
    assert near[grey_pair]["members"][1]["distance"] <= 4
    assert near[mirror_pair]["cross_split"]
    assert {m["path"]: m["mirrored"] for m in near[mirror_pair]["members"]} == {
        "train/Rococo/artist-c_facing-left.jpg": False,  # the first member is the reference
        "test/Rococo/artist-c_facing-right.jpg": True,
    }
    assert report.leakage_near == [near[mirror_pair]]
    assert report.label_conflicts == []

    assert [(e["path"], e["width"], e["height"]) for e in report.tiny] == [
        ("train/Rococo/artist-c_tiny.jpg", 40, 30)
    ]
    assert [(e["path"], e["aspect"]) for e in report.extreme_aspect] == [
        ("train/Cubism/artist-b_frieze.jpg", 4.0)
    ]
    assert report.small_styles == [{"style": "Minimalism", "n_train": 2}]
    assert report.missing_in_test == ["Minimalism"]
    assert len(report.skipped) == 2 and report.skipped_by_reason == {
        "hidden file": 1,
        "not an image extension": 1,
    }

    # the distinct paintings appear in no finding
    flagged = set()
    for key in (
        "unreadable",
        "exact_duplicates",
        "near_duplicates",
        "tiny",
        "extreme_aspect",
        "label_conflicts",
    ):
        flagged |= paths_in(getattr(report, key))
    assert flagged.isdisjoint(DISTINCT)

    counts = report.to_dict()["counts"]
    assert counts["exact_duplicate_groups"] == 1 and counts["near_duplicate_groups"] == 2
    assert counts["leakage_exact_groups"] == 1 and counts["leakage_near_groups"] == 1
    json.dumps(report.to_dict())  # plain JSON all the way down

    text = "\n".join(summary_lines(report))
    assert "remove the test copy to avoid leakage" in text
    assert "train/Baroque/artist-a_original.jpg = test/Baroque/artist-a_original-copy.jpg" in text
    assert "unreadable: 1 file;" in text and "tiny images" in text and "Minimalism" in text


def test_zero_bit_thresholds_keep_only_exact_copies(planted: Path) -> None:
    loose = audit(scan(planted), workers=1, progress=False)
    strict = audit(scan(planted), workers=1, progress=False, near_threshold=0, dhash_threshold=0)
    assert len(loose.near_duplicates) == 2
    # re-encoding (and resizing, greying) moves a few hash bits, so no copy survives 0 bits,
    # while byte-identical copies do not depend on the thresholds at all
    assert strict.near_duplicates == [] and strict.leakage_near == []
    assert strict.exact_duplicates == loose.exact_duplicates and len(strict.exact_duplicates) == 1


def test_same_picture_under_two_styles_is_a_label_conflict(tmp_path: Path) -> None:
    root = tmp_path / "conflict"
    for k in range(3):
        save(painting(200 + k), root / f"train/Baroque/a_{k}.jpg")
        save(painting(300 + k), root / f"train/Rococo/b_{k}.jpg")
    shutil.copyfile(root / "train/Baroque/a_0.jpg", root / "train/Rococo/a_0.jpg")
    report = audit(scan(root), workers=1, progress=False)
    assert len(report.label_conflicts) == 1
    conflict = report.label_conflicts[0]
    assert conflict["kind"] == "exact" and conflict["styles"] == ["Baroque", "Rococo"]
    assert report.leakage_exact == [] and report.missing_in_test == []


def test_letterboxed_copy_matches_and_bands_are_not_trimmed(tmp_path: Path) -> None:
    original = painting(11)
    boxed = Image.new("RGB", (160, 200), (0, 0, 0))
    boxed.paste(original, (0, 36))  # black bars above and below, as WikiArt thumbnails have
    assert trim_borders(boxed.convert("L")).size == (160, 128)
    # a colour field of vertical bands: every column is flat, none of it is a border
    bands = np.repeat(np.array([[90, 160, 90, 200]], dtype=np.uint8), 40, axis=1).repeat(64, axis=0)
    assert trim_borders(Image.fromarray(bands, "L")).size == (160, 64)

    root = tmp_path / "boxed"
    save(original, root / "train/Baroque/a_original.jpg", quality=92)
    save(boxed, root / "test/Baroque/a_letterboxed.jpg", quality=92)
    for k in range(3):
        save(painting(400 + k), root / f"train/Rococo/b_{k}.jpg")
    report = audit(scan(root), workers=1, progress=False)
    assert [[m["path"] for m in g["members"]] for g in report.leakage_near] == [
        ["train/Baroque/a_original.jpg", "test/Baroque/a_letterboxed.jpg"]
    ]


def test_parallel_workers_match_a_single_process(planted: Path) -> None:
    index = scan(planted)
    single = audit(index, workers=1, progress=False)
    parallel = audit(index, workers=2, progress=False)
    assert parallel.to_dict() == single.to_dict()


def brute_force(packed: dict[str, np.ndarray], phash_t: int, dhash_t: int) -> set[tuple[int, int]]:
    def bits(a: np.ndarray, b: np.ndarray) -> int:
        return sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b, strict=True))

    n = len(packed["phash"])
    pairs = set()
    for i in range(n):
        for j in range(i + 1, n):
            direct = (
                bits(packed["phash"][i], packed["phash"][j]) <= phash_t
                and bits(packed["dhash"][i], packed["dhash"][j]) <= dhash_t
            )
            mirrored = (
                bits(packed["phash"][i], packed["phash_mirror"][j]) <= phash_t
                and bits(packed["dhash"][i], packed["dhash_mirror"][j]) <= dhash_t
            )
            if direct or mirrored:
                pairs.add((i, j))
    return pairs


@pytest.mark.parametrize("n_words", [1, 4])
def test_near_pairs_matches_brute_force_across_blocks(monkeypatch, n_words: int) -> None:
    rng = np.random.default_rng(n_words)
    n = 120
    packed = {
        kind: rng.integers(0, 2**63, size=(n, n_words), dtype=np.uint64)
        for kind in ("phash", "phash_mirror", "dhash", "dhash_mirror")
    }

    def flip(words: np.ndarray, n_bits: int) -> np.ndarray:
        out = words.copy()
        for bit in rng.choice(64 * n_words, n_bits, replace=False):
            out[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        return out

    # planted: 5 ~ 17 directly (3 and 2 bits off), 40 mirrors 80, 60 ~ 61 by pHash only (rejected)
    packed["phash"][17], packed["dhash"][17] = (
        flip(packed["phash"][5], 3),
        flip(packed["dhash"][5], 2),
    )
    packed["phash_mirror"][80], packed["dhash_mirror"][80] = (
        packed["phash"][40],
        flip(packed["dhash"][40], 1),
    )
    packed["phash"][61] = packed["phash"][60]
    monkeypatch.setattr(audit_module, "_BLOCK_ELEMENTS", 7 * n)  # 18 blocks of 7 rows
    pairs = near_pairs(packed, phash_threshold=4, dhash_threshold=3)
    found = {(int(i), int(j)) for i, j, _, _ in pairs}
    assert found == brute_force(packed, 4, 3)
    assert {(5, 17), (40, 80)} <= found and (60, 61) not in found
    rows = {(int(i), int(j)): (int(d), int(m)) for i, j, d, m in pairs}
    assert rows[(5, 17)] == (3, 0) and rows[(40, 80)] == (0, 1)


def test_cli_audit_summary_json_and_out(tiny_data: Path, tmp_path: Path, capsys) -> None:
    shutil.copyfile(
        tiny_data / "train/Baroque/artist-baroque_work-000.jpg", tiny_data / "test/Baroque/copy.jpg"
    )
    out_file = tmp_path / "reports" / "audit.json"
    assert main(["data", "audit", str(tiny_data), "--workers", "1", "--out", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert "24 train, 7 test images" in text
    assert "train/test leakage, exact copies: 1 group (1 test file)" in text
    assert "tiny images (short side < 64 px): 31" in text  # the fixture paints 40x32 images
    saved = json.loads(out_file.read_text())
    assert saved["counts"]["leakage_exact_groups"] == 1 and saved["counts"]["tiny"] == 31

    assert main(["data", "audit", str(tiny_data), "--workers", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"] == saved["counts"]


def test_cli_audit_missing_folder(tmp_path: Path, capsys) -> None:
    assert main(["data", "audit", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_rows_also_in_marks_exact_pixel_copies_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    rows = rng.integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    rows[1] = reference[4]
    rows[3] = reference[0]
    rows[4] = reference[2]
    rows[4, 7, 7, 2] ^= 1  # one bit off: not a copy
    # a read-only memmap reference, as the cache gives it
    np.save(tmp_path / "ref.npy", reference)
    mapped = np.load(tmp_path / "ref.npy", mmap_mode="r")
    expected = [False, True, False, True, False]
    assert rows_also_in(mapped, rows).tolist() == expected
    assert rows_also_in(reference, rows[:0]).tolist() == []
    assert rows_also_in(reference[:0], rows).tolist() == [False] * 5
    # other image sizes cannot match
    assert rows_also_in(reference, rows[:, :4, :4]).tolist() == [False] * 5


@pytest.mark.parametrize(
    "size", [(40, 1), (1, 40), (1, 1)], ids=["one-row", "one-column", "one-pixel"]
)
def test_a_one_pixel_thin_plain_image_is_audited_as_tiny(tmp_path: Path, size) -> None:
    data = make_dataset(tmp_path / "d", {"train": {"A": 2, "B": 2}, "test": {"A": 1}})
    Image.new("RGB", size, (255, 255, 255)).save(data / "train" / "A" / "thin.png")
    report = audit(scan(data), workers=1, progress=False)
    assert "train/A/thin.png" in [entry["path"] for entry in report.tiny]
    assert report.unreadable == []


def test_audit_with_workers_from_a_script_without_a_main_guard_finishes(tmp_path: Path) -> None:
    """Worker processes must not re-run the calling script (forkserver and spawn do)."""
    import subprocess
    import sys

    data = make_dataset(tmp_path / "d", {"train": {"A": 4, "B": 4}, "test": {"A": 2, "B": 2}})
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from artstyle.data.audit import audit\n"
        "from artstyle.data.scan import scan\n"
        "print('script body runs')\n"
        f"report = audit(scan({str(data)!r}), workers=2, progress=False)\n"
        "print('hashed', sum(report.n_images.values()))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body runs") == 1
    assert "hashed 12" in done.stdout
