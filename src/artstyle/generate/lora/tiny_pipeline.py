"""A tiny, randomly initialised Stable-Diffusion-format model folder for tests and benchmarks.

The folder has the layout of a real SD 1.x download (``model_index.json``,
``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), so
code under test loads it with the same ``from_pretrained(path)`` a user's
model goes through. Nothing is downloaded: the tokenizer's vocabulary is the
256 byte-level symbols of GPT-2/CLIP BPE (each also with the ``</w>``
end-of-word suffix) plus the two special tokens, with no merges, so every
text still tokenizes (one token per byte).

    python -c "from artstyle.generate.lora.tiny_pipeline import build_tiny_pipeline; print(build_tiny_pipeline('/tmp/tiny-sd'))"

The same builder writes the real SD 1.5 and 2.1 architectures with random
weights (``build_random_pipeline(folder, architecture="sd15")``) for
measuring memory and speed where no model can be downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MAX_LENGTH = 77  # CLIP's context length; SD pipelines pad and truncate prompts to it


def byte_level_symbols() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE uses for the byte values 0..255 (GPT-2's table)."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols: dict[int, str] = {byte: chr(byte) for byte in printable}
    # The remaining bytes (controls, space, ...) map to code points from 256 upward, in byte order.
    extra = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def tiny_vocab() -> dict[str, int]:
    """Token -> id: the byte symbols, their ``</w>`` forms, then the start and end tokens."""
    symbols = byte_level_symbols()
    tokens = symbols + [symbol + "</w>" for symbol in symbols] + [BOS_TOKEN, EOS_TOKEN]
    return {token: i for i, token in enumerate(tokens)}


# The UNet and VAE blocks of both real architectures (SD 1.5 and 2.1 differ in size, attention
# and text encoder, not in these).
_SD_UNET_BLOCKS: dict[str, Any] = {
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
}
_SD_VAE_BLOCKS: dict[str, Any] = {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2}

# Model shapes. "tiny" is for tests; "sd15" and "sd2" are the real architectures (Stable Diffusion
# v1.5 and v2.1-768-v) with random weights, so that memory and speed can be measured without a download.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "tiny": {
        "unet": {
            "sample_size": 16,
            "block_out_channels": (32, 64),
            "layers_per_block": 1,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "cross_attention_dim": 32,
            "attention_head_dim": 8,
        },
        "vae": {"block_out_channels": (32, 64), "layers_per_block": 1, "sample_size": 32},
        "text": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        "prediction_type": "epsilon",
    },
    "sd15": {
        "unet": {
            "sample_size": 64,
            **_SD_UNET_BLOCKS,
            "cross_attention_dim": 768,
            "attention_head_dim": 8,
        },
        "vae": {**_SD_VAE_BLOCKS, "sample_size": 512},
        "text": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "projection_dim": 768,
            "hidden_act": "quick_gelu",
        },
        "prediction_type": "epsilon",
    },
    "sd2": {
        "unet": {
            "sample_size": 96,
            **_SD_UNET_BLOCKS,
            "cross_attention_dim": 1024,
            "attention_head_dim": (5, 10, 20, 20),
            "use_linear_projection": True,
            "upcast_attention": True,
        },
        "vae": {**_SD_VAE_BLOCKS, "sample_size": 768},
        "text": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 23,
            "num_attention_heads": 16,
            "projection_dim": 512,
            "hidden_act": "gelu",
        },
        "prediction_type": "v_prediction",
    },
}


def build_tiny_pipeline(folder: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a random tiny SD-compatible pipeline (32 px images, 2 text layers of 32 features) to ``folder``."""
    return build_random_pipeline(folder, architecture="tiny", seed=seed)


def build_random_pipeline(
    folder: str | os.PathLike, *, architecture: str = "tiny", seed: int = 0, dtype: str = "float32"
) -> Path:
    """Write a randomly initialised pipeline of ``architecture`` (tiny, sd15, sd2) to ``folder``.

    ``dtype="float16"`` halves the files of the large architectures (they load
    into fp32 models as real fp16 downloads do).
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from artstyle.generate.lora.base_model import assemble_pipeline

    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}"
        )
    spec = ARCHITECTURES[architecture]
    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, norm_num_groups=32, **spec["unet"])
    n_blocks = len(spec["vae"]["block_out_channels"])
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n_blocks,
        up_block_types=("UpDecoderBlock2D",) * n_blocks,
        latent_channels=4,
        norm_num_groups=32,
        **spec["vae"],
    )
    vocab = tiny_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            max_position_embeddings=MAX_LENGTH,
            bos_token_id=vocab[BOS_TOKEN],
            eos_token_id=vocab[EOS_TOKEN],
            pad_token_id=vocab[EOS_TOKEN],
            **spec["text"],
        )
    )
    tokenizer_dir = folder / "tokenizer"
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    (tokenizer_dir / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False), encoding="utf-8"
    )
    (tokenizer_dir / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(
        vocab=str(tokenizer_dir / "vocab.json"),
        merges=str(tokenizer_dir / "merges.txt"),
        model_max_length=MAX_LENGTH,
    )
    # SD ships PNDM (PLMS) for sampling; training reads the same config into a DDPM scheduler.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type=spec["prediction_type"],
    )
    pipeline = assemble_pipeline(
        {
            "vae": vae,
            "text_encoder": text_encoder,
            "tokenizer": tokenizer,
            "unet": unet,
            "scheduler": scheduler,
        }
    )
    if dtype != "float32":
        pipeline.to(getattr(torch, dtype))
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder
