"""The style classifier: train, evaluate, predict, and compare imbalance treatments.

The classifier task plugs into the shared loop (:mod:`artstyle.train.loop`).
A stratified validation split carved from train picks the best epoch (by
validation balanced accuracy); the test split is used once, at the end, for
metrics.json. Class imbalance is handled by one of five strategies
(``--balance``), all wired to :mod:`artstyle.data.balance`:

* ``none``: plain cross-entropy on the data as it is;
* ``weights``: per-class loss weights (inverse, sqrt, or effective number of
  samples, Cui et al. 2019);
* ``resample``: every style resampled to one count per epoch (a new plan each epoch);
* ``sampler``: samples drawn with replacement, weighted by class;
* ``logit-adjust``: train on logits + tau * log prior, predict with plain
  logits (Menon et al. 2021).

    artstyle train classifier --data DATA --out runs/clf --epochs 20
    artstyle evaluate runs/clf
    artstyle predict runs/clf painting.jpg --top-k 3
    artstyle compare-balance --data DATA --out runs/balance --epochs 10
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.nn import functional as F

from artstyle.analysis import metrics as metrics_lib
from artstyle.config import ClassifierConfig, CompareBalanceConfig, TrainConfig
from artstyle.errors import ArtstyleError
from artstyle.io import write_json, write_text
from artstyle.text import md_cell, md_code
from artstyle.train import runs
from artstyle.train.loop import (
    StepOutput,
    eval_batch_size,
    evaluate_stage,
    fit_and_evaluate,
    is_launched_child,
    make_fabric,
    require_training_images,
    run_summary,
)
from artstyle.train.runs import RunFolder

TASK = "classifier"
# keys that may change when a run is resumed: budget, display and where things are, not what is trained
RESUMABLE_KEYS = frozenset(
    {"max_minutes", "progress", "workers", "cache_dir", "data", "accelerator", "eval_batch_size"}
)


# ---------------------------------------------------------------- data


@dataclass
class ArraySplit:
    """Images already in memory: uint8 (N, S, S, 3) and int64 labels (what a cache split also offers)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ClassifierData:
    """Decoded images and which rows belong to each stage.

    ``arrays["train"]`` holds the whole training split; ``indices["train"]``
    and ``indices["val"]`` are its stratified parts. ``arrays["test"]`` and
    ``indices["test"]`` are the test split when there is one.
    """

    classes: list[str]
    arrays: dict[str, Any]
    indices: dict[str, np.ndarray]
    train_counts: np.ndarray  # images per style in the whole training split
    root: Path | None = None
    failed: list[Any] = field(default_factory=list)

    def stage_labels(self, stage: str) -> np.ndarray:
        array = self.arrays["test" if stage == "test" else "train"]
        return np.asarray(array.labels)[self.indices[stage]]

    @classmethod
    def from_arrays(
        cls,
        classes: Sequence[str],
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray | None = None,
        test_labels: np.ndarray | None = None,
        *,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> ClassifierData:
        train = ArraySplit(np.asarray(train_images), np.asarray(train_labels, dtype=np.int64))
        train_idx, val_idx = stratified_split(train.labels, val_fraction, seed=seed)
        arrays: dict[str, Any] = {"train": train}
        indices = {"train": train_idx, "val": val_idx}
        if test_images is not None and test_labels is not None:
            arrays["test"] = ArraySplit(
                np.asarray(test_images), np.asarray(test_labels, dtype=np.int64)
            )
            indices["test"] = np.arange(len(test_labels), dtype=np.int64)
        counts = np.bincount(train.labels, minlength=len(classes)).astype(np.int64)
        return cls(list(classes), arrays, indices, counts)


def stratified_split(
    labels: np.ndarray, fraction: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): ``fraction`` of each style, rounded, always leaving one for training."""
    labels = np.asarray(labels, dtype=np.int64)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = np.random.default_rng([seed, int(cls), 0x5A1]).permutation(members)
        n_val = (
            min(int(math.floor(len(members) * fraction + 0.5)), len(members) - 1)
            if fraction > 0
            else 0
        )
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train_idx = np.sort(np.concatenate(train_parts)) if train_parts else np.zeros(0, dtype=np.int64)
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, dtype=np.int64)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)


def load_classifier_data(
    config: ClassifierConfig,
    *,
    splits: Sequence[str] = ("train", "test"),
    progress: bool = True,
    min_styles: int = 2,
    purpose: str = "a classifier",
) -> ClassifierData:
    """Scan ``config.data``, open (or build) the caches of ``splits`` at ``config.size``, carve the validation split.

    Data with fewer than ``min_styles`` styles is refused, naming ``purpose``
    (what needs them).
    """
    from artstyle.data.cache import load_split
    from artstyle.data.scan import scan

    if config.data is None:
        raise ArtstyleError("no data folder given; pass --data DATA")
    index = scan(config.data, test_fraction=config.test_fraction, seed=config.seed)
    if len(index.classes) < min_styles:
        raise ArtstyleError(
            f"{index.root} has {len(index.classes)} style(s) in train; {purpose} needs at least "
            f"{min_styles}: add folders train/<Style>/ for more styles"
        )
    options = {
        "size": config.size,
        "resize": config.resize,
        "cache_dir": config.cache_dir,
        "workers": config.workers,
        "progress": progress,
    }
    arrays: dict[str, Any] = {}
    indices: dict[str, np.ndarray] = {}
    failed: list[Any] = []
    counts = np.array([index.counts("train")[style] for style in index.classes], dtype=np.int64)
    if "train" in splits:
        train = load_split(index, "train", **options)
        arrays["train"] = train
        failed += train.failed
        counts = np.bincount(np.asarray(train.labels), minlength=len(index.classes)).astype(
            np.int64
        )
        indices["train"], indices["val"] = stratified_split(
            train.labels, config.val_fraction, seed=config.seed
        )
    if "test" in splits and index.split("test"):
        test = load_split(index, "test", **options)
        arrays["test"] = test
        failed += test.failed
        indices["test"] = np.arange(len(test), dtype=np.int64)
    return ClassifierData(list(index.classes), arrays, indices, counts, Path(index.root), failed)


TEST_IN_TRAIN_LISTED = 20  # test files named in metrics.json; the count covers all


def leaked_test_images(train: Any, test: Any) -> dict[str, Any]:
    """metrics.json keys on leakage: ``n_test_in_train``, the test images whose pixels at the
    run's size equal a training image's, and ``test_in_train``, the first of their files.

    Such copies let a model score by memory; ``artstyle data audit`` finds byte-identical
    and near copies among the files themselves.
    """
    from artstyle.data.audit import rows_also_in

    mask = rows_also_in(train.images, test.images)
    rels = getattr(test, "rels", None)
    found = np.flatnonzero(mask)
    listed = [rels[i] for i in found[:TEST_IN_TRAIN_LISTED]] if rels is not None else []
    return {"n_test_in_train": int(mask.sum()), "test_in_train": listed}


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


# ---------------------------------------------------------------- run start and resume (every training command)

RunConfig = TypeVar("RunConfig", bound=TrainConfig)


def new_run_folder(config: TrainConfig) -> RunFolder:
    """The run folder ``config.out`` of a new training run, refused when it already holds a run.

    A DDP child re-runs the command after rank 0 has started writing the
    folder: only rank 0 checks it.
    """
    if config.out is None:
        raise ArtstyleError("no run folder given; pass --out RUN")
    if is_launched_child():
        return RunFolder(Path(config.out).expanduser())
    return runs.check_new_run(config.out)


def resumed_config(
    run_path: str | os.PathLike,
    model: type[RunConfig],
    task: str,
    resumable: frozenset[str],
    overrides: dict[str, Any] | None,
) -> tuple[RunFolder, RunConfig]:
    """The run at ``run_path`` and its saved config with the ``resumable`` keys of ``overrides`` applied."""
    from artstyle.config import validate_config

    run = runs.open_run(
        run_path
    )  # no checkpoint yet (killed in its first epoch): fit starts it over
    config = runs.read_config(run, model, task=task)
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    refused = sorted(set(overrides) - resumable)
    if refused:
        raise ArtstyleError(
            f"--resume keeps the run's training settings; {', '.join(refused)} cannot change "
            f"(allowed: {', '.join(sorted(resumable))}); start a new run to change them"
        )
    return run, validate_config(model, {**config.model_dump(), **overrides}, "the command line")


def load_run_data(
    config: TrainConfig,
    *,
    quiet: bool,
    run: RunFolder | None = None,
    min_styles: int = 2,
    purpose: str = "a classifier",
) -> ClassifierData:
    """The images of ``config.data`` for training; checked against ``run``'s styles when resuming it."""
    data = load_classifier_data(
        config,
        progress=config.progress and not quiet and not is_launched_child(),
        min_styles=min_styles,
        purpose=purpose,
    )
    if run is not None:
        runs.check_classes(
            runs.read_classes(run), data.classes, run_path=run.path, data_path=config.data
        )
    return data


# ---------------------------------------------------------------- the task


class ClassifierTask:
    """Cross-entropy classification on device batches; one ``step`` for train, val and test."""

    name = TASK
    selection_metric = "balanced_accuracy"
    selection_mode = "max"

    def __init__(
        self, config: ClassifierConfig, data: ClassifierData, *, tta: bool | None = None
    ) -> None:
        self.config = config
        self.data = data
        self.classes = data.classes
        self.n_classes = len(data.classes)
        self.tta = config.tta if tta is None else tta
        self.device = torch.device("cpu")
        self._device_data: dict[str, Any] = {}
        train_labels = (
            data.stage_labels("train") if "train" in data.indices else np.zeros(0, dtype=np.int64)
        )
        self.balance_counts = np.bincount(train_labels, minlength=self.n_classes).astype(np.int64)
        self._class_weights: torch.Tensor | None = None
        self._log_prior: torch.Tensor | None = None

    # -- data

    def setup(self, device: torch.device, share: tuple[int, int] = (0, 1)) -> None:
        from artstyle.data import balance
        from artstyle.data.batches import DeviceData

        self.device = torch.device(device)
        self.share = share  # (rank, world size): see batches.shared_rand
        options = {
            "flip": self.config.flip,
            "crop_scale": (self.config.crop_scale, 1.0),
            "jitter": self.config.jitter,
        }
        self._device_data = {
            name: DeviceData(array, np.asarray(array.labels), self.device, **options)
            for name, array in self.data.arrays.items()
        }
        if self.balance_counts.sum() > 0:
            if self.config.balance == "weights":
                weights = balance.class_weights(
                    self.balance_counts, self.config.class_weights, self.config.weights_beta
                )
                self._class_weights = torch.tensor(weights, dtype=torch.float32, device=self.device)
            if self.config.balance == "logit-adjust":
                prior = balance.log_prior(self.balance_counts)
                self._log_prior = torch.tensor(prior, dtype=torch.float32, device=self.device)

    def train_indices(self, epoch: int) -> np.ndarray:
        from artstyle.data import balance

        rows = self.data.indices["train"]
        labels = self.data.stage_labels("train")
        seed = [self.config.seed, epoch, 0x7EA1]
        strategy = self.config.balance
        if strategy == "resample":
            # a fresh plan each epoch: large styles show a different subset every time
            plan = balance.resample_plan(
                labels,
                balance.parse_target(self.config.resample_target),
                seed=int(np.random.SeedSequence(seed).generate_state(1)[0]),
                n_classes=self.n_classes,
            )
            return rows[plan]
        if strategy == "sampler":
            draws = balance.weighted_sampler_indices(
                labels,
                len(labels),
                seed=int(np.random.SeedSequence(seed).generate_state(1)[0]),
                method=self.config.class_weights,
                beta=self.config.weights_beta,
            )
            return rows[draws]
        return np.random.default_rng(seed).permutation(rows)

    def eval_indices(self, stage: str) -> np.ndarray | None:
        return self.data.indices.get(stage)

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None):
        source = self._device_data["test" if stage == "test" else "train"]
        # training batches come with a generator; the train split evaluated (evaluate --split
        # train) comes without one and is scored as it is
        augment = stage == "train" and self.config.augment and generator is not None
        # one batch of exactly these rows; normalised (and augmented) on the device
        x, y = next(
            source.batches(
                indices, len(indices), augment=augment, generator=generator, share=self.share
            )
        )
        return x, y

    # -- the shared step

    def zero_stats(self, stage: str, device: torch.device) -> dict[str, torch.Tensor]:
        return {
            "loss_sum": torch.zeros((), dtype=torch.float32, device=device),
            "n": torch.zeros((), dtype=torch.int64, device=device),
            "top3": torch.zeros((), dtype=torch.int64, device=device),
            "confusion": torch.zeros(
                self.n_classes * self.n_classes, dtype=torch.int64, device=device
            ),
        }

    def _mix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a training batch.

        Returns the mixed images, the partner of each row (None: no mixing) and
        the share ``lam`` of each row's own label. With both enabled, each batch
        uses one of the two at random.
        """
        choices = [name for name in ("mixup", "cutmix") if getattr(self.config, name) > 0]
        if not choices or x.shape[0] < 2:
            return x, None, 1.0
        # draws from torch's CPU generator, which checkpoints save and --resume restores
        kind = choices[int(torch.randint(len(choices), ()))]
        alpha = getattr(self.config, kind)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        partner = torch.randperm(x.shape[0]).to(x.device)
        if kind == "mixup":
            return x * lam + x[partner] * (1.0 - lam), partner, lam
        height, width = x.shape[-2:]
        cut_h, cut_w = int(height * (1 - lam) ** 0.5), int(width * (1 - lam) ** 0.5)
        top = int(torch.randint(height - cut_h + 1, ()))
        left = int(torch.randint(width - cut_w + 1, ()))
        mixed = x.clone()
        mixed[..., top : top + cut_h, left : left + cut_w] = x[partner][
            ..., top : top + cut_h, left : left + cut_w
        ]
        return mixed, partner, 1.0 - cut_h * cut_w / (height * width)  # the exact pasted share

    def step(self, model, batch, stage: str) -> StepOutput:
        x, y = batch
        partner, lam = None, 1.0
        # the training step (the model in train mode); evaluating the train split runs in eval
        # mode and is scored like any other split: no mixing, plain cross-entropy
        training = stage == "train" and model.training
        if training:
            x, partner, lam = self._mix(x)
        logits = model(x).float()  # (B, C); fp32 for the loss under bf16 autocast
        if training:
            train_logits = logits
            if self._log_prior is not None:
                # logit adjustment (Menon et al. 2021, eq. 10): the prior is added while training only
                train_logits = logits + self.config.logit_tau * self._log_prior

            def per_image(labels: torch.Tensor) -> torch.Tensor:
                losses = F.cross_entropy(
                    train_logits,
                    labels,
                    reduction="none",
                    label_smoothing=self.config.label_smoothing,
                )
                if self._class_weights is not None:
                    # weights average to 1 over the training samples, so the loss keeps its scale (balance.class_weights)
                    losses = losses * self._class_weights[labels]
                return losses

            losses = per_image(y)
            if partner is not None:
                losses = lam * losses + (1.0 - lam) * per_image(y[partner])
            loss = losses.mean()
        else:
            if self.tta:
                # flip test-time augmentation: average the probabilities of the image and its mirror
                probabilities = (
                    logits.softmax(dim=1) + model(torch.flip(x, dims=[3])).float().softmax(dim=1)
                ) / 2
                logits = probabilities.clamp_min(1e-12).log()
            loss = F.cross_entropy(logits, y)
        predictions = logits.argmax(dim=1)
        k = min(3, self.n_classes)
        in_top3 = (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1)
        n = y.shape[0]
        stats = {
            "loss_sum": loss.detach().float() * n,
            "n": torch.tensor(n, device=y.device),
            "top3": in_top3.sum(),
            # (B,) pairs (true, predicted) -> flat (C*C,) counts
            "confusion": torch.bincount(
                y * self.n_classes + predictions, minlength=self.n_classes * self.n_classes
            ),
        }
        return StepOutput(loss, stats, n)

    def summarize(self, totals: dict[str, torch.Tensor], stage: str) -> dict[str, float]:
        n = int(totals["n"].item())
        matrix = totals["confusion"].view(self.n_classes, self.n_classes).cpu().double()
        support = matrix.sum(dim=1)
        present = support > 0
        recall = matrix.diagonal()[present] / support[present]
        return {
            "loss": float(totals["loss_sum"].item() / max(n, 1)),
            "accuracy": float(matrix.diagonal().sum().item() / max(n, 1)),
            "balanced_accuracy": float(recall.mean().item()) if present.any() else 0.0,
        }

    def build_model(self):
        return build_classifier(self.config, self.n_classes)


def build_classifier(config: ClassifierConfig, n_classes: int):
    """The configured architecture with the config's width/depth/pool/dropout overrides."""
    from artstyle.models import build_model, get_architecture

    entry = get_architecture(config.model)
    if entry.kind != "classifier":
        raise ArtstyleError(f"architecture {config.model!r} is a {entry.kind}, not a classifier")
    args: dict[str, Any] = {
        "num_classes": n_classes,
        "dropout": config.dropout,
        "pool": config.pool,
    }
    n_stages = len(entry.preset.get("widths", (0, 0, 0)))
    if config.width is not None:
        args["widths"] = tuple(config.width * 2**i for i in range(n_stages))
    if config.depth is not None:
        args["depths"] = (config.depth,) * n_stages
    return build_model(config.model, **args)


