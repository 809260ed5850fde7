"""Typed configuration: defaults in code < a config file (TOML or YAML) < ``--key value``.

Every task has one pydantic model here. Unknown keys, wrong types and
out-of-range values are refused with the key's name and what is allowed.

    artstyle train classifier --data DATA --out RUN --config my.toml --epochs 20
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from artstyle.errors import ArtstyleError
from artstyle.threads import default_threads

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Refuses unknown keys; validates on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


# Image sides, one rule for the whole program: an image it decodes, caches or writes is 8 to
# 4096 px a side; a model trains at 16 to 1024 px (every config's ``size``).
IMAGE_SIDE = (8, 4096)
TRAIN_SIDE = (16, 1024)


def check_image_side(size: object, name: str = "size", bounds: tuple[int, int] = IMAGE_SIDE) -> int:
    """``size`` if it is a whole number of pixels within ``bounds``, else a one-line error naming ``name``."""
    low, high = bounds
    if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
        raise ArtstyleError(
            f"{name} must be a whole number of pixels from {low} to {high}, got {size!r}"
        )
    return size


class DataConfig(StrictModel):
    """Where the images come from and how they are cached."""

    data: Path | None = Field(None, description="data folder, ArtGAN release or parquet export")
    size: int = Field(
        64, ge=TRAIN_SIDE[0], le=TRAIN_SIDE[1], description="image side in pixels after resizing"
    )
    resize: Literal["crop", "letterbox"] = "crop"
    test_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="held-out share when the data has no test split"
    )
    val_fraction: float = Field(
        0.1, ge=0.0, lt=0.5, description="stratified validation share carved from train"
    )
    cache_dir: Path | None = None
    workers: int | None = Field(
        None, ge=1, description="decode processes for the cache (default: all cores)"
    )


class DeviceConfig(StrictModel):
    """Where training runs; the same keys drive one CPU, one GPU or DDP on many."""

    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = "auto"
    devices: int = Field(1, ge=1, description="processes/GPUs per node (DDP when > 1)")
    num_nodes: int = Field(1, ge=1)
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = Field(
        "auto", description="auto: bf16-mixed on GPUs that support it, else 32-true"
    )
    compile: bool = Field(False, description="torch.compile the model (GPU speed-up)")
    sync_batchnorm: bool = Field(
        False,
        description="with DDP, BatchNorm statistics over the global batch rather than each "
        "process's share: trains as one process would (one all-reduce per BatchNorm layer)",
    )
    threads: int = Field(
        default_factory=default_threads,
        ge=1,
        description="CPU threads torch computes with (default: OMP_NUM_THREADS if set, else every "
        "core this process may use; chosen from the machine, never the load, and recorded)",
    )


class TrainConfig(DataConfig, DeviceConfig):
    """Keys every training command shares."""

    out: Path | None = None
    seed: int = Field(0, ge=0)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    lr_scaling: Literal["sqrt", "linear", "none"] = Field(
        "sqrt",
        description="lr is tuned for the command's default batch size; a larger global batch "
        "(batch_size x devices x nodes) multiplies it by the square root ('sqrt', suited to "
        "AdamW) or by the ratio ('linear', the usual rule for SGD) of the two sizes; 'none' "
        "keeps lr as given. The rule is not picked from --optimizer: set 'linear' yourself for SGD",
    )
    optimizer: Literal["adamw", "sgd"] = "adamw"
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_epochs: float = Field(1.0, ge=0.0)
    max_minutes: float | None = Field(
        None, gt=0.0, description="stop training after this wall-clock budget"
    )
    progress: bool = True
    ema: bool = Field(
        False, description="keep an exponential moving average of the weights and evaluate with it"
    )
    ema_decay: float = Field(0.999, gt=0.0, lt=1.0)
    grad_clip: float | None = Field(
        None, gt=0.0, description="clip the gradient norm to this value"
    )
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="batch size for validation, test and prediction (default: 128 on a CPU, "
        "where larger batches fall out of cache and run slower, 512 on a GPU)",
    )


def effective_lr(config: TrainConfig, world_size: int = 1) -> float:
    """The learning rate after the batch-size rule of ``config.lr_scaling``.

    ``lr`` is tuned for the command's default ``batch_size`` on one process; the
    global batch here is ``batch_size * world_size``. "sqrt" keeps the variance
    of an AdamW update about constant as the batch grows (Malladi et al. 2022,
    "On the SDEs and scaling rules for adaptive gradient algorithms"); "linear"
    is the rule for SGD (Goyal et al. 2017). Small batches scale down the same way.
    """
    reference = type(config).model_fields["batch_size"].default
    ratio = config.batch_size * max(1, world_size) / reference
    if config.lr_scaling == "sqrt":
        return config.lr * ratio**0.5
    if config.lr_scaling == "linear":
        return config.lr * ratio
    return config.lr


def load_config(
    model: type[T],
    file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    task: str | None = None,
) -> T:
    """Build ``model`` from its defaults, then ``file`` (TOML or YAML), then ``overrides``.

    ``file`` may be a run's own config.yaml (train again with its settings): its
    ``version`` header is dropped, and its ``task`` header must be ``task``.
    Raises ArtstyleError that names every offending key and what it accepts.
    """
    values: dict[str, Any] = {}
    source = "defaults"
    if file is not None:
        values.update(read_config_file(file))
        source = str(file)
        values.pop("version", None)
        if task is not None and "task" in values:
            found = values.pop("task")
            if found != task:
                raise ArtstyleError(
                    f"config file {file} belongs to a run of task {found!r}, not {task!r}; "
                    f"use it with `artstyle train {found}`"
                )
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            source = f"{file} and the command line" if file else "the command line"
    return validate_config(model, values, source)


def validate_config(model: type[T], values: dict[str, Any], source: str = "the config") -> T:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ArtstyleError(explain_validation(model, exc, source)) from exc


def explain_validation(model: type[BaseModel], exc: ValidationError, source: str) -> str:
    problems = []
    unknown = []
    guesses = []  # close matches of misspelt keys
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(config)"
        if error["type"] == "extra_forbidden":
            unknown.append(f"'{key}'")
            close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
            if close:
                guesses.append(f"'{close[0]}' for '{key}'")
        else:
            problems.append(f"key '{key}': {error['msg']} (got {error.get('input')!r})")
    if unknown:  # the allowed keys listed once, however many are unknown
        allowed = ", ".join(sorted(model.model_fields))
        problems.append(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (allowed: {allowed})"
        )
        if guesses:
            problems.append(f"did you mean {', '.join(guesses)}?")
    return f"bad configuration from {source}: " + "; ".join(problems)


def read_config_file(file: str | os.PathLike) -> dict[str, Any]:
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtstyleError(f"config file {path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtstyleError(f"cannot read config file {path}: {exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ArtstyleError(f"config file {path} must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ArtstyleError(f"config file {path} is not valid: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ArtstyleError(f"config file {path} must hold a mapping of keys to values")
    return data


def config_to_yaml(config: BaseModel, extra: dict[str, Any] | None = None) -> str:
    """The resolved config (every default filled in) as YAML, with ``extra`` keys first.

    Paths are written absolute: a run folder is read later from other working
    directories, where a relative ``data: data`` would name another folder or none.
    """
    data = dict(extra or {})
    data.update(config.model_dump(mode="json"))
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, Path):
            data[name] = str(absolute_path(value))
    return yaml.safe_dump(data, sort_keys=False)


def absolute_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, made absolute against the working directory (links kept)."""
    return Path(os.path.abspath(Path(path).expanduser()))


