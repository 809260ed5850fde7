"""`artstyle lora ...`: LoRA fine-tuning of a local text-to-image model, and its samples."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from artstyle.cli.app import (
    OVERRIDES,
    ConfigOpt,
    DataOpt,
    DevicesOpt,
    JsonOpt,
    ResumeOpt,
    RunArg,
    RunOutOpt,
    SeedOpt,
    comma_list,
    console,
    lora_app,
    print_json,
    print_plain,
    train_or_resume,
    with_options,
)

TrainBaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base",
        help="Local Stable Diffusion 1.x/2.x folder (model_index.json, unet/, vae/, ...).",
    ),
]
ResolutionOpt = Annotated[
    int | None,
    typer.Option("--resolution", help="Training image side in pixels (multiple of 8)."),
]

# what `_painting_command` gives both painting commands, in their --help order
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
BaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base", help="Local Stable Diffusion 1.x/2.x folder (default: the one the run recorded)."
    ),
]
SafetyOpt = Annotated[
    bool | None,
    typer.Option(
        "--safety-checker/--no-safety-checker",
        help="Run the NSFW checker (off by default: it blacks out nudes in paintings).",
    ),
]

# --prompt sits among each painting command's own options in --help, so each names it
PromptOpt = Annotated[
    str | None,
    typer.Option(
        "--prompt", help="Subject added to the style caption; a {style} in it is filled in instead."
    ),
]


@lora_app.command("train", context_settings=OVERRIDES)
def lora_train_command(
    ctx: typer.Context,
    base: TrainBaseOpt = None,
    data: DataOpt = None,
    out: RunOutOpt = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = None,
    resolution: ResolutionOpt = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="LoRA rank.")] = None,
    devices: DevicesOpt = None,
    seed: SeedOpt = None,
) -> None:
    """LoRA-fine-tune a local Stable Diffusion folder on the styles of a data set.

    Every key of the LoRA config is also accepted as --key value (e.g. --lr 1e-4
    --grad-accum 4 --gradient-checkpointing --snr-gamma 5 --crop random
    --validation-styles Baroque,Rococo --precision 16-mixed). An image's own
    caption (IMAGE.txt beside it, or a row of DATA/captions.csv) replaces its
    style caption (--captions style: never); --caption-dropout 0.1,
    --shuffle-tags and --keep-tokens 1 vary captions as kohya's scripts do.
    --buckets trains each painting in its own aspect ratio (64-px buckets of
    about resolution^2 pixels, never upscaled; --resolution a multiple of 64);
    --cache-latents encodes every image once with the VAE and trains from the
    cached latents (same losses, faster steps; needs --crop center).

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
    print_plain(
        f"trained {metrics['steps']} steps ({metrics['precision']}, {speed:.2f} images/s); "
        f"loss {metrics['loss_mean_first_10pct']:.4f} -> {metrics['loss_mean_last_10pct']:.4f}; "
        f"wrote {Path(run) / 'pytorch_lora_weights.safetensors'}"
    )
    if metrics.get("n_image_captions"):
        print_plain(
            f"{metrics['n_image_captions']} of {metrics['n_train_images']} images trained with their own captions"
        )
    if metrics.get("stopped"):
        console.print(f"[yellow]stopped early:[/] {metrics['stopped']}", highlight=False)
    if metrics["unreadable"]:
        console.print(
            f"[yellow]unreadable images replaced:[/] {len(metrics['unreadable'])} (listed in metrics.json)"
        )


# What --seed and --out mean in each painting command; their other sampling options are the same.
_SEED_AND_OUT_HELP = {
    "generate": (
        "Seed of the first image.",
        "PNG to write (default: RUN/samples/STYLE_seedS.png).",
    ),
    "grid": ("One seed for every image.", "PNG to write (default: RUN/figures/style_grid.png)."),
}


def _painting_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `lora NAME` with the sampling options `generate` and `grid` end with.

    They follow the command's own options in --help; both painting functions take them as
    the same keywords, so the command gets them as ``**sampling``.
    """
    seed_help, out_help = _SEED_AND_OUT_HELP[name]
    sampling = (
        ("seed", Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1, help=seed_help)], 0),
        ("steps", LoraStepsOpt, None),
        ("guidance", GuidanceOpt, None),
        ("out", Annotated[Path | None, typer.Option("--out", help=out_help)], None),
        ("base", BaseOpt, None),
        ("safety_checker", SafetyOpt, None),
    )

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = [
            parameter
            for parameter in inspect.signature(command, eval_str=True).parameters.values()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        return lora_app.command(name)(with_options(command, own, sampling))

    return register


@_painting_command("generate")
def lora_generate_command(
    run: RunArg,
    style: Annotated[
        str, typer.Option("--style", help="A style the run was trained on (e.g. Rococo).")
    ],
    prompt: PromptOpt = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Number of images (image i uses seed S + i).")
    ] = 4,
    **sampling: Any,
) -> None:
    """Paint images in one style with a LoRA run.

    Example: artstyle lora generate runs/lora --style Rococo --prompt "a harbour at dawn" --n 4 --seed 1
    """
    from artstyle.generate.lora import generate

    result = generate(run, style=style, prompt=prompt, n=n, **sampling)
    print_plain(f"wrote {result['path']} ({result['n']} images, prompt: {result['prompt']!r})")
    if result["nsfw_flagged"]:
        console.print(
            f"[yellow]the safety checker blacked out {result['nsfw_flagged']} image(s)[/]"
        )


@_painting_command("grid")
def lora_grid_command(
    run: RunArg,
    styles: Annotated[
        str | None,
        typer.Option(
            "--styles", help="Comma-separated styles (default: up to 4 spread over the run's)."
        ),
    ] = None,
    prompt: PromptOpt = None,
    **sampling: Any,
) -> None:
    """One prompt and seed across styles: the base model's row above the LoRA model's.

    Example: artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn" --seed 3
    """
    from artstyle.workflows.lora import style_grid

    result = style_grid(run, styles=comma_list(styles), prompt=prompt, **sampling)
    print_plain(
        f"wrote {result['path']} (styles: {', '.join(result['styles'])}; seed {result['seed']})"
    )


@lora_app.command("export")
def lora_export_command(
    run: RunArg,
    out: Annotated[
        Path, typer.Option("--out", help="The .safetensors file to write (one file, any tool).")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="kohya: the layout AUTOMATIC1111/Forge and ComfyUI read (lora_unet_..., "
            ".alpha); diffusers: pipe.load_lora_weights's own.",
        ),
    ] = "diffusers",
    as_json: JsonOpt = False,
) -> None:
    """Write a LoRA run's weights as one file for other tools, with metadata (base, rank, alpha, styles).

    Example: artstyle lora export runs/lora --format kohya --out rococo.safetensors
    """
    from artstyle.generate.lora import export_lora

    result = export_lora(run, out=out, fmt=fmt)
    if as_json:
        print_json({"out": str(result["out"]), "format": fmt, "n_tensors": result["n_tensors"]})
        return
    print_plain(
        f"wrote {result['out']} ({fmt} layout, {result['n_tensors']} tensors; rank "
        f"{result['metadata']['ss_network_dim']}, alpha {result['metadata']['ss_network_alpha']})"
    )
