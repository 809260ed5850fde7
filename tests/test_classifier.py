"""The classifier through the CLI: train, refuse, resume, evaluate, predict, compare-balance.

Tiny data (3 styles x 8 train images, 32 px, a width-8 network) and a few steps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from artstyle.cli import main
from artstyle.config import ClassifierConfig
from artstyle.data.dataset import ClassifierData, stratified_split
from artstyle.train import loop, runs
from artstyle.train.tasks.classifier import ClassifierTask
from conftest import FAST_CLASSIFIER as FAST
from conftest import classifier_args as _train_args
from conftest import interrupt_after_update, make_dataset, write_image

METRIC_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "majority_baseline_accuracy",
    "chance_accuracy",
    "per_class",
    "confusion_matrix",
    "n_test",
    "train_images_per_second",
    "styles_absent_from_test",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """One 2-epoch run shared by the read-only tests below: (data, run, cache)."""
    root = tmp_path_factory.mktemp("clf")
    data = make_dataset(
        root / "data",
        {
            "train": {"Baroque": 8, "Cubism": 8, "Rococo": 8},
            "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2},
        },
    )
    run, cache = root / "run", root / "cache"
    # resnet_tiny: after two epochs of three steps its outputs already vary with the image,
    # which the views tests below need (plain_cpu's stay near its bias that early)
    args = _train_args(data, run, cache, "--epochs", "2", "--seed", "3", "--model", "resnet_tiny")
    assert main(args) == 0
    return data, run, cache


def test_training_writes_every_run_file(trained) -> None:
    data, run, _ = trained
    for name in (
        "config.yaml",
        "classes.json",
        "model.safetensors",
        "model.json",
        "checkpoints/last.ckpt",
        "metrics.json",
        "history.csv",
        "figures/confusion_matrix.png",
        "figures/per_class.png",
        "figures/training_curves.png",
    ):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["task"] == "classifier" and config["seed"] == 3 and config["version"]
    assert (
        config["data"] == str(data) and config["size"] == 32 and config["balance"] == "logit-adjust"
    )
    assert json.loads((run / "classes.json").read_text()) == ["Baroque", "Cubism", "Rococo"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["n_test"] == 6 and metrics["styles_absent_from_test"] == []
    assert metrics["n_test_in_train"] == 0 and metrics["test_in_train"] == []
    assert metrics["majority_baseline_accuracy"] == pytest.approx(2 / 6)
    assert set(metrics["per_class"]["Cubism"]) == {"precision", "recall", "f1", "support"}
    assert np.asarray(metrics["confusion_matrix"]).sum() == 6
    assert metrics["train_images_per_second"] > 0
    history = runs.read_history(runs.open_run(run))
    # 24 train images, 1 per style to validation -> 21 -> 3 batches of 8 (the last has 5) per epoch
    assert [row["epoch"] for row in history] == [1, 2]
    assert [row["step"] for row in history] == [3, 6]
    assert metrics["n_train"] == 21 and metrics["n_val"] == 3


def test_test_images_copied_from_train_are_counted_named_and_warned_about(
    trained, tmp_path, capsys
) -> None:
    data, run, _ = trained
    leaky = tmp_path / "leaky"
    shutil.copytree(data, leaky)
    # a byte-identical copy under another name, and a copy one pixel off (not a pixel copy)
    shutil.copyfile(
        leaky / "train/Cubism/artist-cubism_work-003.jpg", leaky / "test/Cubism/copy.jpg"
    )
    pixels = np.asarray(Image.open(leaky / "train/Rococo/artist-rococo_work-001.jpg")).copy()
    pixels[16, 20] = 255 - pixels[16, 20]  # the centre, which every crop keeps
    Image.fromarray(pixels).save(leaky / "test/Rococo/almost.png")
    leaky_run = tmp_path / "run"
    capsys.readouterr()
    assert main(_train_args(leaky, leaky_run, tmp_path / "cache", "--epochs", "1")) == 0
    # the warning goes with the result line, on stdout (`> log.txt` keeps both)
    out = " ".join(capsys.readouterr().out.split())
    assert "1 of 8 test images equal a training image pixel for pixel" in out
    assert f"artstyle data audit {leaky}" in out
    metrics = json.loads((leaky_run / "metrics.json").read_text())
    assert metrics["n_test_in_train"] == 1 and metrics["test_in_train"] == ["Cubism/copy.jpg"]

    # evaluate keeps the figure for the run's own data and measures it for other data,
    # against the training split the run learned from
    assert main(["evaluate", str(leaky_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_test_in_train"] == 1
    assert main(["evaluate", str(leaky_run)]) == 0
    assert "1 of 8 test images equal a training image" in " ".join(capsys.readouterr().out.split())
    copied = shutil.copytree(run, tmp_path / "run-copy")  # the shared run stays as it is
    assert main(["evaluate", str(copied), "--data", str(leaky), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_test_in_train"] == 1
    assert main(["evaluate", str(leaky_run), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_test_in_train"] == 0


def test_existing_out_is_refused_without_resume(trained, capsys) -> None:
    data, run, cache = trained
    before = (run / "model.safetensors").read_bytes()
    assert main(_train_args(data, run, cache, "--epochs", "1")) == 2
    assert "--resume" in capsys.readouterr().err
    assert (run / "model.safetensors").read_bytes() == before


def test_evaluate_reproduces_the_training_metrics(trained, capsys) -> None:
    _, run, _ = trained
    written = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["confusion_matrix"] == written["confusion_matrix"]
    assert evaluated["balanced_accuracy"] == written["balanced_accuracy"]
    assert evaluated["train_images_per_second"] == written["train_images_per_second"]
    # what training recorded about itself (threads, the data it learned from, ...) stays
    assert set(written) <= set(evaluated)
    for key in ("threads", "data_fingerprint", "stopped", "epochs_run", "best_epoch"):
        assert evaluated[key] == written[key], key
    assert main(["evaluate", str(run), "--tta"]) == 0
    out = capsys.readouterr().out
    assert "balanced accuracy" in out and "Cubism" in out
    assert json.loads((run / "metrics.json").read_text())["tta"] is True
    assert main(["evaluate", str(run), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_test"] == 3


def test_evaluate_and_predict_follow_the_runs_tta_setting(trained, tmp_path, capsys) -> None:
    from artstyle.workflows.evaluate import predict

    _, shared, _ = trained
    run = shutil.copytree(shared, tmp_path / "clf [best]")  # brackets are text, not markup
    config = run / "config.yaml"
    text = config.read_text().replace("tta: false", "tta: true")
    config.write_text(text.replace("tta_crop: 1.0", "tta_crop: 0.75"))
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "clf [best] on test (12-view TTA: mirror, corner and centre crops of 0.75)" in said
    twelve_views = json.loads((run / "metrics.json").read_text())
    assert twelve_views["tta"] is True and twelve_views["tta_crop"] == 0.75
    # a run written before tta_crop existed averaged the mirror only, and still does
    old_run = shutil.copytree(run, tmp_path / "older")
    old_config = old_run / "config.yaml"
    lines = old_config.read_text().splitlines(keepends=True)
    old_config.write_text("".join(line for line in lines if not line.startswith("tta_crop:")))
    assert main(["evaluate", str(old_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta_crop"] == 1.0
    assert main(["evaluate", str(old_run)]) == 0
    assert "older on test (mirror TTA)" in " ".join(capsys.readouterr().out.split())
    # the validation carve (scored after every epoch while training) averages the mirror only
    assert main(["evaluate", str(run), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta_crop"] == 1.0
    assert main(["evaluate", str(run), "--no-tta", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] is False
    image = next((shared.parent / "data" / "test" / "Cubism").iterdir())
    as_trained = predict(run, [image], top_k=3)
    assert as_trained == predict(run, [image], top_k=3, tta=True)
    assert as_trained != predict(run, [image], top_k=3, tta=False)


def test_evaluate_scores_the_train_split_as_it_is(tiny_data, tmp_path, capsys) -> None:
    # trained with mixup and augmentation: the train split is still scored without either,
    # so two evaluations agree exactly and the confusion matrix counts real labels
    run = tmp_path / "run"
    args = ["--epochs", "1", "--mixup", "0.4", "--cutmix", "1.0"]
    assert main(_train_args(tiny_data, run, tmp_path / "cache", *args)) == 0
    capsys.readouterr()
    scores = []
    for _ in range(2):
        assert main(["evaluate", str(run), "--split", "train", "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0]["confusion_matrix"] == scores[1]["confusion_matrix"]
    assert scores[0]["n_test"] == 21  # 24 training images less the 3 held out for validation
    assert np.asarray(scores[0]["confusion_matrix"]).sum(axis=1).tolist() == [7, 7, 7]
    assert json.loads((run / "metrics_train.json").read_text())["split"] == "train"


def test_evaluate_refuses_data_with_other_styles(trained, tmp_path, capsys) -> None:
    _, run, _ = trained
    other = make_dataset(
        tmp_path / "other",
        {"train": {"Baroque": 2, "Fauvism": 2, "Rococo": 2}, "test": {"Baroque": 1}},
    )
    assert main(["evaluate", str(run), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "Fauvism" in err and "Cubism" in err


def test_predict_any_size_and_format(trained, tmp_path, capsys) -> None:
    data, run, _ = trained
    odd = write_image(tmp_path / "imgs" / "wide.PNG", seed=5, size=(90, 20), mode="RGBA", fmt="PNG")
    write_image(tmp_path / "imgs" / "grey.jpg", seed=6, size=(17, 50), mode="L")
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"not an image")
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                str(run),
                str(odd.parent),
                str(data / "test" / "Baroque"),
                "--top-k",
                "2",
                "--json",
            ]
        )
        == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 5
    by_name = {Path(r["path"]).name: r for r in results}
    assert "error" in by_name["broken.jpg"]
    for name in ("wide.PNG", "grey.jpg"):
        predictions = by_name[name]["predictions"]
        assert len(predictions) == 2 and {p["style"] for p in predictions} <= {
            "Baroque",
            "Cubism",
            "Rococo",
        }
        assert predictions[0]["probability"] >= predictions[1]["probability"]
        assert 0.0 < sum(p["probability"] for p in predictions) <= 1.0 + 1e-6
    assert main(["predict", str(run), str(tmp_path / "missing.jpg")]) == 2


def test_predict_table_names_each_file_below_the_folder_they_share(
    trained, tmp_path, capsys
) -> None:
    _, run, _ = trained
    name = "a_painting_with_a_file_name_longer_than_any_table_column_0123456789.png"
    write_image(tmp_path / "deep" / "folder" / "Baroque" / name, seed=7, size=(40, 30), fmt="PNG")
    write_image(tmp_path / "deep" / "folder" / "Rococo" / "short.jpg", seed=8, size=(30, 30))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "deep"), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert f"imagesin{tmp_path / 'deep' / 'folder'}" in "".join(out.split())  # title, wrapped
    assert "…" not in out  # folded onto more lines, never cut short
    # the image column's pieces, top to bottom, spell each path below that folder
    first_cells = "".join(
        line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")
    )
    assert f"Baroque/{name}" in first_cells and "Rococo/short.jpg" in first_cells
    assert str(tmp_path) not in first_cells
    # --top-k above the number of styles: one column per style the run knows, no empty ones
    assert main(["predict", str(run), str(tmp_path / "deep"), "--top-k", "30"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "#1" in line)
    assert header.split() == ["┃", "image", "┃", "#1", "┃", "#2", "┃", "#3", "┃"]


def test_ema_averages_the_weights_after_its_warm_up_and_copies_the_buffers() -> None:
    from artstyle.train.optim import EMA

    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    ema = EMA(model, 0.98)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(5.0)
    ema.update()  # the first update's decay is (1 + 1) / (10 + 1), not 0.98
    torch.testing.assert_close(ema.model[0].weight, start + 1.0 - 2 / 11)
    assert ema.model[1].running_mean.item() == 5.0
    ema.n_updates = 10_000  # past the warm-up: the decay is the one asked for
    before = ema.model[0].weight.detach().clone()
    ema.update()
    torch.testing.assert_close(ema.model[0].weight, 0.98 * before + 0.02 * model[0].weight.detach())


def test_a_default_run_saves_and_scores_the_averaged_weights(tiny_data, tmp_path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, tmp_path / "cache", "--epochs", "1")) == 0
    run = runs.open_run(out)
    assert yaml.safe_load((out / "config.yaml").read_text())["ema"] is True
    checkpoint = runs.load_checkpoint(run.checkpoint_path)
    saved = load_file(str(out / "model.safetensors"))
    averaged, raw = checkpoint["ema"]["model"], checkpoint["model"]
    weights = [key for key in saved if key.endswith("weight") and saved[key].dim() == 4]
    assert weights
    for key in weights:  # the convolutions: the one epoch's best weights are the averaged ones
        torch.testing.assert_close(saved[key], averaged[key].to(saved[key].dtype), msg=key)
    assert any(not torch.equal(saved[key], raw[key]) for key in weights)


def test_interrupt_then_resume_matches_an_uninterrupted_run(
    tiny_data, tmp_path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    args = ["--epochs", "2", "--seed", "1", "--ema", "--mixup", "0.4", "--cutmix", "1.0"]
    assert main(_train_args(tiny_data, tmp_path / "straight", cache, *args)) == 0

    polls = {"n": 0}

    def interrupt_at_step_4(self) -> int:
        polls["n"] += 1
        return loop.StopRequests.INTERRUPT if polls["n"] == 4 else loop.StopRequests.NONE

    monkeypatch.setattr(loop.StopRequests, "local_code", interrupt_at_step_4)
    validations = []
    real_evaluate = loop.evaluate_stage

    def counted_evaluate(*a, **k):
        validations.append(a[3])
        return real_evaluate(*a, **k)

    monkeypatch.setattr(loop, "evaluate_stage", counted_evaluate)
    assert main(_train_args(tiny_data, tmp_path / "resumed", cache, *args)) == 130
    monkeypatch.undo()
    assert validations == ["val"]  # epoch 1's; the Ctrl-C in epoch 2 saved without one
    resumed = runs.open_run(tmp_path / "resumed")
    state = runs.load_checkpoint(resumed.checkpoint_path)["state"]
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (4, 1, 1)
    assert [row["epoch"] for row in runs.read_history(resumed)] == [1]
    assert state["best_epoch"] == 1
    assert not resumed.metrics_path.exists()

    assert main(["train", "classifier", "--resume", str(resumed.path), "--progress", "false"]) == 0
    final = runs.load_checkpoint(resumed.checkpoint_path)
    assert final["state"]["step"] == 6
    straight = runs.load_checkpoint(runs.open_run(tmp_path / "straight").checkpoint_path)
    for key, value in straight["model"].items():
        torch.testing.assert_close(final["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for key, value in straight["ema"]["model"].items():
        torch.testing.assert_close(final["ema"]["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert final["optimizer"]["state"][0]["step"] == straight["optimizer"]["state"][0]["step"]
    assert resumed.metrics_path.is_file()


def test_a_resumed_session_stopped_early_leaves_no_numbers_of_the_session_before(
    tiny_data, tmp_path, monkeypatch
) -> None:
    run = tmp_path / "run"
    args = _train_args(tiny_data, run, tmp_path / "cache", "--epochs", "3")
    monkeypatch.setattr(loop.StopRequests, "local_code", _interrupt_at_poll(4))
    assert main(args) == 130
    (run / "metrics.json").write_text('{"balanced_accuracy": 0.99}')  # an earlier session's
    monkeypatch.setattr(loop.StopRequests, "local_code", _interrupt_at_poll(2))
    assert main(["train", "classifier", "--resume", str(run), "--progress", "false"]) == 130
    assert not (run / "metrics.json").exists()


def _interrupt_at_poll(n: int):
    polls = {"n": 0}

    def local_code(self) -> int:
        polls["n"] += 1
        return loop.StopRequests.INTERRUPT if polls["n"] == n else loop.StopRequests.NONE

    return local_code


def test_bf16_on_a_cpu_trains_and_keeps_fp32_weights(tiny_data, tmp_path) -> None:
    # --precision bf16-mixed on a CPU: autocast computes the convolutions in bf16 (1.3-1.7x
    # faster, by layout, where the CPU has AVX512-BF16 or AMX); the weights and what is saved
    # stay fp32
    from safetensors.torch import load_file

    out = tmp_path / "bf16"
    args = ["--epochs", "2", "--precision", "bf16-mixed"]
    assert main(_train_args(tiny_data, out, tmp_path / "cache", *args)) == 0
    metrics = runs.read_metrics(runs.open_run(out))
    assert metrics["precision"] == "bf16-mixed"
    assert 0.0 <= metrics["balanced_accuracy"] <= 1.0 and np.isfinite(metrics["loss"])
    weights = load_file(out / "model.safetensors")
    assert {tensor.dtype for tensor in weights.values() if tensor.is_floating_point()} == {
        torch.float32
    }


def test_resume_keeps_the_fp16_loss_scale(tiny_data, tmp_path, monkeypatch) -> None:
    # fp16 mixed precision as on a GPU without bf16; Fabric's CPU path has no fp16, so the
    # same precision plugin is given a CPU GradScaler that doubles its scale every step
    from lightning.fabric import Fabric
    from lightning.fabric.plugins.precision import MixedPrecision

    scalers = []

    def fp16_fabric(config):
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
        scalers.append(scaler)
        return Fabric(
            accelerator="cpu", devices=1, plugins=[MixedPrecision("16-mixed", "cpu", scaler)]
        )

    monkeypatch.setattr(loop, "make_fabric", fp16_fabric)
    cache = tmp_path / "cache"
    args = ["--epochs", "2", "--seed", "1"]
    assert main(_train_args(tiny_data, tmp_path / "straight", cache, *args)) == 0
    straight = runs.load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    assert straight["scaler"]["scale"] == scalers[-1].get_scale() > 1024.0

    polls = {"n": 0}

    def interrupt_at_step_4(self) -> int:
        polls["n"] += 1
        return loop.StopRequests.INTERRUPT if polls["n"] == 4 else loop.StopRequests.NONE

    with monkeypatch.context() as patch:
        patch.setattr(loop.StopRequests, "local_code", interrupt_at_step_4)
        assert main(_train_args(tiny_data, tmp_path / "resumed", cache, *args)) == 130
    cut = runs.load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert cut["scaler"]["scale"] == scalers[-1].get_scale()
    assert main(["train", "classifier", "--resume", str(tmp_path / "resumed")]) == 0
    final = runs.load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert final["state"]["step"] == straight["state"]["step"]
    assert final["scaler"] == straight["scaler"]


def test_a_second_ctrl_c_mid_step_keeps_the_last_consistent_checkpoint(
    tiny_data, tmp_path, monkeypatch, capsys
) -> None:
    """A second Ctrl-C raises wherever it lands; here right after the 5th optimizer step and
    before the loop counts it. The checkpoint of epoch 1 (3 steps) must stay, not a state
    one update ahead of its own step count."""
    cache = tmp_path / "cache"
    args = ["--epochs", "2", "--seed", "2"]
    assert main(_train_args(tiny_data, tmp_path / "straight", cache, *args)) == 0
    interrupt_after_update(monkeypatch, 5)
    capsys.readouterr()
    assert main(_train_args(tiny_data, tmp_path / "cut", cache, *args)) == 130
    monkeypatch.undo()
    assert "from the last finished epoch or clean stop kept" in " ".join(
        capsys.readouterr().err.split()
    )
    cut = runs.open_run(tmp_path / "cut")
    saved = runs.load_checkpoint(cut.checkpoint_path)
    assert (saved["state"]["step"], saved["state"]["epoch"], saved["state"]["batch_in_epoch"]) == (
        3,
        1,
        0,
    )
    assert saved["optimizer"]["state"][0]["step"] == 3 and saved["scheduler"]["last_epoch"] == 3

    # damaged best weights: one line that names the file, and nothing is written
    weights = cut.path / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:100])
    checkpoint = cut.checkpoint_path.read_bytes()
    capsys.readouterr()
    assert main(["train", "classifier", "--resume", str(cut.path), "--progress", "false"]) == 2
    assert f"cannot read {weights}" in " ".join(capsys.readouterr().err.split())
    assert cut.checkpoint_path.read_bytes() == checkpoint
    weights.write_bytes(good)

    assert main(["train", "classifier", "--resume", str(cut.path), "--progress", "false"]) == 0
    final = runs.load_checkpoint(cut.checkpoint_path)
    straight = runs.load_checkpoint(runs.open_run(tmp_path / "straight").checkpoint_path)
    assert final["state"]["step"] == straight["state"]["step"] == 6
    assert final["optimizer"]["state"][0]["step"] == 6
    for key, value in straight["model"].items():
        torch.testing.assert_close(final["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_resume_of_a_missing_run_is_refused(tmp_path, capsys) -> None:
    assert main(["train", "classifier", "--resume", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_time_budget_stops_cleanly(tiny_data, tmp_path, monkeypatch) -> None:
    polls = {"n": 0}

    def out_of_time_at_step_2(self) -> int:
        polls["n"] += 1
        return loop.StopRequests.TIME if polls["n"] >= 2 else loop.StopRequests.NONE

    monkeypatch.setattr(loop.StopRequests, "local_code", out_of_time_at_step_2)
    run = tmp_path / "run"
    assert main(_train_args(tiny_data, run, tmp_path / "cache", "--epochs", "5")) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stopped"] == "time"
    assert metrics["epochs_run"] == pytest.approx(2 / 3, abs=1e-3)
    assert runs.load_checkpoint(run / "checkpoints" / "last.ckpt")["state"]["step"] == 2
    assert main(["train", "classifier", "--resume", str(run), "--lr", "0.1"]) == 2


def test_a_schedule_shortened_to_the_time_budget_says_so_and_is_not_extended(
    tiny_data, trained, tmp_path, monkeypatch, capsys
) -> None:
    def fits_two_epochs(fabric, state, schedule, steps_per_epoch, epoch_start, deadline):
        # as if the first epoch had shown that only two fit in --max-minutes
        if state.planned_epochs > 2:
            state.planned_epochs = 2
            schedule.total_steps = 2 * steps_per_epoch

    monkeypatch.setattr(loop, "_fit_schedule_to_budget", fits_two_epochs)
    run = tmp_path / "run"
    capsys.readouterr()
    args = _train_args(tiny_data, run, tmp_path / "cache", "--epochs", "5", "--max-minutes", "30")
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "schedule shortened to 2 of 5 epochs" in " ".join(printed.err.split())
    # the result line is followed by the cap, in plain words
    out = " ".join(printed.out.split())
    assert "stopped by its --max-minutes cap after 2 epochs of the 5 asked for" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["stopped"], metrics["epochs_run"], metrics["epochs_planned"]) == ("time", 2, 2)
    page = tmp_path / "page.html"
    assert main(["report", str(run), "--out", str(page)]) == 0
    text = " ".join(page.read_text(encoding="utf-8").split())
    assert "Stopped by its --max-minutes cap after 2 epochs of the 5 asked for" in text
    checkpoint = (run / "checkpoints" / "last.ckpt").read_bytes()
    assert main(["train", "classifier", "--resume", str(run), "--max-minutes", "60"]) == 2
    assert "cannot be extended" in " ".join(capsys.readouterr().err.split())
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == checkpoint

    _, finished, _ = trained  # ran all its epochs
    assert json.loads((finished / "metrics.json").read_text())["stopped"] == "finished"
    assert main(["train", "classifier", "--resume", str(finished)]) == 2
    assert "already trained all 2 epochs" in " ".join(capsys.readouterr().err.split())


def test_resume_of_a_run_stopped_after_its_last_epoch_finishes_it(
    trained, tmp_path, capsys
) -> None:
    # killed after the last epoch's checkpoint, before the final scoring wrote metrics.json
    # and the statistics expert: --resume trains nothing and writes what the finish writes
    _, finished, _ = trained
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    want = json.loads((run / "metrics.json").read_text())
    checkpoint = (run / "checkpoints" / "last.ckpt").read_bytes()
    weights = (run / "model.safetensors").read_bytes()
    (run / "metrics.json").unlink()
    (run / "statistics.safetensors").unlink()
    capsys.readouterr()
    assert main(["train", "classifier", "--resume", str(run), "--progress", "false"]) == 0
    printed = " ".join(capsys.readouterr().err.split())
    assert "trained all 2 epochs before it was stopped: finishing it" in printed
    got = json.loads((run / "metrics.json").read_text())
    for key in ("balanced_accuracy", "network_balanced_accuracy", "statistics_balanced_accuracy"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    assert (got["stopped"], got["epochs_run"]) == ("finished", 2)
    assert (run / "statistics.safetensors").is_file()
    # nothing was trained: the checkpoint and the weights are the ones the kill left
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == checkpoint
    assert (run / "model.safetensors").read_bytes() == weights
    # once finished, a second --resume is refused as for any finished run
    assert main(["train", "classifier", "--resume", str(run)]) == 2
    assert "already trained all 2 epochs" in " ".join(capsys.readouterr().err.split())


def _poison_weights_at_update(monkeypatch, n_update: int) -> None:
    """Weights that turn NaN at the ``n_update``-th optimizer update, as a too-large lr does."""
    real_step = torch.optim.lr_scheduler.LambdaLR.step

    def step_then_poison(self, *args, **kwargs):
        real_step(self, *args, **kwargs)
        if self.last_epoch == n_update:
            with torch.no_grad():
                self.optimizer.param_groups[0]["params"][0].fill_(float("nan"))

    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "step", step_then_poison)


def test_divergence_stops_and_keeps_the_weights_of_the_epochs_before(
    tiny_data, tmp_path, monkeypatch, capsys
) -> None:
    _poison_weights_at_update(monkeypatch, 4)  # 3 updates an epoch: in epoch 2
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(_train_args(tiny_data, run, tmp_path / "cache", "--epochs", "4")) == 0
    printed = " ".join(capsys.readouterr().err.split())
    assert "training diverged in epoch 2" in printed and "--lr" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["stopped"], metrics["best_epoch"], metrics["epochs_run"]) == ("diverged", 1, 1)
    assert all(np.isfinite(metrics[key]) for key in ("accuracy", "balanced_accuracy"))
    weights = runs.read_weights(runs.RunFolder(run))
    assert all(torch.isfinite(t).all() for t in weights.values())
    checkpoint = runs.load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert checkpoint["state"]["step"] == 3
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())
    assert len(runs.read_history(runs.RunFolder(run))) == 1


def test_divergence_in_the_first_epoch_is_one_line_and_keeps_no_weights(
    tiny_data, tmp_path, monkeypatch, capsys
) -> None:
    _poison_weights_at_update(monkeypatch, 2)
    run = tmp_path / "run"
    assert main(_train_args(tiny_data, run, tmp_path / "cache", "--epochs", "3")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: training diverged in its first epoch" in err and "--lr" in err
    assert not (run / "model.safetensors").exists()
    assert not (run / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize(
    ("score", "best", "mode", "expected"),
    [
        (None, 0.5, "max", True),  # no validation data: the latest weights win
        (0.4, None, "max", True),
        (0.6, 0.5, "max", True),
        (0.5, 0.5, "max", False),
        (0.4, 0.5, "min", True),
        (float("nan"), 0.5, "max", False),
        (float("nan"), 0.5, "min", False),
        (0.1, float("nan"), "max", True),
        (9.0, float("nan"), "min", True),
    ],
)
def test_a_nan_validation_score_never_beats_a_number(score, best, mode, expected) -> None:
    assert loop.improves(score, best, mode) is expected


def test_compare_balance_two_strategies(tmp_path, capsys) -> None:
    data = make_dataset(
        tmp_path / "data",
        {
            "train": {"Baroque": 14, "Cubism": 4, "Rococo": 3},
            "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2},
        },
    )
    out = tmp_path / "cmp"
    args = [
        "compare-balance",
        "--data",
        str(data),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--strategies",
        "none,logit-adjust",
        "--epochs",
        "1",
        *FAST,
    ]
    assert main(args) == 0
    summary = json.loads((out / "comparison.json").read_text())
    assert [row["strategy"] for row in summary["rows"]] == ["none", "logit-adjust"]
    assert summary["best_strategy"] in ("none", "logit-adjust")
    # rarest styles with a test image, fewest training images first
    assert summary["rarest_styles"] == ["Rococo", "Cubism", "Baroque"]
    markdown = (out / "comparison.md").read_text()
    assert "| `none`" in markdown and "Best on balanced accuracy" in markdown
    assert (out / "figures" / "balance_comparison.png").is_file()
    assert (out / "logit-adjust" / "metrics.json").is_file()
    assert (
        json.loads((out / "logit-adjust" / "metrics.json").read_text())["balance"] == "logit-adjust"
    )
    assert main(args) == 2  # the comparison exists already


# ---------------------------------------------------------------- the task without training


def _imbalanced_task(balance: str, **extra) -> ClassifierTask:
    labels = np.array([0] * 12 + [1] * 6 + [2] * 2)
    images = np.zeros((len(labels), 8, 8, 3), dtype=np.uint8)
    data = ClassifierData.from_arrays(["A", "B", "C"], images, labels, val_fraction=0.0)
    task = ClassifierTask(ClassifierConfig(balance=balance, **extra), data)
    task.setup(torch.device("cpu"))
    return task


def test_balance_strategies_shape_the_epoch() -> None:
    none = _imbalanced_task("none").train_indices(0)
    assert sorted(none.tolist()) == list(range(20))
    resample = _imbalanced_task("resample").train_indices(0)
    labels = np.array([0] * 12 + [1] * 6 + [2] * 2)
    assert np.bincount(labels[resample]).tolist() == [7, 7, 7]  # mean of 12, 6, 2 rounded half up
    assert not np.array_equal(
        resample, _imbalanced_task("resample").train_indices(1)
    )  # a new plan each epoch
    sampler = _imbalanced_task("sampler").train_indices(0)
    assert len(sampler) == 20
    weights = _imbalanced_task("weights", class_weights="inverse")._class_weights
    # inverse frequency, mean 1 over the samples: w_c = N / (C * n_c)
    torch.testing.assert_close(weights, torch.tensor([20 / 36, 20 / 18, 20 / 6]))
    prior = _imbalanced_task("logit-adjust")._log_prior
    torch.testing.assert_close(prior.exp(), torch.tensor([0.6, 0.3, 0.1]))


class _FixedLogits(torch.nn.Module):
    """A stand-in model that returns the same logits; in train mode unless .eval() is called."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_logit_adjustment_only_changes_the_training_loss() -> None:
    task = _imbalanced_task("logit-adjust", label_smoothing=0.0)
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    model = _FixedLogits(logits)
    y = torch.tensor([2])
    train = task.step(model, (torch.zeros(1, 3, 8, 8), y), "train")
    val = task.step(model, (torch.zeros(1, 3, 8, 8), y), "val")
    adjusted = logits + torch.log(torch.tensor([0.6, 0.3, 0.1]))
    torch.testing.assert_close(train.loss, torch.nn.functional.cross_entropy(adjusted, y))
    torch.testing.assert_close(val.loss, torch.nn.functional.cross_entropy(logits, y))
    assert val.stats["confusion"].view(3, 3)[2, 0] == 1  # predicted with the plain logits


