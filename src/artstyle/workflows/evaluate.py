"""Evaluate or predict with any run kind: scores on a split, figures, top-k styles per image.

artstyle evaluate runs/clf --split test --tta
artstyle evaluate runs/ae
artstyle predict runs/clf painting.jpg more_paintings/ --top-k 3 --json
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artstyle.config import ClassifierConfig, TrainConfig
from artstyle.data.dataset import (
    ClassifierData,
    leaked_test_images,
    load_classifier_data,
    stage_images,
)
from artstyle.errors import ArtstyleError
from artstyle.generate.stylize import score_run
from artstyle.io import write_json
from artstyle.train import runs
from artstyle.train.engine import make_fabric
from artstyle.train.loop import eval_batch_size, evaluate_stage
from artstyle.train.runs import RunFolder
from artstyle.train.tasks import TASKS
from artstyle.train.tasks.autoencoder import AutoencoderTask, reference_psnr
from artstyle.train.tasks.base import TaskSpec
from artstyle.train.tasks.classifier import ClassifierTask, metrics_from_totals, tta_averaged
from artstyle.workflows import mixture
from artstyle.workflows.figures import write_autoencoder_figures, write_classifier_figures


@dataclass
class _Evaluation:
    """A run loaded for scoring on one split of its data (or of ``--data``)."""

    run: RunFolder
    trained_on: TrainConfig  # the run's own config
    config: TrainConfig  # with --data applied, one device
    data: ClassifierData
    fabric: Any
    model: Any


def _open_for_evaluation(
    run_path: str | os.PathLike,
    spec: TaskSpec,
    *,
    data: str | os.PathLike | None,
    split: str,
    progress: bool,
) -> _Evaluation:
    """The run's config, model on one device and the images of ``split``, their styles checked."""
    if split not in ("test", "val", "train"):
        raise ArtstyleError(f"--split must be test, val or train, got {split!r}")
    run = runs.open_run(run_path)
    trained_on = config = runs.read_config(run, spec.config, task=spec.name)
    if data is not None:
        config = config.model_copy(update={"data": Path(data)})
    loaded = load_classifier_data(
        config,
        splits=("test",) if split == "test" else ("train",),
        progress=progress,
        min_styles=spec.min_styles,
    )
    runs.check_classes(
        runs.read_classes(run), loaded.classes, run_path=run.path, data_path=config.data
    )
    if split not in loaded.indices or len(loaded.indices[split]) == 0:
        raise ArtstyleError(f"{config.data} has no {split} images; pick another --split")
    single = config.model_copy(update={"devices": 1, "num_nodes": 1})
    fabric = make_fabric(single)
    model = runs.load_model(run, device=fabric.device)
    return _Evaluation(run, trained_on, single, loaded, fabric, model)


