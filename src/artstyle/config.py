"""Typed configuration: defaults in code < a config file (TOML or YAML) < ``--key value``.

Every task has one pydantic model here. Unknown keys, wrong types and
out-of-range values are refused with the key's name and what is allowed.

    artstyle train classifier --data DATA --out RUN --config my.toml --epochs 20
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from artstyle.errors import ArtstyleError

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Refuses unknown keys; validates on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class DataConfig(StrictModel):
    """Where the images come from and how they are cached."""

    data: Path | None = Field(None, description="data folder, ArtGAN release or parquet export")
    size: int = Field(64, ge=16, le=1024, description="image side in pixels after resizing")
    resize: Literal["crop", "letterbox"] = "crop"
    test_fraction: float | None = Field(None, gt=0.0, lt=1.0, description="held-out share when the data has no test split")
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="stratified validation share carved from train")
    cache_dir: Path | None = None
    workers: int | None = Field(None, ge=1, description="decode processes for the cache (default: all cores)")


class DeviceConfig(StrictModel):
    """Where training runs; the same keys drive one CPU, one GPU or DDP on many."""

    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = "auto"
    devices: int = Field(1, ge=1, description="processes/GPUs per node (DDP when > 1)")
    num_nodes: int = Field(1, ge=1)
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = Field(
        "auto", description="auto: bf16-mixed on GPUs that support it, else 32-true"
    )
    compile: bool = Field(False, description="torch.compile the model (GPU speed-up)")


class TrainConfig(DataConfig, DeviceConfig):
    """Keys every training command shares."""

    out: Path | None = None
    seed: int = 0
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_epochs: float = Field(1.0, ge=0.0)
    max_minutes: float | None = Field(None, gt=0.0, description="stop training after this wall-clock budget")
    progress: bool = True


def load_config(model: type[T], file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Build ``model`` from its defaults, then ``file`` (TOML or YAML), then ``overrides``.

    Raises ArtstyleError that names every offending key and what it accepts.
    """
    values: dict[str, Any] = {}
    source = "defaults"
    if file is not None:
        values.update(read_config_file(file))
        source = str(file)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            source = f"{file} and the command line" if file else "the command line"
    return validate_config(model, values, source)


def validate_config(model: type[T], values: dict[str, Any], source: str = "the config") -> T:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ArtstyleError(explain_validation(model, exc, source)) from exc


def explain_validation(model: type[BaseModel], exc: ValidationError, source: str) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(config)"
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields))
            problems.append(f"unknown key '{key}' (allowed: {allowed})")
        else:
            problems.append(f"key '{key}': {error['msg']} (got {error.get('input')!r})")
    return f"bad configuration from {source}: " + "; ".join(problems)


def read_config_file(file: str | os.PathLike) -> dict[str, Any]:
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtstyleError(f"config file {path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtstyleError(f"cannot read config file {path}: {exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ArtstyleError(f"config file {path} must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ArtstyleError(f"config file {path} is not valid: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ArtstyleError(f"config file {path} must hold a mapping of keys to values")
    return data


def config_to_yaml(config: BaseModel, extra: dict[str, Any] | None = None) -> str:
    """The resolved config (every default filled in) as YAML, with ``extra`` keys first."""
    data = dict(extra or {})
    data.update(config.model_dump(mode="json"))
    return yaml.safe_dump(data, sort_keys=False)


# ---------------------------------------------------------------- task configs
# Each task's config subclasses TrainConfig (or StrictModel) below.
