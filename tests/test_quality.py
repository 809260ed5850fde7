"""Image-quality checks (cleanvision's definitions): scores of planted images and the audit's JSON."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from artstyle.data import audit as audit_module
from artstyle.data import quality
from artstyle.data.audit import audit, summary_lines
from artstyle.data.scan import scan
from test_audit import painting, save


def scores_of(pixels: np.ndarray) -> dict[str, float]:
    return quality.scores(quality.image_properties(pixels))


def test_scores_follow_cleanvision_definitions():
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    s = scores_of(black)
    assert s["dark"] == pytest.approx(0.0)
    assert s["low_information"] == pytest.approx(0.0)  # one grey level: 0 bits
    white = np.full((64, 64, 3), 255, dtype=np.uint8)
    assert scores_of(white)["light"] == pytest.approx(0.0)
    # perceived brightness of pure green: sqrt(0.691) (HSP weights)
    green = np.zeros((64, 64, 3), dtype=np.uint8)
    green[..., 1] = 255
    assert scores_of(green)["dark"] == pytest.approx(np.sqrt(0.691), abs=1e-6)
    # uniform noise over 0..255 in grey: entropy close to 8 bits, score 0.1 x 8
    rng = np.random.default_rng(0)
    noise = np.repeat(rng.integers(0, 256, (128, 128, 1), dtype=np.uint8), 3, axis=2)
    s = scores_of(noise)
    assert s["low_information"] == pytest.approx(0.8, abs=0.01)
    assert s["grayscale"] == 0.0 and quality.is_issue("grayscale", s["grayscale"])
    assert s["blurry"] > 0.5  # every pixel an edge


def test_flags_and_thresholds():
    sharp = np.asarray(painting(5, (128, 128)))
    s = scores_of(sharp)
    assert not any(quality.is_issue(k, v) for k, v in s.items()), s
    # a 9x9 box blur of the same picture is blurry, and scores lower than the sharp one
    blurred = np.asarray(
        Image.fromarray(sharp).resize((14, 14), Image.Resampling.BOX).resize((128, 128))
    )
    b = scores_of(blurred)
    assert b["blurry"] < quality.BLURRY_THRESHOLD < s["blurry"]
    dim = (sharp * 0.25).astype(np.uint8)
    d = scores_of(dim)
    assert quality.is_issue("dark", d["dark"])
    # dark pictures are called dark, not blurry too (cleanvision's dark term in the blur score)
    assert not quality.is_issue("blurry", d["blurry"])
    washed = (255 - (255 - sharp) * 0.03).astype(np.uint8)
    assert quality.is_issue("light", scores_of(washed)["light"])


def test_letterbox_bars_are_left_out():
    washed = np.full((64, 96, 3), 250, dtype=np.uint8)
    washed[20:40, 30:60] = 246
    boxed = np.zeros((96, 96, 3), dtype=np.uint8)
    boxed[16:80] = washed  # black bars above and below, as a square letterbox leaves
    assert quality.content_box(boxed) == (slice(16, 80), slice(0, 96))
    light = scores_of(boxed)["light"]
    assert light == pytest.approx(scores_of(washed)["light"])
    assert quality.is_issue("light", light)  # the bars do not hide a washed-out picture


def test_large_images_are_reduced_to_max_side():
    big = np.asarray(painting(7, (1024, 768)))
    small = quality._reduce(big)
    assert max(small.shape[:2]) <= quality.MAX_SIDE and small.dtype == np.uint8


def test_audit_reports_quality_with_scores_in_one_decode(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for k in range(4):
        save(painting(10 + k), root / f"train/Baroque/fine-{k}.jpg", quality=92)
        save(painting(20 + k), root / f"train/Cubism/fine-{k}.jpg", quality=92)
    save(painting(30), root / "test/Baroque/fine.jpg", quality=92)
    dark = (np.asarray(painting(40)) * 0.2).astype(np.uint8)
    save(Image.fromarray(dark), root / "train/Baroque/dark.png")
    save(Image.new("RGB", (160, 128), (252, 252, 250)), root / "train/Cubism/blank.png")
    save(painting(50).convert("L"), root / "train/Cubism/grey.jpg", quality=92)
    soft = painting(60).resize((16, 12), Image.Resampling.BOX).resize((160, 128))
    save(soft, root / "train/Baroque/soft.png")

    from artstyle.data import images

    calls = []
    real_open = images.open_rgb

    def counting_open(*args, **kwargs):
        calls.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(images, "open_rgb", counting_open)
    report = audit(scan(root), workers=1, progress=False)
    assert len(calls) == 13  # one decode per image: hashes and quality share it

    def paths(kind: str) -> set[str]:
        return {entry["path"] for entry in getattr(report, kind)}

    assert paths("dark") == {"train/Baroque/dark.png"}
    assert paths("light") == {"train/Cubism/blank.png"}
    assert paths("low_information") == {"train/Cubism/blank.png"}
    assert paths("grayscale") == {"train/Cubism/grey.jpg", "train/Cubism/blank.png"}
    # a blank page has no edges at all: blurry too, as in cleanvision
    assert paths("blurry") == {"train/Baroque/soft.png", "train/Cubism/blank.png"}
    data = report.to_dict()
    entry = data["dark"][0]
    assert entry["style"] == "Baroque" and entry["split"] == "train"
    assert entry["score"] < data["params"]["quality"]["thresholds"]["dark"] == 0.37
    assert data["counts"]["blurry"] == 2 and data["counts"]["grayscale"] == 2
    lines = "\n".join(summary_lines(report))
    assert "too dark: 1 image (score < 0.37)" in lines
    assert "train/Baroque/soft.png: score" in lines
    assert audit_module.quality is quality


def test_a_thin_strip_is_measured_not_a_crash():
    # 600 x 2 (a divider line): the reduction keeps one pixel a side at least
    strip = np.random.default_rng(1).integers(0, 256, (2, 600, 3), dtype=np.uint8)
    reduced = quality._reduce(strip)
    assert reduced.shape[0] >= 1 and reduced.shape[1] >= 1 and reduced.shape[2] == 3
    assert set(scores_of(strip)) == {"dark", "light", "blurry", "low_information", "grayscale"}


def test_a_saturated_border_is_not_a_letterbox_bar():
    # a pure red frame around green noise: one channel at 255 is not white
    rng = np.random.default_rng(2)
    framed = np.zeros((200, 200, 3), dtype=np.uint8)
    framed[..., 0] = 255
    framed[40:160, 40:160] = 0
    framed[40:160, 40:160, 1] = rng.integers(0, 256, (120, 120), dtype=np.uint8)
    assert quality.content_box(framed) == (slice(0, 200), slice(0, 200))
    # a black bar is still one
    barred = np.zeros((200, 200, 3), dtype=np.uint8)
    barred[30:170] = rng.integers(0, 256, (140, 200, 3), dtype=np.uint8)
    rows, cols = quality.content_box(barred)
    assert (rows.start, rows.stop) == (30, 170) and (cols.start or 0, cols.stop or 200) == (0, 200)
