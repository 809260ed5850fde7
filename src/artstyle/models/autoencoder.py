"""Convolutional autoencoder: ``encode`` an image to a latent vector, ``decode`` it back.

The encoder halves the resolution once per stage with strided convolutions and
ends in the bottleneck: the ``latent_dim`` vector that ``artstyle embed`` saves
and ``artstyle cluster`` groups. The bottleneck is either a linear layer (one
global code) or a 1x1 convolution to a small grid (e.g. 8x8 cells of 4
channels = 256 values, flattened). On the synthetic demo set at 64 px, after
the same 3 epochs (batch 32, lr 3e-3, 256-d latents), the 8x8 grid (widths
32, 64) reached 22.6 dB held-out PSNR, a 4x4 grid (widths 16, 32, 64) 20.2 dB
and the linear bottleneck (widths 16, 32, 64) 18.7 dB, so the CPU preset
``conv_ae`` uses the 8x8 grid. The decoder
mirrors it with resize-convolutions (nearest or bilinear upsampling followed by
a 3x3 convolution) instead of transposed convolutions, which leave checkerboard
artefacts when the kernel size is not divisible by the stride (Odena, Dumoulin
and Olah 2016, "Deconvolution and Checkerboard Artifacts"). Outputs are pixels
in [0, 1] (a sigmoid), so PSNR and SSIM are read on the usual 8-bit scale.

Also here: a differentiable SSIM (Wang et al. 2004) and PSNR, and the
reconstruction loss (MSE, optional L1 and 1 - SSIM terms).

    artstyle train autoencoder --data DATA --out runs/ae --epochs 10
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AutoencoderArgs:
    """Hyper-parameters of :class:`ConvAutoencoder`; stored in ``model.json``."""

    image_size: int = 64
    latent_dim: int = 256
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    upsample: str = "nearest"  # "nearest" | "bilinear"
    # 2: the first convolution already halves the side and the decoder ends in
    # one upsample + convolution, so no wide feature map is ever computed at
    # full resolution (about 3x cheaper on a CPU at 64 px)
    stem_stride: int = 1
    # "linear": a fully connected layer maps the last feature map to the latent
    # vector; "conv": a 1x1 convolution keeps an s x s grid of latent_dim / s^2
    # channels (flattened into the vector), which keeps the layout local and
    # trains several times faster on small data
    bottleneck: str = "linear"

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        if not self.widths or min(self.widths) < 1:
            raise ValueError(
                f"widths must be a non-empty list of positive channel counts, got {self.widths}"
            )
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")
        factor = self.stem_stride * 2 ** len(self.widths)
        if self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} must be divisible by stem_stride * 2**len(widths) = {factor} "
                f"(one halving per stage); pick a size like {factor * max(1, self.image_size // factor)}"
            )
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {self.upsample!r}")
        if self.bottleneck not in ("linear", "conv"):
            raise ValueError(f"bottleneck must be 'linear' or 'conv', got {self.bottleneck!r}")
        cells = self.bottleneck_size**2
        if self.bottleneck == "conv" and self.latent_dim % cells:
            raise ValueError(
                f"a conv bottleneck keeps a {self.bottleneck_size}x{self.bottleneck_size} grid: latent_dim "
                f"{self.latent_dim} must be a multiple of {cells}"
            )

    @property
    def bottleneck_size(self) -> int:
        return self.image_size // (self.stem_stride * 2 ** len(self.widths))

    @property
    def latent_channels(self) -> int:
        """Channels of the latent grid (conv bottleneck)."""
        return self.latent_dim // self.bottleneck_size**2


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _UpBlock(nn.Module):
    """Resize-convolution: upsample x2, then 3x3 convolutions (Odena et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.conv1 = _conv_block(c_in, c_out)
        self.conv2 = _conv_block(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        align = False if self.mode == "bilinear" else None
        x = F.interpolate(
            x, scale_factor=2, mode=self.mode, align_corners=align
        )  # (B,C,h,w) -> (B,C,2h,2w)
        return self.conv2(self.conv1(x))


class ConvAutoencoder(nn.Module):
    """``encode``: (B, 3, S, S) -> (B, D); ``decode``: (B, D) -> (B, 3, S, S) in [0, 1]."""

    config_class = AutoencoderArgs

    def __init__(self, config: AutoencoderArgs | None = None) -> None:
        super().__init__()
        self.config = args = config or AutoencoderArgs()
        widths = args.widths
        side = args.bottleneck_size
        self.stem = _conv_block(3, widths[0], stride=args.stem_stride)
        stages = []
        c_in = widths[0]
        for width in widths:
            # stride-2 convolution halves the side, a second one mixes at that scale
            stages.append(
                nn.Sequential(_conv_block(c_in, width, stride=2), _conv_block(width, width))
            )
            c_in = width
        self.down = nn.Sequential(*stages)
        if args.bottleneck == "linear":
            self.to_latent = nn.Linear(widths[-1] * side * side, args.latent_dim)
            self.from_latent = nn.Linear(args.latent_dim, widths[-1] * side * side)
        else:
            self.to_latent = nn.Conv2d(widths[-1], args.latent_channels, 1)
            self.from_latent = nn.Conv2d(args.latent_channels, widths[-1], 3, padding=1)
        ups = []
        for c_from, c_to in zip(widths[::-1], [*widths[-2::-1], widths[0]], strict=True):
            ups.append(_UpBlock(c_from, c_to, args.upsample))
        self.up = nn.Sequential(*ups)
        self.to_pixels = nn.Conv2d(widths[0], 3, 3, padding=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(self.stem(x))  # (B, 3, S, S) -> (B, C, s, s), s = S / (stem_stride 2^n)
        if self.config.bottleneck == "linear":
            return self.to_latent(h.flatten(1))  # -> (B, D)
        return self.to_latent(h).flatten(1)  # -> (B, D / s^2, s, s) -> (B, D)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        side = self.config.bottleneck_size
        if self.config.bottleneck == "linear":
            h = self.from_latent(z).view(
                z.shape[0], self.config.widths[-1], side, side
            )  # (B, D) -> (B, C, s, s)
        else:
            h = self.from_latent(
                z.view(z.shape[0], self.config.latent_channels, side, side)
            )  # -> (B, C, s, s)
        h = F.relu(h)
        h = self.up(h)  # -> (B, widths[0], S / stem_stride, S / stem_stride)
        if self.config.stem_stride == 2:
            align = False if self.config.upsample == "bilinear" else None
            h = F.interpolate(
                h, scale_factor=2, mode=self.config.upsample, align_corners=align
            )  # -> S x S
        return torch.sigmoid(self.to_pixels(h))  # -> (B, 3, S, S) in [0, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# ---------------------------------------------------------------- image quality


def _gaussian_window(
    size: int, sigma: float, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """Structural similarity of two image batches (B, C, H, W), differentiable.

    Wang, Bovik, Sheikh and Simoncelli 2004: local means, variances and
    covariance under an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
    K2 = 0.03, averaged over the valid positions and channels. The window
    shrinks (kept odd) for images smaller than 11 pixels. ``reduction="none"``
    gives one value per image.
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"ssim needs two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    x = x.float()
    y = y.float()
    channels = x.shape[1]
    size = min(window_size, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # keep it odd so the window has a centre
    g = _gaussian_window(size, sigma, device=x.device, dtype=x.dtype)
    # separable Gaussian: a row pass then a column pass, one filter per channel
    g_row = g.view(1, 1, 1, size).expand(channels, 1, 1, size)
    g_col = g.view(1, 1, size, 1).expand(channels, 1, size, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            F.conv2d(t, g_row, groups=channels), g_col, groups=channels
        )  # valid positions only

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    per_image = ssim_map.flatten(1).mean(1)  # (B,)
    return per_image.mean() if reduction == "mean" else per_image


def psnr(
    x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(range^2 / MSE), per image then averaged."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)  # (B,)
    per_image = psnr_from_mse(mse, data_range=data_range)
    return per_image.mean() if reduction == "mean" else per_image


def psnr_from_mse(mse: torch.Tensor | float, *, data_range: float = 1.0) -> torch.Tensor:
    """10 log10(range^2 / MSE); a perfect reconstruction is capped at 100 dB instead of inf."""
    mse = torch.as_tensor(mse, dtype=torch.float32)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(data_range**2 * 1e-10))


def reconstruction_loss(
    recon: torch.Tensor, target: torch.Tensor, *, l1_weight: float = 0.0, ssim_weight: float = 0.0
) -> torch.Tensor:
    """MSE + ``l1_weight`` * L1 + ``ssim_weight`` * (1 - SSIM), images in [0, 1].

    The SSIM term rewards local structure that MSE alone blurs away
    (Zhao et al. 2017, "Loss Functions for Image Restoration with Neural Networks").
    """
    loss = F.mse_loss(recon.float(), target.float())
    if l1_weight:
        loss = loss + l1_weight * F.l1_loss(recon.float(), target.float())
    if ssim_weight:
        loss = loss + ssim_weight * (1 - ssim(recon, target))
    return loss


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def compression_ratio(args: AutoencoderArgs) -> float:
    """Input values per latent value (3 S^2 / D)."""
    return 3 * args.image_size**2 / args.latent_dim


__all__ = [
    "AutoencoderArgs",
    "ConvAutoencoder",
    "compression_ratio",
    "count_parameters",
    "psnr",
    "psnr_from_mse",
    "reconstruction_loss",
    "ssim",
]
