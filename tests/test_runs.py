"""Run folders, checkpoints that never run code, the architecture registry, metrics by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from artstyle.config import ClassifierConfig
from artstyle.errors import ArtstyleError
from artstyle.metrics import (
    classification_metrics,
    confusion_matrix,
    rarest_recalls,
    top_k_accuracy,
)
from artstyle.models import architecture_names, build_model, model_spec
from artstyle.train import runs
from artstyle.train.loop import batch_slices, shard
from artstyle.train.optim import Schedule

# ---------------------------------------------------------------- registry and models


@pytest.mark.parametrize("name", architecture_names())
def test_every_registered_architecture_builds_and_runs(name: str) -> None:
    from artstyle.models import get_architecture

    entry = get_architecture(name)
    model = build_model(name, **({"num_classes": 5} if entry.kind == "classifier" else {})).eval()
    size = getattr(model.config, "image_size", 64)
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        if entry.kind == "classifier":
            features = model.forward_features(x)  # (B, D)
            assert features.shape == (2, model.config.feature_dim)
            assert model.forward_head(features).shape == (2, 5)
        elif entry.kind == "stylizer":
            assert model(x, torch.zeros(2, dtype=torch.long)).shape == (2, 3, size, size)
        else:
            assert model.decode(model.encode(x)).shape == (2, 3, size, size)
    assert model_spec(model)["architecture"] == name
    assert model_spec(model)["kind"] == entry.kind


def _with_trained_batchnorm_statistics(model):
    """Give every BatchNorm running statistics and an affine map far from the identity."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.1)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model


@pytest.mark.parametrize(
    ("name", "args", "n_kept"),
    [
        ("resnet_tiny", {}, 0),
        ("plain_cpu", {"pool_first": False, "whiten": 0}, 0),
        # a max-pool between a convolution and its BatchNorm: that BatchNorm stays (4 stages)
        ("plain_cpu", {"whiten": 0}, 4),
        ("conv_ae", {}, 0),
    ],
)
def test_folding_batchnorm_keeps_the_eval_outputs(name: str, args: dict, n_kept: int) -> None:
    import copy

    from artstyle.models import fold_batchnorm, get_architecture

    torch.manual_seed(0)
    classifier = get_architecture(name).kind == "classifier"
    model = build_model(name, **args, **({"num_classes": 5} if classifier else {}))
    model = _with_trained_batchnorm_statistics(model).to(memory_format=torch.channels_last).eval()
    n_norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    folded = copy.deepcopy(model).train()
    assert fold_batchnorm(folded) == n_norms - n_kept > 0
    assert not folded.training
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()) == n_kept
    first = next(m for m in folded.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.bias is not None and first.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        if classifier:
            torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)
        else:
            torch.testing.assert_close(folded.encode(x), model.encode(x), rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)