# ---------------------------------------------------------------- task configs
# Each task's config subclasses TrainConfig (or StrictModel) below.


BALANCE_STRATEGIES = ("none", "weights", "resample", "sampler", "logit-adjust")

# Epochs of a classifier left at ``epochs: null`` come from the number of training images: about
# IMAGE_PASSES images seen in all, within EPOCH_RANGE. 7.6k paintings (6.8k after the validation
# carve) get 16 epochs of plain_cpu, about ten CPU-minutes at 64 px (18 before its whitened first
# layer made a step 1.13x dearer; 16 scored as well on validation: docs/real-paintings.md); 1.4k
# get the range's top, fewer images seen in all (docs/benchmarks.md, section real).
IMAGE_PASSES = 109_000
EPOCH_RANGE = (10, 80)


def classifier_epochs(n_train: int) -> int:
    """Epochs for ``n_train`` training images: IMAGE_PASSES / n_train, rounded, within EPOCH_RANGE."""
    low, high = EPOCH_RANGE
    return int(min(high, max(low, round(IMAGE_PASSES / max(n_train, 1)))))


# The classifier recipe the synthetic demo and a stylizer's own critic and judge were tuned
# with (the defaults before the defaults were chosen on real paintings): every key that
# differs from today's defaults, pinned, so those runs keep their numbers.
SYNTHETIC_RECIPE: dict[str, Any] = {
    "size": 64,
    "epochs": 12,
    "model": "resnet_tiny",
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "balance": "weights",
    "dropout": 0.0,
    "tta": False,
    "crop_scale": 0.8,
    "translate": 0.0,
    "jitter": 0.1,
    "ema": False,
    "statistics": 0.0,
}


