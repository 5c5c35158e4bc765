"""What a photo's outputs keep of it: the ICC colour profile, EXIF and XMP, read from the input's bytes (the
decode stage already holds them: no second read, no decoder) and spliced into JPEG and PNG outputs.

Read from JPEG (APP2 ``ICC_PROFILE``, in numbered chunks; APP1 ``Exif``; APP1 XMP), PNG (``iCCP``, ``eXIf``, iTXt
``XML:com.adobe.xmp``), WebP (``ICCP``, ``EXIF``, ``XMP``) and TIFF (the ICC and XMP tags of IFD0; a TIFF's EXIF is
its own image structure: not carried). GIF and BMP carry nothing. An ICC profile is carried only for RGB data (the
outputs are RGB: a CMYK JPEG's or a gray image's profile would be wrong on them). The carried EXIF says orientation
1 (the pixels were turned upright) and has no thumbnail (see :func:`.exif.carried_exif`); XMP's ``tiff:Orientation``
says 1 too. Bad, truncated or oversized metadata never fails an image: it is left out, and a note says so.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .exif import carried_exif, jpeg_segments

_EXIF = b"Exif\x00\x00"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENDED = b"http://ns.adobe.com/xmp/extension/\x00"
_ICC_JPEG = b"ICC_PROFILE\x00"
_XMP_PNG = b"XML:com.adobe.xmp"
_APP_PAYLOAD = 65533  # an APP segment's length field (at most 65535) counts its own 2 bytes
_ICC_CHUNK = _APP_PAYLOAD - len(_ICC_JPEG) - 2  # each chunk also carries its number and the count (1 byte each)
_MAX_ICC = 16 << 20  # 255 JPEG chunks hold ~16 MB; a zlib bomb in a PNG's iCCP is not inflated past it
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*=\s*[\"']|<tiff:Orientation>\s*)[1-8]")


@dataclass(frozen=True)
class ImageMetadata:
    """The metadata an input's outputs carry. ``exif`` is a TIFF block (``II*`` / ``MM*``, without JPEG's
    ``Exif`` header), already fixed for upright pixels; ``notes`` say what the input had that is not carried."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    notes: tuple[str, ...] = ()


def read_metadata(data: bytes, fmt: str | None) -> ImageMetadata | None:
    """The metadata of an image's bytes (``fmt`` as :func:`.decode.sniff` names it); None when it has none.
    Never raises: what cannot be read is left out with a note.

    >>> import numpy as np, simplejpeg
    >>> read_metadata(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8)), "JPEG") is None
    True
    """
    reader = _READERS.get(fmt or "")
    if reader is None:
        return None
    found: dict[str, bytes] = {}
    notes: list[str] = []
    try:
        reader(data, found, notes)
    except (ValueError, IndexError, struct.error, zlib.error) as exc:  # a corrupt container: keep what was read
        notes.append(f"metadata unreadable ({exc}): only what came before it carried")
    icc, exif, xmp = (_checked(found.get(k), check, notes) for k, check in
                      (("icc", _check_icc), ("exif", _check_exif), ("xmp", _fix_xmp)))
    if icc is None and exif is None and xmp is None and not notes:
        return None
    return ImageMetadata(icc, exif, xmp, tuple(notes))


def _checked(value: bytes | None, check: Callable[[bytes], bytes], notes: list[str]) -> bytes | None:
    if value is None:
        return None
    try:
        return check(value)
    except _Dropped as exc:
        notes.append(str(exc))
        return None


class _Dropped(ValueError):
    """Metadata that is read but not carried; the message is the manifest's note."""


def _check_icc(icc: bytes) -> bytes:
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise _Dropped("ICC profile unreadable (no profile header): not carried")
    (size,) = struct.unpack(">I", icc[:4])
    if size > len(icc) or size < 132:
        raise _Dropped(f"ICC profile truncated ({len(icc)} of {size} bytes): not carried")
    space = icc[16:20].decode("latin-1").strip()
    if space != "RGB":
        raise _Dropped(f"ICC profile is for {space} data and the output is RGB: not carried")
    return icc[:size]