def test_the_plain_layout_convolves_every_pixel_then_halves_per_stage() -> None:
    from artstyle.models.classifier import PlainClassifier, mean_std

    model = build_model("plain_cpu", num_classes=7, pool="avg", whiten=0).eval()
    assert isinstance(model, PlainClassifier) and model.config.widths == (16, 32, 64, 128)
    first_conv = model.stages[0][0]
    assert first_conv.stride == (1, 1) and first_conv.in_channels == 3
    # two convolutions (BatchNorm, ReLU) and a 2x2 max-pool in each stage, the pool before the
    # last BatchNorm; no shortcuts. The built-in defaults: GELU, the pool last
    kinds = [type(m).__name__ for m in model.stages[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    usual = build_model("plain_cpu", num_classes=7, activation="gelu", pool_first=False, whiten=0)
    kinds = [type(m).__name__ for m in usual.stages[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "GELU", "Conv2d", "BatchNorm2d", "GELU", "MaxPool2d"]
    # the preset: a fixed patch whitening (24 channels) in place of the first convolution
    kinds = [type(m).__name__ for m in build_model("plain_cpu", num_classes=7).stages[0]]
    assert kinds == ["PatchWhitening", "Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        sides, h = [], x
        for stage in model.stages:
            h = stage(h)
            sides.append(h.shape[-1])
        assert sides == [32, 16, 8, 4]
        torch.testing.assert_close(model.forward_features(x), h.mean(dim=(2, 3)))
        # depth 2: two pairs of convolutions a stage; multiscale pools every stage
        deep = build_model(
            "plain_cpu", num_classes=7, depths=(2, 1, 1, 1), pool="multiscale", whiten=0
        )
        assert sum(isinstance(m, torch.nn.Conv2d) for m in deep.stages[0]) == 4
        features = deep.eval().forward_features(x)
        assert features.shape == (2, 2 * (16 + 32 + 64 + 128))
        torch.testing.assert_close(features[:, :32], mean_std(deep.stages[0](x)))


def test_pooling_first_gives_the_same_function_with_a_quarter_of_the_normalising() -> None:
    """``pool_first``: conv, max-pool, BatchNorm, activation. With ReLU and a positive BatchNorm
    scale (eval mode) that is the same function as the usual order, on a quarter of the values."""
    usual = build_model("plain_cpu", num_classes=5, activation="relu", pool_first=False, whiten=0)
    first = build_model("plain_cpu", num_classes=5, activation="relu", pool_first=True, whiten=0)
    kinds = [type(m).__name__ for m in first.stages[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    # the same parameters in the same order: only the max-pool moved
    usual_state, first_state = usual.state_dict(), first.state_dict()
    assert [v.shape for v in usual_state.values()] == [v.shape for v in first_state.values()]
    torch.manual_seed(0)
    for module in usual.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 2.0)  # positive scales
            module.bias.data.normal_()
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    first.load_state_dict(dict(zip(first_state, usual.state_dict().values(), strict=True)))
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(first.eval()(x), usual.eval()(x), rtol=1e-5, atol=1e-5)
        # a negative scale does not commute with the max-pool: the order matters then
        first.stages[0][5].weight.data.mul_(-1)
        assert not torch.allclose(first(x), usual(x), atol=1e-3)
    with pytest.raises(ArtstyleError, match="activation must be one of gelu, relu, got .tanh."):
        build_model("plain_cpu", num_classes=5, activation="tanh")


def test_unknown_architecture_and_argument_are_named() -> None:
    with pytest.raises(ArtstyleError, match="unknown architecture 'resnet_huge'.*resnet_tiny"):
        build_model("resnet_huge")
    with pytest.raises(ArtstyleError, match="no argument.*colour"):
        build_model("resnet_tiny", colour=3)


def test_pooling_variants_and_their_feature_sizes() -> None:
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        for pool, dim in (("avg", 128), ("avgstd", 256), ("multiscale", 2 * (32 + 64 + 128))):
            model = build_model("resnet_tiny", num_classes=3, pool=pool).eval()
            assert model.config.feature_dim == dim
            assert model.forward_features(x).shape == (1, dim)
    # a channel that is constant over the image (all zero after ReLU) still has a finite gradient
    from artstyle.models.classifier import mean_std

    constant = torch.zeros(2, 4, 5, 5, requires_grad=True)
    mean_std(constant).sum().backward()
    assert torch.isfinite(constant.grad).all()


def test_mean_std_pooling_gives_each_channels_mean_and_population_std():
    from artstyle.models.classifier import mean_std

    torch.manual_seed(0)
    x = torch.relu(torch.randn(3, 5, 6, 7) * 2 + 1)
    for layout in (torch.contiguous_format, torch.channels_last):
        pooled = mean_std(x.contiguous(memory_format=layout))
        assert pooled.shape == (3, 10)
        var, mean = torch.var_mean(x.flatten(2).double(), dim=2, correction=0)
        assert torch.allclose(pooled[:, :5].double(), mean, atol=1e-6)
        assert torch.allclose(pooled[:, 5:].double(), (var + 1e-5).sqrt(), atol=1e-6)
    # half-precision activations (autocast) come back in their own dtype
    assert mean_std(x.bfloat16()).dtype == torch.bfloat16


# ---------------------------------------------------------------- run folders


def _tiny_model(n_classes: int = 3):
    torch.manual_seed(0)
    return build_model("resnet_tiny", num_classes=n_classes, widths=(8, 16, 16))


def test_model_round_trip_gives_the_same_predictions(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    model = _tiny_model().eval()
    runs.save_model(run, model)
    spec = json.loads(run.model_json_path.read_text())
    assert spec["architecture"] == "resnet_tiny" and spec["args"]["widths"] == [8, 16, 16]
    loaded = runs.load_model(run)
    # loaded for inference: every BatchNorm is folded into its convolution
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_a_model_json_from_before_an_argument_existed_loads_as_it_was_trained(
    tmp_path: Path,
) -> None:
    """plain_cpu's preset now sets ``activation``, ``pool_first``, ``whiten`` and
    ``identity_init``; a run written before those arguments existed has none of them in
    model.json and must load with the layout it was trained with (GELU, the pool last, an
    ordinary first convolution), not today's preset."""
    run = runs.create_run(tmp_path / "run")
    torch.manual_seed(0)
    before = build_model(
        "plain_cpu",
        num_classes=4,
        activation="gelu",
        pool_first=False,
        whiten=0,
        identity_init=False,
    ).eval()
    runs.save_model(run, before)
    spec = json.loads(run.model_json_path.read_text())
    for key in ("activation", "pool_first", "whiten", "identity_init"):
        del spec["args"][key]
    run.model_json_path.write_text(json.dumps(spec))
    loaded = runs.load_model(run)
    assert any(isinstance(m, torch.nn.GELU) for m in loaded.modules())
    assert (loaded.config.activation, loaded.config.pool_first) == ("gelu", False)
    assert (loaded.config.whiten, loaded.config.identity_init) == (0, False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), before(x), rtol=1e-4, atol=1e-4)
    # a new run keeps both keys and loads with the preset's layout
    fresh = runs.create_run(tmp_path / "fresh")
    runs.save_model(fresh, build_model("plain_cpu", num_classes=4).eval())
    assert json.loads(fresh.model_json_path.read_text())["args"]["activation"] == "relu"
    reloaded = runs.load_model(fresh).config
    assert reloaded.pool_first is True and reloaded.whiten == 2


def test_channels_last_models_save_and_load_in_that_layout(tmp_path: Path) -> None:
    """Training lays convolutions out channels_last (faster on CPU and GPU); the weights file
    does not care, and load_model hands back the same layout."""
    run = runs.create_run(tmp_path / "run")
    model = _tiny_model().to(memory_format=torch.channels_last).eval()
    runs.save_model(run, model)
    loaded = runs.load_model(run)
    weight = loaded.stem[0].weight
    assert weight.ndim == 4 and weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_mismatched_weights_are_refused(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    runs.save_model(run, _tiny_model(3))
    spec = json.loads(run.model_json_path.read_text())
    spec["args"]["num_classes"] = 4
    run.model_json_path.write_text(json.dumps(spec))
    with pytest.raises(
        ArtstyleError,
        match=r"do not fit architecture resnet_tiny.*head.weight \(3, (\d+)\) vs \(4, \1\)",
    ):
        runs.load_model(run)
    spec["architecture"] = "no_such_net"
    run.model_json_path.write_text(json.dumps(spec))
    with pytest.raises(ArtstyleError, match="unknown architecture 'no_such_net'"):
        runs.load_model(run)


def test_a_model_and_classes_json_of_different_runs_are_refused(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    runs.save_model(run, _tiny_model(3))
    runs.write_classes(run, ["Baroque", "Cubism"])
    with pytest.raises(ArtstyleError, match=r"model of 3 styles but .*classes.json names 2"):
        runs.load_model(run)
    runs.write_classes(run, ["Baroque", "Cubism", "Rococo"])
    runs.load_model(run)


def test_weights_holding_nan_are_refused(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    model = _tiny_model(3)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    runs.save_model(run, model)
    with pytest.raises(ArtstyleError, match=r"holds NaN or infinite weights \(head.weight\)"):
        runs.load_model(run)


def test_existing_run_is_refused_without_resume(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    runs.write_config(run, ClassifierConfig(seed=7), task="classifier")
    with pytest.raises(ArtstyleError, match="already holds a run.*--resume"):
        runs.create_run(tmp_path / "run")
    assert runs.create_run(tmp_path / "run", resume=True).path == run.path
    header = runs.read_config_header(run)
    assert header["task"] == "classifier" and header["seed"] == 7 and "version" in header
    assert runs.read_config(run, ClassifierConfig, task="classifier").seed == 7
    with pytest.raises(ArtstyleError, match="is a run of task 'classifier', not 'autoencoder'"):
        runs.read_config(run, ClassifierConfig, task="autoencoder")
    # a folder with files but no config.yaml is fine (e.g. one made by hand for the run)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    runs.create_run(tmp_path / "other")


def test_class_map_mismatch_names_the_styles(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    runs.write_classes(run, ["Baroque", "Cubism", "Rococo"])
    classes = runs.read_classes(run)
    runs.check_classes(classes, ["Baroque", "Cubism", "Rococo"], run_path=run.path)
    with pytest.raises(ArtstyleError) as info:
        runs.check_classes(classes, ["Baroque", "Fauvism", "Rococo"], run_path=run.path)
    assert "styles not in the run: Fauvism" in str(info.value)
    assert "styles missing from the data: Cubism" in str(info.value)


def test_checkpoint_round_trip_with_weights_only(tmp_path: Path) -> None:
    model = _tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": 3,
        "rng": torch.get_rng_state(),
    }
    path = tmp_path / "checkpoints" / "last.ckpt"
    runs.save_checkpoint(path, state)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left behind
    loaded = runs.load_checkpoint(path)
    assert loaded["step"] == 3
    torch.testing.assert_close(loaded["model"]["head.weight"], model.state_dict()["head.weight"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


class _RunsCode:
    """Unpickling this would call os.system: a checkpoint that executes code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "side_effect"
    path = tmp_path / "evil.ckpt"
    torch.save({"model": {}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(ArtstyleError, match="refused to load"):
        runs.load_checkpoint(path)
    assert not marker.exists()


def test_metrics_and_history_files(tmp_path: Path) -> None:
    run = runs.create_run(tmp_path / "run")
    runs.write_history(
        run, [{"epoch": 1, "train_loss": 2.5}, {"epoch": 2, "train_loss": 1.25, "val_loss": 1.5}]
    )
    assert run.history_path.read_text().splitlines() == [
        "epoch,train_loss,val_loss",
        "1,2.5,",
        "2,1.25,1.5",
    ]
    assert runs.read_history(run) == [
        {"epoch": 1, "train_loss": 2.5, "val_loss": None},
        {"epoch": 2, "train_loss": 1.25, "val_loss": 1.5},
    ]
    runs.write_metrics(run, {"accuracy": np.float64(0.5)})
    assert runs.read_metrics(run) == {"accuracy": 0.5}


# ---------------------------------------------------------------- metrics by hand


def test_balanced_accuracy_ignores_styles_absent_from_test() -> None:
    classes = ["A", "B", "C"]  # C has no test image
    y_true = [0, 0, 0, 0, 1, 1]
    y_pred = [0, 0, 0, 1, 1, 2]
    metrics = classification_metrics(y_true, y_pred, classes, train_counts=[10, 50, 5])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # recall A = 3/4, B = 1/2; C is absent and not averaged as a zero
    assert metrics["balanced_accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    f1_a = 2 * 1.0 * 0.75 / 1.75
    f1_b = 2 * 0.5 * 0.5 / 1.0
    assert metrics["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    # the largest training style is B: always answering B gets 2 of 6 right
    assert metrics["majority_baseline_accuracy"] == pytest.approx(2 / 6)
    assert metrics["majority_baseline_style"] == "B"
    assert metrics["chance_accuracy"] == pytest.approx(0.5)
    assert metrics["styles_absent_from_test"] == ["C"]
    assert metrics["per_class"]["C"] == {"precision": 0.0, "recall": None, "f1": None, "support": 0}
    assert metrics["per_class"]["A"]["support"] == 4
    assert metrics["confusion_matrix"] == [[3, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert metrics["n_test"] == 6


def test_confusion_top_k_and_rarest() -> None:
    assert confusion_matrix([1, 1, 0], [1, 0, 0], 2).tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ArtstyleError, match="outside 0..1"):
        confusion_matrix([2], [0], 2)
    scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    assert top_k_accuracy([2, 2], scores, 1) == 0.0
    assert top_k_accuracy([2, 2], scores, 2) == 0.5
    metrics = classification_metrics([0, 1, 2, 2], [0, 0, 2, 2], ["A", "B", "C"])
    assert rarest_recalls(metrics, {"A": 9, "B": 2, "C": 5}, n=2) == {"B": 0.0, "C": 1.0}


# ---------------------------------------------------------------- loop helpers


def test_shard_pads_training_and_not_evaluation() -> None:
    indices = np.arange(5)
    assert shard(indices, 0, 2, pad=True).tolist() == [0, 2, 4]
    assert shard(indices, 1, 2, pad=True).tolist() == [1, 3, 0]
    assert shard(indices, 1, 2, pad=False).tolist() == [1, 3]


def test_evaluation_batch_defaults_to_the_device_and_respects_a_choice() -> None:
    from artstyle.train.loop import eval_batch_size

    assert ClassifierConfig().eval_batch_size is None
    assert eval_batch_size(None, torch.device("cpu")) == 128
    assert eval_batch_size(None, torch.device("cuda", 0)) == 512
    assert eval_batch_size(7, torch.device("cpu")) == 7


def test_global_batchnorm_outside_ddp_is_plain_batchnorm() -> None:
    """--sync-batchnorm swaps the class only: same tensors, same outputs in one process
    (tests/test_ddp.py checks that 2 processes then train exactly like 1)."""
    from artstyle.train.engine import GlobalBatchNorm2d, sync_batchnorm

    model = _tiny_model()
    reference = _tiny_model()
    weight = model.stem[1].weight
    n_norms = sum(type(m) is torch.nn.BatchNorm2d for m in model.modules())
    assert sync_batchnorm(model) == n_norms > 0
    assert isinstance(model.stem[1], GlobalBatchNorm2d) and model.stem[1].weight is weight
    assert model.state_dict().keys() == reference.state_dict().keys()
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x))  # train mode: batch statistics
    torch.testing.assert_close(model.stem[1].running_var, reference.stem[1].running_var)
    model.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_evaluation_runs_without_autograd_in_the_default_batches() -> None:
    """evaluate_stage (validation, test, `artstyle evaluate`) must not record a graph: that
    would keep every activation alive and slow evaluation down."""
    from artstyle.data.dataset import ClassifierData
    from artstyle.train.engine import make_fabric
    from artstyle.train.loop import evaluate_stage
    from artstyle.train.tasks.classifier import ClassifierTask

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(300) % 3
    config = ClassifierConfig(size=16, accelerator="cpu", progress=False, width=8, tta=False)
    data = ClassifierData.from_arrays(["a", "b", "c"], images, labels, val_fraction=0.49, seed=0)
    fabric = make_fabric(config)
    task = ClassifierTask(config, data)
    task.setup(fabric.device)
    model = task.build_model()
    calls = []
    model.register_forward_hook(
        lambda *_: calls.append((torch.is_grad_enabled(), _[1][0].shape[0]))
    )
    totals = evaluate_stage(fabric, task, model, "val", batch_size=None)
    n_val = len(task.eval_indices("val"))
    assert int(totals["n"]) == n_val > 128
    # batches of the CPU default (128), none of them recording gradients
    assert [size for _, size in calls] == [128] + [n_val - 128]
    assert not any(grad for grad, _ in calls)
    assert model.training  # put back as it was


def test_batch_slices_never_leave_a_single_image() -> None:
    assert batch_slices(9, 4) == [(0, 4), (4, 9)]
    assert batch_slices(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_schedules() -> None:
    one = Schedule("onecycle", total_steps=10, warmup_steps=2)
    assert one(0) == pytest.approx(1 / 25 + (1 - 1 / 25) / 2)
    assert one(1) == pytest.approx(1.0)
    assert one(2) == pytest.approx(1.0) and one(10) == pytest.approx(0.0)
    cosine = Schedule("cosine", total_steps=10, warmup_steps=0)
    assert (
        cosine(0) == pytest.approx(1.0)
        and cosine(5) == pytest.approx(0.5)
        and cosine(10) == pytest.approx(0.0)
    )


def test_json_printed_by_commands_is_strict_json(capsys) -> None:
    from artstyle.cli import print_json

    print_json({"loss": float("nan"), "scores": [1.0, float("inf")], "n": np.int64(3)})
    printed = json.loads(capsys.readouterr().out, parse_constant=pytest.fail)
    assert printed == {"loss": None, "scores": [1.0, None], "n": 3}


def test_balance_verdict_is_the_one_winner_rule() -> None:
    from artstyle.metrics import balance_verdict

    won = balance_verdict({"none": 0.50, "weights": 0.61, "sampler": 0.55})
    assert (won.best, won.best_score, won.none_score) == ("weights", 0.61, 0.50)
    assert won.beats_none is True and won.beating_none == ["weights", "sampler"]
    # a tie with none: none wins, whatever the order the strategies came in
    tie = balance_verdict({"weights": 0.6, "none": 0.6})
    assert tie.best == "none" and tie.beats_none is False and tie.beating_none == []
    # none not run: a best, but no word on beating it
    alone = balance_verdict({"weights": 0.4, "sampler": 0.45})
    assert alone.best == "sampler" and alone.beats_none is None and alone.beating_none == []
    with pytest.raises(ArtstyleError, match="no strategy scores"):
        balance_verdict({})
