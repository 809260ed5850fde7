"""Audit a collection before training on it: what would make the numbers lie.

Findings, each with the files involved and what to do about them:

* unreadable files (with the decoder's reason);
* exact duplicates (same bytes, by SHA-256), and those that sit in both train
  and test (leakage: the test score then measures memory, not style);
* near duplicates by perceptual hash: resized, recompressed, greyscale and
  left-right mirrored copies of one painting, again with train/test leakage
  listed on its own;
* the same picture filed under two styles (a label conflict);
* tiny images and extreme aspect ratios (a centre crop keeps little of them; cleanvision's
  odd-aspect check, at 3:1 where cleanvision flags beyond about 2.9:1);
* images too dark, too light, blurry, near-blank (low information) or greyscale, each with its
  score and the threshold, after cleanvision's definitions (:mod:`artstyle.data.quality`),
  measured on the same decode that the hashes use: no image is decoded twice;
* styles with too few training images and training styles missing from test;
* the files the scan skipped (hidden, not images), counted by reason.

Hashing runs in parallel processes. Near duplicates are found by comparing
packed 64-bit hashes with numpy in blocks (XOR + popcount), so 13k images
take seconds rather than 85 million Python comparisons.

    artstyle data audit DATA --out audit.json
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artstyle.data import quality
from artstyle.data.scan import Index, Item, read_item_bytes
from artstyle.progress import progress_bar
from artstyle.text import plural

# Near duplicates need two perceptual hashes to agree (both over the greyscale
# picture with uniform borders trimmed): pHash (DCT signs) within 14 of its
# 64 bits and dHash (gradient signs) within 10 of its 64 bits, in the same
# orientation (direct or mirrored). Either hash alone flags unrelated dark
# portraits on the 1,750-image wikiart7 sample (pHash at 8 bits, dHash at 7);
# together they flag exactly its four re-encoded or re-photographed copies,
# and the count stays the same for thresholds from (14, 8) to (16, 12).
PHASH_THRESHOLD = 14
DHASH_THRESHOLD = 10
MIN_SIDE = 64
MAX_ASPECT = 3.0
MIN_STYLE_IMAGES = 10
# pHash works on a (4 * hash_size)^2 greyscale thumbnail, so a JPEG decoded at
# 1/2..1/8 scale with a short side >= this loses nothing the hashes can see.
_DRAFT_MIN = 64
# Memory bound of the blocked distance matrices: rows x columns per block.
_BLOCK_ELEMENTS = 2_000_000
_HASH_KINDS = ("phash", "phash_mirror", "dhash", "dhash_mirror")


@dataclass
class AuditReport:
    """Everything :func:`audit` found; ``to_dict()`` is the JSON that ``--out`` writes."""

    root: str
    source_kind: str
    n_images: dict[str, int]
    params: dict[str, Any]
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    exact_duplicates: list[dict[str, Any]] = field(default_factory=list)
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    leakage_exact: list[dict[str, Any]] = field(default_factory=list)
    leakage_near: list[dict[str, Any]] = field(default_factory=list)
    label_conflicts: list[dict[str, Any]] = field(default_factory=list)
    tiny: list[dict[str, Any]] = field(default_factory=list)
    extreme_aspect: list[dict[str, Any]] = field(default_factory=list)
    small_styles: list[dict[str, Any]] = field(default_factory=list)
    missing_in_test: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    # image quality (artstyle.data.quality): each entry is a member plus its "score"
    dark: list[dict[str, Any]] = field(default_factory=list)
    light: list[dict[str, Any]] = field(default_factory=list)
    blurry: list[dict[str, Any]] = field(default_factory=list)
    low_information: list[dict[str, Any]] = field(default_factory=list)
    grayscale: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many of each finding (groups for duplicates, files otherwise)."""
        return {
            "unreadable": len(self.unreadable),
            "exact_duplicate_groups": len(self.exact_duplicates),
            "exact_duplicate_groups_within_split": sum(
                1 for g in self.exact_duplicates if not g["cross_split"]
            ),
            "exact_duplicate_extra_copies": sum(
                len(g["members"]) - 1 for g in self.exact_duplicates
            ),
            "near_duplicate_groups": len(self.near_duplicates),
            # the screen lists these two parts apart: groups inside one split, and groups that
            # span train and test (also counted, as leakage, in leakage_near_groups)
            "near_duplicate_groups_within_split": sum(
                1 for g in self.near_duplicates if not g["cross_split"]
            ),
            "near_duplicate_groups_across_splits": sum(
                1 for g in self.near_duplicates if g["cross_split"]
            ),
            "leakage_exact_groups": len(self.leakage_exact),
            "leakage_near_groups": len(self.leakage_near),
            "label_conflicts": len(self.label_conflicts),
            "tiny": len(self.tiny),
            "extreme_aspect": len(self.extreme_aspect),
            "small_styles": len(self.small_styles),
            "missing_in_test": len(self.missing_in_test),
            "skipped": len(self.skipped),
            **{kind: len(getattr(self, kind)) for kind in quality.QUALITY_ISSUES},
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts}