class ClassifierConfig(TrainConfig):
    """``artstyle train classifier``: a from-scratch CNN (defaults chosen on real paintings).

    The defaults were chosen on a validation carve of real WikiArt paintings (wikiart7-large)
    and scored once on their test split: docs/benchmarks.md, section real. The synthetic demo
    trains with its own recipe (SYNTHETIC_RECIPE).
    """

    epochs: int | None = Field(
        None,
        ge=1,
        description="passes over the training images (default: from their number, about "
        f"{IMAGE_PASSES:,} images seen, {EPOCH_RANGE[0]} to {EPOCH_RANGE[1]} epochs)",
    )
    batch_size: int = Field(128, ge=1)
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    model: str = Field(
        "plain_cpu", description="architecture name (artstyle.models.architecture_names())"
    )
    width: int | None = Field(None, ge=4, description="first-stage width; later stages double it")
    depth: int | None = Field(
        None,
        ge=1,
        description="blocks per stage (residual blocks; in plain_cpu, pairs of convolutions)",
    )
    pool: Literal["avg", "avgstd", "multiscale"] | None = Field(
        None,
        description="global pooling: mean; mean and std per channel; mean and std of every stage",
    )
    whiten: int | None = Field(
        None,
        ge=0,
        le=4,
        description="plain networks: the first convolution replaced by a fixed whitening of "
        "the training images' k x k patches (this k; 0: off; default: the preset's, "
        "2 for plain_cpu)",
    )
    identity_init: bool | None = Field(
        None,
        description="plain networks: each convolution starts with its first outputs copying "
        "its inputs (default: the preset's, on for plain_cpu)",
    )
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    balance: Literal["none", "weights", "resample", "sampler", "logit-adjust"] = "logit-adjust"
    class_weights: Literal["inverse", "sqrt", "effective"] = Field(
        "sqrt", description="class weight rule for --balance weights and sampler"
    )
    weights_beta: float = Field(
        0.999, ge=0.0, lt=1.0, description="beta of the effective-number weights"
    )
    resample_target: str = Field(
        "mean",
        description="per-style count for --balance resample: N, mean, max, min, or a fraction",
    )
    logit_tau: float = Field(1.0, ge=0.0, description="strength of --balance logit-adjust")
    augment: bool = True
    crop_scale: float = Field(
        0.35,
        gt=0.0,
        le=1.0,
        description="smallest area share of a random resized crop (used with --translate 0)",
    )
    translate: float = Field(
        0.125,
        ge=0.0,
        le=0.5,
        description="instead of the random resized crop: a random shift of up to this share of "
        "the side, in whole pixels, the border mirrored (0: the crop)",
    )
    flip: bool = True
    train_scale: float = Field(
        1.0,
        ge=0.25,
        le=1.0,
        description="training crops are resized to this share of size (0.75: 48 px crops of "
        "64 px images, about half the cost of a step; on real paintings it scored lower on "
        "test, docs/real-paintings.md)",
    )
    jitter: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="brightness/contrast/saturation jitter (paintings keep their palette: 0)",
    )
    mixup: float = Field(
        0.0, ge=0.0, description="mixup alpha (0: off): blend image pairs and their labels"
    )
    cutmix: float = Field(
        0.0,
        ge=0.0,
        description="cutmix alpha (0: off): paste a box of another image, mix labels by area",
    )
    tta: bool = Field(
        True,
        description="average predictions over several views of each image at evaluation "
        "(the image and its mirror, plus crops: --tta-crop)",
    )
    tta_crop: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="with tta: also the four corner crops and the centre crop of this share of "
        "the side, each resized back and mirrored (12 views); 1: the image and its mirror only",
    )
    # an average of the weights over the last ~50 steps is what validation and test score:
    # above the raw weights on both seeds of wikiart7 and wikiart7-large's validation carves
    # (docs/real-paintings.md, section "Averaged weights, a narrower network, shifted views,
    # a slower CPU")
    ema: bool = Field(True, description=TrainConfig.model_fields["ema"].description)
    ema_decay: float = Field(0.98, gt=0.0, lt=1.0)
    # the network and a kernel model on colour and texture statistics, their log-probabilities
    # mixed in equal shares: the statistics hold across painters where the network learns the
    # ones it saw (docs/real-paintings.md, section "The statistics expert")
    statistics: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="share of the colour-and-texture statistics expert in the predicted "
        "log-probabilities, fitted after the network on the same training images (0: network only)",
    )


