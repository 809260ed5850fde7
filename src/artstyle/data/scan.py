"""Turn a collection on disk into a deterministic, sorted :class:`Index`.

Three sources are understood, all read from local files only:

* the course layout ``DATA/train/<Style>/...`` and ``DATA/test/<Style>/...``
  (or one folder of style folders, split with a stratified ``test_fraction``);
* the ArtGAN release: style folders plus ``style_train.csv`` / ``style_val.csv``
  with rows ``Style/artist_title.jpg,idx`` and no header;
* a parquet export (image bytes + integer label, names in the schema metadata).

A file's identity is its path relative to the split root (two styles can hold
the same file name). Its style is the first folder under the split root. No
torch here.

    artstyle data stats DATA
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from artstyle.errors import ArtstyleError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
SPLITS = ("train", "test")
# WikiArt file names read ``artist-name_title-of-work-1890.jpg``.
_WIKIART_NAME = re.compile(r"^([a-z0-9][a-z0-9\-\.']*)_(.+)$")


@dataclass(frozen=True)
class Item:
    """One image: where its bytes are and what it is."""

    rel: str  # identity: path relative to the split root, posix; parquet: "sub/file.parquet#row"
    style: str
    split: str
    source: str  # absolute path of the file holding the bytes
    row: int = -1  # row in a parquet file; -1 for an image file
    artist: str | None = None
    n_bytes: int = 0
    mtime_ns: int = 0


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class Index:
    """All items of a collection, sorted by (split, rel), with the class map of the train split."""

    root: Path
    source_kind: str  # "folders" | "single-folder" | "artgan" | "parquet"
    items: list[Item]
    classes: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the share of each style moved to test when the data had no test split of its own
    held_out: float | None = None

    def split(self, name: str) -> list[Item]:
        return [item for item in self.items if item.split == name]

    def labels(self, name: str) -> list[int]:
        lookup = self.class_to_index
        return [lookup[item.style] for item in self.split(name)]

    @property
    def class_to_index(self) -> dict[str, int]:
        return {style: i for i, style in enumerate(self.classes)}

    def counts(self, name: str) -> dict[str, int]:
        """Images per style in a split, every class of the map present (0 when absent)."""
        counter = Counter(item.style for item in self.split(name))
        return {style: counter.get(style, 0) for style in self.classes}

    @property
    def missing_in_test(self) -> list[str]:
        test = self.counts("test")
        if not any(test.values()):
            return []
        return [style for style, n in test.items() if n == 0]

    def fingerprint(self, name: str) -> str:
        """A hash of the split's file list, sizes and mtimes: changes when any file changes."""
        digest = hashlib.sha256()
        for item in self.split(name):
            digest.update(
                f"{item.rel}\0{item.style}\0{item.row}\0{item.n_bytes}\0{item.mtime_ns}\n".encode(
                    errors="surrogateescape"
                )
            )
        return digest.hexdigest()[:16]


def parse_artist(file_name: str) -> str | None:
    """The artist slug of a WikiArt file name (``claude-monet_water-lilies.jpg`` -> ``claude-monet``)."""
    stem = Path(file_name).stem
    match = _WIKIART_NAME.match(stem)
    if match is None:
        return None
    artist = match.group(1)
    # a bare number or a single letter before the underscore is not an artist
    if artist.isdigit() or len(artist) < 2:
        return None
    return artist


