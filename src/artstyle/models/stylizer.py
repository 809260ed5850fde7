"""Style-conditioned autoencoder: a content encoder plus one learned embedding per style.

The encoder keeps a spatial map of the image (its composition). The decoder
brings the style in at every scale: each block scales and shifts its feature
channels with values predicted from the style embedding, so the style input
reaches the decoder at several resolutions, not only once at the bottleneck.
Two kinds of modulation (``modulation``):

* ``"adain"``: instance-normalise, then scale and shift (adaptive instance
  normalisation, Huang & Belongie 2017). The encoder instance-normalises too,
  which removes per-channel feature statistics, where much of an image's
  "style" lives (Ulyanov et al. 2016) -- and also its overall colours, which
  a per-style (not per-image) embedding cannot give back;
* ``"film"``: scale and shift the features as they are (feature-wise linear
  modulation, Perez et al. 2018), without normalisation in the encoder or
  decoder, so each image's own colours and contrast pass through and the style
  moves them.

With ``input_skip`` (the default) the decoder paints a change onto the input
instead of the whole picture: at initialisation every style returns the input,
and training teaches each style what to change. Images go in normalised by
:func:`artstyle.data.batches.normalize` and come out as pixels in [0, 1] (a
sigmoid), like the autoencoder's, so SSIM and PSNR read on the usual 8-bit
scale. The model holds no data, optimiser or file I/O.

    model = Stylizer(StylizerArgs(n_styles=27))
    out = model(images, styles)              # (B, 3, S, S), (B,) -> (B, 3, S, S)
    mix = model.stylize_with(images, model.style_vectors(styles))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from artstyle.data.batches import MEAN, STD

_EDGE = 1.0 / 255.0  # pixels are kept this far inside (0, 1) so that their logits stay finite


@dataclass
class StylizerArgs:
    """Hyper-parameters of :class:`Stylizer`; stored in model.json to rebuild it."""

    n_styles: int = 27
    style_dim: int = 64
    width: int = 32  # channels at full resolution; doubled at each downsampling
    n_down: int = 2  # content map is S / 2**n_down on a side
    n_res: int = 2  # style-modulated residual blocks at the content resolution
    modulation: str = "film"  # "film" | "adain"
    input_skip: bool = True  # decode a change to the input image instead of the whole image

    def __post_init__(self) -> None:
        for name in ("n_styles", "style_dim", "width", "n_down"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_res < 0:
            raise ValueError(f"n_res must be 0 or more, got {self.n_res}")
        if self.modulation not in ("film", "adain"):
            raise ValueError(f"modulation must be 'film' or 'adain', got {self.modulation!r}")


class AdaptiveNorm(nn.Module):
    """Per-channel scale and shift from the style vector, after instance norm (AdaIN) or on the raw features (FiLM)."""

    def __init__(self, channels: int, style_dim: int, modulation: str = "film") -> None:
        super().__init__()
        self.norm = (
            nn.InstanceNorm2d(channels, affine=False) if modulation == "adain" else nn.Identity()
        )
        self.to_scale_shift = nn.Linear(style_dim, 2 * channels)
        # Start at scale 1, shift 0 so training begins from a plain autoencoder
        # and the style moves it from there.
        nn.init.zeros_(self.to_scale_shift.weight)
        nn.init.zeros_(self.to_scale_shift.bias)

    def forward(self, h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = self.to_scale_shift(style).chunk(2, dim=1)  # (B, D) -> 2 x (B, C)
        return self.norm(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


# Every convolution pads by reflection: zero padding lets the decoder paint a frame
# around the picture, which the critic and the Gram statistics then reward.


class ModulatedResBlock(nn.Module):
    """conv-AdaIN-act-conv-AdaIN with an identity path."""

    def __init__(self, channels: int, style_dim: int, modulation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm1 = AdaptiveNorm(channels, style_dim, modulation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm2 = AdaptiveNorm(channels, style_dim, modulation)

    def forward(self, h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        r = F.relu(self.norm1(self.conv1(h), style))
        r = self.norm2(self.conv2(r), style)
        return h + r


class ModulatedUp(nn.Module):
    """Upsample by 2 then convolve (resize-convolution avoids checkerboards, Odena et al. 2016), then AdaIN."""

    def __init__(self, c_in: int, c_out: int, style_dim: int, modulation: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect")
        self.norm = AdaptiveNorm(c_out, style_dim, modulation)

    def forward(self, h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # (B, C, h, w) -> (B, C, 2h, 2w)
        return F.relu(self.norm(self.conv(h), style))


def _conv_block(c_in: int, c_out: int, stride: int, normalize: bool) -> nn.Sequential:
    norm = nn.InstanceNorm2d(c_out, affine=True) if normalize else nn.Identity()
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, padding_mode="reflect"),
        norm,
        nn.ReLU(inplace=True),
    )


class Stylizer(nn.Module):
    """Content encoder + ``nn.Embedding`` of styles + a decoder modulated by the style at every scale."""

    config_class = StylizerArgs

    def __init__(self, config: StylizerArgs) -> None:
        super().__init__()
        self.config = args = config
        c = args.width
        self.styles = nn.Embedding(args.n_styles, args.style_dim)
        nn.init.normal_(self.styles.weight, std=1.0)
        # A small MLP turns the table entry into the vector every AdaIN layer reads.
        self.style_mlp = nn.Sequential(
            nn.Linear(args.style_dim, args.style_dim),
            nn.ReLU(inplace=True),
            nn.Linear(args.style_dim, args.style_dim),
        )

        normalize = args.modulation == "adain"
        encoder = [_conv_block(3, c, 1, normalize)]
        channels = c
        for _ in range(args.n_down):
            encoder.append(_conv_block(channels, channels * 2, 2, normalize))
            channels *= 2
        self.encoder = nn.Sequential(*encoder)

        self.res_blocks = nn.ModuleList(
            ModulatedResBlock(channels, args.style_dim, args.modulation) for _ in range(args.n_res)
        )
        ups = []
        for _ in range(args.n_down):
            ups.append(ModulatedUp(channels, channels // 2, args.style_dim, args.modulation))
            channels //= 2
        self.ups = nn.ModuleList(ups)
        self.to_rgb = nn.Conv2d(channels, 3, 3, padding=1, padding_mode="reflect")
        if args.input_skip:
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)
        # the normalisation constants of artstyle.data.batches, to read the input as pixels
        self.register_buffer("_mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.to_rgb:
                # He initialisation keeps the signal's scale through ReLU layers without
                # normalisation (He et al. 2015); PyTorch's default shrinks it a little per layer.
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def n_styles(self) -> int:
        return self.config.n_styles

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> content map (B, width * 2**n_down, S / 2**n_down, S / 2**n_down)."""
        if x.shape[-1] % (2**self.config.n_down) or x.shape[-2] % (2**self.config.n_down):
            raise ValueError(
                f"image side must be a multiple of {2**self.config.n_down}, got {tuple(x.shape[-2:])}"
            )
        return self.encoder(x)

    def style_vectors(self, styles: torch.Tensor) -> torch.Tensor:
        """Style indices (B,) -> embedding table rows (B, style_dim)."""
        return self.styles(styles)

    def decode(
        self, content: torch.Tensor, style_vectors: torch.Tensor, image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Content map + (B, style_dim) embedding rows -> pixels (B, 3, S, S) in [0, 1].

        ``image`` is the normalised input the content came from; a stylizer
        with ``input_skip`` needs it.
        """
        s = self.style_mlp(style_vectors)  # (B, D) -> (B, D)
        h = content
        for block in self.res_blocks:
            h = block(h, s)
        for up in self.ups:
            h = up(h, s)
        delta = self.to_rgb(h)  # (B, C, S, S) -> (B, 3, S, S) logits
        if self.config.input_skip:
            if image is None:
                raise ValueError(
                    "this stylizer decodes a change to its input: pass image= to decode"
                )
            # The decoder paints a change on top of the input (in logit space, so that the
            # output stays in [0, 1]); at initialisation the change is zero and the output is
            # the input, like the identity start of residual networks (He et al. 2016).
            pixels = (image * self._std + self._mean).clamp(
                _EDGE, 1 - _EDGE
            )  # normalised -> [0, 1]
            delta = delta + torch.logit(pixels)
        return torch.sigmoid(delta)

    def stylize_with(self, x: torch.Tensor, style_vectors: torch.Tensor) -> torch.Tensor:
        """Decode ``x`` with arbitrary style vectors (e.g. a blend of two table rows)."""
        return self.decode(self.encode(x), style_vectors, image=x)

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, S, S) and style indices -> pixels in [0, 1].

        ``styles`` (B,) gives (B, 3, S, S); ``styles`` (B, K) decodes each
        image's content once per column and gives (B, K, 3, S, S), so training
        can ask for the own style and another one in a single forward call
        (which is what DDP synchronises).
        """
        content = self.encode(x)
        if styles.dim() == 1:
            return self.decode(content, self.style_vectors(styles), image=x)
        b, k = styles.shape
        content = content.repeat_interleave(k, dim=0)  # (B, C, h, w) -> (B*K, C, h, w), image-major
        image = x.repeat_interleave(k, dim=0)
        out = self.decode(
            content, self.style_vectors(styles.reshape(b * k)), image=image
        )  # (B*K, 3, S, S)
        return out.view(b, k, *out.shape[1:])  # -> (B, K, 3, S, S)


# ---------------------------------------------------------------- style statistics


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of a feature map: (B, C, H, W) -> (B, C, C), divided by H*W.

    Gram matrices of CNN features summarise texture while discarding where
    things are (Gatys et al. 2016, "Image Style Transfer Using CNNs").
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)  # (B, C, H, W) -> (B, C, HW)
    return flat @ flat.transpose(1, 2) / (h * w)


class RandomFeatures(nn.Module):
    """A fixed, randomly initialised conv net whose Gram matrices serve as texture statistics.

    Random-weight networks already give usable texture statistics
    (Ustyuzhaninov et al. 2017, "What does it take to generate natural
    textures?"), so style loss works without any trained network. The weights
    come from ``seed`` and never train.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        layers = []
        c_in = 3
        for i, c_out in enumerate(widths):
            conv = nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1)
            # He-normal weights keep activations at a similar scale through the layers.
            with torch.no_grad():
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=generator) * (2.0 / (c_in * 9)) ** 0.5
                )
                conv.bias.zero_()
            layers.append(conv)
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) -> one feature map per layer."""
        out = []
        h = x
        for conv in self.layers:
            h = F.relu(conv(h))
            out.append(h)
        return out
