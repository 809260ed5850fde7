"""The page of ``artstyle explore``: one embedding's map as a self-contained Bokeh layout.

:class:`MapData` (every point's position, style, thumbnail, cluster,
neighbours and prediction) -> the Bokeh layout (header and notes, controls,
the map with its legends, the side panel) -> one HTML file with Bokeh's
JavaScript inlined. The interactions are Bokeh's own tools and interactive
legend plus a few small ``CustomJS`` callbacks: colour switching, search, the
click panel and the centroids toggle. The numbers come from
:mod:`artstyle.analysis.explore`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MARKERS = ("circle", "triangle", "square", "diamond")  # one per split, in the order given
RIGHT, WRONG = "#1a7f37", "#cf222e"
MAX_LISTED_MISSING = 20  # missing images named on the page (all of them are in the result)


def style_palette(n: int) -> list[str]:
    """``n`` colours: Bokeh's Category20, 20b and 20c (60 distinct), repeated beyond that."""
    from bokeh.palettes import Category20, Category20b, Category20c

    base = list(Category20[20]) + list(Category20b[20]) + list(Category20c[20])
    return [base[i % len(base)] for i in range(n)]


@dataclass
class MapData:
    """Everything the page shows, one entry per point (row order of the concatenated tables)."""

    x: np.ndarray
    y: np.ndarray
    styles: list[str]
    artists: list[str]
    files: list[str]
    splits: list[str]
    thumbs: list[str]
    originals: list[str]  # file:// URI of the painting on disk, or ""
    clusters: np.ndarray
    neighbours: np.ndarray  # (N, k) point indices
    distances: np.ndarray  # (N, k)
    predictions: list[str] | None
    probabilities: np.ndarray | None
    spread: dict[str, dict[str, float]]  # per style on the map: centroid and ellipse
    spread_full: dict[str, float]  # per style: mean distance to its centroid, full space
    title: str
    notes: list[str]
    missing: list[tuple[str, str]]
    thumb_px: int


_HELPERS = r"""
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const state = window.__artstyle_map || (window.__artstyle_map = {timer: null, where: null});
if (state.where === null) {
  // point index -> [source number, row]: neighbours are stored by point index
  state.where = {};
  sources.forEach((source, s) => source.data.gid.forEach((gid, row) => { state.where[gid] = [s, row]; }));
}
"""

# A new text in a Div lays the page out again, and Bokeh 3.9 then leaves the legends'
# swatches unpainted until their next change: ask them to paint once the layout is done.
_REPAINT_LEGENDS = r"""
const repaint_legends = () => setTimeout(() => legends.forEach((legend) => {
  const view = Bokeh.index.find_one(legend);
  if (view && view.request_paint) view.request_paint();
}), 50);
"""

_SELECTION_JS = (
    _HELPERS
    + _REPAINT_LEGENDS
    + r"""
clearTimeout(state.timer);
// one tap or box fires a change on every source: answer once, after the last
state.timer = setTimeout(() => {
  repaint_legends();
  const picked = [];
  sources.forEach((source, s) => source.selected.indices.forEach((row) => picked.push([s, row])));
  if (picked.length === 0) {
    detail.text = '<p class="map-hint">Click a point to see the painting and its ' + k + ' nearest neighbours; drag a box or lasso to list a group.</p>';
    return;
  }
  const field = (s, row, name) => sources[s].data[name][row];
  // a click (geometry "point") shows one painting, even where points overlap
  const clicked = state.gesture === "point";
  state.gesture = null;
  if (picked.length === 1 || clicked) {
    const [s, row] = picked[0];
    const others = picked.length - 1;
    const gid = field(s, row, "gid");
    const original = field(s, row, "original");
    let text = '<div class="map-detail" data-gid="' + gid + '">'
      + '<img class="map-large" src="' + field(s, row, "thumb") + '" width="' + (3 * px) + '" height="' + (3 * px) + '">'
      + '<p><b>' + esc(field(s, row, "style")) + '</b>'
      + (field(s, row, "artist") ? ' · ' + esc(field(s, row, "artist")) : '')
      + '<br><span class="map-file">' + esc(field(s, row, "file")) + '</span> (' + esc(field(s, row, "split")) + ')'
      + (field(s, row, "pred_text") ? '<br>' + esc(field(s, row, "pred_text")) : '')
      + (original ? '<br><a href="' + esc(original) + '" target="_blank">open the painting</a>' : '')
      + (others > 0 ? '<br>(' + others + ' more under the cursor)' : '')
      + '</p><p><b>' + k + ' nearest neighbours</b> (full embedding space)</p><ol class="map-neighbours">';
    for (let j = 0; j < k; j++) {
      const other = neighbours[gid * k + j];
      if (other < 0) continue;
      const [t, r] = state.where[other];
      text += '<li data-gid="' + other + '"><img src="' + field(t, r, "thumb") + '" width="' + px + '" height="' + px + '">'
        + '<span><b class="map-neighbour-style">' + esc(field(t, r, "style")) + '</b><br>'
        + esc(field(t, r, "file")) + '<br>distance ' + distances[gid * k + j].toFixed(2) + '</span></li>';
    }
    detail.text = text + '</ol></div>';
    return;
  }
  const counts = {};
  picked.forEach(([s, row]) => { const name = field(s, row, "style"); counts[name] = (counts[name] || 0) + 1; });
  const ranked = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  let text = '<div class="map-selection"><p><b>' + picked.length + ' selected</b></p><table>'
    + ranked.map(([name, n]) => '<tr><td>' + esc(name) + '</td><td>' + n + '</td></tr>').join('') + '</table><ul>';
  picked.slice(0, 200).forEach(([s, row]) => {
    text += '<li>' + esc(field(s, row, "file")) + ' · ' + esc(field(s, row, "style")) + '</li>';
  });
  if (picked.length > 200) text += '<li>... and ' + (picked.length - 200) + ' more</li>';
  detail.text = text + '</ul></div>';
}, 0);
"""
)

