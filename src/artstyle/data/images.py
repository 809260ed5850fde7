"""Decode one image into RGB: the only module that asks Pillow to decode.

Every mode a painting collection holds comes out as 8-bit RGB: CMYK, L, LA,
P (with or without transparency), RGBA (composited on white), 16-bit and
32-bit greyscale (scaled to 8 bit, not clipped), 1-bit. EXIF orientation is
applied. Anything unreadable (zero bytes, truncated, not an image, a
decompression bomb) raises :class:`ImageError` with the reason, so callers can
list the file and carry on.

    python -c "from artstyle.data.images import decode_image; print(decode_image('painting.jpg', 64).shape)"
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow refuses images over twice its MAX_IMAGE_PIXELS (89.5 MPixel) as
# decompression bombs; the same 178.9 MPixel line is used here, and it can be
# lowered (tests do) without touching Pillow's global.
MAX_PIXELS = 178_956_970
RESIZE_MODES = ("crop", "letterbox")
_ORIENTATION = 0x0112  # the EXIF tag ImageOps.exif_transpose reads
# Antialiased bicubic: Pillow widens the kernel by the downscale factor, so a
# 416 -> 64 px reduction does not alias brush strokes into moire.
_FILTER = Image.Resampling.BICUBIC
# resize(reducing_gap=3) first shrinks by an integer factor with a box filter
# while the result stays >= 3x the target, which Pillow documents as
# indistinguishable from a full convolution and much faster.
_REDUCING_GAP = 3.0

ImageSource = bytes | bytearray | memoryview | str | os.PathLike


class ImageError(ValueError):
    """An image that cannot be decoded; ``reason`` says why in a few words."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


def open_rgb(data: ImageSource, *, draft_size: int | None = None) -> Image.Image:
    """Open, fully load and convert one image to an 8-bit RGB ``PIL.Image``.

    ``data`` is the encoded bytes or a file path. With ``draft_size``, a JPEG is
    decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose short side is
    still >= ``draft_size`` pixels: the inverse DCT, colour conversion and any
    later resize work on 4-64x fewer pixels (entropy decoding is unchanged).
    Raises :class:`ImageError` for anything unreadable.
    """
    return _load_rgb(data, short_side=draft_size)


def _load_rgb(
    data: ImageSource, *, short_side: int | None = None, long_side: int | None = None
) -> Image.Image:
    """open_rgb with the draft target given as a short side or a long side."""
    path = None
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read file: {exc.strerror or exc}", path=path) from exc
    try:
        if len(data) == 0:
            raise ImageError("empty file (0 bytes)")
        image = _open_loaded(bytes(data), short_side, long_side)
        return _to_rgb(_apply_orientation(image))
    except ImageError as exc:
        if path is None:
            raise
        raise ImageError(exc.reason, path=path) from exc.__cause__


def _open_loaded(data: bytes, short_side: int | None, long_side: int | None) -> Image.Image:
    with warnings.catch_warnings():
        # The pixel limit below is ours; Pillow's own warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise ImageError(f"not an image Pillow can read ({_describe_bytes(data)})") from exc
        except Image.DecompressionBombError as exc:
            raise ImageError(_bomb_message(None)) from exc
        except Exception as exc:  # plugins raise SyntaxError, struct.error, ... on broken headers
            text = _exception_text(exc)
            if "truncated" in text.lower():
                raise ImageError(f"truncated file: {text}") from exc
            raise ImageError(f"broken image header: {text}") from exc
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageError(_bomb_message((width, height)))
        if width < 1 or height < 1:
            raise ImageError(f"image has no pixels ({width}x{height})")
        if image.format == "JPEG" and (short_side or long_side):
            # draft() picks the largest scale 1/s that keeps both sides >= the request.
            if short_side:
                request = (min(short_side, width), min(short_side, height))
            else:
                scale = long_side / max(width, height)
                request = (max(1, int(width * scale)), max(1, int(height * scale)))
            image.draft(None, request)
        try:
            # load() is where truncation and corrupt data show up
            image.load()
        except Image.DecompressionBombError as exc:
            raise ImageError(_bomb_message(None)) from exc
        except OSError as exc:
            text = _exception_text(exc)
            if "truncated" in text.lower():
                raise ImageError(f"truncated file: {text}") from exc
            raise ImageError(f"corrupt image data: {text}") from exc
        except MemoryError as exc:
            raise ImageError("out of memory while decoding") from exc
        except Exception as exc:
            raise ImageError(f"corrupt image data: {_exception_text(exc)}") from exc
    return image


