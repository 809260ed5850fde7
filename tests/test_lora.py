"""LoRA fine-tuning on a tiny random Stable-Diffusion-format folder (built once per session)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open

from artstyle.cli import main
from artstyle.config import LoraConfig, load_config
from artstyle.errors import ArtstyleError
from artstyle.generate import lora
from artstyle.generate.lora.tiny_pipeline import build_tiny_pipeline
from artstyle.workflows import lora as lora_workflow
from conftest import interrupt_after_update, make_dataset, write_image

RESOLUTION = 32  # the tiny VAE halves the side once: 32 px images, 16 px latents


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # The tiny models gain nothing from threads, and on a shared 2-core machine two OpenMP
    # threads per test worker made each step up to 40x slower. Fabric's CPU setup reads
    # OMP_NUM_THREADS (else it takes every core), so both are set.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")


@pytest.fixture(scope="session")
def lora_data(tmp_path_factory) -> Path:
    """3 styles x 8 training images (2 test images), artist slugs in the file names."""
    root = tmp_path_factory.mktemp("lora-data") / "data"
    styles = {"Baroque": 8, "Post_Impressionism": 8, "Rococo": 8}
    return make_dataset(root, {"train": styles, "test": {"Baroque": 1, "Rococo": 1}}, size=(40, 32))


def _config(base: Path, data: Path, out: Path, **overrides) -> LoraConfig:
    values = {
        "base": base,
        "data": data,
        "out": out,
        "accelerator": "cpu",  # the same numbers on a GPU machine
        "resolution": RESOLUTION,
        "max_steps": 2,
        "batch_size": 2,
        "grad_accum": 1,
        "lr": 1e-2,  # large, so two steps move the tiny model visibly
        "rank": 4,
        "alpha": 8.0,  # alpha != rank: the saved scale must survive the reload
        "validation_every": 2,
        "inference_steps": 2,
        "checkpoint_every": 1,
        "log_every": 1,
        "progress": False,
    }
    values.update(overrides)
    return load_config(LoraConfig, overrides=values)


@pytest.fixture(scope="session")
def trained_run(tiny_base, lora_data, tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("lora-run") / "run"
    with pytest.MonkeyPatch.context() as patch:  # see _one_thread; session fixtures start before it
        patch.setenv("OMP_NUM_THREADS", "1")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            metrics = lora_workflow.train_lora(_config(tiny_base, lora_data, run))
        finally:
            torch.set_num_threads(threads)
    return run, metrics


def _plain_pipeline(base: Path):
    """The base model as a user loads it in plain diffusers."""
    lora._prepare_hf()
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        base, safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sample(pipe, prompt: str = "a painting in the Rococo style", seed: int = 0) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return pipe(
        prompt,
        num_inference_steps=2,
        generator=generator,
        height=RESOLUTION,
        width=RESOLUTION,
        output_type="np",
    ).images[0]


# ---------------------------------------------------------------- the tiny model itself


def test_tiny_pipeline_is_a_loadable_sd_folder(tiny_base):
    for name in (
        "model_index.json",
        "unet/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "scheduler/scheduler_config.json",
    ):
        assert (tiny_base / name).is_file(), name
    pipe = _plain_pipeline(tiny_base)
    assert pipe.tokenizer.model_max_length == 77
    ids = pipe.tokenizer("ab").input_ids
    # start token, one token per byte ("a", then "b</w>" ending the word), end token
    assert ids == [512, ord("a"), 256 + ord("b"), 513]
    image = _sample(pipe)
    assert image.shape == (RESOLUTION, RESOLUTION, 3)
    assert np.isfinite(image).all()


# ---------------------------------------------------------------- captions, styles, config


def test_captions_and_prompts():
    config = LoraConfig()
    assert (
        lora.caption_for("Post_Impressionism", None, config)
        == "a painting in the Post Impressionism style"
    )
    assert (
        lora.caption_for("Rococo", "jean-honore-fragonard", config)
        == "a painting by Jean Honore Fragonard in the Rococo style"
    )
    no_artist = config.model_copy(update={"artist_caption": None})
    assert (
        lora.caption_for("Rococo", "jean-honore-fragonard", no_artist)
        == "a painting in the Rococo style"
    )
    assert lora.prompt_for("Ukiyo_e", None, config) == "a painting in the Ukiyo e style"
    assert (
        lora.prompt_for("Rococo", "a harbour at dawn", config)
        == "a painting in the Rococo style, a harbour at dawn"
    )
    assert lora.prompt_for("Rococo", "a {style} harbour", config) == "a Rococo harbour"


def test_style_names_resolve_loosely_and_unknown_ones_are_refused():
    classes = ["Baroque", "Post_Impressionism", "Rococo"]
    assert lora.resolve_style("post impressionism", classes) == "Post_Impressionism"
    assert lora.resolve_style("ROCOCO", classes) == "Rococo"
    with pytest.raises(
        ArtstyleError, match="Surrealism.*choose from: Baroque, Post_Impressionism, Rococo"
    ):
        lora.resolve_style("Surrealism", classes)
    assert lora.default_validation_styles([f"S{i}" for i in range(27)]) == [
        "S0",
        "S9",
        "S17",
        "S26",
    ]


def test_config_refuses_bad_values():
    with pytest.raises(ArtstyleError, match="resolution.*multiple of 8"):
        load_config(LoraConfig, overrides={"resolution": "500"})
    with pytest.raises(ArtstyleError, match="caption.*placeholders"):
        load_config(LoraConfig, overrides={"caption": "a {genre} painting"})
    config = load_config(
        LoraConfig,
        overrides={"target_modules": "to_q,to_v", "validation_styles": "Baroque, Rococo"},
    )
    assert config.target_modules == ["to_q", "to_v"]
    assert config.validation_styles == ["Baroque", "Rococo"]
    assert load_config(LoraConfig, overrides={"artist_caption": "null"}).artist_caption is None


def test_precision_rule_on_cpu():
    assert lora.resolve_precision(LoraConfig(accelerator="cpu")) == "32-true"
    assert (
        lora.resolve_precision(LoraConfig(accelerator="cpu", precision="bf16-mixed"))
        == "bf16-mixed"
    )
    with pytest.raises(ArtstyleError, match="16-mixed needs a CUDA GPU"):
        lora.resolve_precision(LoraConfig(accelerator="cpu", precision="16-mixed"))


# ---------------------------------------------------------------- images


def test_images_are_deterministic_per_position_and_unreadable_files_are_replaced(tmp_path):
    from artstyle.data.scan import scan

    root = make_dataset(tmp_path / "data", {"train": {"A": 3, "B": 2}}, size=(48, 40))
    (root / "train" / "A" / "artist-a_work-000.jpg").write_bytes(b"not a jpeg")
    items = scan(root).split("train")
    captions = [f"c{i}" for i in range(len(items))]
    plan = np.array([0, 0, 3, 1])  # item 0 is the broken one
    dataset = lora.CaptionedImages(
        items, captions, plan, resolution=24, crop="random", flip=True, seed=5
    )
    pixels, caption, failed = dataset[0]
    assert pixels.shape == (3, 24, 24)
    assert -1.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0
    assert caption == "c1"  # the next image of style A stands in
    assert failed and failed[0].startswith("A/artist-a_work-000.jpg")
    again, _, _ = dataset[0]
    assert torch.equal(pixels, again)
    other, _, _ = lora.CaptionedImages(
        items, captions, plan, resolution=24, crop="random", flip=True, seed=6
    )[0]
    assert not torch.equal(pixels, other)  # another seed, another crop or flip
    centre, caption_b, failed_b = lora.CaptionedImages(
        items, captions, plan, resolution=24, crop="center", flip=False, seed=5
    )[2]
    assert centre.shape == (3, 24, 24) and caption_b == "c3" and failed_b == []


# ---------------------------------------------------------------- the base model folder


def test_bad_base_folders_exit_2_and_say_what_is_missing(tmp_path, tiny_base, lora_data, capsys):
    code = main(
        [
            "lora",
            "train",
            "--base",
            str(tmp_path / "nowhere"),
            "--data",
            str(lora_data),
            "--out",
            str(tmp_path / "r1"),
        ]
    )
    assert code == 2
    assert "does not exist" in capsys.readouterr().err

    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("model_index.json",):
        (partial / name).write_bytes((tiny_base / name).read_bytes())
    for folder in ("vae", "text_encoder", "tokenizer", "scheduler"):
        (partial / folder).mkdir()
        for file in (tiny_base / folder).iterdir():
            (partial / folder / file.name).write_bytes(file.read_bytes())
    (partial / "text_encoder" / "model.safetensors").unlink()
    code = main(
        [
            "lora",
            "train",
            "--base",
            str(partial),
            "--data",
            str(lora_data),
            "--out",
            str(tmp_path / "r2"),
        ]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "unet/ (config.json, diffusion_pytorch_model.safetensors)" in err
    assert "text_encoder/model.safetensors" in err
    assert "vae/" not in err
    assert not (tmp_path / "r2").exists()


def test_variant_only_weights_ask_for_variant(tmp_path, tiny_base):
    import shutil

    copy = tmp_path / "fp16"
    shutil.copytree(tiny_base, copy)
    (copy / "unet" / "diffusion_pytorch_model.safetensors").rename(
        copy / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    )
    with pytest.raises(ArtstyleError, match="pass --variant fp16"):
        lora.check_base_folder(copy)
    assert lora.check_base_folder(copy, variant="fp16") == copy


# ---------------------------------------------------------------- training end to end


def test_training_writes_a_complete_run_folder(trained_run, tiny_base, lora_data):
    run, metrics = trained_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["task"] == "lora" and config["version"] and config["seed"] == 0
    assert Path(config["base"]) == tiny_base and config["resolution"] == RESOLUTION
    assert json.loads((run / "classes.json").read_text()) == [
        "Baroque",
        "Post_Impressionism",
        "Rococo",
    ]
    assert metrics == json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["n_train_images"] == 24 and metrics["n_styles"] == 3
    assert metrics["images_per_step"] == 2 and metrics["precision"] == "32-true"
    assert metrics["train_images_per_second"] > 0
    assert metrics["unreadable"] == []
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [1, 2]
    assert all(np.isfinite(float(row["loss"])) for row in rows)
    assert metrics["loss_last"] == pytest.approx(float(rows[-1]["loss"]), rel=1e-4)
    for name in ("loss.png", "validation_step_000002.png"):
        assert (run / "figures" / name).stat().st_size > 1000
    assert (run / "checkpoints" / "last.ckpt").is_file()
    # trainable parameters = every LoRA matrix saved, nothing else
    with safe_open(str(run / lora.WEIGHTS_NAME), "pt") as handle:
        keys = list(handle.keys())
        n_saved = sum(handle.get_tensor(key).numel() for key in keys)
        assert all(handle.get_tensor(key).dtype == torch.float32 for key in keys)
    assert n_saved == metrics["trainable_parameters"]
    assert all(key.startswith("unet.") and ".lora." in key for key in keys)
    assert {key.split(".lora.")[0].rsplit(".", 1)[-1] for key in keys} >= {"to_q", "to_k", "to_v"}


def test_lora_loads_in_plain_diffusers_and_changes_the_output(trained_run, tiny_base):
    run, _ = trained_run
    pipe = _plain_pipeline(tiny_base)
    before = _sample(pipe)
    pipe.load_lora_weights(run)
    after = _sample(pipe)
    adapter = next(iter(pipe.unet.peft_config.values()))
    assert adapter.r == 4 and adapter.lora_alpha == 8  # scale alpha / r = 2 came back with the file
    assert np.abs(after - before).max() > 1e-3
    pipe.disable_lora()
    np.testing.assert_allclose(_sample(pipe), before, atol=1e-6)


def _assert_same_lora_weights(run: Path, reference: Path) -> None:
    """The two runs' saved LoRA weights: the same tensor names, equal values."""
    with (
        safe_open(str(reference / lora.WEIGHTS_NAME), "pt") as full,
        safe_open(str(run / lora.WEIGHTS_NAME), "pt") as other,
    ):
        assert set(full.keys()) == set(other.keys())
        for key in full.keys():
            torch.testing.assert_close(
                other.get_tensor(key), full.get_tensor(key), rtol=1e-5, atol=1e-6
            )


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(
    tiny_base, lora_data, tmp_path, trained_run
):
    run, _ = trained_run
    half = tmp_path / "half"
    lora_workflow.train_lora(_config(tiny_base, lora_data, half, max_steps=1, validation_every=0))
    with pytest.raises(ArtstyleError, match="already holds a run"):
        lora_workflow.train_lora(_config(tiny_base, lora_data, half, max_steps=2))
    metrics = lora_workflow.resume_lora(half, {"max_steps": 2, "validation_every": 0})
    assert metrics["steps"] == 2
    _assert_same_lora_weights(half, run)
    with pytest.raises(ArtstyleError, match="already ran 2 steps"):
        lora_workflow.resume_lora(half, {"max_steps": 2})


