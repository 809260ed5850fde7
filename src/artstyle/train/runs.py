"""Run folders: everything a training run leaves behind, readable by people and programs.

::

    RUN/
      config.yaml             resolved config (every default filled in) + version + task + seed
      classes.json            the sorted style names of the training split
      model.safetensors       weights; model.json: architecture name + constructor arguments
      checkpoints/last.ckpt   resumable state (model, optimizer, scheduler, step, RNG, config)
      metrics.json            final numbers; history.csv one row per epoch
      figures/*.png

Every file is written atomically (temporary name, then rename), so a killed
run leaves the previous good file. Checkpoints are read with
``torch.load(weights_only=True)`` only: loading never runs code.

    python -c "from artstyle.train.runs import open_run, load_model; print(load_model(open_run('RUN')))"
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pickle
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from artstyle.config import (
    ADDED_KEYS_AS_BEFORE,
    TrainConfig,
    config_to_yaml,
    read_config_file,
    validate_config,
)
from artstyle.data.dataset import ClassifierData, load_classifier_data
from artstyle.errors import ArtstyleError
from artstyle.io import atomic_path, read_json, write_json, write_text
from artstyle.train.engine import is_launched_child

CONFIG_FILE = "config.yaml"
CLASSES_FILE = "classes.json"
WEIGHTS_FILE = "model.safetensors"
# a classifier's statistics expert (artstyle.models.statistics), beside the network's weights
STATISTICS_FILE = "statistics.safetensors"
MODEL_FILE = "model.json"
CHECKPOINT_FILE = "checkpoints/last.ckpt"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
FIGURES_DIR = "figures"
LOCK_FILE = ".lock"

try:  # POSIX; elsewhere two commands writing one run folder are not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def package_version() -> str:
    try:
        return metadata.version("artstyle")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


class _InRun:
    """A file or folder of the run, read as ``run.<name>_path``: the run's path joined with it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run: RunFolder | None, owner: type | None = None) -> Any:
        return self if run is None else run.path / self.name


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run; creating the object touches nothing on disk."""

    path: Path

    config_path = _InRun(CONFIG_FILE)
    classes_path = _InRun(CLASSES_FILE)
    weights_path = _InRun(WEIGHTS_FILE)
    statistics_path = _InRun(STATISTICS_FILE)
    model_json_path = _InRun(MODEL_FILE)
    checkpoint_path = _InRun(CHECKPOINT_FILE)
    metrics_path = _InRun(METRICS_FILE)
    history_path = _InRun(HISTORY_FILE)
    figures_dir = _InRun(FIGURES_DIR)

    def split_metrics_path(self, split: str) -> Path:
        """metrics.json for the test split; metrics_<split>.json for another (train, val), so
        scoring those never replaces the held-out numbers."""
        return self.metrics_path if split == "test" else self.path / f"metrics_{split}.json"

    def figure_path(self, name: str) -> Path:
        return self.figures_dir / name


# ---------------------------------------------------------------- creating and opening


def check_new_run(path: str | os.PathLike) -> RunFolder:
    """Refuse a folder that already holds a run; touches nothing (safe to call on every DDP rank)."""
    run = RunFolder(Path(path).expanduser())
    if run.path.exists() and not run.path.is_dir():
        raise ArtstyleError(f"--out {run.path} is a file; give a folder for the run")
    if run.config_path.exists():
        raise ArtstyleError(
            f"{run.path} already holds a run ({CONFIG_FILE} exists); pass --resume {run.path} to continue it, "
            "or choose another --out"
        )
    return run


def create_run(path: str | os.PathLike, *, resume: bool = False) -> RunFolder:
    """The run folder at ``path``, created with its ``figures/`` and ``checkpoints/``.

    A folder that already has a ``config.yaml`` is refused unless ``resume``.
    This process then holds the folder's lock until it exits, so a second
    command writing into the same folder at the same time is refused.
    """
    run = open_run(path) if resume else check_new_run(path)
    (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
    run.figures_dir.mkdir(parents=True, exist_ok=True)
    _lock_run(run)
    if not resume:
        # another command may have written config.yaml before this one held the lock
        check_new_run(run.path)
    _remove_orphans(run)
    return run


# Open lock files of the run folders this process writes, by resolved path. A flock belongs to
# the open file, and the kernel drops it when the process dies (SIGKILL included): a killed run
# never leaves a stale lock behind.
_RUN_LOCKS: dict[Path, Any] = {}


def _lock_run(run: RunFolder) -> None:
    if fcntl is None:  # pragma: no cover - Windows: no advisory locks, no protection
        return
    key = run.path.resolve()
    if key in _RUN_LOCKS:  # this process holds it already (a resume after a stop, in one session)
        return
    try:
        handle = open(run.path / LOCK_FILE, "a+b")
    except OSError as exc:
        raise ArtstyleError(
            f"cannot write in the run folder {run.path} ({exc.strerror}); choose another --out"
        ) from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise ArtstyleError(
            f"{run.path} is in use by another artstyle command that is writing a run there; "
            "wait for it to finish (then --resume it if it stopped), or choose another --out"
        ) from exc
    _RUN_LOCKS[key] = handle


def _remove_orphans(run: RunFolder) -> None:
    """Delete the temporary files (and folders) of writes that a killed process left (``.<name>.*.tmp``).

    Called with the run's lock held, so no live writer owns them.
    """
    for folder in (run.path, run.path / "checkpoints", run.figures_dir):
        for orphan in folder.glob(".*.tmp"):
            if orphan.is_dir() and not orphan.is_symlink():
                shutil.rmtree(orphan, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    orphan.unlink()


def open_run(path: str | os.PathLike) -> RunFolder:
    """An existing run folder (it must hold ``config.yaml``)."""
    run = RunFolder(Path(path).expanduser())
    if run.path.is_file():
        hint = (
            "; an embeddings file (.npz) goes to `artstyle cluster`"
            if run.path.suffix == ".npz"
            else ""
        )
        raise ArtstyleError(
            f"{run.path} is a file, not a run folder; pass the folder a training command wrote{hint}"
        )
    if not run.path.is_dir():
        raise ArtstyleError(f"run folder {run.path} does not exist")
    if not run.config_path.is_file():
        raise ArtstyleError(
            f"{run.path} is not a run folder (no {CONFIG_FILE}); pass the folder a training command wrote "
            "(a command stopped before it wrote one had not started training: run it again)"
        )
    return run


# ---------------------------------------------------------------- config


def write_config(run: RunFolder, config: BaseModel, *, task: str) -> None:
    """config.yaml: version, task, then every key of the resolved config (seed included)."""
    write_text(
        run.config_path, config_to_yaml(config, {"version": package_version(), "task": task})
    )


def read_config_header(run: RunFolder) -> dict[str, Any]:
    """The raw mapping in config.yaml (version and task included)."""
    return read_config_file(run.config_path)


def read_config(run: RunFolder, model: type[BaseModel], *, task: str | None = None) -> Any:
    """The run's config as ``model``; ``task`` checks that the run is of that kind."""
    values = read_config_header(run)
    version = values.pop("version", None)
    found_task = values.pop("task", None)
    if task is not None and found_task not in (None, task):
        raise ArtstyleError(f"{run.path} is a run of task {found_task!r}, not {task!r}")
    del version  # recorded for people; configs of other versions load while their keys validate
    for key, before in ADDED_KEYS_AS_BEFORE.items():
        if key in model.model_fields and key not in values:
            values[key] = before  # a run written before the key existed did what this value does
    return validate_config(model, values, str(run.config_path))