def _check_exif(tiff: bytes) -> bytes:
    try:
        return carried_exif(tiff)
    except (ValueError, struct.error) as exc:
        raise _Dropped(f"EXIF unreadable ({exc}): not carried") from None


def _fix_xmp(xmp: bytes) -> bytes:
    return _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)


def _read_jpeg(data: bytes, found: dict[str, bytes], notes: list[str]) -> None:
    chunks: dict[int, bytes] = {}
    counts: set[int] = set()
    for marker, start, stop in jpeg_segments(data):
        head = data[start:start + 35]
        if marker == 0xE1 and head.startswith(_EXIF) and "exif" not in found:
            found["exif"] = data[start + len(_EXIF):stop]
        elif marker == 0xE1 and head.startswith(_XMP_JPEG) and "xmp" not in found:
            found["xmp"] = data[start + len(_XMP_JPEG):stop]
        elif marker == 0xE1 and head.startswith(_XMP_EXTENDED):
            if "extended XMP (over 64 KB) not carried" not in notes:
                notes.append("extended XMP (over 64 KB) not carried")
        elif marker == 0xE2 and head.startswith(_ICC_JPEG) and stop - start > len(_ICC_JPEG) + 2:
            number, count = data[start + 12], data[start + 13]
            chunks[number] = data[start + 14:stop]
            counts.add(count)
    if chunks:
        if len(counts) != 1 or sorted(chunks) != list(range(1, max(counts) + 1)):
            numbers = ", ".join(map(str, sorted(chunks)))
            notes.append(f"ICC profile incomplete (chunks {numbers} of {max(counts)}): not carried")
        else:
            found["icc"] = b"".join(chunks[k] for k in sorted(chunks))


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each chunk up to IEND (IDAT's payload skipped), stopping at one cut short."""
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        if kind == b"IEND" or pos + 12 + length > len(data):
            return
        yield kind, data[pos + 8:pos + 8 + length] if kind != b"IDAT" else b""
        pos += 12 + length


def _inflate(data: bytes, what: str, notes: list[str]) -> bytes | None:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_ICC)
    if inflater.unconsumed_tail:
        notes.append(f"{what} inflates past {_MAX_ICC >> 20} MB: not carried")
        return None
    return out


def _read_png(data: bytes, found: dict[str, bytes], notes: list[str]) -> None:
    for kind, payload in _png_chunks(data):
        if kind == b"iCCP" and "icc" not in found:
            name_end = payload.index(b"\x00")
            found["icc"] = _inflate(payload[name_end + 2:], "ICC profile", notes)
        elif kind == b"eXIf" and "exif" not in found:
            found["exif"] = payload[len(_EXIF):] if payload.startswith(_EXIF) else payload
        elif kind == b"iTXt" and payload.startswith(_XMP_PNG + b"\x00") and "xmp" not in found:
            compressed = payload[len(_XMP_PNG) + 1]
            rest = payload[len(_XMP_PNG) + 3:]
            text = rest[rest.index(b"\x00") + 1:]  # after the language tag
            text = text[text.index(b"\x00") + 1:]  # after the translated keyword
            found["xmp"] = _inflate(text, "XMP", notes) if compressed else text


def _read_webp(data: bytes, found: dict[str, bytes], notes: list[str]) -> None:
    pos = 12
    names = {b"ICCP": "icc", b"EXIF": "exif", b"XMP ": "xmp"}
    while pos + 8 <= len(data):
        kind, (size,) = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)
        key = names.get(kind)
        if key and key not in found and pos + 8 + size <= len(data):
            payload = data[pos + 8:pos + 8 + size]
            found[key] = payload[len(_EXIF):] if key == "exif" and payload.startswith(_EXIF) else payload
        pos += 8 + size + (size & 1)


