"""Video in (frames via OpenCV) and out (same size, fps and frame order; renamed into place when complete)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    width: int
    height: int
    frames: int  # as the container claims; may be 0 or approximate


def probe(path: str) -> VideoInfo:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise InputError(path, "could not open as a video (unsupported or corrupt container)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        return VideoInfo(path, fps, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def frames(path: str) -> Iterator[np.ndarray]:
    """Decoded BGR frames in order."""
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError(path, "could not open as a video (unsupported or corrupt container)")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


class VideoWriter:
    """Writes frames to ``<path>.partial<suffix>`` and renames to ``path`` on ``close()``."""

    def __init__(self, path: str, fps: float, size: tuple[int, int]) -> None:
        import cv2

        from .write import make_parents

        self.path = Path(os.path.abspath(path))
        make_parents(self.path)  # no symlinked folder below a running run's output folder
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        if os.path.lexists(self._tmp):  # a leftover (or a planted symlink): OpenCV would write through it
            os.unlink(self._tmp)
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, fps, size)
        if not self._writer.isOpened():
            raise OSError(f"{path}: OpenCV could not open a video writer (mp4v)")
        self.size = size
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's {self.size}")
        self._writer.write(frame)
        self.count += 1

    def close(self) -> str:
        """Finish the file, check it holds every frame written (OpenCV's writer only prints when a write fails,
        e.g. on a full disk), fsync and rename it into place; OSError naming the file otherwise."""
        import cv2

        self._writer.release()
        cap = cv2.VideoCapture(str(self._tmp))
        held = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        if held < 0.99 * self.count:
            self._tmp.unlink(missing_ok=True)
            raise OSError(f"could not write {self.path}: the file holds {held} of the {self.count} frames written "
                          "(disk full or not writable?)")
        fd = os.open(self._tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self._tmp, self.path)
        return str(self.path)

    def abort(self) -> None:
        self._writer.release()
        self._tmp.unlink(missing_ok=True)
