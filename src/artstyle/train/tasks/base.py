"""What the three tasks share: how a run of each starts, resumes and checks its settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from artstyle.config import TrainConfig

# keys that may change when a run is resumed: budget, display and where things are, not what is trained
RESUMABLE_KEYS = frozenset(
    {
        "max_minutes",
        "progress",
        "workers",
        "cache_dir",
        "data",
        "accelerator",
        "eval_batch_size",
        "threads",
    }
)


def _no_check(config: Any) -> None:
    return None


@dataclass(frozen=True)
class TaskSpec:
    """One trainable task: its name (``config.yaml``'s task), config model and run rules."""

    name: str
    config: type[TrainConfig]
    # (config, data, *, run, resume) -> the task object the loop trains
    make: Callable[..., Any]
    resumable: frozenset[str] = RESUMABLE_KEYS
    min_styles: int = 2  # data with fewer styles in train is refused, naming ``purpose``
    purpose: str = "a classifier"
    # refuses bad settings before any image is decoded (new runs and resumed ones)
    check: Callable[[Any], None] = _no_check


class ArrayTask:
    """What every task does alike: put its splits on the device, hand the loop rows and batches.

    ``config`` and ``data`` (a :class:`~artstyle.data.dataset.ClassifierData`) are set by the
    task's constructor; ``setup`` fills the device copies.
    """

    config: Any
    data: Any
    # the third word of the seed of each epoch's shuffle: tasks of one seed shuffle differently
    shuffle_salt: int = 0

    def put_on_device(
        self, device: torch.device, share: tuple[int, int], *, augment: dict[str, Any]
    ) -> None:
        """Copy each split to ``device`` with the augmentation settings ``augment``."""
        from artstyle.data.batches import DeviceData

        self.device = torch.device(device)
        self.share = share  # (rank, world size): see batches.shared_rand
        self._device_data = {
            name: DeviceData(array, np.asarray(array.labels), self.device, **augment)
            for name, array in self.data.arrays.items()
        }

    def put_on_device_flips_only(self, device: torch.device, share: tuple[int, int]) -> None:
        # flips only: crops and colour jitter would change the target the loss compares with
        self.put_on_device(
            device, share, augment={"flip": self.config.flip, "crop_scale": None, "jitter": 0.0}
        )

    def train_indices(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.config.seed, epoch, self.shuffle_salt]).permutation(
            self.data.indices["train"]
        )

    def eval_indices(self, stage: str) -> np.ndarray | None:
        return self.data.indices.get(stage)

    def device_batch(
        self, indices: np.ndarray, stage: str, generator: torch.Generator | None, *, augment: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch of exactly these rows, normalised (and augmented) on the device: (x, labels)."""
        source = self._device_data["test" if stage == "test" else "train"]
        return next(
            source.batches(
                indices, len(indices), augment=augment, generator=generator, share=self.share
            )
        )