def test_cutmix_pastes_a_box_and_mixes_labels_by_its_area() -> None:
    task = _imbalanced_task("none", cutmix=1.0, label_smoothing=0.0)
    torch.manual_seed(3)
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 8, 8).contiguous()
    mixed, partner, lam = task._mix(x)
    assert partner is not None and sorted(partner.tolist()) == [0, 1, 2, 3]
    for i in range(4):
        own = (mixed[i] == i).float().mean().item()
        pasted = (mixed[i] == partner[i].item()).float().mean().item()
        if partner[i] != i:
            assert own == pytest.approx(lam) and pasted == pytest.approx(1 - lam)
    # the loss is the same mix of the two labels' losses
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    torch.manual_seed(3)
    out = task.step(_FixedLogits(logits), (x, y), "train")
    ce = torch.nn.functional.cross_entropy
    expected = (
        lam * ce(logits, y, reduction="none") + (1 - lam) * ce(logits, y[partner], reduction="none")
    ).mean()
    torch.testing.assert_close(out.loss, expected)
    # evaluation never mixes, the train split scored in eval mode included
    val = task.step(_FixedLogits(logits), (x, y), "val")
    torch.testing.assert_close(val.loss, ce(logits, y))
    scored = task.step(_FixedLogits(logits).eval(), (x, y), "train")
    torch.testing.assert_close(scored.loss, ce(logits, y))


