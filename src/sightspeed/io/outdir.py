"""The output folder's contract, as a trusted batch tool keeps it (Spark's committer, rclone):

- one writer per OUT: an exclusive lock (``OUT/.sightspeed.lock``, never through a symlink); a second run gets a
  clear error; ``session.json`` is written before the lock is released;
- never a silent overwrite: a non-empty OUT that holds no sightspeed run is refused; one that holds a run is
  continued with ``resume`` (same fingerprint: tool version, task (a user module by its file's sha256), options,
  tuned config, model sha256s: :func:`sightspeed.pipeline.run.default_fingerprint`; a mismatch is refused naming
  what differs) or started over with ``overwrite`` (the previous run's files are removed);
- inputs equal to or inside OUT are refused (their outputs would be read as inputs): files, folders, globs that
  search inside OUT, ``@list`` entries;
- nothing is written through a symlink inside OUT (see :func:`sightspeed.io.write.write_atomic`);
- the manifest is append-only JSONL, one row per finished input (after its outputs are in place), fsynced at a
  bounded interval; on resume a torn last line is dropped and only complete rows (outputs present with the size and
  sha256 the row recorded) are kept: those inputs are skipped, the rest redone; leftover ``.partial`` files removed;
- ``OUT/_SUCCESS`` says the run went through every input (written last).

``OUT/.sightspeed-run.json`` records the fingerprint of the run that owns the folder.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from ..errors import SightspeedError
from . import sources
from . import write as write_mod

RUN_FILE = ".sightspeed-run.json"
LOCK_FILE = ".sightspeed.lock"
MANIFEST = "manifest.jsonl"
SUCCESS = "_SUCCESS"
SESSION = "session.json"
OWN_FILES = (RUN_FILE, MANIFEST, SUCCESS, SESSION)


class OutDirError(SightspeedError, ValueError):
    """OUT cannot be used as asked (a usage error: exit 2); the message says why and what to do."""


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(os.path.join(folder, ""))


def check_inputs(inputs: list[str], out: str | os.PathLike[str]) -> None:
    """An input equal to or inside OUT is an :class:`OutDirError` naming it and OUT: a file or folder, a glob that
    searches inside OUT (``OUT/x/*.jpg``), a ``@list`` that lies there or names a path there. OUT inside an input
    folder (or inside the folder a glob searches from) is fine: the run leaves OUT's files out."""
    for given in inputs:
        if given.startswith("@"):
            _refuse_inside(given[1:], given, out)
            _refuse_listed(given[1:], out)
        else:
            _refuse_inside(sources.glob_root(given) if sources.is_glob(given) else given, given, out)


def _refuse_inside(path: str, given: str, out: str | os.PathLike[str]) -> None:
    if os.path.exists(path) and _inside(path, str(out)):
        raise OutDirError(f"input {given} is inside the output folder {out}: {_INSIDE_HINT}")


def _refuse_listed(list_path: str, out: str | os.PathLike[str]) -> None:
    """A path the list names inside OUT (one realpath per folder: a list names many files of few folders)."""
    try:
        listed = sources.list_entries(list_path)
    except OSError:  # the run reports an unreadable list in its row
        return
    out_dir = os.path.join(os.path.realpath(out), "")
    folders: dict[str, str] = {}
    for path in listed:
        folder, name = os.path.split(path)
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.join(os.path.realpath(folder or "."), "")
        where = os.path.realpath(path) if os.path.islink(path) else real + name
        if os.path.join(where, "").startswith(out_dir):
            raise OutDirError(f"input {path} (listed in {list_path}) is inside the output folder {out}: "
                              f"{_INSIDE_HINT}")


_INSIDE_HINT = "its outputs would be read as inputs; choose an output folder outside it"


def preflight(root: str | os.PathLike[str], *, resume: bool = False, overwrite: bool = False) -> None:
    """Raise the OutDirError that opening ``root`` would raise, without writing anything: a run can refuse its OUT
    before it loads models. (The fingerprint is only compared when the run opens it.)"""
    if resume and overwrite:
        raise OutDirError("--resume and --overwrite exclude each other")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise OutDirError(f"output folder {root} is a file")
    if not root.is_dir():
        return
    if os.path.lexists(root / LOCK_FILE):
        fd = _open_lock(root, os.O_RDONLY)
        try:
            _flock(fd, root, shared=True)  # taken and dropped at once: only asks
        finally:
            os.close(fd)
    entries = [e for e in root.iterdir() if e.name != LOCK_FILE]
    _refusal(root, entries, _previous_record(root), resume, overwrite)


def _open_lock(root: Path, flags: int) -> int:
    """OUT's lock file, opened without following a symlink (nor blocking on a FIFO); anything but a plain file there
    is an OutDirError naming it."""
    path = root / LOCK_FILE
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):  # ENXIO: a socket, a FIFO without a reader
            raise
    else:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
    raise OutDirError(f"{path} is not a plain file (a symlink, a folder or a device): sightspeed never follows one "
                      "in its output folder; remove it, or choose another folder")


def _flock(fd: int, root: Path, shared: bool) -> None:
    """Lock OUT (``shared``: only to ask whether a run holds it); held by another run: an OutDirError naming it."""
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
        raise OutDirError(f"output folder {root} is being written by another sightspeed run (pid {holder}); "
                          "wait for it, or choose another folder") from None


def _previous_record(root: Path) -> dict | None:
    """The previous run's record; a folder with a manifest but no record (an older sightspeed) counts as a run
    without a fingerprint."""
    path = root / RUN_FILE
    if path.is_file() and not path.is_symlink():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
    return {} if (root / MANIFEST).is_file() else None


def _refusal(root: Path, entries: list, previous: dict | None, resume: bool, overwrite: bool) -> None:
    if entries and previous is None:
        raise OutDirError(f"output folder {root} is not empty and holds no sightspeed run: choose an empty or new "
                          "folder (nothing was written)")
    if entries and not (resume or overwrite):
        raise OutDirError(f"output folder {root} holds a previous run: --resume continues it, --overwrite starts "
                          "over")


class OutDir:
    """An output folder opened for one run (see the module's contract). ``done``: input -> its complete manifest
    row from a previous run (skipped when resuming). Use as a context manager, or call :meth:`close`."""

    def __init__(self, root: str | os.PathLike[str], fingerprint: dict[str, Any], *, resume: bool = False,
                 overwrite: bool = False) -> None:
        if resume and overwrite:
            raise OutDirError("--resume and --overwrite exclude each other")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise OutDirError(f"output folder {root} is a file")
        self.root.mkdir(parents=True, exist_ok=True)
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))
        self.done: dict[str, dict] = {}
        self._lock = self._take_lock()
        try:
            self._open(resume, overwrite)
        except BaseException:
            self.close()
            raise
        write_mod.guard(self.root)
        self.manifest = _Appender(self.root / MANIFEST)

    # ----- opening ----------------------------------------------------------------------------------------------
    def _take_lock(self) -> int:
        fd = _open_lock(self.root, os.O_RDWR | os.O_CREAT)
        try:
            _flock(fd, self.root, shared=False)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def _open(self, resume: bool, overwrite: bool) -> None:
        entries = [e for e in self.root.iterdir() if e.name != LOCK_FILE]
        previous = _previous_record(self.root)
        _refusal(self.root, entries, previous, resume, overwrite)
        if entries and overwrite:
            self._remove_previous()
        elif entries and resume:
            self._check_same(previous.get("fingerprint"))
            self._load_done()
        if not (resume and entries):  # a resumed run keeps the record of the run it continues
            record = {"fingerprint": self.fingerprint, "started": time.time()}
            write_mod.write_atomic(self.root / RUN_FILE, json.dumps(record, indent=1).encode())

    def _check_same(self, theirs: dict | None) -> None:
        if not theirs:
            raise OutDirError(f"{self.root}: the previous run recorded no fingerprint, so it cannot be resumed; "
                              "--overwrite starts over")
        keys = sorted(set(theirs) | set(self.fingerprint))
        differ = [f"{k}: {theirs.get(k)!r} then, {self.fingerprint.get(k)!r} now" for k in keys
                  if theirs.get(k) != self.fingerprint.get(k)]
        if differ:
            raise OutDirError(f"--resume: {self.root} was written with other settings ({'; '.join(differ)}); "
                              "--overwrite starts over")

    def _rows(self) -> list[dict]:
        path = self.root / MANIFEST
        if not path.is_file():
            return []
        rows = []
        for line in path.read_bytes().split(b"\n"):
            try:
                rows.append(json.loads(line))
            except ValueError:  # a torn last line (killed mid-write) or an empty one
                continue
        return rows

    def _remove_previous(self) -> None:
        for row in self._rows():
            for output in row.get("outputs") or []:
                if _inside(output, str(self.root)) and os.path.lexists(output) and not os.path.isdir(output):
                    os.unlink(output)
        for name in OWN_FILES + ("trace.json", "stages.prof"):
            path = self.root / name
            if path.is_file() or path.is_symlink():
                path.unlink()
        self._remove_partials()

    def _remove_partials(self) -> None:
        for folder, dirs, files in os.walk(self.root):  # os.walk does not follow symlinks into folders
            for name in files:
                if name.startswith(".") and ".partial" in name:
                    os.unlink(os.path.join(folder, name))

    def _load_done(self) -> None:
        """Keep the rows whose outputs are complete (present, same size and sha256); rewrite the manifest with
        just those (atomically), so each input ends with one row; remove partial files."""
        self.done = {r["input"]: r for r in self._rows() if r.get("status") == "ok" and self._complete(r)}
        body = "".join(json.dumps(r) + "\n" for r in self.done.values())
        write_mod.write_atomic(self.root / MANIFEST, body.encode())
        (self.root / SUCCESS).unlink(missing_ok=True)
        self._remove_partials()

    def _complete(self, row: dict) -> bool:
        sums = row.get("checksums") or {}
        for output in row.get("outputs") or []:
            expected = sums.get(os.path.relpath(output, self.root))
            if expected is None or not os.path.isfile(output) or os.path.islink(output):
                return False
            if os.path.getsize(output) != expected[0] or write_mod.sha256_file(output) != expected[1]:
                return False
        return "checksums" in row  # rows of runs before checksums were recorded are redone

    # ----- during and after the run ----------------------------------------------------------------------------
    def checksums(self, outputs: list[str]) -> dict[str, list]:
        return checksums(outputs, self.root)

    def finish(self, counts: dict[str, Any]) -> None:
        """Every input went through: flush the manifest and write ``_SUCCESS``."""
        self.manifest.sync()
        write_mod.write_atomic(self.root / SUCCESS, json.dumps({**counts, "finished": time.time()}).encode())

    def save_session(self, session: Any) -> Path:
        """``OUT/session.json`` (a :class:`~sightspeed.profiling.session.Session`), written while this run still
        holds OUT (a run that starts after this one sees it, never one in the middle of being written)."""
        return session.save(self.root / SESSION)

    def close(self) -> None:
        manifest = getattr(self, "manifest", None)
        if manifest is not None:
            manifest.close()
            self.manifest = None
        write_mod.unguard(self.root)
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None

    def __enter__(self) -> OutDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Appender:
    """The manifest: opened for append without following a symlink; each row one write(); fsync at most every
    ``interval`` seconds (and on sync/close), so a crash loses at most that much of the record, never a whole row
    in the middle."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        self._interval, self._last, self.path = interval, time.monotonic(), path

    def write(self, row: dict) -> None:
        line = (json.dumps(row) + "\n").encode()
        try:
            written = os.write(self._fd, line)
        except OSError as exc:  # the record itself cannot be kept: the run stops, naming the file (exit 1)
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        if written != len(line):  # a short write (disk full mid-line): drop the torn tail, then stop
            os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
            raise OSError(28, "No space left on device (the row was not kept)", str(self.path))
        if time.monotonic() - self._last > self._interval:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            self._last = time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None


def checksums(outputs: list[str], root: str | os.PathLike[str]) -> dict[str, list]:
    """{path relative to ``root`` (OUT): [size, sha256]} of a finished item's outputs (as written)."""
    return {os.path.relpath(output, root): list(write_mod.written(output)) for output in outputs}
