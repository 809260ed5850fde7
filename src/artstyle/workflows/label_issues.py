"""Find paintings that are probably filed under the wrong style: out-of-fold probabilities ->
confident learning -> issues.json and a thumbnail sheet.

WikiArt's style labels are noisy. Confident learning (Northcutt et al., JAIR 2021; applied to
benchmark test sets in "Pervasive Label Errors in Test Sets", NeurIPS 2021) finds likely
errors from out-of-sample predicted probabilities, which this workflow gets one of two ways:

* by default, K stratified folds of the training split (seeded): for each fold a small
  classifier is trained from scratch on the other folds with the shared training loop and
  predicts the held-out fold (a quick recipe: :class:`~artstyle.config.LabelIssuesConfig`);
* ``--features RUN``: an existing classifier run's features of every training image, then a
  logistic regression, cross-validated over the same folds (seconds instead of minutes).
  A run trained on these very labels has partly learnt their mistakes, so this path finds
  fewer of them; a run trained on other data (or for few epochs) avoids that.

``cleanlab.filter.find_label_issues`` then flags the images and ranks them by
self-confidence (the probability of the given style, lowest first).

    artstyle data label-issues DATA --out issues.json
    artstyle data label-issues DATA --out issues.json --features runs/clf
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from artstyle.analysis import label_issues as issues_lib
from artstyle.config import ClassifierConfig, LabelIssuesConfig, absolute_path
from artstyle.errors import ArtstyleError
from artstyle.io import write_json
from artstyle.progress import Progress
from artstyle.text import plural

# LabelIssuesConfig's own keys: the rest is the ClassifierConfig each fold trains with
_OWN_KEYS = frozenset(set(LabelIssuesConfig.model_fields) - set(ClassifierConfig.model_fields))
SHEET_SIDE = 128  # px: thumbnails of the sheet are decoded afresh at this size (a few images)


def find_label_issues(config: LabelIssuesConfig, *, quiet: bool = False) -> dict[str, Any]:
    """Write ``config.out`` (issues.json) and the thumbnail sheet; returns the JSON's content.

    artstyle data label-issues DATA --out issues.json --folds 5 --seed 0
    """
    from artstyle.data.scan import scan

    if config.data is None:
        raise ArtstyleError("no data folder given; pass DATA")
    if config.out is None:
        raise ArtstyleError("no output file given; pass --out issues.json")
    out = Path(config.out).expanduser()
    if out.suffix.lower() != ".json":
        raise ArtstyleError(f"--out {out} must end in .json (the issues are written as JSON)")
    if config.devices > 1 or config.num_nodes > 1:
        raise ArtstyleError(
            "label-issues trains its fold models one after another on one device; "
            "drop --devices/--num-nodes"
        )
    sheet = Path(config.sheet).expanduser() if config.sheet else out.with_suffix(".png")
    started = time.perf_counter()
    index = scan(config.data, test_fraction=config.test_fraction, seed=config.seed)
    classes = list(index.classes)
    # refused before anything is decoded or trained
    counts = index.counts("train")
    issues_lib.check_labels(
        np.repeat(np.arange(len(classes)), [counts.get(s, 0) for s in classes]),
        classes,
        config.folds,
    )
    show = config.progress and not quiet
    if config.features is not None:
        rels, labels, probabilities, method, images = _from_features(config, classes)
    else:
        rels, labels, probabilities, method, images = _from_folds(config, index, show=show)

    ranked = issues_lib.find_issues(labels, probabilities, n_jobs=config.threads)
    rows = issues_lib.issue_rows(ranked, labels, probabilities, classes, rels)
    n_images = len(labels)
    summary: dict[str, Any] = {
        "data": str(absolute_path(config.data)),
        "split": "train",
        "method": method,
        "folds": config.folds,
        "seed": config.seed,
        "n_images": n_images,
        "n_flagged": len(rows),
        "share_flagged": round(len(rows) / n_images, 4) if n_images else 0.0,
        "out_of_fold_accuracy": round(issues_lib.out_of_fold_accuracy(labels, probabilities), 4),
        "filter_by": "prune_by_noise_rate",
        "ranked_by": "self_confidence",
        "classes": classes,
        "per_style": issues_lib.per_style_counts(rows, labels, classes),
        "issues": rows,
        "sheet": None,
        "seconds": 0.0,
        "settings": config.model_dump(mode="json"),
    }
    if rows and config.top:
        top = rows[: config.top]
        _write_sheet(sheet, top, _sheet_images(index, top, images, rels), summary)
        summary["sheet"] = _relative_to(sheet, out.parent)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out, summary)
    return summary


# Northcutt et al. (NeurIPS 2021 datasets track) found 3.3% label errors on average over ten
# benchmark test sets; a share several times that says more about the fold models than the labels.
TOO_MANY_FLAGGED = 0.10


def summary_lines(summary: dict[str, Any], *, n_rows: int = 10) -> list[str]:
    """What ``artstyle data label-issues`` prints: the count, the top rows, the styles most flagged."""
    lines = [
        f"{summary['n_flagged']} of {summary['n_images']} training images "
        f"({100 * summary['share_flagged']:.1f}%) are probably filed under the wrong style "
        f"({summary['method']}; out-of-fold accuracy {summary['out_of_fold_accuracy']:.3f})"
    ]
    for row in summary["issues"][:n_rows]:
        lines.append(
            f"  #{row['rank']} {row['file']}: {row['given_style']} ({row['self_confidence']:.2f}) "
            f"-> {row['suggested_style']} ({row['suggested_probability']:.2f})"
        )
    if summary["n_flagged"] > n_rows:
        lines.append(f"  ... and {summary['n_flagged'] - n_rows} more in the JSON")
    if summary["share_flagged"] > TOO_MANY_FLAGGED:
        lines.append(
            f"note: {100 * summary['share_flagged']:.0f}% flagged is far above the few per cent "
            "of label errors found in curated sets: the fold models "
            f"(out-of-fold accuracy {summary['out_of_fold_accuracy']:.2f}) are too weak on these "
            "images, so most flags are their own mistakes; read the list from the top as "
            "paintings to look at, or pass --features RUN of a stronger classifier"
        )
    flagged = [r for r in summary["per_style"] if r["n_flagged"]]
    if flagged:
        lines.append(
            "most flagged: "
            + ", ".join(
                f"{r['style']} {r['n_flagged']} ({100 * r['share']:.0f}%)" for r in flagged[:5]
            )
        )
    return lines


# ---------------------------------------------------------------- out-of-fold probabilities


def _from_folds(config: LabelIssuesConfig, index, *, show: bool):
    """Train one classifier per fold on the other folds; each predicts its held-out fold."""
    from artstyle.data.cache import load_split
    from artstyle.data.dataset import ClassifierData
    from artstyle.train import runs
    from artstyle.train.loop import fit
    from artstyle.train.tasks.classifier import ClassifierTask

    cached = load_split(
        index,
        "train",
        size=config.size,
        resize=config.resize,
        cache_dir=config.cache_dir,
        workers=config.workers,
        progress=show,
    )
    labels = np.asarray(cached.labels, dtype=np.int64)
    classes = list(cached.classes)
    # unreadable files are left out of the cache: check again on what is there
    issues_lib.check_labels(labels, classes, config.folds)
    folds = issues_lib.stratified_folds(labels, config.folds, seed=config.seed)
    probabilities = np.zeros((len(labels), len(classes)), dtype=np.float64)
    base = config.model_dump(exclude=set(_OWN_KEYS))
    say = Progress(False).print
    with tempfile.TemporaryDirectory(prefix="artstyle-label-issues-") as scratch:
        for k, held_out in enumerate(folds):
            train_rows = np.setdiff1d(np.arange(len(labels)), held_out)
            data = ClassifierData(
                classes,
                {"train": cached},
                {"train": train_rows, "val": np.zeros(0, dtype=np.int64)},
                np.bincount(labels[train_rows], minlength=len(classes)).astype(np.int64),
            )
            # a seed per fold: the folds' models share no initialisation or batch order
            fold_config = ClassifierConfig(
                **{**base, "out": Path(scratch) / f"fold-{k}", "seed": config.seed + k}
            )
            task = ClassifierTask(fold_config, data)
            run = runs.create_run(fold_config.out)
            if show:
                say(
                    f"fold {k + 1}/{len(folds)}: training on {len(train_rows):,} images, "
                    f"predicting {len(held_out):,}"
                )
            result = fit(task, fold_config, run, quiet=not show)
            probabilities[held_out] = _predict(task, result, held_out, fold_config)
    method = (
        f"{config.folds}-fold {config.model} at {config.size} px, "
        f"{plural(config.epochs, 'epoch')} per fold"
    )
    return list(cached.rels), labels, probabilities, method, cached.images


def _predict(task, result, rows: np.ndarray, config: ClassifierConfig) -> np.ndarray:
    """Softmax probabilities of ``rows`` (mirror-averaged when the task uses test-time flips)."""
    import torch

    from artstyle.train.loop import eval_batch_size
    from artstyle.train.tasks.classifier import tta_averaged

    fabric, model = result.fabric, result.model
    batch = eval_batch_size(config.eval_batch_size, fabric.device)
    model.eval()
    chunks = []
    with torch.no_grad(), fabric.autocast():
        for start in range(0, len(rows), batch):
            x, _ = task.make_batch(rows[start : start + batch], "val", None)
            p = model(x).float().softmax(dim=1)  # (B, C, H, W) -> (B, K)
            if task.tta:
                p = tta_averaged(model, x, p, task.config.tta_crop)
            chunks.append(p.double().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, task.n_classes))


def _from_features(config: LabelIssuesConfig, classes: list[str]):
    """The run's features of every training image -> cross-validated logistic regression."""
    from artstyle.analysis.embed import embed_run
    from artstyle.threads import use_threads

    use_threads(config.threads)
    table = embed_run(
        config.features,
        data=config.data,
        split="train",
        batch_size=config.eval_batch_size or 256,
        device="cpu" if config.accelerator == "cpu" else "auto",
        cache_dir=config.cache_dir,
        workers=config.workers,
        progress=config.progress,
    )
    if table.kind != "classifier":
        raise ArtstyleError(
            f"--features {config.features} is a {table.kind} run; pass a classifier run"
        )
    if list(table.classes) != classes:
        raise ArtstyleError(
            f"--features {config.features}: its data has other styles than {config.data}"
        )
    labels = table.labels
    issues_lib.check_labels(labels, classes, config.folds)
    if not np.isfinite(table.vectors).all():
        raise ArtstyleError(
            f"--features {config.features}: its features hold NaN or infinite values (a run "
            "whose training diverged?); pass another classifier run or leave --features out"
        )
    probabilities = issues_lib.feature_probabilities(
        table.vectors,
        labels,
        len(classes),
        n_folds=config.folds,
        seed=config.seed,
        n_jobs=config.threads,
    )
    method = f"{config.folds}-fold logistic regression on the features of {absolute_path(config.features)}"
    return list(table.rels), labels, probabilities, method, None