# ---------------------------------------------------------------- training


def train_classifier(
    config: ClassifierConfig, *, data: ClassifierData | None = None, quiet: bool = False
) -> dict[str, Any] | None:
    """Train a classifier into ``config.out``; returns the test metrics (None on DDP ranks other than 0).

    artstyle train classifier --data DATA --out runs/clf --epochs 20 --balance logit-adjust
    """
    run = new_run_folder(config)
    if data is None:
        data = load_run_data(config, quiet=quiet)
    return _train(config, run, data, resume=False, quiet=quiet)


def resume_classifier(
    run_path: str | os.PathLike, *, overrides: dict[str, Any] | None = None, quiet: bool = False
) -> dict[str, Any] | None:
    """Continue ``run_path`` from checkpoints/last.ckpt with the same optimizer, schedule, step and RNG.

    artstyle train classifier --resume runs/clf --max-minutes 30
    """
    run, config = resumed_config(run_path, ClassifierConfig, TASK, RESUMABLE_KEYS, overrides)
    data = load_run_data(config, quiet=quiet, run=run)
    return _train(config, run, data, resume=True, quiet=quiet)


def _train(
    config: ClassifierConfig, run: RunFolder, data: ClassifierData, *, resume: bool, quiet: bool
) -> dict[str, Any] | None:
    require_training_images(data)
    task = ClassifierTask(config, data)
    finished = fit_and_evaluate(task, config, run, data, resume=resume, quiet=quiet)
    if finished is None:
        return None
    result, stage, totals = finished.result, finished.stage, finished.totals
    extra = {
        "split": stage,
        "tta": task.tta,
        "balance": config.balance,
        "architecture": config.model,
        **run_summary(config, data, result, best_key="best_val_balanced_accuracy"),
    }
    if stage == "test":
        extra.update(leaked_test_images(data.arrays["train"], data.arrays["test"]))
    metrics = _metrics_from_totals(task, totals, data, extra)
    runs.write_metrics(run, metrics)
    write_classifier_figures(run, metrics, result.state.history, best_epoch=result.state.best_epoch)
    if not quiet:
        from rich.console import Console
        from rich.markup import escape

        console = Console(stderr=True)
        console.print(
            f"{stage} balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy {metrics['accuracy']:.3f} "
            f"(majority baseline {metrics['majority_baseline_accuracy']:.3f}); wrote {run.path}",
            highlight=False,
        )
        warning = leakage_warning(metrics, config.data)
        if warning:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return metrics


