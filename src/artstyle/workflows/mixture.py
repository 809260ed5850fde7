"""The classifier's two experts: the network and the statistics expert, mixed.

After the network is trained, a kernel model is fitted on the colour and
texture statistics of the same training images (:mod:`artstyle.models.statistics`)
and stored beside the weights. A split is then scored on

    (1 - s) * log p_network + s * log p_statistics,  s = the run's ``statistics``,

a product of experts (Hinton 2002) with equal shares by default. Training,
``artstyle evaluate`` and ``artstyle predict`` all score this way; metrics.json
keeps the network's and the expert's own balanced accuracy beside the mixture's.

    artstyle train classifier --data DATA --out RUN --statistics 0   # the network alone
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from artstyle.config import ClassifierConfig
from artstyle.data.dataset import ClassifierData
from artstyle.data.texture import describe_rows
from artstyle.errors import ArtstyleError
from artstyle.models.statistics import StatisticsExpert
from artstyle.train.loop import add_stats, eval_batch_size
from artstyle.train.runs import RunFolder
from artstyle.train.tasks.classifier import ClassifierTask


def _say(line: str, progress: bool) -> None:
    if progress:
        import sys

        print(line, file=sys.stderr, flush=True)


def fit_statistics(
    config: ClassifierConfig, run: RunFolder, data: ClassifierData, *, progress: bool
) -> StatisticsExpert:
    """Fit the statistics expert on the network's training rows (the validation carve left
    out) and write it to the run's statistics.safetensors."""
    rows = data.indices["train"]
    _say(
        f"statistics expert: colour and texture statistics of {len(rows)} training images",
        progress,
    )
    features = describe_rows(data, "train", rows, progress=progress)
    labels = np.asarray(data.arrays["train"].labels)[rows]
    expert = StatisticsExpert.fit(features, labels, len(data.classes), seed=config.seed)
    expert.save(run.statistics_path)
    return expert


def load_statistics(run: RunFolder, config: ClassifierConfig) -> StatisticsExpert | None:
    """The run's statistics expert when its config mixes one in (``statistics`` > 0)."""
    if config.statistics <= 0:
        return None
    if not run.statistics_path.is_file():
        raise ArtstyleError(
            f"{run.statistics_path} not found, and {run.config_path} mixes a statistics expert "
            "in (statistics > 0); restore the file, or set statistics: 0 there to score the "
            "network alone"
        )
    return StatisticsExpert.load(run.statistics_path)


def stage_log_probs(
    expert: StatisticsExpert, task: ClassifierTask, stage: str, *, progress: bool
) -> np.ndarray:
    """The expert's log-probabilities of ``stage``'s images, in ``task.eval_indices`` order."""
    rows = task.eval_indices(stage)
    split = "test" if stage == "test" else "train"
    return expert.log_probs(describe_rows(task.data, split, rows, progress=progress))


@torch.no_grad()
def mixed_totals(
    task: ClassifierTask,
    model,
    stage: str,
    expert_log_probs: np.ndarray,
    share: float,
    *,
    fabric: Any,
    batch_size: int | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """Summed statistics of ``stage`` on one process for the mixture, the network alone and
    the expert alone: {"mixed": ..., "network": ..., "statistics": ...}."""
    rows = task.eval_indices(stage)
    size = eval_batch_size(batch_size, fabric.device)
    totals = {
        name: task.zero_stats(stage, fabric.device) for name in ("mixed", "network", "statistics")
    }
    was_training = model.training
    model.eval()
    with fabric.autocast():
        for start in range(0, len(rows), size):
            x, y = task.make_batch(rows[start : start + size], stage, None)
            network = task.scoring_logits(model, x, model(x).float(), stage).log_softmax(dim=1)
            expert = torch.from_numpy(expert_log_probs[start : start + size]).to(network.device)
            mixed = mix(network, expert, share)
            for name, logits in (("mixed", mixed), ("network", network), ("statistics", expert)):
                add_stats(totals[name], task.scores(logits, y, F.cross_entropy(logits, y)))
    model.train(was_training)
    return totals


def scored(
    task: ClassifierTask,
    model,
    stage: str,
    expert: StatisticsExpert,
    share: float,
    *,
    fabric: Any,
    batch_size: int | None,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``stage`` scored on the mixture: its summed statistics, and the metrics.json keys of
    the share and of each expert alone (``network_balanced_accuracy``, ...)."""
    log_probs = stage_log_probs(expert, task, stage, progress=progress)
    parts = mixed_totals(task, model, stage, log_probs, share, fabric=fabric, batch_size=batch_size)
    keys: dict[str, Any] = {"statistics": share}
    for name in ("network", "statistics"):
        keys[f"{name}_balanced_accuracy"] = task.summarize(parts[name], stage)["balanced_accuracy"]
    return parts["mixed"], keys


def mix(network: torch.Tensor, expert: torch.Tensor, share: float) -> torch.Tensor:
    """(B, K) log-probabilities of the network and of the expert -> the mixture's."""
    return ((1.0 - share) * network + share * expert).log_softmax(dim=1)


def mix_probabilities(
    network: torch.Tensor, expert_log_probs: np.ndarray, share: float
) -> torch.Tensor:
    """(B, K) network probabilities and the expert's log-probabilities -> mixed probabilities."""
    expert = torch.from_numpy(expert_log_probs).to(network.device)
    return mix(network.clamp_min(1e-12).log(), expert, share).exp()