# ---------------------------------------------------------------- the sheet


def _sheet_images(
    index, rows: list[dict[str, Any]], cached_images: np.ndarray | None, rels: list[str]
) -> np.ndarray:
    """The flagged images at SHEET_SIDE px, whole (letterboxed), decoded afresh (a few files);
    the cached row, or grey, for one that no longer decodes."""
    from artstyle.data.images import ImageError, decode_item

    items = {item.rel: item for item in index.split("train")}
    position = {rel: i for i, rel in enumerate(rels)}
    images = np.full((len(rows), SHEET_SIDE, SHEET_SIDE, 3), 128, dtype=np.uint8)
    for k, row in enumerate(rows):
        try:
            images[k] = decode_item(items[row["file"]], SHEET_SIDE, "letterbox")
        except (ImageError, KeyError):
            if cached_images is not None and row["file"] in position:
                small = np.asarray(cached_images[position[row["file"]]])
                repeat = max(1, SHEET_SIDE // small.shape[0])
                big = small.repeat(repeat, axis=0).repeat(repeat, axis=1)[:SHEET_SIDE, :SHEET_SIDE]
                images[k, : big.shape[0], : big.shape[1]] = big
    return images


def _write_sheet(
    path: Path, rows: list[dict[str, Any]], images: np.ndarray, summary: dict[str, Any]
) -> None:
    from artstyle.analysis import plots

    title = (
        f"top {len(rows)} of {summary['n_flagged']} label issues: given style (its probability) "
        f"-> suggested style (its probability); {summary['method']}"
    )
    plots.save_figure(plots.label_issues_sheet(images, rows, title=title), path)


def _relative_to(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(absolute_path(path))
