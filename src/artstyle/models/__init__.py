"""The architecture registry: every model the toolkit trains, built by name.

A registered name points to a model class and a preset of its constructor
arguments. ``model.json`` in a run folder stores the name and the full
arguments, so :func:`build_model` rebuilds the network without code changes
(nanoGPT keeps ``model_args`` in its checkpoints the same way). Model modules
are imported only when a model is built, so listing names stays cheap.

    python -c "from artstyle.models import architecture_names; print(architecture_names())"

To add an architecture: write a plain ``nn.Module`` whose constructor takes
one dataclass (kept on the model as ``.config`` and named by the class
attribute ``config_class``), then add one :func:`register` line below.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from artstyle.errors import ArtstyleError


@dataclass(frozen=True)
class Architecture:
    """One registered name: where its class lives and the preset arguments."""

    name: str
    target: str  # "package.module:ClassName"
    kind: str  # "classifier" | "autoencoder" | ...: what a run of it is for
    preset: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def model_class(self) -> type:
        module_name, _, class_name = self.target.partition(":")
        return getattr(importlib.import_module(module_name), class_name)


_REGISTRY: dict[str, Architecture] = {}


def register(
    name: str,
    target: str,
    *,
    kind: str,
    preset: dict[str, Any] | None = None,
    description: str = "",
) -> None:
    """Make ``name`` buildable; ``preset`` holds the constructor arguments it means."""
    _REGISTRY[name] = Architecture(name, target, kind, dict(preset or {}), description)


def architecture_names(kind: str | None = None) -> list[str]:
    """Registered names (of one ``kind`` when given), sorted."""
    return sorted(name for name, entry in _REGISTRY.items() if kind is None or entry.kind == kind)


def get_architecture(name: str) -> Architecture:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ArtstyleError(
            f"unknown architecture {name!r}; known: {', '.join(architecture_names())}"
        ) from None


def build_model(name: str, **args: Any):
    """Build the registered ``name``: its preset, then ``args`` on top (e.g. ``num_classes``).

    Unknown argument names raise ArtstyleError naming them and the allowed ones.
    """
    entry = get_architecture(name)
    model_class = entry.model_class()
    config_class = model_class.config_class
    allowed = {f.name for f in dataclasses.fields(config_class)}
    values = {**entry.preset, **{k: v for k, v in args.items() if v is not None}}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ArtstyleError(
            f"architecture {name!r} has no argument(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        config = config_class(**values)
        # arguments from a model.json are untrusted: a float channel count or a dropout of 5
        # fails only inside the layers' constructors
        model = model_class(config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArtstyleError(f"cannot build architecture {name!r}: {exc}") from exc
    model.architecture = name
    return model


def added_arguments(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The built-in defaults of ``name``'s arguments missing from ``args``.

    A model.json written before an argument existed lacks it; the built-in default is the
    behaviour the model had then (a preset may since have chosen another value).
    """
    config_class = get_architecture(name).model_class().config_class
    return {
        f.name: f.default
        for f in dataclasses.fields(config_class)
        if f.name not in args and f.default is not dataclasses.MISSING and f.default is not None
    }


def model_spec(model) -> dict[str, Any]:
    """What ``model.json`` holds: the architecture name, its kind and the constructor arguments."""
    name = getattr(model, "architecture", None)
    if name is None:
        raise ArtstyleError(
            f"{type(model).__name__} was not built by name; use artstyle.models.build_model"
        )
    return {
        "architecture": name,
        "kind": get_architecture(name).kind,
        "args": dataclasses.asdict(model.config),
    }