@dataclass(frozen=True)
class _Hashed:
    """What one worker learns about one image (small, cheap to send back)."""

    position: int
    sha256: str | None
    hashes: tuple[bytes, ...] | None  # packed bits, in the order of _HASH_KINDS
    width: int = 0
    height: int = 0
    error: str | None = None
    properties: quality.ImageProperties | None = None  # the quality numbers


def audit(
    index: Index,
    *,
    workers: int | None = None,
    progress: bool = True,
    hash_size: int = 8,
    near_threshold: int | None = None,
    dhash_threshold: int | None = None,
    min_side: int = MIN_SIDE,
    max_aspect: float = MAX_ASPECT,
    min_style_images: int = MIN_STYLE_IMAGES,
) -> AuditReport:
    """Decode and hash every image of ``index`` and collect the findings.

    Two images are near duplicates when their pHash differs in at most
    ``near_threshold`` bits and their dHash in at most ``dhash_threshold``
    bits (both ``hash_size**2``-bit hashes; the defaults, 14 and 10 of 64,
    scale with the hash size), comparing either directly or with one image
    mirrored. ``workers`` defaults to the number of CPUs (1 runs in this
    process).

    Example: artstyle data audit DATA --json
    """
    from artstyle.errors import ArtstyleError

    if hash_size < 2:
        raise ArtstyleError(f"hash_size must be at least 2, got {hash_size}")
    n_bits = hash_size * hash_size
    if near_threshold is None:
        near_threshold = round(PHASH_THRESHOLD * n_bits / 64)
    if dhash_threshold is None:
        dhash_threshold = round(DHASH_THRESHOLD * n_bits / 64)
    for name, value in (("near_threshold", near_threshold), ("dhash_threshold", dhash_threshold)):
        if not 0 <= value < n_bits:
            raise ArtstyleError(
                f"{name} must be in 0..{n_bits - 1} bits (hash_size {hash_size}), got {value}"
            )
    items = index.items
    hashed = sorted(
        _hash_all(
            items,
            workers=workers,
            progress=progress,
            hash_size=hash_size,
            draft_size=max(_DRAFT_MIN, min_side),
        ),
        key=lambda h: h.position,
    )
    members = [_member(index, item) for item in items]

    report = AuditReport(
        root=str(index.root),
        source_kind=index.source_kind,
        n_images={
            split: sum(1 for item in items if item.split == split) for split in ("train", "test")
        },
        params={
            "hashes": "phash+dhash of the greyscale image, borders trimmed, direct or mirrored",
            "hash_size": hash_size,
            "near_threshold": near_threshold,
            "dhash_threshold": dhash_threshold,
            "min_side": min_side,
            "max_aspect": max_aspect,
            "min_style_images": min_style_images,
            "quality": quality.params(),
        },
    )
    for h in hashed:
        if h.error is not None:
            report.unreadable.append({**members[h.position], "reason": h.error})
            continue
        short, long = sorted((h.width, h.height))
        if short < min_side:
            report.tiny.append({**members[h.position], "width": h.width, "height": h.height})
        if long / short > max_aspect:
            report.extreme_aspect.append({**members[h.position], "aspect": round(long / short, 2)})

    found = quality.quality_issues(
        (h.properties for h in hashed), [members[h.position] for h in hashed]
    )
    for kind, entries in found.items():
        setattr(report, kind, entries)

    # exact duplicates: the same bytes
    by_sha: dict[str, list[int]] = defaultdict(list)
    for h in hashed:
        if h.sha256 is not None:
            by_sha[h.sha256].append(h.position)
    sha_of = {h.position: h.sha256 for h in hashed}
    for sha, positions in sorted(by_sha.items(), key=lambda kv: kv[1][0]):
        if len(positions) < 2:
            continue
        group = _group(positions, members, items)
        group["sha256"] = sha
        report.exact_duplicates.append(group)
        if group["cross_split"]:
            report.leakage_exact.append(group)
        if group["styles_differ"]:
            report.label_conflicts.append({**group, "kind": "exact"})

    # near duplicates: both perceptual hashes close, direct or mirrored
    good = [h for h in hashed if h.hashes is not None]
    if len(good) >= 2:
        positions = np.array([h.position for h in good])
        packed = {kind: _pack([h.hashes[k] for h in good]) for k, kind in enumerate(_HASH_KINDS)}
        pairs = near_pairs(packed, phash_threshold=near_threshold, dhash_threshold=dhash_threshold)
        for component in _components(len(good), pairs[:, :2]):
            group_positions = [int(positions[k]) for k in component]
            if len({sha_of[p] for p in group_positions}) == 1:
                continue  # byte-identical copies: already an exact group
            group = _group(group_positions, members, items)
            first = component[0]
            for member, k in zip(group["members"], component, strict=True):
                d_direct = int(_hamming(packed["phash"][first], packed["phash"][k]))
                d_mirror = int(_hamming(packed["phash"][first], packed["phash_mirror"][k]))
                member["distance"] = min(d_direct, d_mirror)  # pHash bits from the first member
                member["mirrored"] = d_mirror < d_direct
            report.near_duplicates.append(group)
            # leakage that the exact list does not already cover
            train_shas = {sha_of[p] for p in group_positions if items[p].split == "train"}
            test_shas = {sha_of[p] for p in group_positions if items[p].split == "test"}
            if train_shas and test_shas and (train_shas | test_shas) != (train_shas & test_shas):
                report.leakage_near.append(group)
            if group["styles_differ"]:
                report.label_conflicts.append({**group, "kind": "near"})

    train_counts = index.counts("train")
    report.small_styles = [
        {"style": style, "n_train": n}
        for style, n in sorted(train_counts.items(), key=lambda kv: (kv[1], kv[0]))
        if n < min_style_images
    ]
    report.missing_in_test = list(index.missing_in_test)
    report.skipped = [{"path": s.path, "reason": s.reason} for s in index.skipped]
    reasons = Counter(s.reason.split(" (", 1)[0].split(":", 1)[0] for s in index.skipped)
    report.skipped_by_reason = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return report


