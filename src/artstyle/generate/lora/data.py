"""The training images: captioned, style-balanced (or bucketed by aspect ratio), cropped and flipped
reproducibly, batched onto the device; or their cached VAE latents instead of their pixels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from artstyle.errors import ArtstyleError
from artstyle.generate.lora.buckets import Bucket, batch_plan, cover_size, style_repeats
from artstyle.generate.lora.captions import vary_caption

if TYPE_CHECKING:  # pragma: no cover
    from artstyle.generate.lora.latents import LatentCache
    from artstyle.generate.lora.training import LoraTraining

# ---------------------------------------------------------------- images


class CaptionedImages(torch.utils.data.Dataset):
    """Position ``k`` of the sampling plan -> (pixels in [-1, 1] (3, R, R), caption, unreadable files).

    The crop offset and the flip come from a generator seeded with
    ``(seed, k)``, the caption's dropout and tag order from one seeded with
    ``(seed, k, 1)``, so a resumed run sees exactly the images, augmentations
    and captions an uninterrupted one would. An unreadable image is replaced
    by the next readable one of the same style and reported, never fatal.

    With ``buckets`` (one per item, and the items' ``sizes``) an image is
    resized and cropped to its bucket, (3, h, w), and replaced only by one of
    the same bucket (its own style first), so a batch keeps one shape. With
    ``latents`` the sample is the image's cached posterior parameters
    (2C, h/f, w/f) instead of its pixels; the flip is drawn from the same
    generator, so both give the same draws.
    """

    def __init__(
        self,
        items,
        captions: Sequence[str],
        plan: np.ndarray,
        *,
        resolution: int,
        crop: str,
        flip: bool,
        seed: int,
        caption_dropout: float = 0.0,
        shuffle_tags: bool = False,
        keep_tokens: int = 0,
        buckets: list[Bucket | None] | None = None,
        sizes: list[tuple[int, int] | None] | None = None,
        latents: LatentCache | None = None,
    ):
        self.items = list(items)
        self.captions = list(captions)
        self.plan = plan
        self.resolution = resolution
        self.crop = crop
        self.flip = flip
        self.seed = seed
        self.caption_dropout = caption_dropout
        self.shuffle_tags = shuffle_tags
        self.keep_tokens = keep_tokens
        self.buckets = buckets
        self.sizes = sizes
        self.latents = latents
        self.by_style: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            self.by_style.setdefault(item.style, []).append(i)
        self.by_bucket: dict[Bucket, list[int]] = {}
        for i, bucket in enumerate(buckets or []):
            if bucket is not None:
                self.by_bucket.setdefault(bucket, []).append(i)

    def _candidates(self, index: int) -> list[int]:
        """``index``, then what replaces it if unreadable: its style's next images (of its bucket)."""
        style = self.items[index].style
        if self.buckets is None:
            pool = self.by_style[style]
        else:
            same_bucket = self.by_bucket[self.buckets[index]]
            # its own style first; any image of the bucket keeps the batch's shape
            pool = [i for i in same_bucket if self.items[i].style == style]
            pool += [i for i in same_bucket if self.items[i].style != style]
        start = pool.index(index)
        return pool[start:] + pool[:start]

    def _load(self, candidate: int, rng: np.random.Generator) -> torch.Tensor:
        """The pixels (or cached latent parameters) of one draw of item ``candidate``."""
        if self.latents is not None:
            self.latents.require(candidate)  # an image the cache could not encode: ImageError
            # the draw load_pixels makes after decoding, so cached and decoded runs flip alike
            flipped = self.flip and rng.random() < 0.5
            return self.latents.read(candidate, flipped=flipped)
        if self.buckets is not None:
            return bucket_pixels(
                self.items[candidate],
                self.sizes[candidate],
                self.buckets[candidate],
                crop=self.crop,
                flip=self.flip,
                rng=rng,
            )
        return load_pixels(
            self.items[candidate], self.resolution, crop=self.crop, flip=self.flip, rng=rng
        )

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, position: int):
        from artstyle.data.images import ImageError

        rng = np.random.default_rng([self.seed, int(position)])
        index = int(self.plan[position])
        failed: list[str] = []
        for candidate in self._candidates(index):
            try:
                pixels = self._load(candidate, rng)
            except ImageError as exc:
                failed.append(f"{self.items[candidate].rel}: {exc.reason}")
                continue
            # a stream of its own: caption options leave the crops and flips as they were
            caption = vary_caption(
                self.captions[candidate],
                np.random.default_rng([self.seed, int(position), 1]),
                dropout=self.caption_dropout,
                shuffle_tags=self.shuffle_tags,
                keep_tokens=self.keep_tokens,
            )
            return pixels, caption, failed
        raise ArtstyleError(
            f"no image of style {self.items[index].style} can be decoded ({'; '.join(failed[:3])}); "
            "run `artstyle data audit DATA` and fix or remove them"
        )