def test_a_run_that_failed_before_its_first_checkpoint_resumes_from_step_0(
    tiny_base, lora_data, tmp_path, trained_run, monkeypatch
):
    run, _ = trained_run
    failed = tmp_path / "failed"
    real_step = lora.train_step

    def fail_at_once(training, batches):
        raise ArtstyleError("the loss became nan at step 0")  # as a too-large --lr does

    monkeypatch.setattr(lora.loop, "train_step", fail_at_once)
    with pytest.raises(ArtstyleError, match="loss became nan"):
        lora_workflow.train_lora(_config(tiny_base, lora_data, failed))
    monkeypatch.setattr(lora.loop, "train_step", real_step)
    assert (failed / "config.yaml").is_file()
    assert not (failed / "checkpoints" / "last.ckpt").exists()
    metrics = lora_workflow.resume_lora(failed)
    assert metrics["steps"] == 2
    _assert_same_lora_weights(failed, run)


def test_resume_refuses_changed_training_settings_and_keeps_config_yaml(
    tiny_base, lora_data, tmp_path
):
    half = tmp_path / "half"
    lora_workflow.train_lora(_config(tiny_base, lora_data, half, max_steps=1, validation_every=0))
    saved = (half / "config.yaml").read_bytes()
    for change in ({"rank": 16}, {"lr": 1e-6}, {"resolution": 2 * RESOLUTION}):
        with pytest.raises(ArtstyleError, match="cannot change"):
            lora_workflow.resume_lora(half, {"max_steps": 2, **change})
        assert (half / "config.yaml").read_bytes() == saved
    lora_workflow.resume_lora(half, {"max_steps": 2, "validation_every": 0})
    assert yaml.safe_load((half / "config.yaml").read_text())["max_steps"] == 2


