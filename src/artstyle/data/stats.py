"""Per-split image counts per style, largest first, and the imbalance ratio.

artstyle data stats DATA --json
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from artstyle.data.scan import Index, scan


def dataset_stats(
    root: str | os.PathLike, *, test_fraction: float | None = None, seed: int = 0
) -> dict[str, Any]:
    """Scan ``root`` and summarise it; the dict is what ``data stats --json`` prints."""
    return index_stats(scan(root, test_fraction=test_fraction, seed=seed))


def index_stats(index: Index) -> dict[str, Any]:
    counts = {split: index.counts(split) for split in ("train", "test")}
    rows = sorted(
        (
            {"style": style, "train": counts["train"][style], "test": counts["test"][style]}
            for style in index.classes
        ),
        key=lambda row: (-row["train"], -row["test"], row["style"]),
    )
    splits = {}
    for split, per_style in counts.items():
        present = {style: n for style, n in per_style.items() if n > 0}
        largest = max(present, key=lambda s: (present[s], s)) if present else None
        smallest = min(present, key=lambda s: (present[s], s)) if present else None
        splits[split] = {
            "n_images": sum(per_style.values()),
            "n_styles": len(present),
            "largest": largest,
            "smallest": smallest,
            "imbalance_ratio": (present[largest] / present[smallest]) if present else 0.0,
            "n_with_artist": sum(1 for item in index.split(split) if item.artist),
        }
    reasons = Counter(_reason_kind(s.reason) for s in index.skipped)
    return {
        "root": str(index.root),
        "source_kind": index.source_kind,
        "classes": index.classes,
        "rows": rows,
        "splits": splits,
        "missing_in_test": index.missing_in_test,
        "notes": index.notes,
        "n_skipped": len(index.skipped),
        "skipped_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "skipped": [{"path": s.path, "reason": s.reason} for s in index.skipped],
    }


def _reason_kind(reason: str) -> str:
    return reason.split(" (", 1)[0].split(":", 1)[0]
