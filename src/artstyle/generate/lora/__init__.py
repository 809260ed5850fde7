"""LoRA fine-tuning of a local Stable Diffusion (1.x / 2.x) folder on painting styles, and sampling from it.

The recipe is the diffusers text-to-image LoRA example's, on Lightning Fabric:
the VAE, text encoder and UNet stay frozen; low-rank adapters (Hu et al. 2021,
"LoRA: Low-Rank Adaptation of Large Language Models") go on the UNet's
attention projections (optionally the text encoder's too); each image is
captioned from its style ("a painting in the Post Impressionism style", with
the artist when the file name carries one) unless it has a caption of its own
(``IMAGE.txt`` beside it or a ``captions.csv`` row, as kohya's scripts read),
and drawn with inverse-frequency style weights, so Analytical Cubism is seen
as often as Impressionism.

Mixed precision keeps the frozen weights in bf16/fp16 and the trainable LoRA
weights in fp32: fp16 trainable weights are what makes the gradient scaler
fail with "Attempting to unscale FP16 gradients".

The result, ``RUN/pytorch_lora_weights.safetensors``, loads in plain diffusers
with ``pipe.load_lora_weights(RUN)``. Nothing is downloaded: the base model is
a local folder, loaded with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``.

    artstyle lora train --base ~/models/stable-diffusion-v1-5 --data DATA --out runs/lora --max-steps 2000
    artstyle lora generate runs/lora --style Rococo --n 4 --seed 1
    artstyle lora grid runs/lora --styles Baroque,Cubism,Rococo --prompt "a harbour at dawn"

The package, one concern a module (each imports only modules above it, type hints aside):

    base_model.py     the base model folder: checks, offline loading, a pipeline of its parts
    captions.py       captions and prompts: style names, artist slugs, caption files, dropout, tag shuffles
    checkpoints.py    the LoRA weights file, checkpoints/last.ckpt, restoring it
    buckets.py        aspect-ratio buckets: the bucket list, each image's bucket, one-bucket epochs
    data.py           captioned, style-balanced (or bucketed) training images and their batches
    latents.py        the VAE latents of every image, encoded once and cached beside the image cache
    figures.py        validation images from the model in training; what draws figures
    training.py       Fabric and precision, the models with their adapters, the optimizer
    loop.py           train_lora / resume_lora: the steps, the loss, history and metrics
    sampling.py       generate and style_grid from a finished run
    export.py         the weights as one file in kohya's layout (A1111, ComfyUI) or diffusers'
    tiny_pipeline.py  a tiny random SD-format folder for tests and benchmarks (imported by name)
"""

from __future__ import annotations

from artstyle.generate.lora.base_model import COMPONENTS, _prepare_hf, check_base_folder
from artstyle.generate.lora.captions import (
    artist_text,
    caption_for,
    default_validation_styles,
    prompt_for,
    style_text,
    training_captions,
    vary_caption,
)
from artstyle.generate.lora.checkpoints import (
    RESUMABLE_KEYS,
    TASK,
    WEIGHTS_NAME,
    lora_state_dicts,
    save_checkpoint,
    save_lora_weights,
)
from artstyle.generate.lora.data import CaptionedImages, load_pixels, training_batches
from artstyle.generate.lora.export import export_lora, kohya_state_dict
from artstyle.generate.lora.figures import FigureWriter, validation_figure
from artstyle.generate.lora.loop import diffusion_loss, resume_lora, train_lora, train_step
from artstyle.generate.lora.sampling import generate, load_pipeline, load_run, style_grid
from artstyle.generate.lora.training import (
    LoraTraining,
    _load_training_models,
    make_fabric,
    resolve_precision,
    setup_training,
)
from artstyle.text import resolve_style

__all__ = [
    "COMPONENTS",
    "RESUMABLE_KEYS",
    "TASK",
    "WEIGHTS_NAME",
    "CaptionedImages",
    "LoraTraining",
    "_load_training_models",
    "_prepare_hf",
    "artist_text",
    "caption_for",
    "check_base_folder",
    "default_validation_styles",
    "diffusion_loss",
    "generate",
    "load_pipeline",
    "load_pixels",
    "load_run",
    "lora_state_dicts",
    "make_fabric",
    "prompt_for",
    "resolve_precision",
    "resolve_style",
    "resume_lora",
    "save_checkpoint",
    "save_lora_weights",
    "setup_training",
    "style_grid",
    "style_text",
    "train_lora",
    "train_step",
    "training_batches",
    "training_captions",
    "vary_caption",
    "validation_figure",
    "FigureWriter",
    "export_lora",
    "kohya_state_dict",
]