def load_pixels(
    item,
    resolution: int,
    *,
    crop: str = "center",
    flip: bool = False,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """One training image: short side scaled to ``resolution``, a square crop, maybe mirrored; (3, R, R) in [-1, 1]."""
    from artstyle.data.images import decode_item, decode_item_rgb

    rng = rng if rng is not None else np.random.default_rng(0)
    if crop == "center":
        pixels = (
            torch.from_numpy(decode_item(item, resolution, "crop").copy()).permute(2, 0, 1).float()
        )
    else:
        image = decode_item_rgb(item, draft_size=resolution)
        full = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        height, width = full.shape[-2:]
        scale = resolution / min(height, width)
        size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
        # antialiased bicubic, like the PIL resize the centre-crop path uses
        scaled = F.interpolate(
            full, size=size, mode="bicubic", antialias=True, align_corners=False
        )[0]
        top = int(rng.integers(0, size[0] - resolution + 1))
        left = int(rng.integers(0, size[1] - resolution + 1))
        pixels = scaled[:, top : top + resolution, left : left + resolution].clamp(0, 255)
    if flip and rng.random() < 0.5:
        pixels = pixels.flip(-1)
    return pixels / 127.5 - 1.0


def bucket_pixels(
    item,
    size: tuple[int, int],
    bucket: Bucket,
    *,
    crop: str = "center",
    flip: bool = False,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """One image in its bucket: scaled (down only) to cover it, cropped to it, maybe mirrored; (3, h, w) in [-1, 1].

    ``size`` is the image's (width, height) as scanned (see :mod:`.buckets`, rule 4).
    """
    from artstyle.data.images import decode_item_rgb

    rng = rng if rng is not None else np.random.default_rng(0)
    width, height = cover_size(size, bucket)
    # a JPEG may be decoded at 1/2, 1/4 or 1/8 scale while its short side still covers the target
    image = decode_item_rgb(item, draft_size=min(width, height))
    full = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    if full.shape[-2:] != (height, width):
        # antialiased bicubic, like the PIL resize of the square centre crop
        full = F.interpolate(
            full, size=(height, width), mode="bicubic", antialias=True, align_corners=False
        )
    bucket_width, bucket_height = bucket
    if crop == "center":
        top, left = (height - bucket_height) // 2, (width - bucket_width) // 2
    else:
        top = int(rng.integers(0, height - bucket_height + 1))
        left = int(rng.integers(0, width - bucket_width + 1))
    pixels = full[0, :, top : top + bucket_height, left : left + bucket_width].clamp(0, 255)
    if flip and rng.random() < 0.5:
        pixels = pixels.flip(-1)
    return pixels / 127.5 - 1.0


def _collate(samples):
    pixels = torch.stack([sample[0] for sample in samples])  # (B, 3, R, R)
    captions = [sample[1] for sample in samples]
    failed = [entry for sample in samples for entry in sample[2]]
    return pixels, captions, failed


def training_batches(training: LoraTraining) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(pixels (B, 3, R, R) in [-1, 1], token ids (B, 77)) on the device, from the current step to the last.

    With buckets the pixels are (B, 3, h, w), one bucket per batch; with cached
    latents they are the posterior parameters (B, 2C, h/f, w/f) instead.
    Unreadable images met on the way are added to ``training.unreadable``.
    """
    from artstyle.data.balance import weighted_sampler_indices

    config, fabric = training.config, training.fabric
    world, rank = fabric.world_size, fabric.global_rank
    # micro-batch m of the run goes to rank m % world; these are this rank's from the current step
    micro_batches = [
        (step * config.grad_accum + micro) * world + rank
        for step in range(training.step, config.max_steps)
        for micro in range(config.grad_accum)
    ]
    if training.buckets is not None:
        # epochs of one-bucket batches (see buckets.py); batch m is the m-th of the run
        repeats_of = style_repeats([item.style for item in training.items], config.balance)
        plan, batches = batch_plan(
            training.buckets,
            [repeats_of[item.style] for item in training.items],
            n_batches=config.max_steps * config.grad_accum * world,
            batch_size=config.batch_size,
            seed=config.seed,
        )
        sampling: dict = {"batch_sampler": [batches[m] for m in micro_batches]}
    else:
        # Style-balanced draw: with "inverse" every style is equally likely. numpy's weighted
        # choice is prefix-stable, so raising max_steps on resume keeps the earlier steps' images.
        labels = np.asarray([training.classes.index(item.style) for item in training.items])
        plan = weighted_sampler_indices(
            labels,
            config.max_steps * training.images_per_step,
            seed=config.seed,
            method=config.balance,
        )
        # Sample k of micro-batch m is at plan position (m * batch + k).
        sampling = {
            "batch_size": config.batch_size,
            "sampler": [
                m * config.batch_size + k for m in micro_batches for k in range(config.batch_size)
            ],
        }
    dataset = CaptionedImages(
        training.items,
        training.captions,
        plan,
        resolution=config.resolution,
        crop=config.crop,
        flip=config.flip,
        seed=config.seed,
        caption_dropout=config.caption_dropout,
        shuffle_tags=config.shuffle_tags,
        keep_tokens=config.keep_tokens,
        buckets=training.buckets,
        sizes=training.sizes,
        latents=training.latents,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        **sampling,
        num_workers=config.loader_workers,
        collate_fn=_collate,
        # its own generator: creating the iterator must not draw from the global RNG the steps reseed
        generator=torch.Generator().manual_seed(config.seed),
    )
    tokenizer = training.models["tokenizer"]
    for pixels, texts, failed in loader:
        training.unreadable.extend(entry for entry in failed if entry not in training.unreadable)
        # one call per micro-batch: with shuffled tags or dropout nearly every draw is a new text
        input_ids = tokenizer(
            list(texts),
            padding="max_length",
            max_length=tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids  # (B, 77)
        pixels = pixels.to(fabric.device)
        if training.latents is not None and training.latents.channels_last.get(len(pixels)):
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        yield pixels, input_ids.to(fabric.device)