def evaluate_run(
    run_path: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str = "test",
    tta: bool | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a classifier run on a split; writes metrics.json (test) or metrics_<split>.json, and figures.

    ``tta`` None: mirror averaging as the run was trained (its ``tta`` setting).

    artstyle evaluate runs/clf --split test --tta
    """
    opened = _open_for_evaluation(
        run_path, TASKS["classifier"], data=data, split=split, progress=progress
    )
    run, trained_on, config, loaded = opened.run, opened.trained_on, opened.config, opened.data
    fabric, model = opened.fabric, opened.model
    task = ClassifierTask(config, loaded, tta=tta)
    task.setup(fabric.device)
    started = time.perf_counter()
    expert = mixture.load_statistics(run, trained_on)
    scores: dict[str, Any] = {}
    if expert is None:
        totals = evaluate_stage(
            fabric, task, model, split, batch_size=batch_size or config.eval_batch_size
        )
    else:
        totals, scores = mixture.scored(
            task,
            model,
            split,
            expert,
            trained_on.statistics,
            fabric=fabric,
            batch_size=batch_size or config.eval_batch_size,
            progress=progress,
        )
    seconds = time.perf_counter() - started
    previous = runs.read_metrics(run) if run.metrics_path.is_file() else {}
    keep = (
        "balance",
        "architecture",
        "n_parameters",
        "n_train",
        "n_val",
        "best_epoch",
        "best_val_balanced_accuracy",
        "epochs_run",
        "epochs_planned",
        "stopped",
        "training_seconds",
        "train_images_per_second",
        "devices",
        "precision",
        "threads",
        "data_fingerprint",
    )
    extra = {
        "split": split,
        "tta": task.tta,
        "tta_crop": task.views_crop(split) if task.tta else None,
        **{key: previous[key] for key in keep if key in previous},
        **scores,
    }
    if split == "test":
        if data is None and "n_test_in_train" in previous:  # the data it was trained and tested on
            extra.update({key: previous[key] for key in ("n_test_in_train", "test_in_train")})
        else:
            extra.update(_leaked_into(trained_on, loaded.arrays["test"], progress=progress))
    if "train_images_per_second" not in extra:
        history = runs.read_history(run)
        extra["train_images_per_second"] = history[-1].get("images_per_second") if history else None
    extra["eval_images_per_second"] = round(int(totals["n"].item()) / max(seconds, 1e-9), 1)
    metrics = metrics_from_totals(task, totals, loaded, extra)
    write_json(run.split_metrics_path(split), metrics)
    # figures of another split sit beside the test ones
    suffix = "" if split == "test" else f"_{split}"
    write_classifier_figures(
        run,
        metrics,
        runs.read_history(run) if split == "test" else [],
        best_epoch=extra.get("best_epoch"),
        suffix=suffix,
    )
    return metrics


def _leaked_into(trained_on: ClassifierConfig, test: Any, *, progress: bool) -> dict[str, Any]:
    """:func:`leaked_test_images` against the training split of the run's own config
    (through the cache); {} when that data folder is gone or has no training images."""
    if trained_on.data is None or not Path(trained_on.data).expanduser().is_dir():
        return {}
    try:
        own = load_classifier_data(trained_on, splits=("train",), progress=progress)
    except ArtstyleError:
        return {}
    if "train" not in own.arrays or len(own.arrays["train"]) == 0:
        return {}
    return leaked_test_images(own.arrays["train"], test)


def expand_image_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given; folders walked recursively for image files (case-insensitive extensions), sorted."""
    from artstyle.data.scan import IMAGE_EXTENSIONS

    files: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise ArtstyleError(
                    f"{path} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ArtstyleError(f"{path} does not exist; pass image files or folders of images")
    return files


def predict(
    run_path: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    top_k: int = 3,
    tta: bool | None = None,
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Top-k styles for each image (any size or format; decoded and resized as in training).

    Unreadable images get an ``error`` entry instead of predictions. ``tta`` None: mirror
    averaging as the run was trained (its ``tta`` setting).

        artstyle predict runs/clf painting.jpg more_paintings/ --top-k 3 --json
    """
    from artstyle.data.batches import normalize
    from artstyle.data.images import ImageError, decode_image
    from artstyle.data.texture import describe

    if top_k < 1:
        raise ArtstyleError(f"--top-k must be at least 1, got {top_k}")
    run = runs.open_run(run_path)
    config = runs.read_config(run, ClassifierConfig, task="classifier")
    tta = config.tta if tta is None else tta
    classes = runs.read_classes(run)
    files = expand_image_paths(paths)
    fabric = make_fabric(config.model_copy(update={"devices": 1, "num_nodes": 1}))
    model = runs.load_model(run, device=fabric.device)
    expert = mixture.load_statistics(run, config)
    results: list[dict[str, Any]] = []
    decoded: list[tuple[int, np.ndarray]] = []
    statistics: list[np.ndarray] = []
    for file in files:
        try:
            image = decode_image(file, config.size, config.resize)
            features = describe(file) if expert is not None else None
        except ImageError as exc:
            results.append({"path": str(file), "error": exc.reason})
            continue
        decoded.append((len(results), image))
        if features is not None:
            statistics.append(features)
        results.append({"path": str(file)})
    k = min(top_k, len(classes))
    batch_size = eval_batch_size(batch_size or config.eval_batch_size, fabric.device)
    with torch.no_grad(), fabric.autocast():
        for start in range(0, len(decoded), batch_size):
            chunk = decoded[start : start + batch_size]
            pixels = torch.from_numpy(np.stack([image for _, image in chunk])).to(fabric.device)
            x = normalize(pixels)  # (B, S, S, 3) uint8 -> (B, 3, S, S) float
            probabilities = model(x).float().softmax(dim=1)
            if tta:
                probabilities = tta_averaged(model, x, probabilities, config.tta_crop)
            if expert is not None:
                chunk_statistics = np.stack(statistics[start : start + batch_size])
                probabilities = mixture.mix_probabilities(
                    probabilities.float(), expert.log_probs(chunk_statistics), config.statistics
                )
            values, indices = probabilities.topk(k, dim=1)
            for (position, _), row_values, row_indices in zip(
                chunk, values.cpu().tolist(), indices.cpu().tolist(), strict=True
            ):
                results[position]["predictions"] = [
                    {"style": classes[i], "probability": round(p, 5)}
                    for p, i in zip(row_values, row_indices, strict=True)
                ]
    if not decoded:
        raise ArtstyleError(
            f"none of the {len(files)} image(s) could be read: {results[0]['error']}"
        )
    return results


def _score_autoencoder(opened: _Evaluation, split: str) -> dict[str, Any]:
    """MSE, PSNR and SSIM of a run on a split; writes metrics.json (test) or metrics_<split>.json.

    artstyle evaluate runs/ae --split test
    """
    run, config, loaded = opened.run, opened.config, opened.data
    fabric, model = opened.fabric, opened.model
    task = AutoencoderTask(config, loaded)
    task.setup(fabric.device)
    totals = evaluate_stage(fabric, task, model, split, batch_size=config.eval_batch_size)
    previous = runs.read_metrics(run) if run.metrics_path.is_file() else {}
    images = stage_images(loaded, split)
    metrics = {
        **task.summarize(totals, split),
        "n_test": int(totals["n"].item()),
        "split": split,
        **reference_psnr(images, latent_dim=model.config.latent_dim),
    }
    metrics.update({key: value for key, value in previous.items() if key not in metrics})
    write_json(run.split_metrics_path(split), metrics)
    if split == "test":
        write_autoencoder_figures(
            run,
            model,
            images,
            [],
            n=config.n_reconstructions,
            device=fabric.device,
            labels=loaded.stage_labels(split),
        )
    return metrics


def evaluate(
    run_path: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str = "test",
    tta: bool | None = None,
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Score any run kind on a split: (its task, its metrics).

    A classifier gets accuracy, balanced accuracy, macro-F1 and its figures; an autoencoder MSE,
    PSNR, SSIM and figures/reconstructions.png; a stylizer ``style_hit_rate`` and
    ``content_ssim`` from the judge recorded at training (``artstyle stylize RUN --score
    --judge CLF`` picks another).

        artstyle evaluate runs/clf --split test
    """
    task = runs.run_task(runs.open_run(run_path))
    if task == "autoencoder":
        opened = _open_for_evaluation(
            run_path, TASKS["autoencoder"], data=data, split=split, progress=progress
        )
        return task, _score_autoencoder(opened, split)
    if task == "stylizer":
        return task, score_run(run_path, data=data, split=split)
    return task, evaluate_run(run_path, data=data, split=split, tta=tta, progress=progress)
