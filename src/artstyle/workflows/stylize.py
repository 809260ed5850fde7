"""Stylizer pictures: one image in many styles, mismatched grids, interpolation.

artstyle stylize runs/sty --image photo.jpg --styles Baroque,Pop_Art --out out.png
artstyle stylize runs/sty --grid 8 --data DATA --out grid.png
artstyle stylize runs/sty --image photo.jpg --interpolate Baroque,Pop_Art --steps 6 --out blend.png
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from artstyle.errors import ArtstyleError
from artstyle.generate.stylize import (
    grid_arrays,
    load_data,
    load_stylizer,
    read_image,
    split_arrays,
    style_indices,
    stylize_array,
    stylize_vectors,
)
from artstyle.models import resolve_device
from artstyle.train.runs import RunFolder

MAX_BLEND_STEPS = 32


def _out_path(
    out: str | os.PathLike | None,
    run: RunFolder,
    name: str,
    *,
    source: str | os.PathLike | None = None,
) -> Path:
    """Where a figure goes: ``out``; inside it when it is a folder or has no suffix (a
    file's suffix picks its format); RUN/figures/``name`` by default. The source image
    itself is never overwritten."""
    if out is None:
        return run.figure_path(name)
    path = Path(out).expanduser()
    if str(out).endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        path = path / name
    if source is not None and path.resolve() == Path(source).expanduser().resolve():
        raise ArtstyleError(f"--out {out} is the --image file itself; choose another path")
    return path


def stylize_image(
    run_path: str | os.PathLike,
    image: str | os.PathLike,
    styles: list[str] | str,
    *,
    out: str | os.PathLike | None = None,
    device: Any = "auto",
) -> dict[str, Any]:
    """One image file under each of ``styles``; writes a labelled strip PNG (default RUN/figures/stylized.png).

    artstyle stylize runs/sty --image photo.jpg --styles Baroque,Pop_Art,Ukiyo_e --out out.png
    """
    from artstyle.analysis import plots

    loaded = load_stylizer(run_path, device=resolve_device(device))
    picked = style_indices(styles, loaded.classes)
    pixels = read_image(image, loaded.size, loaded.resize)
    outputs = stylize_array(
        loaded.model, pixels[None], np.array([picked]), device=resolve_device(device)
    )  # (1, K, S, S, 3)
    names = [loaded.classes[i] for i in picked]
    out_path = _out_path(out, loaded.run, "stylized.png", source=image)
    fig = plots.stylize_grid_figure(
        pixels[None],
        outputs,
        [Path(image).name],
        names,
        title=f"{Path(image).name} in {len(names)} learned styles",
        mark_diagonal=False,
    )
    plots.save_figure(fig, out_path)
    return {"out": str(out_path), "styles": names, "outputs": outputs[0]}


def interpolate_styles(
    run_path: str | os.PathLike,
    image: str | os.PathLike,
    style_a: str,
    style_b: str,
    *,
    steps: int = 5,
    out: str | os.PathLike | None = None,
    device: Any = "auto",
) -> dict[str, Any]:
    """The image decoded with (1 - t) * a + t * b for ``steps`` values of t from 0 to 1.

    artstyle stylize runs/sty --image photo.jpg --interpolate Baroque,Pop_Art --steps 6 --out blend.png
    """
    from artstyle.analysis import plots

    if not 2 <= steps <= MAX_BLEND_STEPS:
        raise ArtstyleError(
            f"--steps must be 2 (both ends) to {MAX_BLEND_STEPS} (columns of one figure), got {steps}"
        )
    device = resolve_device(device)
    loaded = load_stylizer(run_path, device=device)
    a, b = style_indices([style_a, style_b], loaded.classes)
    pixels = read_image(image, loaded.size, loaded.resize)
    table = loaded.model.styles.weight.detach().float().cpu().numpy()
    t = np.linspace(0.0, 1.0, steps)[:, None]
    vectors = (1 - t) * table[a] + t * table[
        b
    ]  # (steps, style_dim): straight line between the two embeddings
    outputs = stylize_vectors(loaded.model, pixels, vectors, device=device)
    names = [loaded.classes[a]] + [f"{1 - v:.2f}/{v:.2f}" for v in t[1:-1, 0]] + [loaded.classes[b]]
    out_path = _out_path(out, loaded.run, "interpolation.png", source=image)
    title = f"{Path(image).name}: {loaded.classes[a]} -> {loaded.classes[b]} (embedding blends)"
    plots.save_figure(
        plots.stylize_grid_figure(
            pixels[None], outputs[None], [Path(image).name], names, title=title, mark_diagonal=False
        ),
        out_path,
    )
    return {
        "out": str(out_path),
        "styles": [loaded.classes[a], loaded.classes[b]],
        "t": t[:, 0].tolist(),
        "outputs": outputs,
    }


def stylize_grid(
    run_path: str | os.PathLike,
    *,
    data: Any = None,
    n: int = 8,
    split: str = "test",
    out: str | os.PathLike | None = None,
    device: Any = "auto",
) -> dict[str, Any]:
    """N images of N different styles x the same N styles; the diagonal is each image in its own style.

    artstyle stylize runs/sty --grid 8 --data DATA --out grid.png
    """
    from artstyle.analysis import plots

    if n < 2:
        raise ArtstyleError(f"--grid must be at least 2, got {n}")
    device = resolve_device(device)
    loaded = load_stylizer(run_path, device=device)
    dataset = load_data(loaded, data, split)
    images, labels = split_arrays(dataset, split)
    inputs, outputs, styles = grid_arrays(loaded.model, images, labels, n, device=device)
    names = [loaded.classes[i] for i in styles]
    # not GRID_FIGURE: the grid training drew on the held-out split stays the run's own
    out_path = _out_path(out, loaded.run, f"style_grid_{split}_{n}.png")
    title = f"{split} images (rows, first column) decoded with each learned style (columns); framed: own style"
    plots.save_figure(
        plots.stylize_grid_figure(inputs, outputs, names, names, title=title), out_path
    )
    return {"out": str(out_path), "styles": names, "outputs": outputs}
