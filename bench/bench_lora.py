"""Benchmark section: LoRA training steps/s, images/s and peak memory.

Each measurement runs the real training path (run folder, data decoding,
Fabric, ``train_step``) in a fresh process, so the peak memory of one
setting does not leak into the next. Without ``--base`` the model is built
in a temporary folder with random weights: ``tiny`` (the tests' model) or the
real SD 1.5 / SD 2.1 architectures (``sd15``, ``sd2``), whose memory and speed
equal a downloaded model's.

    python bench/bench_lora.py                                   # tiny model, 64 px, this machine
    python bench/bench_lora.py --architecture sd15 --resolution 512 --steps 20 --checkpointing both
    python bench/bench_lora.py --base ~/models/stable-diffusion-v1-5 --resolution 512
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# A tiny-model step at 64 px takes well under a second on one CPU core; slower means a regression.
TINY_STEPS_PER_SECOND_TARGET = 1.0


def _write_images(root: Path, resolution: int, *, n_styles: int = 2, n_per_style: int = 4) -> Path:
    """A few random JPEGs per style, a little larger than the training side."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    side = resolution + resolution // 4
    for s in range(n_styles):
        for k in range(n_per_style):
            folder = root / "train" / f"Style_{s}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels, "RGB").save(folder / f"artist-{s}_work-{k}.jpg", quality=90)
    return root


def measure(
    *,
    architecture: str = "tiny",
    base: str | None = None,
    resolution: int = 64,
    steps: int = 5,
    warmup: int = 2,
    batch_size: int = 1,
    rank: int = 8,
    gradient_checkpointing: bool = False,
    precision: str = "auto",
    threads: int | None = None,
    cache_latents: bool = False,
) -> dict[str, Any]:
    """Time ``steps`` optimizer steps (after ``warmup``) of LoRA training in this process.

    With ``cache_latents`` the images are encoded once before the timed steps
    (``cache_seconds``) and the steps read the cached latents. ``losses`` are the
    timed steps' losses: same seed, so the two settings can be compared.
    """
    import torch

    if threads is not None:
        # Fabric's CPU setup sets torch's threads from OMP_NUM_THREADS (or the core count)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
    from artstyle.config import LoraConfig
    from artstyle.generate.lora import _prepare_hf, setup_training, train_step, training_batches
    from artstyle.generate.lora.tiny_pipeline import build_random_pipeline

    _prepare_hf()
    model_name = base if base is not None else f"{architecture} (random weights)"
    with tempfile.TemporaryDirectory(prefix="bench-lora-") as tmp:
        tmp_path = Path(tmp)
        began = time.perf_counter()
        if base is None:
            dtype = "float32" if architecture == "tiny" else "float16"
            base = str(
                build_random_pipeline(tmp_path / "model", architecture=architecture, dtype=dtype)
            )
        build_seconds = time.perf_counter() - began
        data = _write_images(tmp_path / "data", resolution)
        config = LoraConfig(
            base=Path(base),
            data=data,
            out=tmp_path / "run",
            resolution=resolution,
            max_steps=warmup + steps,
            batch_size=batch_size,
            grad_accum=1,
            rank=rank,
            gradient_checkpointing=gradient_checkpointing,
            precision=precision,
            cache_latents=cache_latents,
            checkpoint_every=10**6,
            validation_every=0,
            progress=False,
        )
        training = setup_training(config)
        batches = training_batches(training)
        device = training.fabric.device
        for _ in range(warmup):
            train_step(training, batches)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        began = time.perf_counter()
        losses = [train_step(training, batches) for _ in range(steps)]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - began
        if device.type == "cuda":
            peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
            memory_kind = "GPU memory allocated (peak)"
        else:
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
            memory_kind = "process RSS (peak, whole run)"
        return {
            "model": model_name,
            "resolution": resolution,
            "batch_size": batch_size,
            "rank": rank,
            "gradient_checkpointing": gradient_checkpointing,
            "precision": training.precision,
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"cpu ({torch.get_num_threads()} threads)",
            "steps": steps,
            "steps_per_second": steps / seconds,
            "images_per_second": steps * batch_size / seconds,
            "peak_memory_mb": peak_mb,
            "memory_kind": memory_kind,
            "trainable_parameters": sum(
                p.numel() for p in training.models["unet"].parameters() if p.requires_grad
            ),
            "build_seconds": build_seconds,
            "cache_latents": cache_latents,
            "cache_seconds": training.latents.seconds if training.latents is not None else None,
            "losses": losses,
        }


