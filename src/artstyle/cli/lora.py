"""`artstyle lora ...`: LoRA fine-tuning of a local text-to-image model, and its samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artstyle.cli.app import (
    OVERRIDES,
    ConfigOpt,
    DataOpt,
    DevicesOpt,
    ResumeOpt,
    RunArg,
    RunOutOpt,
    SeedOpt,
    console,
    lora_app,
    train_or_resume,
)

BaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base", help="Local Stable Diffusion 1.x/2.x folder (default: the one the run recorded)."
    ),
]


LoraStepsOpt = Annotated[
    int | None,
    typer.Option("--steps", min=1, help="Sampling steps (default: the run's inference_steps)."),
]


GuidanceOpt = Annotated[
    float | None,
    typer.Option(
        "--guidance", min=0.0, help="Classifier-free guidance scale (default: the run's)."
    ),
]


PromptOpt = Annotated[
    str | None,
    typer.Option(
        "--prompt", help="Subject added to the style caption; a {style} in it is filled in instead."
    ),
]


SafetyOpt = Annotated[
    bool | None,
    typer.Option(
        "--safety-checker/--no-safety-checker",
        help="Run the NSFW checker (off by default: it blacks out nudes in paintings).",
    ),
]


@lora_app.command("train", context_settings=OVERRIDES)
def lora_train_command(
    ctx: typer.Context,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="Local Stable Diffusion 1.x/2.x folder (model_index.json, unet/, vae/, ...).",
        ),
    ] = None,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    resolution: Annotated[
        int | None,
        typer.Option("--resolution", help="Training image side in pixels (multiple of 8)."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="LoRA rank.")] = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """LoRA-fine-tune a local Stable Diffusion folder on the styles of a data set.

    Every key of the LoRA config is also accepted as --key value (e.g. --lr 1e-4
    --grad-accum 4 --gradient-checkpointing --snr-gamma 5 --crop random
    --validation-styles Baroque,Rococo --precision 16-mixed).

    Example: artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    """
    from artstyle.config import LoraConfig
    from artstyle.workflows.lora import resume_lora, train_lora

    typed = {
        "config": config,
        "resume": resume,
        "base": base,
        "data": data,
        "out": out,
        "resolution": resolution,
        "max_steps": max_steps,
        "rank": rank,
        "devices": devices,
        "seed": seed,
    }
    metrics, run = train_or_resume(
        ctx, typed, task="lora", model=LoraConfig, train=train_lora, resume=resume_lora
    )
    import torch.distributed

    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return  # one summary, from rank 0, when --devices > 1
    speed = metrics["train_images_per_second"]
    console.print(
        f"trained {metrics['steps']} steps ({metrics['precision']}, {speed:.2f} images/s); "
        f"loss {metrics['loss_mean_first_10pct']:.4f} -> {metrics['loss_mean_last_10pct']:.4f}; "
        f"wrote {Path(run) / 'pytorch_lora_weights.safetensors'}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if metrics.get("stopped"):
        console.print(f"[yellow]stopped early:[/] {metrics['stopped']}", highlight=False)
    if metrics["unreadable"]:
        console.print(
            f"[yellow]unreadable images replaced:[/] {len(metrics['unreadable'])} (listed in metrics.json)"
        )


@lora_app.command("generate")
def lora_generate_command(
    run: RunArg,
    style: Annotated[
        str, typer.Option("--style", help="A style the run was trained on (e.g. Rococo).")
    ],
    prompt: PromptOpt = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Number of images (image i uses seed S + i).")
    ] = 4,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**63 - 1, help="Seed of the first image.")
    ] = 0,
    steps: LoraStepsOpt = None,
    guidance: GuidanceOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write (default: RUN/samples/STYLE_seedS.png)."),
    ] = None,
    base: BaseOpt = None,
    safety_checker: SafetyOpt = None,
) -> None:
    """Paint images in one style with a LoRA run.

    Example: artstyle lora generate runs/lora --style Rococo --prompt "a harbour at dawn" --n 4 --seed 1
    """
    from artstyle.generate.lora import generate

    result = generate(
        run,
        style=style,
        prompt=prompt,
        n=n,
        seed=seed,
        steps=steps,
        guidance=guidance,
        base=base,
        out=out,
        safety_checker=safety_checker,
    )
    console.print(
        f"wrote {result['path']} ({result['n']} images, prompt: {result['prompt']!r})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if result["nsfw_flagged"]:
        console.print(
            f"[yellow]the safety checker blacked out {result['nsfw_flagged']} image(s)[/]"
        )


@lora_app.command("grid")
def lora_grid_command(
    run: RunArg,
    styles: Annotated[
        str | None,
        typer.Option(
            "--styles", help="Comma-separated styles (default: up to 4 spread over the run's)."
        ),
    ] = None,
    prompt: PromptOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**63 - 1, help="One seed for every image.")
    ] = 0,
    steps: LoraStepsOpt = None,
    guidance: GuidanceOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write (default: RUN/figures/style_grid.png)."),
    ] = None,
    base: BaseOpt = None,
    safety_checker: SafetyOpt = None,
) -> None:
    """One prompt and seed across styles: the base model's row above the LoRA model's.

    Example: artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn" --seed 3
    """
    from artstyle.workflows.lora import style_grid

    names = [name.strip() for name in styles.split(",") if name.strip()] if styles else None
    result = style_grid(
        run,
        styles=names,
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        base=base,
        out=out,
        safety_checker=safety_checker,
    )
    console.print(
        f"wrote {result['path']} (styles: {', '.join(result['styles'])}; seed {result['seed']})",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
