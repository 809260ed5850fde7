"""Train or resume any task end to end: fit -> score -> figures -> metrics.json.

artstyle train classifier --data DATA --out runs/clf --epochs 20
artstyle train autoencoder --data DATA --out runs/ae --epochs 10
artstyle train stylizer --data DATA --out runs/sty     # trains its critic and judge too
artstyle train stylizer --data DATA --out runs/sty --critic runs/critic --judge runs/judge
artstyle train classifier --resume runs/clf --max-minutes 30
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from artstyle.config import (
    SYNTHETIC_RECIPE,
    ClassifierConfig,
    StylizerConfig,
    TrainConfig,
    absolute_path,
    classifier_epochs,
)
from artstyle.data.dataset import ClassifierData, leaked_test_images, stage_images
from artstyle.errors import ArtstyleError
from artstyle.text import plural, time_cap_sentence
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
from artstyle.train.tasks import stylizer as stylizer_task
from artstyle.train.tasks.autoencoder import reference_psnr
from artstyle.train.tasks.classifier import metrics_from_totals
from artstyle.workflows import mixture
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
    if spec.name == "stylizer":
        config = with_helper_classifiers(config, run, data, quiet=quiet)
    config = with_epochs(config, data, quiet=quiet)
    return train_into(config, run, data, resume=False, quiet=quiet)


def with_epochs(config: TrainConfig, data: ClassifierData, *, quiet: bool) -> TrainConfig:
    """``config`` with its epochs set: a classifier left at ``epochs: null`` gets them from the
    number of training images (:func:`artstyle.config.classifier_epochs`), said on stdout and
    recorded in config.yaml."""
    if config.epochs is not None:
        return config
    n_train = len(data.indices["train"])
    epochs = classifier_epochs(n_train)
    if not (quiet or is_launched_child()):
        _say(
            f"note: {plural(epochs, 'epoch')} for {n_train:,} training images "
            "(set from their number; --epochs chooses)"
        )
    return config.model_copy(update={"epochs": epochs})


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
    for note in data.notes:
        _say(f"note: {note}")


def _say(line: str) -> None:
    """One line of what the command reports, on stdout (progress goes to stderr)."""
    from rich.console import Console

    Console().print(line, highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------- the stylizer's own critic and judge

# Seeds of the classifiers a stylizer run trains for itself: the stylizer's seed + 1000 for the
# critic, + 2000 for the judge. The judge shares no initialisation or batch order with the critic
# the stylizer learns to please, so its style-hit rate is an independent reading.
HELPER_SEED_OFFSETS = {"critic": 1000, "judge": 2000}


def helper_classifier_config(config: StylizerConfig, role: str, out: Path) -> ClassifierConfig:
    """The classifier a stylizer run trains into ``out`` (RUN/critic or RUN/judge) when
    ``--critic`` or ``--judge`` is missing.

    The recipe is SYNTHETIC_RECIPE (resnet_tiny, small and quick) at the stylizer's size with
    logit adjustment, not ClassifierConfig's defaults (128 px, chosen for accuracy on real
    paintings), so a change of those does not change what a stylizer run trains. The images are the stylizer's, read the same
    way; a collection without a test split is split with the helper's own seed, so a judge may
    have trained on some of the stylizer's test images (in their own style, which only makes
    a hit toward another style harder). It trains in one process: a DDP stylizer starts its
    other ranks later, and they find it finished.
    """
    values = dict(
        data=config.data,
        size=config.size,
        resize=config.resize,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        cache_dir=config.cache_dir,
        workers=config.workers,
        accelerator=config.accelerator,
        precision=config.precision,
        devices=1,
        num_nodes=1,
        threads=config.threads,
        eval_batch_size=config.eval_batch_size,
        progress=config.progress,
        out=out,
        seed=config.seed + HELPER_SEED_OFFSETS[role],
        epochs=config.helper_epochs,
        balance="logit-adjust",
        label_smoothing=0.1,
        augment=True,
    )
    return ClassifierConfig(**{**SYNTHETIC_RECIPE, **values})


def with_helper_classifiers(
    config: StylizerConfig, run: RunFolder, data: ClassifierData, *, quiet: bool
) -> StylizerConfig:
    """``config`` with a critic and a judge: each one not given is trained into RUN/critic or
    RUN/judge (``helpers: train``), or reused when that folder holds a finished one.

    The paths go into the stylizer's config.yaml, so ``--resume``, ``evaluate`` and
    ``stylize --score`` find them. ``helpers: none`` leaves the config as it is.

        artstyle train stylizer --data DATA --out runs/sty --helper-epochs 20
    """
    missing = [role for role in HELPER_SEED_OFFSETS if getattr(config, role) is None]
    if config.helpers == "none" or not missing:
        return config
    stylizer_task.check_settings(config, data)  # a bad size is refused before anything trains
    for role in missing:
        helper = helper_classifier_config(config, role, run.path / role)
        _train_helper(helper, role, quiet=quiet)
        config = config.model_copy(update={role: absolute_path(run.path / role)})
    spec_for(config).check(config)
    return config


def _train_helper(config: ClassifierConfig, role: str, *, quiet: bool) -> None:
    """Train the classifier ``config`` into its folder, unless a finished one with the same
    settings is there; an unfinished one (the command stopped while it trained) starts over."""
    folder = RunFolder(Path(config.out))

    def say(line: str) -> None:
        if not (quiet or is_launched_child()):
            _say(line)

    earlier = earlier_classifier_run(config)
    if earlier == "finished":
        say(f"[stylizer] no --{role} given: using the one trained earlier in {folder.path}")
        return
    if is_launched_child():  # another node's rank: rank 0 trains it, at the same time
        raise ArtstyleError(
            f"{folder.path} holds no finished {role}; across nodes, train the critic and judge "
            "first (artstyle train classifier, two seeds) and pass --critic and --judge"
        )
    if earlier == "unfinished":
        shutil.rmtree(folder.path)
    say(
        f"[stylizer] no --{role} given: training one into {folder.path} ({config.model}, "
        f"{config.size} px, {plural(config.epochs, 'epoch')}, seed {config.seed})"
    )
    train(config, data=load_run_data(config, quiet=quiet), quiet=quiet)


# keys that do not change what a classifier run learns: an earlier run may differ in them
NOT_LEARNED = frozenset({"progress", "workers", "cache_dir", "eval_batch_size", "out", "threads"})


def earlier_classifier_run(config: ClassifierConfig) -> str:
    """ "new", "finished" or "unfinished": what ``config.out`` holds of a classifier run with
    these settings; a run with other settings is refused, naming the first key that differs."""
    folder = RunFolder(Path(config.out).expanduser())
    if folder.path.exists() and not folder.path.is_dir():
        raise ArtstyleError(f"{folder.path} is a file; remove it or choose another --out")
    if not folder.config_path.is_file():
        return "new"
    before = runs.read_config(folder, ClassifierConfig, task="classifier")

    def value(conf: ClassifierConfig, key: str) -> Any:
        item = getattr(conf, key)
        return absolute_path(item) if isinstance(item, Path) else item

    for key in ClassifierConfig.model_fields:
        if key not in NOT_LEARNED and value(before, key) != value(config, key):
            raise ArtstyleError(
                f"{folder.path} holds a run with other settings ({key}: {value(before, key)} "
                f"there, {value(config, key)} here); delete it or choose another --out"
            )
    return "finished" if folder.metrics_path.is_file() else "unfinished"


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
        "tta_crop": task.views_crop(stage) if task.tta else None,
        "balance": config.balance,
        "architecture": config.model,
        **run_summary(config, data, result, best_key="best_val_balanced_accuracy"),
    }
    if config.statistics > 0:
        totals, scores = _with_statistics(fitted, quiet=quiet)
        extra.update(scores)
    if stage == "test":
        extra.update(leaked_test_images(data.arrays["train"], data.arrays["test"]))
    metrics = metrics_from_totals(task, totals, data, extra)
    runs.write_metrics(run, metrics)
    write_classifier_figures(run, metrics, result.state.history, best_epoch=result.state.best_epoch)
    if not quiet:
        _announce(
            f"{stage} balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy {metrics['accuracy']:.3f} "
            f"(majority baseline {metrics['majority_baseline_accuracy']:.3f})"
            f"{_experts_alone(metrics)}; wrote {run.path}",
            metrics,
            config,
            leakage_warning(metrics, config.data),
        )
    return metrics


def _experts_alone(metrics: dict[str, Any]) -> str:
    """ ", network alone 0.41, statistics expert alone 0.43" for a mixed run; "" otherwise."""
    if "network_balanced_accuracy" not in metrics:
        return ""
    return (
        f", network alone {metrics['network_balanced_accuracy']:.3f}, statistics expert alone "
        f"{metrics['statistics_balanced_accuracy']:.3f}"
    )


def _with_statistics(fitted: Fitted, *, quiet: bool) -> tuple[Any, dict[str, Any]]:
    """Fit the statistics expert, then score the stage on the mixture (one process, the saved
    best weights): its totals, and the metrics keys of the mixture and of each expert alone."""
    config, run, data, task, result, stage, _ = fitted
    expert = mixture.fit_statistics(config, run, data, progress=not quiet)
    return mixture.scored(
        task,
        runs.load_model(run, device=result.fabric.device),
        stage,
        expert,
        config.statistics,
        fabric=result.fabric,
        batch_size=config.eval_batch_size,
        progress=not quiet,
    )


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
