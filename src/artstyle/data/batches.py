"""Batches from a uint8 cache, normalised and augmented on the device, in batch.

The images stay uint8 until a batch is gathered (one ``index_select`` per
batch); conversion, normalisation and augmentation run as a handful of
whole-batch tensor ops on the device, never as per-image Python loops (the
airbench ``CifarLoader`` recipe, Jordan 2024). On a GPU the whole uint8 cache
is copied to device memory when it fits.

    python -c "from artstyle.data.batches import DeviceData; help(DeviceData)"
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

# ImageNet channel statistics (Krizhevsky et al. 2012; the torchvision convention), in 0..1 units.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Luma weights of ITU-R BT.601, used for the grey image in contrast and saturation jitter.
_LUMA = (0.299, 0.587, 0.114)
# Aspect ratios of random resized crops, as in Szegedy et al. 2015 (Inception).
_CROP_RATIO = (3 / 4, 4 / 3)
# Share of free GPU memory the uint8 cache may take; the rest is for the model and activations.
GPU_MEMORY_FRACTION = 0.5
# For accelerators without a free-memory query (e.g. MPS): keep caches up to this size there.
OTHER_DEVICE_MAX_BYTES = 2 * 1024**3


@contextlib.contextmanager
def _one_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """Run the enclosed CPU tensor ops on one intra-op thread.

    These ops are memory-bound, so a second thread buys little on an idle
    machine, while on a busy one every op waits at an OpenMP barrier for a
    descheduled thread: measured on a shared 2-core machine, normalising a
    256-image 64 px batch took 3-11 ms on one thread and 48 ms on two.
    """
    n_threads = torch.get_num_threads()
    if device.type != "cpu" or n_threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


@functools.lru_cache(maxsize=32)
def _colour_constants(
    device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``MEAN``, ``STD`` and the luma weights as tensors on ``device``, made once per device
    and dtype: a tensor built from a Python list is copied from the host, and on a GPU that
    copy waits for the device, a host synchronisation in every batch."""
    with torch.inference_mode(False):  # plain tensors, usable in training as well
        return tuple(
            torch.tensor(values, dtype=dtype, device=device) for values in (MEAN, STD, _LUMA)
        )