def test_mixup_blends_images_with_one_share() -> None:
    task = _imbalanced_task("none", mixup=0.4)
    torch.manual_seed(0)
    x = torch.rand(6, 3, 8, 8)
    mixed, partner, lam = task._mix(x)
    assert 0.0 <= lam <= 1.0
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[partner])
    assert _imbalanced_task("none")._mix(x)[1] is None  # off by default


def test_stratified_validation_split() -> None:
    labels = np.array([0] * 20 + [1] * 5 + [2] * 1)
    train_idx, val_idx = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[val_idx], minlength=3).tolist() == [
        4,
        1,
        0,
    ]  # the lone image stays in train
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(26))
    assert np.array_equal(val_idx, stratified_split(labels, 0.2, seed=0)[1])
    assert not np.array_equal(val_idx, stratified_split(labels, 0.2, seed=1)[1])


def test_unreadable_training_images_are_skipped(tmp_path) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"A": 4, "B": 4}, "test": {"A": 1, "B": 1}})
    (data / "train" / "A" / "zz-broken.jpg").write_bytes(b"\xff\xd8 truncated")
    image = Image.new("RGB", (10, 10))
    image.save(data / "train" / "B" / "tiny.png")
    assert main(_train_args(data, tmp_path / "run", tmp_path / "cache", "--epochs", "1")) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] == 9