def test_ctrl_c_during_an_update_keeps_the_last_consistent_checkpoint(
    tiny_base, lora_data, tmp_path, trained_run, monkeypatch
):
    """Ctrl-C right after the 2nd optimizer update, before the step counts it: the step-1
    checkpoint stays, and resuming from it ends where the uninterrupted run did."""
    run, _ = trained_run
    cut = tmp_path / "cut"
    interrupt_after_update(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        lora_workflow.train_lora(_config(tiny_base, lora_data, cut, validation_every=0))
    monkeypatch.undo()
    saved = torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["step"] == 1
    lora_workflow.resume_lora(cut, {"validation_every": 0})
    _assert_same_lora_weights(cut, run)


def test_mixed_precision_keeps_lora_weights_fp32_and_options_run(tiny_base, lora_data, tmp_path):
    config = _config(tiny_base, lora_data, tmp_path / "unused", train_text_encoder=True)
    models = lora._load_training_models(tiny_base, config, torch.device("cpu"), torch.float16)
    trainable = {
        p.dtype
        for m in (models["unet"], models["text_encoder"])
        for p in m.parameters()
        if p.requires_grad
    }
    frozen = {p.dtype for p in models["unet"].parameters() if not p.requires_grad}
    assert trainable == {torch.float32}  # the fp16 gradient scaler refuses fp16 trainable weights
    assert frozen == {torch.float16}

    run = tmp_path / "options"
    metrics = lora_workflow.train_lora(
        _config(
            tiny_base,
            lora_data,
            run,
            precision="bf16-mixed",
            accelerator="cpu",
            train_text_encoder=True,
            snr_gamma=5.0,
            noise_offset=0.05,
            crop="random",
            schedule="cosine",
            warmup_steps=1,
            gradient_checkpointing=True,
            lora_dropout=0.1,
            validation_every=0,
            balance="sqrt",
        )
    )
    assert metrics["precision"] == "bf16-mixed" and np.isfinite(metrics["loss_last"])
    with safe_open(str(run / lora.WEIGHTS_NAME), "pt") as handle:
        prefixes = {key.split(".")[0] for key in handle.keys()}
    assert prefixes == {"unet", "text_encoder"}
    pipe = _plain_pipeline(tiny_base)
    pipe.load_lora_weights(run)
    assert pipe.text_encoder.peft_config  # the text-encoder LoRA loaded too
    assert np.isfinite(_sample(pipe)).all()


# ---------------------------------------------------------------- command line


def test_cli_train_generate_and_grid(tiny_base, lora_data, tmp_path, trained_run, capsys):
    run = tmp_path / "cli-run"
    code = main(
        ["lora", "train", "--base", str(tiny_base), "--data", str(lora_data), "--out", str(run), "--resolution", "32",
         "--max-steps", "1", "--rank", "2", "--grad-accum", "1", "--validation-every", "0", "--progress", "false",
         "--styles", "rococo,Baroque"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trained 1 steps" in out and (run / lora.WEIGHTS_NAME).is_file()
    # --styles keeps the chosen styles only (names resolved loosely, sorted)
    assert json.loads((run / "classes.json").read_text()) == ["Baroque", "Rococo"]
    code = main(
        ["lora", "train", "--base", str(tiny_base), "--data", str(lora_data), "--out", str(tmp_path / "bad"),
         "--max-steps", "1", "--styles", "Cubism"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Cubism" in err and "Rococo" in err
    assert not (tmp_path / "bad").exists()

    trained, _ = trained_run
    png = tmp_path / "rococo.png"
    code = main(
        [
            "lora",
            "generate",
            str(trained),
            "--style",
            "rococo",
            "--n",
            "2",
            "--seed",
            "3",
            "--steps",
            "2",
            "--out",
            str(png),
        ]
    )
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "a painting in the Rococo style" in out
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (2 * RESOLUTION, RESOLUTION)  # two images side by side

    grid = tmp_path / "grid.png"
    code = main(
        [
            "lora",
            "grid",
            str(trained),
            "--styles",
            "Baroque,Rococo",
            "--prompt",
            "a harbour",
            "--steps",
            "2",
            "--out",
            str(grid),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert grid.stat().st_size > 1000

    code = main(["lora", "generate", str(trained), "--style", "Surrealism"])
    assert code == 2
    assert "choose from: Baroque, Post_Impressionism, Rococo" in " ".join(
        capsys.readouterr().err.split()
    )
    # zero or negative sampling steps would decode noise; a negative guidance, a negative seed
    # or no images at all are refused before anything is loaded or written
    for bad in (
        ["--steps", "0"],
        ["--steps", "-3"],
        ["--guidance", "-5"],
        ["--seed", "-1"],
        ["--n", "0"],
    ):
        out = tmp_path / "never.png"
        args = ["lora", "generate", str(trained), "--style", "Rococo", "--out", str(out), *bad]
        assert main(args) == 2, bad
        assert bad[0] in capsys.readouterr().err and not out.exists()


def test_grid_puts_base_beside_lora_with_one_seed(trained_run):
    run, _ = trained_run
    result = lora_workflow.style_grid(run, styles=["Baroque", "Rococo"], seed=1, steps=2)
    grid = result["images"]
    assert grid.shape == (2, 2, RESOLUTION, RESOLUTION, 3)
    assert result["path"] == run / "figures" / "style_grid.png" and result["path"].is_file()
    assert np.abs(grid[0] - grid[1]).max() > 1e-3  # LoRA row differs from the base row
    base_only = _sample(
        _plain_pipeline(Path(yaml.safe_load((run / "config.yaml").read_text())["base"])), seed=1
    )
    np.testing.assert_allclose(
        grid[0, 1], base_only, atol=1e-5
    )  # the base row is the untouched model


def test_demo_step_without_a_base_model_is_skipped(tmp_path):
    result = lora_workflow.lora_demo_step(None, tmp_path, tmp_path / "out")
    assert "skipped" in result and "BASE_MODEL" in result["skipped"]
    assert not (tmp_path / "out").exists()


def test_unreadable_training_image_is_reported_not_fatal(tiny_base, tmp_path):
    data = make_dataset(tmp_path / "data", {"train": {"A": 2, "B": 2}})
    (data / "train" / "A" / "artist-a_work-000.jpg").write_bytes(b"")
    write_image(data / "train" / "B" / "extra.png", seed=9, fmt="PNG")
    metrics = lora_workflow.train_lora(
        _config(
            tiny_base,
            data,
            tmp_path / "run",
            max_steps=2,
            batch_size=4,
            validation_every=0,
            balance="none",
        )
    )
    assert metrics["unreadable"] and metrics["unreadable"][0].startswith("A/artist-a_work-000.jpg")


def test_grid_figure_draws_dollar_signs_in_prompts_as_text():
    from artstyle.analysis.plots import image_grid_figure

    images = np.zeros((1, 2, 8, 8, 3))
    figure = image_grid_figure(
        images, row_labels=["a $5$ painting"], col_labels=["Art$_$Deco", "base"], title="$x"
    )
    figure.canvas.draw()  # "Art$_$Deco" as TeX math raises here
    texts = [figure.axes[0].title, figure.axes[0].yaxis.label, figure._suptitle]
    assert [text.get_text() for text in texts] == ["Art$ $Deco", "a $5$ painting", "$x"]
    assert not any(text.get_parse_math() for text in texts)


def test_kohya_export_loads_in_plain_diffusers_with_the_same_images(
    trained_run, tiny_base, tmp_path
):
    from safetensors import safe_open

    run, _ = trained_run
    kohya = tmp_path / "style.safetensors"
    result = lora.export_lora(run, out=kohya, fmt="kohya")
    with safe_open(str(kohya), framework="pt") as handle:
        keys = set(handle.keys())
        metadata = handle.metadata()
        alphas = {key: float(handle.get_tensor(key)) for key in keys if key.endswith(".alpha")}
    downs = {key for key in keys if key.endswith(".lora_down.weight")}
    assert downs and all(key.startswith("lora_unet_") for key in downs)
    # every kohya module has its alpha: the run's (8), not the rank the converter assumes
    assert {key.rsplit(".", 2)[0] + ".alpha" for key in downs} == set(alphas)
    assert set(alphas.values()) == {8.0}
    assert metadata["ss_network_dim"] == "4" and metadata["ss_network_alpha"] == "8"
    assert metadata["ss_base_model"] == str(tiny_base) and metadata["artstyle_layout"] == "kohya"
    assert result["n_tensors"] == len(keys)

    reference = _plain_pipeline(tiny_base)
    reference.load_lora_weights(run)
    expected = _sample(reference)
    pipe = _plain_pipeline(tiny_base)
    pipe.load_lora_weights(str(kohya))  # plain diffusers reads the kohya layout
    # same seed, same images: the kohya file holds the same adapters at the same scale
    np.testing.assert_allclose(_sample(pipe), expected, atol=1e-5)

    again = tmp_path / "diffusers.safetensors"
    assert main(["lora", "export", str(run), "--out", str(again)]) == 0
    pipe = _plain_pipeline(tiny_base)
    pipe.load_lora_weights(str(again))
    np.testing.assert_allclose(_sample(pipe), expected, atol=1e-5)
    assert main(["lora", "export", str(run), "--out", str(tmp_path / "x.bin")]) == 2
    assert main(["lora", "export", str(run), "--format", "ckpt", "--out", str(again)]) == 2
