"""Aspect-ratio buckets: paintings trained at about the target area in their own shape, not cropped square.

The bucket list follows kohya-ss sd-scripts (``make_bucket_resolutions`` in
``library/model_util.py`` and ``BucketManager.select_bucket`` in
``library/train_util.py``, https://github.com/kohya-ss/sd-scripts): every
bucket is a (width, height) in 64-px steps holding at most R x R pixels. The
rules here:

1. **Buckets** for resolution R (a multiple of 64): R x R, and for each width
   w from max(64, R/2) to 2R in 64-px steps the largest height h (a multiple
   of 64, also within R/2..2R) with w x h <= R x R, with its transpose.
2. **Choice**: an image of W x H goes to the bucket whose aspect ratio is
   nearest its own, measured as |log(w/h) - log(W/H)| so that 2:1 and 1:2 are
   equally far from square (kohya compares w/h linearly); a tie goes to the
   first bucket in sorted order.
3. **Never upscale**: if the image cannot cover that bucket (W < w or H < h
   after scaling to cover it would need a factor > 1), the bucket shrinks by
   the factor the image lacks, min(W/w, H/h), each side rounded down to 64 px
   (at least 64): the same shape, smaller, as kohya's ``bucket_no_upscale``
   rounds an image's own size down to the step. An image under 64 px on a side
   fits no bucket and is skipped (reported like an unreadable one).
4. **Resize and crop**: the image is scaled by max(w/W, h/H) <= 1 so that it
   covers the bucket, then cropped to it (centred, or at a seeded random place
   with ``--crop random``).

A batch holds images of one bucket. An epoch shows every image ``repeats``
times (once with ``--balance none``), each bucket's images shuffled and cut
into batches (the last, partial batch of a bucket is kept), and the batches
of all buckets shuffled together, all from generators seeded with
(seed, epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STEP = 64  # the bucket grid: SD's VAE divides by 8 and its UNet by 8 again
RULE = "v1"  # bumped whenever the rules above change: part of the latent cache's key

Bucket = tuple[int, int]  # (width, height) in pixels


def bucket_resolutions(resolution: int) -> list[Bucket]:
    """The (width, height) buckets of about ``resolution`` x ``resolution`` pixels (rule 1), sorted."""
    area = resolution * resolution
    low = max(STEP, resolution // 2 // STEP * STEP)
    high = 2 * resolution
    buckets = {(resolution, resolution)}
    for width in range(low, high + 1, STEP):
        height = min(high, area // width // STEP * STEP)
        if height >= low:
            buckets.update({(width, height), (height, width)})
    return sorted(buckets)


def choose_bucket(size: tuple[int, int], buckets: Sequence[Bucket]) -> Bucket | None:
    """The bucket of an image of ``size`` (width, height): rules 2 and 3; None under 64 px a side."""
    width, height = size
    if width < STEP or height < STEP:
        return None
    aspect = math.log(width / height)
    best = min(buckets, key=lambda bucket: abs(math.log(bucket[0] / bucket[1]) - aspect))
    shortfall = min(width / best[0], height / best[1])
    if shortfall >= 1.0:
        return best
    # the same shape, smaller: rounding down keeps it inside the image, so nothing is upscaled
    return (
        max(STEP, int(best[0] * shortfall) // STEP * STEP),
        max(STEP, int(best[1] * shortfall) // STEP * STEP),
    )


def cover_size(size: tuple[int, int], bucket: Bucket) -> tuple[int, int]:
    """(width, height) the image is resized to before its crop: covering ``bucket``, never larger than ``size``."""
    width, height = size
    scale = min(1.0, max(bucket[0] / width, bucket[1] / height))
    return (
        min(width, max(bucket[0], round(width * scale))),
        min(height, max(bucket[1], round(height * scale))),
    )


def style_repeats(styles: Sequence[str], method: str) -> dict[str, int]:
    """How often each style's images appear per epoch: the balance weights as whole repeats.

    kohya balances folders with repeat counts (``10_Rococo``); here the count is
    round(w_s / min w) of the ``--balance`` weight w_s of each style, so with
    ``inverse`` a style of 15 images next to one of 2269 repeats 151 times, and
    with ``none`` every image appears once.
    """
    from artstyle.data.balance import class_weights

    names = sorted(set(styles))
    counts = np.array([sum(1 for style in styles if style == name) for name in names])
    weights = class_weights(counts, method)
    return {name: max(1, round(w / weights.min())) for name, w in zip(names, weights, strict=True)}


def epoch_batches(
    buckets: Sequence[Bucket | None],
    repeats: Sequence[int],
    *,
    batch_size: int,
    seed: int,
    epoch: int,
) -> list[list[int]]:
    """One epoch's batches of item indices: each item ``repeats[i]`` times, one bucket per batch.

    Items whose bucket is None (unreadable, too small) are left out.
    """
    rng = np.random.default_rng([seed, epoch])
    by_bucket: dict[Bucket, list[int]] = {}
    for index, bucket in enumerate(buckets):
        if bucket is not None:
            by_bucket.setdefault(bucket, []).extend([index] * repeats[index])
    batches: list[list[int]] = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        order = [members[i] for i in rng.permutation(len(members))]
        batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_plan(
    buckets: Sequence[Bucket | None],
    repeats: Sequence[int],
    *,
    n_batches: int,
    batch_size: int,
    seed: int,
) -> tuple[np.ndarray, list[list[int]]]:
    """(plan, batches): the first ``n_batches`` batches of the run, epoch after epoch.

    ``plan`` lists item indices in draw order; each batch lists positions in
    ``plan``. Epoch ``e`` depends on (seed, e) only, so a longer run starts
    with the batches of a shorter one (what ``--resume --max-steps`` needs).
    """
    plan: list[int] = []
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < n_batches:
        epoch_items = epoch_batches(buckets, repeats, batch_size=batch_size, seed=seed, epoch=epoch)
        if not epoch_items:
            break
        for items in epoch_items[: n_batches - len(batches)]:
            batches.append(list(range(len(plan), len(plan) + len(items))))
            plan.extend(items)
        epoch += 1
    return np.asarray(plan, dtype=np.int64), batches
