"""The run report: fake run folders in, one self-contained HTML page (and markdown) out."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from PIL import Image

from artstyle.cli import main
from artstyle.errors import ArtstyleError
from artstyle.report import (
    build_report,
    collect,
    discover,
    fmt,
    read_run,
    recognise,
    render_html,
    render_markdown,
)

STYLES = ["Baroque", "Cubism", "Rococo"]


def png(path: Path, seed: int, size: tuple[int, int] = (48, 32)) -> Path:
    """A tiny figure: a colour gradient that depends on ``seed``."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    colour = rng.integers(40, 255, size=3)[None, None, :]
    pixels = (ramp * colour / 255 + np.zeros((height, 1, 1))).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path)
    return path


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def classifier_run(run: Path, *, balanced: float = 0.84, figures: bool = True) -> Path:
    write(
        run / "config.yaml",
        "version: 0.1.0\ntask: classifier\nseed: 1234\nepochs: 3\nlr: 0.002\nbalance: sampler\n",
    )
    write(run / "classes.json", STYLES)
    write(
        run / "model.json",
        {"architecture": "resnet_tiny", "kind": "classifier", "args": {"num_classes": 3}},
    )
    write(
        run / "metrics.json",
        {
            "accuracy": 0.8,
            "balanced_accuracy": balanced,
            "macro_f1": 0.7931,
            "majority_baseline_accuracy": 0.17,
            "majority_baseline_style": "Baroque",
            "chance_accuracy": 0.5,
            "n_test": 10,
            "n_styles_in_test": 2,
            "styles_absent_from_test": ["Rococo"],
            "per_class": {
                "Baroque": {"precision": 0.9, "recall": 0.75, "f1": 0.8182, "support": 4},
                "Cubism": {"precision": 0.7, "recall": 0.9333, "f1": 0.8, "support": 6},
                "Rococo": {"precision": 0.0, "recall": None, "f1": None, "support": 0},
            },
            "confusion_matrix": [[3, 1, 0], [0, 6, 0], [0, 0, 0]],
            "train_images_per_second": 1234.5,
            "train_seconds": 95.0,
            "device": "cpu",
            "torch_version": "2.13.0",
        },
    )
    write(
        run / "history.csv",
        "epoch,train_loss,val_balanced_accuracy,lr\n1,1.2,0.5,0.002\n2,0.9,0.7,0.001\n3,0.8,0.66,0.0001\n",
    )
    if figures:
        png(run / "figures" / "confusion_matrix.png", 1)
        png(run / "figures" / "loss_curves.png", 2)
        png(run / "figures" / "saliency_maps.png", 3)  # claimed by no section: "other figures"
    return run


def autoencoder_run(run: Path) -> Path:
    write(run / "config.yaml", "version: 0.1.0\ntask: autoencoder\nseed: 7\nlatent_dim: 64\n")
    write(run / "classes.json", STYLES)
    write(
        run / "model.json", {"architecture": "conv_autoencoder", "kind": "autoencoder", "args": {}}
    )
    write(run / "metrics.json", {"psnr": 23.456, "ssim": 0.7812, "mse": 0.004512})
    write(run / "history.csv", "epoch,train_loss,val_psnr\n1,0.02,18.0\n2,0.01,23.4\n")
    png(run / "figures" / "reconstructions.png", 4)
    return run


def cluster_folder(folder: Path) -> Path:
    """What `artstyle cluster` writes (analysis/cluster.py): scores nested, a verdict sentence."""
    write(
        folder / "cluster.json",
        {
            "source": "/runs/ae/embeddings.npz",
            "kind": "autoencoder",
            "split": "test",
            "n_points": 120,
            "method": "kmeans",
            "k": 3,
            "seed": 0,
            "scores": {
                "nmi": 0.4567,
                "ari": 0.21,
                "homogeneity": 0.4,
                "completeness": 0.5,
                "purity": 0.61,
                "silhouette": 0.12,
                "nmi_chance": 0.0213,
            },
            "verdict": "Styles cluster partly: NMI 0.46 (chance 0.02), ARI 0.21, purity 0.61.",
            "clusters": [
                {
                    "cluster": 2,
                    "size": 50,
                    "top_styles": [["Baroque", 30], ["Rococo", 20]],
                    "central": ["a.jpg"],
                }
            ],
            "sweep": [{"k": 2, "nmi": 0.3, "ari": 0.1}, {"k": 3, "nmi": 0.4567, "ari": 0.21}],
            "figures": ["figures/embedding_pca.png", "figures/contingency.png"],
        },
    )
    png(folder / "figures" / "embedding_pca.png", 5)
    png(folder / "figures" / "contingency.png", 6)
    return folder


