"""Config precedence and refusal of bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from artstyle.cli import parse_overrides
from artstyle.config import ClassifierConfig, TrainConfig, config_to_yaml, load_config
from artstyle.errors import ArtstyleError


def test_defaults_file_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("epochs = 7\nlr = 0.1\nsize = 32\n")
    config = load_config(TrainConfig, toml, {"epochs": "9"})
    assert (config.epochs, config.lr, config.size, config.batch_size) == (9, 0.1, 32, 128)
    yml = tmp_path / "c.yaml"
    yml.write_text("schedule: cosine\n")
    assert load_config(TrainConfig, yml).schedule == "cosine"
    assert "epochs: 9" in config_to_yaml(config, {"version": "x"})


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"epocs": "3"}, ["unknown key 'epocs'", "epochs"]),
        ({"epochs": "many"}, ["key 'epochs'", "integer"]),
        ({"epochs": "0"}, ["key 'epochs'", "greater than or equal to 1"]),
        ({"schedule": "linear"}, ["key 'schedule'", "onecycle", "cosine"]),
        ({"seed": "-1"}, ["key 'seed'", "greater than or equal to 0"]),  # numpy refuses it later
    ],
)
def test_bad_values_name_the_key(overrides: dict, words: list[str]) -> None:
    with pytest.raises(ArtstyleError) as info:
        load_config(TrainConfig, None, overrides)
    for word in words:
        assert word in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ArtstyleError, match="not found"):
        load_config(TrainConfig, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(ArtstyleError, match="not valid"):
        load_config(TrainConfig, bad)
    wrong = tmp_path / "c.ini"
    wrong.write_text("x")
    with pytest.raises(ArtstyleError, match=r"\.toml"):
        load_config(TrainConfig, wrong)


def test_parse_overrides() -> None:
    assert parse_overrides(["--epochs", "3", "--label-smoothing=0.1", "--ema"]) == {
        "epochs": "3",
        "label_smoothing": "0.1",
        "ema": "true",
    }
    with pytest.raises(ArtstyleError, match="unexpected argument"):
        parse_overrides(["stray"])


def test_effective_lr_follows_the_global_batch() -> None:
    from artstyle.config import AutoencoderConfig, ClassifierConfig, effective_lr

    base = ClassifierConfig(lr=0.002)
    b = base.batch_size
    assert effective_lr(base) == pytest.approx(0.002)  # the tuned batch: unchanged
    assert effective_lr(ClassifierConfig(lr=0.002, batch_size=4 * b)) == pytest.approx(0.004)
    # two processes of 2b are one global batch of 4b
    assert effective_lr(
        ClassifierConfig(lr=0.002, batch_size=2 * b), world_size=2
    ) == pytest.approx(0.004)
    assert effective_lr(
        ClassifierConfig(lr=0.002, batch_size=4 * b, lr_scaling="linear")
    ) == pytest.approx(0.008)
    assert effective_lr(
        ClassifierConfig(lr=0.002, batch_size=4 * b, lr_scaling="none")
    ) == pytest.approx(0.002)
    # each command's own default batch is its reference
    ae = AutoencoderConfig()
    assert effective_lr(ae) == pytest.approx(ae.lr)
    assert effective_lr(AutoencoderConfig(batch_size=ae.batch_size * 4)) == pytest.approx(2 * ae.lr)


def test_a_runs_own_config_yaml_is_a_config_file_for_its_task(tmp_path):
    from artstyle.train import runs

    run = runs.create_run(tmp_path / "run")
    runs.write_config(run, ClassifierConfig(seed=7, epochs=5), task="classifier")
    again = load_config(
        ClassifierConfig, run.config_path, {"out": tmp_path / "again"}, task="classifier"
    )
    assert (again.seed, again.epochs, again.out) == (7, 5, tmp_path / "again")
    with pytest.raises(
        ArtstyleError, match="belongs to a run of task 'classifier', not 'stylizer'"
    ):
        load_config(ClassifierConfig, run.config_path, task="stylizer")


def test_unknown_keys_are_named_with_the_allowed_ones_listed_once(tmp_path):
    with pytest.raises(ArtstyleError) as info:
        load_config(ClassifierConfig, overrides={"epocs": 3, "sed": 1})
    message = str(info.value)
    assert "unknown keys 'epocs', 'sed' (allowed: " in message
    assert message.count("allowed:") == 1
