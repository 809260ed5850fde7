"""The report opened from disk in headless Chromium: the page paints and every figure loads.

    .venv/bin/python -m pytest -q -m browser tests/test_report_browser.py

Needs the ``chromium`` program (Debian package ``chromium``; `.ci/run` installs it
when apt is available); without it the test is skipped with the reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artstyle.report import build_report
from test_report import autoencoder_run, classifier_run, data_folder, stylizer_run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MAGENTA = (255, 0, 255)  # a colour the page's own CSS never uses


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, int]:
    root = tmp_path / "runs"
    data_folder(root / "data")
    clf = classifier_run(root / "classifier")
    # the first figure on the page: a solid block the screenshot must show
    Image.new("RGB", (320, 200), MAGENTA).save(clf / "figures" / "confusion_matrix.png")
    autoencoder_run(root / "autoencoder")
    stylizer_run(root / "stylizer")
    out = tmp_path / "site" / "report.html"
    summary = build_report([root], out=out)
    return out, summary.n_figures


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium); browser check skipped",
)
def test_report_paints_and_every_image_loads(report, tmp_path):
    page, n_figures = report
    assert n_figures == 5
    url = page.resolve().as_uri()
    assert url.startswith("file://")

    shot = tmp_path / "shot.png"
    result = chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", url
    )
    assert shot.is_file(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape == (3000, 1200, 3)
    # not blank: text, tables and figures make the page vary, and much of it is not white
    assert pixels.std() > 20
    non_white = (pixels < 235).any(axis=2).mean()
    assert non_white > 0.03, f"only {non_white:.1%} of the page is not white"
    # the embedded magenta figure is painted at its natural size (320 x 200)
    magenta = (np.abs(pixels - np.array(MAGENTA)).sum(axis=2) < 30).sum()
    assert magenta > 0.9 * 320 * 200, f"{magenta} magenta pixels"

    result = chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", url)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<body[^>]*data-images-ok="(\d+)/(\d+)"', result.stdout)
    assert match, "the page's load script did not run"
    loaded, total = int(match.group(1)), int(match.group(2))
    assert (loaded, total) == (n_figures, n_figures)
