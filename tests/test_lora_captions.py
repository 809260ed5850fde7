"""Captions per image for LoRA training (IMAGE.txt, captions.csv) and their dropout and tag shuffles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artstyle.cli import main
from artstyle.config import LoraConfig
from artstyle.data.scan import scan
from artstyle.errors import ArtstyleError
from artstyle.generate import lora
from artstyle.generate.lora import data as lora_data_module
from artstyle.generate.lora import training as lora_training_module
from artstyle.generate.lora.tiny_pipeline import build_tiny_pipeline
from artstyle.workflows import lora as lora_workflow
from conftest import make_dataset
from test_lora import _config, _one_thread  # noqa: F401 (_one_thread: test_lora's autouse fixture)

# the artist caption of make_dataset's artist-<style>_work-NNN.jpg files
TEMPLATE = "a painting by Artist {style} in the {style} style"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")


class RecordingTokenizer:
    """The run's tokenizer, recording every text it is given, in order."""

    def __init__(self, tokenizer, texts: list[str]):
        self._tokenizer = tokenizer
        self.texts = texts

    def __call__(self, text, *args, **kwargs):
        self.texts.extend([text] if isinstance(text, str) else list(text))
        return self._tokenizer(text, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@pytest.fixture
def spy(monkeypatch) -> dict[str, list]:
    """``texts``: what the tokenizer received; ``datasets``: the runs' CaptionedImages."""
    recorded: dict[str, list] = {"texts": [], "datasets": []}
    load_models = lora_training_module._load_training_models

    def load_with_spy(*args, **kwargs):
        models = load_models(*args, **kwargs)
        models["tokenizer"] = RecordingTokenizer(models["tokenizer"], recorded["texts"])
        return models

    class RecordedImages(lora.CaptionedImages):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            recorded["datasets"].append(self)

    monkeypatch.setattr(lora_training_module, "_load_training_models", load_with_spy)
    monkeypatch.setattr(lora_data_module, "CaptionedImages", RecordedImages)
    return recorded


def _tagged_data(root: Path) -> Path:
    """2 styles x 2 images, each captioned in captions.csv with five comma-separated tags."""
    data = make_dataset(root, {"train": {"Baroque": 2, "Rococo": 2}}, size=(40, 32))
    rows = ["file,caption"] + [
        f'{path.relative_to(data).as_posix()},"{path.stem}, oil, candle, portrait, night"'
        for path in sorted((data / "train").glob("*/*.jpg"))
    ]
    (data / "captions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return data


# ---------------------------------------------------------------- through real training steps


def test_own_captions_reach_the_tokenizer_and_the_others_keep_the_style_caption(
    tiny_base, tmp_path, spy
):
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 2, "Rococo": 2}}, size=(40, 32))
    (data / "train" / "Baroque" / "artist-baroque_work-000.txt").write_text(
        "  a dark chiaroscuro interior\n", encoding="utf-8"
    )
    (data / "captions.csv").write_text(
        "file,caption\n"
        "train/Baroque/artist-baroque_work-000.jpg,loses to the txt file\n"
        'train/Rococo/artist-rococo_work-000.jpg,"a pastel garden party, swings"\n',
        encoding="utf-8",
    )
    expected = {
        "Baroque/artist-baroque_work-000.jpg": "a dark chiaroscuro interior",
        "Baroque/artist-baroque_work-001.jpg": TEMPLATE.format(style="Baroque"),
        "Rococo/artist-rococo_work-000.jpg": "a pastel garden party, swings",
        "Rococo/artist-rococo_work-001.jpg": TEMPLATE.format(style="Rococo"),
    }
    metrics = lora_workflow.train_lora(
        _config(tiny_base, data, tmp_path / "run", max_steps=4, batch_size=4, validation_every=0)
    )
    assert metrics["n_image_captions"] == 2
    (dataset,) = spy["datasets"]
    drawn = [dataset.items[int(i)].rel for i in dataset.plan]
    assert set(drawn) == set(expected)  # every image was drawn at least once
    # micro-batch k of the one device holds plan positions k*B ... k*B + B - 1, in order
    assert spy["texts"] == [expected[rel] for rel in drawn]


