"""The stylizer task on the shared training loop: one content, any learned style.

Every training image is decoded twice from one content map: with its own
style embedding and with a different style drawn uniformly from the others
(rare styles get as many mismatched pairs as common ones). The loss is

* reconstruction: L1 between the own-style output and the input;
* style (Gram): the Gram matrices of the mismatched output's features are
  pulled toward the mean Gram matrices of the target style's training images
  (Gatys et al. 2016). The features come from the critic classifier's early
  layers, or from a fixed random conv net when there is no critic
  (Ustyuzhaninov et al. 2017);
* critic: a frozen classifier from another run must see the target style in
  the mismatched output (cross-entropy toward it);
* content: 1 - SSIM between the mismatched output and its input (Wang et al.
  2004), so the picture stays the same picture.

Validation scores the same terms with a fixed target per image; the best
epoch (lowest validation loss) is kept. At the end the run is scored by the
judge, a second, independently trained classifier run that takes no part in
training (:func:`artstyle.generate.stylize.score_stylizer`): metrics.json gets
``style_hit_rate`` and ``content_ssim`` beside ``chance`` and
``shuffled_target_hit_rate``.

One command does it all: without ``--critic`` or ``--judge`` the command
first trains the missing ones into RUN/critic and RUN/judge (a small
classifier each, other seeds; ``workflows.train.with_helper_classifiers``,
``--helpers none`` to go without). Your own classifier runs can stand in:

    artstyle train stylizer --data DATA --out runs/sty
    artstyle train stylizer --data DATA --out runs/sty --critic runs/critic --judge runs/judge
    artstyle train stylizer --resume runs/sty --max-minutes 10
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from artstyle.config import StylizerConfig
from artstyle.data.batches import shared_rand, to_unit
from artstyle.data.dataset import ClassifierData
from artstyle.errors import ArtstyleError
from artstyle.models.autoencoder import psnr, ssim
from artstyle.models.stylizer import RandomFeatures, gram_matrix
from artstyle.train import runs
from artstyle.train.loop import StepOutput, eval_batch_size
from artstyle.train.runs import RunFolder
from artstyle.train.tasks import base
from artstyle.train.tasks.base import ArrayTask, TaskSpec

TASK = "stylizer"
# a stylizer may also change how its end is scored
RESUMABLE_KEYS = base.RESUMABLE_KEYS | {"judge", "score_images", "n_grid"}


# ---------------------------------------------------------------- frozen helper networks


def _pixels_to_normalized(x: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] -> the classifier's input space (batches.normalize without the uint8 step)."""
    from artstyle.data.batches import MEAN, STD

    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class FrozenClassifier(nn.Module):
    """A classifier run's network, frozen, reading pixels in [0, 1] at any size.

    Images are resized to the side the classifier was trained at (bilinear),
    so a 64 px critic can judge 32 px stylizer outputs.
    """

    def __init__(self, model: nn.Module, size: int, classes: list[str], path: Path) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.size = int(size)
        self.classes = list(classes)
        self.path = path

    def train(self, mode: bool = True) -> FrozenClassifier:
        # stays in eval mode: BatchNorm uses its running statistics even while the stylizer trains
        return super().train(False)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(
                x,
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
                antialias=x.shape[-1] > self.size,
            )
        return _pixels_to_normalized(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixels in [0, 1] -> (B, n_styles) logits."""
        return self.model(self._input(x))

    def early_features(self, x: torch.Tensor, n_stages: int = 2) -> list[torch.Tensor]:
        """Feature maps of the stem and the first ``n_stages`` stages (texture lives early in a CNN)."""
        if not hasattr(self.model, "stem") or not hasattr(self.model, "stages"):
            raise ArtstyleError(
                f"{self.path}: its architecture has no stem/stages to take Gram features from; use --style-features random"
            )
        h = self.model.stem(self._input(x))
        out = [h]
        for stage in list(self.model.stages)[:n_stages]:
            h = stage(h)
            out.append(h)
        return out


def load_classifier_run(
    path: str | os.PathLike, *, role: str, classes: Sequence[str] | None = None
) -> FrozenClassifier:
    """A classifier run folder as a frozen network; ``role`` ("critic", "judge") names it in
    errors; with ``classes``, one trained on other styles is refused."""
    run = runs.open_run(path)
    spec = runs.read_model_spec(run)
    kind = spec.get("kind")
    if kind not in (None, "classifier"):
        raise ArtstyleError(
            f"--{role} {run.path} is a run of task {kind!r}; pass a classifier run (artstyle train classifier)"
        )
    model = runs.load_model(run)
    if not hasattr(model, "forward_features"):
        raise ArtstyleError(f"--{role} {run.path} does not hold a classifier")
    size = int(runs.read_config_header(run).get("size", 64))
    own = runs.read_classes(run)
    if classes is not None and list(own) != list(classes):
        missing, extra = runs.style_differences(own, classes)
        differ = "; ".join(
            part
            for part in (
                f"it lacks {', '.join(missing)}" if missing else "",
                f"it has {', '.join(extra)} besides" if extra else "",
                "same styles in another order" if not (missing or extra) else "",
            )
            if part
        )
        raise ArtstyleError(
            f"--{role} {run.path} was trained on {len(own)} styles, the stylizer's data has "
            f"{len(classes)} ({differ}); pass a classifier trained on the same styles"
        )
    return FrozenClassifier(model, size, own, run.path)


class PixelFeatures(nn.Module):
    """The random texture network reading pixels in [0, 1]."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.net = RandomFeatures(seed=seed)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(_pixels_to_normalized(x))


# ---------------------------------------------------------------- style embeddings from another run


@torch.no_grad()
def style_means_from_run(
    path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    n_styles: int,
    *,
    device: Any = "cpu",
    batch_size: int = 256,
) -> np.ndarray:
    """Per-style mean of a classifier's ``forward_features`` or an autoencoder's ``encode`` (n_styles, D).

    The "mean of each style" of the representation the other run learned; a
    style without images gets the overall mean.
    """
    from artstyle.data.batches import normalize

    run = runs.open_run(path)
    model = runs.load_model(run, device=device)
    if hasattr(model, "forward_features"):
        embed = model.forward_features
    elif hasattr(model, "encode") and not hasattr(model, "style_vectors"):
        embed = model.encode
    else:
        raise ArtstyleError(f"--init-styles {run.path} must be a classifier or autoencoder run")
    size = int(runs.read_config_header(run).get("size", images.shape[1]))
    vectors = []
    for start in range(0, len(images), batch_size):
        x = normalize(
            torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        )
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        vectors.append(embed(x).float().flatten(1).cpu())  # (B, D)
    features = torch.cat(vectors).numpy().astype(np.float64)
    overall = features.mean(axis=0)
    means = np.stack(
        [
            features[labels == k].mean(axis=0) if (labels == k).any() else overall
            for k in range(n_styles)
        ]
    )
    return means


def embeddings_from_means(means: np.ndarray, style_dim: int) -> np.ndarray:
    """Style means (K, D) -> a (K, style_dim) table: centred, PCA-projected, unit spread per entry.

    Centring removes what all styles share; the principal directions keep
    how they differ; the scale matches the default N(0, 1) initialisation.
    """
    centred = means - means.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(
        centred, full_matrices=False
    )  # principal directions as rows of vt
    rank = int(
        (singular > 1e-8 * max(singular.max(initial=0.0), 1e-12)).sum()
    )  # K styles span at most K - 1
    n_keep = min(style_dim, rank)
    projected = centred @ vt[:n_keep].T  # (K, D) -> (K, n_keep)
    table = np.zeros((means.shape[0], style_dim), dtype=np.float64)
    table[:, :n_keep] = projected
    spread = table[:, :n_keep].std()
    if spread > 0:
        table /= spread
    return table.astype(np.float32)


# ---------------------------------------------------------------- target styles


def random_other_styles(
    labels: torch.Tensor,
    n_styles: int,
    generator: torch.Generator,
    share: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """For each label a different style, uniform over the other n_styles - 1.

    ``share``: (rank, world size), as for augmentation (``batches.shared_rand``).
    """
    uniform = shared_rand(generator, tuple(labels.shape), labels.device, share)
    offsets = 1 + (uniform * (n_styles - 1)).long().clamp(max=n_styles - 2)
    return (labels + offsets) % n_styles


def fixed_other_styles(rows: np.ndarray, labels: np.ndarray, n_styles: int) -> np.ndarray:
    """A target style per sample row that never changes between epochs (a hash of the row), never its own."""
    offsets = 1 + (np.asarray(rows, dtype=np.int64) * 7919 + 13) % (n_styles - 1)
    return (np.asarray(labels, dtype=np.int64) + offsets) % n_styles


# ---------------------------------------------------------------- the task


class StylizerTask(ArrayTask):
    """Own-style reconstruction + mismatched-style transfer; one ``step`` for train, val and test."""

    name = TASK
    selection_metric = "loss"
    selection_mode = "min"
    shuffle_salt = 0x57

    def __init__(
        self,
        config: StylizerConfig,
        data: ClassifierData,
        *,
        critic: FrozenClassifier | None = None,
        init_table: np.ndarray | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.classes = data.classes
        self.n_styles = len(data.classes)
        self.critic = critic
        self.init_table = init_table
        self.device = torch.device("cpu")
        self._device_data: dict[str, Any] = {}
        self.features: nn.Module | None = None
        self.gram_targets: list[torch.Tensor] = []  # per layer (n_styles, C, C)
        self.gram_scales: list[
            torch.Tensor
        ] = []  # per layer: RMS of the targets, so every layer weighs alike
        self.feature_source = resolve_feature_source(config, critic)

    # -- data

    def setup(self, device: torch.device, share: tuple[int, int] = (0, 1)) -> None:
        # flips only: a crop or colour jitter would change the picture the losses compare with
        self.put_on_device_flips_only(device, share)
        if self.critic is not None:
            self.critic.to(self.device)
        if self.feature_source == "critic":
            critic = self.critic
            self.features = critic.early_features  # type: ignore[union-attr,assignment]
        else:
            self.features = PixelFeatures(self.config.seed).to(self.device)
        if self.config.gram_weight > 0:
            self.gram_targets, self.gram_scales = self._style_grams()

    @torch.no_grad()
    def _style_grams(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Mean Gram matrix of every style's training images, per feature layer."""
        source = self._device_data["train"]
        rows = self.data.indices["train"]
        labels = torch.as_tensor(self.data.stage_labels("train"), device=self.device)
        sums: list[torch.Tensor] = []
        counts = torch.zeros(self.n_styles, device=self.device)
        batch = max(32, eval_batch_size(self.config.eval_batch_size, self.device) // 2)
        for start in range(0, len(rows), batch):
            x, _ = next(
                iter(
                    source.batches(
                        rows[start : start + batch],
                        batch,
                        augment=False,
                        generator=None,
                        drop_last=False,
                    )
                )
            )
            y = labels[start : start + batch]
            grams = [gram_matrix(f.float()) for f in self.features(to_unit(x))]  # type: ignore[misc]
            if not sums:
                sums = [torch.zeros(self.n_styles, *g.shape[1:], device=self.device) for g in grams]
            for total, g in zip(sums, grams, strict=True):
                total.index_add_(0, y, g)
            counts += torch.bincount(y, minlength=self.n_styles).float()
        # a style without training images would have no target; it keeps the overall mean
        means = []
        for total in sums:
            overall = total.sum(0) / counts.sum().clamp_min(1)
            mean = total / counts.clamp_min(1)[:, None, None]
            mean[counts == 0] = overall
            means.append(mean)
        scales = [m.pow(2).mean().sqrt().clamp_min(1e-8) for m in means]
        return means, scales

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None):
        """(normalised input, target pixels in [0, 1], own styles (B,), other styles (B,))."""
        augment = stage == "train" and generator is not None
        x, y = self.device_batch(indices, stage, generator, augment=augment)
        if augment:
            other = random_other_styles(y, self.n_styles, generator, self.share)
        else:  # evaluation, of any split: the same target styles every time
            array = self.data.arrays["test" if stage == "test" else "train"]
            other_np = fixed_other_styles(indices, np.asarray(array.labels)[indices], self.n_styles)
            other = torch.as_tensor(other_np, device=y.device)
        target = to_unit(x)
        return x, target, y, other

    # -- the shared step

    def zero_stats(self, stage: str, device: torch.device) -> dict[str, torch.Tensor]:
        keys = [
            "loss_sum",
            "recon_sum",
            "gram_sum",
            "critic_sum",
            "content_sum",
            "own_ssim_sum",
            "content_ssim_sum",
            "own_psnr_sum",
        ]
        stats = {key: torch.zeros((), dtype=torch.float64, device=device) for key in keys}
        stats["n"] = torch.zeros((), dtype=torch.int64, device=device)
        stats["critic_hits"] = torch.zeros((), dtype=torch.int64, device=device)
        return stats

    def step(self, model, batch, stage: str) -> StepOutput:
        x, target, own, other = batch
        c = self.config
        pairs = torch.stack([own, other], dim=1)  # (B, 2): the own style, then another one
        out = model(x, pairs).float()  # -> (B, 2, 3, S, S)
        own_out, other_out = out[:, 0], out[:, 1]
        recon = F.l1_loss(own_out, target)
        gram = self._gram_loss(other_out, other) if c.gram_weight > 0 else recon.new_zeros(())
        critic_logits = None
        if self.critic is not None:
            seen = other_out
            if stage == "train" and c.critic_augment:
                seen = jitter_view(other_out)
            critic_logits = self.critic(seen).float()
        critic_loss = (
            F.cross_entropy(critic_logits, other)
            if critic_logits is not None and c.critic_weight > 0
            else recon.new_zeros(())
        )
        content_ssim = ssim(other_out, target, reduction="none")  # (B,)
        content = 1 - content_ssim.mean()
        loss = (
            c.recon_weight * recon
            + c.gram_weight * gram
            + c.critic_weight * critic_loss
            + c.content_weight * content
        )
        n = x.shape[0]
        with torch.no_grad():
            stats = {
                "loss_sum": loss.detach().double() * n,
                "recon_sum": recon.detach().double() * n,
                "gram_sum": gram.detach().double() * n,
                "critic_sum": critic_loss.detach().double() * n,
                "content_sum": content.detach().double() * n,
                "own_ssim_sum": ssim(own_out.detach(), target, reduction="none").sum().double(),
                "content_ssim_sum": content_ssim.detach().sum().double(),
                "own_psnr_sum": psnr(own_out.detach(), target, reduction="none").sum().double(),
                "n": torch.tensor(n, device=x.device),
                "critic_hits": (critic_logits.argmax(1) == other).sum()
                if critic_logits is not None
                else torch.zeros((), dtype=torch.int64, device=x.device),
            }
        return StepOutput(loss, stats, n)

    def _gram_loss(self, images: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """Mean squared distance of the outputs' Gram matrices to their target styles' means, per layer scaled."""
        total = images.new_zeros(())
        for features, targets, scale in zip(
            self.features(images), self.gram_targets, self.gram_scales, strict=True
        ):  # type: ignore[misc]
            total = (
                total + ((gram_matrix(features.float()) - targets[styles]) / scale).pow(2).mean()
            )
        return total / max(len(self.gram_targets), 1)

    def summarize(self, totals: dict[str, torch.Tensor], stage: str) -> dict[str, float]:
        n = max(int(totals["n"].item()), 1)
        metrics = {
            key[: -len("_sum")]: float(totals[key].item() / n)
            for key in totals
            if key.endswith("_sum")
        }
        if self.critic is not None:
            metrics["critic_hit_rate"] = float(totals["critic_hits"].item() / n)
        return metrics

    def build_model(self):
        model = build_stylizer(self.config, self.n_styles)
        if self.init_table is not None:
            with torch.no_grad():
                model.styles.weight.copy_(torch.as_tensor(self.init_table))
        return model


def jitter_view(images: torch.Tensor) -> torch.Tensor:
    """The batch mirrored (half the time) and shifted by up to 1/8 of its side, one draw per batch.

    The critic scores an output seen through random transformations, so the
    stylizer cannot please it with a pixel-exact pattern that only that one
    network reads as the style; changes that survive transformations carry
    over to other classifiers far better (Athalye et al. 2018, expectation
    over transformation).
    """
    side = images.shape[-1]
    reach = max(1, side // 8)
    dy, dx = torch.randint(-reach, reach + 1, (2,)).tolist()
    out = torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    if bool(torch.rand(()) < 0.5):
        out = out.flip(dims=[-1])
    return out


def resolve_feature_source(config: StylizerConfig, critic: FrozenClassifier | None) -> str:
    if config.style_features == "critic" and critic is None:
        raise ArtstyleError("--style-features critic needs --critic CLASSIFIER_RUN")
    if config.style_features == "auto":
        return "critic" if critic is not None else "random"
    return config.style_features


def build_stylizer(config: StylizerConfig, n_styles: int):
    """The configured architecture with the config's style_dim/width overrides."""
    from artstyle.models import build_model, get_architecture

    entry = get_architecture(config.model)
    if entry.kind != "stylizer":
        raise ArtstyleError(f"architecture {config.model!r} is a {entry.kind}, not a stylizer")
    model = build_model(
        config.model,
        n_styles=n_styles,
        style_dim=config.style_dim,
        width=config.width,
        modulation=config.modulation,
    )
    factor = 2**model.config.n_down
    if config.size % factor:
        raise ArtstyleError(
            f"--size {config.size} must be a multiple of {factor} for {config.model}"
        )
    return model


# ---------------------------------------------------------------- training


def check_helper_runs(config: StylizerConfig) -> None:
    """Refuse a judge that is the critic: a score from the network the stylizer was trained to please proves little."""
    if config.critic is not None and config.judge is not None:
        if Path(config.critic).expanduser().resolve() == Path(config.judge).expanduser().resolve():
            raise ArtstyleError(
                f"--judge {config.judge} is the --critic run; train a second classifier (e.g. another --seed) to judge"
            )
    for role in ("critic", "judge", "init_styles"):
        path = getattr(config, role)
        if path is not None:
            runs.open_run(path)


def check_settings(config: StylizerConfig, data: ClassifierData) -> None:
    """Refuse a bad size or architecture and a critic or judge trained on other styles, before
    anything trains (the classifiers a run trains for itself included)."""
    if len(data.classes) < 2:
        raise ArtstyleError("a stylizer needs at least 2 styles in train")
    build_stylizer(config, len(data.classes))
    for role in ("critic", "judge"):
        path = getattr(config, role)
        if path is not None:  # the judge is refused now, not after the whole training run
            load_classifier_run(path, role=role, classes=data.classes)


def make_task(config: StylizerConfig, data: ClassifierData, *, run: RunFolder, resume: bool):
    """The stylizer task with its frozen critic and its style table from another run, if any.

    Bad settings are refused here (:func:`check_settings`), before training starts.
    """
    check_settings(config, data)
    critic = None
    if config.critic is not None:
        critic = load_classifier_run(config.critic, role="critic", classes=data.classes)
    init_table = None
    # a resume without a checkpoint starts over from step 0 (fit), and so needs the table too
    if config.init_styles is not None and not (resume and run.checkpoint_path.is_file()):
        train_rows = data.indices["train"]
        images = np.asarray(data.arrays["train"].images)[train_rows]
        means = style_means_from_run(
            config.init_styles, images, data.stage_labels("train"), len(data.classes)
        )
        style_dim = build_stylizer(config, len(data.classes)).config.style_dim
        init_table = embeddings_from_means(means, style_dim)
    return StylizerTask(config, data, critic=critic, init_table=init_table)


SPEC = TaskSpec(
    TASK,
    StylizerConfig,
    make_task,
    RESUMABLE_KEYS,
    purpose="the stylizer",
    check=check_helper_runs,
)
