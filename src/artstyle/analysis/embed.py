"""One vector per image: raw pixels, an autoencoder's latent, or a classifier's features.

The three representations that ``artstyle cluster`` and
``compare-representations`` put side by side:

* ``pixels``: the cached image area-averaged down to ``pixel_side`` x
  ``pixel_side`` x 3 values in [0, 1], the baseline that knows nothing;
* ``autoencoder``: ``model.encode(x)``, the compressed code learnt to
  reconstruct the image;
* ``classifier``: ``model.forward_features(x)``, the pooled penultimate layer
  learnt to tell styles apart.

Which one a run gives is read from its ``model.json`` (the architecture's
kind). Tables are stored as ``.npz`` files that load with
``np.load(allow_pickle=False)``: strings are fixed-width unicode arrays, never
pickled objects.

    artstyle embed runs/ae --data DATA --split test --out ae_test.npz
    artstyle embed pixels --data DATA --out pixels_test.npz
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from artstyle.config import absolute_path
from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path

if TYPE_CHECKING:
    from artstyle.data.cache import CacheOptions

KINDS = ("pixels", "autoencoder", "classifier")
FORMAT_VERSION = 1


@dataclass
class Embeddings:
    """A table of image vectors and what each row is."""

    vectors: np.ndarray  # float32 (N, D)
    rels: list[str]  # identity of each image: path relative to its split root
    styles: list[str]
    artists: list[str | None]
    classes: list[str]  # the class map (sorted training styles); labels index it
    kind: str  # "pixels" | "autoencoder" | "classifier"
    source: str  # the run folder, or "pixels"
    data: str | None = None  # the data folder the images came from
    split: str = "test"
    image_size: int = 64  # side of the cached images the vectors were made from
    resize: str = "crop"
    test_fraction: float | None = None
    split_seed: int = 0  # seed of the held-out split when the data has no test folder

    def __post_init__(self) -> None:
        shape = np.shape(self.vectors)
        if len(shape) != 2 or shape[1] < 1:
            raise ArtstyleError(
                f"{self.source}: vectors must be a table of images x values, got shape "
                f"{tuple(shape)}; flatten each image's vector to one row (N, D) first"
            )
        n = len(self.vectors)
        if not (len(self.rels) == len(self.styles) == len(self.artists) == n):
            raise ValueError(
                f"{n} vectors but {len(self.rels)} rels, {len(self.styles)} styles, {len(self.artists)} artists"
            )

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 index of each row's style in ``classes``."""
        position = {name: i for i, name in enumerate(self.classes)}
        unknown = sorted({s for s in self.styles if s not in position})
        if unknown:
            raise ArtstyleError(
                f"styles {', '.join(unknown)} are not in the class map {self.classes}"
            )
        return np.array([position[s] for s in self.styles], dtype=np.int64)

    def subset(self, index: np.ndarray) -> Embeddings:
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            vectors=self.vectors[index],
            rels=[self.rels[i] for i in index],
            styles=[self.styles[i] for i in index],
            artists=[self.artists[i] for i in index],
        )


# ---------------------------------------------------------------- .npz files