def test_caption_dropout_and_tag_shuffles_are_seeded_and_resume_identically(
    tiny_base, tmp_path, spy
):
    data = _tagged_data(tmp_path / "data")
    options = {
        "caption_dropout": 0.5,
        "shuffle_tags": True,
        "keep_tokens": 1,
        "max_steps": 4,
        "batch_size": 4,
        "validation_every": 0,
    }
    lora_workflow.train_lora(_config(tiny_base, data, tmp_path / "full", **options))
    full = list(spy["texts"])
    assert len(full) == 16
    dropped = [text == "" for text in full]
    assert 0 < sum(dropped) < len(full)  # some, not all, trained the unconditional branch
    orders = set()
    for text in filter(None, full):
        tags = text.split(", ")
        assert tags[0].startswith("artist-")  # the kept tag stays in front
        assert sorted(tags[1:]) == ["candle", "night", "oil", "portrait"]
        orders.add(tuple(tags[1:]))
    assert len(orders) > 1  # the other tags were shuffled

    # the same seed, cut after 2 steps and resumed: the same captions in the same order
    spy["texts"].clear()
    half = tmp_path / "half"
    lora_workflow.train_lora(_config(tiny_base, data, half, **{**options, "max_steps": 2}))
    lora_workflow.resume_lora(half, {"max_steps": 4})
    assert spy["texts"] == full

    spy["texts"].clear()
    lora_workflow.train_lora(_config(tiny_base, data, tmp_path / "other", seed=1, **options))
    assert [text == "" for text in spy["texts"]] != dropped  # another seed, another pattern

    # an exported file tells kohya-aware tools how its captions were varied
    exported = lora.export_lora(tmp_path / "full", out=tmp_path / "full.safetensors", fmt="kohya")
    assert {
        key: exported["metadata"][key]
        for key in ("ss_caption_dropout_rate", "ss_shuffle_caption", "ss_keep_tokens")
    } == {"ss_caption_dropout_rate": "0.5", "ss_shuffle_caption": "True", "ss_keep_tokens": "1"}


# ---------------------------------------------------------------- bad caption files through the CLI


def _train_args(base: Path, data: Path, out: Path) -> list[str]:
    return ["lora", "train", "--base", str(base), "--data", str(data), "--out", str(out),
            "--resolution", "32", "--max-steps", "1", "--grad-accum", "1", "--validation-every", "0",
            "--progress", "false"]  # fmt: skip


@pytest.mark.parametrize(
    ("write", "named", "says"),
    [
        (
            lambda d: (d / "train/Baroque/artist-baroque_work-000.txt").write_text("  \n"),
            "artist-baroque_work-000.txt",
            "is empty",
        ),
        (
            lambda d: (d / "train/Baroque/artist-baroque_work-001.txt").write_bytes(b"caf\xe9\n"),
            "artist-baroque_work-001.txt",
            "not UTF-8",
        ),
        (
            lambda d: (d / "captions.csv").write_text("path,caption\nx.jpg,y\n"),
            "captions.csv:1",
            "no column file",
        ),
        (
            lambda d: (d / "captions.csv").write_text(
                "file,caption\ntrain/Rococo/artist-rococo_work-000.jpg,fine\n"
                "train/Rococo/missing.jpg,a caption\n"
            ),
            "captions.csv:3",
            "train/Rococo/missing.jpg is no image of the data set",
        ),
    ],
    ids=["empty-txt", "bad-utf8-txt", "csv-without-file-column", "csv-unknown-file"],
)
def test_bad_caption_files_exit_2_with_one_line_naming_them(
    tiny_base, tmp_path, capsys, write, named, says
):
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 2, "Rococo": 2}}, size=(40, 32))
    write(data)
    out = tmp_path / "run"
    code = main(_train_args(tiny_base, data, out))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and named in err and says in err, err
    assert not out.exists()  # refused before the run folder is made


def test_captions_style_ignores_caption_files(tiny_base, tmp_path, capsys):
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 2}}, size=(40, 32))
    (data / "train" / "Baroque" / "artist-baroque_work-000.txt").write_text("")
    (data / "captions.csv").write_text("no,header\n")
    out = tmp_path / "run"
    code = main([*_train_args(tiny_base, data, out), "--captions", "style"])
    assert code == 0, capsys.readouterr().err
    assert "own captions" not in capsys.readouterr().out