def _metrics_from_totals(
    task: ClassifierTask, totals, data: ClassifierData, extra: dict[str, Any]
) -> dict[str, Any]:
    if totals is None:
        raise ArtstyleError(f"the {extra.get('split')} split has no images to evaluate")
    matrix = totals["confusion"].view(task.n_classes, task.n_classes).cpu().numpy()
    metrics = metrics_lib.metrics_from_confusion(
        matrix, data.classes, train_counts=data.train_counts
    )
    n = int(totals["n"].item())
    metrics["top3_accuracy"] = float(totals["top3"].item() / max(n, 1))
    metrics["loss"] = float(totals["loss_sum"].item() / max(n, 1))
    # the headline keys first, then the run's details
    ordered = {
        key: metrics[key]
        for key in (
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "majority_baseline_accuracy",
            "chance_accuracy",
            "top3_accuracy",
            "n_test",
        )
    }
    return {
        **ordered,
        **extra,
        **{key: value for key, value in metrics.items() if key not in ordered},
    }


def write_classifier_figures(
    run: RunFolder,
    metrics: dict[str, Any],
    history: Sequence[dict[str, Any]],
    *,
    best_epoch: float | None,
    suffix: str = "",
) -> None:
    """figures/confusion_matrix.png, per_class.png and (with a history) training_curves.png."""
    from artstyle.analysis import plots

    classes = list(metrics["per_class"])
    split = metrics.get("split", "test")
    plots.save_figure(
        plots.confusion_matrix_figure(
            np.asarray(metrics["confusion_matrix"]),
            classes,
            title=f"{split}: balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy {metrics['accuracy']:.3f} (rows sum to 1)",
        ),
        run.figure_path(f"confusion_matrix{suffix}.png"),
    )
    per_class = metrics["per_class"]
    plots.save_figure(
        plots.per_class_figure(
            classes,
            {
                "recall": [per_class[c]["recall"] for c in classes],
                "precision": [per_class[c]["precision"] for c in classes],
                "F1": [per_class[c]["f1"] for c in classes],
            },
            [per_class[c]["support"] for c in classes],
            title=f"per style on {split}",
        ),
        run.figure_path(f"per_class{suffix}.png"),
    )
    if history:
        epochs = [row["epoch"] for row in history]
        plots.save_figure(
            plots.training_curves(
                epochs,
                {
                    "train": [row.get("train_loss") for row in history],
                    "val": [row.get("val_loss") for row in history],
                },
                {
                    "train accuracy": [row.get("train_accuracy") for row in history],
                    "val accuracy": [row.get("val_accuracy") for row in history],
                    "val balanced accuracy": [row.get("val_balanced_accuracy") for row in history],
                },
                best_epoch=best_epoch,
                title="training curves (train: augmented batches as trained; val: held-out part of train)",
            ),
            run.figure_path("training_curves.png"),
        )