# Keys added to a config after runs were written without them: a run's config.yaml that lacks
# one is read with the value that reproduces what that run did (not today's default).
ADDED_KEYS_AS_BEFORE: dict[str, Any] = {"tta_crop": 1.0, "translate": 0.0, "statistics": 0.0}


class CompareBalanceConfig(ClassifierConfig):
    """``artstyle compare-balance``: one classifier per strategy, same seed and budget."""

    strategies: list[Literal["none", "weights", "resample", "sampler", "logit-adjust"]] = Field(
        default_factory=lambda: list(BALANCE_STRATEGIES)
    )


class AutoencoderConfig(TrainConfig):
    """``artstyle train autoencoder``: a convolutional autoencoder whose latent vectors get clustered."""

    model: str = Field(
        "conv_ae",
        description="architecture name (artstyle.models.architecture_names('autoencoder'))",
    )
    # small batches: a few thousand images give few optimiser steps per epoch, and the
    # autoencoder needs steps more than large batches (measured on the synthetic set)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    latent_dim: int | None = Field(
        None, ge=2, description="size of the latent vector (default: the preset's)"
    )
    widths: list[int] | None = Field(
        None, min_length=1, description="channels per stage; one halving of the side per stage"
    )
    upsample: Literal["nearest", "bilinear"] | None = Field(
        None, description="resize-convolution upsampling mode"
    )
    stem_stride: int | None = Field(
        None, ge=1, le=2, description="2: the first convolution halves the side (cheaper)"
    )
    bottleneck: Literal["linear", "conv"] | None = Field(
        None, description="latent from a linear layer or a 1x1 conv grid"
    )
    l1_weight: float = Field(0.0, ge=0.0, description="weight of an L1 term added to the MSE loss")
    ssim_weight: float = Field(
        0.0, ge=0.0, description="weight of a 1 - SSIM term added to the MSE loss"
    )
    flip: bool = Field(True, description="random horizontal flips of training images")
    n_reconstructions: int = Field(
        8, ge=1, le=64, description="held-out images shown in figures/reconstructions.png"
    )

    @field_validator("widths", mode="before")
    @classmethod
    def _split_widths(cls, value: Any) -> Any:
        # ``--widths 32,64,128`` arrives as text
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


