"""Stylizer outputs and scores: images under other styles, grids of them, style-hit rate.

A stylizer run (``artstyle train stylizer``) decodes the content of any image
with any learned style embedding. This module turns that into arrays and
numbers (:mod:`artstyle.workflows.stylize` draws them):

* :func:`stylize_array` / :func:`stylize_vectors`: images under styles or blends;
* :func:`grid_arrays`: N images of N styles, each under all N styles;
* :func:`score_stylizer`: every scored image under every other style, judged
  by an independently trained classifier (``--judge``; never the critic the
  stylizer was trained against). ``style_hit_rate`` is the share of those
  mismatched outputs the judge assigns to the target style, read against
  ``chance`` (1 / number of styles) and ``input_hit_rate`` (the same count
  on the unchanged inputs); ``content_ssim`` is their mean SSIM to the input.

    artstyle stylize runs/sty --image photo.jpg --styles Baroque,Pop_Art --out out.png
    artstyle stylize runs/sty --grid 8 --data DATA --out grid.png
    artstyle stylize runs/sty --image photo.jpg --interpolate Baroque,Pop_Art --steps 6 --out blend.png
    artstyle stylize runs/sty --score --judge runs/judge --data DATA
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artstyle.errors import ArtstyleError
from artstyle.io import write_json
from artstyle.models import resolve_device
from artstyle.text import resolve_style
from artstyle.train import runs
from artstyle.train.runs import RunFolder


@dataclass
class LoadedStylizer:
    """A stylizer run's model and what it needs to read new images like its training images."""

    run: RunFolder
    model: Any
    classes: list[str]
    size: int
    resize: str
    config: Any  # StylizerConfig


def load_stylizer(path: str | os.PathLike, *, device: Any = "cpu") -> LoadedStylizer:
    """The stylizer of run folder ``path``, in eval mode on ``device``."""
    from artstyle.config import StylizerConfig

    run = runs.open_run(path)
    task = runs.run_task(run)
    if task not in (None, "stylizer"):
        raise ArtstyleError(
            f"{run.path} is a run of task {task!r}, not a stylizer run (artstyle train stylizer)"
        )
    config = runs.read_config(run, StylizerConfig, task="stylizer")
    model = runs.load_model(run, device=resolve_device(device))
    if not hasattr(model, "style_vectors"):
        raise ArtstyleError(f"{run.path} does not hold a stylizer")
    return LoadedStylizer(run, model, runs.read_classes(run), config.size, config.resize, config)


def style_indices(names: list[str] | str, classes: list[str]) -> list[int]:
    """Style names (a list or "A,B,C") -> class indices; an unknown name is an error that lists the known ones."""
    if isinstance(names, str):
        names = [part.strip() for part in names.split(",") if part.strip()]
    if not names:
        raise ArtstyleError("no styles given; pass --styles A,B,... (names as in classes.json)")
    # spelled as in classes.json, or with other case, spaces, dashes or underscores
    return [classes.index(resolve_style(name.strip(), classes)) for name in names]


@torch.no_grad()
def stylize_array(
    model, images: np.ndarray, styles: np.ndarray, *, device: Any = "cpu", batch_size: int = 64
) -> np.ndarray:
    """uint8 images (N, S, S, 3) and styles (N,) or (N, K) -> float32 pixels (N, [K,] S, S, 3) in [0, 1]."""
    from artstyle.data.batches import normalize

    device = resolve_device(device)
    styles = np.asarray(styles, dtype=np.int64)
    model = model.to(device).eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        # np.array copies: rows of the read-only cache memmap would make torch warn
        x = normalize(torch.from_numpy(np.array(images[start : start + batch_size])).to(device))
        s = torch.from_numpy(styles[start : start + batch_size]).to(device)
        out = model(x, s).float()  # (B, 3, S, S) or (B, K, 3, S, S)
        outputs.append(out.movedim(-3, -1).cpu().numpy())  # channels last
    if not outputs:
        return np.zeros((0, *styles.shape[1:], *images.shape[1:]), dtype=np.float32)
    return np.concatenate(outputs)