def test_comparison_markdown_keeps_its_table_whole_with_odd_style_names() -> None:
    from artstyle.workflows.compare import comparison_markdown

    styles = ["Pop|Art", "Art<b>&Co"]
    summary = {
        "data": "/d/a`b",
        "split": "test",
        "seed": 0,
        "epochs": 1,
        "max_minutes": None,
        "size": 32,
        "model": "resnet_tiny",
        "rarest_styles": styles,
        "train_counts": {"Pop|Art": 8, "Art<b>&Co": 9},
        "rows": [
            {
                "strategy": "none",
                "accuracy": 0.5,
                "balanced_accuracy": 0.5,
                "macro_f1": 0.5,
                "rarest5_recall_mean": 0.5,
                "rarest5_recall": {"Pop|Art": 0.5, "Art<b>&Co": 0.25},
                "minutes": 0.1,
            }
        ],
        "best_strategy": "none",
        "best_beats_none": False,
        "beating_none": [],
    }
    text = comparison_markdown(summary)
    assert "Best on balanced accuracy: `none`; no strategy beat" in text
    header, rule, row = (line for line in text.splitlines() if line.startswith("|"))
    unescaped_bars = [line.replace("\\|", "").count("|") for line in (header, rule, row)]
    assert unescaped_bars == [9, 9, 9]
    assert "Pop\\|Art (8) | Art&lt;b&gt;&amp;Co (9)" in header
    assert "Data ``/d/a`b``, test split" in text


