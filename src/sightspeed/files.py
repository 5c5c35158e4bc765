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


def replace_exclusively(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path`` (created exclusively, never through a symlink), fsync,
    then rename it over ``path`` (a symlink there is replaced, not written through): readers see all of it or
    nothing, after a crash too. An OSError names ``path``; no temporary file is left behind."""
    import threading

    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a quota, a read-only folder: say which file
        _unlink_quietly(tmp)
        raise OSError(exc.errno, f"could not write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