def representations_folder(folder: Path) -> Path:
    """What `compare-representations` writes: rows with mean and spread over seeds, an answer."""
    rows = [
        {
            "representation": rep,
            "source": f"/x/{rep}.npz",
            "dim": dim,
            "nmi": nmi,
            "nmi_std": 0.01,
            "ari": ari,
            "ari_std": 0.02,
            "folder": rep,
        }
        for rep, dim, nmi, ari in (
            ("pixels", 768, 0.12, 0.05),
            ("autoencoder", 64, 0.25, 0.1),
            ("classifier", 128, 0.6123, 0.4),
        )
    ]
    answer = "the classifier features groups the styles best (NMI 0.612, +0.362 over the autoencoder latent at 0.250)."
    write(
        folder / "representations.json",
        {"method": "kmeans", "k": 3, "rows": rows, "best": "classifier", "answer": answer},
    )
    write(folder / "representations.md", "| representation | nmi |\n")
    png(folder / "figures" / "representations.png", 10)
    return folder


def comparison_folder(folder: Path) -> Path:
    """What `compare-balance` writes: one run folder per strategy plus comparison.json/.md and a figure."""
    rows = [
        {
            "strategy": "none",
            "accuracy": 0.7,
            "balanced_accuracy": 0.55,
            "macro_f1": 0.5,
            "rarest5_recall_mean": 0.2,
            "rarest5_recall": {"Rococo": 0.2},
            "minutes": 1.5,
            "run": str(folder / "none"),
        },
        {
            "strategy": "sampler",
            "accuracy": 0.68,
            "balanced_accuracy": 0.63,
            "macro_f1": 0.58,
            "rarest5_recall_mean": 0.45,
            "rarest5_recall": {"Rococo": 0.45},
            "minutes": 1.6,
            "run": str(folder / "sampler"),
        },
    ]
    write(
        folder / "comparison.json",
        {"seed": 0, "epochs": 2, "rows": rows, "best_strategy": "sampler", "best_beats_none": True},
    )
    write(folder / "comparison.md", "| strategy |\n")
    png(folder / "figures" / "balance_comparison.png", 7)
    classifier_run(folder / "none", balanced=0.55, figures=False)
    return folder


def stylizer_run(run: Path) -> Path:
    write(run / "config.yaml", "version: 0.1.0\ntask: stylizer\nseed: 3\n")
    write(run / "classes.json", STYLES)
    write(
        run / "metrics.json", {"style_hit_rate": 0.7222, "content_ssim": 0.6111, "chance": 0.3333}
    )
    png(run / "figures" / "style_grid.png", 8)
    return run


def lora_run(run: Path) -> Path:
    """What `artstyle lora train` writes (generate/lora/): history by step, validation images every N steps."""
    write(
        run / "config.yaml",
        "version: 0.1.0\ntask: lora\nseed: 5\nbase: /models/sd15\nrank: 4\nresolution: 64\n",
    )
    write(
        run / "metrics.json",
        {
            "task": "lora",
            "steps": 20,
            "loss_mean_first_10pct": 0.2345,
            "loss_mean_last_10pct": 0.1234,
            "train_images_per_second": 2.5,
            "train_seconds": 8.0,
            "rank": 4,
            "weights": "pytorch_lora_weights.safetensors",
        },
    )
    write(
        run / "history.csv",
        "step,loss,lr,images_per_second,seconds\n10,0.2,1e-4,2.4,4.0\n20,0.12,1e-4,2.6,8.0\n",
    )
    (run / "pytorch_lora_weights.safetensors").write_bytes(b"\0" * 64)
    png(run / "figures" / "style_grid.png", 9)
    png(run / "figures" / "loss.png", 11)
    png(run / "figures" / "validation_step_000010.png", 12)
    png(run / "figures" / "validation_step_000020.png", 13)
    return run