_SEARCH_JS = (
    _REPAINT_LEGENDS
    + r"""
const query = (cb_obj.value_input || "").trim().toLowerCase();
let n = 0;
sources.forEach((source) => {
  const hits = [];
  if (query) {
    source.data.file.forEach((name, row) => {
      if (name.toLowerCase().includes(query) || source.data.artist[row].toLowerCase().includes(query)) hits.push(row);
    });
  }
  n += hits.length;
  source.selected.indices = hits;
});
count.text = query ? n + " found" : "";
repaint_legends();
"""
)

_COLOUR_JS = (
    _REPAINT_LEGENDS
    + r"""
const key = ["color_style", "color_cluster", "color_correct"][cb_obj.active];
sources.forEach((source) => {
  source.data = Object.assign({}, source.data, {color: source.data[key]});
});
legend_key.text = keys[cb_obj.active];
repaint_legends();
"""
)

_CENTROID_JS = r"""
// a style's centroid shows when asked for and while its points are shown
centroids.forEach((pair, i) => {
  const shown = toggle.active && scatters[i].visible;
  pair.forEach((renderer) => { renderer.visible = shown; });
});
"""

_CSS = """
.map-notes { color: #9a6700; background: #fff8c5; border: 1px solid #d4a72c66; border-radius: 6px; padding: 4px 10px; margin: 4px 0; }
.map-detail img.map-large { image-rendering: auto; border: 1px solid #d1d9e0; }
.map-neighbours { padding-left: 18px; }
.map-neighbours li { margin: 4px 0; display: flex; gap: 6px; align-items: flex-start; }
.map-neighbours li img { flex: none; }
.map-neighbours li span { display: inline-block; font-size: 12px; }
.map-file { font-family: monospace; font-size: 12px; }
.map-selection { font-size: 12px; }
"""


def _header_html(data: MapData) -> str:
    parts = [f"<h2 style='margin:4px 0'>{html.escape(data.title)}</h2>"]
    parts += [f"<p class='map-notes'>{html.escape(note)}</p>" for note in data.notes]
    if data.missing:
        listed = "".join(
            f"<li>{html.escape(name)}: {html.escape(why)}</li>"
            for name, why in data.missing[:MAX_LISTED_MISSING]
        )
        more = len(data.missing) - MAX_LISTED_MISSING
        if more > 0:
            listed += f"<li>... and {more} more</li>"
        parts.append(
            f"<details><summary>{len(data.missing)} images shown as grey squares</summary><ul>{listed}</ul></details>"
        )
    return "".join(parts)


