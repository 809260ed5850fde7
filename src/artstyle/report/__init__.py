"""Run folders -> one self-contained HTML page and a markdown twin.

    artstyle report demo-out --out demo-out/report.html --markdown demo-out/REPORT.md

The report reads files only (JSON, YAML, CSV, PNG): it never loads a model and
never imports torch, so it can be rebuilt anywhere from copied run folders.
Figures are embedded as base64 data URIs, the CSS is inline and the page
needs no server, network or fonts: it opens from disk. The markdown twin has
the same sections for pasting into a README; it links figures by relative path.

A run's kind is recognised from what it holds: ``model.json``'s ``kind`` (or
``config.yaml``'s ``task``), else the metrics keys (``balanced_accuracy`` ->
classifier, ``psnr`` -> autoencoder, ``style_hit_rate`` -> stylizer), and
``comparison.json``, ``representations.json``, ``cluster.json`` and
``pytorch_lora_weights.safetensors`` mark a balance comparison, a
representation comparison, a clustering and a LoRA run. A missing section is
left out; a broken file gives a visible note in its run's part, not a crash.
A run's interactive map (``RUN/map.html``, written by ``artstyle explore RUN``)
is linked from its part by a path relative to the page, not embedded: maps of
thousands of thumbnails would make the report itself heavy.

Where each step lives: ``read`` (run folders -> runs), ``sections`` (runs ->
parts of sections, one module per run kind), ``tables``, ``figures`` and
``wording`` (the blocks those parts are made of, defined in ``blocks``),
``collect`` (everything -> one report) and ``render`` (report -> HTML and
markdown through the ``template.*.j2`` files beside this one).
"""

from artstyle.report.collect import collect
from artstyle.report.read import discover, read_run, recognise
from artstyle.report.render import build_report, render_html, render_markdown
from artstyle.report.tables import confusion_table, history_table
from artstyle.report.wording import fmt

__all__ = [
    "build_report",
    "collect",
    "confusion_table",
    "discover",
    "fmt",
    "history_table",
    "read_run",
    "recognise",
    "render_html",
    "render_markdown",
]
