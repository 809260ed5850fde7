"""CNNs for style classification, trained from scratch (no pretrained weights).

Two layouts share one interface. :class:`ResNetClassifier` follows ResNet
(He et al. 2016, "Deep Residual Learning for Image Recognition"): a
convolutional stem, stages of basic blocks whose first block halves the
resolution, global pooling and a linear head. :class:`PlainClassifier` is the
plain VGG layout (Simonyan & Zisserman 2015): no stem, stages of two 3x3
convolutions with BatchNorm and an activation at the stage's full resolution,
each with a 2x2 max-pool. Width and depth per stage come from their
configs; the registry in :mod:`artstyle.models` names presets (``plain_cpu``
for real paintings on a CPU, ``resnet_tiny`` for the demo, ``resnet_gpu`` for
a GPU).

``forward_features`` gives the pooled embedding used for clustering,
``forward_head`` the class logits (the timm split).

    python -c "from artstyle.models import build_model; m = build_model('plain_cpu', num_classes=27); print(m)"
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

POOLS = ("avg", "avgstd", "multiscale")
ACTIVATIONS = ("gelu", "relu")


@dataclass
class StagesConfig:
    """What every layout shares: classes, stage widths and depths, pooling, dropout."""

    num_classes: int = 27
    widths: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1)
    # "avg": channel means of the last stage; "avgstd": means and standard
    # deviations; "multiscale": means and standard deviations of every stage
    pool: str = "avg"
    dropout: float = 0.0
    in_channels: int = 3

    def __post_init__(self) -> None:
        # model.json stores tuples as lists
        self.widths = tuple(int(w) for w in self.widths)
        self.depths = tuple(int(d) for d in self.depths)
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ValueError(
                f"widths {self.widths} and depths {self.depths} must have the same, non-zero length"
            )
        if min(self.widths) < 1 or min(self.depths) < 1:
            raise ValueError("widths and depths must be positive")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {self.pool!r}")

    @property
    def feature_dim(self) -> int:
        if self.pool == "multiscale":
            return 2 * sum(self.widths)
        return self.widths[-1] * (2 if self.pool == "avgstd" else 1)


@dataclass
class ResNetConfig(StagesConfig):
    stem_width: int | None = None  # default: widths[0]
    stem_stride: int = 2
    stem_pool: bool = False  # a 3x3 max-pool after the stem (ResNet's ImageNet stem)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")


@dataclass
class PlainConfig(StagesConfig):
    """``depths``: pairs of convolutions per stage (the reference VGG block is one pair).

    The defaults (GELU, the pool last) are the layout model.json files without
    ``activation`` and ``pool_first`` were trained with; the ``plain_cpu`` preset sets both.
    """

    widths: tuple[int, ...] = (16, 32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    activation: str = "gelu"  # or "relu"
    # the stage's 2x2 max-pool straight after its last convolution, before that convolution's
    # BatchNorm and activation (as airbench): those run on a quarter of the values
    pool_first: bool = False
    # the side of a fixed patch-whitening layer in place of the first convolution
    # (:class:`PatchWhitening`); 0: an ordinary convolution, as model.json files without it
    whiten: int = 0
    # each convolution with at least as many outputs as inputs starts with its first outputs
    # copying its inputs (the rest as before), as airbench's; only the start of training changes
    identity_init: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not 0 <= self.whiten <= 4:
            raise ValueError(f"whiten must be a patch side from 1 to 4, or 0, got {self.whiten}")


def conv_bn(
    in_channels: int, out_channels: int, *, kernel_size: int = 3, stride: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut; the first conv carries the stride."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels, stride=stride)
        self.conv2 = conv_bn(out_channels, out_channels)
        # Zero-initialised last BN scale: every block starts as the identity,
        # which lets deeper nets train at large learning rates (Goyal et al. 2017, sec. 5.1).
        nn.init.zeros_(self.conv2[1].weight)
        self.shortcut = (
            conv_bn(in_channels, out_channels, kernel_size=1, stride=stride)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x), inplace=True)
        return F.relu(self.conv2(out) + self.shortcut(x), inplace=True)


def mean_std(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 2C): each channel's mean and standard deviation over the image.

    First- and second-order feature statistics: the diagonal of the Gram
    matrices that describe style in Gatys et al. 2016.
    """
    dtype = x.dtype
    x = x.float()  # fp32 statistics under autocast
    # Two passes (mean, then mean squared deviation) rather than torch.var_mean:
    # the same values to float rounding, and on a CPU about 10x faster forward
    # and 1.7x faster forward+backward on channels_last activations.
    mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    var = (x - mean).square().mean(dim=(2, 3))  # (B, C)
    # the epsilon keeps the gradient finite for a channel that is constant (e.g. all zero after ReLU)
    return torch.cat([mean.flatten(1), torch.sqrt(var + 1e-5)], dim=1).to(dtype)


def pool_stages(stages: nn.Sequential, x: torch.Tensor, pool: str) -> torch.Tensor:
    """Run ``x`` through ``stages`` and pool: (B, C, S, S) -> (B, D) as ``pool`` says."""
    if pool == "multiscale":
        # Statistics of every stage, as style is described by feature
        # statistics at several depths (Gatys et al. 2016 use five layers):
        # early stages keep colour and brushwork, late ones composition.
        pooled = []
        for stage in stages:
            x = stage(x)  # (B, C_i, S_i, S_i), S_i halves from stage to stage
            pooled.append(mean_std(x))
        return torch.cat(pooled, dim=1)  # (B, 2 * sum(C_i))
    x = stages(x)  # (B, C, S', S')
    if pool == "avgstd":
        return mean_std(x)  # (B, 2C)
    return x.mean(dim=(2, 3))  # (B, C, S', S') -> (B, C)


