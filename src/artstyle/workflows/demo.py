"""The whole job on the built-in synthetic data set, ending with a report.

    artstyle demo --out demo-out            # full demo, <= 15 min on a 2-core CPU
    artstyle demo --quick --out demo-quick  # smaller data and budgets, <= 3 min

Steps: synthetic data -> stats / audit / balance plan -> cache -> classifier
-> balance comparison -> autoencoder -> representations and clustering ->
stylizer -> (LoRA, when a base model folder is given) -> report. A step whose
output already exists is reused; a folder made with other settings (quick or
full, seed, budgets) is refused rather than mixed in; ``--redo`` runs
everything again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artstyle.config import absolute_path
from artstyle.errors import ArtstyleError
from artstyle.io import read_json, write_json

STEPS_DONE = "steps_done"  # demo.json: the steps that ran to their end, and what for


@dataclass(frozen=True)
class DemoPlan:
    """Data size and per-step budgets (epochs: the same numbers on any machine) of one demo flavour."""

    scale: float
    image_side: int  # synthetic images' short side
    size: int  # classifier / autoencoder input side
    classifier_epochs: int
    balance_epochs: int  # per strategy
    balance_strategies: tuple[str, ...]
    autoencoder_epochs: int
    stylizer_epochs: int
    stylizer_size: int
    cluster_max_points: int
    minutes: float  # how long it takes on a quiet 2-core CPU (printed at the start)


# Each field's value in the full demo and in the quick one, side by side.
_FLAVOURS: dict[str, tuple[Any, Any]] = {
    "scale": (0.2, 0.04),
    "image_side": (96, 64),
    "size": (64, 32),
    "classifier_epochs": (30, 8),
    "balance_epochs": (8, 3),
    "balance_strategies": (
        ("none", "weights", "resample", "sampler", "logit-adjust"),
        ("none", "weights", "logit-adjust"),
    ),
    "autoencoder_epochs": (15, 4),
    # on a quiet 2-core CPU the judge's style-hit rate was 0.26 (7x chance) after 14 epochs,
    # 0.36-0.43 (9.7-11.5x) after 29-30 and 0.45 after 36 (502 s), content SSIM 0.39-0.42:
    # 28 keeps the whole demo inside 15 minutes
    "stylizer_epochs": (28, 6),
    "stylizer_size": (32, 32),
    "cluster_max_points": (3000, 600),
    "minutes": (14.0, 1.0),
}
FULL = DemoPlan(**{name: values[0] for name, values in _FLAVOURS.items()})
QUICK = DemoPlan(**{name: values[1] for name, values in _FLAVOURS.items()})


def _require_same_settings(marker: Path, settings: dict[str, Any]) -> None:
    """Refuse to reuse a demo folder whose finished steps were made with other settings.

    Reusing them would report, say, a quick demo's numbers as the full demo's.
    """
    try:
        earlier = read_json(marker)
    except ArtstyleError as error:  # an unreadable marker: the folder's steps cannot be trusted
        raise ArtstyleError(f"{error}, or pass --redo to start the demo over") from None
    # compare through JSON, as the marker holds it (tuples come back as lists)
    current = json.loads(json.dumps(settings))
    if isinstance(earlier, dict):
        earlier = {key: value for key, value in earlier.items() if key != STEPS_DONE}
    if earlier == current:
        return

    def flavour(values: Any) -> str:
        if not isinstance(values, dict):
            return "demo of unknown settings"
        return f"{'quick' if values.get('quick') else 'full'} demo, seed {values.get('seed')}"

    what = flavour(earlier)
    if what == flavour(current):
        what += " with other budgets"
    raise ArtstyleError(
        f"{marker.parent} holds a {what}; pass --redo to start it over as a "
        f"{flavour(current)}, or pass another --out"
    )


def run_demo(
    out: str | os.PathLike = "demo-out",
    *,
    quick: bool = False,
    redo: bool = False,
    base_model: str | os.PathLike | None = None,
    seed: int = 0,
    say: Callable[[str], None] = print,
    plan: DemoPlan | None = None,
) -> dict[str, Any]:
    """Run every step into ``out`` and return a summary (paths and headline numbers).

    ``plan`` replaces the FULL / QUICK budgets (the tests run a smaller one).
    """
    plan = plan or (QUICK if quick else FULL)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ArtstyleError(f"--out {out} is a file; pass a folder")
    marker = out / "demo.json"
    if out.exists() and any(out.iterdir()) and not marker.is_file():
        raise ArtstyleError(f"{out} is not empty and holds no earlier demo; pass another --out")
    settings = {"quick": quick, "seed": seed, "plan": plan.__dict__}
    finished: dict[str, str] = {}  # step name -> what it was run for, once it ran to its end
    legacy = False  # a marker from before steps were recorded: a step's done file is enough
    if marker.is_file() and not redo:
        _require_same_settings(marker, settings)
        recorded = read_json(marker).get(STEPS_DONE)
        legacy = not isinstance(recorded, dict)
        finished = {} if legacy else {str(k): str(v) for k, v in recorded.items()}
    if redo and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, {**settings, STEPS_DONE: finished})
    os.environ.setdefault("ARTSTYLE_CACHE", str(out / "cache"))

    say(
        f"[plan]  {'quick' if quick else 'full'} demo, seed {seed}: about {plan.minutes:g} min on a "
        "quiet 2-core CPU; every budget is epochs, so a slower or busier machine takes longer "
        "and prints the same numbers"
    )
    data = out / "data" / "synthetic"
    runs = out / "runs"
    summary: dict[str, Any] = {"out": str(out), "quick": quick, "steps": {}}
    started = time.perf_counter()

    def step(
        name: str,
        done: Path | None,
        action: Callable[[], Any],
        owns: Path | None = None,
        key: str | None = None,
    ) -> Any:
        """Run ``action``, or reuse what it made when it ran to its end before.

        A step counts as done only once ``action`` has returned for the same ``key`` (what
        it was run for, recorded in demo.json): a run folder an interrupted or failed
        attempt, or one for another key, left (``owns``) is removed and the step runs again.
        """
        key = key or name
        if done is not None and done.exists() and (legacy or finished.get(name) == key):
            say(f"[reuse] {name}: {done}")
            summary["steps"][name] = {"reused": True}
            if finished.get(name) != key:
                finished[name] = key
                write_json(marker, {**settings, STEPS_DONE: finished})
            return None
        finished.pop(name, None)
        if owns is not None and owns.exists():
            say(
                f"[again] {name}: removing {owns}, which an earlier attempt left unfinished "
                "or made for other settings"
            )
            shutil.rmtree(owns)
        say(f"[step]  {name} ...")
        t0 = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - t0
        summary["steps"][name] = {"seconds": round(seconds, 1)}
        finished[name] = key
        write_json(marker, {**settings, STEPS_DONE: finished})
        say(f"[done]  {name} in {seconds:.0f} s")
        return result

    step("synthetic data", data / "synthetic.json", lambda: _synth(data, plan, seed), data)
    step(
        "stats, audit and balance plan",
        out / "data" / "balance.json",
        lambda: _data_reports(data, out / "data"),
    )
    step("image cache", None, lambda: _cache(data, plan))
    step(
        "classifier",
        runs / "classifier" / "metrics.json",
        lambda: _classifier(data, runs / "classifier", plan, seed),
        runs / "classifier",
    )
    step(
        "balance comparison",
        runs / "balance" / "comparison.json",
        lambda: _balance(data, runs / "balance", plan, seed),
        runs / "balance",
    )
    step(
        "autoencoder",
        runs / "autoencoder" / "metrics.json",
        lambda: _autoencoder(data, runs / "autoencoder", plan, seed),
        runs / "autoencoder",
    )
    step(
        "representations and clustering",
        runs / "representations" / "representations.json",
        lambda: _representations(data, runs, plan, seed),
        runs / "representations",
    )
    # one step per map: a run trained again (its folder removed) gets its map drawn again
    for name in ("classifier", "autoencoder"):
        step(
            f"interactive map of the {name}",
            runs / name / "map.html",
            lambda name=name: _map(data, runs / name, seed, say),
        )
    step(
        "stylizer",
        runs / "stylizer" / "metrics.json",
        lambda: _stylizer(data, runs, plan, seed),
        runs / "stylizer",
    )
    if base_model is not None:
        import torch

        # the run is this base model's, at this machine's budget (a GPU trains far longer)
        base = absolute_path(base_model)
        where = "gpu" if torch.cuda.is_available() else "cpu"
        step(
            "LoRA",
            runs / "lora" / "metrics.json",
            lambda: _lora(base_model, data, runs / "lora"),
            runs / "lora",
            key=f"LoRA from {base} on {where}",
        )
    else:
        say(
            "[skip]  LoRA: no base model folder given (make demo BASE_MODEL=/path/to/stable-diffusion)"
        )
    report = out / "report.html"
    step("report", None, lambda: _report(out, report))
    _gallery(runs, out / "gallery")

    summary["headline"] = headline(runs)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["report"] = str(report)
    write_json(out / "demo_summary.json", summary)
    for line in summary["headline"]:
        say(line)
    say(f"report: {report}")
    return summary


# ---------------------------------------------------------------- steps


def _synth(data: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.data.synthetic import make_synthetic

    make_synthetic(data, scale=plan.scale, size=plan.image_side, seed=seed, progress=False)


def _data_reports(data: Path, folder: Path) -> None:
    from artstyle.data.audit import audit
    from artstyle.data.balance import balance_summary
    from artstyle.data.scan import scan
    from artstyle.data.stats import index_stats

    index = scan(data)
    write_json(folder / "stats.json", index_stats(index))
    write_json(folder / "audit.json", audit(index, progress=False).to_dict())
    write_json(folder / "balance.json", balance_summary(index, "mean"))


def _cache(data: Path, plan: DemoPlan) -> None:
    from artstyle.data.cache import build_all
    from artstyle.data.scan import scan

    build_all(scan(data), plan.size, progress=False)


def _train_config(config_class: type, data: Path, out: Path, seed: int, **values: Any):
    """A training config of the demo: quiet, seeded, on ``data`` into ``out``."""
    return config_class(data=data, out=out, seed=seed, progress=False, **values)


def _classifier_config(data: Path, out: Path, plan: DemoPlan, seed: int, **extra: Any):
    from artstyle.config import SYNTHETIC_RECIPE, ClassifierConfig

    # the recipe the synthetic set was tuned with, not the defaults chosen on real paintings
    values = {**SYNTHETIC_RECIPE, "size": plan.size, "epochs": plan.classifier_epochs, **extra}
    return _train_config(ClassifierConfig, data, out, seed, **values)


def _classifier(data: Path, out: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.workflows.train import train

    train(_classifier_config(data, out, plan, seed), quiet=True)


def _balance(data: Path, out: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.config import CompareBalanceConfig
    from artstyle.workflows.compare import compare_balance

    base = _classifier_config(data, out, plan, seed, epochs=plan.balance_epochs).model_dump()
    config = CompareBalanceConfig(**base, strategies=list(plan.balance_strategies))
    compare_balance(config, quiet=True)


def _autoencoder(data: Path, out: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.config import AutoencoderConfig
    from artstyle.workflows.train import train

    values = {"size": plan.size, "epochs": plan.autoencoder_epochs}
    train(_train_config(AutoencoderConfig, data, out, seed, **values), quiet=True)


def _representations(data: Path, runs: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.analysis.cluster import compare_sources
    from artstyle.config import ClusterConfig

    config = ClusterConfig(
        data=data,
        seed=seed,
        max_points=plan.cluster_max_points,
        pixel_size=plan.size,
        progress=False,
        threads=1,
    )
    compare_sources(
        config,
        out=runs / "representations",
        autoencoder=runs / "autoencoder",
        classifier=runs / "classifier",
        log=lambda *_: None,
    )


def _map(data: Path, run: Path, seed: int, say: Callable[[str], None]) -> None:
    """RUN/map.html of a classifier's features or an autoencoder's latent (test split).

    A map is an extra view of a run whose numbers are already written: one that
    cannot be made is said and skipped rather than ending the demo.
    """
    from artstyle.config import ExploreConfig
    from artstyle.workflows.explore import explore

    config = ExploreConfig(data=data, seed=seed, progress=False, threads=1)
    try:
        explore(run, config)
    except ArtstyleError as error:
        say(f"[skip]  map of {run}: {error}")


def _stylizer(data: Path, runs: Path, plan: DemoPlan, seed: int) -> None:
    from artstyle.config import StylizerConfig
    from artstyle.workflows.train import train

    # the critic steers training; the judge that scores style hits is a different classifier
    critic = _best_balance_run(runs / "balance")
    values = {
        "size": plan.stylizer_size,
        "epochs": plan.stylizer_epochs,
        "critic": critic,
        "judge": runs / "classifier",
        "helpers": "none",  # the demo's own classifiers steer and judge; it trains no others
    }
    config = _train_config(StylizerConfig, data, runs / "stylizer", seed, **values)
    train(config, quiet=True)


def _best_balance_run(folder: Path) -> Path | None:
    """A compare-balance run other than the main classifier, to act as the stylizer's critic."""
    comparison = folder / "comparison.json"
    if not comparison.is_file():
        return None
    best = read_json(comparison).get("best_strategy")
    candidates = [folder / str(best)] if best else []
    candidates += sorted(p for p in folder.iterdir() if (p / "model.safetensors").is_file())
    for path in candidates:
        if (path / "model.safetensors").is_file():
            return path
    return None


