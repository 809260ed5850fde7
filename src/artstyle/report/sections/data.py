"""Data summaries (`artstyle data stats|audit|balance --json`) -> the Dataset section's blocks.

Each function adds its blocks to ``part`` and returns the one-line answer ("" for none).
"""

from __future__ import annotations

from typing import Any

from artstyle.report.blocks import Cell, Note, Paragraph, Part, Table
from artstyle.report.read import DataFile
from artstyle.report.tables import num_cell
from artstyle.report.wording import as_number, fmt
from artstyle.text import plural


def stats_part(stats: dict[str, Any], data_file: DataFile, part: Part) -> str:
    rows = stats["rows"]
    splits = stats["splits"]
    train = splits.get("train", {})
    most = max((row.get("train", 0) for row in rows), default=0) or 1
    table_rows = [
        [
            Cell(row["style"]),
            num_cell(row.get("train", 0), bar=row.get("train", 0) / most),
            num_cell(row.get("test", 0)),
        ]
        for row in rows
    ]
    total = [Cell("total", strong=True)] + [
        num_cell(splits.get(s, {}).get("n_images", 0), strong=True) for s in ("train", "test")
    ]
    part.blocks.append(
        Table(
            ["style", "train", "test"],
            table_rows + [total],
            caption=f"Images per style and split ({data_file.path.name}, largest first)",
        )
    )
    facts = []
    for split in ("train", "test"):
        info = splits.get(split) or {}
        if info.get("n_images"):
            facts.append(
                f"{split}: {info['n_images']:,} images in {info.get('n_styles', '?')} styles, imbalance ratio "
                f"{_ratio(info.get('imbalance_ratio'))} (largest {info.get('largest')}, smallest {info.get('smallest')})"
            )
    part.blocks.extend(Paragraph(text) for text in facts)
    missing = stats.get("missing_in_test") or []
    notes = [str(note) for note in stats.get("notes") or []]
    # the scan's own notes usually name the missing styles already
    if missing and not any(all(style in note for style in missing) for note in notes):
        part.blocks.append(
            Note(
                f"styles with no test images: {', '.join(missing)}; their test accuracy cannot be measured",
                "info",
            )
        )
    part.blocks.extend(Note(note, "info") for note in notes)
    if stats.get("n_skipped"):
        reasons = ", ".join(f"{k} {v}" for k, v in (stats.get("skipped_by_reason") or {}).items())
        part.blocks.append(Note(f"the scan skipped {stats['n_skipped']} files ({reasons})", "info"))
    if not train.get("n_images"):
        return ""
    counts = {row["style"]: row.get("train", 0) for row in rows}
    largest, smallest = train.get("largest"), train.get("smallest")
    answer = (
        f"{train['n_images']:,} training images in {train.get('n_styles')} styles; the largest style "
        f"({largest}, {counts.get(largest, 0):,}) has {_ratio(train.get('imbalance_ratio'))}x the images of the smallest "
        f"({smallest}, {counts.get(smallest, 0):,})."
    )
    if missing:
        answer += f" No test images for {', '.join(missing)}."
    return answer


def audit_part(audit: dict[str, Any], data_file: DataFile, part: Part) -> str:
    params = audit.get("params") or {}
    findings = [
        (
            "unreadable",
            "unreadable files",
            "re-download or delete them (training skips them)",
            _member_text,
        ),
        (
            "leakage_exact",
            "exact copies across train/test (groups)",
            "remove the test copy to avoid leakage",
            _group_text,
        ),
        (
            "leakage_near",
            "near copies across train/test (groups)",
            "check by eye; remove the test copy of true copies",
            _group_text,
        ),
        (
            "exact_duplicates",
            "exact duplicates (groups)",
            "keep one file per group",
            _group_text,
        ),
        (
            "near_duplicates",
            "near duplicates (groups)",
            "resized, greyscale or mirrored copies: keep one",
            _group_text,
        ),
        (
            "label_conflicts",
            "pictures filed under two styles",
            "decide which style is right",
            _group_text,
        ),
        (
            "tiny",
            f"tiny images (short side < {params.get('min_side', '?')} px)",
            "drop them or accept blurry upscaling",
            _member_text,
        ),
        (
            "extreme_aspect",
            f"extreme aspect ratios (> {params.get('max_aspect', '?')}:1)",
            "consider --resize letterbox",
            _member_text,
        ),
        *_quality_findings(params),
        (
            "small_styles",
            f"styles with < {params.get('min_style_images', '?')} train images",
            "collect more or merge",
            _style_text,
        ),
        (
            "missing_in_test",
            "train styles missing from test",
            "balanced accuracy averages the others",
            str,
        ),
    ]
    rows = []
    for key, text, action, describe in findings:
        entries = audit.get(key) or []
        if not entries:
            continue
        examples = "; ".join(describe(e) for e in entries[:3]) + (
            f"; … {len(entries) - 3} more" if len(entries) > 3 else ""
        )
        rows.append([Cell(text), num_cell(len(entries)), Cell(examples), Cell(action)])
    n_images = audit.get("n_images") or {}
    caption = f"Audit of {audit.get('root', data_file.path.name)}: " + ", ".join(
        f"{n:,} {s}" for s, n in n_images.items()
    )
    if rows:
        part.blocks.append(
            Table(["finding", "count", "examples", "what to do"], rows, caption=caption)
        )
    else:
        part.blocks.append(Paragraph(caption + ": no problems found."))
    if audit.get("skipped"):
        part.blocks.append(
            Note(f"the scan skipped {len(audit['skipped'])} files (hidden or not images)", "info")
        )
    if not rows:
        return "The audit found no problems."
    counted = [
        (
            len(audit.get("leakage_exact") or []) + len(audit.get("leakage_near") or []),
            "copy group",
            " across train/test (leakage)",
        ),
        (len(audit.get("exact_duplicates") or []), "exact duplicate group", ""),
        (len(audit.get("near_duplicates") or []), "near-duplicate group", ""),
        (len(audit.get("unreadable") or []), "unreadable file", ""),
        (len(audit.get("label_conflicts") or []), "picture", " filed under two styles"),
    ]
    found = [plural(n, noun) + tail for n, noun, tail in counted if n]
    if not found:
        return f"Audit: {len(rows)} minor finding kinds (see the table)."
    return "Audit: " + ", ".join(found) + "."