def data_folder(folder: Path) -> Path:
    write(
        folder / "stats.json",
        {
            "root": "/data/synth",
            "source_kind": "folders",
            "classes": STYLES,
            "rows": [
                {"style": "Baroque", "train": 40, "test": 8},
                {"style": "Cubism", "train": 20, "test": 4},
                {"style": "Rococo", "train": 5, "test": 0},
            ],
            "splits": {
                "train": {
                    "n_images": 65,
                    "n_styles": 3,
                    "largest": "Baroque",
                    "smallest": "Rococo",
                    "imbalance_ratio": 8.0,
                },
                "test": {
                    "n_images": 12,
                    "n_styles": 2,
                    "largest": "Baroque",
                    "smallest": "Cubism",
                    "imbalance_ratio": 2.0,
                },
            },
            "missing_in_test": ["Rococo"],
            "notes": [],
            "n_skipped": 0,
            "skipped_by_reason": {},
            "skipped": [],
        },
    )
    member = {"path": "train/Baroque/a.jpg", "split": "train", "style": "Baroque"}
    copy = {"path": "test/Baroque/a.jpg", "split": "test", "style": "Baroque"}
    group = {
        "members": [member, copy],
        "splits": ["test", "train"],
        "styles": ["Baroque"],
        "cross_split": True,
        "styles_differ": False,
    }
    write(
        folder / "audit.json",
        {
            "root": "/data/synth",
            "source_kind": "folders",
            "n_images": {"train": 65, "test": 12},
            "params": {"min_side": 64, "max_aspect": 3.0, "min_style_images": 10},
            "unreadable": [
                {
                    "path": "train/Cubism/bad.jpg",
                    "split": "train",
                    "style": "Cubism",
                    "reason": "truncated",
                }
            ],
            "exact_duplicates": [group],
            "leakage_exact": [group],
            "small_styles": [{"style": "Rococo", "n_train": 5}],
            "counts": {"exact_duplicate_groups": 1},
        },
    )
    write(
        folder / "balance.json",
        {
            "split": "train",
            "target": "mean",
            "per_class": 22,
            "rows": [
                {"style": "Baroque", "before": 40, "after": 22, "copies_per_image_max": 1},
                {"style": "Rococo", "before": 5, "after": 22, "copies_per_image_max": 5},
            ],
            "n_before": 45,
            "n_after": 44,
            "n_oversampled": 1,
            "n_undersampled": 1,
        },
    )
    return folder


def full_tree(root: Path) -> Path:
    data_folder(root / "data")
    classifier_run(root / "classifier")
    comparison_folder(root / "compare")
    autoencoder_run(root / "autoencoder")
    cluster_folder(root / "autoencoder" / "cluster")
    representations_folder(root / "representations")
    stylizer_run(root / "stylizer")
    lora_run(root / "lora")
    return root


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)">', page)


# ---------------------------------------------------------------- sections


