"""EXIF from image bytes: the JPEG segment walk, the Orientation tag (0x0112) of IFD0 and applying it, and the
copy of the EXIF an output carries (its orientation reset to 1, its stale thumbnail unlinked). A small parser of
the TIFF structure: IFD0 and IFD1 only, never a decoder."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

ORIENTATION = 0x0112
_THUMBNAIL = (0x0201, 0x0202)  # JPEGInterchangeFormat (offset), JPEGInterchangeFormatLength: IFD1's thumbnail
_MAX_SEGMENTS = 1024  # a real JPEG has tens before its scan; a crafted one is not walked for ever


def jpeg_segments(data: bytes, end: int | None = None) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, stop)`` of each marker segment before the scan, ``data[start:stop]`` its payload (after
    the length). Stops at the scan, at the end of the image, at bytes that are no marker, at a segment that runs
    past the data (truncated) and at ``end`` (a position: metadata lives in the first segments).

    >>> list(jpeg_segments(b"\\xff\\xd8\\xff\\xe1\\x00\\x04ab\\xff\\xda"))
    [(225, 6, 8)]
    """
    pos, end = 2, min(len(data), end if end is not None else len(data))
    for _ in range(_MAX_SEGMENTS):
        if pos + 4 > end or data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            return
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            return
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of a JPEG, 1 when absent or unreadable.

    >>> jpeg_orientation(b"\\xff\\xd8\\xff\\xd9")
    1
    """
    for marker, start, stop in jpeg_segments(data, 1 << 20):  # never scan the whole file
        if marker == 0xE1 and data[start:start + 6] == b"Exif\x00\x00":
            return tiff_orientation(data[start + 6:stop])
    return 1


def _ifd(tiff: bytes | bytearray, offset: int, strict: bool = True) -> tuple[str, list[tuple[int, int, int]], int]:
    """(byte order, [(tag, type, entry position)], position of the next-IFD offset) of the IFD at ``offset``;
    a ValueError when it does not lie within ``tiff`` (not ``strict``: the entries that do, as decoding reads
    the orientation of a cut-short block)."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError("no TIFF header")
    e = "<" if tiff[:2] == b"II" else ">"
    if offset < 8 or offset + 2 > len(tiff):
        raise ValueError(f"IFD offset {offset} outside the {len(tiff)} bytes")
    (count,) = struct.unpack_from(e + "H", tiff, offset)
    after = offset + 2 + 12 * count
    if after + 4 > len(tiff):
        if strict:
            raise ValueError(f"IFD of {count} entries runs past the {len(tiff)} bytes")
        count = (len(tiff) - offset - 2) // 12
    entries = [(*struct.unpack_from(e + "HH", tiff, offset + 2 + 12 * k), offset + 2 + 12 * k) for k in range(count)]
    return e, entries, after


def _ifd0(tiff: bytes | bytearray, strict: bool = True) -> tuple[str, list[tuple[int, int, int]], int]:
    e = "<" if tiff[:2] == b"II" else ">"
    return _ifd(tiff, struct.unpack_from(e + "I", tiff, 4)[0] if len(tiff) >= 8 else 0, strict)


def tiff_orientation(tiff: bytes) -> int:
    """The Orientation of IFD0 of an EXIF TIFF structure (a SHORT, 1..8), 1 when absent or unreadable."""
    try:
        e, entries, _ = _ifd0(tiff, strict=False)
    except (ValueError, struct.error):
        return 1
    for tag, typ, at in entries:
        if tag == ORIENTATION and typ == 3:
            (orientation,) = struct.unpack_from(e + "H", tiff, at + 8)
            return orientation if 1 <= orientation <= 8 else 1
    return 1


def carried_exif(tiff: bytes) -> bytes:
    """The EXIF an output of upright pixels carries: ``tiff`` with IFD0's Orientation set to 1 in place (the tag
    :func:`tiff_orientation` reads, the one decoding applied) and IFD1 (the thumbnail) unlinked, its bytes cut off
    when they end the block: the thumbnail shows the input's pixels (sideways once the orientation is 1, the old
    background after a portrait), and viewers show it. Everything else (camera, time, GPS, maker notes, whose
    offsets count from the block's start) stays byte for byte. A ValueError when IFD0 does not parse.

    >>> import struct
    >>> tiff = b"II*\\x00" + struct.pack("<IHHHI", 8, 1, 0x0112, 3, 1) + struct.pack("<HHI", 6, 0, 0)
    >>> tiff_orientation(tiff), tiff_orientation(carried_exif(tiff))
    (6, 1)
    """
    out = bytearray(tiff)
    e, entries, next_at = _ifd0(out)
    for tag, typ, at in entries:
        if tag == ORIENTATION and typ == 3:
            struct.pack_into(e + "H", out, at + 8, 1)
    (ifd1,) = struct.unpack_from(e + "I", out, next_at)
    if ifd1:
        struct.pack_into(e + "I", out, next_at, 0)
        try:
            _, thumb_entries, _ = _ifd(out, ifd1)
        except (ValueError, struct.error):  # a broken IFD1: unlinked is enough
            return bytes(out)
        found = {tag: struct.unpack_from(e + "I", out, at + 8)[0] for tag, typ, at in thumb_entries
                 if tag in _THUMBNAIL and typ == 4}
        start, size = found.get(_THUMBNAIL[0], 0), found.get(_THUMBNAIL[1], 0)
        if start >= 8 and size and start + size == len(out):
            del out[start:]
    return bytes(out)


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
