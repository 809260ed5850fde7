"""``artstyle explore``: an embedding file, a run folder or raw pixels -> one interactive map page.

    artstyle explore runs/clf --data DATA                      # writes runs/clf/map.html
    artstyle explore clf_test.npz --data DATA --out map.html
    artstyle explore pixels --data DATA --split train,test --out pixels_map.html

A run folder's map is written to ``RUN/map.html`` unless ``--out`` says
otherwise: that is where ``artstyle report`` finds it and links it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from artstyle.analysis.explore import MAP_FILE, MapResult, build_map
from artstyle.config import ClusterConfig, ExploreConfig
from artstyle.errors import ArtstyleError


def default_out(source: str | os.PathLike) -> Path:
    """RUN/map.html for a run folder, FILE_map.html beside an .npz; raw pixels need --out."""
    if str(source) == "pixels":
        raise ArtstyleError(
            "a map of raw pixels needs --out FILE.html (there is no run folder to write into)"
        )
    path = Path(source)
    if path.suffix == ".npz":
        return path.with_name(f"{path.stem}_map.html")
    return path / MAP_FILE


def _embedding_config(config: ExploreConfig, split: str) -> ClusterConfig:
    """The settings :func:`~artstyle.analysis.embed.embed` reads, for one split."""
    return ClusterConfig(
        data=config.data,
        split=split,
        test_fraction=config.test_fraction,
        pixel_size=config.pixel_size,
        pixel_side=config.pixel_side,
        batch_size=config.batch_size,
        device=config.device,
        cache_dir=config.cache_dir,
        workers=config.workers,
        progress=config.progress,
    )


def load_tables(source: str | os.PathLike, config: ExploreConfig) -> list:
    """One embedding table per split: the .npz as it is, or fresh vectors of a run / raw pixels."""
    from artstyle.analysis.embed import embed, load_embeddings

    text = str(source)
    if text.endswith(".npz"):
        table = load_embeddings(source)
        if "split" in config.model_fields_set and config.split != [table.split]:
            raise ArtstyleError(
                f"{source} holds the {table.split} split, not --split {','.join(config.split)}; "
                "explore the run folder to embed other splits"
            )
        return [table]
    if text != "pixels" and not Path(source).is_dir():
        raise ArtstyleError(
            f"{source} is neither a run folder, an .npz embedding file nor the word 'pixels'"
        )
    return [embed(source, _embedding_config(config, split)) for split in config.split]


def explore(
    source: str | os.PathLike,
    config: ExploreConfig,
    *,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> MapResult:
    """Embed (or load) ``source`` and write its map; returns what the page holds."""
    out = Path(out) if out is not None else default_out(source)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ArtstyleError(f"--out {out} must end in .html")
    if out.is_dir():
        raise ArtstyleError(f"--out {out} is a folder; give a file name ending in .html")
    tables = load_tables(source, config)
    return build_map(tables, config, out=out, data=config.data, source=str(source), log=log)