def run_task(run: RunFolder) -> str | None:
    return read_config_header(run).get("task")


# ---------------------------------------------------------------- class map


def write_classes(run: RunFolder, classes: Sequence[str]) -> None:
    write_json(run.classes_path, list(classes))


def read_classes(run: RunFolder) -> list[str]:
    classes = read_json(run.classes_path)
    if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
        raise ArtstyleError(f"{run.classes_path} must hold a JSON list of style names")
    return classes


def style_differences(
    run_classes: Sequence[str], data_classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(styles only the data has, styles only the run has), each sorted; both empty when the
    two lists hold the same styles, perhaps in another order."""
    return (
        sorted(set(data_classes) - set(run_classes)),
        sorted(set(run_classes) - set(data_classes)),
    )


def check_classes(
    run_classes: Sequence[str],
    data_classes: Sequence[str],
    *,
    run_path: Path,
    data_path: Any = None,
    subset: bool = False,
) -> None:
    """Refuse data whose class map differs from the run's, naming the styles that differ.

    Class indices are positions in the sorted style list: a data set with one
    style more or less shifts every index after it (the course starter's 2 %
    accuracy came from exactly that). With ``subset``, data whose styles are all
    the run's passes: the caller reads it by style name (:func:`relabel`), not by index.
    """
    if list(run_classes) == list(data_classes):
        return
    only_data, only_run = style_differences(run_classes, data_classes)
    if subset and not only_data:
        return
    parts = []
    if only_data:
        parts.append(f"styles not in the run: {', '.join(only_data)}")
    if only_run:
        parts.append(f"styles missing from the data: {', '.join(only_run)}")
    if not parts:
        parts.append("same styles in a different order")
    where = f" ({data_path})" if data_path is not None else ""
    raise ArtstyleError(
        f"the data's training styles{where} differ from {run_path / CLASSES_FILE}: {'; '.join(parts)}; "
        "use the data set the run was trained on"
        + (" or one whose styles are all among the run's" if subset else "")
    )


# ---------------------------------------------------------------- model weights


def save_model(run: RunFolder, model, state_dict: dict | None = None) -> None:
    """model.safetensors (``state_dict`` or the model's own) + model.json (name and arguments)."""
    from safetensors.torch import save

    from artstyle.models import model_spec

    state = state_dict if state_dict is not None else model.state_dict()
    # safetensors refuses shared or non-contiguous storage; copies keep the file self-contained
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in state.items()}
    # serialised in memory and written by Python: a full disk is then an OSError that
    # atomic_path reports in one line (safetensors' own writer raises SafetensorError)
    data = save(tensors, metadata={"architecture": model.architecture})
    # model.json first: a process killed between the two writes leaves "no weights yet",
    # never weights that nothing describes
    write_json(run.model_json_path, model_spec(model))
    with atomic_path(run.weights_path) as tmp:
        tmp.write_bytes(data)


def read_model_spec(run: RunFolder) -> dict[str, Any]:
    spec = read_json(run.model_json_path)
    if (
        not isinstance(spec, dict)
        or "architecture" not in spec
        or not isinstance(spec.get("args"), dict)
    ):
        raise ArtstyleError(
            f"{run.model_json_path} must hold {{'architecture': name, 'args': {{...}}}}"
        )
    return spec


def build_from_spec(spec: dict[str, Any]):
    """The model ``spec`` (model.json) describes. model.json holds every argument the model had
    when the run was written; an argument added to the architecture since takes its built-in
    default (the layout that run was trained with), not today's preset."""
    from artstyle.models import added_arguments, build_model

    if not all(isinstance(key, str) for key in spec["args"]):
        raise ArtstyleError(
            f"model.json arguments must be named by strings, got {sorted(map(str, spec['args']))}"
        )
    added = added_arguments(spec["architecture"], spec["args"])
    return build_model(spec["architecture"], **added, **spec["args"])


def load_state(model, state: dict, *, source: Path, check_only: bool = False) -> None:
    """Copy ``state`` into ``model``; missing, extra or mis-shaped tensors raise ArtstyleError.

    ``check_only`` compares names and shapes and copies nothing.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
        for key in sorted(set(own) & set(state))
        if tuple(state[key].shape) != tuple(own[key].shape)
    ]
    if missing or extra or mismatched:
        details = []
        if missing:
            details.append(
                f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")
            )
        if extra:
            details.append(
                f"unexpected {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else "")
            )
        if mismatched:
            details.append(
                f"shape {', '.join(mismatched[:3])}" + (" ..." if len(mismatched) > 3 else "")
            )
        raise ArtstyleError(
            f"weights in {source} do not fit architecture {getattr(model, 'architecture', type(model).__name__)}: "
            f"{'; '.join(details)}"
        )
    if not check_only:
        model.load_state_dict(state)


def read_weights(run: RunFolder) -> dict[str, Any]:
    """The tensors of the run's model.safetensors (no code runs); a damaged file is one
    ArtstyleError that names it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(run.weights_path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ArtstyleError(
            f"cannot read {run.weights_path}: {exc}; restore it from a copy, or delete it "
            "and resume or retrain the run to write it again"
        ) from exc


def _check_outputs_match_classes(run: RunFolder, spec: dict[str, Any]) -> None:
    """A model of N styles with a classes.json of M != N names would label its outputs with
    the wrong styles (or fail deep inside a command): files of two runs mixed in one folder."""
    outputs = spec["args"].get("num_classes", spec["args"].get("n_styles"))
    if not isinstance(outputs, int) or not run.classes_path.is_file():
        return
    classes = read_classes(run)
    if len(classes) != outputs:
        raise ArtstyleError(
            f"{run.model_json_path} is a model of {outputs} styles but {run.classes_path} names "
            f"{len(classes)}; the folder mixes files of different runs: restore model.json, "
            "model.safetensors and classes.json from one run"
        )


def load_model(run: RunFolder, *, device: Any = "cpu"):
    """The run's model rebuilt from model.json with the weights of model.safetensors, for inference.

    In eval mode, with every BatchNorm folded into the convolution before it
    (:func:`artstyle.models.fold_batchnorm`: the same outputs, 1.3-1.6x faster
    evaluation on a CPU), laid out channels_last.
    """
    import torch
    from safetensors import SafetensorError, safe_open

    from artstyle.models import fold_batchnorm

    spec = read_model_spec(run)
    if not run.weights_path.is_file():
        raise ArtstyleError(f"{run.weights_path} not found; the run has not saved weights yet")
    _check_outputs_match_classes(run, spec)
    # The shapes are compared on a model built on the meta device (no memory), so a model.json
    # asking for a huge network is refused before anything is allocated.
    with torch.device("meta"):
        skeleton = build_from_spec(spec)
    try:
        with safe_open(str(run.weights_path), framework="pt", device="cpu") as weights:
            shapes = {key: torch.Size(weights.get_slice(key).get_shape()) for key in weights.keys()}
    except (SafetensorError, OSError) as exc:
        raise ArtstyleError(f"cannot read {run.weights_path}: {exc}") from exc
    load_state(
        skeleton,
        {key: torch.empty(shape, device="meta") for key, shape in shapes.items()},
        source=run.weights_path,
        check_only=True,
    )
    model = build_from_spec(spec)
    state = read_weights(run)
    broken = [
        key
        for key, tensor in state.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if broken:
        raise ArtstyleError(
            f"{run.weights_path} holds NaN or infinite weights ({broken[0]}"
            + (f" and {len(broken) - 1} more" if len(broken) > 1 else "")
            + "); the file is damaged: restore it or retrain the run"
        )
    load_state(model, state, source=run.weights_path)
    fold_batchnorm(model)
    # channels_last as in training: faster convolutions on CPU and GPU, whatever the input's layout
    return model.to(device, memory_format=torch.channels_last).eval()


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """torch.save ``state`` (tensors, numbers, strings, lists, dicts) to a temporary file, then rename."""
    import torch

    # serialised in memory and written by Python: a full disk is then an OSError (reported by
    # atomic_path in one line), where torch.save's C++ zip writer turns it into a RuntimeError
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint read with ``weights_only=True``: anything but plain data is refused, nothing runs."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtstyleError(
            f"checkpoint {path} not found; the run saved none yet (it stops before its first step?)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise ArtstyleError(
            f"refused to load {path}: it holds objects other than plain tensors and numbers ({first}); "
            "only checkpoints written by artstyle can be loaded"
        ) from exc
    except Exception as exc:  # damaged bytes surface as RuntimeError, EOFError, ValueError, ...
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtstyleError(f"cannot read checkpoint {path}: {text}") from exc
    if not isinstance(state, dict):
        raise ArtstyleError(f"checkpoint {path} does not hold a mapping")
    return state


# ---------------------------------------------------------------- metrics and history


def write_metrics(run: RunFolder, metrics: dict[str, Any]) -> None:
    write_json(run.metrics_path, metrics)


def read_metrics(run: RunFolder, split: str = "test") -> dict[str, Any]:
    """The scores of ``split`` (:meth:`RunFolder.split_metrics_path`), refused by name when
    the file holds no JSON object."""
    path = run.split_metrics_path(split)
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise ArtstyleError(f"{path} does not hold a JSON object of metrics; delete or restore it")
    return metrics


def write_history(run: RunFolder, rows: Sequence[dict[str, Any]]) -> None:
    """history.csv: one row per epoch; the columns are every key seen, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in columns})
    write_text(run.history_path, buffer.getvalue())


def read_history(run: RunFolder) -> list[dict[str, Any]]:
    """history.csv rows with numbers parsed (empty cells become None)."""
    if not run.history_path.is_file():
        return []
    with open(run.history_path, newline="", encoding="utf-8") as handle:
        return [
            {key: _parse_cell(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _parse_cell(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


RunConfig = TypeVar("RunConfig", bound=TrainConfig)


def new_run_folder(config: TrainConfig) -> RunFolder:
    """The run folder ``config.out`` of a new training run, refused when it already holds a run.

    A DDP child re-runs the command after rank 0 has started writing the
    folder: only rank 0 checks it.
    """
    if config.out is None:
        raise ArtstyleError("no run folder given; pass --out RUN")
    if is_launched_child():
        return RunFolder(Path(config.out).expanduser())
    return check_new_run(config.out)


def resumed_config(
    run_path: str | os.PathLike,
    model: type[RunConfig],
    task: str,
    resumable: frozenset[str],
    overrides: dict[str, Any] | None,
) -> tuple[RunFolder, RunConfig]:
    """The run at ``run_path`` and its saved config with the ``resumable`` keys of ``overrides`` applied."""
    from artstyle.config import validate_config

    run = open_run(run_path)  # no checkpoint yet (killed in its first epoch): fit starts it over
    config = read_config(run, model, task=task)
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    refused = sorted(set(overrides) - resumable)
    if refused:
        raise ArtstyleError(
            f"--resume keeps the run's training settings; {', '.join(refused)} cannot change "
            f"(allowed: {', '.join(sorted(resumable))}); start a new run to change them"
        )
    return run, validate_config(model, {**config.model_dump(), **overrides}, "the command line")


def load_run_data(
    config: TrainConfig,
    *,
    quiet: bool,
    run: RunFolder | None = None,
    min_styles: int = 2,
    purpose: str = "a classifier",
) -> ClassifierData:
    """The images of ``config.data`` for training; checked against ``run``'s styles when resuming it."""
    data = load_classifier_data(
        config,
        progress=config.progress and not quiet and not is_launched_child(),
        min_styles=min_styles,
        purpose=purpose,
    )
    if run is not None:
        check_classes(read_classes(run), data.classes, run_path=run.path, data_path=config.data)
    return data