def test_compare_balance_continues_a_comparison_stopped_midway(tmp_path, monkeypatch, capsys):
    data = make_dataset(
        tmp_path / "data",
        {
            "train": {"Baroque": 10, "Cubism": 4, "Rococo": 3},
            "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2},
        },
    )
    out, cache = tmp_path / "cmp", tmp_path / "cache"
    # what a comparison stopped by Ctrl-C in its second strategy leaves
    assert main(_train_args(data, out / "none", cache, "--balance", "none", "--epochs", "2")) == 0
    weights_before = (out / "none" / "model.safetensors").read_bytes()
    monkeypatch.setattr(loop.StopRequests, "local_code", _interrupt_at_poll(2))
    interrupted = _train_args(data, out / "weights", cache, "--balance", "weights", "--epochs", "2")
    assert main(interrupted) == 130
    monkeypatch.undo()
    capsys.readouterr()
    args = ["compare-balance", "--data", str(data), "--out", str(out), "--cache-dir", str(cache)]
    args += ["--strategies", "none,weights", "--epochs", "2", *FAST]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "--balance none (reused)" in err and "--balance weights (resumed)" in err
    assert (out / "none" / "model.safetensors").read_bytes() == weights_before
    summary = json.loads((out / "comparison.json").read_text())
    assert [row["strategy"] for row in summary["rows"]] == ["none", "weights"]
    resumed = json.loads((out / "weights" / "metrics.json").read_text())
    assert summary["rows"][1]["balanced_accuracy"] == resumed["balanced_accuracy"]
    assert resumed["epochs_run"] == 2
    # a strategy folder of other settings is named, not mixed in
    other = tmp_path / "other"
    again = _train_args(data, other / "none", cache, "--balance", "none", "--epochs", "2")
    assert main([*again, "--seed", "5"]) == 0
    args[args.index(str(out))] = str(other)
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{other / 'none'} holds a run with other settings (seed: 5 there, 0 here)" in err