def _read_tiff(data: bytes, found: dict[str, bytes], notes: list[str]) -> None:
    e = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(e + "I", data, 4)
    (count,) = struct.unpack_from(e + "H", data, ifd)
    for k in range(min(count, 4096)):
        tag, _, n, value = struct.unpack_from(e + "HHI4s", data, ifd + 2 + 12 * k)
        key = {34675: "icc", 700: "xmp"}.get(tag)
        if key is not None:  # BYTE or UNDEFINED: n bytes, at an offset when over 4
            start = struct.unpack(e + "I", value)[0] if n > 4 else ifd + 2 + 12 * k + 8
            found[key] = data[start:start + n]
        elif tag in (34665, 34853) and "EXIF of a TIFF input not carried" not in notes:
            notes.append("EXIF of a TIFF input not carried")


_READERS = {"JPEG": _read_jpeg, "PNG": _read_png, "WEBP": _read_webp, "TIFF": _read_tiff}


def carry(encoded: bytes, metadata: ImageMetadata | None) -> tuple[bytes, list[str]]:
    """``encoded`` (a JPEG or PNG from this package's encoders) with ``metadata`` spliced in, and the notes: what
    the input had that is not carried (``metadata.notes``) and what this format cannot hold (EXIF or XMP over an
    APP segment's 64 KB in a JPEG). Segments go after a JPEG's JFIF APP0 (APP1 EXIF, APP1 XMP, APP2 ICC in
    numbered chunks); chunks after a PNG's IHDR (iCCP, eXIf, iTXt XMP), where readers look for them.

    >>> import numpy as np, simplejpeg
    >>> jpeg = simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8))
    >>> out, notes = carry(jpeg, ImageMetadata(xmp=b"<x/>"))
    >>> len(out) - len(jpeg), notes
    (37, [])
    """
    if metadata is None:
        return encoded, []
    notes = list(metadata.notes)
    if metadata.icc is None and metadata.exif is None and metadata.xmp is None:
        return encoded, notes
    if encoded[:2] == b"\xff\xd8":
        at = 2 + 2 + struct.unpack_from(">H", encoded, 4)[0] if encoded[2:4] == b"\xff\xe0" else 2
        return encoded[:at] + _jpeg_segments(metadata, notes) + encoded[at:], notes
    if encoded[:8] == b"\x89PNG\r\n\x1a\n" and encoded[12:16] == b"IHDR":
        at = 8 + 12 + struct.unpack_from(">I", encoded, 8)[0]
        return encoded[:at] + _png_chunks_for(metadata) + encoded[at:], notes
    raise ValueError("carry() takes a JPEG or a PNG")


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg_segments(metadata: ImageMetadata, notes: list[str]) -> bytes:
    parts = []
    for name, value, header in (("EXIF", metadata.exif, _EXIF), ("XMP", metadata.xmp, _XMP_JPEG)):
        if value is None:
            continue
        if len(header) + len(value) > _APP_PAYLOAD:
            notes.append(f"{name} of {len(value)} bytes is over a JPEG segment's {_APP_PAYLOAD - len(header)}: "
                         "not carried")
        else:
            parts.append(_segment(0xE1, header + value))
    icc = metadata.icc
    if icc is not None:
        count = -(-len(icc) // _ICC_CHUNK)
        if count > 255:
            notes.append(f"ICC profile of {len(icc)} bytes is over the 255 JPEG chunks: not carried")
        else:
            parts += [_segment(0xE2, _ICC_JPEG + bytes((k + 1, count)) + icc[k * _ICC_CHUNK:(k + 1) * _ICC_CHUNK])
                      for k in range(count)]
    return b"".join(parts)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_chunks_for(metadata: ImageMetadata) -> bytes:
    parts = []
    if metadata.icc is not None:  # a profile name, compression method 0, the zlib stream
        parts.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(metadata.icc)))
    if metadata.exif is not None:
        parts.append(_png_chunk(b"eXIf", metadata.exif))
    if metadata.xmp is not None:  # keyword, uncompressed, no language tag, no translated keyword
        parts.append(_png_chunk(b"iTXt", _XMP_PNG + b"\x00\x00\x00\x00\x00" + metadata.xmp))
    return b"".join(parts)