def _bomb_message(size: tuple[int, int] | None) -> str:
    limit = f"{MAX_PIXELS / 1e6:.1f} MPixel"
    if size is None:
        return f"decompression bomb: the image declares more pixels than the {limit} limit; refused"
    width, height = size
    return (
        f"decompression bomb: {width}x{height} = {width * height / 1e6:.1f} MPixel exceeds "
        f"the {limit} limit (artstyle.data.images.MAX_PIXELS); refused"
    )


def _describe_bytes(data: bytes) -> str:
    head = data[:64]
    if head.lstrip()[:1] in (b"<", b"{") or all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "the file holds text, not image data"
    return f"unrecognised format, first bytes {head[:8].hex()}"


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        if image.getexif().get(_ORIENTATION, 1) in (0, 1):
            return image  # upright already: skip exif_transpose's copy of the pixels
        return ImageOps.exif_transpose(image)
    except Exception:
        # A damaged EXIF block does not make the pixels unreadable; keep them as stored.
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if "transparency" in image.info and mode in ("P", "L", "RGB"):
        # a palette entry or one grey level / colour marked transparent (PNG tRNS)
        mode = "RGBA"
        image = image.convert(mode)
    if mode == "RGB":
        return image
    if mode == "P":
        mode = "RGB"
        image = image.convert(mode)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white paper, not black.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(image)
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"colour mode {mode} cannot be converted to RGB") from exc


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16/32-bit integer and float greyscale -> 8-bit RGB by scaling, never clipping."""
    mode = image.mode
    values = np.asarray(image).astype(np.float64)
    if mode.startswith("I;16"):
        scaled = values / 257.0  # 65535 -> 255 exactly
    else:
        low, high = float(values.min()), float(values.max())
        if mode == "F" and low >= 0.0 and high <= 1.0:
            scaled = values * 255.0
        elif low >= 0.0 and high <= 255.0:
            scaled = values
        elif low >= 0.0 and high <= 65535.0:
            scaled = values / 257.0
        else:
            # Unknown range: stretch what is there onto 0..255.
            scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    grey = np.rint(scaled).clip(0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")


def decode_image(data: ImageSource, size: int, resize: str = "crop") -> np.ndarray:
    """One image as a ``(size, size, 3)`` uint8 array.

    ``resize="crop"`` scales the short side to ``size`` and keeps the centre
    square; ``"letterbox"`` fits the whole image inside and pads with black.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if resize == "crop":
        image = open_rgb(data, draft_size=size)
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        # Cropping through resize's box keeps sub-pixel centring and costs one pass.
        out = image.resize(
            (size, size),
            _FILTER,
            box=(left, top, left + side, top + side),
            reducing_gap=_REDUCING_GAP,
        )
        return np.asarray(out, dtype=np.uint8)
    # Letterbox only needs the long side >= size, which allows a smaller JPEG draft.
    image = _load_rgb(data, long_side=size)
    width, height = image.size
    scale = size / max(width, height)
    fit_w, fit_h = max(1, round(width * scale)), max(1, round(height * scale))
    fitted = image.resize((fit_w, fit_h), _FILTER, reducing_gap=_REDUCING_GAP)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - fit_h) // 2, (size - fit_w) // 2
    canvas[top : top + fit_h, left : left + fit_w] = np.asarray(fitted, dtype=np.uint8)
    return canvas


def decode_item(item, size: int, resize: str = "crop") -> np.ndarray:
    """Decode an :class:`~artstyle.data.scan.Item` (file or parquet cell) to ``(size, size, 3)`` uint8."""
    from artstyle.data.scan import read_item_bytes

    try:
        data = read_item_bytes(item)
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", path=item.source) from exc
    except ValueError as exc:
        raise ImageError(str(exc), path=item.rel) from exc
    try:
        return decode_image(data, size, resize)
    except ImageError as exc:
        raise ImageError(exc.reason, path=item.rel) from exc


def worker_context():
    """The multiprocessing context for worker processes that decode, hash or draw images.

    fork on Linux: workers start at once and never re-run the caller's
    ``__main__``, as spawn and forkserver do, which in a script without a
    main guard re-runs the script in every worker (and so never finishes).
    The children only run Pillow and numpy, never the parent's torch thread
    pools or progress-bar thread, the trade torch's own DataLoader makes.
    macOS and Windows lack a safe fork: spawn there.
    """
    import multiprocessing
    import sys

    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


