"""What a new user met in their first hour with real data: one test per defect found then."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from artstyle.cli import main
from artstyle.errors import ArtstyleError
from artstyle.train import runs
from conftest import make_dataset
from test_audit import planted  # noqa: F401 (the audit's planted data set)

TINY = ["--epochs", "1", "--size", "16", "--batch-size", "8", "--progress", "false"]


def _train(data: Path, run: Path, *extra: str) -> int:
    return main(["train", "classifier", "--data", str(data), "--out", str(run), *TINY, *extra])


# 1. a piped run never loses its results


def test_a_closed_stdout_never_costs_a_finished_run(tiny_data, tmp_path) -> None:
    run = tmp_path / "piped"
    env = {**os.environ, "ARTSTYLE_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "artstyle.cli", "train", "classifier", "--data", str(tiny_data),
         "--out", str(run), *TINY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    process.stdout.close()  # the reader leaves at once, as `| head -0` would
    err = process.stderr.read().decode()
    assert process.wait() == 0, err
    assert (run / "metrics.json").is_file() and (run / "figures" / "per_class.png").is_file()
    assert "reader of stdout left early" in err and "Traceback" not in err


# 2. the report ranks runs of one data set only


def _fake_run(folder: Path, data: str, score: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"version": "0", "task": "classifier", "data": data, "seed": 0})
    )
    metrics = {
        "accuracy": score,
        "balanced_accuracy": score,
        "macro_f1": score,
        "majority_baseline_accuracy": 0.2,
        "n_test": 10,
        "split": "test",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_the_report_compares_runs_within_one_data_set(tmp_path) -> None:
    from artstyle.report import collect

    root = tmp_path / "runs"
    _fake_run(root / "a", "/data/wikiart7", 0.40)
    _fake_run(root / "b", "/data/wikiart7", 0.45)
    _fake_run(root / "c", "/data/synthetic", 0.90)
    report = collect([root])
    answer = next(s.answer for s in report.sections if s.anchor == "classifier")
    # the synthetic run's 0.90 is not the best of the wikiart7 runs
    assert "Best of 2 classifier runs on wikiart7 (runs/b)" in answer, answer
    assert "Best of 3" not in answer
    assert "On synthetic:" in answer


# 3. training says what the data hides


def test_training_says_what_it_skipped_and_holds_out(tmp_path, capsys) -> None:
    data = make_dataset(
        tmp_path / "data",
        {"train": {"Baroque": 8, "Cubism": 8, "Rococo": 8}, "test": {"Baroque": 2, "Cubism": 2}},
    )
    (data / "train" / "Baroque" / "broken.jpg").write_bytes(b"not a picture")
    assert _train(data, tmp_path / "run") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 unreadable image(s) skipped (first: " in out and "broken.jpg" in out
    assert "none in test: Rococo" in out

    flat = make_dataset(tmp_path / "flat", {"train": {"Baroque": 10, "Cubism": 10}})
    assert _train(flat, tmp_path / "held") == 0
    assert "no test split on disk: 20% of each style held out" in capsys.readouterr().out
    config = yaml.safe_load((tmp_path / "held" / "config.yaml").read_text())
    assert config["test_fraction"] == 0.2  # what was done, not null


# 4. validation figures are labelled as validation


def test_figures_of_the_val_split_say_val(monkeypatch) -> None:
    from artstyle.analysis import plots
    from artstyle.workflows.figures import write_classifier_figures

    figure = plots.confusion_matrix_figure(np.eye(2), ["A", "B"], split="val")
    assert figure.axes[0].get_ylabel() == "true style (val images)"
    figure = plots.per_class_figure(["A", "B"], {"recall": [1.0, 0.5]}, [3, 4], split="val")
    assert figure.axes[0].get_xlabel().startswith("score on the val split (val images")

    seen = {}
    monkeypatch.setattr(plots, "save_figure", lambda *args, **kwargs: None)
    for name in ("confusion_matrix_figure", "per_class_figure"):
        monkeypatch.setattr(plots, name, lambda *a, _n=name, **k: seen.setdefault(_n, k["split"]))
    per_class = {s: {"recall": 1.0, "precision": 1.0, "f1": 1.0, "support": 1} for s in "AB"}
    metrics = {"split": "val", "per_class": per_class, "confusion_matrix": [[1, 0], [0, 1]],
               "balanced_accuracy": 1.0, "accuracy": 1.0}  # fmt: skip
    write_classifier_figures(runs.RunFolder(Path("/nowhere")), metrics, [], best_epoch=None)
    assert seen == {"confusion_matrix_figure": "val", "per_class_figure": "val"}


# 5. a subset of the run's styles is fine


def test_data_of_fewer_styles_is_read_by_name(tmp_path) -> None:
    from artstyle.data.dataset import ArraySplit, ClassifierData, relabel

    run_classes = ["Baroque", "Cubism", "Rococo"]
    runs.check_classes(run_classes, ["Baroque", "Rococo"], run_path=tmp_path, subset=True)
    with pytest.raises(ArtstyleError, match="styles not in the run: Ukiyo_e"):
        runs.check_classes(run_classes, ["Baroque", "Ukiyo_e"], run_path=tmp_path, subset=True)
    with pytest.raises(ArtstyleError, match="styles missing from the data: Cubism"):
        runs.check_classes(run_classes, ["Baroque", "Rococo"], run_path=tmp_path)

    data = ClassifierData.from_arrays(
        ["Baroque", "Rococo"], np.zeros((4, 2, 2, 3), np.uint8), np.array([0, 1, 1, 0]),
        val_fraction=0.0,
    )  # fmt: skip
    moved = relabel(data, run_classes)
    assert moved.classes == run_classes
    assert moved.arrays["train"].labels.tolist() == [0, 2, 2, 0]
    assert moved.train_counts.tolist() == [2, 0, 2]
    assert isinstance(moved.arrays["train"], ArraySplit)


def test_embed_an_autoencoder_on_other_styles_and_a_classifier_on_fewer(tmp_path, capsys) -> None:
    data = make_dataset(
        tmp_path / "data",
        {"train": {"Baroque": 8, "Cubism": 8, "Rococo": 8}, "test": {"Baroque": 2, "Cubism": 2, "Rococo": 2}},
    )  # fmt: skip
    fewer = make_dataset(
        tmp_path / "fewer", {"train": {"Baroque": 4, "Rococo": 4}, "test": {"Baroque": 2}}
    )
    other = make_dataset(tmp_path / "other", {"train": {"Ukiyo_e": 4, "Pop_Art": 4}})
    assert _train(data, tmp_path / "clf") == 0
    assert main(["train", "autoencoder", "--data", str(data), "--out", str(tmp_path / "ae"),
                 *TINY, "--widths", "8,16", "--latent-dim", "8"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "clf.npz"
    assert main(["embed", str(tmp_path / "clf"), "--data", str(fewer), "--out", str(out)]) == 0
    assert main(["embed", str(tmp_path / "ae"), "--data", str(other), "--out",
                 str(tmp_path / "ae.npz"), "--split", "train"]) == 0  # fmt: skip
    assert main(["embed", str(tmp_path / "clf"), "--data", str(other), "--out",
                 str(tmp_path / "no.npz"), "--split", "train"]) == 2  # fmt: skip
    assert "styles not in the run: Pop_Art, Ukiyo_e" in " ".join(capsys.readouterr().err.split())


# 6. one rule for the streams: results on stdout, progress on stderr


def test_train_prints_its_result_on_stdout(tiny_data, tmp_path, capsys) -> None:
    assert main(["train", "classifier", "--data", str(tiny_data), "--out", str(tmp_path / "r"),
                 "--epochs", "1", "--size", "16", "--batch-size", "8"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "test balanced accuracy" in captured.out and "wrote" in captured.out
    assert "test balanced accuracy" not in captured.err
    assert "epoch 1/1" in captured.err  # the per-epoch lines are progress


# 7. cluster's header is whole


def test_cluster_prints_its_header_whole(tiny_data, tmp_path, capsys) -> None:
    assert _train(tiny_data, tmp_path / "clf") == 0
    capsys.readouterr()
    code = main(["cluster", str(tmp_path / "clf"), "--data", str(tiny_data), "--k", "3",
                 "--projection", "pca", "--out", str(tmp_path / "c")])  # fmt: skip
    assert code == 0
    assert "classifier: 6 images, kmeans k=3" in capsys.readouterr().out


# 8. audit's screen and JSON count the same groups


def test_audit_screen_and_json_agree_on_near_duplicate_groups(planted, capsys) -> None:  # noqa: F811
    # planted: one greyscale copy within train, one mirrored copy across train and test
    assert main(["data", "audit", str(planted), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["near_duplicate_groups"] == 2
    assert counts["near_duplicate_groups_within_split"] == 1
    assert counts["near_duplicate_groups_across_splits"] == 1
    assert main(["data", "audit", str(planted)]) == 0
    screen = " ".join(capsys.readouterr().out.split())
    assert "near duplicates within a split: 1 group" in screen
    assert "1 more group across train and test, under leakage" in screen


# 10. a file is not called a missing folder


def test_evaluate_on_an_embeddings_file_names_it_a_file(tmp_path, capsys) -> None:
    npz = tmp_path / "clf_test.npz"
    npz.write_bytes(b"")
    assert main(["evaluate", str(npz)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{npz} is a file, not a run folder" in err and "artstyle cluster" in err
    assert "does not exist" not in err


# 11 and 12. stopping: a resumed epoch says what it averages; an early Ctrl-C resumes


def test_a_resumed_epoch_row_says_which_batches_it_averages(tiny_data, tmp_path, monkeypatch):
    from artstyle.train import loop

    polls = {"n": 0}

    def ctrl_c_at_poll_3(self) -> int:
        polls["n"] += 1
        return loop.StopRequests.INTERRUPT if polls["n"] == 3 else loop.StopRequests.NONE

    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(loop.StopRequests, "local_code", ctrl_c_at_poll_3)
        assert main(["train", "classifier", "--data", str(tiny_data), "--out", str(run),
                     "--epochs", "2", "--size", "16", "--batch-size", "4",
                     "--progress", "false"]) == 130  # fmt: skip
    assert main(["train", "classifier", "--resume", str(run)]) == 0
    history = runs.read_history(runs.RunFolder(run))
    assert history[0]["train_from_batch"] == 4  # batches 1-3 were the stopped session's
    assert history[1].get("train_from_batch") is None


def test_a_ctrl_c_before_the_first_checkpoint_leaves_a_resumable_run(
    tiny_data, tmp_path, monkeypatch
) -> None:
    from artstyle.train.tasks.classifier import ClassifierTask

    def interrupted(self, device, share=(0, 1)):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(ClassifierTask, "setup", interrupted)
        assert _train(tiny_data, run) == 130
    assert (run / "config.yaml").is_file() and not (run / "checkpoints" / "last.ckpt").exists()
    assert main(["train", "classifier", "--resume", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["stopped"] == "finished"


# 13. at 80 columns nothing is cut


def test_help_and_tables_fit_80_columns(tmp_path, capsys, monkeypatch) -> None:
    from artstyle.cli.evaluate import _below_common_folder

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["lora", "generate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    assert "--safety-checker / --no-safety-checker" in text
    assert "inference_steps)" in " ".join(text.split())
    folder, names = _below_common_folder(["/tmp/a/x.jpg", "/srv/b/y.jpg"])
    assert folder == "" and names == ["/tmp/a/x.jpg", "/srv/b/y.jpg"]
    folder, names = _below_common_folder(["/tmp/a/x.jpg", "/tmp/b/y.jpg"])
    assert (folder, names) == ("/tmp", ["a/x.jpg", "b/y.jpg"])


# what users of timm / Hugging Face command lines expect


def test_train_help_lists_every_config_key_with_type_and_default(capsys) -> None:
    from artstyle.config import ClassifierConfig

    assert main(["train", "classifier", "--help"]) == 0
    text = capsys.readouterr().out
    for name in ClassifierConfig.model_fields:
        assert f"--{name.replace('_', '-')} " in text, name
    assert "--balance none|weights|resample|sampler|logit-adjust [logit-adjust]" in text
    assert "--label-smoothing float [" in text


def test_a_misspelt_config_key_gets_a_suggestion(tiny_data, tmp_path, capsys) -> None:
    assert _train(tiny_data, tmp_path / "r", "--epocs", "2") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown key 'epocs' (allowed: " in err and "did you mean 'epochs' for 'epocs'?" in err


def test_json_from_train_embed_cluster_and_report(tiny_data, tmp_path, capsys) -> None:
    run = tmp_path / "clf"
    assert _train(tiny_data, run, "--json") == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads((run / "metrics.json").read_text())
    npz = tmp_path / "e.npz"
    assert main(["embed", str(run), "--data", str(tiny_data), "--out", str(npz), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_vectors"] == 6
    assert main(["cluster", str(npz), "--k", "3", "--projection", "pca", "--json",
                 "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["k"] == 3
    page = tmp_path / "r.html"
    assert main(["report", str(run), "--out", str(page), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(page)