# ---------------------------------------------------------------- evaluate


def evaluate_run(
    run_path: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str = "test",
    tta: bool | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a classifier run on a split; writes metrics.json (test) or metrics_<split>.json, and figures.

    ``tta`` None: mirror averaging as the run was trained (its ``tta`` setting).

    artstyle evaluate runs/clf --split test --tta
    """
    if split not in ("test", "val", "train"):
        raise ArtstyleError(f"--split must be test, val or train, got {split!r}")
    run = runs.open_run(run_path)
    trained_on = config = runs.read_config(run, ClassifierConfig, task=TASK)
    if data is not None:
        config = config.model_copy(update={"data": Path(data)})
    classes = runs.read_classes(run)
    loaded = load_classifier_data(
        config, splits=("test",) if split == "test" else ("train",), progress=progress
    )
    runs.check_classes(classes, loaded.classes, run_path=run.path, data_path=config.data)
    if split not in loaded.indices or len(loaded.indices[split]) == 0:
        raise ArtstyleError(f"{config.data} has no {split} images; pick another --split")
    single = config.model_copy(update={"devices": 1, "num_nodes": 1})
    fabric = make_fabric(single)
    model = runs.load_model(run, device=fabric.device)
    task = ClassifierTask(single, loaded, tta=tta)
    task.setup(fabric.device)
    started = time.perf_counter()
    totals = evaluate_stage(
        fabric, task, model, split, batch_size=batch_size or config.eval_batch_size
    )
    seconds = time.perf_counter() - started
    previous = runs.read_metrics(run) if run.metrics_path.is_file() else {}
    keep = (
        "balance",
        "architecture",
        "n_parameters",
        "n_train",
        "n_val",
        "best_epoch",
        "best_val_balanced_accuracy",
        "epochs_run",
        "epochs_planned",
        "stopped",
        "training_seconds",
        "train_images_per_second",
        "devices",
        "precision",
    )
    extra = {
        "split": split,
        "tta": task.tta,
        **{key: previous[key] for key in keep if key in previous},
    }
    if split == "test":
        if data is None and "n_test_in_train" in previous:  # the data it was trained and tested on
            extra.update({key: previous[key] for key in ("n_test_in_train", "test_in_train")})
        else:
            extra.update(_leaked_into(trained_on, loaded.arrays["test"], progress=progress))
    if "train_images_per_second" not in extra:
        history = runs.read_history(run)
        extra["train_images_per_second"] = history[-1].get("images_per_second") if history else None
    extra["eval_images_per_second"] = round(int(totals["n"].item()) / max(seconds, 1e-9), 1)
    metrics = _metrics_from_totals(task, totals, loaded, extra)
    write_json(run.split_metrics_path(split), metrics)
    # figures of another split sit beside the test ones
    suffix = "" if split == "test" else f"_{split}"
    write_classifier_figures(
        run,
        metrics,
        runs.read_history(run) if split == "test" else [],
        best_epoch=extra.get("best_epoch"),
        suffix=suffix,
    )
    return metrics


def _leaked_into(trained_on: ClassifierConfig, test: Any, *, progress: bool) -> dict[str, Any]:
    """:func:`leaked_test_images` against the training split of the run's own config
    (through the cache); {} when that data folder is gone or has no training images."""
    if trained_on.data is None or not Path(trained_on.data).expanduser().is_dir():
        return {}
    try:
        own = load_classifier_data(trained_on, splits=("train",), progress=progress)
    except ArtstyleError:
        return {}
    if "train" not in own.arrays or len(own.arrays["train"]) == 0:
        return {}
    return leaked_test_images(own.arrays["train"], test)


# ---------------------------------------------------------------- predict


def expand_image_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given; folders walked recursively for image files (case-insensitive extensions), sorted."""
    from artstyle.data.scan import IMAGE_EXTENSIONS

    files: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise ArtstyleError(
                    f"{path} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ArtstyleError(f"{path} does not exist; pass image files or folders of images")
    return files


def predict(
    run_path: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    top_k: int = 3,
    tta: bool | None = None,
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Top-k styles for each image (any size or format; decoded and resized as in training).

    Unreadable images get an ``error`` entry instead of predictions. ``tta`` None: mirror
    averaging as the run was trained (its ``tta`` setting).

        artstyle predict runs/clf painting.jpg more_paintings/ --top-k 3 --json
    """
    from artstyle.data.batches import normalize
    from artstyle.data.images import ImageError, decode_image

    if top_k < 1:
        raise ArtstyleError(f"--top-k must be at least 1, got {top_k}")
    run = runs.open_run(run_path)
    config = runs.read_config(run, ClassifierConfig, task=TASK)
    tta = config.tta if tta is None else tta
    classes = runs.read_classes(run)
    files = expand_image_paths(paths)
    fabric = make_fabric(config.model_copy(update={"devices": 1, "num_nodes": 1}))
    model = runs.load_model(run, device=fabric.device)
    results: list[dict[str, Any]] = []
    decoded: list[tuple[int, np.ndarray]] = []
    for file in files:
        try:
            decoded.append((len(results), decode_image(file, config.size, config.resize)))
            results.append({"path": str(file)})
        except ImageError as exc:
            results.append({"path": str(file), "error": exc.reason})
    k = min(top_k, len(classes))
    batch_size = eval_batch_size(batch_size or config.eval_batch_size, fabric.device)
    with torch.no_grad(), fabric.autocast():
        for start in range(0, len(decoded), batch_size):
            chunk = decoded[start : start + batch_size]
            pixels = torch.from_numpy(np.stack([image for _, image in chunk])).to(fabric.device)
            x = normalize(pixels)  # (B, S, S, 3) uint8 -> (B, 3, S, S) float
            probabilities = model(x).float().softmax(dim=1)
            if tta:
                probabilities = (
                    probabilities + model(torch.flip(x, dims=[3])).float().softmax(dim=1)
                ) / 2
            values, indices = probabilities.topk(k, dim=1)
            for (position, _), row_values, row_indices in zip(
                chunk, values.cpu().tolist(), indices.cpu().tolist(), strict=True
            ):
                results[position]["predictions"] = [
                    {"style": classes[i], "probability": round(p, 5)}
                    for p, i in zip(row_values, row_indices, strict=True)
                ]
    if not decoded:
        raise ArtstyleError(
            f"none of the {len(files)} image(s) could be read: {results[0]['error']}"
        )
    return results


# ---------------------------------------------------------------- compare-balance


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
    base = config.model_dump(exclude={"strategies"})
    plan = {
        strategy: ClassifierConfig(**{**base, "balance": strategy, "out": out / strategy})
        for strategy in strategies
    }
    # a comparison stopped midway (Ctrl-C, a failed strategy) continues: finished
    # strategies are reused and an unfinished one resumed, when their settings are these
    earlier = {strategy: _earlier_strategy_run(run_config) for strategy, run_config in plan.items()}
    data = load_classifier_data(config, progress=config.progress and not quiet)
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
            metrics = _train(
                run_config,
                runs.create_run(folder.path, resume=True),
                data,
                resume=True,
                quiet=quiet,
            )
        else:
            metrics = train_classifier(run_config, data=data, quiet=quiet)
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
    # on a tie `none` is best: a strategy has to beat the data as it is to be worth its cost
    best = max(rows, key=lambda row: (row["balanced_accuracy"], row["strategy"] == "none"))
    none_row = next((row for row in rows if row["strategy"] == "none"), None)
    summary = {
        "data": str(config.data),
        "split": metrics.get("split", "test"),
        "seed": config.seed,
        "epochs": config.epochs,
        "max_minutes": config.max_minutes,
        "size": config.size,
        "model": config.model,
        "rarest_styles": list(rows[0]["rarest5_recall"]),
        "train_counts": train_counts,
        "rows": rows,
        "best_strategy": best["strategy"],
        "best_beats_none": (best["balanced_accuracy"] > none_row["balanced_accuracy"])
        if none_row
        else None,
        "beating_none": [
            row["strategy"]
            for row in rows
            if none_row and row["balanced_accuracy"] > none_row["balanced_accuracy"]
        ],
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
            title=f"imbalance strategies: seed {config.seed}, {config.epochs} epochs, {config.size} px; best: {best['strategy']}",
        ),
        out / "figures" / "balance_comparison.png",
    )
    return summary


# keys that do not change what a run learns: a strategy run may differ in them and be reused
_NOT_LEARNED = frozenset({"progress", "workers", "cache_dir", "eval_batch_size", "out"})


def _earlier_strategy_run(config: ClassifierConfig) -> str:
    """ "new", "finished" or "unfinished": what ``config.out`` holds of a run with these
    settings; a run with other settings is refused, naming the first key that differs."""
    from artstyle.config import absolute_path

    folder = RunFolder(Path(config.out).expanduser())
    if folder.path.exists() and not folder.path.is_dir():
        raise ArtstyleError(f"{folder.path} is a file; remove it or choose another --out")
    if not folder.config_path.is_file():
        return "new"
    before = runs.read_config(folder, ClassifierConfig, task=TASK)

    def value(conf: ClassifierConfig, key: str) -> Any:
        item = getattr(conf, key)
        return absolute_path(item) if isinstance(item, Path) else item

    for key in ClassifierConfig.model_fields:
        if key not in _NOT_LEARNED and value(before, key) != value(config, key):
            raise ArtstyleError(
                f"{folder.path} holds a run with other settings ({key}: {value(before, key)} "
                f"there, {value(config, key)} here); delete it or choose another --out"
            )
    return "finished" if folder.metrics_path.is_file() else "unfinished"


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
