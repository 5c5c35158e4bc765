"""A corpus of bad and awkward inputs, generated: each name says what it is."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 header claims width x height (with a tiny real image's tables)."""
    import simplejpeg

    data = bytearray(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8), 90, "BGR"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with an EXIF APP1 segment whose Orientation is ``orientation``."""
    import simplejpeg

    jpeg = simplejpeg.encode_jpeg(image, 92, "BGR")
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", orientation) + b"\x00\x00" + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return jpeg[:2] + segment + jpeg[2:]


def make(folder: Path, photo: np.ndarray) -> dict[str, str | None]:
    """Write the corpus into ``folder``; returns name -> expected reason fragment (None: must succeed)."""
    import cv2
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    good = cv2.resize(photo, (320, 360))
    rgb = cv2.cvtColor(good, cv2.COLOR_BGR2RGB)
    ok_jpeg = cv2.imencode(".jpg", good)[1].tobytes()
    expect: dict[str, str | None] = {}

    def put(name: str, data: bytes, reason: str | None) -> None:
        (folder / name).write_bytes(data)
        expect[name] = reason

    put("good.jpg", ok_jpeg, None)
    put("truncated.jpg", ok_jpeg[: len(ok_jpeg) // 2], "corrupt or truncated JPEG")
    put("zero.jpg", b"", "empty file")
    put("random.jpg", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image")
    put("png_named.jpg", cv2.imencode(".png", good)[1].tobytes(), None)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", "JPEG")
    expect["cmyk.jpg"] = None
    Image.fromarray(rgb).save(folder / "progressive.jpg", "JPEG", progressive=True)
    expect["progressive.jpg"] = None
    put("sixteen.png", cv2.imencode(".png", (good.astype(np.uint16) * 257))[1].tobytes(), None)
    put("gray.png", cv2.imencode(".png", cv2.cvtColor(good, cv2.COLOR_BGR2GRAY))[1].tobytes(), None)
    put("rgba.png", cv2.imencode(".png", cv2.cvtColor(good, cv2.COLOR_BGR2BGRA))[1].tobytes(), None)
    put("exif_rotated.jpg", exif_jpeg(good, 6), None)
    put("tiny_1x1.png", cv2.imencode(".png", good[:1, :1])[1].tobytes(), None)
    put("strip_1x20000.png", cv2.imencode(".png", np.repeat(good[:1, :1], 20000, axis=1))[1].tobytes(), None)
    put("bomb.png", _png_header_only(60000, 60000), "over the 100 MP limit")
    put("bomb.jpg", _jpeg_claiming(60000, 60000), "over the 100 MP limit")
    (folder / "dir.jpg").mkdir()
    expect["dir.jpg"] = "is a directory"
    os.symlink(folder / "does-not-exist.jpg", folder / "broken_link.jpg")
    expect["broken_link.jpg"] = "broken symbolic link"
    unreadable = folder / "unreadable.jpg"
    if os.geteuid() == 0:  # root reads any mode; a file whose read() fails is the honest equivalent
        os.symlink("/proc/self/mem", unreadable)
        expect["unreadable.jpg"] = "could not read"
    else:
        unreadable.write_bytes(ok_jpeg)
        unreadable.chmod(0)
        expect["unreadable.jpg"] = "permission denied"
    return expect