def test_keep_tokens_without_shuffle_tags_is_refused(tiny_base, tmp_path, capsys):
    data = make_dataset(tmp_path / "data", {"train": {"Baroque": 1}}, size=(40, 32))
    code = main([*_train_args(tiny_base, data, tmp_path / "run"), "--keep-tokens", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "--shuffle-tags" in err


# ---------------------------------------------------------------- the caption functions


def _captions(data: Path, **overrides) -> tuple[dict[str, str], int]:
    index = scan(data)
    items = index.split("train")
    config = LoraConfig(**overrides)
    captions, n_own = lora.training_captions(
        items, root=index.root, every_item=index.items, config=config
    )
    return {item.rel: caption for item, caption in zip(items, captions, strict=True)}, n_own


def test_training_captions_read_txt_and_csv_and_style_ignores_them(tmp_path):
    data = make_dataset(tmp_path / "data", {"train": {"A": 2}, "test": {"A": 1}})
    (data / "train" / "A" / "artist-a_work-001.txt").write_bytes(
        "\ufeffune nature morte, été\r\n".encode()
    )
    # a test image may be named too (it is an image of the data set), and "./" or "\" are fine
    (data / "captions.csv").write_text(
        "caption,file,notes\n"
        "from the table,./train\\A\\artist-a_work-000.jpg,x\n"
        "\n"
        "a test image,test/A/artist-a_work-000.jpg\n",
        encoding="utf-8",
    )
    captions, n_own = _captions(data)
    assert captions == {
        "A/artist-a_work-000.jpg": "from the table",
        "A/artist-a_work-001.jpg": "une nature morte, été",
    }
    assert n_own == 2
    captions, n_own = _captions(data, captions="style")
    assert set(captions.values()) == {"a painting by Artist A in the A style"} and n_own == 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", r"captions.csv:1: no column file or caption \(header: empty\)"),
        (
            "file,caption\ntrain/A/artist-a_work-000.jpg,one\ntrain/A/artist-a_work-000.jpg,two\n",
            r"captions.csv:3: train/A/artist-a_work-000.jpg has a caption already \(line 2\)",
        ),
        (
            "file,caption\ntrain/A/artist-a_work-000.jpg,\n",
            r"captions.csv:2: train/A/artist-a_work-000.jpg has an empty caption",
        ),
        ("file,caption\n,a caption\n", r"captions.csv:2: \(no file\) is no image"),
        (
            'file,caption\ntrain/A/artist-a_work-000.jpg,"two\nlines"\n',
            r"captions.csv:2: .* caption of several lines",
        ),
    ],
)
def test_captions_csv_errors_name_the_row(tmp_path, table, message):
    data = make_dataset(tmp_path / "data", {"train": {"A": 2}})
    (data / "captions.csv").write_text(table, encoding="utf-8")
    with pytest.raises(ArtstyleError, match=message):
        _captions(data)


def test_a_caption_file_of_several_lines_is_refused(tmp_path):
    data = make_dataset(tmp_path / "data", {"train": {"A": 1}})
    (data / "train" / "A" / "artist-a_work-000.txt").write_text("one\ntwo\n")
    with pytest.raises(ArtstyleError, match="artist-a_work-000.txt holds 2 lines"):
        _captions(data)


def test_vary_caption_keeps_the_first_tags_and_is_seeded():
    caption = "sks style, a, b, c, d, e"

    def draw(seed: int, **options) -> str:
        return lora.vary_caption(caption, np.random.default_rng(seed), **options)

    assert draw(0) == caption  # no options: the caption as it is
    shuffled = [draw(seed, shuffle_tags=True, keep_tokens=2) for seed in range(20)]
    for text in shuffled:
        tags = text.split(", ")
        assert tags[:2] == ["sks style", "a"] and sorted(tags[2:]) == ["b", "c", "d", "e"]
    assert len(set(shuffled)) > 1
    assert shuffled == [draw(seed, shuffle_tags=True, keep_tokens=2) for seed in range(20)]
    dropped = [draw(seed, dropout=0.5) == "" for seed in range(100)]
    assert 30 < sum(dropped) < 70
    assert all(draw(seed, dropout=0.0) for seed in range(100))
    # kohya counts keep_tokens in tags; more than there are keeps them all in place
    assert draw(3, shuffle_tags=True, keep_tokens=10) == caption
