"""A classifier run's part: scores beside their baselines, confusion, per-class scores."""

from __future__ import annotations

from artstyle.report.blocks import Card, Cards, Note, Part, no_metrics_note
from artstyle.report.figures import figure_block
from artstyle.report.read import Run
from artstyle.report.sections.common import add_curves_and_other_numbers, curves
from artstyle.report.tables import confusion_table, per_class_table
from artstyle.report.wording import as_number, fmt, short
from artstyle.text import plural


def classifier_part(run: Run, part: Part) -> None:
    metrics = run.metrics
    if metrics is None:
        part.add(no_metrics_note())
        part.blocks.extend(curves(run))
        return
    chance = metrics.get("chance_accuracy")
    if chance is None and run.classes:
        chance = 1.0 / len(run.classes)
    majority = metrics.get("majority_baseline_accuracy")
    balanced = metrics.get("balanced_accuracy")
    if as_number(balanced) is not None:
        answer = f"Balanced accuracy {short(balanced)}"
        if as_number(majority) is not None:
            answer += f" vs majority baseline {short(majority)}"
        if as_number(chance) is not None:
            answer += f" (chance {short(chance)})"
        if metrics.get("n_test"):
            answer += f" on {fmt(metrics['n_test'])} test images"
        part.answer = answer + "."
    majority_style = metrics.get("majority_baseline_style")
    cards = [
        Card(
            "accuracy",
            fmt(metrics.get("accuracy"), "accuracy"),
            f"majority baseline {fmt(majority, 'accuracy')}"
            + (f" ({majority_style})" if majority_style else ""),
        ),
        Card("balanced accuracy", fmt(balanced, "accuracy"), f"chance {fmt(chance, 'accuracy')}"),
        Card(
            "macro-F1",
            fmt(metrics.get("macro_f1"), "f1"),
            f"chance ≈ {fmt(chance, 'accuracy')}",
        ),
    ]
    if as_number(metrics.get("top3_accuracy")) is not None:
        cards.append(
            Card(
                "top-3 accuracy",
                fmt(metrics["top3_accuracy"], "accuracy"),
                "true style among the 3 best",
            )
        )
    if as_number(metrics.get("network_balanced_accuracy")) is not None:
        share = as_number(metrics.get("statistics"))
        cards.append(
            Card(
                "each expert alone",
                f"{fmt(metrics['network_balanced_accuracy'], 'accuracy')} / "
                f"{fmt(metrics.get('statistics_balanced_accuracy'), 'accuracy')}",
                "balanced accuracy of the network / the statistics expert"
                + (f", mixed {1 - share:g} : {share:g}" if share is not None else ""),
            )
        )
    if "n_test" in metrics:
        cards.append(
            Card(
                "test images",
                fmt(metrics["n_test"]),
                f"{fmt(metrics.get('n_styles_in_test', len(run.classes or [])))} styles",
            )
        )
    part.blocks.append(Cards(cards))
    absent = metrics.get("styles_absent_from_test")
    if absent is None and isinstance(metrics.get("per_class"), dict):
        absent = [
            s
            for s, v in metrics["per_class"].items()
            if isinstance(v, dict) and v.get("support") == 0
        ]
    if absent:
        part.blocks.append(
            Note(
                f"styles absent from the test split: {', '.join(absent)}; they are left out of balanced accuracy and macro-F1",
                "info",
            )
        )
    copies = as_number(metrics.get("n_test_in_train"))
    if copies:
        named = metrics.get("test_in_train") or []
        part.blocks.append(
            Note(
                f"{plural(int(copies), 'test image')} of {fmt(metrics.get('n_test'))} equal a "
                "training image pixel for pixel, so these scores partly measure memory"
                + (
                    f" ({', '.join(map(str, named[:5]))}{', ...' if copies > 5 else ''})"
                    if named
                    else ""
                )
                + "; `artstyle data audit` lists the copies to remove"
            )
        )
    classes = run.classes or list((metrics.get("per_class") or {}).keys())
    confusion = figure_block(
        run.claim(r"^confusion(_matrix)?$"),
        lambda p: "Confusion matrix, rows normalised (true style in rows)",
        run.problems,
    )
    if confusion is not None:
        part.blocks.append(confusion)
    elif isinstance(metrics.get("confusion_matrix"), list) and classes:
        table = confusion_table(metrics["confusion_matrix"], classes)
        part.add(table)
    per_class = per_class_table(metrics.get("per_class"))
    part.add(per_class)
    figures = figure_block(
        run.claim(r"^per_?class(_scores)?$"), lambda p: "Per-class scores", run.problems
    )
    part.add(figures)
    shown = {
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "majority_baseline_accuracy",
        "majority_baseline_style",
        "chance_accuracy",
        "top3_accuracy",
        "n_test",
        "n_styles_in_test",
        "styles_absent_from_test",
        "n_test_in_train",
        "test_in_train",
        "per_class",
        "confusion_matrix",
        "statistics",
        "network_balanced_accuracy",
        "statistics_balanced_accuracy",
    }
    add_curves_and_other_numbers(run, part, shown)
