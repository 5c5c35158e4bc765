"""EXIF orientation from JPEG bytes, and applying it. A small parser: only the Orientation tag (0x0112) of IFD0."""

from __future__ import annotations

import struct

import numpy as np


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of a JPEG, 1 when absent or unreadable.

    >>> jpeg_orientation(b"\\xff\\xd8\\xff\\xd9")
    1
    """
    pos = 2
    end = min(len(data), 1 << 20)  # EXIF lives in the first segments; never scan the whole file
    while pos + 4 <= end and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10:pos + 2 + length])
        pos += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    e = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(e + "H", tiff[ifd:ifd + 2])
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(tiff):
            break
        tag, typ, _, value = struct.unpack(e + "HHI4s", tiff[entry:entry + 12])
        if tag == 0x0112 and typ == 3:
            (orientation,) = struct.unpack(e + "H", value[:2])
            return orientation if 1 <= orientation <= 8 else 1
    return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded image upright (the EXIF orientation meanings: 2 mirror, 3 rotate 180, 6 rotate 90 cw, ...)."""
    if orientation == 1:
        return image
    out = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }[orientation](image)
    return np.ascontiguousarray(out)
