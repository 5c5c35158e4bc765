"""Video in: upright BGR frames with their timestamps, read with PyAV (FFmpeg); out: :mod:`.video_write`.

PyAV, not OpenCV's ``VideoCapture``: the writer needs what OpenCV does not give — each frame's presentation
timestamp in the stream's own time base (so a variable-frame-rate video keeps its timing), the display rotation
as a number (so the output can say how it is oriented), and decode errors as errors (OpenCV skips a corrupt
packet silently, and the run would call a damaged video "ok"). The rotation is applied here, as OpenCV does by
default, so a model sees a phone's portrait video upright.

>>> import tempfile, numpy as np
>>> from sightspeed.io.video_write import VideoWriter
>>> path = tempfile.mkdtemp() + "/clip.mp4"
>>> w = VideoWriter(path, (64, 48), fps=10.0)
>>> for k in range(5):
...     w.write(np.full((48, 64, 3), 40 * k, np.uint8))
>>> _ = w.close()
>>> info = probe(path)
>>> (info.width, info.height, info.frames, info.fps, info.audio)
(64, 48, 5, 10.0, 0)
>>> [f.pts for f in VideoReader(path)] == [k * info.time_base.denominator // 10 for k in range(5)]
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError

_UNOPENABLE = "could not open as a video (unsupported or corrupt container)"


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # the container's average frame rate (a variable-frame-rate video's mean)
    width: int  # as displayed: the rotation applied
    height: int
    frames: int  # as the container's index says; 0 when it does not say (Matroska/WebM)
    rotation: int = 0  # degrees counter-clockwise the stored pictures are turned for display: 0, 90, 180, -90
    time_base: Fraction = Fraction(1, 25)  # the unit of the frames' timestamps
    audio: int = 0  # audio streams
    duration: float = 0.0  # seconds of video the container declares; 0 when it does not say


@dataclass
class Frame:
    """One decoded frame: upright BGR pixels, its presentation timestamp and how long it shows (``time_base``
    units; ``duration`` 0 when the stream does not say)."""

    image: np.ndarray
    pts: int
    duration: int = 0


def _open(path: str):
    import av

    try:
        container = av.open(path, "r")
    except (av.FFmpegError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError(path, "no such file") from None
        raise InputError(path, _UNOPENABLE) from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    return container


def _quarter(degrees: float) -> int:
    """``degrees`` rounded to a quarter turn in (-180, 180]: 0, 90, 180 or -90.

    >>> [_quarter(d) for d in (0, 89.9, -90, 180, -180, 270)]
    [0, 90, -90, 180, 180, -90]
    """
    q = int(round(degrees / 90.0)) % 4
    return {0: 0, 1: 90, 2: 180, 3: -90}[q]


def _declared_seconds(stream) -> float:
    """The video stream's own duration: its header's, else a Matroska track's DURATION tag (never the container's,
    which may be the audio's).

    >>> class S: duration, time_base, metadata = None, None, {"DURATION": "00:01:04.167000000"}
    >>> _declared_seconds(S())
    64.167
    """
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    try:
        h, m, sec = (stream.metadata or {}).get("DURATION", "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return 0.0


def probe(path: str) -> VideoInfo:
    """What the container says about ``path``'s first video stream; :class:`InputError` if it cannot be opened."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rotation = 0
        try:  # the display matrix reaches the frames, not the stream, in PyAV: decode the first frame for it
            first = next(container.decode(stream), None)
            rotation = _quarter(first.rotation) if first is not None else 0
        except Exception:  # noqa: BLE001 - a bad first packet is the reader's to report, with its count
            pass
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, -90):
            width, height = height, width
        return VideoInfo(path, float(rate) if rate else 25.0, width, height, int(stream.frames or 0), rotation,
                         stream.time_base or Fraction(1, 25), len(container.streams.audio), _declared_seconds(stream))
    finally:
        container.close()


class VideoReader:
    """Upright BGR :class:`Frame` s of ``path``'s first video stream, in presentation order.

    A packet that fails to decode is skipped and counted in ``errors`` (a damaged video: its row is ``partial``);
    a container that fails mid-way ends the frames there, counted the same. ``threads`` is the decoder's share of
    the run's core budget. Frames without a timestamp get one from the previous frame (or the frame rate).
    """

    def __init__(self, path: str, threads: int = 1) -> None:
        self.path = path
        self.errors = 0
        self.ended = 0.0  # seconds: where the last frame read ends
        self.info = probe(path)
        self._threads = max(1, threads)

    def shortfall(self, frames: int) -> str | None:
        """Why a video read to its end, ``frames`` of it written, is not whole (None when it is): packets that
        failed to decode, more than 1% fewer frames than the container's exact count, or — where it has no
        count — frames that end more than 1% and a frame short of the duration it declares.

        >>> reader = VideoReader.__new__(VideoReader)
        >>> reader.errors, reader.ended, reader.info = 0, 2.0, VideoInfo("x", 24.0, 8, 8, 0, duration=4.0)
        >>> reader.shortfall(48).split(" (")[0]
        'decoded 48 frames, to 2.00 s of the 4.00 s the container declares'
        >>> reader.info = VideoInfo("x", 24.0, 8, 8, 100)
        >>> reader.shortfall(100) is None, reader.shortfall(50)[:47]
        (True, 'decoded 50 of the 100 frames the container decl')
        """
        info, errors = self.info, self.errors
        if info.frames > 0 and frames < 0.99 * info.frames:
            said = f"decoded {frames} of the {info.frames} frames the container declares"
        elif info.frames <= 0 and info.duration and self.ended + 1 / info.fps < 0.99 * info.duration:
            said = f"decoded {frames} frames, to {self.ended:.2f} s of the {info.duration:.2f} s the container declares"
        elif errors:
            said = f"decoded {frames} frames"
        else:
            return None
        damaged = f"; {errors} packet{'s' if errors > 1 else ''} could not be decoded" if errors else ""
        return f"{said} (cut short or corrupt{damaged}); the output has those frames"

    def __iter__(self) -> Iterator[Frame]:
        import av

        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = self._threads
            step = max(1, round(1 / (self.info.fps * self.info.time_base)))  # one frame, in time_base units
            k = self.info.rotation // 90  # np.rot90 turns counter-clockwise, as the rotation is given
            last: int | None = None
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except av.FFmpegError:  # the container itself is damaged past here
                    self.errors += 1
                    return
                try:
                    decoded = [(f, f.to_ndarray(format="bgr24", src_color_range=f.color_range or None))
                               for f in stream.decode(packet)]
                except (av.FFmpegError, ValueError):  # a damaged packet, or pixels swscale cannot convert
                    self.errors += 1
                    continue
                for frame, image in decoded:
                    pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
                    last = pts
                    self.ended = max(self.ended, float((pts + (frame.duration or 0)) * self.info.time_base))
                    if k:
                        image = np.ascontiguousarray(np.rot90(image, k))
                    yield Frame(image, pts, frame.duration or 0)
        finally:
            container.close()


def frames(path: str) -> Iterator[np.ndarray]:
    """Decoded upright BGR frames in order."""
    return (f.image for f in VideoReader(path))