@torch.no_grad()
def stylize_vectors(
    model, image: np.ndarray, vectors: np.ndarray, *, device: Any = "cpu"
) -> np.ndarray:
    """One uint8 image (S, S, 3) decoded with each row of ``vectors`` (M, style_dim) -> (M, S, S, 3) in [0, 1]."""
    from artstyle.data.batches import normalize

    device = resolve_device(device)
    model = model.to(device).eval()
    x = normalize(torch.from_numpy(np.array(image[None])).to(device))
    v = torch.as_tensor(vectors, dtype=torch.float32, device=device)
    out = model.stylize_with(
        x.expand(len(v), -1, -1, -1), v
    ).float()  # (1, 3, S, S) x (M, D) -> (M, 3, S, S)
    return out.permute(0, 2, 3, 1).cpu().numpy()


def read_image(path: str | os.PathLike, size: int, resize: str = "crop") -> np.ndarray:
    """Any image file -> uint8 (size, size, 3), decoded and resized like the training cache."""
    from artstyle.data.images import ImageError, decode_image

    path = Path(path)
    if not path.is_file():
        raise ArtstyleError(f"image {path} not found")
    try:
        return decode_image(path, size, resize)
    except ImageError as exc:
        raise ArtstyleError(f"cannot read image {path}: {exc}") from exc


# ---------------------------------------------------------------- one image


# ---------------------------------------------------------------- data for grids and scores


def load_data(loaded: LoadedStylizer, data: Any, split: str):
    """A ClassifierData for the run's image size: given, or loaded from ``data`` (a folder) or the run's own data."""
    from artstyle.data.dataset import ClassifierData, load_classifier_data, relabel

    if isinstance(data, ClassifierData):
        return data
    folder = data if data is not None else loaded.config.data
    if folder is None:
        raise ArtstyleError(
            f"no data folder given and {loaded.run.config_path} names none; pass --data DATA"
        )
    if not Path(folder).expanduser().exists():
        raise ArtstyleError(f"data folder {folder} not found; pass --data DATA")
    config = loaded.config.model_copy(update={"data": Path(folder), "progress": False})
    splits = ("test",) if split == "test" else ("train",)
    result = load_classifier_data(config, splits=splits, progress=False, purpose="the stylizer")
    # data of fewer styles is fine: its images are read under the run's style indices
    runs.check_classes(
        loaded.classes, result.classes, run_path=loaded.run.path, data_path=folder, subset=True
    )
    return relabel(result, loaded.classes)


def split_arrays(data, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in data.indices or not len(data.indices[split]):
        raise ArtstyleError(f"the data has no {split} images to stylize")
    array = data.arrays["test" if split == "test" else "train"]
    rows = data.indices[split]
    return np.asarray(array.images)[rows], np.asarray(array.labels)[rows]


def grid_rows(labels: np.ndarray, n: int) -> np.ndarray:
    """One image for each of up to ``n`` styles spread evenly over the styles present (first image of each)."""
    present = np.unique(labels)
    chosen = present[
        np.unique(np.linspace(0, len(present) - 1, min(n, len(present))).round().astype(int))
    ]
    return np.array([int(np.flatnonzero(labels == style)[0]) for style in chosen], dtype=np.int64)


def grid_arrays(
    model, images: np.ndarray, labels: np.ndarray, n: int, *, device: Any = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, S, S, 3), outputs (N, N, S, S, 3), styles (N,)): N images of N styles, each under all N styles."""
    rows = grid_rows(labels, n)
    styles = labels[rows]
    outputs = stylize_array(model, images[rows], np.tile(styles, (len(rows), 1)), device=device)
    return images[rows], outputs, styles


def embedding_map_points(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA of the embedding table (K, D) -> (K, 2) points and the variance share of the two components."""
    centred = table - table.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    variance = singular**2
    explained = variance[:2] / max(variance.sum(), 1e-12)
    return points, np.pad(explained, (0, max(0, 2 - len(explained))))


# ---------------------------------------------------------------- scores


