"""Cached latents: each training image (in its bucket, and mirrored when flips are on) goes through the VAE once.

What is stored is the VAE posterior's parameters, mean and log-variance
(``latent_dist.parameters``, 2C channels), not one latent: every training
step then draws ``mean + std * noise`` from the same global generator the
uncached path's ``latent_dist.sample()`` uses, so a run with the cache has the
loss curve of a run without it (same seed; they differ only by the float
rounding of encoding a chunk of images instead of a batch). kohya-ss
sd-scripts caches one ``latent_dist.sample()`` per image instead
(``SdSdxlLatentsCachingStrategy.cache_batch_latents``, library/strategy_sd.py),
which freezes that sample for the whole run and changes the numbers.

Like kohya's (``cache_latents`` refuses ``random_crop``, library/train_util.py),
the cache needs the centre crop: a random crop would need a new encoding at
every draw. The cache lives beside the image cache
(``$ARTSTYLE_CACHE/<data>-<hash>/lora-latents-<key>/``): one ``WxH.npy`` array
(images, flips, 2C, h/f, w/f) per bucket and an ``index.json`` written last.
The key covers the file list (names, sizes, mtimes), the resolution, the
bucket rule, the flips, the dtype the VAE runs in and the base model (its
folder, a hash of ``vae/config.json`` and its weight files' sizes and mtimes),
so a changed image or model builds a new cache. Writes are atomic.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artstyle.generate.lora.buckets import RULE, Bucket

FORMAT_VERSION = 2
ENCODE_BATCH = 8  # images per VAE call while caching


def latent_cache_key(
    items,
    *,
    base: Path,
    resolution: int,
    buckets: bool,
    flip: bool,
    dtype: torch.dtype,
    variant: str | None,
) -> str:
    """What a latent cache must match to be reused (see the module's docstring)."""
    vae = Path(base) / "vae"
    config_hash = hashlib.sha256((vae / "config.json").read_bytes()).hexdigest()
    weights = sorted(
        f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
        for path in vae.iterdir()
        if path.suffix in (".safetensors", ".bin")
    )
    files = [f"{it.split}/{it.rel}:{it.row}:{it.n_bytes}:{it.mtime_ns}" for it in items]
    text = "|".join(
        [
            f"v{FORMAT_VERSION}",
            str(Path(base).expanduser().resolve()),
            config_hash,
            ",".join(weights),
            str(variant),
            str(resolution),
            f"buckets={buckets}:{RULE}",
            f"flip={flip}",
            str(dtype),
            hashlib.sha256("\n".join(files).encode(errors="surrogateescape")).hexdigest(),
        ]
    )
    return hashlib.sha256(text.encode(errors="surrogateescape")).hexdigest()[:20]


def _shape_name(shape: Bucket) -> str:
    return f"{shape[0]}x{shape[1]}"


@dataclass
class LatentCache:
    """One run's cached posterior parameters, read row by row from memory-mapped arrays."""

    folder: Path
    rows: dict[int, tuple[str, int]]  # item index -> (array name, row)
    failed: dict[int, str]  # item index -> why it could not be encoded
    rels: list[str]
    # batch size -> whether the VAE returns such a batch channels-last (see probe_layouts)
    channels_last: dict[int, bool] = field(default_factory=dict)
    built: bool = False  # True when this run encoded the images
    seconds: float = 0.0
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # a loader worker started by spawn opens its own memory maps
        return {**self.__dict__, "_arrays": {}}

    def require(self, index: int) -> None:
        """Raise :class:`ImageError` for an item that has no latents (it was unreadable)."""
        from artstyle.data.images import ImageError

        if index in self.failed:
            raise ImageError(self.failed[index], path=self.rels[index])

    def read(self, index: int, *, flipped: bool) -> torch.Tensor:
        """Item ``index``'s parameters (2C, h/f, w/f), float32, mirrored or not."""
        name, row = self.rows[index]
        if name not in self._arrays:
            self._arrays[name] = np.load(self.folder / f"{name}.npy", mmap_mode="r")
        return torch.from_numpy(np.array(self._arrays[name][row, int(flipped)]))


def open_or_build(
    items,
    shapes: list[Bucket | None],
    sizes: list[tuple[int, int] | None] | None,
    *,
    folder: Path,
    vae,
    dtype: torch.dtype,
    device: torch.device,
    resolution: int,
    flip: bool,
    build: bool = True,
    progress: bool = False,
) -> LatentCache:
    """The cache in ``folder``: opened when its index is there, else (with ``build``) encoded now.

    ``shapes`` gives each item's (width, height) to encode at (None: skipped,
    e.g. too small for a bucket); ``sizes`` their scanned sizes in bucket mode
    (None: the square centre crop of ``resolution``).
    """
    from artstyle.io import read_json

    index_path = folder / "index.json"
    began = time.perf_counter()
    built = False
    if not index_path.is_file():
        if not build:
            from artstyle.errors import ArtstyleError

            raise ArtstyleError(f"latent cache {folder} was not written; run again to build it")
        _build(items, shapes, sizes, folder, vae, dtype, device, resolution, flip, progress)
        built = True
    index = read_json(index_path)
    # split/rel: the same file name may sit in train and test (--images all)
    position = {_key(item): i for i, item in enumerate(items)}
    rows = {position[rel]: (name, row) for rel, (name, row) in index["rows"].items()}
    failed = {position[rel]: reason for rel, reason in index["failed"].items()}
    return LatentCache(
        folder=folder,
        rows=rows,
        failed=failed,
        rels=[item.rel for item in items],
        built=built,
        seconds=time.perf_counter() - began,
    )


def _key(item) -> str:
    """An image's name in the cache's index: its split and its path under the split root."""
    return f"{item.split}/{item.rel}"


def _pixels(item, shape: Bucket, size: tuple[int, int] | None, resolution: int) -> torch.Tensor:
    """The centre-cropped, unflipped pixels the uncached path would load for ``item`` (3, h, w)."""
    from artstyle.generate.lora.data import bucket_pixels, load_pixels

    if size is None:
        return load_pixels(item, resolution, crop="center", flip=False)
    return bucket_pixels(item, size, shape, crop="center", flip=False)


def _build(
    items,
    shapes: list[Bucket | None],
    sizes: list[tuple[int, int] | None] | None,
    folder: Path,
    vae,
    dtype: torch.dtype,
    device: torch.device,
    resolution: int,
    flip: bool,
    progress: bool,
) -> None:
    """Encode every (item, flip) once and write the arrays, then index.json (atomically)."""
    from artstyle.data.images import ImageError
    from artstyle.io import atomic_path, write_json
    from artstyle.progress import Progress

    folder.mkdir(parents=True, exist_ok=True)
    channels = 2 * vae.config.latent_channels  # mean and log-variance
    factor = 2 ** (len(vae.config.block_out_channels) - 1)  # the VAE's downsampling
    n_flips = 2 if flip else 1
    groups: dict[Bucket, list[int]] = {}
    for index, shape in enumerate(shapes):
        if shape is not None:
            groups.setdefault(shape, []).append(index)
    rows: dict[str, tuple[str, int]] = {}
    failed: dict[str, str] = {}
    n_items = sum(len(group) for group in groups.values())
    with Progress(progress) as bar, torch.no_grad():
        bar.start("latents", n_items)
        for shape in sorted(groups):
            group, name = groups[shape], _shape_name(shape)
            width, height = shape
            with atomic_path(folder / f"{name}.npy") as tmp:
                array = np.lib.format.open_memmap(
                    tmp,
                    mode="w+",
                    dtype=np.float32,
                    shape=(len(group), n_flips, channels, height // factor, width // factor),
                )
                for start in range(0, len(group), ENCODE_BATCH):
                    chunk, pixels = [], []
                    for row in range(start, min(start + ENCODE_BATCH, len(group))):
                        item = items[group[row]]
                        size = sizes[group[row]] if sizes is not None else None
                        try:
                            pixels.append(_pixels(item, shape, size, resolution))
                        except ImageError as exc:
                            failed[_key(item)] = exc.reason
                            continue
                        chunk.append(row)
                        rows[_key(item)] = (name, row)
                    if chunk:
                        batch = torch.stack(pixels)  # (n, 3, h, w) in [-1, 1]
                        for flipped in range(n_flips):
                            view = batch.flip(-1) if flipped else batch
                            parameters = vae.encode(view.to(device, dtype)).latent_dist.parameters
                            # (n, 2C, h/f, w/f); bf16/fp16 -> float32 keeps every value exactly
                            array[chunk, flipped] = parameters.float().cpu().numpy()
                    bar.advance(min(ENCODE_BATCH, len(group) - start))
                array.flush()
                del array
    write_json(
        folder / "index.json",
        {
            "format": FORMAT_VERSION,
            "resolution": resolution,
            "flips": n_flips,
            "encoded_dtype": str(dtype),
            "rows": rows,
            "failed": failed,
        },
    )


def probe_layouts(
    vae, *, dtype: torch.dtype, device: torch.device, batch_size: int
) -> dict[int, bool]:
    """Batch size (1 .. ``batch_size``) -> whether the VAE returns that batch in channels-last layout.

    torch.randn_like draws a tensor's noise in its memory order, so the noise
    of a batch of cached latents equals the uncached path's only in the layout
    the VAE would have returned; that depends on the backend (oneDNN on a CPU
    returns batches of two or more channels-last), so it is asked, with one
    smallest image (64 px) per batch size, before the encoder is freed.
    """
    layouts = {}
    with torch.no_grad():
        for n in range(1, batch_size + 1):
            probe = torch.zeros(n, 3, 64, 64, device=device, dtype=dtype)
            parameters = vae.encode(probe).latent_dist.parameters
            layouts[n] = not parameters.is_contiguous() and parameters.is_contiguous(
                memory_format=torch.channels_last
            )
    return layouts


def cache_folder(root: Path, key: str) -> Path:
    """``lora-latents-<key>`` inside the data set's image cache folder."""
    from artstyle.data.cache import default_cache_dir

    return default_cache_dir(root) / f"lora-latents-{key}"


def drop_encoder(vae) -> None:
    """Free the VAE's encoder: with cached latents only its decoder (validation images) is used."""
    vae.encoder = None
    vae.quant_conv = None