_QUALITY_WORDS = {
    "dark": ("too dark", "check the scan; re-download a better copy"),
    "light": ("too light (washed out)", "check the scan; re-download a better copy"),
    "blurry": ("blurry", "replace or drop: a style is in the brushwork"),
    "low_information": ("near-blank (low information)", "drop blank or failed scans"),
    "grayscale": (
        "greyscale",
        "fine for drawings and prints; a colour painting needs a colour copy",
    ),
}


def _quality_findings(params: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """The image-quality rows of the audit table (cleanvision's checks), with their thresholds."""
    thresholds = (params.get("quality") or {}).get("thresholds") or {}
    rows = []
    for key, (text, action) in _QUALITY_WORDS.items():
        threshold = thresholds.get(key)
        if threshold is not None:
            rule = "spread <=" if key == "grayscale" else "score <"
            text = f"{text} ({rule} {threshold:g})"
        rows.append((key, text, action, _member_text))
    return rows


def balance_part(balance: dict[str, Any], data_file: DataFile, part: Part) -> str:
    rows = balance["rows"]
    most = max((row.get("before", 0) for row in rows), default=0) or 1
    table_rows = [
        [
            Cell(row["style"]),
            num_cell(row.get("before"), bar=(row.get("before") or 0) / most),
            num_cell(row.get("after")),
            num_cell(row.get("copies_per_image_max")),
        ]
        for row in rows
    ]
    caption = f"Balance plan to {fmt(balance.get('per_class'))} images per style (target {balance.get('target')}, split {balance.get('split', 'train')})"
    part.blocks.append(
        Table(["style", "before", "after", "max copies of one image"], table_rows, caption=caption)
    )
    if "n_before" in balance:
        return (
            f"Balancing to {fmt(balance.get('per_class'))} per style turns {fmt(balance['n_before'])} images into "
            f"{fmt(balance.get('n_after'))} ({plural(balance.get('n_oversampled', 0), 'style')} oversampled, "
            f"{fmt(balance.get('n_undersampled', 0))} undersampled)."
        )
    return ""


def _ratio(value: Any) -> str:
    return f"{value:.1f}" if as_number(value) is not None else "?"


def _member_text(entry: Any) -> str:
    if isinstance(entry, dict):
        text = str(entry.get("path", entry))
        if "reason" in entry:
            text += f": {entry['reason']}"
        elif "width" in entry:
            text += f": {entry['width']}x{entry.get('height')}"
        elif "aspect" in entry:
            text += f": {entry['aspect']}:1"
        elif "score" in entry:
            text += f": {entry['score']:g}"
        return text
    return str(entry)


def _group_text(group: Any) -> str:
    if isinstance(group, dict) and isinstance(group.get("members"), list):
        members = group["members"]
        text = " = ".join(
            str(m.get("path", m)) if isinstance(m, dict) else str(m) for m in members[:3]
        )
        return text + (" …" if len(members) > 3 else "")
    return str(group)


def _style_text(entry: Any) -> str:
    if isinstance(entry, dict) and "style" in entry:
        return f"{entry['style']} ({entry.get('n_train', '?')})"
    return str(entry)
