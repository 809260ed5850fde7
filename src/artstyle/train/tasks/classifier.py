"""The style classifier as a task of the shared loop: batches, the loss, scores per stage.

Class imbalance is handled by one of five strategies (``--balance``), all wired to
:mod:`artstyle.data.balance`:

* ``none``: plain cross-entropy on the data as it is;
* ``weights``: per-class loss weights (inverse, sqrt, or effective number of
  samples, Cui et al. 2019);
* ``resample``: every style resampled to one count per epoch (a new plan each epoch);
* ``sampler``: samples drawn with replacement, weighted by class;
* ``logit-adjust``: train on logits + tau * log prior, predict with plain
  logits (Menon et al. 2021).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from artstyle import metrics as metrics_lib
from artstyle.config import ClassifierConfig
from artstyle.data.dataset import ClassifierData
from artstyle.errors import ArtstyleError
from artstyle.train.loop import StepOutput
from artstyle.train.runs import RunFolder
from artstyle.train.tasks.base import ArrayTask, TaskSpec

TASK = "classifier"


class ClassifierTask(ArrayTask):
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

        options = {
            "flip": self.config.flip,
            "crop_scale": None if self.config.translate > 0 else (self.config.crop_scale, 1.0),
            "translate": self.config.translate,
            "jitter": self.config.jitter,
            "out_size": train_side(self.config.size, self.config.train_scale),
        }
        self.put_on_device(device, share, augment=options)
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

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None):
        # training batches come with a generator; the train split evaluated (evaluate --split
        # train) comes without one and is scored as it is
        augment = stage == "train" and self.config.augment and generator is not None
        return self.device_batch(indices, stage, generator, augment=augment)

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

    def views_crop(self, stage: str) -> float:
        """The crop share of the test-time views on ``stage``: the validation carve, scored
        after every epoch, averages the image and its mirror only (12 views there would add
        about a third to a default run's time); other splits get ``tta_crop``."""
        return 1.0 if stage == "val" else self.config.tta_crop

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
            logits = self.scoring_logits(model, x, logits, stage)
            loss = F.cross_entropy(logits, y)
        return StepOutput(loss, self.scores(logits, y, loss), y.shape[0])

    def scoring_logits(
        self, model, x: torch.Tensor, logits: torch.Tensor, stage: str
    ) -> torch.Tensor:
        """What a split is scored on: the model's ``logits`` of ``x``, or with test-time
        augmentation the log of the probabilities averaged over the image, its mirror and
        (tta_crop < 1) its corner and centre crops."""
        if not self.tta:
            return logits
        probabilities = tta_averaged(model, x, logits.softmax(dim=1), self.views_crop(stage))
        return probabilities.clamp_min(1e-12).log()

    def scores(
        self, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One batch's summed statistics (loss, count, top-3 hits, confusion counts)."""
        predictions = logits.argmax(dim=1)
        k = min(3, self.n_classes)
        in_top3 = (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1)
        n = y.shape[0]
        return {
            "loss_sum": loss.detach().float() * n,
            "n": torch.tensor(n, device=y.device),
            "top3": in_top3.sum(),
            # (B,) pairs (true, predicted) -> flat (C*C,) counts
            "confusion": torch.bincount(
                y * self.n_classes + predictions, minlength=self.n_classes * self.n_classes
            ),
        }

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
        model = build_classifier(self.config, self.n_classes)
        fit_whitening = getattr(model, "fit_whitening", None)
        if fit_whitening is not None and "train" in self.data.indices:
            fit_whitening(self.whitening_batches())
        return model

    def whitening_batches(self, n_images: int = 1024, batch_size: int = 256):
        """Up to ``n_images`` training images (the seed's choice), unaugmented, in batches."""
        rows = self.data.indices["train"]
        rng = np.random.default_rng([self.config.seed, 0x3417])
        pick = np.sort(rng.choice(rows, size=min(len(rows), n_images), replace=False))
        for start in range(0, len(pick), batch_size):
            images, _ = self.device_batch(
                pick[start : start + batch_size], "train", None, augment=False
            )
            yield images


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
        "whiten": config.whiten,
        "identity_init": config.identity_init,
    }
    n_stages = len(entry.preset.get("widths", (0, 0, 0)))
    if config.width is not None:
        args["widths"] = tuple(config.width * 2**i for i in range(n_stages))
    if config.depth is not None:
        args["depths"] = (config.depth,) * n_stages
    return build_model(config.model, **args)


def metrics_from_totals(
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


def make_task(config: ClassifierConfig, data: ClassifierData, *, run: RunFolder, resume: bool):
    """A fresh task object for the loop (``run`` and ``resume`` matter to the stylizer only)."""
    return ClassifierTask(config, data)


def check_architecture(config: ClassifierConfig) -> None:
    """Refuse an architecture, or an argument it does not take (e.g. --whiten with a residual
    network), before any image is decoded or any file written."""
    build_classifier(config, 2)


SPEC = TaskSpec(TASK, ClassifierConfig, make_task, check=check_architecture)


def train_side(size: int, train_scale: float) -> int:
    """The side training crops are resized to: ``train_scale`` of ``size`` in whole pixels,
    at least 16 (48 for 64 px at 0.75; ``size`` itself at the default 1)."""
    return max(16, min(size, round(size * train_scale)))


def tta_averaged(
    model, x: torch.Tensor, probabilities: torch.Tensor, crop: float = 1.0
) -> torch.Tensor:
    """Test-time augmentation: the mean of ``probabilities`` (the model's, of ``x``) and the
    model's probabilities of other views: the mirror image, and with ``crop`` < 1 the four
    corner crops and the centre crop of ``crop`` times the side, each resized back to the
    input's size, and their mirrors (12 views in all). (B, C, H, W) -> (B, K)

    Crops zoom in: training's random resized crops show paintings larger than a whole
    image at test does, and views at that scale close the gap ("Fixing the train-test
    resolution discrepancy", Touvron et al., NeurIPS 2019); averaging over corners and
    centre is the ten-crop evaluation of Krizhevsky et al. (2012).
    """
    views = [torch.flip(x, dims=[3])]
    side_h, side_w = x.shape[-2:]
    if crop < 1.0:
        h, w = max(1, round(side_h * crop)), max(1, round(side_w * crop))
        corners = [(0, 0), (0, side_w - w), (side_h - h, 0), (side_h - h, side_w - w)]
        for top, left in [*corners, ((side_h - h) // 2, (side_w - w) // 2)]:
            view = F.interpolate(  # (B, C, h, w) -> (B, C, H, W)
                x[:, :, top : top + h, left : left + w],
                size=(side_h, side_w),
                mode="bilinear",
                align_corners=False,
            )
            views += [view, torch.flip(view, dims=[3])]
    total = probabilities.float()
    for view in views:
        total = total + model(view).float().softmax(dim=1)
    return total / (1 + len(views))