def save_embeddings(embeddings: Embeddings, path: str | os.PathLike) -> Path:
    """Write the table as ``.npz`` (atomic); strings as fixed-width unicode, no pickled objects."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ArtstyleError(f"embedding file {path} must end in .npz")

    def text(values: list[str]) -> np.ndarray:
        # np.array of str gives dtype '<U{longest}'; the empty-list case needs an explicit dtype
        return np.array(values, dtype=str) if values else np.zeros(0, dtype="<U1")

    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "vectors": np.ascontiguousarray(embeddings.vectors, dtype=np.float32),
        "rels": text(embeddings.rels),
        "styles": text(embeddings.styles),
        "artists": text(["" if a is None else a for a in embeddings.artists]),
        "classes": text(embeddings.classes),
        "kind": np.array(embeddings.kind),
        "source": np.array(embeddings.source),
        "data": np.array(embeddings.data or ""),
        "split": np.array(embeddings.split),
        "image_size": np.array(embeddings.image_size),
        "resize": np.array(embeddings.resize),
        "test_fraction": np.array(
            np.nan if embeddings.test_fraction is None else embeddings.test_fraction
        ),
        "split_seed": np.array(embeddings.split_seed),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def load_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read a table written by :func:`save_embeddings` (``allow_pickle=False``: nothing runs)."""
    path = Path(path)
    if not path.is_file():
        raise ArtstyleError(
            f"embedding file {path} not found; make one with: artstyle embed RUN --data DATA --out {path}"
        )
    if not zipfile.is_zipfile(path):
        raise ArtstyleError(
            f"{path} is not a readable .npz file; re-create it with: artstyle embed RUN --data DATA --out {path}"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [
                key
                for key in ("vectors", "rels", "styles", "artists", "classes", "kind")
                if key not in npz.files
            ]
            if missing:
                raise ArtstyleError(
                    f"{path} is not an artstyle embedding file (missing {', '.join(missing)})"
                )
            test_fraction = (
                float(npz["test_fraction"]) if "test_fraction" in npz.files else float("nan")
            )
            return Embeddings(
                vectors=npz["vectors"].astype(np.float32, copy=False),
                rels=[str(v) for v in npz["rels"]],
                styles=[str(v) for v in npz["styles"]],
                artists=[str(v) or None for v in npz["artists"]],
                classes=[str(v) for v in npz["classes"]],
                kind=str(npz["kind"]),
                source=str(npz["source"]) if "source" in npz.files else str(path),
                data=(str(npz["data"]) or None) if "data" in npz.files else None,
                split=str(npz["split"]) if "split" in npz.files else "test",
                image_size=int(npz["image_size"]) if "image_size" in npz.files else 64,
                resize=str(npz["resize"]) if "resize" in npz.files else "crop",
                test_fraction=None if np.isnan(test_fraction) else test_fraction,
                split_seed=int(npz["split_seed"]) if "split_seed" in npz.files else 0,
            )
    except ValueError as exc:  # object arrays refused by allow_pickle=False, or a corrupt table
        reason = (
            "it holds pickled objects, which are never loaded" if "pickle" in str(exc) else str(exc)
        )
        raise ArtstyleError(
            f"cannot read {path}: {reason}; re-create it with artstyle embed"
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArtstyleError(f"{path} is not a readable .npz file ({exc})") from exc


# ---------------------------------------------------------------- vectors


def pixel_vectors(images: np.ndarray, *, side: int = 16, batch_size: int = 1024) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, side*side*3) in [0, 1], by area averaging."""
    import torch
    import torch.nn.functional as F

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, S, S, 3), got {images.shape}")
    if side > images.shape[1]:
        raise ArtstyleError(
            f"--pixel-side {side} is larger than the cached images ({images.shape[1]} px)"
        )
    out = np.empty((len(images), side * side * 3), dtype=np.float32)
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(
            np.array(images[start : start + batch_size])
        )  # a writable copy of the memmap rows
        x = chunk.permute(0, 3, 1, 2).float() / 255.0  # (B, S, S, 3) -> (B, 3, S, S)
        x = F.adaptive_avg_pool2d(
            x, side
        )  # -> (B, 3, side, side): mean over each block, no aliasing
        out[start : start + len(chunk)] = x.flatten(1).numpy()
    return out


def model_kind(model) -> str:
    """'autoencoder' when the model has ``encode``, 'classifier' when it has ``forward_features``."""
    if hasattr(model, "encode"):
        return "autoencoder"
    if hasattr(model, "forward_features"):
        return "classifier"
    raise ArtstyleError(
        f"{type(model).__name__} has neither encode nor forward_features; it gives no embedding"
    )


def model_vectors(
    model, images: np.ndarray, *, batch_size: int = 256, device: Any = "cpu"
) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, D): the autoencoder's latent or the classifier's features.

    Images are normalised exactly as in training (:func:`artstyle.data.batches.normalize`).
    """
    import torch

    from artstyle.data.batches import normalize

    kind = model_kind(model)
    forward = model.encode if kind == "autoencoder" else model.forward_features
    model = model.to(device).eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.array(images[start : start + batch_size])).to(
                device
            )  # a writable copy of the rows
            chunks.append(
                forward(normalize(x)).float().cpu().numpy()
            )  # (B, S, S, 3) uint8 -> (B, D)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


# ---------------------------------------------------------------- from data folders and runs


def _load_split(
    data,
    split: str,
    size: int,
    test_fraction: float | None,
    split_seed: int,
    **options: Unpack[CacheOptions],
):
    from artstyle.data.cache import load_split
    from artstyle.data.scan import scan

    index = scan(data, test_fraction=test_fraction, seed=split_seed)
    if not index.split(split):
        hint = " (pass --test-fraction to hold some out)" if split == "test" else ""
        raise ArtstyleError(f"{data} has no {split} images{hint}")
    return index, load_split(index, split, size=size, **options)


def _embed_split(
    data,
    vectors_of: Callable[[Any, Any], tuple[np.ndarray, str]],
    *,
    source: str,
    split: str,
    size: int,
    resize: str,
    test_fraction: float | None,
    split_seed: int,
    **options: Unpack[CacheOptions],
) -> Embeddings:
    """The table of one split of ``data``: ``vectors_of(index, cached)`` gives its vectors and kind."""
    index, cached = _load_split(
        data, split, size, test_fraction, split_seed, resize=resize, **options
    )
    vectors, kind = vectors_of(index, cached)
    return Embeddings(
        vectors=vectors,
        rels=list(cached.rels),
        styles=list(cached.styles),
        artists=list(cached.artists),
        classes=list(index.classes),
        kind=kind,
        source=source,
        data=str(absolute_path(data)),
        split=split,
        image_size=size,
        resize=resize,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )


