"""Writers that never leave a partial file, and output names that never escape the output folder."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path, PurePath

import numpy as np

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to a temporary name beside ``path``, then rename: readers see all of it or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(path)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """BGR uint8 -> JPEG bytes (simplejpeg / libjpeg-turbo), 4:2:0 chroma like cv2.imwrite and most cameras
    (simplejpeg's own default, 4:4:4, costs ~1.7x the time at FHD for little visible gain)."""
    import simplejpeg

    return simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality=quality, colorspace="BGR",
                                  colorsubsampling="420")


def encode_png(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"PNG encode failed for an array of shape {image.shape}")
    return buf.tobytes()


def safe_part(name: str) -> str:
    """One path component made safe: no separators, no leading dots, no odd characters.

    >>> safe_part("../my photo (1).jpg")
    '_my_photo_1_.jpg'
    """
    cleaned = _UNSAFE.sub("_", name).lstrip(".") or "_"
    return cleaned[:150]


class OutputNamer:
    """Derives a unique output stem inside ``root`` for each input, deterministically in input order.

    ``relative`` keeps sub-folders of a walked folder (``a/b.jpg`` -> ``a/b``); names that would collide
    (``x.jpg`` and ``x.png``, or the same name from two folders) get ``-1``, ``-2`` ... in the order met.

    >>> n = OutputNamer("out")
    >>> n.stem("x.jpg"), n.stem("x.png"), n.stem("../../etc/passwd")
    ('out/x', 'out/x-1', 'out/etc/passwd')
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._used: set[str] = set()

    def stem(self, relative: str) -> str:
        parts = [p for p in PurePath(relative).parts if p not in ("", ".", "..", "/", "\\")]
        parts = [safe_part(p) for p in parts] or ["output"]
        base = str(PurePath(*parts[:-1], PurePath(parts[-1]).stem or parts[-1]))
        candidate, k = base, 0
        while candidate.lower() in self._used:
            k += 1
            candidate = f"{base}-{k}"
        self._used.add(candidate.lower())
        return str(self.root / candidate)