def test_compare_balance_calls_a_tie_with_none_a_tie(tiny_data, tmp_path) -> None:
    # a learning rate too small to move the weights: every strategy scores the same
    args = ["compare-balance", "--data", str(tiny_data), "--out", str(tmp_path / "cmp")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--strategies", "weights,none"]
    assert main([*args, "--epochs", "1", "--lr", "1e-12", *FAST]) == 0
    summary = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    scores = {row["strategy"]: row["balanced_accuracy"] for row in summary["rows"]}
    assert scores["weights"] == scores["none"]
    assert summary["best_strategy"] == "none" and summary["beating_none"] == []
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "no strategy beat training on the data as it is" in markdown
    assert "which beats" not in markdown


def test_epochs_come_from_the_number_of_training_images() -> None:
    from artstyle.config import EPOCH_RANGE, IMAGE_PASSES, classifier_epochs

    # 8k paintings less the validation carve: about ten CPU-minutes' worth; 1.4k: more
    # passes, but fewer images seen in all; a handful: the range's top
    assert classifier_epochs(6_828) == 16
    assert classifier_epochs(1_260) == EPOCH_RANGE[1]
    assert classifier_epochs(1_260) * 1_260 < IMAGE_PASSES
    assert classifier_epochs(10) == EPOCH_RANGE[1]
    assert classifier_epochs(1_000_000) == EPOCH_RANGE[0]
    assert ClassifierConfig().epochs is None


def _train_split_only(folder: Path, size: int, cache_dir: Path) -> ClassifierData:
    """The train split of ``folder`` at ``size`` px, every image training, no validation carve."""
    from artstyle.data.cache import load_split
    from artstyle.data.scan import scan

    cached = load_split(scan(folder), "train", size=size, cache_dir=cache_dir)
    rows = np.arange(len(cached.labels))
    return ClassifierData(
        list(cached.classes),
        {"train": cached},
        {"train": rows, "val": rows[:0]},
        np.bincount(np.asarray(cached.labels), minlength=len(cached.classes)),
    )


def test_the_default_recipe_is_the_plain_network_with_whole_pixel_shifts(tiny_data) -> None:
    from artstyle.config import SYNTHETIC_RECIPE
    from artstyle.train.tasks.classifier import ClassifierTask, build_classifier

    config = ClassifierConfig()
    assert (config.model, config.translate, config.jitter, config.dropout, config.tta_crop) == (
        "plain_cpu",
        0.125,
        0.0,
        0.2,
        1.0,
    )
    model = build_classifier(config, 7)
    assert type(model).__name__ == "PlainClassifier" and model.dropout.p == 0.2
    assert (model.config.activation, model.config.pool_first) == ("relu", True)
    # a fixed whitening of 2x2 patches first, every other convolution starting as the identity
    assert model.config.identity_init and model.config.whiten == 2
    assert type(model.stages[0][0]).__name__ == "PatchWhitening"
    assert model.config.pool == "multiscale"
    # the demo's recipe, the stylizer's helpers and label-issues keep the resized crop
    assert SYNTHETIC_RECIPE["translate"] == 0.0
    assert ClassifierConfig(**SYNTHETIC_RECIPE).translate == 0.0
    from artstyle.config import LabelIssuesConfig, TrainConfig

    assert LabelIssuesConfig().translate == 0.0 and LabelIssuesConfig().dropout == 0.0
    # the classifier scores an average of its weights; the demo, its helpers, label-issues'
    # folds and the other models (TrainConfig's default) score the weights as they are
    assert (config.ema, config.ema_decay) == (True, 0.98)
    assert SYNTHETIC_RECIPE["ema"] is False and ClassifierConfig(**SYNTHETIC_RECIPE).ema is False
    assert LabelIssuesConfig().ema is False and TrainConfig().ema is False
    # training batches are shifted, not cropped; the crop comes back with --translate 0
    data = _train_split_only(tiny_data, 16, tiny_data.parent / "cache-recipe")
    for translate, crop in ((0.125, None), (0.0, (config.crop_scale, 1.0))):
        task = ClassifierTask(config.model_copy(update={"translate": translate}), data)
        task.setup(torch.device("cpu"))
        options = task._device_data["train"].augment_options
        assert options["translate"] == translate and options["crop_scale"] == crop


def test_resnet_cpu_keeps_half_resolution_and_pools_every_stage() -> None:
    from artstyle.models import build_model
    from artstyle.models.classifier import mean_std

    model = build_model("resnet_cpu", num_classes=7).eval()
    widths = model.config.widths
    assert model.config.pool == "multiscale" and widths == (16, 48, 96, 192)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        # each stage's channel means and standard deviations, the first stage's first
        assert features.shape == (2, 2 * sum(widths))
        first = model.stages[0](model.stem(x))
        # no max-pool after the stride-2 stem: the first stage sees 32x32 of a 64 px image,
        # where the fine structure that tells styles apart still shows
        assert first.shape[-2:] == (32, 32)
        torch.testing.assert_close(features[:, : 2 * widths[0]], mean_std(first))
        assert model(x).shape == (2, 7)
    # a size's own preset wins over its family's common arguments: the demo's resnet_tiny
    # keeps the family's max-pool and last-stage pooling
    tiny = build_model("resnet_tiny", num_classes=7).config
    assert tiny.pool == "avgstd" and tiny.stem_pool


def identity_of(n: int) -> torch.Tensor:
    """The 3x3 filters of a convolution whose n outputs copy its n inputs."""
    identity = torch.zeros(n, n, 3, 3)
    identity[range(n), range(n), 1, 1] = 1.0
    return identity


def test_identity_init_starts_each_convolution_copying_its_inputs() -> None:
    from torch import nn

    from artstyle.models import build_model

    torch.manual_seed(0)
    model = build_model("plain_cpu", num_classes=7, identity_init=True, whiten=0)
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 8
    for conv in convolutions:  # every one has at least as many outputs as inputs
        n_in = conv.in_channels
        assert torch.equal(conv.weight[:n_in], identity_of(n_in))
        if conv.out_channels > n_in:  # the other outputs keep their random start
            assert conv.weight[n_in:].abs().sum() > 0
    # the same layout without it starts at random
    torch.manual_seed(0)
    plain = build_model("plain_cpu", num_classes=7, identity_init=False, whiten=0)
    third = [m for m in plain.modules() if isinstance(m, nn.Conv2d)][2]  # 16 -> 32 channels
    assert not torch.equal(third.weight[:16], convolutions[2].weight[:16])
    assert torch.equal(third.weight[16:], convolutions[2].weight[16:])
    # the default: the whitening's 24 channels take the first convolution's place and feed the
    # second, 24 -> 16, which (fewer outputs than inputs) starts at random; every later one
    # starts as the identity
    default = build_model("plain_cpu", num_classes=7).modules()
    default = [m for m in default if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in default[:3]] == [(24, 16), (16, 32), (32, 32)]
    assert default[0].weight[:, :, 0, 0].abs().sum() > 0  # corner taps: not a copy
    for conv in default[1:]:
        assert torch.equal(conv.weight[: conv.in_channels], identity_of(conv.in_channels))
    # --identity-init reaches the model; residual networks refuse it
    from artstyle.errors import ArtstyleError
    from artstyle.train.tasks.classifier import build_classifier

    assert build_classifier(ClassifierConfig(identity_init=True), 7).config.identity_init
    with pytest.raises(ArtstyleError, match="identity_init"):
        build_classifier(ClassifierConfig(model="resnet_tiny", identity_init=True), 7)


def test_patch_whitening_decorrelates_the_patches_it_was_fitted_on() -> None:
    from torch.nn import functional as F

    from artstyle.models.classifier import PatchWhitening

    generator = torch.Generator().manual_seed(0)
    base = torch.randn(16, 3, 20, 20, generator=generator)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.7]])
    x = torch.einsum("ij,bjhw->bihw", mix, base)  # correlated colours
    x = x + 0.8 * torch.roll(x, 1, dims=3) + 0.3  # correlated neighbours, not centred
    layer = PatchWhitening(3, 2)
    assert layer.out_channels == 24 and not layer.weight.any()
    layer.fit([x[:5], x[5:]], eps=0.0)  # batches add up to one estimate
    patches = F.unfold(x, 2).transpose(1, 2).reshape(-1, 12).double()
    filters = layer.weight[:12].reshape(12, 12).double()
    projected = (patches - patches.mean(dim=0)) @ filters.T
    covariance = projected.T @ projected / (len(projected) - 1)
    torch.testing.assert_close(covariance, torch.eye(12, dtype=torch.float64), atol=1e-4, rtol=0)
    assert torch.equal(layer.weight[12:], -layer.weight[:12])  # each direction and its negative
    assert layer(x).shape == (16, 24, 20, 20)  # the side is kept
    # the filters are saved with the model but never trained: only the bias is a parameter
    assert "weight" in layer.state_dict()
    assert [name for name, _ in layer.named_parameters()] == ["bias"]
    with pytest.raises(ValueError, match="at least one image"):
        PatchWhitening(3, 2).fit([])