def embed_pixels(
    data: str | os.PathLike,
    *,
    split: str = "test",
    size: int = 64,
    side: int = 16,
    resize: str = "crop",
    test_fraction: float | None = None,
    split_seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Embeddings:
    """The raw-pixel baseline: each image cached at ``size`` px, area-averaged to ``side`` px.

    ``test_fraction`` and ``split_seed`` hold out a test split when the data has none.
    """
    return _embed_split(
        data,
        lambda index, cached: (pixel_vectors(cached.images, side=side), "pixels"),
        source="pixels",
        split=split,
        size=size,
        resize=resize,
        test_fraction=test_fraction,
        split_seed=split_seed,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )


def embed_run(
    run_path: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str = "test",
    batch_size: int = 256,
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Embeddings:
    """Vectors from a trained run: its image size, resize mode and class map; the kind from model.json."""
    from artstyle.models import resolve_device
    from artstyle.train import runs

    run = runs.open_run(run_path)
    header = runs.read_config_header(run)
    spec = runs.read_model_spec(run)
    task = header.get("task") or spec.get("kind")
    if task not in (None, "autoencoder", "classifier"):
        raise ArtstyleError(
            f"{run.path} is a run of task {task!r}; embed an autoencoder or classifier run "
            "(or 'pixels' for the raw-pixel baseline)"
        )
    data = data if data is not None else header.get("data")
    if data is None:
        raise ArtstyleError(f"{run.path} does not record its data folder; pass --data DATA")

    def vectors_of(index, cached) -> tuple[np.ndarray, str]:
        if task != "autoencoder":  # an autoencoder has no classes; vectors are kept by name
            runs.check_classes(
                runs.read_classes(run),
                index.classes,
                run_path=run.path,
                data_path=data,
                subset=True,
            )
        model = runs.load_model(run)
        kind = model_kind(model)
        if spec.get("kind") not in (None, kind):
            raise ArtstyleError(
                f"{run.model_json_path} says kind {spec.get('kind')!r} but the model gives {kind} vectors"
            )
        vectors = model_vectors(
            model, cached.images, batch_size=batch_size, device=resolve_device(device)
        )
        return vectors, kind

    return _embed_split(
        data,
        vectors_of,
        source=str(run.path),
        split=split,
        size=int(header.get("size", 64)),
        resize=str(header.get("resize", "crop")),
        test_fraction=header.get("test_fraction"),
        # the run's held-out split, when the data has no test folder
        split_seed=int(header.get("seed", 0)),
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )


def embed(
    source: str | os.PathLike,
    config,
    *,
    log=None,
    test_fraction: float | None = None,
    split_seed: int = 0,
) -> Embeddings:
    """``source`` = ``"pixels"`` or a run folder; ``config`` a :class:`~artstyle.config.ClusterConfig`.

    Raw pixels hold out ``test_fraction`` (default ``config.test_fraction``)
    with ``split_seed`` when the data has no test folder; a run holds out what
    it trained with.
    """
    if str(source) == "pixels":
        if config.data is None:
            raise ArtstyleError("embedding raw pixels needs --data DATA")
        return embed_pixels(
            config.data,
            split=config.split,
            size=config.pixel_size,
            side=config.pixel_side,
            test_fraction=config.test_fraction if test_fraction is None else test_fraction,
            split_seed=split_seed,
            cache_dir=config.cache_dir,
            workers=config.workers,
            progress=config.progress,
        )
    return embed_run(
        source,
        data=config.data,
        split=config.split,
        batch_size=config.batch_size,
        device=config.device,
        cache_dir=config.cache_dir,
        workers=config.workers,
        progress=config.progress,
    )


def load_or_embed(source: str | os.PathLike, config) -> Embeddings:
    """An ``.npz`` table as it is, or fresh vectors from ``pixels`` / a run folder."""
    if str(source).endswith(".npz"):
        table = load_embeddings(source)
        if (
            config.data is not None
            and table.data is not None
            and absolute_path(config.data) != absolute_path(table.data)
        ):
            raise ArtstyleError(
                f"{source} was made from {table.data}, not --data {config.data}; embed that data again"
            )
        if "split" in config.model_fields_set and config.split != table.split:
            raise ArtstyleError(
                f"{source} holds the {table.split} split, not --split {config.split}; "
                f"embed that split with: artstyle embed RUN --split {config.split}"
            )
        return table
    if str(source) != "pixels" and Path(source).is_file():
        raise ArtstyleError(f"{source} is neither a run folder nor an .npz embedding file")
    return embed(source, config)


def images_for(
    embeddings: Embeddings,
    *,
    data: str | os.PathLike | None = None,
    cache_dir=None,
    workers=None,
    progress: bool = True,
) -> np.ndarray | None:
    """The cached uint8 images of the table's rows (found by rel), or None when the data is not at hand."""
    data = data if data is not None else embeddings.data
    if data is None or not Path(data).exists():
        return None
    _, cached = _load_split(
        data,
        embeddings.split,
        embeddings.image_size,
        embeddings.test_fraction,
        embeddings.split_seed,
        resize=embeddings.resize,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )
    position = {rel: i for i, rel in enumerate(cached.rels)}
    missing = [rel for rel in embeddings.rels if rel not in position]
    if missing:
        raise ArtstyleError(
            f"{len(missing)} embedded images (e.g. {missing[0]}) are not in the {embeddings.split} split of {data}; "
            "the data changed since embedding: embed it again"
        )
    return np.asarray(cached.images[[position[rel] for rel in embeddings.rels]])
