"""Comparisons that train or embed several times: imbalance strategies, representations.

artstyle compare-balance --data DATA --out runs/balance --epochs 10
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from artstyle import metrics as metrics_lib
from artstyle.config import ClassifierConfig, CompareBalanceConfig
from artstyle.data.dataset import load_classifier_data
from artstyle.errors import ArtstyleError
from artstyle.io import write_json, write_text
from artstyle.text import md_cell, md_code
from artstyle.train import runs
from artstyle.train.runs import RunFolder
from artstyle.workflows.train import earlier_classifier_run, train, train_into, with_epochs


def compare_balance(config: CompareBalanceConfig, *, quiet: bool = False) -> dict[str, Any]:
    """One classifier per imbalance strategy (same data, seed, epochs and budget) -> a comparison table.

    Writes OUT/<strategy>/ (a run folder each), OUT/comparison.md, OUT/comparison.json and
    OUT/figures/balance_comparison.png. Runs one after another in this process (one device).

        artstyle compare-balance --data DATA --out runs/balance --epochs 10
    """
    if config.out is None:
        raise ArtstyleError("no output folder given; pass --out DIR")
    if config.devices > 1 or config.num_nodes > 1:
        raise ArtstyleError(
            "compare-balance trains its models one after another on one device; drop --devices/--num-nodes"
        )
    strategies = list(dict.fromkeys(config.strategies))
    if not strategies:
        raise ArtstyleError("no strategies given; pass e.g. --strategies none,logit-adjust")
    out = Path(config.out).expanduser()
    if (out / "comparison.json").exists():
        raise ArtstyleError(
            f"{out} already holds a comparison (comparison.json); choose another --out"
        )
    data = load_classifier_data(config, progress=config.progress and not quiet)
    base = with_epochs(config, data, quiet=quiet).model_dump(exclude={"strategies"})
    plan = {
        strategy: ClassifierConfig(**{**base, "balance": strategy, "out": out / strategy})
        for strategy in strategies
    }
    # a comparison stopped midway (Ctrl-C, a failed strategy) continues: finished
    # strategies are reused and an unfinished one resumed, when their settings are these
    earlier = {
        strategy: earlier_classifier_run(run_config) for strategy, run_config in plan.items()
    }
    rows = []
    train_counts = {style: int(n) for style, n in zip(data.classes, data.train_counts, strict=True)}
    for strategy, run_config in plan.items():
        folder = RunFolder(out / strategy)
        if not quiet:
            from rich.console import Console

            how = {"new": "", "finished": " (reused)", "unfinished": " (resumed)"}[
                earlier[strategy]
            ]
            Console(stderr=True).print(f"[bold]--balance {strategy}[/]{how}")
        started = time.perf_counter()
        if earlier[strategy] == "finished":
            metrics = runs.read_metrics(folder)
        elif earlier[strategy] == "unfinished":
            runs.check_classes(
                runs.read_classes(folder), data.classes, run_path=folder.path, data_path=config.data
            )
            metrics = train_into(
                run_config,
                runs.create_run(folder.path, resume=True),
                data,
                resume=True,
                quiet=quiet,
            )
        else:
            metrics = train(run_config, data=data, quiet=quiet)
        assert metrics is not None  # one process: always rank 0
        rarest = metrics_lib.rarest_recalls(metrics, train_counts, n=5)
        rare_values = [v for v in rarest.values() if v is not None]
        rows.append(
            {
                "strategy": strategy,
                "accuracy": metrics["accuracy"],
                "balanced_accuracy": metrics["balanced_accuracy"],
                "macro_f1": metrics["macro_f1"],
                "rarest5_recall_mean": float(np.mean(rare_values)) if rare_values else None,
                "rarest5_recall": rarest,
                "best_epoch": metrics.get("best_epoch"),
                "minutes": round(
                    (metrics.get("training_seconds") or 0.0) / 60
                    if earlier[strategy] == "finished"
                    else (time.perf_counter() - started) / 60,
                    2,
                ),
                "run": str(out / strategy),
            }
        )
    verdict = metrics_lib.balance_verdict(
        {row["strategy"]: row["balanced_accuracy"] for row in rows}
    )
    summary = {
        "data": str(config.data),
        "split": metrics.get("split", "test"),
        "seed": config.seed,
        "epochs": base["epochs"],
        "max_minutes": config.max_minutes,
        "size": config.size,
        "model": config.model,
        "rarest_styles": list(rows[0]["rarest5_recall"]),
        "train_counts": train_counts,
        "rows": rows,
        "best_strategy": verdict.best,
        "best_beats_none": verdict.beats_none,
        "beating_none": verdict.beating_none,
    }
    write_json(out / "comparison.json", summary)
    write_text(out / "comparison.md", comparison_markdown(summary))
    from artstyle.analysis import plots

    plots.save_figure(
        plots.balance_comparison_figure(
            [row["strategy"] for row in rows],
            {
                "accuracy": [row["accuracy"] for row in rows],
                "balanced accuracy": [row["balanced_accuracy"] for row in rows],
                "macro-F1": [row["macro_f1"] for row in rows],
                "recall, rarest 5": [row["rarest5_recall_mean"] for row in rows],
            },
            title=f"imbalance strategies: seed {config.seed}, {base['epochs']} epochs, {config.size} px; best: {verdict.best}",
        ),
        out / "figures" / "balance_comparison.png",
    )
    return summary


def comparison_markdown(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    rarest = summary["rarest_styles"]
    lines = [
        "# Imbalance strategies compared",
        "",
        f"Data {md_code(summary['data'])}, {summary['split']} split; every model: seed {summary['seed']}, "
        f"{summary['epochs']} epochs"
        + (f", at most {summary['max_minutes']:g} min" if summary["max_minutes"] else "")
        + f", {summary['size']} px, `{summary['model']}`.",
        "",
        "| strategy | accuracy | balanced accuracy | macro-F1 | recall, rarest 5 (mean) | "
        + " | ".join(f"{md_cell(style)} ({summary['train_counts'][style]})" for style in rarest)
        + " | minutes |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(rarest) + "---:|",
    ]
    for row in rows:
        mark = " **(best)**" if row["strategy"] == summary["best_strategy"] else ""
        cells = [
            f"`{row['strategy']}`{mark}",
            f"{row['accuracy']:.3f}",
            f"{row['balanced_accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            _fmt(row["rarest5_recall_mean"]),
            *[_fmt(row["rarest5_recall"].get(style)) for style in rarest],
            f"{row['minutes']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    best = summary["best_strategy"]
    if summary["best_beats_none"] is None:
        verdict = (
            f"Best on balanced accuracy: `{best}` (`none` was not run, so no comparison with it)."
        )
    elif best == "none" or not summary["best_beats_none"]:
        verdict = (
            "Best on balanced accuracy: `none`; no strategy beat training on the data as it is."
        )
    else:
        none_score = next(row["balanced_accuracy"] for row in rows if row["strategy"] == "none")
        best_score = next(row["balanced_accuracy"] for row in rows if row["strategy"] == best)
        verdict = (
            f"Best on balanced accuracy: `{best}` ({best_score:.3f}), which beats `none` ({none_score:.3f}) "
            f"by {best_score - none_score:+.3f}. Strategies beating `none`: "
            + ", ".join(f"`{s}`" for s in summary["beating_none"])
            + "."
        )
    lines += [
        verdict,
        "",
        "Rarest five: the styles with the fewest training images that appear in the test split "
        "(training counts in brackets). One seed per strategy: differences of a few points can be noise.",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