def test_whiten_fits_the_first_layer_on_training_images_and_keeps_it(
    tiny_data, tmp_path, capsys
) -> None:
    from safetensors.torch import load_file

    from artstyle.errors import ArtstyleError
    from artstyle.train.tasks.classifier import build_classifier

    out = tmp_path / "run"
    args = _train_args(tiny_data, out, tmp_path / "cache", "--epochs", "2", "--whiten", "2")
    assert main([*args, "--model", "plain_cpu"]) == 0
    assert json.loads((out / "model.json").read_text())["args"]["whiten"] == 2
    saved = load_file(str(out / "model.safetensors"))
    filters = saved["stages.0.0.weight"]
    assert filters.shape == (24, 3, 2, 2) and filters.abs().sum() > 0
    # the bias trained, the filters did not
    checkpoint = runs.load_checkpoint(runs.open_run(out).checkpoint_path)
    torch.testing.assert_close(checkpoint["model"]["stages.0.0.weight"], filters)
    assert checkpoint["model"]["stages.0.0.bias"].abs().sum() > 0
    # the filters come from the training images (the seed's choice of them), so the same
    # seed fits the same ones and another seed other ones
    data = _train_split_only(tiny_data, 32, tmp_path / "cache")
    fitted, chosen = [], []
    for seed in (0, 0, 1):
        task = ClassifierTask(ClassifierConfig(whiten=2, seed=seed, size=32), data)
        task.setup(torch.device("cpu"))
        fitted.append(task.build_model().stages[0][0].weight)
        chosen.append(torch.cat(list(task.whitening_batches(n_images=10, batch_size=4))))
    assert fitted[0].abs().sum() > 0 and torch.equal(fitted[0], fitted[1])
    assert chosen[0].shape == (10, 3, 32, 32) and torch.equal(chosen[0], chosen[1])
    assert not torch.equal(chosen[0], chosen[2])
    # evaluate loads the fitted filters back: the same score as at the end of training
    metrics = json.loads((out / "metrics.json").read_text())
    assert main(["evaluate", str(out), "--split", "test", "--json"]) == 0
    assert json.loads((out / "metrics.json").read_text())["balanced_accuracy"] == pytest.approx(
        metrics["balanced_accuracy"]
    )
    # a residual network has no such layer: a clear error before anything is written, not a
    # silent no-op
    with pytest.raises(ArtstyleError, match="whiten"):
        build_classifier(ClassifierConfig(model="resnet_tiny", whiten=2), 3)
    refused = tmp_path / "refused"
    args = _train_args(tiny_data, refused, tmp_path / "cache", "--model", "resnet_tiny")
    assert main([*args, "--whiten", "2"]) == 2
    assert "no argument(s) whiten" in capsys.readouterr().err and not refused.exists()


