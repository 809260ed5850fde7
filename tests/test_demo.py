"""The demo end to end on a very small plan: every step runs, the report is filled from this run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from artstyle.demo import QUICK, run_demo
from artstyle.errors import ArtstyleError

TINY = dataclasses.replace(
    QUICK,
    scale=0.02,
    image_side=40,
    size=32,
    classifier_minutes=0.1,
    classifier_epochs=2,
    balance_minutes=0.05,
    balance_epochs=1,
    balance_strategies=("none", "weights"),
    autoencoder_minutes=0.1,
    autoencoder_epochs=1,
    stylizer_minutes=0.1,
    stylizer_epochs=1,
    stylizer_size=16,
    cluster_max_points=200,
)


def test_demo_runs_every_step_and_fills_the_report(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ARTSTYLE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo-out"
    said: list[str] = []
    summary = run_demo(out, plan=TINY, say=said.append)

    steps = summary["steps"]
    for name in ("synthetic data", "classifier", "balance comparison", "autoencoder",
                 "representations and clustering", "stylizer", "report"):  # fmt: skip
        assert name in steps and not steps[name].get("reused"), name
    assert any(line.startswith("[skip]  LoRA") for line in said)

    runs = out / "runs"
    classifier = json.loads((runs / "classifier" / "metrics.json").read_text())
    autoencoder = json.loads((runs / "autoencoder" / "metrics.json").read_text())
    stylizer = json.loads((runs / "stylizer" / "metrics.json").read_text())
    assert 0.0 <= classifier["balanced_accuracy"] <= 1.0
    assert autoencoder["psnr"] > 0
    assert 0.0 <= stylizer["style_hit_rate"] <= 1.0
    comparison = json.loads((runs / "balance" / "comparison.json").read_text())
    assert {r["strategy"] for r in comparison["rows"]} == {"none", "weights"}

    # the report is this run's: its numbers appear in the page
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"{classifier['balanced_accuracy']:.3f}" in html
    assert f"{autoencoder['psnr']:.1f}" in html
    assert f"{stylizer['style_hit_rate']:.3f}" in html
    assert "<img" in html or "data:image/png" in html
    gallery = sorted(p.name for p in (out / "gallery").glob("*.png"))
    assert gallery == sorted(
        ["balance_comparison.png", "classifier_tsne.png", "confusion_matrix.png",
         "reconstructions.png", "representations.png", "style_grid.png"]
    )  # fmt: skip
    assert summary["headline"] and any("classifier" in line for line in summary["headline"])

    # a second run reuses every finished step and rewrites the report
    said.clear()
    again = run_demo(out, plan=TINY, say=said.append)
    assert again["steps"]["classifier"] == {"reused": True}
    assert any(line.startswith("[reuse] stylizer") for line in said)


def test_demo_refuses_to_reuse_steps_made_with_other_settings(tmp_path, monkeypatch) -> None:
    """A full demo into a folder that holds a quick one must not report the quick numbers."""
    monkeypatch.setenv("ARTSTYLE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo-out"
    out.mkdir()
    marker = out / "demo.json"
    earlier = {"quick": True, "seed": 0, "plan": dataclasses.asdict(TINY)}
    marker.write_text(json.dumps(earlier), encoding="utf-8")
    (out / "runs").mkdir()  # stands for the earlier demo's finished steps
    with pytest.raises(
        ArtstyleError, match=r"holds a quick demo, seed 0; pass --redo .* full demo"
    ):
        run_demo(out, plan=TINY, say=lambda line: None)
    with pytest.raises(ArtstyleError, match="seed 0 with other budgets"):
        run_demo(out, quick=True, plan=dataclasses.replace(TINY, classifier_epochs=3))
    # nothing was touched: the marker and the earlier steps are as they were
    assert json.loads(marker.read_text(encoding="utf-8")) == json.loads(json.dumps(earlier))
    assert (out / "runs").is_dir()
    marker.write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtstyleError, match="not valid JSON.*--redo"):
        run_demo(out, quick=True, plan=TINY)