def _lora(base_model: str | os.PathLike, data: Path, out: Path) -> None:
    from artstyle.workflows.lora import lora_demo_step

    lora_demo_step(base_model, data, out, progress=False)


def _report(out: Path, report: Path) -> None:
    from artstyle.report import build_report

    build_report(
        [out / "data", out / "runs"], out=report, markdown=out / "report.md", title="artstyle demo"
    )


# the figures the README's gallery shows, copied from the runs under fixed names
GALLERY = {
    "confusion_matrix.png": "classifier/figures/confusion_matrix.png",
    "balance_comparison.png": "balance/figures/balance_comparison.png",
    "reconstructions.png": "autoencoder/figures/reconstructions.png",
    "representations.png": "representations/figures/representations.png",
    "classifier_tsne.png": "representations/classifier/figures/embedding_tsne.png",
    "style_grid.png": "stylizer/figures/style_grid.png",
}


def _gallery(runs: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in GALLERY.items():
        if (runs / source).is_file():
            shutil.copyfile(runs / source, folder / name)


def headline(runs: Path) -> list[str]:
    """One line per finished run with its main numbers."""
    lines = []

    def metrics(name: str) -> dict[str, Any] | None:
        path = runs / name / "metrics.json"
        try:
            return read_json(path) if path.is_file() else None
        except ArtstyleError:
            return None

    clf = metrics("classifier")
    if clf:
        lines.append(
            f"classifier: balanced accuracy {clf['balanced_accuracy']:.3f}, accuracy {clf['accuracy']:.3f} "
            f"(majority baseline {clf['majority_baseline_accuracy']:.3f}) on {clf['n_test']} test images"
        )
    comparison = runs / "balance" / "comparison.json"
    if comparison.is_file():
        result = read_json(comparison)
        if result.get("best_beats_none"):
            verdict = f"best strategy {result.get('best_strategy')}, which beats 'none'"
        elif result.get("best_beats_none") is None:
            verdict = f"best strategy {result.get('best_strategy')} ('none' was not run)"
        else:
            verdict = "no strategy beats 'none'"
        lines.append(f"balance comparison: {verdict} on balanced accuracy")
    ae = metrics("autoencoder")
    if ae:
        lines.append(
            f"autoencoder: PSNR {ae['psnr']:.1f} dB, SSIM {ae['ssim']:.3f} on held-out images"
        )
    representations = runs / "representations" / "representations.json"
    if representations.is_file():
        lines.append("clustering: " + read_json(representations).get("answer", ""))
    sty = metrics("stylizer")
    if sty and "style_hit_rate" in sty:
        lines.append(
            f"stylizer: style-hit rate {sty['style_hit_rate']:.3f} (chance {sty.get('chance', 0):.3f}), "
            f"content SSIM {sty.get('content_ssim', float('nan')):.3f}"
        )
    return lines