@functools.lru_cache(maxsize=32)
def _channel_constants(device: torch.device, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) so that ``x_uint8 * scale + shift == (x / 255 - mean) / std``.

    Each is the three channels' constants repeated ``width`` times: one
    pixel row of a channels-last image, ``(width * 3,)``. Made once per
    device and width (see :func:`_colour_constants`).
    """
    mean, std, _ = _colour_constants(device, torch.float32)
    with torch.inference_mode(False):
        return (1.0 / (255.0 * std)).repeat(width), (-mean / std).repeat(width)


def normalize(x_uint8: torch.Tensor) -> torch.Tensor:
    """``(B, S, S, 3)`` uint8 -> ``(B, 3, S, S)`` float32, standardised with ``MEAN`` / ``STD``.

    The result is laid out channels_last, the cache's own pixel order, so the
    cast is one straight pass and the convolutions get the layout they run
    fastest on without another copy. The arithmetic runs on whole pixel rows
    (B*S rows of S*3 values), which vectorises where a broadcast over a
    trailing axis of 3 does not: on a CPU core this takes a 128-image 64 px
    batch from 6.5 ms (an NCHW cast then a channels_last copy) to 0.8 ms.
    """
    if x_uint8.dtype != torch.uint8 or x_uint8.ndim != 4 or x_uint8.shape[-1] != 3:
        raise ValueError(
            f"normalize expects (B, S, S, 3) uint8, got {tuple(x_uint8.shape)} {x_uint8.dtype}"
        )
    batch, height, width, _ = x_uint8.shape
    scale, shift = _channel_constants(x_uint8.device, width)
    with _one_thread_on_cpu(x_uint8.device):
        out = torch.empty(
            (batch, 3, height, width),
            dtype=torch.float32,
            device=x_uint8.device,
            memory_format=torch.channels_last,
        )
        rows = out.permute(0, 2, 3, 1).view(batch * height, width * 3)  # the same memory
        rows.copy_(x_uint8.contiguous().view(batch * height, width * 3))
        rows.mul_(scale).add_(shift)  # in place; faster on CPU than an addcmul
        return out


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize` up to the uint8 cast: ``(B, 3, S, S)`` float in 0..1."""
    mean, std, _ = _colour_constants(x.device, x.dtype)
    return x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Normalised ``(B, 3, S, S)`` images back to pixels in [0, 1] (:func:`denormalize`, clamped)."""
    return denormalize(x).clamp(0.0, 1.0)


def shared_rand(
    generator: torch.Generator,
    shape: tuple[int, ...],
    device: torch.device,
    share: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """Uniform draws of ``shape`` for this process's rows of a batch split over processes.

    ``share`` is (rank, world size). Rank r's batch holds every world-th sample
    of the global batch, from the r-th (``loop.shard``), so the draws are made
    for the whole global batch from a seed every rank shares and this rank
    keeps rows r, r + world, ...: N processes of batch B then augment each
    sample exactly as one process of batch N x B does.
    """
    rank, world = share
    if not 0 <= rank < world:
        raise ValueError(f"share must be (rank, world size) with 0 <= rank < world, got {share}")
    full = torch.rand((shape[0] * world, *shape[1:]), generator=generator, device=generator.device)
    return full[rank::world].to(device)


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    flip: bool = True,
    crop_scale: tuple[float, float] | None = (0.35, 1.0),
    jitter: float = 0.1,
    share: tuple[int, int] = (0, 1),
    out_size: int | None = None,
    translate: float = 0.0,
) -> torch.Tensor:
    """Random flip, random resized crop and colour jitter of a normalised ``(B, 3, S, S)`` batch.

    All random numbers come from ``generator`` (on any device; they are drawn
    there and moved to ``x``'s device), so a fixed seed gives the same batch
    on CPU and GPU. ``crop_scale`` is the range of the crop's area as a share
    of the image (None: no crop); ``jitter`` the largest relative change of
    brightness, contrast and saturation (0: none); ``share`` this process's
    (rank, world size) when a global batch is split over processes
    (:func:`shared_rand`); ``out_size`` the side of the result (None: S), to
    which each crop (or, without crops, the whole image) is resized;
    ``translate`` (with ``crop_scale`` None) the largest shift of the image, as
    a share of its side, in whole pixels with the border mirrored: the scale of
    the brushwork is kept, where a resized crop zooms. Returns a new tensor,
    laid out channels_last.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"augment expects a (B, 3, S, S) batch, got {tuple(x.shape)}")
    batch = x.shape[0]
    if out_size is not None and out_size < 1:
        raise ValueError(f"out_size must be a positive number of pixels, got {out_size}")
    if batch == 0:
        return x.clone()

    def draw(*shape: int) -> torch.Tensor:
        return shared_rand(generator, shape, x.device, share)

    with _one_thread_on_cpu(x.device):
        flip_sign = torch.ones(batch, device=x.device)
        if flip:
            flip_sign = torch.where(draw(batch) < 0.5, -1.0, 1.0)
        if crop_scale is not None:
            x = _random_resized_crop(x, draw, flip_sign, crop_scale, out_size)
        elif translate > 0:
            x = _random_translate(x, draw, flip_sign, translate, out_size)
        else:
            if flip:
                x = torch.where((flip_sign < 0).view(-1, 1, 1, 1), x.flip(3), x)
            else:
                x = x.clone()
            if out_size is not None and out_size != x.shape[2]:
                x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", antialias=True)
        if jitter > 0:
            x = _colour_jitter(x, 1 + jitter * (2 * draw(batch, 3) - 1))
        # the layout the convolutions run fastest on, converted here on one thread
        return x.contiguous(memory_format=torch.channels_last)


