"""A stylizer run's part: the style hit rate beside chance, stylized grids, embeddings."""

from __future__ import annotations

from artstyle.report.blocks import Card, Cards, Part, no_metrics_note
from artstyle.report.figures import caption_from_name, figure_block
from artstyle.report.read import Run
from artstyle.report.sections.common import add_curves_and_other_numbers
from artstyle.report.wording import as_number, fmt, label_of, short


def stylizer_part(run: Run, part: Part) -> None:
    metrics = run.metrics
    if metrics is None:
        part.add(no_metrics_note())
    else:
        chance = (
            metrics.get("chance")
            or metrics.get("chance_accuracy")
            or metrics.get("style_hit_chance")
        )
        if chance is None and run.classes:
            chance = 1.0 / len(run.classes)
        hit = metrics.get("style_hit_rate")
        shuffled = as_number(metrics.get("shuffled_target_hit_rate"))
        if as_number(hit) is not None:
            answer = (
                f"The classifier recognises the requested style in {short(hit)} of stylized images"
            )
            if as_number(chance) is not None:
                answer += f" (chance {short(chance)}"
                if shuffled is not None:
                    answer += f"; {short(shuffled)} with the targets shuffled"
                answer += ")"
            if as_number(metrics.get("content_ssim")) is not None:
                answer += f"; content SSIM {short(metrics['content_ssim'])}"
            part.answer = answer + "."
        context = f"chance {fmt(chance, 'rate')}"
        if shuffled is not None:
            context += f", targets shuffled {fmt(shuffled, 'rate')}"
        cards = [Card("style hit rate", fmt(hit, "rate"), context)]
        if "content_ssim" in metrics:
            cards.append(
                Card(
                    "content SSIM",
                    fmt(metrics["content_ssim"], "ssim"),
                    "stylized vs source; 1 = unchanged",
                )
            )
        for key in ("psnr", "ssim", "mse"):
            if key in metrics:
                cards.append(Card(label_of(key), fmt(metrics[key], key), "reconstruction"))
        part.blocks.append(Cards(cards))
    maps = run.claim(r"style_embedding")
    figures = figure_block(
        run.claim(r"grid|styl|transfer|mismatch"),
        lambda p: f"Stylized images ({caption_from_name(p).lower()})",
        run.problems,
    )
    part.add(figures)
    part.add(
        figure_block(
            maps,
            lambda p: (
                "The learned style embeddings in 2-D (PCA): styles the generator "
                "treats alike lie close together"
            ),
            run.problems,
        )
    )
    add_curves_and_other_numbers(
        run,
        part,
        {
            "style_hit_rate",
            "content_ssim",
            "chance",
            "chance_accuracy",
            "psnr",
            "ssim",
            "mse",
        },
    )