def test_a_run_without_epochs_says_and_records_how_many_it_chose(
    tiny_data, tmp_path, monkeypatch, capsys
) -> None:
    seen = []

    def two_epochs(n_train: int) -> int:  # the real rule gives 21 images 80 epochs
        seen.append(n_train)
        return 2

    monkeypatch.setattr("artstyle.workflows.train.classifier_epochs", two_epochs)
    run = tmp_path / "run"
    assert main(_train_args(tiny_data, run, tmp_path / "cache")) == 0
    assert seen == [21]  # 24 training images less one per style for validation
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2
    assert "note: 2 epochs for 21 training images" in capsys.readouterr().out
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 2


def test_the_demo_and_a_stylizers_helpers_keep_the_synthetic_recipe(tmp_path) -> None:
    from artstyle.config import SYNTHETIC_RECIPE, StylizerConfig
    from artstyle.workflows import demo
    from artstyle.workflows.train import helper_classifier_config

    config = demo._classifier_config(tmp_path, tmp_path / "run", demo.FULL, 0)
    for key, value in SYNTHETIC_RECIPE.items():
        if key not in ("size", "epochs"):
            assert getattr(config, key) == value, key
    assert (config.size, config.epochs) == (demo.FULL.size, demo.FULL.classifier_epochs)
    # the defaults chosen on real paintings differ: the demo does not follow them
    assert (ClassifierConfig().model, ClassifierConfig().size) != (config.model, config.size)
    helper = helper_classifier_config(StylizerConfig(size=32), "judge", tmp_path / "judge")
    assert (helper.model, helper.size, helper.batch_size) == ("resnet_tiny", 32, 64)


def test_tta_averages_the_mirror_and_five_zoomed_crops() -> None:
    from artstyle.train.tasks.classifier import tta_averaged

    class Spy(torch.nn.Module):
        """Probabilities from the mean of each view; the views it saw are kept."""

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.Tensor] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(x.clone())
            return torch.stack([x.mean(dim=(1, 2, 3)), -x.mean(dim=(1, 2, 3))], dim=1)

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 100
    model = Spy()
    own = model(x).softmax(dim=1)
    model.seen.clear()
    mirror_only = tta_averaged(model, x, own, 1.0)
    assert len(model.seen) == 1 and torch.equal(model.seen[0], x.flip(3))
    assert torch.allclose(mirror_only, (own + model(x.flip(3)).softmax(dim=1)) / 2)
    model.seen.clear()
    averaged = tta_averaged(model, x, own, 0.75)
    assert len(model.seen) == 11  # the mirror, then five crops and their mirrors: 12 views with x
    assert all(view.shape == x.shape for view in model.seen)
    # the first crop is the top-left 6 x 6 corner, resized back to 8 x 8
    corner = torch.nn.functional.interpolate(x[:, :, :6, :6], size=(8, 8), mode="bilinear")
    assert torch.allclose(model.seen[1], corner) and torch.allclose(model.seen[2], corner.flip(3))
    expected = (own + sum(Spy()(view).softmax(dim=1) for view in model.seen)) / 12
    assert torch.allclose(averaged, expected)
    assert torch.allclose(averaged.sum(dim=1), torch.ones(2))


def test_train_side_is_a_share_of_size_in_whole_pixels() -> None:
    from artstyle.train.tasks.classifier import train_side

    assert train_side(64, 0.75) == 48
    assert train_side(64, 1.0) == 64
    assert train_side(128, 0.6) == 77
    assert train_side(32, 0.25) == 16  # never below 16 px
    assert train_side(16, 0.5) == 16
    assert ClassifierConfig().train_scale == 1.0


def test_train_scale_trains_on_smaller_crops_and_evaluates_whole_images(
    tiny_data, tmp_path, monkeypatch
) -> None:
    from artstyle.models.classifier import PlainClassifier

    seen: list[tuple[bool, int]] = []
    original = PlainClassifier.forward_features

    def spy(self, x):
        seen.append((self.training, x.shape[-1]))
        return original(self, x)

    monkeypatch.setattr(PlainClassifier, "forward_features", spy)
    run = tmp_path / "run"
    args = _train_args(tiny_data, run, tmp_path / "cache", "--epochs", "1", "--train-scale", "0.5")
    assert main(args) == 0
    assert {side for training, side in seen if training} == {16}  # 32 px images, 16 px crops
    assert {side for training, side in seen if not training} == {32}  # validation and test
    assert yaml.safe_load((run / "config.yaml").read_text())["train_scale"] == 0.5
