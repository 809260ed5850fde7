"""Benchmark section "explore": the interactive map of 5,000 real paintings, its size and time to interactive.

``wikiart7-large`` (../shared/data, or ARTSTYLE_REAL_DATA) is embedded as raw
pixels (the train split, 7,587 paintings, cached at 64 px and averaged to
16 px), and ``artstyle explore``'s map of a seeded per-style sample of 5,000 of
them is written (k-means, t-SNE, nearest neighbours, 64 px WebP thumbnails,
one HTML file). The page is opened from disk in headless Chromium with the
network off; time to interactive runs from navigation to the Bokeh plot drawn
and a hover answering with its decoded thumbnail (median of three fresh
loads). Targets: under 20 MB, interactive within 3 s. The section skips
(keeps its last block) when the data or Chromium is not there.

    python bench/run.py --only explore --out docs/benchmarks.md
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import row

HERE = Path(__file__).resolve().parent
SET = "wikiart7-large"
N_POINTS = 5_000
TARGET_MB = 20.0
TARGET_SECONDS = 3.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) return null;
  const plot = Bokeh.documents[0].get_model_by_name("map");
  const view = plot && Bokeh.index.find_one(plot);
  if (!view) return null;
  const scatter = plot.renderers.find((r) => r.name && r.name.startsWith("scatter:"));
  const source = scatter.data_source;
  const box = view.canvas_view.el.getBoundingClientRect();
  return {
    x: box.left + view.frame.x_scale.compute(source.data.x[0]),
    y: box.top + view.frame.y_scale.compute(source.data.y[0]),
  };
}"""


def data_root() -> Path:
    return Path(os.environ.get("ARTSTYLE_REAL_DATA", HERE.parent.parent / "shared" / "data"))


def time_to_interactive(browser, url: str) -> float:
    """Seconds from navigation to the plot drawn and a hover showing a decoded thumbnail."""
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    context.set_offline(True)
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        point = page.wait_for_function(READY_JS, timeout=60_000, polling=20).json_value()
        page.mouse.move(point["x"], point["y"])
        # the thumbnail sits in Bokeh's shadow DOM; Playwright's locators pierce it
        thumb = page.locator(".map-thumb:visible").first
        thumb.wait_for(state="visible", timeout=30_000)
        width = thumb.evaluate(
            "img => img.complete ? img.naturalWidth : img.decode().then(() => img.naturalWidth)"
        )
        seconds = time.perf_counter() - started
        if not width:
            raise RuntimeError("the hovered point's thumbnail did not decode")
        return seconds
    finally:
        context.close()


def section(*, quick: bool) -> list[dict[str, Any]] | None:
    data = data_root() / SET
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not (data / "train").is_dir():
        print(f"   no {SET} under {data.parent}: section skipped", flush=True)
        return None
    if chromium is None:
        print("   no chromium program: section skipped", flush=True)
        return None
    from playwright.sync_api import sync_playwright

    from artstyle.analysis.embed import embed_pixels
    from artstyle.analysis.explore import build_map
    from artstyle.config import ExploreConfig

    n_points = 1_000 if quick else N_POINTS
    with tempfile.TemporaryDirectory(prefix="bench-explore-") as work:
        started = time.perf_counter()
        table = embed_pixels(data, split="train", size=64, side=16, cache_dir=work, progress=False)
        embed_seconds = time.perf_counter() - started
        config = ExploreConfig(data=data, max_points=n_points, progress=False)
        out = Path(work) / "map.html"
        started = time.perf_counter()
        result = build_map([table], config, out=out, data=data)
        map_seconds = time.perf_counter() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                loads = [time_to_interactive(browser, out.resolve().as_uri()) for _ in range(3)]
            finally:
                browser.close()
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    return [
        row(
            f"map page of {result.n_points:,} of {result.n_total:,} {SET} paintings (raw pixels, t-SNE)",
            result.n_bytes / 1e6,
            "MB",
            target=TARGET_MB,
            higher_is_better=False,
            note=f"64 px WebP thumbnails inline, {config.n_neighbours} neighbours per point, Bokeh inline",
        ),
        row(
            "time to interactive in headless Chromium, offline (median of 3 loads)",
            statistics.median(loads),
            "s",
            target=TARGET_SECONDS,
            higher_is_better=False,
            note="navigation -> plot drawn and a hover showing its thumbnail; loads: "
            + ", ".join(f"{s:.2f}" for s in loads),
        ),
        row(
            f"writing the map of {result.n_points:,} points",
            map_seconds,
            "s",
            note=steps,
        ),
        row(
            f"raw-pixel embedding of {result.n_total:,} paintings (decode + cache)",
            embed_seconds,
            "s",
        ),
    ]