# ---------------------------------------------------------------- hashing (worker side)


def _hash_one(job: tuple[int, Item], *, hash_size: int, draft_size: int) -> _Hashed:
    from artstyle.data.images import ImageError, open_rgb, perceptual_hashes

    position, item = job
    try:
        data = read_item_bytes(item)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return _Hashed(position, None, None, error=f"cannot read: {reason}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        image = open_rgb(data, draft_size=draft_size)
    except ImageError as exc:
        return _Hashed(position, sha, None, error=exc.reason)
    # The draft keeps the short side >= draft_size (>= min_side), so a tiny
    # image is never reduced and its size here is exact; the aspect ratio
    # survives the power-of-two JPEG scaling.
    width, height = image.size
    hashes = perceptual_hashes(image, hash_size)
    # the quality numbers come from this same decode (no second pass over the files)
    properties = quality.image_properties(np.asarray(image))
    return _Hashed(position, sha, hashes, width, height, properties=properties)


def rows_also_in(reference: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Bool mask over ``rows``: True where a row equals some row of ``reference`` exactly.

    For decoded caches (uint8 (N, S, S, 3), memmaps welcome): a test image
    whose pixels at the run's size equal a training image's is one the
    model may have memorised. Rows are matched by a 128-bit digest, then
    compared in full; one pass over each array.
    """
    if len(rows) == 0 or len(reference) == 0 or reference.shape[1:] != rows.shape[1:]:
        return np.zeros(len(rows), dtype=bool)

    def digest(row: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(row).data, digest_size=16).digest()

    first: dict[bytes, int] = {}
    for i in range(len(reference)):
        first.setdefault(digest(reference[i]), i)
    mask = np.zeros(len(rows), dtype=bool)
    for j in range(len(rows)):
        i = first.get(digest(rows[j]))
        mask[j] = i is not None and np.array_equal(reference[i], rows[j])
    return mask


def _hash_all(
    items: list[Item], *, workers: int | None, progress: bool, hash_size: int, draft_size: int
) -> list[_Hashed]:
    job = functools.partial(_hash_one, hash_size=hash_size, draft_size=draft_size)
    jobs = list(enumerate(items))
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    with progress_bar("auditing", len(jobs), progress) as advance:
        if n_workers == 1 or len(jobs) < 2 * n_workers:
            results = []
            for one in jobs:
                results.append(job(one))
                advance(1)
            return results
        chunk = max(1, min(64, len(jobs) // (n_workers * 8)))
        from artstyle.data.images import worker_context

        context = worker_context()  # fork on Linux: forkserver would re-run an unguarded script
        with context.Pool(n_workers) as pool:
            results = []
            for result in pool.imap_unordered(job, jobs, chunksize=chunk):
                results.append(result)
                advance(1)
            return results


# ---------------------------------------------------------------- near-duplicate search


def _pack(hashes: list[bytes]) -> np.ndarray:
    """Packed hash bytes -> (N, W) uint64 words (zero-padded to whole words)."""
    n_bytes = len(hashes[0])
    n_words = -(-n_bytes // 8)
    buffer = np.zeros((len(hashes), n_words * 8), dtype=np.uint8)
    buffer[:, :n_bytes] = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(
        len(hashes), n_bytes
    )
    return buffer.view(np.uint64)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences along the last axis (the words of one hash); broadcasts."""
    counts = np.bitwise_count(np.bitwise_xor(a, b))
    if counts.shape[-1] == 1:  # one 64-bit word: skip the (copying) sum
        return counts[..., 0]
    return counts.sum(axis=-1, dtype=np.int64)


def near_pairs(
    packed: dict[str, np.ndarray], *, phash_threshold: int, dhash_threshold: int
) -> np.ndarray:
    """All pairs i < j whose pHash and dHash are both within their thresholds, direct or mirrored.

    ``packed`` maps each of ``phash``, ``phash_mirror``, ``dhash``,
    ``dhash_mirror`` to (N, W) uint64 packed hashes. Returns an (n_pairs, 4)
    int64 array of (i, j, pHash distance, mirrored 0/1). The distance matrices
    are built block by block (XOR + popcount in numpy), so memory stays
    bounded and no Python loop runs per pair.
    """
    phash, phash_mirror = packed["phash"], packed["phash_mirror"]
    n = phash.shape[0]
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))
    found: list[np.ndarray] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = phash[start:stop, None, :]  # (b, 1, W)
        p_direct = _hamming(rows, phash[None, :, :])  # (b, N)
        p_mirror = _hamming(rows, phash_mirror[None, :, :])
        i, j = np.nonzero((p_direct <= phash_threshold) | (p_mirror <= phash_threshold))
        keep = j > i + start
        i, j = i[keep], j[keep]
        # the few pHash candidates are confirmed by dHash in the same orientation
        d_direct, d_mirror = p_direct[i, j], p_mirror[i, j]
        i = i + start
        direct = (d_direct <= phash_threshold) & (
            _hamming(packed["dhash"][i], packed["dhash"][j]) <= dhash_threshold
        )
        mirrored = (d_mirror <= phash_threshold) & (
            _hamming(packed["dhash"][i], packed["dhash_mirror"][j]) <= dhash_threshold
        )
        ok = direct | mirrored
        is_mirror = ~direct[ok]
        distance = np.where(is_mirror, d_mirror[ok], d_direct[ok])
        found.append(np.stack([i[ok], j[ok], distance, is_mirror], axis=1).astype(np.int64))
    return np.concatenate(found) if found else np.zeros((0, 4), dtype=np.int64)