def scan(
    root: str | os.PathLike,
    *,
    test_fraction: float | None = None,
    seed: int = 0,
) -> Index:
    """Index a collection; the layout is detected from what the folder holds.

    ``test_fraction`` splits a collection that has no test split of its own
    (a single folder of style folders, an ArtGAN release without
    ``style_val.csv``, a parquet export without a test file), stratified by
    style and deterministic for a ``seed``. It defaults to 0.2 there and is
    refused for collections that carry their own test split.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise ArtstyleError(
            f"data folder {root} does not exist; pass the folder that holds train/ and test/"
        )
    if test_fraction is not None and not 0.0 < test_fraction < 1.0:
        raise ArtstyleError(
            f"--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )
    if root.is_file():
        if root.suffix.lower() == ".parquet":
            return _scan_parquet([root], root.parent, test_fraction, seed)
        raise ArtstyleError(f"{root} is a file; pass a data folder (or a .parquet file)")
    root = root.resolve()

    csv_train = _find_artgan_csv(root, "style_train.csv")
    if csv_train is not None:
        return _scan_artgan(root, csv_train, test_fraction, seed)
    # a Hub export (data/train-00000-of-00001.parquet) or the Hub's parquet conversion
    # (<config>/<split>/0000.parquet), from the dataset's folder or from <config>/
    parquet_files = [
        path
        for pattern in ("*", "*/*", "*/*/*")
        for path in sorted(root.glob(f"{pattern}.parquet"))
    ]
    has_split_dirs = any((root / name).is_dir() for name in SPLITS)
    if parquet_files and not _holds_style_folders(root):
        return _scan_parquet(parquet_files, root, test_fraction, seed)
    if has_split_dirs:
        if not (root / "train").is_dir():
            raise ArtstyleError(
                f"{root} has test/ but no train/ folder; the class map comes from train/"
            )
        items, skipped = _walk_split(root / "train", "train")
        test_items: list[Item] = []
        if (root / "test").is_dir():
            test_items, test_skipped = _walk_split(root / "test", "test")
            skipped += test_skipped
        if test_fraction is not None and test_items:  # an empty test/ is no split of its own
            raise ArtstyleError(
                f"{root} has its own test/ split; drop --test-fraction or point at {root / 'train'}"
            )
        index = _finish(root, "folders", items, test_items, skipped)
        if not test_items:
            index = _split_stratified(index, test_fraction or 0.2, seed)
        return index

    items, skipped = _walk_split(root, "train")
    index = _finish(root, "single-folder", items, [], skipped)
    return _split_stratified(index, test_fraction or 0.2, seed)


def _walk_split(split_root: Path, split: str) -> tuple[list[Item], list[Skipped]]:
    items: list[Item] = []
    skipped: list[Skipped] = []
    seen_dirs: dict[tuple[int, int], Path] = {}  # a folder's identity -> where it was read

    def unlistable(exc: OSError) -> None:  # os.walk drops a folder it cannot list; say so
        skipped.append(Skipped(str(exc.filename), f"cannot read folder: {exc.strerror}"))

    for dirpath, dirnames, filenames in os.walk(split_root, onerror=unlistable, followlinks=True):
        here = Path(dirpath)
        try:
            stat = here.stat()
        except OSError as exc:
            skipped.append(Skipped(str(here), f"cannot read folder: {exc.strerror}"))
            dirnames[:] = []
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in seen_dirs:
            first = seen_dirs[key]
            reason = (
                "symlink loop: folder already visited, not followed"
                if here.is_relative_to(first)
                else f"same folder as {first.relative_to(split_root).as_posix() or '.'} "
                "(a symlink): its images are read there only, not under a second style"
            )
            skipped.append(Skipped(str(here), reason))
            dirnames[:] = []
            continue
        seen_dirs[key] = here
        hidden = [d for d in dirnames if d.startswith(".")]
        for name in hidden:
            skipped.append(Skipped(str(here / name), "hidden folder"))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(split_root).as_posix()
            if name.startswith("."):
                skipped.append(Skipped(str(path), "hidden file"))
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(
                    Skipped(str(path), f"not an image extension ({path.suffix or 'none'})")
                )
                continue
            if here == split_root:
                skipped.append(Skipped(str(path), "image outside a style folder"))
                continue
            try:
                stat = path.stat()
            except OSError as exc:
                skipped.append(Skipped(str(path), f"cannot stat: {exc.strerror}"))
                continue
            style = rel.split("/", 1)[0]
            items.append(
                Item(
                    rel=rel,
                    style=style,
                    split=split,
                    source=str(path),
                    artist=parse_artist(name),
                    n_bytes=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                )
            )
    return items, skipped


def _finish(
    root: Path,
    kind: str,
    train: list[Item],
    test: list[Item],
    skipped: list[Skipped],
) -> Index:
    if not train:
        if not any(
            p.is_dir() for p in _subdirs(root / "train" if (root / "train").is_dir() else root)
        ):
            raise ArtstyleError(
                f"{root} holds no style folders; expected {root}/train/<Style>/*.jpg "
                "(or <Style>/*.jpg for a single folder)"
            )
        raise ArtstyleError(
            f"{root} has style folders but no image files in them "
            f"(extensions {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    classes = sorted({item.style for item in train})
    unknown = sorted({item.style for item in test} - set(classes))
    if unknown:
        raise ArtstyleError(
            f"test style(s) {', '.join(unknown)} have no training images in {root}; "
            "add training images for them or remove them from the test split"
        )
    notes = []
    test_styles = {item.style for item in test}
    missing = [style for style in classes if style not in test_styles]
    if test and missing:
        notes.append(f"styles with training images but none in test: {', '.join(missing)}")
    items = sorted(train, key=lambda i: i.rel) + sorted(test, key=lambda i: i.rel)
    return Index(
        root=root, source_kind=kind, items=items, classes=classes, skipped=skipped, notes=notes
    )


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError:
        return []


def _split_stratified(index: Index, test_fraction: float, seed: int) -> Index:
    """Move a stratified, seed-determined share of each style to the test split.

    Each style keeps at least one training image; the choice is by a hash of
    (seed, rel), so adding a file does not reshuffle the others.
    """
    by_style: dict[str, list[Item]] = {}
    for item in index.items:
        by_style.setdefault(item.style, []).append(item)
    train: list[Item] = []
    test: list[Item] = []
    for style in sorted(by_style):
        members = sorted(
            by_style[style],
            key=lambda i: hashlib.sha256(
                f"{seed}:{i.rel}".encode(errors="surrogateescape")
            ).hexdigest(),
        )
        n_test = min(int(round(test_fraction * len(members))), len(members) - 1)
        for k, item in enumerate(members):
            target = "test" if k < n_test else "train"
            fields = {**item.__dict__, "split": target}
            (test if target == "test" else train).append(Item(**fields))
    index = _finish(index.root, index.source_kind, train, test, index.skipped)
    index.notes.insert(
        0, f"no test split on disk: {test_fraction:.0%} of each style held out (seed {seed})"
    )
    index.held_out = test_fraction
    return index


# ---------------------------------------------------------------- ArtGAN release


def _find_artgan_csv(root: Path, name: str) -> Path | None:
    for candidate in [root / name, *sorted(root.glob(f"*/{name}"))]:
        if candidate.is_file():
            return candidate
    return None


def _scan_artgan(root: Path, csv_train: Path, test_fraction: float | None, seed: int) -> Index:
    csv_val = _find_artgan_csv(root, "style_val.csv")
    if test_fraction is not None and csv_val is not None:
        raise ArtstyleError(f"{csv_val} already defines a test split; drop --test-fraction")
    image_root = _artgan_image_root(root, csv_train)
    skipped: list[Skipped] = []
    train = _read_artgan_rows(csv_train, image_root, "train", skipped)
    test = _read_artgan_rows(csv_val, image_root, "test", skipped) if csv_val else []
    if not train:
        raise ArtstyleError(f"{csv_train} lists no readable rows ({len(skipped)} skipped)")
    index = _finish(root, "artgan", train, test, skipped)
    if not test:
        index = _split_stratified(index, test_fraction or 0.2, seed)
    return index


def _artgan_image_root(root: Path, csv_path: Path) -> Path:
    # The release puts the CSVs in wikiart_csv/ beside wikiart/; accept the CSV beside the styles too.
    for candidate in (root / "wikiart", root, csv_path.parent, csv_path.parent.parent / "wikiart"):
        if candidate.is_dir() and any(p.is_dir() for p in _subdirs(candidate)):
            return candidate.resolve()
    return root


def _read_artgan_rows(
    csv_path: Path, image_root: Path, split: str, skipped: list[Skipped]
) -> list[Item]:
    items: list[Item] = []
    label_of_style: dict[str, str] = {}
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first path
        handle = open(csv_path, newline="", encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise ArtstyleError(f"cannot read {csv_path}: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        last_line = 0
        while True:
            first_line = last_line + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            # e.g. a field over the csv module's 128 KiB limit: that row is skipped, not the file
            except csv.Error as exc:
                last_line = reader.line_num
                skipped.append(Skipped(f"{csv_path}:{last_line}", f"unreadable CSV row: {exc}"))
                continue
            last_line = reader.line_num
            where = f"{csv_path}:{last_line}"
            if last_line > first_line:  # a stray quote: the reader joined lines into one field
                skipped.append(
                    Skipped(
                        f"{csv_path}:{first_line}-{last_line}",
                        f"a quote opened on line {first_line} closes on line {last_line}, so those "
                        f"{last_line - first_line + 1} lines were read as one row; remove the stray quote",
                    )
                )
                continue
            if not row or not row[0].strip():
                continue
            if len(row) != 2:
                skipped.append(
                    Skipped(where, f"expected 'Style/file.jpg,idx', got {len(row)} fields")
                )
                continue
            rel, label = row[0].strip(), row[1].strip()
            reason = _unsafe_relative(rel)
            if reason:
                skipped.append(Skipped(where, f"refused path {rel!r}: {reason}"))
                continue
            path = (image_root / rel).resolve()
            if not path.is_relative_to(image_root):
                skipped.append(
                    Skipped(where, f"refused path {rel!r}: it leaves the data root via a link")
                )
                continue
            parts = rel.replace("\\", "/").split("/")
            if len(parts) < 2:
                skipped.append(Skipped(where, f"path {rel!r} has no style folder"))
                continue
            style = parts[0]
            if label_of_style.setdefault(style, label) != label:
                raise ArtstyleError(
                    f"{where}: style {style} has index {label} here but {label_of_style[style]} earlier; "
                    "the CSV is inconsistent"
                )
            if Path(rel).suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(Skipped(where, f"not an image extension: {rel}"))
                continue
            try:
                stat = path.stat()
            except OSError:
                skipped.append(Skipped(where, f"listed file {rel} is missing"))
                continue
            items.append(
                Item(
                    rel="/".join(parts),
                    style=style,
                    split=split,
                    source=str(path),
                    artist=parse_artist(parts[-1]),
                    n_bytes=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                )
            )
    return items


def _unsafe_relative(rel: str) -> str | None:
    """Why a path from a CSV or parquet row may not be used, or None when it is safe."""
    if "\x00" in rel:
        return "contains a NUL byte"
    posix = rel.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "absolute paths are not allowed"
    if any(part == ".." for part in posix.split("/")):
        return "'..' would leave the data root"
    return None


# ---------------------------------------------------------------- parquet export


def _scan_parquet(files: list[Path], root: Path, test_fraction: float | None, seed: int) -> Index:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise ArtstyleError("reading parquet needs pyarrow: pip install pyarrow") from exc

    skipped: list[Skipped] = []
    train: list[Item] = []
    test: list[Item] = []
    for path in files:
        path = path.resolve()
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            skipped.append(Skipped(str(path), f"not a readable parquet file: {exc}"))
            continue
        schema = parquet.schema_arrow
        image_col = _pick_column(schema.names, ("image", "img", "image_bytes", "bytes"))
        label_col = _pick_column(schema.names, ("style", "label", "labels", "style_label"))
        if image_col is None or label_col is None:
            raise ArtstyleError(
                f"{path} needs an image column (image/img/bytes) and a label column "
                f"(style/label); it has {', '.join(schema.names)}"
            )
        names = _parquet_label_names(schema, label_col)
        stat = path.stat()
        try:
            labels = parquet.read(columns=[label_col]).column(label_col).to_pylist()
        # a damaged page or an unreadable column type: pyarrow raises several kinds
        except Exception as exc:
            skipped.append(Skipped(str(path), f"cannot read the {label_col!r} column: {exc}"))
            continue
        try:  # the file's path below the root: two folders may each hold a train.parquet
            name = path.relative_to(root.resolve()).as_posix()
        except ValueError:
            name = path.name
        split = _parquet_split(Path(name))
        for row, label in enumerate(labels):
            where = f"{name}#{row}"
            if label is None:
                skipped.append(Skipped(where, "row has no label"))
                continue
            if isinstance(label, str):
                style = label
            elif names is not None and isinstance(label, int) and 0 <= label < len(names):
                style = names[label]
            elif names is None and isinstance(label, int):
                style = f"style_{label:02d}"
            else:
                skipped.append(
                    Skipped(where, f"label {label!r} is not in the {len(names or [])} style names")
                )
                continue
            if not style.strip() or _unsafe_relative(style) or "/" in style:
                skipped.append(Skipped(where, f"refused style name {style!r}"))
                continue
            item = Item(
                rel=where,
                style=style,
                split=split,
                source=str(path),
                row=row,
                n_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
            (test if split == "test" else train).append(item)
    if not train:
        raise ArtstyleError(f"no training rows found in {', '.join(str(f) for f in files)}")
    index = _finish(root, "parquet", train, test, skipped)
    if not test:
        index = _split_stratified(index, test_fraction or 0.2, seed)
    elif test_fraction is not None:
        raise ArtstyleError("the parquet export has its own test file; drop --test-fraction")
    return index


def _holds_style_folders(root: Path) -> bool:
    """Whether ``root/train`` or ``root/test`` has sub-folders (the image-folder layout)."""
    for name in SPLITS:
        folder = root / name
        if folder.is_dir() and any(child.is_dir() for child in folder.iterdir()):
            return True
    return False


def _parquet_split(rel: Path) -> str:
    """The split of a parquet file: "test" when its name, or else its folder, names a test or
    validation split.

    ``rel`` is the file's path below the data root. ``test-00000-of-00001.parquet``,
    ``wikiart-validation.parquet`` and ``default/test/0000.parquet`` are test
    files; a folder counts only when it is named exactly ``test``, ``val`` or
    ``validation`` (not ``test_runs/``); everything else trains.
    """
    if re.search(r"(^|[-_])(test|val|validation)([-_.]|$)", rel.name):
        return "test"
    if re.search(r"(^|[-_])train([-_.]|$)", rel.name):
        return "train"
    if len(rel.parts) > 1 and rel.parent.name.lower() in ("test", "val", "validation"):
        return "test"
    return "train"


def _pick_column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {name.lower(): name for name in names}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def _parquet_label_names(schema, label_col: str) -> list[str] | None:
    """Style names from Hugging Face metadata (ClassLabel names) or an ``artstyle`` key."""
    metadata = schema.metadata or {}
    for key in (b"huggingface", b"artstyle"):
        raw = metadata.get(key)
        if not raw:
            continue
        try:
            meta = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(meta, dict):  # valid JSON of the wrong shape says nothing about names
            continue
        info = meta.get("info")
        features = info.get("features") if isinstance(info, dict) else None
        features = features or meta.get("features", {})
        feature = features.get(label_col, {}) if isinstance(features, dict) else {}
        names = feature.get("names") if isinstance(feature, dict) else None
        if names is None and isinstance(meta.get("names"), list):
            names = meta["names"]
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    return None


def read_item_bytes(item: Item) -> bytes:
    """The encoded image bytes of an item (a file's content or a parquet cell)."""
    if item.row < 0:
        with open(item.source, "rb") as handle:
            return handle.read()
    return _parquet_cell(item.source, item.row, (item.n_bytes, item.mtime_ns))


# one parquet file's image column, keyed by (path, size, mtime) as scanned: a file
# rewritten since is read again, never served from the old copy
_PARQUET_CACHE: dict[tuple[str, int, int], tuple[list | str, str]] = {}


def _parquet_cell(source: str, row: int, stamp: tuple[int, int]) -> bytes:
    import pyarrow.parquet as pq

    key = (source, *stamp)
    if key not in _PARQUET_CACHE:
        try:
            parquet = pq.ParquetFile(source)
            names = parquet.schema_arrow.names
            image_col = _pick_column(names, ("image", "img", "image_bytes", "bytes"))
            column = parquet.read(columns=[image_col]).column(image_col).to_pylist()
        # a damaged or changed file: pyarrow raises several kinds; the reason is remembered,
        # so each of the file's rows is skipped without reading the file again
        except Exception as exc:
            column, image_col = f"cannot read the image column of {Path(source).name}: {exc}", ""
        _PARQUET_CACHE.clear()  # keep one file's images in memory at a time
        _PARQUET_CACHE[key] = (column, image_col)
    column = _PARQUET_CACHE[key][0]
    if isinstance(column, str):
        raise ValueError(column)
    if not 0 <= row < len(column):
        raise ValueError(f"row {row} is not in {Path(source).name} any more; scan the data again")
    cell = column[row]
    # Hugging Face Image feature: {"bytes": ..., "path": ...}; the path is never opened (it
    # could point anywhere on this machine), only the embedded bytes are used
    if isinstance(cell, dict):
        cell = cell.get("bytes")
    if not isinstance(cell, (bytes, bytearray)):
        raise ValueError("parquet cell holds no image bytes")
    return bytes(cell)
