"""What the three tasks share: how a run of each starts, resumes and checks its settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from artstyle.config import TrainConfig

# keys that may change when a run is resumed: budget, display and where things are, not what is trained
RESUMABLE_KEYS = frozenset(
    {"max_minutes", "progress", "workers", "cache_dir", "data", "accelerator", "eval_batch_size"}
)


def _no_check(config: Any) -> None:
    return None


@dataclass(frozen=True)
class TaskSpec:
    """One trainable task: its name (``config.yaml``'s task), config model and run rules."""

    name: str
    config: type[TrainConfig]
    resumable: frozenset[str] = RESUMABLE_KEYS
    min_styles: int = 2  # data with fewer styles in train is refused, naming ``purpose``
    purpose: str = "a classifier"
    # refuses bad settings before any image is decoded (new runs and resumed ones)
    check: Callable[[Any], None] = _no_check