def _ssim_psnr(outputs: np.ndarray, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from artstyle.models.autoencoder import psnr, ssim

    a = torch.from_numpy(np.ascontiguousarray(outputs)).permute(0, 3, 1, 2).float()
    b = torch.from_numpy(np.array(inputs)).permute(0, 3, 1, 2).float() / 255.0
    return ssim(a, b, reduction="none").numpy(), psnr(a, b, reduction="none").numpy()


def _check_judge(loaded: LoadedStylizer, judge_path: str | os.PathLike) -> None:
    critic = loaded.config.critic
    if (
        critic is not None
        and Path(critic).expanduser().resolve() == Path(judge_path).expanduser().resolve()
    ):
        raise ArtstyleError(
            f"--judge {judge_path} is the critic this stylizer was trained against; "
            "judge with an independently trained classifier (e.g. the same recipe with another --seed)"
        )


@torch.no_grad()
def score_stylizer(
    run_path: str | os.PathLike,
    judge_run: str | os.PathLike,
    *,
    data: Any = None,
    split: str = "test",
    n_images: int = 200,
    device: Any = "auto",
    batch_size: int = 16,
    model=None,
) -> dict[str, Any]:
    """Style-hit rate and content SSIM over mismatched pairs; merged into RUN/metrics.json and returned.

    Up to ``n_images`` images of ``split`` (going round the styles) are each
    decoded under every style. The judge classifies every output; the own
    style gives ``own_style_ssim``/``own_style_psnr``, the other styles give
    ``style_hit_rate`` and ``content_ssim``.

        artstyle stylize runs/sty --score --judge runs/judge --data DATA
    """
    from artstyle.data.dataset import pick_spread
    from artstyle.train.tasks.stylizer import load_classifier_run

    device = resolve_device(device)
    loaded = load_stylizer(run_path, device=device)
    if model is not None:
        loaded.model = model.to(device).eval()
    _check_judge(loaded, judge_run)
    judge = load_classifier_run(judge_run, role="judge", classes=loaded.classes).to(device)
    dataset = load_data(loaded, data, split)
    images, labels = split_arrays(dataset, split)
    rows = pick_spread(labels, n_images)
    images, labels = images[rows], labels[rows]
    k = len(loaded.classes)
    all_styles = np.arange(k)

    hits = np.zeros((k, 2), dtype=np.int64)  # per target style: (hits, pairs)
    content_ssim: list[np.ndarray] = []
    own_ssim: list[np.ndarray] = []
    own_psnr: list[np.ndarray] = []
    input_hits = 0
    input_correct = 0
    away_from_own = 0  # mismatched outputs the judge does not read as the image's own style
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        y = labels[start : start + batch_size]
        b = len(batch)
        outputs = stylize_array(
            loaded.model, batch, np.tile(all_styles, (b, 1)), device=device, batch_size=b
        )  # (b, K, S, S, 3)
        flat = (
            torch.from_numpy(outputs.reshape(b * k, *outputs.shape[2:]))
            .permute(0, 3, 1, 2)
            .to(device)
        )
        predicted = (
            judge(flat).argmax(1).view(b, k).cpu().numpy()
        )  # (b, K): the judge's style for each output
        inputs01 = torch.from_numpy(np.array(batch)).permute(0, 3, 1, 2).float().to(device) / 255.0
        input_pred = judge(inputs01).argmax(1).cpu().numpy()  # (b,)
        input_correct += int((input_pred == y).sum())
        mismatched = all_styles[None, :] != y[:, None]  # (b, K)
        target_hit = predicted == all_styles[None, :]
        away_from_own += int((predicted != y[:, None])[mismatched].sum())
        np.add.at(hits[:, 0], np.nonzero(mismatched)[1], target_hit[mismatched].astype(np.int64))
        np.add.at(hits[:, 1], np.nonzero(mismatched)[1], 1)
        # the input itself, read as if it were the output: how often the judge already says the target style
        input_hits += int((input_pred[:, None] == all_styles[None, :])[mismatched].sum())
        repeated = np.repeat(batch, k, axis=0).reshape(b, k, *batch.shape[1:])
        s_all, p_all = _ssim_psnr(
            outputs.reshape(b * k, *outputs.shape[2:]), repeated.reshape(b * k, *batch.shape[1:])
        )
        s_all, p_all = s_all.reshape(b, k), p_all.reshape(b, k)
        content_ssim.append(s_all[mismatched])
        own_ssim.append(s_all[~mismatched])
        own_psnr.append(p_all[~mismatched])

    n_pairs = int(hits[:, 1].sum())
    hit_rate = float(hits[:, 0].sum() / max(n_pairs, 1))
    chance = 1.0 / k
    # the same outputs with their target styles shuffled among the K-1 other styles: what a
    # stylizer that moves images away from their own style, but ignores which style was asked
    # for, scores (up to 1/(K-1), above 1/K)
    shuffled = away_from_own / max(n_pairs, 1) / max(k - 1, 1)
    per_style = {
        loaded.classes[i]: (float(hits[i, 0] / hits[i, 1]) if hits[i, 1] else None)
        for i in range(k)
    }
    scores = {
        "style_hit_rate": hit_rate,
        "chance": chance,
        "hit_rate_over_chance": hit_rate / chance,
        "shuffled_target_hit_rate": shuffled,
        "content_ssim": float(np.concatenate(content_ssim).mean()) if content_ssim else None,
        "own_style_ssim": float(np.concatenate(own_ssim).mean()) if own_ssim else None,
        "own_style_psnr": float(np.concatenate(own_psnr).mean()) if own_psnr else None,
        "input_hit_rate": input_hits / max(n_pairs, 1),
        "judge_accuracy_on_inputs": input_correct / max(len(images), 1),
        "per_style_hit_rate": per_style,
        "judge": str(judge.path),
        # a judge trained at another side reads resized outputs; judge_accuracy_on_inputs shows what that costs
        "judge_size": judge.size,
        "score_split": split,
        "n_scored_images": int(len(images)),
        "n_mismatched_pairs": n_pairs,
    }
    # test scores join the run's metrics.json; other splits get metrics_<split>.json
    path = loaded.run.split_metrics_path(split)
    existing = runs.read_metrics(loaded.run, split) if path.is_file() else {}
    existing.pop("style_hit_rate_note", None)
    metrics = {**scores, **{key: value for key, value in existing.items() if key not in scores}}
    write_json(path, metrics)
    return metrics


def score_run(
    run_path: str | os.PathLike,
    *,
    judge: str | os.PathLike | None = None,
    data: Any = None,
    split: str = "test",
    n_images: int | None = None,
    device: Any = "auto",
) -> dict[str, Any]:
    """:func:`score_stylizer` with the run's own ``judge`` and ``score_images`` as defaults (``artstyle evaluate`` too).

    artstyle stylize runs/sty --score --judge runs/judge --data DATA
    """
    loaded = load_stylizer(run_path, device="cpu")
    judge = judge if judge is not None else loaded.config.judge
    if judge is None:
        raise ArtstyleError(
            f"{loaded.run.path} was trained without --judge; score it with: artstyle stylize "
            f"{loaded.run.path} --score --judge CLASSIFIER_RUN (a classifier trained "
            "independently of the critic, e.g. with another --seed)"
        )
    n = n_images if n_images is not None else loaded.config.score_images
    if n < 1:
        raise ArtstyleError(f"--n-images must be at least 1, got {n}")
    return score_stylizer(run_path, judge, data=data, split=split, n_images=n, device=device)


def summary_line(metrics: dict[str, Any]) -> str:
    """One sentence with the headline numbers of a stylizer run."""
    parts = []
    if metrics.get("style_hit_rate") is not None:
        shuffled = metrics.get("shuffled_target_hit_rate")
        parts.append(
            f"style-hit rate {metrics['style_hit_rate']:.3f} vs chance {metrics['chance']:.3f} "
            f"({metrics['style_hit_rate'] / metrics['chance']:.1f}x; "
            + (f"targets shuffled {shuffled:.3f}; " if shuffled is not None else "")
            + f"unchanged inputs {metrics.get('input_hit_rate', 0):.3f})"
        )
    if metrics.get("content_ssim") is not None:
        parts.append(f"content SSIM {metrics['content_ssim']:.3f}")
    if metrics.get("own_style_ssim") is not None:
        parts.append(
            f"own-style SSIM {metrics['own_style_ssim']:.3f}, PSNR {metrics.get('own_style_psnr', 0):.1f} dB"
        )
    if metrics.get("critic_hit_rate") is not None:
        parts.append(f"critic hit rate {metrics['critic_hit_rate']:.3f}")
    return "; ".join(parts) if parts else "no scores"
