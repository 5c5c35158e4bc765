"""What a manifest row says about a stage that raised: a one-line reason, where it raised, and a bounded traceback.

``where`` is ``file:line`` of the innermost frame of the user's own code (not sightspeed's, not a library's):
the line to open in an editor. When no frame is the user's (a shipped task's stage failed), it is the innermost
frame of sightspeed's own code, else the innermost frame of all. ``traceback`` is the usual text, starting at the
stage function (the executor's frames left out), at most :data:`MAX_FRAMES` frames and :data:`MAX_CHARS`
characters (its tail: the frames nearest the error), so a manifest row stays small and JSON-serialisable.
"""

from __future__ import annotations

import os
import sysconfig
import traceback as tb
from functools import lru_cache

from ..errors import InputError

MAX_FRAMES = 20
MAX_CHARS = 4096
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../sightspeed
_EXECUTORS = os.path.join(_PACKAGE, "pipeline", "executors.py")


def reason(exc: BaseException) -> str:
    """A one-line reason for a manifest row.

    >>> reason(ValueError("bad value\\nmore detail"))
    'ValueError: bad value'
    """
    if isinstance(exc, InputError):
        return exc.reason
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def where_and_traceback(exc: BaseException) -> tuple[str | None, str]:
    """(``file:line`` that raised, the bounded traceback text) of an exception caught by the executor.

    >>> def stage(item): return 1 / 0
    >>> try:
    ...     stage(None)
    ... except ZeroDivisionError as exc:
    ...     where, text = where_and_traceback(exc)
    >>> text.splitlines()[-1]
    'ZeroDivisionError: division by zero'
    """
    frames = tb.extract_tb(exc.__traceback__)
    while len(frames) > 1 and os.path.abspath(frames[0].filename) == _EXECUTORS:  # the executor's own call
        frames = frames[1:]
    return _where(frames), _bounded(frames, exc)


def _where(frames: list[tb.FrameSummary]) -> str | None:
    if not frames:
        return None
    user = [f for f in frames if _owner(f.filename) == "user"]
    ours = [f for f in frames if _owner(f.filename) == "sightspeed"]
    frame = (user or ours or frames)[-1]
    return f"{_shown(frame.filename)}:{frame.lineno}"


def _bounded(frames: list[tb.FrameSummary], exc: BaseException) -> str:
    kept = frames[-MAX_FRAMES:]
    head = "Traceback (most recent call last):\n"
    if len(kept) < len(frames):
        head += f"  ... {len(frames) - len(kept)} outer frames left out\n"
    text = head + "".join(tb.format_list(kept)) + "".join(tb.format_exception_only(type(exc), exc))
    if len(text) > MAX_CHARS:
        text = "...\n" + text[-(MAX_CHARS - 4):]
    return text


def _owner(filename: str) -> str:
    """``sightspeed`` (this package), ``library`` (the standard library, installed packages, frozen modules) or
    ``user`` (anything else: the user's own pipeline code)."""
    if filename.startswith("<"):
        return "library" if filename.startswith("<frozen") else "user"
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE + os.sep):
        return "sightspeed"
    if any(path.startswith(prefix) for prefix in _library_prefixes()):
        return "library"
    return "user"


@lru_cache(maxsize=1)
def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {os.path.abspath(paths[k]) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(sorted(found))


def _shown(filename: str) -> str:
    """The path relative to the current folder when it is inside it (what an editor opens from there)."""
    if filename.startswith("<"):
        return filename
    path = os.path.abspath(filename)
    here = os.getcwd() + os.sep
    return path[len(here):] if path.startswith(here) else path
