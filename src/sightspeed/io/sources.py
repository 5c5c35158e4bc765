"""Turn what a user typed (files, folders, globs, @lists, videos) into an ordered list of sources.

Nothing is opened here except folders and list files; a path that cannot be used still becomes a source, so it
gets its own manifest row with the reason instead of vanishing or ending the run.
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..files import path_key

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Source:
    """One input: ``path`` to read, ``relative`` name to derive its output name from, ``kind`` image|video,
    and ``problem`` when it is already known to be unusable (missing, a folder, a broken link)."""

    path: str
    relative: str
    kind: str = "image"
    problem: str | None = None


def kind_of(path: str) -> str:
    return "video" if _suffix(path) in VIDEO_SUFFIXES else "image"


def _suffix(name: str) -> str:
    """``Path(name).suffix.lower()`` without pathlib (once per file listed; pathlib interns every name)."""
    return os.path.splitext(name)[1].lower()


def expand(inputs: list[str], skip: str | os.PathLike[str] | None = None) -> list[Source]:
    """Every source of ``inputs`` as a list (:func:`iter_sources` listed to the end)."""
    return list(iter_sources(inputs, skip))


def iter_sources(inputs: list[str], skip: str | os.PathLike[str] | None = None) -> Iterator[Source]:
    """Expand inputs in the order given; a file named twice is used once; files below ``skip`` (the output
    folder, when it lies inside an input folder) are left out, so a second run does not eat the first one's output.

    - a folder: every image and video below it (recursively, sorted); its sub-folders are kept in output names;
    - a glob (``*``, ``?``, ``[``, ``**``): its matches, sorted;
    - ``@list.txt``: one path per line (blank lines and ``#`` comments skipped; relative to the list's folder);
    - anything else: a file, image or video by its suffix.
    """
    seen: set[int] = set()
    skip_dir = os.path.join(os.path.realpath(skip), "") if skip is not None else None
    for raw in inputs:  # lazily: a folder of 20,000 files gives its first source at once
        for src in _expand_one(raw):
            key = os.path.realpath(src.path) if src.problem is None else src.path
            if skip_dir is not None and key.startswith(skip_dir):
                continue
            digest = path_key(key)
            if digest not in seen:
                seen.add(digest)
                yield src


def is_glob(raw: str) -> bool:
    """An input is a glob when it has a wildcard and names no file (a file may be called ``a[1].jpg``)."""
    return any(ch in raw for ch in "*?[") and not os.path.lexists(raw)


def glob_root(pattern: str) -> str:
    """The folder a glob searches from: its leading components without a wildcard.

    >>> glob_root("out/x/*.jpg"), glob_root("*.png"), glob_root("/data/**/a?.jpg")
    ('out/x', '.', '/data')
    """
    parts = pattern.split(os.sep)
    fixed = list(itertools.takewhile(lambda part: not any(ch in part for ch in "*?["), parts[:-1]))
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else ".")


def list_entries(list_path: str) -> Iterator[str]:
    """The paths a ``@list`` file names, lazily (blank lines and ``#`` comments skipped; relative to the list's
    folder). An unreadable list raises OSError here, not when the paths are read."""
    text, base = Path(list_path).read_text(), Path(list_path).parent
    lines = (line.strip() for line in text.splitlines())
    return (line if os.path.isabs(line) else str(base / line) for line in lines
            if line and not line.startswith("#"))


def _expand_one(raw: str) -> Iterator[Source]:
    if raw.startswith("@"):
        yield from _from_list(raw[1:])
    elif is_glob(raw):
        matches = sorted(glob.glob(raw, recursive=True))
        if not matches:
            yield Source(raw, Path(raw).name, problem="glob matched no files")
        for m in matches:
            yield from _from_path(m, explicit=False)
    else:
        yield from _from_path(raw, explicit=True)


def _from_path(path: str, explicit: bool) -> Iterator[Source]:
    name = os.path.basename(path.rstrip(os.sep)) or path
    if os.path.isdir(path):
        if explicit or _suffix(path) not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            yield from _walk(path)
        else:
            yield Source(path, name, problem="is a directory, not an image file")
    elif os.path.islink(path) and not os.path.exists(path):
        yield Source(path, name, problem="broken symbolic link")
    elif not os.path.exists(path):
        yield Source(path, name, problem="no such file")
    else:
        yield Source(path, name, kind_of(path))


def _walk(root: str) -> Iterator[Source]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        media = IMAGE_SUFFIXES | VIDEO_SUFFIXES
        # A folder named like an image (x.jpg/) is reported, not entered: the user meant a file.
        for d in [d for d in dirnames if _suffix(d) in media]:
            dirnames.remove(d)
            filenames.append(d)
        for name in sorted(filenames):
            if _suffix(name) not in media:
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.isdir(full):
                yield Source(full, rel, problem="is a directory, not an image file")
            elif os.path.islink(full) and not os.path.exists(full):
                yield Source(full, rel, problem="broken symbolic link")
            else:
                yield Source(full, rel, kind_of(full))


def _from_list(list_path: str) -> Iterator[Source]:
    try:
        paths = list_entries(list_path)
    except OSError as exc:
        yield Source(list_path, Path(list_path).name, problem=f"cannot read list file: {exc.strerror or exc}")
        return
    for path in paths:
        yield from _from_path(path, explicit=True)