def map_layout(data: MapData):
    """The Bokeh layout of the page: header, controls, the map with its legend, the side panel."""
    from bokeh.events import SelectionGeometry
    from bokeh.layouts import column, row
    from bokeh.models import (
        BoxSelectTool,
        ColumnDataSource,
        CustomJS,
        Div,
        HoverTool,
        InlineStyleSheet,
        LassoSelectTool,
        Legend,
        LegendItem,
        RadioButtonGroup,
        TapTool,
        TextInput,
        Toggle,
    )
    from bokeh.plotting import figure

    n = len(data.styles)
    style_names = list(dict.fromkeys(sorted(data.styles)))
    colours = dict(zip(style_names, style_palette(len(style_names)), strict=True))
    cluster_ids = sorted(set(data.clusters.tolist()))
    cluster_colours = dict(zip(cluster_ids, style_palette(len(cluster_ids)), strict=True))
    split_names = list(dict.fromkeys(data.splits))
    marker_of = {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(split_names)}
    has_predictions = data.predictions is not None
    styles = np.asarray(data.styles)

    plot = figure(
        name="map",
        width=1000,
        height=720,
        tools="pan,wheel_zoom,reset,save",
        active_scroll="wheel_zoom",
        title=f"{n:,} points · hover for the painting, click for its neighbours",
        x_axis_label="",
        y_axis_label="",
        toolbar_location="above",
    )
    plot.xaxis.visible = False
    plot.yaxis.visible = False
    plot.grid.grid_line_alpha = 0.3

    sources, scatters, legend_items, centroid_pairs = [], [], [], []
    spread = data.spread
    for name in style_names:
        rows = np.flatnonzero(styles == name)
        pred_text, correct = [""] * len(rows), [colours[name]] * len(rows)
        if has_predictions:
            pred_text = [
                f"predicted {data.predictions[i]} ({data.probabilities[i]:.2f})" for i in rows
            ]
            correct = [RIGHT if data.predictions[i] == name else WRONG for i in rows]
        source = ColumnDataSource(
            {
                "x": data.x[rows].tolist(),
                "y": data.y[rows].tolist(),
                "gid": rows.tolist(),
                "thumb": [data.thumbs[i] for i in rows],
                "original": [data.originals[i] for i in rows],
                "style": [name] * len(rows),
                "artist": [data.artists[i] for i in rows],
                "file": [data.files[i] for i in rows],
                "split": [data.splits[i] for i in rows],
                "marker": [marker_of[data.splits[i]] for i in rows],
                "cluster": [int(data.clusters[i]) for i in rows],
                "pred_text": pred_text,
                "color": [colours[name]] * len(rows),
                "color_style": [colours[name]] * len(rows),
                "color_cluster": [cluster_colours[int(data.clusters[i])] for i in rows],
                "color_correct": correct,
            },
            name=f"points:{name}",
        )
        scatter = plot.scatter(
            "x",
            "y",
            source=source,
            marker="marker",
            size=8,
            fill_color="color",
            line_color="color",
            fill_alpha=0.75,
            line_alpha=0.9,
            nonselection_fill_alpha=0.12,
            nonselection_line_alpha=0.15,
            selection_line_color="black",
            name=f"scatter:{name}",
        )
        # drawn over the scatter's own swatch in the legend, so the swatch keeps the
        # style's colour whatever the points are coloured by; its one point is NaN, never
        # drawn on the map (Bokeh draws no legend swatch for a renderer without data)
        swatch = plot.scatter(
            x=[np.nan],
            y=[np.nan],
            marker="circle",
            size=8,
            fill_color=colours[name],
            line_color=colours[name],
        )
        sources.append(source)
        scatters.append(scatter)
        legend_items.append(LegendItem(label=f"{name} ({len(rows)})", renderers=[scatter, swatch]))
        info = spread[name]
        centre_source = ColumnDataSource(
            {
                "x": [info["x"]],
                "y": [info["y"]],
                "width": [info["width"]],
                "height": [info["height"]],
                "angle": [info["angle"]],
                "style": [name],
                "n": [info["n"]],
                "full": [round(data.spread_full.get(name, float("nan")), 2)],
            }
        )
        ellipse = plot.ellipse(
            "x",
            "y",
            width="width",
            height="height",
            angle="angle",
            source=centre_source,
            fill_color=colours[name],
            fill_alpha=0.08,
            line_color=colours[name],
            line_width=2,
            visible=False,
        )
        centroid = plot.scatter(
            "x",
            "y",
            source=centre_source,
            marker="x",
            size=18,
            line_width=3,
            line_color=colours[name],
            visible=False,
            name=f"centroid:{name}",
        )
        centroid_pairs.append([ellipse, centroid])

    legend = Legend(
        items=legend_items,
        click_policy="hide",
        title="style (click to hide)",
        label_text_font_size="9pt",
    )
    legend.spacing = 0
    plot.add_layout(legend, "right")
    legends = [legend]
    if len(split_names) > 1:
        keys = []
        for split in split_names:
            renderer = plot.scatter(
                x=[np.nan],
                y=[np.nan],
                marker=marker_of[split],
                size=8,
                fill_color="#777",
                line_color="#777",
            )
            keys.append(LegendItem(label=split, renderers=[renderer]))
        legends.append(Legend(items=keys, title="split", click_policy="none"))
        plot.add_layout(legends[-1], "right")

    tooltip = (
        '<div class="map-tooltip" style="display:flex;gap:8px;max-width:380px">'
        f'<img class="map-thumb" src="@thumb" width="{data.thumb_px}" height="{data.thumb_px}" '
        'style="flex:none;border:1px solid #ccc">'
        '<div style="font-size:12px"><b class="map-style">@style</b><br>@artist<br>'
        '<span class="map-file">@file</span> (@split)<br>@pred_text</div></div>'
    )
    plot.add_tools(HoverTool(renderers=scatters, tooltips=tooltip))
    # selections are of paintings only: never of legend swatches or centroids
    plot.add_tools(
        BoxSelectTool(renderers=scatters),
        LassoSelectTool(renderers=scatters),
        TapTool(renderers=scatters),
    )
    plot.add_tools(
        HoverTool(
            renderers=[pair[1] for pair in centroid_pairs],
            tooltips=[
                ("style centroid", "@style (@n points)"),
                ("spread, full space", "@full (mean distance to the centroid, standardised)"),
            ],
        )
    )

    k = int(data.neighbours.shape[1]) if data.neighbours.ndim == 2 else 0
    # Bokeh draws each Div in its own shadow root: the page's styles reach it only this way
    css = InlineStyleSheet(css=_CSS)
    detail = Div(
        text="",
        width=380,
        name="detail",
        stylesheets=[css],
        height=760,
        styles={"overflow-y": "auto"},
    )
    on_select = CustomJS(
        args={
            "sources": sources,
            "legends": legends,
            "detail": detail,
            "neighbours": data.neighbours.reshape(-1).tolist(),
            "distances": np.round(data.distances.reshape(-1), 3).tolist(),
            "k": k,
            "px": data.thumb_px,
        },
        code=_SELECTION_JS,
    )
    for source in sources:
        source.selected.js_on_change("indices", on_select)
    # which gesture made the selection: a click shows one painting, a box or lasso a list
    plot.js_on_event(
        SelectionGeometry,
        CustomJS(
            code="(window.__artstyle_map || (window.__artstyle_map = {timer: null, where: null})).gesture = cb_obj.geometry.type;"
        ),
    )
    detail.text = (
        f'<p class="map-hint">Click a point to see the painting and its {k} nearest neighbours; '
        "drag a box or lasso to list a group.</p>"
    )

    modes = ["style", "cluster"] + (["prediction right / wrong"] if has_predictions else [])

    def top_style(cluster: int) -> str:
        names, counts = np.unique(styles[data.clusters == cluster], return_counts=True)
        return f"{html.escape(str(names[np.argmax(counts)]))} {counts.max()}/{counts.sum()}"

    cluster_key = ", ".join(
        f"<span style='color:{cluster_colours[c]}'>■</span> {c} ({top_style(c)})"
        for c in cluster_ids
    )
    keys_html = [
        "Colour: style (legend at the right).",
        f"Colour: k-means cluster ({len(cluster_ids)} clusters, full space): {cluster_key}",
    ]
    if has_predictions:
        n_right = sum(p == s for p, s in zip(data.predictions, data.styles, strict=True))
        keys_html.append(
            f"Colour: <span style='color:{RIGHT}'>■ right</span> / <span style='color:{WRONG}'>■ wrong</span> "
            f"prediction ({n_right} of {n} right, {n_right / max(n, 1):.1%})."
        )
    legend_key = Div(text=keys_html[0], width=1000, name="colour-key")
    colour = RadioButtonGroup(labels=modes, active=0, name="colour-by")
    colour.js_on_change(
        "active",
        CustomJS(
            args={
                "sources": sources,
                "legends": legends,
                "legend_key": legend_key,
                "keys": keys_html,
            },
            code=_COLOUR_JS,
        ),
    )
    count = Div(text="", name="search-count")
    search = TextInput(placeholder="search file or artist", width=260, name="search")
    search.js_on_change(
        "value_input",
        CustomJS(args={"sources": sources, "legends": legends, "count": count}, code=_SEARCH_JS),
    )
    toggle = Toggle(label="style centroids and spread", active=False, name="centroids")
    sync = CustomJS(
        args={"centroids": centroid_pairs, "scatters": scatters, "toggle": toggle},
        code=_CENTROID_JS,
    )
    toggle.js_on_change("active", sync)
    for scatter in scatters:
        scatter.js_on_change("visible", sync)

    header = Div(text=_header_html(data), width=1300, name="header", stylesheets=[css])
    controls = row(colour, search, count, toggle)
    return column(header, controls, legend_key, row(plot, detail))


def write_page(data: MapData, out: Path) -> int:
    """Write the self-contained page (atomic); its size in bytes."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from artstyle.io import write_bytes

    page = file_html(map_layout(data), INLINE, title=data.title).encode("utf-8")
    write_bytes(out, page)
    return len(page)
