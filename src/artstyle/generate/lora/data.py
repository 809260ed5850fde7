"""The training images: captioned, style-balanced, cropped and flipped reproducibly, batched onto the device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from artstyle.errors import ArtstyleError
from artstyle.generate.lora.captions import vary_caption

if TYPE_CHECKING:  # pragma: no cover
    from artstyle.generate.lora.training import LoraTraining

# ---------------------------------------------------------------- images


class CaptionedImages(torch.utils.data.Dataset):
    """Position ``k`` of the sampling plan -> (pixels in [-1, 1] (3, R, R), caption, unreadable files).

    The crop offset and the flip come from a generator seeded with
    ``(seed, k)``, the caption's dropout and tag order from one seeded with
    ``(seed, k, 1)``, so a resumed run sees exactly the images, augmentations
    and captions an uninterrupted one would. An unreadable image is replaced
    by the next readable one of the same style and reported, never fatal.
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
        self.by_style: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            self.by_style.setdefault(item.style, []).append(i)

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, position: int):
        from artstyle.data.images import ImageError

        rng = np.random.default_rng([self.seed, int(position)])
        index = int(self.plan[position])
        same_style = self.by_style[self.items[index].style]
        start = same_style.index(index)
        failed: list[str] = []
        for candidate in same_style[start:] + same_style[:start]:
            try:
                pixels = load_pixels(
                    self.items[candidate], self.resolution, crop=self.crop, flip=self.flip, rng=rng
                )
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


def _collate(samples):
    pixels = torch.stack([sample[0] for sample in samples])  # (B, 3, R, R)
    captions = [sample[1] for sample in samples]
    failed = [entry for sample in samples for entry in sample[2]]
    return pixels, captions, failed


def training_batches(training: LoraTraining) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(pixels (B, 3, R, R) in [-1, 1], token ids (B, 77)) on the device, from the current step to the last.

    Unreadable images met on the way are added to ``training.unreadable``.
    """
    from artstyle.data.balance import weighted_sampler_indices

    config, fabric = training.config, training.fabric
    world, rank = fabric.world_size, fabric.global_rank
    # Style-balanced draw: with "inverse" every style is equally likely. numpy's weighted
    # choice is prefix-stable, so raising max_steps on resume keeps the earlier steps' images.
    labels = np.asarray([training.classes.index(item.style) for item in training.items])
    plan = weighted_sampler_indices(
        labels, config.max_steps * training.images_per_step, seed=config.seed, method=config.balance
    )
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
    )
    # Sample k of micro-batch m goes to rank r at plan position ((m * world + r) * batch + k).
    positions = [
        ((step * config.grad_accum + micro) * world + rank) * config.batch_size + k
        for step in range(training.step, config.max_steps)
        for micro in range(config.grad_accum)
        for k in range(config.batch_size)
    ]
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=positions,
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
        yield pixels.to(fabric.device), input_ids.to(fabric.device)
