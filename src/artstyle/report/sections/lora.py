"""A LoRA run's part: rank and base model, loss, style grid, validation images."""

from __future__ import annotations

from artstyle.report.blocks import Details, Note, Part
from artstyle.report.figures import caption_from_name, figure_block
from artstyle.report.read import LORA_WEIGHTS, Run
from artstyle.report.sections.common import add_curves_and_other_numbers
from artstyle.report.wording import as_number, fmt


def lora_part(run: Run, part: Part) -> None:
    config = run.config or {}
    metrics = run.metrics or {}
    base = config.get("base") or config.get("base_model") or config.get("pretrained")
    facts = [f"rank {config['rank']}"] if "rank" in config else []
    if "resolution" in config:
        facts.append(f"{config['resolution']} px")
    answer = "LoRA" + (f" ({', '.join(facts)})" if facts else "") + (f" on {base}" if base else "")
    first = as_number(metrics.get("loss_mean_first_10pct", metrics.get("loss_first")))
    last = as_number(metrics.get("loss_mean_last_10pct", metrics.get("loss_last")))
    if first is not None and last is not None:
        answer += f": training loss {fmt(first, 'loss')} → {fmt(last, 'loss')}"
        if metrics.get("steps"):
            answer += f" over {fmt(metrics['steps'])} steps"
    if as_number(metrics.get("train_images_per_second")) is not None:
        answer += f", {fmt(metrics['train_images_per_second'], 'per_second')} images/s"
    part.answer = answer + "."
    if LORA_WEIGHTS not in run.files:
        part.blocks.append(
            Note(f"no {LORA_WEIGHTS} in this folder: the run has not saved weights", "info")
        )
    figures = figure_block(
        run.claim(r"style_grid|grid"),
        lambda p: "One prompt and seed across styles, base model beside LoRA",
        run.problems,
    )
    part.add(figures)
    # validation images every N steps: the latest in view, the earlier ones folded
    validation = sorted(run.claim(r"validation|sample"), key=lambda p: p.name)
    if validation:
        latest = figure_block(
            validation[-1:],
            lambda p: f"Validation images, latest ({caption_from_name(p).lower()})",
            run.problems,
        )
        part.add(latest)
        earlier = figure_block(validation[:-1], lambda p: caption_from_name(p), run.problems)
        if earlier is not None:
            part.blocks.append(
                Details(f"{len(earlier.figures)} earlier validation images", [earlier])
            )
    add_curves_and_other_numbers(run, part, ())