PROJECTIONS = ("pca", "tsne", "umap")
CLUSTER_METHODS = ("kmeans", "gmm", "agglomerative", "hdbscan")


class ClusterConfig(StrictModel):
    """``artstyle embed`` / ``cluster`` / ``compare-representations``: embeddings, clustering, 2-D views."""

    data: Path | None = Field(
        None, description="data folder (default: the one the run or embedding file names)"
    )
    split: Literal["train", "test"] = "test"
    test_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="held-out share when the data has no test split"
    )
    method: Literal["kmeans", "gmm", "agglomerative", "hdbscan"] = "kmeans"
    k: int | None = Field(
        None, ge=2, description="number of clusters (default: the number of styles in the data)"
    )
    sweep: list[int] | None = Field(
        None, description="k values of the scores-vs-k sweep (default: 2..2x styles; [] for none)"
    )
    pca_components: int = Field(
        50, ge=0, description="PCA dimensions before clustering (0: no PCA)"
    )
    projections: list[Literal["pca", "tsne", "umap"]] = Field(
        default_factory=lambda: ["pca", "tsne"]
    )
    max_points: int = Field(
        5000, ge=10, description="2-D views use a seeded random subsample beyond this many points"
    )
    perplexity: float = Field(30.0, gt=1.0, description="t-SNE perplexity")
    min_cluster_size: int = Field(10, ge=2, description="HDBSCAN's smallest cluster")
    seed: int = Field(0, ge=0)
    n_seeds: int = Field(
        3, ge=1, description="clustering seeds averaged in compare-representations"
    )
    n_central: int = Field(8, ge=1, le=32, description="most central images shown per cluster")
    pixel_size: int = Field(
        64,
        ge=IMAGE_SIDE[0],
        le=TRAIN_SIDE[1],
        description="image side the raw-pixel baseline is cached at",
    )
    pixel_side: int = Field(
        16, ge=2, le=256, description="raw-pixel vectors: images area-averaged to this side"
    )
    batch_size: int = Field(256, ge=1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    cache_dir: Path | None = None
    workers: int | None = Field(None, ge=1)
    threads: int | None = Field(
        None,
        ge=1,
        description="BLAS/OpenMP threads for clustering and t-SNE (default: all; 1 is faster on a busy machine)",
    )
    progress: bool = True

    @field_validator("projections", "sweep", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # ``--projections pca,tsne`` and ``--sweep 2,4,8`` arrive as text
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class LoraConfig(DeviceConfig):
    """``artstyle lora train``: LoRA on a local Stable Diffusion 1.x/2.x folder (defaults: a 512 px GPU recipe)."""

    base: Path | None = Field(
        None, description="local Stable Diffusion folder (model_index.json, unet/, vae/, ...)"
    )
    variant: str | None = Field(
        None, description="weight-file variant to load, e.g. fp16 for *.fp16.safetensors"
    )
    data: Path | None = Field(None, description="data folder, ArtGAN release or parquet export")
    test_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="held-out share when the data has no test split"
    )
    images: Literal["train", "all"] = Field(
        "train", description="train split only, or train and test (LoRA never evaluates on test)"
    )
    styles: list[str] | None = Field(
        None, description="train on these styles only (default: every style in the data)"
    )
    out: Path | None = None
    seed: int = Field(0, ge=0)
    resolution: int = Field(
        512, ge=8, le=2048, description="training image side in pixels (a multiple of 8)"
    )
    crop: Literal["center", "random"] = Field(
        "center", description="square crop after scaling the short side"
    )
    flip: bool = Field(True, description="random horizontal flips")
    buckets: bool = Field(
        False,
        description="aspect-ratio buckets: each image trained in the 64-px (width, height) of about "
        "resolution^2 pixels nearest its shape, never upscaled; a batch holds one bucket; every "
        "image once per epoch (times its --balance repeats). Needs a resolution that is a multiple of 64",
    )
    cache_latents: bool = Field(
        False,
        description="encode each image (and its mirror) once with the VAE and train from the cached "
        "latents, stored beside the image cache; needs --crop center",
    )
    caption: str = Field(
        "a painting in the {style} style",
        description="caption template; {style} becomes e.g. 'Post Impressionism'",
    )
    artist_caption: str | None = Field(
        "a painting by {artist} in the {style} style",
        description="template when the file name carries the artist (null: always use caption)",
    )
    captions: Literal["auto", "style"] = Field(
        "auto",
        description="auto: an image's own caption (IMAGE.txt beside it, else its row of "
        "DATA/captions.csv) where it has one, else the templates; style: the templates only",
    )
    caption_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="share of image draws trained with an empty caption (kohya's caption_dropout_rate)",
    )
    shuffle_tags: bool = Field(
        False, description="shuffle a caption's comma-separated tags each time its image is drawn"
    )
    keep_tokens: int = Field(
        0, ge=0, description="with shuffle_tags: the first N comma-separated tags stay in front"
    )
    balance: Literal["inverse", "sqrt", "effective", "none"] = Field(
        "inverse", description="style sampling weights"
    )
    rank: int = Field(8, ge=1, le=1024, description="LoRA rank")
    alpha: float | None = Field(
        None, gt=0.0, description="LoRA alpha (default: the rank, i.e. scale 1)"
    )
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"],
        min_length=1,
        description="UNet modules given LoRA",
    )
    train_text_encoder: bool = Field(False, description="also give the text encoder LoRA layers")
    text_encoder_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "out_proj"], min_length=1
    )
    lr: float = Field(1e-4, gt=0.0)
    text_encoder_lr: float | None = Field(None, gt=0.0, description="default: lr")
    weight_decay: float = Field(1e-2, ge=0.0)
    adam8bit: bool = Field(False, description="8-bit AdamW from bitsandbytes (must be installed)")
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    batch_size: int = Field(1, ge=1, description="images per device per micro-batch")
    grad_accum: int = Field(4, ge=1, description="micro-batches per optimizer step")
    gradient_checkpointing: bool = Field(
        False, description="recompute UNet activations: less memory, ~20-30% slower"
    )
    max_grad_norm: float | None = Field(1.0, gt=0.0)
    max_steps: int = Field(2000, ge=1, description="optimizer steps")
    max_minutes: float | None = Field(
        None, gt=0.0, description="stop (and save) after this wall-clock budget"
    )
    snr_gamma: float | None = Field(
        None, gt=0.0, description="Min-SNR loss weighting gamma (5.0 is the paper's)"
    )
    noise_offset: float = Field(
        0.0, ge=0.0, description="offset-noise strength (0.05-0.1 helps very dark/bright images)"
    )
    checkpoint_every: int = Field(
        500, ge=1, description="save checkpoints/last.ckpt and the LoRA weights every N steps"
    )
    validation_every: int = Field(
        500, ge=0, description="sample validation images every N steps (0: never)"
    )
    validation_styles: list[str] = Field(
        default_factory=list, description="default: up to 4 styles spread over the classes"
    )
    validation_prompt: str | None = Field(
        None, description="subject added to each style's caption for validation images"
    )
    inference_steps: int = Field(
        30, ge=1, description="sampling steps of validation and generation"
    )
    guidance_scale: float = Field(7.5, ge=0.0, description="classifier-free guidance scale")
    safety_checker: bool = Field(
        False, description="run the model's NSFW checker (it blacks out flagged paintings)"
    )
    loader_workers: int = Field(
        0, ge=0, description="image-decoding worker processes (0: decode in the training process)"
    )
    log_every: int = Field(10, ge=1, description="optimizer steps per history.csv row")
    progress: bool = True

    @field_validator(
        "target_modules",
        "text_encoder_target_modules",
        "validation_styles",
        "styles",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # ``--target-modules to_q,to_v`` arrives as text
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("resolution")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        # the VAE shrinks the side 8x (SD) and the UNet halves it again; other sides fail inside the UNet
        if value % 8:
            raise ValueError(
                f"must be a multiple of 8 (for example {value - value % 8 or 8} or {value - value % 8 + 8})"
            )
        return value

    @field_validator("artist_caption", "validation_prompt", mode="before")
    @classmethod
    def _text_none(cls, value: Any) -> Any:
        # ``--artist-caption null`` arrives as text; it means "off", not the caption "null"
        if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
            return None
        return value

    @field_validator("caption", "artist_caption")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            value.format(style="S", artist="A")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"may only use the placeholders {{style}} and {{artist}} ({exc})"
            ) from None
        return value


