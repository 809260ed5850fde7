"""The demo end to end on a very small plan: every step runs, the report is filled from this run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from artstyle.errors import ArtstyleError
from artstyle.workflows.demo import QUICK, run_demo

TINY = dataclasses.replace(
    QUICK,
    scale=0.02,
    image_side=40,
    size=32,
    classifier_epochs=2,
    balance_epochs=1,
    balance_strategies=("none", "weights"),
    autoencoder_epochs=1,
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
    # the plan is said first, with its duration, and every run in it is budgeted in epochs
    assert said[0].startswith("[plan]  ") and f"about {TINY.minutes:g} min" in said[0]

    runs = out / "runs"
    classifier = json.loads((runs / "classifier" / "metrics.json").read_text())
    autoencoder = json.loads((runs / "autoencoder" / "metrics.json").read_text())
    stylizer = json.loads((runs / "stylizer" / "metrics.json").read_text())
    for run in ("classifier", "autoencoder", "stylizer", "balance/none"):
        config = (runs / run / "config.yaml").read_text()
        assert "max_minutes: null" in config, run
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


def _fake_steps(monkeypatch, calls: list[str], *, stop_in: str | None = None) -> None:
    """Every demo step replaced by one that writes its done file (and a run folder first);
    ``stop_in`` is interrupted after its run folder exists, as by Ctrl-C."""
    import artstyle.workflows.demo as demo

    def fake(name: str, where: int, file: str):
        def step(*args):
            calls.append(name)
            done = args[where] / file
            done.parent.mkdir(parents=True, exist_ok=True)
            (done.parent / "config.yaml").write_text("task: x\n")
            if name == stop_in:
                raise KeyboardInterrupt
            done.write_text("{}")

        return step

    monkeypatch.setattr(demo, "_synth", fake("synth", 0, "synthetic.json"))
    monkeypatch.setattr(demo, "_data_reports", fake("reports", 1, "balance.json"))
    monkeypatch.setattr(demo, "_cache", lambda data, plan: calls.append("cache"))
    monkeypatch.setattr(demo, "_classifier", fake("classifier", 1, "metrics.json"))
    monkeypatch.setattr(demo, "_balance", fake("balance", 1, "comparison.json"))
    monkeypatch.setattr(demo, "_autoencoder", fake("autoencoder", 1, "metrics.json"))
    monkeypatch.setattr(
        demo,
        "_representations",
        fake("representations", 1, "representations/representations.json"),
    )
    monkeypatch.setattr(demo, "_map", fake("map", 1, "map.html"))
    monkeypatch.setattr(demo, "_stylizer", fake("stylizer", 1, "stylizer/metrics.json"))
    monkeypatch.setattr(demo, "_lora", fake("lora", 2, "metrics.json"))
    monkeypatch.setattr(demo, "_report", lambda out, report: calls.append("report"))
    monkeypatch.setattr(demo, "headline", lambda runs: [])


def test_a_step_stopped_midway_runs_again_and_finished_ones_are_reused(tmp_path, monkeypatch):
    out = tmp_path / "demo-out"
    calls: list[str] = []
    _fake_steps(monkeypatch, calls, stop_in="autoencoder")
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, plan=TINY, say=lambda line: None)
    assert (out / "runs" / "autoencoder" / "config.yaml").is_file()  # left unfinished
    calls.clear()
    _fake_steps(monkeypatch, calls)
    said: list[str] = []
    run_demo(out, plan=TINY, say=said.append)
    # both maps come after the step that was stopped: each is drawn once
    assert calls == ["cache", "autoencoder", "representations", "map", "map", "stylizer", "report"]
    assert f"[again] autoencoder: removing {out / 'runs' / 'autoencoder'}" in "\n".join(said)
    # a done file written before its step returned does not make the step done
    calls.clear()
    _fake_steps(monkeypatch, calls, stop_in="stylizer")
    (out / "runs" / "stylizer").mkdir(exist_ok=True)
    (out / "runs" / "stylizer" / "metrics.json").write_text("{}")
    marker = json.loads((out / "demo.json").read_text())
    del marker["steps_done"]["stylizer"]
    (out / "demo.json").write_text(json.dumps(marker))
    _fake_steps(monkeypatch, calls)
    run_demo(out, plan=TINY, say=lambda line: None)
    assert calls == ["cache", "stylizer", "report"]


def test_a_classifier_trained_again_gets_its_map_drawn_again_and_only_it(tmp_path, monkeypatch):
    out = tmp_path / "demo-out"
    calls: list[str] = []
    _fake_steps(monkeypatch, calls)
    run_demo(out, plan=TINY, say=lambda line: None)
    assert calls.count("map") == 2
    assert (out / "runs" / "classifier" / "map.html").is_file()
    assert (out / "runs" / "autoencoder" / "map.html").is_file()
    # the classifier is trained again: its step is not done and its folder (map included) goes
    marker = json.loads((out / "demo.json").read_text())
    del marker["steps_done"]["classifier"]
    (out / "demo.json").write_text(json.dumps(marker))
    (out / "runs" / "classifier" / "metrics.json").unlink()
    calls.clear()
    run_demo(out, plan=TINY, say=lambda line: None)
    assert calls.count("classifier") == 1 and calls.count("map") == 1
    assert (out / "runs" / "classifier" / "map.html").is_file()


def test_a_lora_step_of_another_base_model_runs_again(tmp_path, monkeypatch):
    out = tmp_path / "demo-out"
    calls: list[str] = []
    _fake_steps(monkeypatch, calls)
    run_demo(out, plan=TINY, say=lambda line: None, base_model=tmp_path / "sd-a")
    assert calls.count("lora") == 1
    run_demo(out, plan=TINY, say=lambda line: None, base_model=tmp_path / "sd-a")
    assert calls.count("lora") == 1  # reused
    run_demo(out, plan=TINY, say=lambda line: None, base_model=tmp_path / "sd-b")
    assert calls.count("lora") == 2
    run_demo(out, plan=TINY, say=lambda line: None, base_model=tmp_path / "sd-a")
    assert calls.count("lora") == 3  # the run in runs/lora is sd-b's now


def test_a_demo_folder_from_before_steps_were_recorded_is_reused(tmp_path, monkeypatch):
    out = tmp_path / "demo-out"
    calls: list[str] = []
    _fake_steps(monkeypatch, calls)
    run_demo(out, plan=TINY, say=lambda line: None)
    marker = json.loads((out / "demo.json").read_text())
    del marker["steps_done"]
    (out / "demo.json").write_text(json.dumps(marker))
    calls.clear()
    run_demo(out, plan=TINY, say=lambda line: None)
    assert calls == ["cache", "report"]
    assert "classifier" in json.loads((out / "demo.json").read_text())["steps_done"]
