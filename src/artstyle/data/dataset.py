"""A task's arrays: the decoded splits of a data folder, the validation carve, leakage rows.

data = load_classifier_data(config)           # scan -> caches -> train/val/test rows
data.stage_labels("val")                      # labels of the validation carve
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artstyle.config import ClassifierConfig
from artstyle.errors import ArtstyleError

if TYPE_CHECKING:
    from artstyle.data.cache import CacheOptions


@dataclass
class ArraySplit:
    """Images already in memory: uint8 (N, S, S, 3) and int64 labels (what a cache split also offers)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ClassifierData:
    """Decoded images and which rows belong to each stage.

    ``arrays["train"]`` holds the whole training split; ``indices["train"]``
    and ``indices["val"]`` are its stratified parts. ``arrays["test"]`` and
    ``indices["test"]`` are the test split when there is one.
    """

    classes: list[str]
    arrays: dict[str, Any]
    indices: dict[str, np.ndarray]
    train_counts: np.ndarray  # images per style in the whole training split
    root: Path | None = None
    failed: list[Any] = field(default_factory=list)
    # what a person should know about the data before reading the scores: unreadable files
    # skipped, styles absent from test, a held-out test split (see :func:`data_notes`)
    notes: list[str] = field(default_factory=list)
    held_out: float | None = None  # the test share held out when the data had no test split
    # a hash of the training files (names, sizes, times): tells data sets of one path apart
    fingerprint: str | None = None
    # the scanned collection the arrays were decoded from (None: arrays built in memory)
    index: Any = None

    def items(self, split: str) -> list[Any] | None:
        """The scanned items (files or parquet cells) of ``arrays[split]``'s rows, in row order;
        None when the arrays were not decoded from a scanned collection."""
        rels = getattr(self.arrays[split], "rels", None)
        if self.index is None or rels is None:
            return None
        by_rel = {item.rel: item for item in self.index.split(split)}
        return [by_rel[rel] for rel in rels]

    def stage_labels(self, stage: str) -> np.ndarray:
        array = self.arrays["test" if stage == "test" else "train"]
        return np.asarray(array.labels)[self.indices[stage]]

    @classmethod
    def from_arrays(
        cls,
        classes: Sequence[str],
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray | None = None,
        test_labels: np.ndarray | None = None,
        *,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> ClassifierData:
        train = ArraySplit(np.asarray(train_images), np.asarray(train_labels, dtype=np.int64))
        train_idx, val_idx = stratified_split(train.labels, val_fraction, seed=seed)
        arrays: dict[str, Any] = {"train": train}
        indices = {"train": train_idx, "val": val_idx}
        if test_images is not None and test_labels is not None:
            arrays["test"] = ArraySplit(
                np.asarray(test_images), np.asarray(test_labels, dtype=np.int64)
            )
            indices["test"] = np.arange(len(test_labels), dtype=np.int64)
        counts = np.bincount(train.labels, minlength=len(classes)).astype(np.int64)
        return cls(list(classes), arrays, indices, counts)


def stratified_split(
    labels: np.ndarray, fraction: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): ``fraction`` of each style, rounded, always leaving one for training."""
    labels = np.asarray(labels, dtype=np.int64)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = np.random.default_rng([seed, int(cls), 0x5A1]).permutation(members)
        n_val = (
            min(int(math.floor(len(members) * fraction + 0.5)), len(members) - 1)
            if fraction > 0
            else 0
        )
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train_idx = np.sort(np.concatenate(train_parts)) if train_parts else np.zeros(0, dtype=np.int64)
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, dtype=np.int64)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)


def load_classifier_data(
    config: ClassifierConfig,
    *,
    splits: Sequence[str] = ("train", "test"),
    progress: bool = True,
    min_styles: int = 2,
    purpose: str = "a classifier",
) -> ClassifierData:
    """Scan ``config.data``, open (or build) the caches of ``splits`` at ``config.size``, carve the validation split.

    Data with fewer than ``min_styles`` styles is refused, naming ``purpose``
    (what needs them).
    """
    from artstyle.data.cache import load_split
    from artstyle.data.scan import scan

    if config.data is None:
        raise ArtstyleError("no data folder given; pass --data DATA")
    index = scan(config.data, test_fraction=config.test_fraction, seed=config.seed)
    if len(index.classes) < min_styles:
        raise ArtstyleError(
            f"{index.root} has {len(index.classes)} style(s) in train; {purpose} needs at least "
            f"{min_styles}: add folders train/<Style>/ for more styles"
        )
    options: CacheOptions = {
        "resize": config.resize,
        "cache_dir": config.cache_dir,
        "workers": config.workers,
        "progress": progress,
    }
    arrays: dict[str, Any] = {}
    indices: dict[str, np.ndarray] = {}
    failed: list[Any] = []
    counts = np.array([index.counts("train")[style] for style in index.classes], dtype=np.int64)
    if "train" in splits:
        train = load_split(index, "train", size=config.size, **options)
        arrays["train"] = train
        failed += train.failed
        counts = np.bincount(np.asarray(train.labels), minlength=len(index.classes)).astype(
            np.int64
        )
        indices["train"], indices["val"] = stratified_split(
            train.labels, config.val_fraction, seed=config.seed
        )
    if "test" in splits and index.split("test"):
        test = load_split(index, "test", size=config.size, **options)
        arrays["test"] = test
        failed += test.failed
        indices["test"] = np.arange(len(test), dtype=np.int64)
    notes = data_notes(index, failed)
    return ClassifierData(
        list(index.classes),
        arrays,
        indices,
        counts,
        Path(index.root),
        failed,
        notes,
        index.held_out,
        index.fingerprint("train"),
        index,
    )


TEST_IN_TRAIN_LISTED = 20  # test files named in metrics.json; the count covers all


def leaked_test_images(train: Any, test: Any) -> dict[str, Any]:
    """metrics.json keys on leakage: ``n_test_in_train``, the test images whose pixels at the
    run's size equal a training image's, and ``test_in_train``, the first of their files.

    Such copies let a model score by memory; ``artstyle data audit`` finds byte-identical
    and near copies among the files themselves.
    """
    from artstyle.data.audit import rows_also_in

    mask = rows_also_in(train.images, test.images)
    rels = getattr(test, "rels", None)
    found = np.flatnonzero(mask)
    listed = [rels[i] for i in found[:TEST_IN_TRAIN_LISTED]] if rels is not None else []
    return {"n_test_in_train": int(mask.sum()), "test_in_train": listed}


def stage_images(data: ClassifierData, stage: str) -> np.ndarray:
    array = data.arrays["test" if stage == "test" else "train"]
    return np.asarray(array.images)[data.indices[stage]]


def pick_spread(labels: np.ndarray, n: int) -> np.ndarray:
    """``n`` row numbers that go round the styles (first image of each style, then the second, ...)."""
    labels = np.asarray(labels)
    by_style = [np.flatnonzero(labels == style) for style in np.unique(labels)]
    picked: list[int] = []
    depth = 0
    while len(picked) < min(n, len(labels)):
        for rows in by_style:
            if depth < len(rows) and len(picked) < n:
                picked.append(int(rows[depth]))
        depth += 1
    return np.array(picked, dtype=np.int64)


def data_notes(index: Any, failed: Sequence[Any]) -> list[str]:
    """One sentence for each thing about the data that changes what the scores mean: the scan's
    notes (a held-out test split, styles absent from test) and the unreadable images skipped."""
    notes = list(index.notes)
    if failed:
        first = failed[0]
        notes.append(
            f"{len(failed)} unreadable image(s) skipped (first: {first.path}: {first.reason}); "
            f"`artstyle data audit {index.root}` lists them"
        )
    return notes


def relabel(data: ClassifierData, classes: Sequence[str]) -> ClassifierData:
    """``data`` with its labels as indices into ``classes`` (a superset of its own styles, e.g.
    a run's): what a model trained on ``classes`` calls each image's style."""
    if list(data.classes) == list(classes):
        return data
    position = {style: i for i, style in enumerate(classes)}
    mapping = np.array([position[style] for style in data.classes], dtype=np.int64)
    arrays = {
        name: dataclasses.replace(array, labels=mapping[np.asarray(array.labels, dtype=np.int64)])
        for name, array in data.arrays.items()
    }
    counts = np.zeros(len(classes), dtype=np.int64)
    counts[mapping] = data.train_counts
    return dataclasses.replace(data, classes=list(classes), arrays=arrays, train_counts=counts)
