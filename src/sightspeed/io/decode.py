"""Decode image bytes into an upright 8-bit BGR array, or raise InputError saying why not.

JPEG goes through simplejpeg (libjpeg-turbo; optional DCT-domain downscale via ``min_size``; decodes into a
caller's buffer), everything else and CMYK JPEGs through OpenCV. EXIF orientation is applied either way; gray,
RGBA and 16-bit images come out as 8-bit 3-channel. Sizes are checked against ``max_pixels`` from the header,
before any pixel memory is allocated, so a 60000x60000 "bomb" costs nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .exif import apply_orientation, jpeg_orientation

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: above any camera a pipeline like this meets; below a bomb

_MAGIC = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
]


def sniff(data: bytes) -> str | None:
    """The format named by the file's first bytes (not by its name)."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14-bit sizes after the key-frame start code
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14 bits each, minus one, after the 0x2f signature
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas sizes, minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first IFD (the page OpenCV decodes)."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
        found = {}
        for k in range(min(count, 4096)):
            tag, kind, _, value = struct.unpack(order + "HHI4s", data[ifd + 2 + 12 * k: ifd + 14 + 12 * k])
            if tag in (256, 257):
                found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0]
    except struct.error:
        return None
    return (found[256], found[257]) if len(found) == 2 else None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) from the header, else None (an unreadable header: the caller refuses the file, since
    without a size it could only be checked after decoding it all).

    >>> import numpy as np, cv2
    >>> [header_size(cv2.imencode(ext, np.zeros((5, 7, 3), np.uint8))[1].tobytes(), fmt)
    ...  for ext, fmt in ((".png", "PNG"), (".tif", "TIFF"), (".bmp", "BMP"))]
    [(7, 5), (7, 5), (7, 5)]
    """
    if fmt == "PNG" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if fmt == "BMP" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if fmt == "GIF" and len(data) >= 10:  # the logical screen, which every frame lies within
        return struct.unpack("<HH", data[6:10])
    if fmt == "WEBP":
        return _webp_size(data)
    if fmt == "TIFF":
        return _tiff_size(data)
    if fmt == "JPEG":
        import simplejpeg

        try:
            h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:
            return None
        return w, h
    return None


def check_header(data: bytes, path: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The format of ``data`` (a file's bytes, or its first bytes), after checking its header: an InputError
    naming ``path`` and the reason for an empty file, a non-image, an unreadable header (except JPEG's, whose
    decoder then says why) or a size over ``max_pixels``. Nothing is decoded.

    >>> check_header(b"GIF89a" + (30000).to_bytes(2, "little") * 2 + bytes(8), "bomb.gif")
    Traceback (most recent call last):
    sightspeed.errors.InputError: bomb.gif: GIF header says 30000x30000 = 900 MP, over the 100 MP limit (max_pixels)
    """
    if not data:
        raise InputError(path, "empty file (0 bytes)")
    fmt = sniff(data)
    if fmt is None:
        raise InputError(path, "not an image: its first bytes are none of JPEG, PNG, GIF, BMP, TIFF or WebP")
    size = header_size(data, fmt)
    if size is None and fmt != "JPEG":  # refuse rather than decode something of unknown size (a 25 KB TIFF can
        # be 30000x30000); a JPEG whose header does not parse gets simplejpeg's reason from its decoder
        raise InputError(path, f"could not decode {fmt}: header unreadable (truncated or corrupt), so its size "
                               "cannot be checked against max_pixels")
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise InputError(path, f"{fmt} header gives an empty size {w}x{h}")
        if w * h > max_pixels:
            raise InputError(path, f"{fmt} header says {w}x{h} = {w * h / 1e6:.0f} MP, over the "
                                   f"{max_pixels / 1e6:g} MP limit (max_pixels)")
    return fmt


def check_file(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, head: int = 1 << 16) -> None:
    """:func:`check_header` for a file, reading its first ``head`` bytes (the whole file only when its header
    lies further in, as a TIFF's directory may): a decoder given the path afterwards (``cv2.imread``) never meets
    a bomb. Read errors are InputErrors as :func:`read_bytes` words them."""
    data = read_bytes(path, limit=head)
    fmt = sniff(data)
    if len(data) == head and fmt is not None and header_size(data, fmt) is None:
        data = read_bytes(path)
    check_header(data, path, max_pixels)


def decode_image(
    data: bytes,
    path: str = "<bytes>",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
    allocate: Callable[[tuple[int, ...]], np.ndarray] | None = None,
) -> np.ndarray:
    """Decode ``data`` (the bytes of ``path``) to an upright HxWx3 uint8 BGR array.

    ``min_size=(w, h)`` lets a JPEG decode at 1/2, 1/4 or 1/8 scale in the DCT domain while staying at least that
    big. ``allocate(shape)`` supplies the output buffer for the JPEG fast path (e.g. ``BufferPool.take``).

    >>> import numpy as np, simplejpeg
    >>> jpeg = simplejpeg.encode_jpeg(np.zeros((16, 32, 3), np.uint8))
    >>> decode_image(jpeg).shape
    (16, 32, 3)
    """
    fmt = check_header(data, path, max_pixels)
    if fmt == "JPEG":
        image = _decode_jpeg(data, path, min_size, allocate)
        if image is not None:
            return image
    return _decode_opencv(data, path, fmt, max_pixels)


def _decode_jpeg(data: bytes, path: str, min_size: tuple[int, int] | None,
                 allocate: Callable[[tuple[int, ...]], np.ndarray] | None) -> np.ndarray | None:
    import simplejpeg

    min_w, min_h = min_size or (0, 0)
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data, min_height=min_h, min_width=min_w)
    except ValueError as exc:
        raise InputError(path, f"corrupt JPEG header: {exc}") from None
    if colorspace in ("CMYK", "YCCK"):
        return None  # OpenCV converts Adobe CMYK to BGR; simplejpeg does not
    buffer = allocate((h, w, 3)) if allocate is not None else None
    try:
        image = simplejpeg.decode_jpeg(data, colorspace="BGR", min_height=min_h, min_width=min_w,
                                       buffer=buffer, strict=True)
    except ValueError as exc:
        raise InputError(path, f"corrupt or truncated JPEG: {exc}") from None
    return apply_orientation(image, jpeg_orientation(data))


def _decode_opencv(data: bytes, path: str, fmt: str, max_pixels: int) -> np.ndarray:
    import cv2

    # IMREAD_COLOR: applies EXIF orientation, makes gray/RGBA/16-bit into 8-bit BGR.
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(path, f"could not decode {fmt} data (corrupt, truncated or unsupported)")
    h, w = image.shape[:2]
    if h * w > max_pixels:
        raise InputError(path, f"{fmt} is {w}x{h} = {w * h / 1e6:.0f} MP, over the "
                               f"{max_pixels / 1e6:g} MP limit (max_pixels)")
    return image


def read_image(path: str, **kwargs) -> np.ndarray:
    """Read and decode a file; every failure is an InputError naming the file."""
    return decode_image(read_bytes(path), path, **kwargs)


def read_bytes(path: str, limit: int = -1) -> bytes:
    """The file's bytes (its first ``limit`` bytes, when given); every failure an InputError naming the file."""
    import os
    import stat

    if os.path.islink(path) and not os.path.exists(path):
        raise InputError(path, "broken symbolic link")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not an image file")
    try:
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(path, "not a regular file (a pipe, socket or device)")
        with open(path, "rb") as f:
            return f.read(limit)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied (file is not readable)") from None
    except OSError as exc:
        raise InputError(path, f"could not read: {exc.strerror or exc}") from None
