"""Writers that never leave a partial file, and output names that never escape the output folder."""

from __future__ import annotations

import hashlib
import os
import re
import threading

import numpy as np

from ..files import path_key, replace_exclusively, sha256_file
from .metadata import ImageMetadata, carry

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# Output folders of running runs (real paths): below them no folder on the way to a written file may be a symlink.
_GUARDED: set[str] = set()
# path -> (size, sha256) of what write_atomic last wrote there (the manifest's checksums; popped by written())
_WRITTEN: dict[str, tuple[int, str]] = {}
_LOCK = threading.Lock()


def guard(root: str | os.PathLike[str]) -> None:
    with _LOCK:
        _GUARDED.update({os.path.abspath(root), os.path.realpath(root)})  # as written to, and where it really is


def unguard(root: str | os.PathLike[str]) -> None:
    with _LOCK:
        _GUARDED.difference_update({os.path.abspath(root), os.path.realpath(root)})


def _guarded_root(folder: str) -> str | None:
    with _LOCK:
        return next((r for r in _GUARDED if folder == r or folder.startswith(os.path.join(r, ""))), None)


def make_parents(path: str | os.PathLike[str]) -> None:
    """Create ``path``'s folders; below a guarded output folder, each one is made or checked without following a
    symlink (``OUT/sub -> ../elsewhere`` is an error, never a way out of OUT). Plain strings, no pathlib: it runs
    once per output and pathlib interns every name it parses."""
    parent = os.path.dirname(os.path.abspath(path))
    root = _guarded_root(parent)
    if root is None:
        os.makedirs(parent, exist_ok=True)
        return
    current = root
    for part in os.path.relpath(parent, root).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        try:
            os.mkdir(current)
        except FileExistsError:
            if os.path.islink(current) or not os.path.isdir(current):
                raise OSError(f"{current}: a symlink or file where an output folder goes; not followed") from None


def write_atomic(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to a temporary name beside ``path``, fsync, then rename: readers see all of it or nothing,
    after a crash too. The temporary file is created exclusively (never through a symlink) and the rename replaces
    a symlink at ``path`` instead of writing through it; below a running run's output folder, no folder on the way
    may be a symlink either. Records the size and sha256 for the manifest (:func:`written`)."""
    path = os.path.abspath(path)
    make_parents(path)
    folder = os.path.dirname(path)
    replace_exclusively(path, data)
    if _guarded_root(folder) is not None:  # an output of a running run: the manifest wants its checksum
        digest = hashlib.sha256(data).hexdigest()
        with _LOCK:
            _WRITTEN[path] = (len(data), digest)
    return path


def written(path: str | os.PathLike[str]) -> tuple[int, str]:
    """(size, sha256) of an output: as recorded when write_atomic wrote it, else read back (a video)."""
    with _LOCK:
        found = _WRITTEN.pop(str(os.path.abspath(path)), None)
    return found if found is not None else (os.path.getsize(path), sha256_file(path))


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


def encode_image(image: np.ndarray, suffix: str = ".jpg", quality: int = 90,
                 metadata: ImageMetadata | None = None) -> tuple[bytes, list[str]]:
    """``image`` as ``suffix`` says (``.png``: PNG, else JPEG at ``quality``) with ``metadata`` (the input's ICC
    profile, EXIF, XMP) spliced in, and the notes for the manifest: what of it is not carried, and why.

    >>> import numpy as np
    >>> data, notes = encode_image(np.zeros((8, 8, 3), np.uint8), ".png", metadata=ImageMetadata(xmp=b"<x/>"))
    >>> data[:4], b"XML:com.adobe.xmp" in data, notes
    (b'\\x89PNG', True, [])
    """
    data = encode_png(image) if suffix.endswith(".png") else encode_jpeg(image, quality)
    return carry(data, metadata)


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
        self.root = os.path.normpath(os.fspath(root))
        self._used: set[int] = set()  # digests of the lower-cased stems given out (plain strings: no pathlib per item)

    def stem(self, relative: str) -> str:
        parts = [safe_part(p) for p in relative.split("/") if p not in ("", ".", "..", "\\")] or ["output"]
        parts[-1] = os.path.splitext(parts[-1])[0] or parts[-1]
        base = "/".join(parts)
        candidate, k = base, 0
        key = path_key(candidate.lower())
        while key in self._used:
            k += 1
            candidate = f"{base}-{k}"
            key = path_key(candidate.lower())
        self._used.add(key)
        return os.path.join(self.root, candidate)
