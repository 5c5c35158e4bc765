"""Small file helpers every layer may use (standard library only)."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def path_key(path: str) -> int:
    """A 64-bit digest of a path, for the sets a run keeps of every input or output name: 8 bytes an entry
    instead of the whole string (two of 20,000 paths collide with odds below 1e-10)."""
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")