def _loss_weight(description: str) -> Any:
    """A loss term's weight: 1 unless set, never negative."""
    return Field(1.0, ge=0.0, description=description)


class StylizerConfig(TrainConfig):
    """``artstyle train stylizer``: an autoencoder conditioned on a learned embedding per style (CPU demo defaults)."""

    model: str = Field(
        "stylizer_tiny",
        description="architecture name (artstyle.models.architecture_names('stylizer'))",
    )
    size: int = Field(
        32,
        ge=TRAIN_SIDE[0],
        le=TRAIN_SIDE[1],
        description="image side in pixels after resizing (a multiple of 4 for stylizer_tiny)",
    )
    batch_size: int = Field(32, ge=1)
    warmup_epochs: float = Field(0.2, ge=0.0)
    style_dim: int | None = Field(
        None, ge=2, description="length of each style embedding (default: the preset's)"
    )
    width: int | None = Field(
        None, ge=4, description="channels at full resolution (default: the preset's)"
    )
    modulation: Literal["film", "adain"] | None = Field(
        None, description="how the style enters the decoder (default: the preset's)"
    )
    critic: Path | None = Field(
        None,
        description="classifier run whose frozen network pushes outputs toward the target style",
    )
    judge: Path | None = Field(
        None, description="a different classifier run that scores the style-hit rate at the end"
    )
    helpers: Literal["train", "none"] = Field(
        "train",
        description="what to do when --critic/--judge are missing: train small classifiers into "
        "RUN/critic and RUN/judge, or go without",
    )
    helper_epochs: int = Field(
        12,
        ge=1,
        description="epochs of each classifier trained into RUN/critic and RUN/judge "
        "(--max-minutes caps the stylizer only)",
    )
    style_features: Literal["auto", "random", "critic"] = Field(
        "auto",
        description="network whose Gram matrices describe texture (auto: the critic's early layers when given)",
    )
    init_styles: Path | None = Field(
        None,
        description="classifier or autoencoder run: start each embedding at its style's mean feature vector",
    )
    recon_weight: float = _loss_weight("L1 between the own-style output and the input")
    gram_weight: float = _loss_weight("Gram-matrix style loss toward the target style's mean")
    critic_weight: float = _loss_weight("critic cross-entropy toward the target style")
    content_weight: float = _loss_weight("1 - SSIM between a mismatched output and its input")
    critic_augment: bool = Field(
        True, description="the critic sees each output shifted and mirrored at random"
    )
    flip: bool = Field(True, description="random horizontal flips of training images")
    n_grid: int = Field(8, ge=2, le=27, description="images and styles in figures/style_grid.png")
    score_images: int = Field(
        200, ge=1, description="test images scored against every other style at the end"
    )