def _random_resized_crop(
    x, draw, flip_sign: torch.Tensor, crop_scale: tuple[float, float], out_size: int | None = None
) -> torch.Tensor:
    """Crop a random box of each image and resize it to ``out_size`` (None: back to S x S), all
    in one ``grid_sample``."""
    low, high = crop_scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}")
    batch = x.shape[0]
    area = low + (high - low) * draw(batch)
    log_low, log_high = math.log(_CROP_RATIO[0]), math.log(_CROP_RATIO[1])
    ratio = torch.exp(log_low + (log_high - log_low) * draw(batch))
    # Width and height as shares of the side; clamped so the box stays inside the image.
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    # Box centre in grid_sample's [-1, 1] coordinates, anywhere that keeps the box inside.
    centre_x = (1 - width) * (2 * draw(batch) - 1)
    centre_y = (1 - height) * (2 * draw(batch) - 1)
    # A negative x scale mirrors the crop: the flip costs nothing.
    out_h, out_w = (out_size, out_size) if out_size else (x.shape[2], x.shape[3])
    grid = _box_grid(width * flip_sign, centre_x, height, centre_y, out_h, out_w)
    grid = grid.to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _random_translate(
    x, draw, flip_sign: torch.Tensor, translate: float, out_size: int | None = None
) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``translate`` of its side each way, the border
    mirrored, and resize it to ``out_size`` (None: keep S x S), all in one ``grid_sample``."""
    if not 0 < translate <= 0.5:
        raise ValueError(f"translate must be in (0, 0.5], got {translate}")
    batch, side = x.shape[0], x.shape[2]
    reach = max(1, round(translate * side))  # pixels each way
    # whole-pixel shifts in -reach..reach, each as likely; in grid units a pixel is 2 / side
    pixels = torch.floor(draw(batch, 2) * (2 * reach + 1)).clamp(max=2 * reach) - reach
    shift = 2 * pixels / side
    out_h, out_w = (out_size, out_size) if out_size else (x.shape[2], x.shape[3])
    ones = torch.ones(batch, device=x.device, dtype=shift.dtype)
    grid = _box_grid(flip_sign, shift[:, 0], ones, shift[:, 1], out_h, out_w).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _box_grid(
    scale_x: torch.Tensor,
    shift_x: torch.Tensor,
    scale_y: torch.Tensor,
    shift_y: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """``grid_sample`` coordinates of an axis-aligned box per image: ``(B, height, width, 2)``.

    The same grid as ``F.affine_grid`` (align_corners=False) with
    theta = [[scale_x, 0, shift_x], [0, scale_y, shift_y]], built from one
    row and one column per image instead of a batched product over every
    pixel: 0.8 ms instead of 1.7 ms for 128 images of 64 px on a CPU core.
    """
    batch = scale_x.shape[0]
    device, dtype = scale_x.device, scale_x.dtype
    xs = (torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1  # pixel centres
    ys = (torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1
    grid = torch.empty(batch, height, width, 2, device=device, dtype=dtype)
    grid[..., 0] = (xs.view(1, width) * scale_x.view(batch, 1) + shift_x.view(batch, 1)).view(
        batch, 1, width
    )
    grid[..., 1] = (ys.view(1, height) * scale_y.view(batch, 1) + shift_y.view(batch, 1)).view(
        batch, height, 1
    )
    return grid


def _colour_jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation of a normalised batch; ``factors`` (B, 3) in that order.

    In 0..1 units with luma weights l: brightness u -> b u; contrast
    u -> c u + (1 - c) m with m the image's mean grey; saturation
    u -> s u + (1 - s) (l . u). Composed, that is one affine colour map per
    image, u -> c b S u + (1 - c) m, with S = s I + (1 - s) 1 l^T (S 1 = 1 as
    the weights sum to 1). Folding the normalisation in, the whole jitter is a
    single batched 3x3 matrix product over the pixels instead of a dozen passes.
    """
    batch = x.shape[0]
    dtype, device = x.dtype, x.device
    mean, std, luma = _colour_constants(device, dtype)
    factors = factors.to(dtype)
    brightness, contrast, saturation = factors[:, 0], factors[:, 1], factors[:, 2]
    eye = torch.eye(3, dtype=dtype, device=device)
    sat = saturation.view(batch, 1, 1) * eye + (1 - saturation).view(batch, 1, 1) * luma.view(
        1, 1, 3
    )
    colour = (contrast * brightness).view(batch, 1, 1) * sat  # (B, 3, 3) in 0..1 units
    channel_means = x.mean(dim=(2, 3)) * std + mean  # (B, 3) per-image means in 0..1 units
    grey_mean = brightness * (channel_means @ luma)  # (B,) mean grey after the brightness change
    offset = (1 - contrast) * grey_mean  # (B,) added to every channel
    # Back to normalised units: x' = D^-1 A D x + D^-1 (A mean + offset - mean), D = diag(std).
    matrix = colour * std.view(1, 1, 3) / std.view(1, 3, 1)
    shift = ((colour @ mean) + offset.view(batch, 1) - mean) / std  # (B, 3)
    flat = x.reshape(batch, 3, -1)  # (B, 3, S, S) -> (B, 3, S*S)
    out = torch.bmm(matrix, flat).add_(shift.unsqueeze(2)).view_as(x)  # faster than baddbmm on CPU
    low = (-mean / std).view(1, 3, 1, 1)
    high = ((1 - mean) / std).view(1, 3, 1, 1)
    # keep colours inside what 0..255 can show (maximum/minimum: clamp with tensor bounds is slower)
    return torch.minimum(torch.maximum(out, low, out=out), high, out=out)


