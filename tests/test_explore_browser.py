"""The interactive map opened from disk in headless Chromium with the network off.

    .venv/bin/python -m pytest -q -m browser tests/test_explore_browser.py

Hover shows a loaded thumbnail and the right style, a click lists the nearest
neighbours, a legend click hides a style, and nothing outside the file is
requested. Needs the ``chromium`` program (Debian package ``chromium``) and the
``playwright`` Python package; without them the test is skipped with the reason.
With ``ARTSTYLE_GALLERY_SHOT=docs/gallery/explore-map.png`` the screenshot is
also saved there (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artstyle.cli import main

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the dev extra is not installed
    sync_playwright = None
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
N_NEIGHBOURS = 6

# The screen position of one point, and its style, read from Bokeh's own view of the plot.
POINT_JS = """([style, row]) => {
  const doc = Bokeh.documents[0];
  const plot = doc.get_model_by_name("map");
  const view = Bokeh.index.find_one(plot);
  const source = doc.get_model_by_name("points:" + style);
  const box = view.canvas_view.el.getBoundingClientRect();
  return {
    x: box.left + view.frame.x_scale.compute(source.data.x[row]),
    y: box.top + view.frame.y_scale.compute(source.data.y[row]),
    style: source.data.style[row],
    file: source.data.file[row],
  };
}"""
RENDERED_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) return false;
  const plot = Bokeh.documents[0].get_model_by_name("map");
  return plot != null && Bokeh.index.find_one(plot) != null;
}"""


@pytest.fixture(scope="module")
def synthetic_map(tmp_path_factory) -> tuple[Path, list[str]]:
    """A classifier trained briefly on the built-in synthetic set, and its map of both splits."""
    from artstyle.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("explore-browser")
    data = root / "synthetic"
    make_synthetic(data, scale=0.02, size=48, seed=0, progress=False)
    run = root / "classifier"
    cache = str(root / "cache")
    code = main(
        [
            "train", "classifier", "--data", str(data), "--out", str(run), "--epochs", "3",
            "--size", "32", "--progress", "false", "--cache-dir", cache,
        ]
    )  # fmt: skip
    assert code == 0
    code = main(
        [
            "explore", str(run), "--data", str(data), "--split", "train,test",
            "--n-neighbours", str(N_NEIGHBOURS),
            "--progress", "false", "--cache-dir", cache, "--threads", "1",
        ]
    )  # fmt: skip
    assert code == 0
    styles = sorted(p.name for p in (data / "test").iterdir() if p.is_dir())
    return run / "map.html", styles


@pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="chromium or playwright not installed (apt-get install chromium; pip install playwright); "
    "browser check skipped",
)
def test_map_hover_click_legend_offline(synthetic_map, tmp_path):
    page_path, styles = synthetic_map
    url = page_path.resolve().as_uri()
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 960})
            context.set_offline(True)

            def only_the_file(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:  # anything else would need a network the page must not rely on
                    requested.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_file)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_function(RENDERED_JS, timeout=30_000)

            # hover: the tooltip's thumbnail has decoded and names the point's style
            style = "Impressionism"  # the largest style of the synthetic set
            point = page.evaluate(POINT_JS, [style, 0])
            page.mouse.move(point["x"], point["y"])
            thumb = page.locator(".map-thumb").first
            thumb.wait_for(state="visible", timeout=10_000)
            # every thumbnail in the tooltip (points can overlap) has decoded at 64 px
            widths = page.locator(".map-thumb:visible").evaluate_all(
                "images => images.map(img => img.complete && img.naturalWidth)"
            )
            assert widths and set(widths) == {64}
            assert style in page.locator(".map-style:visible").all_inner_texts()

            # click: the painting and its neighbours, each with a style of the data set
            page.mouse.click(point["x"], point["y"])
            neighbours = page.locator(".map-neighbours li")
            neighbours.first.wait_for(state="attached", timeout=10_000)
            assert neighbours.count() == N_NEIGHBOURS
            listed = page.locator(".map-neighbour-style").all_inner_texts()
            assert len(listed) == N_NEIGHBOURS and set(listed) <= set(styles)
            assert point["file"] in page.locator(".map-detail").first.inner_text()
            screenshot = tmp_path / "explore-map.png"
            page.screenshot(path=str(screenshot))  # the tooltip and the neighbours both shown

            # legend: a click on the entry hides that style's points, another shows them
            visible = "name => Bokeh.documents[0].get_model_by_name('scatter:' + name).visible"
            hidden = "name => !Bokeh.documents[0].get_model_by_name('scatter:' + name).visible"
            assert page.evaluate(visible, style) is True
            entry = page.get_by_text(f"{style} (", exact=False).first
            entry.click()
            page.wait_for_function(hidden, arg=style)
            assert page.evaluate(visible, style) is False
            page.mouse.move(5, 5)
            page.mouse.move(point["x"], point["y"])  # a hidden point answers no hover
            page.wait_for_timeout(300)
            assert style not in page.locator(".map-style:visible").all_inner_texts()
            entry.click()
            assert page.evaluate(visible, style) is True
            assert errors == []
        finally:
            browser.close()
    assert requested == []

    # the screenshot shows the map: varied pixels, much of it not white
    pixels = np.asarray(Image.open(screenshot).convert("RGB"), dtype=np.int16)
    assert pixels.shape == (960, 1440, 3)
    assert pixels.std() > 20
    assert (pixels < 235).any(axis=2).mean() > 0.03
    gallery = os.environ.get("ARTSTYLE_GALLERY_SHOT")
    if gallery:
        Path(gallery).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, gallery)