class ExploreConfig(StrictModel):
    """``artstyle explore``: an interactive map of one embedding as one self-contained HTML page."""

    data: Path | None = Field(
        None, description="data folder of the thumbnails (default: the one the embedding names)"
    )
    split: list[Literal["train", "test"]] = Field(
        default_factory=lambda: ["test"],
        description="splits to embed from a run folder or 'pixels' (train,test: shape by split)",
    )
    test_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="held-out share when the data has no test split"
    )
    projection: Literal["pca", "tsne", "umap"] = "tsne"
    max_points: int = Field(
        10_000, ge=10, description="beyond this many points, a seeded per-style subsample is shown"
    )
    n_neighbours: int = Field(
        8, ge=1, le=50, description="nearest neighbours (full embedding space) listed on click"
    )
    k: int | None = Field(
        None, ge=2, description="k-means clusters to colour by (default: the number of styles)"
    )
    pca_components: int = Field(
        50, ge=0, description="PCA dimensions before clustering and t-SNE (0: no PCA)"
    )
    perplexity: float = Field(30.0, gt=1.0, description="t-SNE perplexity")
    thumb_px: int = Field(64, ge=16, le=256, description="side of each inlined thumbnail")
    thumb_format: Literal["webp", "jpeg"] = "webp"
    thumb_quality: int = Field(70, ge=1, le=100, description="WebP/JPEG quality of the thumbnails")
    seed: int = Field(0, ge=0)
    pixel_size: int = Field(
        64, ge=IMAGE_SIDE[0], le=TRAIN_SIDE[1], description="image side of the raw-pixel baseline"
    )
    pixel_side: int = Field(
        16, ge=2, le=256, description="raw-pixel vectors: images area-averaged to this side"
    )
    batch_size: int = Field(256, ge=1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    cache_dir: Path | None = None
    workers: int | None = Field(None, ge=1, description="processes making thumbnails")
    threads: int | None = Field(
        None, ge=1, description="BLAS/OpenMP threads for clustering and t-SNE (default: all)"
    )
    progress: bool = True

    @field_validator("split", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # ``--split train,test`` arrives as text
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("split")
    @classmethod
    def _distinct_splits(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one split: train, test or train,test")
        return list(dict.fromkeys(value))


class LabelIssuesConfig(ClassifierConfig):
    """``artstyle data label-issues``: paintings probably filed under the wrong style.

    Out-of-fold predicted probabilities (K seeded, stratified folds of the training split)
    go to confident learning (Northcutt et al., "Confident Learning", JAIR 2021; cleanlab).
    The classifier keys are a quick recipe, not the accuracy defaults of ``train
    classifier``: a small network at 48 px for a few epochs per fold, trained on the data as
    it is (``balance: none``), so its probabilities keep the styles' real frequencies, which
    confident learning's per-style thresholds expect.
    """

    size: int = Field(
        48, ge=TRAIN_SIDE[0], le=TRAIN_SIDE[1], description="image side of the fold models"
    )
    epochs: int = Field(12, ge=1, description="passes over each fold's training images")
    model: str = Field("resnet_tiny", description="architecture of the fold models")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    balance: Literal["none", "weights", "resample", "sampler", "logit-adjust"] = "none"
    crop_scale: float = Field(0.6, gt=0.0, le=1.0)
    translate: float = Field(0.0, ge=0.0, le=0.5)
    jitter: float = Field(0.1, ge=0.0, le=1.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    ema: bool = False
    # milder crops than the classifier's defaults leave little zoom to make up at test, and the
    # quick recipe was tuned on planted label flips with the mirror alone
    tta_crop: float = Field(1.0, gt=0.0, le=1.0)
    val_fraction: float = Field(
        0.0, ge=0.0, lt=0.5, description="unused: each fold is scored on its held-out part"
    )
    statistics: float = Field(
        0.0, ge=0.0, le=0.0, description="unused: the fold models predict with the network alone"
    )
    folds: int = Field(5, ge=2, le=50, description="cross-validation folds (stratified, seeded)")
    features: Path | None = Field(
        None,
        description="classifier run whose features feed a logistic regression instead of "
        "training fold networks (fast; see the caveat in the docs)",
    )
    top: int = Field(24, ge=0, le=200, description="top issues drawn on the thumbnail sheet")
    sheet: Path | None = Field(
        None, description="thumbnail sheet of the top issues (default: --out with .png)"
    )