# batches() takes a flag named ``augment``; this name keeps the function reachable there.
_augment_batch = augment


class DeviceData:
    """uint8 images (and labels) ready to be served as normalised batches on ``device``.

    On CUDA the whole uint8 array is copied to the GPU when it takes at most
    ``GPU_MEMORY_FRACTION`` of the free memory; otherwise (and on CPU) it
    stays in host memory, the memory map shared, never copied as floats.

        data = DeviceData(load_split(index, "train", size=64), device=torch.device("cuda"))
        for x, y in data.batches(torch.randperm(len(data), generator=g), 256, augment=True, generator=g):
            ...
    """

    def __init__(
        self,
        source,
        labels: Sequence[int] | np.ndarray | None = None,
        device: torch.device | str | None = None,
        *,
        flip: bool = True,
        crop_scale: tuple[float, float] | None = (0.35, 1.0),
        jitter: float = 0.1,
        out_size: int | None = None,
        translate: float = 0.0,
    ) -> None:
        if isinstance(labels, (str, torch.device)):
            raise TypeError("DeviceData(source, labels, device): pass the device as device=...")
        images = getattr(source, "images", source)
        if labels is None:
            labels = getattr(source, "labels", None)
        if labels is None:
            raise ValueError("DeviceData needs labels: pass a CachedSplit or (images, labels)")
        images = (
            np.asarray(images) if not isinstance(images, (np.ndarray, torch.Tensor)) else images
        )
        if images.dtype not in (np.uint8, torch.uint8) or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"DeviceData expects (N, S, S, 3) uint8 images, got {tuple(images.shape)} {images.dtype}"
            )
        if len(labels) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(labels)} labels")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.augment_options = {
            "flip": flip,
            "crop_scale": crop_scale,
            "jitter": jitter,
            "out_size": out_size,
            "translate": translate,
        }
        host = images if isinstance(images, torch.Tensor) else _tensor_view(images)
        # On CPU "on the device" is the host array itself (a view of the memory map, no copy).
        self.on_device = _fits(host.numel(), self.device)
        self.images = _to_device_in_chunks(host, self.device) if self.on_device else host
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=self.device)
        self._pinned: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def n_batches(self, n_indices: int, batch_size: int, *, drop_last: bool = False) -> int:
        return n_indices // batch_size if drop_last else math.ceil(n_indices / batch_size)

    def batches(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int,
        *,
        augment: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        share: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)``: x ``(B, 3, S, S)`` float32 normalised, y ``(B,)`` int64, on the device.

        x is laid out channels_last (:func:`normalize`, :func:`augment`), the
        layout the models' convolutions run fastest on, on tensor cores and on
        a CPU (docs/benchmarks.md), so no task converts it again.

        ``indices`` is any 1-D integer sequence: a permutation, a resampling
        plan (repeats allowed) or sampler draws; batches follow its order.
        ``share`` (rank, world size): see :func:`shared_rand`.
        """
        if augment and generator is None:
            raise ValueError(
                "augment=True needs an explicit torch.Generator (seeded from the run's seed)"
            )
        for images, y in self.uint8_batches(indices, batch_size, drop_last=drop_last):
            with _one_thread_on_cpu(self.device):
                x = normalize(images)
                if augment:
                    x = _augment_batch(x, generator, share=share, **self.augment_options)
            yield x, y  # outside the one-thread block: the caller's model gets every thread

    def uint8_batches(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int,
        *,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, y)``: the cached ``(B, S, S, 3)`` uint8 rows and their labels, on the device.

        What :meth:`batches` normalises and augments; on its own, the raw read
        of an epoch (the same arrays a fresh decode of the files would give).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if isinstance(indices, torch.Tensor):
            order = indices.detach().to("cpu", torch.int64)
        else:
            order = torch.from_numpy(np.asarray(indices, dtype=np.int64))
        if order.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {tuple(order.shape)}")
        if order.numel() and (int(order.min()) < 0 or int(order.max()) >= len(self)):
            raise IndexError(
                f"indices must lie in 0..{len(self) - 1}, got {int(order.min())}..{int(order.max())}"
            )
        n_total = order.numel() - (order.numel() % batch_size if drop_last else 0)
        device_order = order.to(self.device)
        for start in range(0, n_total, batch_size):
            rows = device_order[start : start + batch_size]
            with _one_thread_on_cpu(self.device):
                images = self._gather(order[start : start + batch_size], rows)
                y = self.labels.index_select(0, rows)
            yield images, y

    def _gather(self, rows_host: torch.Tensor, rows_device: torch.Tensor) -> torch.Tensor:
        """The batch's uint8 images on the device: one index_select (and one copy when on host)."""
        if self.on_device:
            return self.images.index_select(0, rows_device)
        n_rows = rows_host.numel()
        if self._pinned is None or self._pinned.shape[0] < n_rows:
            shape = (n_rows, *self.images.shape[1:])
            pin = self.device.type == "cuda"
            self._pinned = torch.empty(shape, dtype=torch.uint8, pin_memory=pin)
        buffer = self._pinned[:n_rows]
        torch.index_select(self.images, 0, rows_host, out=buffer)
        # A blocking copy: the pinned buffer is reused by the next batch.
        return buffer.to(self.device)


def _tensor_view(images: np.ndarray) -> torch.Tensor:
    """A torch view of a (possibly read-only, memory-mapped) uint8 array, without copying it."""
    with warnings.catch_warnings():
        # The view is only ever read; torch warns because it cannot mark tensors read-only.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(images)


def _fits(n_bytes: int, device: torch.device) -> bool:
    """Whether the whole uint8 array should live on ``device``."""
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return n_bytes <= GPU_MEMORY_FRACTION * free
    return n_bytes <= OTHER_DEVICE_MAX_BYTES


def _to_device_in_chunks(
    host: torch.Tensor, device: torch.device, chunk_bytes: int = 256 * 1024**2
) -> torch.Tensor:
    """Copy to the device piece by piece, so a memory-mapped cache is never read whole into RAM."""
    if host.device == device or device.type == "cpu":
        return host
    out = torch.empty(host.shape, dtype=host.dtype, device=device)
    row_bytes = max(1, host[0].numel()) if host.shape[0] else 1
    step = max(1, chunk_bytes // row_bytes)
    for start in range(0, host.shape[0], step):
        out[start : start + step].copy_(host[start : start + step])
    return out