__all__ = [
    "MAX_PIXELS",
    "RESIZE_MODES",
    "ImageError",
    "decode_image",
    "decode_item",
    "open_rgb",
    "worker_context",
]


# ---------------------------------------------------------------- for the synthetic set


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    """Encode ``(h, w, 3)`` uint8 RGB ``pixels`` as JPEG bytes at ``quality`` (1-95)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


__all__ += ["encode_jpeg"]


# ---------------------------------------------------------------- for the report


def checked_image_bytes(data: bytes, max_bytes: int, max_side: int) -> bytes | None:
    """``data`` if it decodes to the end (a figure cut short by a killed run would show
    broken), downscaled if it is oversized (a 20 MB grid would make the page sluggish).

    Over ``max_bytes``, the image is shrunk to fit ``max_side`` x ``max_side`` (aspect
    kept) and re-encoded as an RGB PNG. None when Pillow cannot decode ``data``.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if len(data) <= max_bytes:
                return data
            image.thumbnail((max_side, max_side))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG", optimize=True)
            return buffer.getvalue()
    except (OSError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


__all__ += ["checked_image_bytes"]


# ---------------------------------------------------------------- for the statistics expert

# A row or column whose brightest channel stays at or below this (of 255) is black: letterbox
# bars around a scanned painting, which the colour and texture statistics must not count.
_BAR_LEVEL = 12


def statistics_pixels(source, side: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB and HSV ``(side, side, 3)`` uint8 of a whole image, black bars cut off, for the
    colour and texture statistics (:mod:`artstyle.data.texture`).

    ``source`` is an :class:`~artstyle.data.scan.Item` or an image file (its whole image is
    decoded), or an ``(H, W, 3)`` uint8 array. Rows and columns at the edge whose pixels are all black
    (brightest channel <= 12) are dropped when more than 10 of each remain; the rest is
    stretched to a square (bilinear), not cropped: a painting's whole surface counts.
    Raises :class:`ImageError` for an item that cannot be read.
    """
    if isinstance(source, np.ndarray):
        pixels = source
    elif isinstance(source, str | os.PathLike):
        try:
            pixels = np.asarray(open_rgb(source, draft_size=side))
        except ImageError as exc:
            raise ImageError(exc.reason, path=str(source)) from exc
    else:
        pixels = decode_item_rgb(source, draft_size=side)
    bright = pixels.max(axis=2) > _BAR_LEVEL
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    if len(rows) > 10 and len(cols) > 10:
        pixels = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB").resize(
        (side, side), Image.Resampling.BILINEAR
    )
    return np.asarray(image, dtype=np.uint8), np.asarray(image.convert("HSV"), dtype=np.uint8)


__all__ += ["statistics_pixels"]


# ---------------------------------------------------------------- for LoRA


def decode_item_rgb(item, *, draft_size: int | None = None) -> np.ndarray:
    """The whole image of an :class:`~artstyle.data.scan.Item` as ``(H, W, 3)`` uint8, not resized.

    ``draft_size`` is :func:`open_rgb`'s: a JPEG is decoded at the smallest DCT
    scale whose short side is still >= that many pixels. Raises
    :class:`ImageError` for a file that cannot be read or decoded.
    """
    return np.asarray(open_rgb(_read_item(item), draft_size=draft_size))


def _read_item(item) -> bytes:
    """The bytes of an :class:`~artstyle.data.scan.Item`; :class:`ImageError` when they cannot
    be read (a missing file, a damaged parquet cell)."""
    from artstyle.data.scan import read_item_bytes

    try:
        return read_item_bytes(item)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read file: {exc}", path=item.rel) from exc


def item_size(item) -> tuple[int, int]:
    """(width, height) of an item as :func:`decode_item_rgb` returns it (EXIF rotation applied),
    read from the header without decoding the pixels; :class:`ImageError` if unreadable."""
    data = _read_item(item)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            # orientations 5-8 turn the image a quarter: width and height swap
            try:
                turned = image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
            except Exception:  # a damaged EXIF block: kept as stored, as _apply_orientation does
                turned = False
    except Exception as exc:
        raise ImageError(
            f"not an image Pillow can read ({_exception_text(exc)})", path=item.rel
        ) from exc
    return (height, width) if turned else (width, height)


def write_image(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Pixels in [0, 1] (H, W, 3) as an image file in the format ``path``'s suffix names (PNG
    when it has none), written atomically."""
    from artstyle.errors import ArtstyleError
    from artstyle.io import atomic_path

    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix) if suffix else "PNG"
    if fmt is None or fmt not in Image.SAVE:
        raise ArtstyleError(
            f"cannot write {path}: {suffix} is not an image format; use .png or .jpg"
        )
    with atomic_path(path) as tmp:
        Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8), "RGB").save(
            tmp, format=fmt
        )
    return path