def test_every_section_present_when_its_runs_exist(tmp_path):
    summary = build_report([full_tree(tmp_path / "out")], out=tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert section_ids(page) == [
        "at-a-glance",
        "dataset",
        "classifier",
        "representation",
        "generation",
    ]
    assert summary.sections == ["Dataset", "Classifier", "Representation", "Generation"]
    # classifier, comparison (with its nested run), autoencoder, cluster, representations, stylizer, lora
    assert summary.n_runs == 8
    for title in (
        "classifier · classifier",
        "imbalance strategies · compare",
        "autoencoder · autoencoder",
        "clustering · cluster",
        "representations compared · representations",
        "stylizer · stylizer",
        "LoRA · lora",
    ):
        assert f"<h3>{title}</h3>" in page, title
    assert summary.notes == []


def test_sections_without_runs_are_left_out(tmp_path):
    classifier_run(tmp_path / "runs" / "clf")
    build_report([tmp_path / "runs"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert section_ids(page) == ["at-a-glance", "classifier"]
    for absent in ("Dataset", "Representation", "Generation", "Other runs"):
        assert f"<h2>{absent}</h2>" not in page


def test_only_data_summaries_make_a_dataset_report(tmp_path):
    data_folder(tmp_path / "data")
    summary = build_report([tmp_path / "data"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_runs == 0 and summary.sections == ["Dataset"]
    assert "65 training images in 3 styles" in page
    assert "has 8.0x the images of the smallest (Rococo, 5)" in page
    assert "No test images for Rococo." in page
    # audit findings with counts, examples and what to do
    assert "exact copies across train/test (groups)" in page
    assert "train/Baroque/a.jpg = test/Baroque/a.jpg" in page
    assert "remove the test copy to avoid leakage" in page
    assert "train/Cubism/bad.jpg: truncated" in page
    assert (
        "Audit: 1 copy group across train/test (leakage), 1 exact duplicate group, 1 unreadable file."
        in page
    )
    # balance plan
    assert (
        "Balancing to 22 per style turns 45 images into 44 (1 style oversampled, 1 undersampled)."
        in page
    )


# ---------------------------------------------------------------- values


def test_classifier_numbers_beside_baselines(tmp_path):
    classifier_run(tmp_path / "clf")
    page = render_html(collect([tmp_path / "clf"]))
    assert (
        "Balanced accuracy 0.84 vs majority baseline 0.17 (chance 0.50) on 10 test images." in page
    )
    assert '<div class="value">0.840</div>' in page
    assert "majority baseline 0.170 (Baroque)" in page
    assert "styles absent from the test split: Rococo" in page
    # run facts: seed, version, timings, environment
    assert "1234" in page and "0.1.0" in page
    assert "1 min 35 s" in page  # train_seconds
    assert "1,234" in page  # images per second
    assert "2.13.0" in page
    assert "pixel for pixel" not in page  # no copies recorded, no note


def test_a_mixed_classifier_shows_each_expert_alone(tmp_path):
    run = classifier_run(tmp_path / "clf")
    metrics = json.loads((run / "metrics.json").read_text())
    plain = render_html(collect([run]))
    assert "each expert alone" not in plain
    metrics.update(statistics=0.5, network_balanced_accuracy=0.61, statistics_balanced_accuracy=0.7)
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = render_html(collect([run]))
    assert "each expert alone" in page and '<div class="value">0.610 / 0.700</div>' in page
    assert "the network / the statistics expert, mixed 0.5 : 0.5" in page


def test_classifier_tested_on_copies_of_training_images_says_so(tmp_path):
    run = classifier_run(tmp_path / "clf")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(n_test_in_train=2, test_in_train=["Cubism/a.jpg", "Baroque/b.jpg"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = render_html(collect([run]))
    assert (
        "2 test images of 10 equal a training image pixel for pixel, so these scores partly "
        "measure memory (Cubism/a.jpg, Baroque/b.jpg)" in page
    )
    assert "n_test_in_train" not in page  # shown as the note, not again as a raw number


def test_a_file_name_that_is_not_utf8_is_written_as_a_question_mark(tmp_path):
    run = classifier_run(tmp_path / "clf")
    metrics = json.loads((run / "metrics.json").read_text())
    name = os.fsdecode(b"caf\xe9.jpg")  # as os.walk gives a Latin-1 name: a lone surrogate
    metrics.update(n_test_in_train=1, test_in_train=[f"Cubism/{name}"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    summary = build_report([run], out=tmp_path / "r.html", markdown=tmp_path / "r.md")
    assert "Cubism/caf?.jpg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_bytes == (tmp_path / "r.html").stat().st_size
    assert (tmp_path / "r.md").read_text(encoding="utf-8")


def test_several_classifiers_answer_names_the_best(tmp_path):
    classifier_run(tmp_path / "runs" / "a", balanced=0.61)
    classifier_run(tmp_path / "runs" / "b", balanced=0.84)
    classifier_run(tmp_path / "runs" / "c", balanced=0.42)
    page = render_html(collect([tmp_path / "runs"]))
    glance = page[page.index('<ul class="glance">') : page.index("</ul>")]
    assert (
        "Best of 3 classifier runs (runs/b): balanced accuracy 0.84 vs majority baseline 0.17"
        in glance
    )
    assert page.count("<h3>classifier · ") == 3


def test_every_part_gets_its_own_anchor_whatever_the_script(tmp_path):
    # names that slugged alike ("clf v1.0" / "clf-v1-0") or to nothing (CJK) shared one id,
    # so a contents link jumped to the wrong run
    for name in ("分类器一", "分类器二", "clf v1.0", "clf-v1-0"):
        classifier_run(tmp_path / "runs" / name)
    page = render_html(collect([tmp_path / "runs"]))
    ids = re.findall(r'<article id="([^"]+)">', page)
    assert len(ids) == 4 and len(set(ids)) == 4
    assert "classifier-runs-分类器一" in ids and "classifier-runs-clf-v1-0-2" in ids
    for anchor in ids:
        assert f'href="#{anchor}"' in page


def test_per_class_table_rows(tmp_path):
    classifier_run(tmp_path / "clf")
    page = render_html(collect([tmp_path / "clf"]))
    table = page[page.index("Per-class scores on the test split") :]
    table = table[table.index("<tbody>") : table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", rows[0])]
    # largest support first: Cubism (6), Baroque (4), Rococo (0, no recall)
    assert cells == ["Cubism", "0.700", "0.933", "0.800", "6"]
    assert [re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", row)[0]) for row in rows] == [
        "Cubism",
        "Baroque",
        "Rococo",
    ]
    assert "—" in rows[2]  # an absent style has no recall, shown as a dash, not 0


def test_history_table_best_epoch(tmp_path):
    classifier_run(tmp_path / "clf")
    page = render_html(collect([tmp_path / "clf"]))
    assert "0.700 (epoch 2)" in page  # val balanced accuracy peaks at epoch 2
    assert "0.800 (epoch 3)" in page  # train loss is lowest at the end
    assert page.count('<svg class="spark"') == 3


def test_history_table_knows_the_stylizer_loss_terms_fall():
    from artstyle.report import history_table

    history = [
        {"epoch": 1, "val_recon": 0.08, "val_content": 0.09, "val_content_ssim": 0.90},
        {"epoch": 2, "val_recon": 0.04, "val_content": 0.05, "val_content_ssim": 0.95},
        {"epoch": 3, "val_recon": 0.06, "val_content": 0.07, "val_content_ssim": 0.93},
    ]
    table = history_table(history)
    best = {row[0].text: row[2].text for row in table.rows}
    assert best["val recon"] == "0.040 (epoch 2)"
    assert best["val content"] == "0.050 (epoch 2)"
    assert best["val content SSIM"] == "0.950 (epoch 2)"


def test_other_sections_values(tmp_path):
    page = render_html(collect([full_tree(tmp_path / "out")]))
    assert "Reconstructions of held-out images reach PSNR 23.5 dB and SSIM 0.78." in page
    assert (
        "Styles cluster partly: NMI 0.46 (chance 0.02), ARI 0.21, purity 0.61 "
        "(k-means, k=3, autoencoder vectors of 120 test images)."
    ) in page
    assert "The classifier features groups the styles best (NMI 0.612" in page
    assert "0.612 ± 0.010" in page  # mean and spread over seeds in one cell
    assert "recall: Rococo" in page and "0.450" in page  # the rarest styles' recall as columns
    assert (
        "Best strategy: sampler with balanced accuracy 0.63; it beats none (0.55) by +0.08." in page
    )
    assert (
        "The classifier recognises the requested style in 0.72 of stylized images (chance 0.33); content SSIM 0.61."
        in page
    )
    assert (
        "LoRA (rank 4, 64 px) on /models/sd15: training loss 0.234 → 0.123 over 20 steps, 2.5 images/s."
        in page
    )
    assert "0.120 (step 20)" in page  # history by step: lowest loss at the last logged step


def test_tolerant_of_flat_result_files(tmp_path):
    """Scores at the top level and no ready-made sentences: the report composes its own."""
    write(
        tmp_path / "c" / "cluster.json",
        {"method": "gmm", "k": 4, "nmi": 0.3333, "ari": 0.1, "purity": 0.5},
    )
    write(
        tmp_path / "r" / "representations.json",
        [{"name": "pixels", "nmi": 0.1}, {"name": "latent", "nmi": 0.3}],
    )
    write(
        tmp_path / "b" / "comparison.json",
        {"none": {"balanced_accuracy": 0.6}, "weights": {"balanced_accuracy": 0.58}},
    )
    page = render_html(collect([tmp_path]))
    assert (
        "NMI 0.33, ARI 0.10, purity 0.50 (0 = no relation to the styles, 1 = the clusters are the styles) (Gaussian mixture, k=4)."
        in page
    )
    assert "Latent groups styles best: NMI 0.30 vs pixels 0.10." in page
    assert (
        "Best strategy: none with balanced accuracy 0.60; no strategy beats training without re-balancing."
        in page
    )


def test_config_shown(tmp_path):
    classifier_run(tmp_path / "clf")
    page = render_html(collect([tmp_path / "clf"]))
    assert "config.yaml: the resolved config" in page
    assert "balance: sampler" in page and "lr: 0.002" in page


def test_number_formatting():
    assert fmt(0.84) == "0.840"
    assert fmt(23.456) == "23.5"
    assert fmt(0.004512) == "0.00451"
    assert fmt(12345) == "12,345"
    assert fmt(3725.0, "train_seconds") == "1 h 02 min"
    assert fmt(None) == "—" and fmt(float("nan")) == "—"
    assert fmt(True) == "yes"


# ---------------------------------------------------------------- self-contained page


def test_images_embedded_as_data_uris(tmp_path):
    root = full_tree(tmp_path / "out")
    build_report([root], out=tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]*)"', page)
    n_pngs = len(list(root.rglob("*.png")))
    assert len(sources) == n_pngs == 13
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    # nothing the page would fetch: no file paths, no external CSS, JS or fonts
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "saliency maps" in page.lower()  # a figure no section claims is still shown
    assert "Other figures of this run:" in page


def test_figures_numbered_in_page_order(tmp_path):
    page = render_html(collect([full_tree(tmp_path / "out")]))
    numbers = [int(n) for n in re.findall(r'<figure id="figure-(\d+)">', page)]
    assert numbers == list(range(1, 14))
    # the classifier's confusion matrix comes first (the dataset has no figures)
    assert re.search(r"Figure 1\. Confusion matrix", page)


def test_lora_validation_images_latest_shown_earlier_folded(tmp_path):
    page = render_html(collect([lora_run(tmp_path / "lora")]))
    latest = page.index("Validation images, latest (validation step 000020)")
    folded = page.index("1 earlier validation images")
    assert latest < folded < page.index("(validation_step_000010.png)")
    assert (
        'One prompt and seed across styles, base model beside LoRA <span class="path">(style_grid.png)'
        in page
    )


def test_nested_run_folded_into_comparison(tmp_path):
    comparison_folder(tmp_path / "compare")
    summary = build_report([tmp_path / "compare"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_runs == 2
    assert "The 1 runs inside this folder" in page
    # the nested classifier is shown inside the comparison, not as its own part
    assert '<article id="classifier-' not in page
    assert "Balanced accuracy 0.55 vs majority baseline 0.17" in page


def test_a_stylizers_own_critic_and_judge_are_folded_into_it(tmp_path):
    sty = stylizer_run(tmp_path / "sty")
    classifier_run(sty / "critic", balanced=0.41)
    classifier_run(sty / "judge", balanced=0.42)
    summary = build_report([tmp_path / "sty"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.n_runs == 3
    assert "The 2 runs inside this folder" in page
    # the helpers are shown inside the stylizer, not as classifier parts of their own
    assert '<article id="classifier-' not in page


def test_corrupt_metrics_gives_a_note_not_a_crash(tmp_path):
    run = classifier_run(tmp_path / "runs" / "clf")
    (run / "metrics.json").write_text('{"accuracy": 0.8, "balan', encoding="utf-8")
    autoencoder_run(tmp_path / "runs" / "ae")
    summary = build_report([tmp_path / "runs"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    # still recognised as a classifier from model.json, with a visible note in its part
    part = page[page.index('<article id="classifier-runs-clf">') :]
    part = part[: part.index("</article>")]
    assert "metrics.json could not be read" in part
    assert "the numbers it holds are missing here" in part
    assert "no usable metrics.json: the run has not finished" in part
    assert len(summary.notes) == 1 and summary.notes[0].startswith(
        "runs/clf: metrics.json could not be read"
    )
    # the other run is intact
    assert "PSNR 23.5 dB" in page


def test_runs_without_metrics_say_so_in_their_part(tmp_path):
    for make, name in ((autoencoder_run, "ae"), (stylizer_run, "sty")):
        run = make(tmp_path / "runs" / name)
        (run / "metrics.json").unlink()
    build_report([tmp_path / "runs"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    articles = re.findall(r'<article id="([^"]+)">(.*?)</article>', page, flags=re.S)
    parts = {anchor: body for anchor, body in articles if anchor.endswith(("-ae", "-sty"))}
    assert len(parts) == 2, [anchor for anchor, _ in articles]
    for body in parts.values():
        assert "no usable metrics.json: the run has not finished" in body


def test_broken_figure_and_wrong_shapes_are_notes(tmp_path):
    run = autoencoder_run(tmp_path / "ae")
    (run / "figures" / "loss_curves.png").write_bytes(b"not a png")
    whole = (run / "figures" / "reconstructions.png").read_bytes()
    (run / "figures" / "reconstructions.png").write_bytes(whole[: len(whole) // 2])
    write(run / "classes.json", {"not": "a list"})
    summary = build_report([run], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "figure loss_curves.png is not a readable PNG or JPEG; it is left out" in page
    assert "figure reconstructions.png is not a readable PNG or JPEG; it is left out" in page
    assert "classes.json does not hold the expected JSON list; it is ignored" in page
    assert len(summary.notes) == 3
    assert len(re.findall(r"<img ", page)) == 0


def test_recognise_by_metrics_keys_and_files(tmp_path):
    def kinds(files: dict[str, object]) -> list[str]:
        folder = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        for name, content in files.items():
            write(folder / name, content)
        return recognise(read_run(folder, folder.name))

    assert kinds({"metrics.json": {"balanced_accuracy": 0.5}}) == ["classifier"]
    assert kinds({"metrics.json": {"psnr": 20.0}}) == ["autoencoder"]
    assert kinds({"metrics.json": {"style_hit_rate": 0.5}}) == ["stylizer"]
    assert kinds({"metrics.json": {"psnr": 20.0}, "cluster.json": {"nmi": 0.3}}) == [
        "autoencoder",
        "clustering",
    ]
    assert kinds({"config.yaml": "task: stylizer\n", "metrics.json": {"psnr": 20.0}}) == [
        "stylizer"
    ]
    assert kinds({"config.yaml": "seed: 1\n"}) == ["unknown"]


def test_markdown_twin(tmp_path):
    root = full_tree(tmp_path / "out")
    summary = build_report(
        [root], out=tmp_path / "report.html", markdown=tmp_path / "docs" / "REPORT.md"
    )
    text = (tmp_path / "docs" / "REPORT.md").read_text(encoding="utf-8")
    assert summary.markdown == tmp_path / "docs" / "REPORT.md"
    assert "## Dataset" in text and "## Classifier" in text and "## Generation" in text
    assert "- **Classifier**: Balanced accuracy 0.84 vs majority baseline 0.17" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 13
    assert "../out/classifier/figures/confusion_matrix.png" in links
    for link in links:  # every link resolves from the markdown file's folder
        assert (tmp_path / "docs" / link).resolve().is_file(), link
    assert "data:image" not in text
    assert "| Cubism | 0.700 | 0.933 | 0.800 | 6 |" in text
    assert "```yaml\nversion: 0.1.0\ntask: classifier\nseed: 1234" in text


def test_markdown_escapes_table_pipes(tmp_path):
    run = classifier_run(tmp_path / "clf")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["per_class"]["Cu|bism"] = metrics["per_class"].pop("Cubism")
    write(run / "metrics.json", metrics)
    report = collect([run])
    assert "| Cu\\|bism | 0.700 |" in render_markdown(report, tmp_path / "R.md")


def test_markdown_shows_text_from_files_as_text(tmp_path):
    run = classifier_run(tmp_path / "run `a` <b>")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["per_class"]["<img src=x>Cu*bi[s]m"] = metrics["per_class"].pop("Cubism")
    write(run / "metrics.json", metrics)
    write(run / "config.yaml", "seed: 1\nnote: '```'\n")
    text = render_markdown(collect([run]), tmp_path / "R.md")
    assert "<img" not in text
    assert "| &lt;img src=x&gt;Cu\\*bi\\[s\\]m | 0.700 |" in text
    assert "### classifier · run \\`a\\` &lt;b&gt;\n" in text  # the part title
    assert "\n``run `a` <b>``\n" in text  # the path, as a code span
    # the config's own ``` cannot close the block that shows it
    assert "````yaml\nseed: 1\nnote: '```'\n````" in text


def test_html_escapes_text_from_files(tmp_path):
    run = classifier_run(tmp_path / "clf")
    write(run / "config.yaml", "seed: 1\nnote: <script>alert(1)</script>\n")
    page = render_html(collect([run]))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------- no torch, CLI


def test_rendering_never_imports_torch(tmp_path):
    root = full_tree(tmp_path / "out")
    code = (
        "import sys\n"
        "from artstyle.report import build_report\n"
        f"build_report([{str(root)!r}], out={str(tmp_path / 'r.html')!r}, markdown={str(tmp_path / 'r.md')!r})\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'diffusers', 'sklearn') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout
    assert (tmp_path / "r.html").stat().st_size > 1000


def test_cli_report(tmp_path, capsys):
    root = full_tree(tmp_path / "out")
    out = tmp_path / "site" / "report.html"
    assert (
        main(
            [
                "report",
                str(root),
                "--out",
                str(out),
                "--markdown",
                str(tmp_path / "site" / "report.md"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "report.html" in printed and "8 runs" in printed and "13 figures" in printed
    assert out.is_file() and (tmp_path / "site" / "report.md").is_file()
    assert not list(
        out.parent.glob(".report.html.*.tmp")
    )  # the atomic write left no temporary file
    assert main(["report", str(root / "classifier"), "--out", str(tmp_path / "one.html")]) == 0
    assert "(1 run, " in capsys.readouterr().out
    # brackets in a path are text, not console markup
    (tmp_path / "x[").mkdir()
    for name in ("report[draft].html", "x[/].html"):
        assert main(["report", str(root / "classifier"), "--out", str(tmp_path / name)]) == 0
        assert f"wrote {tmp_path / name} (1 run, " in " ".join(capsys.readouterr().out.split())


def test_cli_missing_folder_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["report", str(missing), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "nope" in err
    assert not (tmp_path / "r.html").exists()


def test_cli_folder_without_runs_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no run folders or data summaries found" in capsys.readouterr().err


def test_out_must_be_html(tmp_path):
    classifier_run(tmp_path / "clf")
    with pytest.raises(ArtstyleError, match="must end in .html"):
        build_report([tmp_path / "clf"], out=tmp_path / "r.txt")


def test_files_as_arguments(tmp_path):
    data_folder(tmp_path / "data")
    summary = build_report([tmp_path / "data" / "stats.json"], out=tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary.sections == ["Dataset"]
    assert "65 training images" in page and "Audit" not in page  # only the file given
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArtstyleError, match="notes.txt is not a file the report reads"):
        collect([tmp_path / "notes.txt"])


def test_data_files_given_one_by_one_make_one_part(tmp_path):
    data_folder(tmp_path / "data")
    files = [tmp_path / "data" / name for name in ("stats.json", "audit.json")]
    report = collect(files)
    (section,) = report.sections
    assert len(section.parts) == 1


def test_runs_of_one_folder_name_are_told_apart(tmp_path):
    classifier_run(tmp_path / "a" / "clf", balanced=0.30)
    classifier_run(tmp_path / "b" / "clf", balanced=0.85)
    report = collect([tmp_path / "a" / "clf", tmp_path / "b" / "clf"])
    (section,) = [s for s in report.sections if s.title == "Classifier"]
    assert [part.title for part in section.parts] == ["classifier · a/clf", "classifier · b/clf"]
    assert [part.path_text for part in section.parts] == ["a/clf", "b/clf"]
    assert section.answer.startswith("Best of 2 classifier runs (b/clf): balanced accuracy 0.85")


def test_oversized_figure_is_downscaled(tmp_path, monkeypatch):
    import base64
    import io

    import artstyle.report.figures as report_figures

    run = autoencoder_run(tmp_path / "ae")
    noise = np.random.default_rng(0).integers(0, 256, size=(600, 900, 3), dtype=np.uint8)
    Image.fromarray(noise).save(run / "figures" / "reconstructions.png")
    monkeypatch.setattr(report_figures, "MAX_FIGURE_BYTES", 100_000)
    monkeypatch.setattr(report_figures, "MAX_FIGURE_SIDE", 300)
    page = render_html(collect([run]))
    src = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    with Image.open(io.BytesIO(base64.b64decode(src))) as image:
        assert image.size == (300, 200)


def test_markdown_links_with_spaces(tmp_path):
    run = autoencoder_run(tmp_path / "my runs" / "ae 1")
    report = collect([run])
    text = render_markdown(report, tmp_path / "README.md")
    assert "](my%20runs/ae%201/figures/reconstructions.png)" in text


def test_markdown_links_to_a_figure_whose_name_is_not_utf8(tmp_path):
    run = autoencoder_run(tmp_path / "ae")
    odd = os.fsdecode(b"caf\xe9_curve.png")
    shutil.copy(run / "figures" / "reconstructions.png", run / "figures" / odd)
    build_report([run], out=tmp_path / "r.html", markdown=tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "](ae/figures/caf%E9_curve.png)" in text
    assert (tmp_path / os.fsdecode(unquote_to_bytes("ae/figures/caf%E9_curve.png"))).is_file()


def test_a_bad_markdown_path_leaves_the_previous_page(tmp_path):
    run = classifier_run(tmp_path / "clf")
    page = tmp_path / "r.html"
    page.write_text("OLD")
    (tmp_path / "md").mkdir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ArtstyleError, match="--markdown .*md is a folder"):
        build_report([run], out=page, markdown=tmp_path / "md")
    with pytest.raises(ArtstyleError, match="afile is a file, not a folder"):
        build_report([run], out=page, markdown=tmp_path / "afile" / "r.md")
    with pytest.raises(ArtstyleError, match="--markdown and --out are both"):
        build_report([run], out=page, markdown=page)
    assert page.read_text() == "OLD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "clf", "md", "r.html"]


def test_a_clustering_shows_the_figures_its_cluster_json_lists(tmp_path):
    folder = cluster_folder(tmp_path / "cluster-test")
    png(folder / "figures" / "embedding_tsne.png", 7)  # left by an earlier clustering
    (section,) = collect([folder]).sections
    (part,) = section.parts
    shown = [f.path.name for b in part.blocks if hasattr(b, "figures") for f in b.figures]
    assert sorted(shown) == ["contingency.png", "embedding_pca.png"]


def test_symlinked_run_folders_are_read_once(tmp_path):
    classifier_run(tmp_path / "store" / "clf")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "latest").symlink_to(tmp_path / "store" / "clf")
    (tmp_path / "runs" / "loop").symlink_to(tmp_path / "runs")
    runs, _ = discover([tmp_path / "runs"])
    assert [run.label for run in runs] == ["runs/latest"]
    runs, _ = discover([tmp_path])
    assert len(runs) == 1


def test_the_style_embedding_map_is_not_called_stylized_images(tmp_path):
    run = stylizer_run(tmp_path / "sty")
    png(run / "figures" / "style_embeddings.png", 9)
    (section,) = collect([run]).sections
    captions = {
        f.path.name: f.caption
        for b in section.parts[0].blocks
        if hasattr(b, "figures")
        for f in b.figures
    }
    assert captions["style_grid.png"].startswith("Stylized images")
    assert captions["style_embeddings.png"].startswith("The learned style embeddings in 2-D")


def test_a_null_in_the_confusion_matrix_is_shown_as_unknown():
    from artstyle.report import confusion_table, history_table

    table = confusion_table([[3, None], [0, 5]], ["Baroque", "Cubism"])
    assert [[cell.text for cell in row] for row in table.rows] == [
        ["1 Baroque", "3", "—"],
        ["2 Cubism", "", "5"],
    ]
    assert table.rows[0][1].heat == 1.0
    one = history_table([{"epoch": 1, "val_loss": 0.5}])
    assert one.caption == "history.csv: 1 epoch"


def test_comparison_sentence_follows_the_winner_rule_on_a_tie() -> None:
    from artstyle.report.sections.comparisons import comparison_sentence

    rows = [
        {"strategy": "weights", "balanced_accuracy": 0.6},
        {"strategy": "none", "balanced_accuracy": 0.6},
    ]
    sentence = comparison_sentence(rows, "balanced_accuracy")
    assert sentence.startswith("Best strategy: none with balanced accuracy 0.60")
    assert "no strategy beats training without re-balancing" in sentence