def _components(n: int, edges: np.ndarray) -> Iterator[list[int]]:
    """Connected components (of size >= 2) of an undirected graph, each sorted, in order of first member."""
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in edges.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for k in range(n):
        groups[root(k)].append(k)
    for members in sorted(groups.values(), key=lambda g: g[0]):
        if len(members) >= 2:
            yield members


# ---------------------------------------------------------------- report pieces


def _member(index: Index, item: Item) -> dict[str, Any]:
    if item.row >= 0:
        path = item.rel  # "sub/file.parquet#row", below the root
    else:
        try:
            path = Path(item.source).relative_to(index.root).as_posix()
        except ValueError:
            path = item.source
    return {"path": path, "split": item.split, "style": item.style}


def _group(
    positions: list[int], members: list[dict[str, Any]], items: list[Item]
) -> dict[str, Any]:
    splits = sorted({items[p].split for p in positions})
    styles = sorted({items[p].style for p in positions})
    return {
        "members": [dict(members[p]) for p in positions],
        "splits": splits,
        "styles": styles,
        "cross_split": len(splits) > 1,
        "styles_differ": len(styles) > 1,
    }


def _label(member: dict[str, Any]) -> str:
    path = member["path"]
    return path if path.startswith(member["split"] + "/") else f"{path} ({member['split']})"


