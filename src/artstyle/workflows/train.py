"""Train or resume any task end to end: fit -> score -> figures -> metrics.json.

artstyle train classifier --data DATA --out runs/clf --epochs 20
artstyle train autoencoder --data DATA --out runs/ae --epochs 10
artstyle train stylizer --data DATA --out runs/sty --critic runs/critic --judge runs/judge
artstyle train classifier --resume runs/clf --max-minutes 30
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from artstyle.config import TrainConfig
from artstyle.data.dataset import ClassifierData, leaked_test_images, stage_images
from artstyle.text import time_cap_sentence
from artstyle.train import runs
from artstyle.train.engine import is_launched_child
from artstyle.train.loop import (
    FitResult,
    fit_and_evaluate,
    require_training_images,
    run_summary,
)
from artstyle.train.runs import RunFolder, load_run_data, new_run_folder, resumed_config
from artstyle.train.tasks import TASKS, spec_for
from artstyle.train.tasks.autoencoder import reference_psnr
from artstyle.train.tasks.classifier import metrics_from_totals
from artstyle.workflows.figures import (
    write_autoencoder_figures,
    write_classifier_figures,
    write_stylizer_figures,
)


def train(
    config: TrainConfig, *, data: ClassifierData | None = None, quiet: bool = False
) -> dict[str, Any] | None:
    """Train the task ``config`` is for into ``config.out``; returns metrics.json's content
    (None on DDP ranks other than 0).

    artstyle train classifier --data DATA --out runs/clf --epochs 20 --balance logit-adjust
    """
    spec = spec_for(config)
    run = new_run_folder(config)
    spec.check(config)
    if data is None:
        data = load_run_data(config, quiet=quiet, min_styles=spec.min_styles, purpose=spec.purpose)
        _say_data_notes(data, quiet=quiet)
    if data.held_out is not None and config.test_fraction is None:
        # config.yaml records what was done: the share held out as the test split
        config = config.model_copy(update={"test_fraction": data.held_out})
    return train_into(config, run, data, resume=False, quiet=quiet)


def resume(
    task: str,
    run_path: str | os.PathLike,
    *,
    overrides: dict[str, Any] | None = None,
    quiet: bool = False,
) -> dict[str, Any] | None:
    """Continue ``run_path`` from checkpoints/last.ckpt with the same optimizer, schedule, step and RNG.

    artstyle train classifier --resume runs/clf --max-minutes 30
    """
    spec = TASKS[task]
    run, config = resumed_config(run_path, spec.config, spec.name, spec.resumable, overrides)
    spec.check(config)
    data = load_run_data(
        config, quiet=quiet, run=run, min_styles=spec.min_styles, purpose=spec.purpose
    )
    _say_data_notes(data, quiet=quiet)
    return train_into(config, run, data, resume=True, quiet=quiet)


def _say_data_notes(data: ClassifierData, *, quiet: bool) -> None:
    """What the scores should be read with (skipped files, absent styles, a held-out split),
    said once, before training starts, on stdout with the command's other results."""
    if quiet or is_launched_child():
        return
    from rich.console import Console

    console = Console()
    for note in data.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


class Fitted(NamedTuple):
    """A task fitted in a run: what scoring, drawing and writing its metrics start from."""

    config: Any
    run: RunFolder
    data: ClassifierData
    task: Any
    result: FitResult
    stage: str  # the split scored: test, or val when the data has no test split
    totals: Any  # the stage's summed step statistics


def train_into(
    config: TrainConfig, run: RunFolder, data: ClassifierData, *, resume: bool, quiet: bool
) -> dict[str, Any] | None:
    """Fit, then score, draw and write metrics.json: the task's end of :func:`train`."""
    require_training_images(data)
    spec = spec_for(config)
    task = spec.make(config, data, run=run, resume=resume)
    finished = fit_and_evaluate(task, config, run, data, resume=resume, quiet=quiet)
    if finished is None:
        return None  # a DDP rank other than 0
    finish = {
        "classifier": _finish_classifier,
        "autoencoder": _finish_autoencoder,
        "stylizer": _finish_stylizer,
    }[spec.name]
    fitted = Fitted(config, run, data, task, finished.result, finished.stage, finished.totals)
    return finish(fitted, quiet=quiet)