def measure_in_subprocess(**kwargs: Any) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (clean peak memory); raises with its stderr on failure."""
    args = [sys.executable, str(Path(__file__).resolve()), "--json"]
    for key, value in kwargs.items():
        if key == "gradient_checkpointing":
            args += ["--checkpointing", "on" if value else "off"]
        elif key == "cache_latents":
            args += ["--cache-latents"] if value else []
        elif value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    result = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(
            f"bench_lora failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])[0]


def section(*, quick: bool = False) -> list[dict[str, Any]]:
    """Rows for bench/run.py: the tiny model at 64 px on this machine, with and without checkpointing.

    One CPU thread: the tiny model has nothing to split across threads, and on a
    busy shared machine a second OpenMP thread made its steps up to 40x slower.
    The SD 1.5 / 2.1 numbers need a GPU: run this file with --architecture sd15 there.
    """
    from common import row

    rows = []
    for checkpointing in (False, True):
        result = measure_in_subprocess(
            resolution=64, steps=3 if quick else 10, gradient_checkpointing=checkpointing, threads=1
        )
        label = (
            f"lora tiny model 64 px, batch 1{', gradient checkpointing' if checkpointing else ''}"
        )
        where = f"{result['precision']} on {result['device']}"
        rows.append(
            row(
                f"{label}: training steps",
                result["steps_per_second"],
                "steps/s",
                target=TINY_STEPS_PER_SECOND_TARGET,
                note=where,
            )
        )
        rows.append(
            row(
                f"{label}: peak memory", result["peak_memory_mb"], "MiB", note=result["memory_kind"]
            )
        )
    rows += cached_latents_rows(steps=3 if quick else 20)
    return rows


def cached_latents_rows(*, steps: int) -> list[dict[str, Any]]:
    """steps/s of the tiny model with and without --cache-latents (same seed, same steps), and the
    largest difference of their losses. At 64 px the tiny VAE is a small share of a step; on a real
    model the VAE encoder is a larger one."""
    from common import row

    results = {
        cached: measure_in_subprocess(
            resolution=64, steps=steps, warmup=2, cache_latents=cached, threads=1
        )
        for cached in (False, True)
    }
    plain, cached = results[False], results[True]
    gap = max(abs(a - b) for a, b in zip(plain["losses"], cached["losses"], strict=True))
    where = f"{plain['precision']} on {plain['device']}, {steps} steps after 2 warm-up steps"
    label = "lora tiny model 64 px, batch 1"
    return [
        row(
            f"{label}: training steps, images decoded + VAE",
            plain["steps_per_second"],
            "steps/s",
            note=where,
        ),
        row(
            f"{label}: training steps, --cache-latents",
            cached["steps_per_second"],
            "steps/s",
            note=f"{where}; cache built in {cached['cache_seconds']:.2f} s before them",
        ),
        row(
            f"{label}: --cache-latents speed-up",
            cached["steps_per_second"] / plain["steps_per_second"],
            "x",
        ),
        row(
            f"{label}: largest loss difference, cached vs decoded",
            gap,
            "",
            target=1e-5,
            higher_is_better=False,
            note="same seed and steps; the cache stores the posterior, so both draw the same latents",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="tiny", choices=["tiny", "sd15", "sd2"])
    parser.add_argument("--base", default=None, help="a local SD folder instead of a random model")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument("--checkpointing", default="off", choices=["off", "on", "both"])
    parser.add_argument(
        "--cache-latents", action="store_true", help="encode the images once, train from latents"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON list (measures in this process)"
    )
    args = parser.parse_args(argv)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
    common = {
        "architecture": args.architecture,
        "base": args.base,
        "resolution": args.resolution,
        "steps": args.steps,
        "warmup": args.warmup,
        "batch_size": args.batch_size,
        "rank": args.rank,
        "precision": args.precision,
        "threads": args.threads,
        "cache_latents": args.cache_latents,
    }
    if args.json:
        results = [measure(**common, gradient_checkpointing=flag) for flag in settings]
        print(json.dumps(results))
        return 0
    for flag in settings:
        result = measure_in_subprocess(**common, gradient_checkpointing=flag)
        print(
            f"{result['model']} {result['resolution']}px batch {result['batch_size']} rank {result['rank']} "
            f"checkpointing {'on' if flag else 'off'} {result['precision']} on {result['device']}: "
            f"{result['steps_per_second']:.2f} steps/s, {result['images_per_second']:.2f} images/s, "
            f"peak {result['peak_memory_mb'] / 1024:.2f} GiB ({result['memory_kind']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