def fold_batchnorm(model) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d in an ``nn.Sequential``.

    The convolution takes the normalisation's scale and shift into its weights
    and bias and the BatchNorm becomes an ``nn.Identity``: the same function
    in eval mode (up to float rounding) with one pass over memory fewer per
    layer. For inference only: the folded model has no batch statistics to
    train with, so it is put in eval mode, and its ``state_dict`` no longer
    matches ``model.json``. Works in place; returns how many were folded.
    """
    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    folded = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if (
                isinstance(conv, nn.Conv2d)
                and type(norm) is nn.BatchNorm2d
                and norm.track_running_stats
                and norm.running_mean is not None
            ):
                fused = fuse_conv_bn_eval(conv, norm)
                # keep the layout the weights had (channels_last stays channels_last)
                layout = (
                    torch.channels_last
                    if conv.weight.is_contiguous(memory_format=torch.channels_last)
                    and not conv.weight.is_contiguous()
                    else torch.contiguous_format
                )
                module[index] = fused.to(memory_format=layout)
                module[index + 1] = nn.Identity()
                folded += 1
    return folded


# ---------------------------------------------------------------- the registered architectures


def _family(target: str, kind: str, **common: Any) -> Callable[[str, str, dict[str, Any]], None]:
    """A :func:`register` for the sizes of one model: ``target``, ``kind`` and ``common`` shared."""

    def add(name: str, description: str, preset: dict[str, Any]) -> None:
        # a size's own preset wins over the family's common arguments
        register(name, target, kind=kind, preset={**common, **preset}, description=description)

    return add


# ResNet classifiers: the stride-2 stem and, unless a size says otherwise, its max-pool and
# mean+std pooling of the last stage.
_resnet = _family(
    "artstyle.models.classifier:ResNetClassifier",
    "classifier",
    stem_stride=2,
    stem_pool=True,
    pool="avgstd",
)
# 64 px on a CPU (the demo): a ResNet stem (stride-2 conv + max-pool) brings
# 64 px to 16 px before the first stage, which makes a step about 2.5x cheaper
# than starting the stages at 32 px, for little accuracy on style; three
# stages of one block each; mean+std pooling; ~0.3 M parameters.
_resnet("resnet_tiny", "CPU demo size (64 px)", {"widths": (32, 64, 128), "depths": (1, 1, 1)})
# The previous default for real paintings on a CPU (plain_cpu is the default now): a stride-2
# stem without the max-pool, so the first stage works at half the input's resolution (32x32
# at 64 px) where fine structure (hatching, stripes, brushwork) still shows, kept cheap by its
# 16 channels; four stages of one block (16-48-96-192); the mean and standard deviation of
# every stage pooled (multiscale). A step costs about what resnet_tiny's layout 1.5x wider did
# (15% more in whole runs), and 31 epochs of 8k paintings take about ten CPU-minutes. Against
# that layout (48-96-192 after the max-pool) it scored within the spread between seeds on real
# paintings (0.01-0.02 lower on the bench's two sets) and 0.86 against 0.74 on styles told
# apart by structure only (docs/real-paintings.md).
_resnet(
    "resnet_cpu",
    "CPU, real paintings (64 px)",
    {
        "widths": (16, 48, 96, 192),
        "depths": (1, 1, 1, 1),
        "stem_pool": False,
        "pool": "multiscale",
    },
)
# A step up for real paintings on a CPU: wider, one more block in the last two stages.
_resnet(
    "resnet_small", "CPU, real paintings (64-96 px)", {"widths": (48, 96, 192), "depths": (1, 2, 2)}
)
# ResNet-18 layout (He et al. 2016) for 128-224 px on one GPU, ~11 M parameters.
_resnet(
    "resnet_gpu", "GPU size (128-224 px)", {"widths": (64, 128, 256, 512), "depths": (2, 2, 2, 2)}
)

# Plain VGG-style classifiers: no stem, each stage two 3x3 convolutions (BatchNorm, then GELU or
# ReLU) at its full resolution and a 2x2 max-pool; the channel means of the last stage.
_plain = _family("artstyle.models.classifier:PlainClassifier", "classifier", pool="avg")
# The default for real paintings on a CPU: the reference script's layout
# (bench/reference_classifier.py) at half its width, 16-32-64-128. The first stage's
# convolutions see every pixel of a 64 px image; 53 M multiply-adds an image (the reference's
# 211 M, resnet_cpu's 29 M). Trained with whole-pixel shifts rather than resized crops it scored
# 0.03-0.05 above resnet_cpu on paintings (docs/real-paintings.md). ReLU, and each stage's
# max-pool before its last BatchNorm and activation (pool_first), make a training step about
# 0.75x the cost of GELU in the usual order; pooling every stage's mean and standard deviation
# (multiscale) gives 0.06x of it back and kept the structure-only set's score, which the channel
# means alone lost. A fixed whitening of 2x2 patches in place of the first convolution, and
# convolutions that start as the identity (airbench's, together): above the layout without them
# on the validation carves of both painting sets and the structure-only set (the last ten
# epochs' mean on every seed, the best epoch on five of six), for about 1.13x the cost of a
# step; 16 epochs of 6.8k paintings in about ten CPU-minutes. A model.json written before
# ``activation``, ``pool_first``, ``whiten`` or ``identity_init`` existed loads as it was
# trained (GELU, the pool last, no whitening).
_plain(
    "plain_cpu",
    "CPU, real paintings (64 px)",
    {
        "widths": (16, 32, 64, 128),
        "depths": (1, 1, 1, 1),
        "activation": "relu",
        "pool_first": True,
        "pool": "multiscale",
        "whiten": 2,
        "identity_init": True,
    },
)

# Convolutional autoencoders: every size has the stride-2 stem.
_conv_ae = _family("artstyle.models.autoencoder:ConvAutoencoder", "autoencoder", stem_stride=2)
# Convolutional autoencoder for a CPU: a stride-2 stem and two stages take 64 px
# to an 8x8 grid of 4 latent channels, a 256-d vector (48x fewer values than the image).
_conv_ae(
    "conv_ae",
    "CPU size (64 px), 256-d latent (8x8x4 grid)",
    {"image_size": 64, "latent_dim": 256, "widths": [32, 64], "bottleneck": "conv"},
)
# Wider and deeper for 128 px on one GPU: an 8x8 grid of 16 channels (1024-d).
_conv_ae(
    "conv_ae_gpu",
    "GPU size (128 px), 1024-d latent (8x8x16 grid)",
    {"image_size": 128, "latent_dim": 1024, "widths": [64, 128, 256], "bottleneck": "conv"},
)
# The fully connected bottleneck: one global 256-d code (slower to train; see the module docstring).
_conv_ae(
    "conv_ae_linear",
    "CPU size (64 px), 256-d latent from a linear layer",
    {"image_size": 64, "latent_dim": 256, "widths": [16, 32, 64], "bottleneck": "linear"},
)

_stylizer = _family("artstyle.models.stylizer:Stylizer", "stylizer")
# Style-conditioned autoencoder for a CPU (32-64 px): content map at S/4, the style
# modulating the decoder at three scales.
_stylizer(
    "stylizer_tiny", "CPU size (32-64 px)", {"style_dim": 64, "width": 16, "n_down": 2, "n_res": 2}
)
# Wider and one scale deeper for 128 px on one GPU.
_stylizer(
    "stylizer_gpu", "GPU size (128 px)", {"style_dim": 128, "width": 64, "n_down": 3, "n_res": 4}
)


def resolve_device(name: Any):
    """``auto`` (a CUDA GPU, else Apple's mps, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``
    as a ``torch.device``; a misspelt or absent device is an ArtstyleError that says what to pass."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except (RuntimeError, ValueError):
        raise ArtstyleError(
            f"--device {name!r} is not a device; pass auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ArtstyleError(
            f"--device {name} asked for, but torch sees no CUDA GPU; use --device cpu"
        )
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise ArtstyleError(
            f"--device {name}: only {torch.cuda.device_count()} GPU(s) are visible (cuda:0 ...)"
        )
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ArtstyleError(
                f"--device {name} asked for, but mps is not available; use --device cpu"
            )
    if device.type not in ("cpu", "cuda", "mps"):
        raise ArtstyleError(
            f"--device {name!r} is not supported; pass auto, cpu, cuda, cuda:N or mps"
        )
    return device