class PooledClassifier(nn.Module):
    """What both layouts share: ``forward_features`` (in each layout) pooled into ``self.head``
    through ``self.dropout``."""

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) features -> (B, num_classes) logits."""
        return self.head(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ResNetClassifier(PooledClassifier):
    """Residual CNN: (B, 3, S, S) normalised images -> (B, num_classes) logits."""

    config_class = ResNetConfig

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        stem_width = config.stem_width or config.widths[0]
        stem = [
            nn.Conv2d(
                config.in_channels, stem_width, 3, stride=config.stem_stride, padding=1, bias=False
            ),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        ]
        if config.stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages = []
        in_channels = stem_width
        for index, (width, depth) in enumerate(zip(config.widths, config.depths, strict=True)):
            blocks = []
            for block in range(depth):
                # the first stage keeps the stem's resolution; each later one halves it
                stride = 2 if block == 0 and index > 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, D) pooled features, D = ``config.feature_dim``."""
        x = self.stem(x)  # (B, C0, S/2, S/2), or S/4 with stem_pool
        return pool_stages(self.stages, x, self.config.pool)


class PatchWhitening(nn.Module):
    """A fixed first layer: (B, C, S, S) -> (B, 2 * C * k * k, S, S), then GELU.

    Its filters are the principal directions of the training images' k x k patches, each scaled
    to unit variance, and their negatives (so that GELU keeps both signs); only the bias trains.
    As the first layer of airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single
    GPU"). :meth:`fit` sets the filters; until then they are zero. The right and bottom
    borders are padded by repeating the edge, so the side stays S.
    """

    def __init__(self, in_channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        n = in_channels * side * side
        self.out_channels = 2 * n
        # a buffer, not a parameter: saved with the model, never seen by the optimiser
        self.register_buffer("weight", torch.zeros(2 * n, in_channels, side, side))
        self.bias = nn.Parameter(torch.zeros(2 * n))

    @torch.no_grad()
    def fit(self, batches, eps: float = 1e-2) -> None:
        """Set the filters from ``batches``: an iterable of (B, C, S, S) normalised images."""
        n = self.weight.shape[1] * self.side * self.side
        total = torch.zeros(n, dtype=torch.float64)
        outer = torch.zeros(n, n, dtype=torch.float64)
        count = 0
        for x in batches:
            patches = F.unfold(x.float(), self.side).transpose(1, 2).reshape(-1, n).double().cpu()
            total += patches.sum(dim=0)
            outer += patches.T @ patches
            count += len(patches)
        if count < 2:
            raise ValueError("patch whitening needs at least one image")
        mean = total / count
        covariance = (outer - count * torch.outer(mean, mean)) / (count - 1)
        values, vectors = torch.linalg.eigh(covariance)  # ascending
        filters = vectors.T / torch.sqrt(values.clamp(min=0)[:, None] + eps)  # (n, n)
        filters = filters.reshape(n, *self.weight.shape[1:])
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.side - 1
        x = F.pad(x, (0, pad, 0, pad), mode="replicate")
        return F.gelu(F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype)))


def activation(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.GELU()


class PlainClassifier(PooledClassifier):
    """Plain VGG-style CNN: (B, 3, S, S) normalised images -> (B, num_classes) logits.

    Stage i works at S / 2**i: ``depths[i]`` pairs of 3x3 convolutions (BatchNorm, GELU or
    ReLU), then a 2x2 max-pool (with ``pool_first``, straight after the last convolution).
    No stem and no shortcuts: the first stage's convolutions see every pixel, where
    brushwork and fine structure are.
    """

    config_class = PlainConfig

    def __init__(self, config: PlainConfig) -> None:
        super().__init__()
        self.config = config
        stages = []
        in_channels = config.in_channels
        for width, depth in zip(config.widths, config.depths, strict=True):
            layers: list[nn.Module] = []
            for _ in range(depth):
                inputs = (in_channels, width)
                if config.whiten and not stages and not layers:
                    # in place of the very first convolution, BatchNorm and activation
                    whitening = PatchWhitening(in_channels, config.whiten)
                    layers.append(whitening)
                    inputs = (whitening.out_channels,)
                for n_in in inputs:
                    layers += [*conv_bn(n_in, width), activation(config.activation)]
                in_channels = width
            if config.pool_first:
                # conv, pool, BatchNorm, activation: max-pool commutes with the activation, and
                # with BatchNorm where its scale is positive; the two cheap layers see 1/4
                last_conv, norm, act = layers[-3:]
                layers[-3:] = [last_conv, nn.MaxPool2d(2), norm, act]
            else:
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)
        if config.identity_init:
            with torch.no_grad():
                for module in self.stages.modules():
                    if isinstance(module, nn.Conv2d) and module.out_channels >= module.in_channels:
                        nn.init.dirac_(module.weight[: module.in_channels])

    def fit_whitening(self, batches) -> None:
        """Set the patch-whitening layer's filters from training images (no-op without one)."""
        if self.config.whiten:
            self.stages[0][0].fit(batches)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, D) pooled features, D = ``config.feature_dim``."""
        return pool_stages(self.stages, x, self.config.pool)