def _members(group: dict[str, Any]) -> str:
    return " = ".join(_label(m) for m in group["members"][:4]) + (
        " ..." if len(group["members"]) > 4 else ""
    )


_QUALITY_WORDS = {
    "dark": "too dark",
    "light": "too light",
    "blurry": "blurry",
    "low_information": "low information (near-blank)",
    "grayscale": "greyscale",
}


def _threshold_text(kind: str) -> str:
    threshold = quality.THRESHOLDS[kind]
    if kind == "grayscale":
        return f"colour spread <= {threshold:g} of 255"
    return f"score < {threshold:g}"


def summary_lines(report: AuditReport, *, n_paths: int = 3) -> list[str]:
    """A plain-text summary: each finding with its count, the first few files, and what to do."""
    lines = [
        f"audited {report.root} ({report.source_kind}): "
        f"{report.n_images.get('train', 0)} train, {report.n_images.get('test', 0)} test images"
    ]
    found_any = False

    def finding(
        message: str,
        entries: list[dict[str, Any]] | None = None,
        describe: Callable[[dict[str, Any]], str] = _members,
    ) -> None:
        """One problem: its line, then the first ``n_paths`` of ``entries`` (groups by default)."""
        nonlocal found_any
        found_any = True
        lines.append(message)
        if entries is None:
            return
        for entry in entries[:n_paths]:
            lines.append(f"    {describe(entry)}")
        if len(entries) > n_paths:
            lines.append(f"    ... and {len(entries) - n_paths} more (--json or --out for all)")

    if report.unreadable:
        finding(
            f"unreadable: {plural(len(report.unreadable), 'file')}; re-download or delete them (training skips them)",
            report.unreadable,
            lambda e: f"{_label(e)}: {e['reason']}",
        )
    if report.leakage_exact:
        n_test = sum(1 for g in report.leakage_exact for m in g["members"] if m["split"] == "test")
        finding(
            f"train/test leakage, exact copies: {plural(len(report.leakage_exact), 'group')} "
            f"({plural(n_test, 'test file')}); "
            "remove the test copy to avoid leakage (otherwise test scores reward memory)",
            report.leakage_exact,
        )
    if report.leakage_near:
        finding(
            f"train/test leakage, near copies: {plural(len(report.leakage_near), 'group')}; "
            "check by eye and remove the test copy of any true copy",
            report.leakage_near,
        )
    within = [g for g in report.exact_duplicates if not g["cross_split"]]
    if within:
        extra = sum(len(g["members"]) - 1 for g in within)
        finding(
            f"exact duplicates within a split: {plural(len(within), 'group')} "
            f"({extra} extra {'copy' if extra == 1 else 'copies'}); "
            "keep one file per group (a copy counts a painting twice)",
            within,
        )
    near_within = [g for g in report.near_duplicates if not g["cross_split"]]
    n_across = len(report.near_duplicates) - len(near_within)
    if near_within:
        n_mirrored = sum(1 for g in near_within for m in g["members"] if m.get("mirrored"))
        finding(
            f"near duplicates within a split: {plural(len(near_within), 'group')} "
            f"({plural(n_mirrored, 'mirrored member')}"
            + (
                f"; {plural(n_across, 'more group')} across train and test, under leakage"
                if n_across
                else ""
            )
            + "); resized, greyscale or mirrored copies: check by eye and keep one",
            near_within,
        )
    if report.label_conflicts:
        finding(
            f"label conflicts: {plural(len(report.label_conflicts), 'picture')} filed under two or more styles; "
            "decide which style is right and remove the other copy",
            report.label_conflicts,
            lambda g: (
                f"{', '.join(g['styles'])}: " + " = ".join(_label(m) for m in g["members"][:3])
            ),
        )
    if report.tiny:
        finding(
            f"tiny images (short side < {report.params['min_side']} px): {len(report.tiny)}; "
            "drop them or accept blurry upscaling",
            report.tiny,
            lambda e: f"{_label(e)}: {e['width']}x{e['height']}",
        )
    if report.extreme_aspect:
        finding(
            f"extreme aspect ratios (> {report.params['max_aspect']:g}:1): {len(report.extreme_aspect)}; "
            "a centre crop keeps little of them, consider --resize letterbox",
            report.extreme_aspect,
            lambda e: f"{_label(e)}: {e['aspect']:g}:1",
        )
    for kind in quality.QUALITY_ISSUES:
        entries = getattr(report, kind)
        if entries:
            finding(
                f"{_QUALITY_WORDS[kind]}: {plural(len(entries), 'image')} "
                f"({_threshold_text(kind)}); look at them, drop or replace the bad scans",
                entries,
                lambda e: f"{_label(e)}: score {e['score']:g}",
            )
    if report.small_styles:
        finding(
            f"styles with fewer than {report.params['min_style_images']} train images: {len(report.small_styles)}; "
            "collect more, merge them, or see `artstyle data balance`",
            report.small_styles,
            lambda e: f"{e['style']}: {e['n_train']}",
        )
    if report.missing_in_test:
        finding(
            f"train styles missing from test: {', '.join(report.missing_in_test)}; "
            "their test accuracy cannot be measured (balanced accuracy averages the others)"
        )
    if report.skipped:
        lines.append(
            f"skipped by the scan: {plural(len(report.skipped), 'file')} ("
            + ", ".join(f"{reason} {n}" for reason, n in report.skipped_by_reason.items())
            + ")"
        )
    if not found_any:
        lines.append("no problems found")
    return lines