def _finish_stylizer(fitted: Fitted, *, quiet: bool) -> dict[str, Any]:
    config, run, data, task, result, stage, totals = fitted
    summary = task.summarize(totals, stage)
    metrics: dict[str, Any] = {
        "chance": 1.0 / len(data.classes),
        "own_style_ssim": summary["own_ssim"],
        "own_style_psnr": summary["own_psnr"],
        "content_ssim": summary["content_ssim"],
        **({"critic_hit_rate": summary["critic_hit_rate"]} if "critic_hit_rate" in summary else {}),
        "split": stage,
        "architecture": config.model,
        "critic": str(config.critic) if config.critic else None,
        "critic_size": task.critic.size if task.critic is not None else None,
        "size": config.size,
        "style_features": task.feature_source,
        "init_styles": str(config.init_styles) if config.init_styles else None,
        **run_summary(config, data, result, best_key="best_val_loss"),
    }
    runs.write_metrics(run, metrics)
    if result.state.history:
        from artstyle.analysis import plots

        plots.save_figure(
            plots.stylizer_curves(result.state.history), run.figure_path("training_curves.png")
        )

    from artstyle.generate import stylize

    device = result.fabric.device
    write_stylizer_figures(run, result.model, data, stage=stage, n=config.n_grid, device=device)
    if config.judge is not None:
        metrics = stylize.score_stylizer(
            run.path,
            config.judge,
            data=data,
            split=stage,
            n_images=config.score_images,
            device=device,
            model=result.model,
        )
    else:
        metrics["style_hit_rate"] = None
        metrics["style_hit_rate_note"] = (
            "no --judge given: score with artstyle stylize RUN --score --judge CLASSIFIER_RUN"
        )
        runs.write_metrics(run, metrics)
    if not quiet:
        _announce(stylize.summary_line(metrics) + f"; wrote {run.path}", metrics, config)
    return metrics


def _finish_autoencoder(fitted: Fitted, *, quiet: bool) -> dict[str, Any]:
    config, run, data, task, result, stage, totals = fitted
    model = result.model
    images = stage_images(data, stage)
    metrics = {
        **task.summarize(totals, stage),
        "n_test": int(totals["n"].item()),
        "split": stage,
        **reference_psnr(images, latent_dim=model.config.latent_dim),
        "architecture": config.model,
        "latent_dim": model.config.latent_dim,
        "compression_ratio": round(3 * config.size**2 / model.config.latent_dim, 2),
        **run_summary(config, data, result, best_key="best_val_loss"),
    }
    runs.write_metrics(run, metrics)
    write_autoencoder_figures(
        run,
        model,
        images,
        result.state.history,
        n=config.n_reconstructions,
        device=result.fabric.device,
        labels=data.stage_labels(stage),
    )
    if not quiet:
        _announce(
            f"{stage}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, MSE {metrics['mse']:.5f} "
            f"(downsampled-image reference {metrics['baseline_psnr_downsampled']:.2f} dB); wrote {run.path}",
            metrics,
            config,
        )
    return metrics


def leakage_warning(metrics: dict[str, Any], data_path: Any = None) -> str | None:
    """One console line when test images are copies of training images, else None."""
    n = metrics.get("n_test_in_train") or 0
    if not n:
        return None
    audit = (
        f"`artstyle data audit {data_path}`" if data_path else "`artstyle data audit` on the data"
    )
    return (
        f"{n} of {metrics.get('n_test')} test images equal a training image pixel for pixel "
        f"(metrics.json: test_in_train), so the test scores partly measure memory; "
        f"{audit} lists the copies to remove"
    )


def _finish_classifier(fitted: Fitted, *, quiet: bool) -> dict[str, Any]:
    config, run, data, task, result, stage, totals = fitted
    extra = {
        "split": stage,
        "tta": task.tta,
        "balance": config.balance,
        "architecture": config.model,
        **run_summary(config, data, result, best_key="best_val_balanced_accuracy"),
    }
    if stage == "test":
        extra.update(leaked_test_images(data.arrays["train"], data.arrays["test"]))
    metrics = metrics_from_totals(task, totals, data, extra)
    runs.write_metrics(run, metrics)
    write_classifier_figures(run, metrics, result.state.history, best_epoch=result.state.best_epoch)
    if not quiet:
        _announce(
            f"{stage} balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy {metrics['accuracy']:.3f} "
            f"(majority baseline {metrics['majority_baseline_accuracy']:.3f}); wrote {run.path}",
            metrics,
            config,
            leakage_warning(metrics, config.data),
        )
    return metrics


def _announce(
    line: str, metrics: dict[str, Any], config: TrainConfig, *warnings: str | None
) -> None:
    """The run's result line, then its warnings (a --max-minutes cap that cut it short, test
    images copied from train), on stdout: what the command reports, as `evaluate` does.
    Progress and per-epoch lines go to stderr."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(line, highlight=False, markup=False, soft_wrap=True)
    for warning in (time_cap_sentence(metrics, config.epochs), *warnings):
        if warning:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