__all__ += ["decode_item_rgb", "write_image"]


# ---------------------------------------------------------------- for the audit

# A border row or column whose 2nd..98th percentile spread is this small (of
# 255), at the level of the outermost line, which is darker or lighter than
# these, is a letterbox bar or a scan margin, not painting.
_BORDER_SPREAD = 12
_BORDER_DARK = 40
_BORDER_LIGHT = 215
_BORDER_MAX_SHARE = 0.45


def perceptual_hashes(image: Image.Image, hash_size: int) -> tuple[bytes, ...]:
    """Packed pHash and dHash bits of an image and of its mirror image, in that order.

    Greyscale, so a greyscale copy of a colour painting hashes like it; borders
    trimmed, so a letterboxed or matted copy hashes like the bare one (and black
    bars do not make unrelated pictures look alike).
    """
    import imagehash

    grey = trim_borders(image.convert("L"))
    side = 4 * hash_size
    # imagehash.phash resizes to (4 * hash_size)^2 itself; doing it once here
    # lets the mirrored hashes reuse the thumbnail (the library's resize to
    # the same size is then a plain copy).
    thumb = grey.resize((side, side), Image.Resampling.LANCZOS)
    mirror = ImageOps.mirror(thumb)
    hashes = (
        imagehash.phash(thumb, hash_size=hash_size),
        imagehash.phash(mirror, hash_size=hash_size),
        imagehash.dhash(thumb, hash_size=hash_size),
        imagehash.dhash(mirror, hash_size=hash_size),
    )
    return tuple(np.packbits(h.hash.reshape(-1)).tobytes() for h in hashes)


def trim_borders(grey: Any) -> Any:
    """Crop letterbox bars and plain dark or light margins off each side (at most 45% per side).

    A side is trimmed while its lines are flat and match the outermost line,
    and only when that line is near black or near white: bars and scan
    margins are, while a colour field painting's outer band is part of the
    painting and stays.
    """
    pixels = np.asarray(grey, dtype=np.uint8)
    height, width = pixels.shape

    def border(lines: np.ndarray, limit: int) -> int:
        # lines: (n_lines, line_length), outermost first
        low, level, high = np.percentile(lines[:limit], [2, 50, 98], axis=1)
        if not (level[0] <= _BORDER_DARK or level[0] >= _BORDER_LIGHT):
            return 0
        flat = ((high - low) <= _BORDER_SPREAD) & (np.abs(level - level[0]) <= _BORDER_SPREAD)
        return int(np.argmin(flat)) if not flat.all() else limit  # leading run of flat lines

    row_limit = max(1, int(height * _BORDER_MAX_SHARE))
    col_limit = max(1, int(width * _BORDER_MAX_SHARE))
    top, bottom = border(pixels, row_limit), border(pixels[::-1], row_limit)
    left, right = border(pixels.T, col_limit), border(pixels.T[::-1], col_limit)
    if top == bottom == left == right == 0:
        return grey
    if top + bottom >= height or left + right >= width:  # a line or two of flat pixels: all border
        return grey
    return grey.crop((left, top, width - right, height - bottom))


__all__ += ["perceptual_hashes", "trim_borders"]


# ---------------------------------------------------------------- for the interactive map

THUMBNAIL_FORMATS = ("webp", "jpeg")


def thumbnail_bytes(item, px: int, fmt: str = "webp", *, quality: int = 70) -> bytes:
    """The centre square of an :class:`~artstyle.data.scan.Item`'s image, ``px`` x ``px``,
    encoded as WebP or JPEG bytes.

    Small and lossy on purpose: thousands of them are inlined in one page
    (``artstyle explore``), so a 64 px WebP of ~2 KB beats a PNG of ~10 KB.
    Raises :class:`ImageError` for anything unreadable.
    """
    if fmt not in THUMBNAIL_FORMATS:
        raise ValueError(
            f"thumbnail format must be one of {', '.join(THUMBNAIL_FORMATS)}, got {fmt!r}"
        )
    pixels = decode_image(_read_item(item), px, "crop")
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=fmt.upper(), quality=quality)
    return buffer.getvalue()


__all__ += ["THUMBNAIL_FORMATS", "thumbnail_bytes"]
