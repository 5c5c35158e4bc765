"""Video out: the processed frames encoded with an explicitly chosen codec and quality, each at its input frame's
timestamp, the source's audio copied packet for packet, all remuxed with PyAV (FFmpeg) into an ``.mp4`` that is
renamed into place only when complete.

What an output keeps of its input:

- **timing**: every frame's presentation timestamp, in the input's time base (a variable frame rate stays
  variable; the duration is the input's);
- **audio**: every audio stream, its packets copied unchanged (no re-encode, so no generation loss and no drift;
  only a codec an .mp4 cannot hold is re-encoded, to AAC, and the row says so); a video without audio stays
  without;
- **orientation**: the pixels are written upright (the reader turned them by the input's display rotation, so
  the model saw them upright) with no rotation flag, so every player shows them the way a rotation-aware player
  showed the input — the same choice the image outputs make with their EXIF orientation (reset to 1);
- **colour**: the input's colour space, primaries, transfer and range tags, with the RGB->YUV matrix they name.

Subtitle and data streams, chapters and container tags are not kept. The codec is :func:`choose_encoder`'s: H.264
(libx264) at CRF 18, preset ``veryfast`` — the quality of ``medium`` at under half its CPU
(benchmarks/video_encode.py, numbers in docs/benchmarks.md) — with fallbacks for an FFmpeg without libx264.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

# x264's constant rate factor: 18 is the customary "visually lossless" point; lower only grows the file.
X264_CRF = 18
# The x264 preset: on a 1920x1080 clip (benchmarks/video_encode.py, docs/benchmarks.md) veryfast takes ~43% of
# medium's CPU per frame at the same PSNR, in a file ~9% larger; superfast saves little CPU for files 4x larger.
X264_PRESET = "veryfast"
_LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: a fixed quantiser q is global_quality = q * 118
# An audio track an .mp4 cannot hold is re-encoded to AAC at this rate per channel: FFmpeg's guide (trac wiki
# Encode/AAC) gives 64 kb/s a channel as the rule of thumb for transparency; its native encoder gets half again.
AAC_BITS_PER_CHANNEL = 96_000


@dataclass(frozen=True)
class Encoder:
    """A video encoder and its settings: FFmpeg's codec name, its options, the pixel format, and why."""

    codec: str
    options: tuple[tuple[str, str], ...]
    pix_fmt: str
    why: str

    def describe(self) -> str:
        """What a manifest row says about the encoding.

        >>> choose_encoder(64, 48).describe()
        'libx264 crf=18 preset=veryfast x264-params=mbtree=0 yuv420p'
        """
        return " ".join([self.codec, *(f"{k}={v}" for k, v in self.options if k != "flags"), self.pix_fmt])


def _has_encoder(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    return True


def choose_encoder(width: int, height: int, fps: float = 25.0, available=_has_encoder) -> Encoder:
    """The encoder for a ``width x height`` video: H.264 by libx264 at CRF 18 when this FFmpeg has it (the PyAV
    wheels do), else H.264 by libopenh264 at a high bit rate, else MPEG-4 Part 2 (what OpenCV's ``mp4v`` writes) at
    a fixed quantiser of 2. 4:2:0 needs even sides: an odd-sized video gets 4:4:4 from libx264 (the High 4:4:4
    profile, which fewer players decode) and an error from the others.

    >>> choose_encoder(63, 48).pix_fmt
    'yuv444p'
    >>> choose_encoder(64, 48, available=lambda name: name == "mpeg4").describe()
    'mpeg4 global_quality=236 yuv420p'
    """
    odd = width % 2 or height % 2
    if available("libx264"):
        # mbtree off: with it, x264's lookahead made the first frame's bits differ from run to run on the same input
        # (4 of 5 runs alike, in a process that had run the models), and a resumed run must write the bytes an
        # uninterrupted one does (tests/test_trust.py); without it, 10 of 10 runs were alike
        return Encoder("libx264", (("crf", str(X264_CRF)), ("preset", X264_PRESET), ("x264-params", "mbtree=0")),
                       "yuv444p" if odd else "yuv420p",
                       f"H.264 (libx264) at constant quality CRF {X264_CRF}, preset {X264_PRESET}, macroblock-tree "
                       "rate control off (reproducible bytes)"
                       + (": 4:4:4 because a side is odd" if odd else ""))
    if odd:
        raise OSError(f"a {width}x{height} video needs 4:2:0's even sides, or libx264 for 4:4:4 (this FFmpeg "
                      "has no libx264: install the PyAV wheel, `pip install av`)")
    if available("libopenh264"):  # no constant-quality mode: ~0.15 bits per pixel, high for H.264
        rate = max(200_000, int(0.15 * width * height * fps))
        return Encoder("libopenh264", (("b", str(rate)),), "yuv420p",
                       f"H.264 (libopenh264, no libx264 here) at {rate // 1000} kb/s")
    return Encoder("mpeg4", (("flags", "+qscale"), ("global_quality", str(2 * _LAMBDA))), "yuv420p",
                   "MPEG-4 Part 2 at fixed quantiser 2 (no H.264 encoder in this FFmpeg)")


class VideoWriter:
    """Encodes BGR frames of ``size`` (width, height) into ``<path>``'s hidden ``.partial`` name; ``close()`` checks
    the file holds every frame, fsyncs and renames it to ``path``; ``abort()`` removes it.

    ``write(frame, pts, duration)`` places a frame at ``pts`` for ``duration`` (``time_base`` units; default: the
    next frame at ``fps``).
    ``source`` is the input video: its audio streams are copied into the output and its colour tags kept.
    ``threads`` is the encoder's share of the run's core budget (x264's output depends on it, never on timing).
    """

    def __init__(self, path: str, size: tuple[int, int], *, fps: float = 25.0, time_base: Fraction | None = None,
                 source: str | None = None, threads: int = 1, encoder: Encoder | None = None) -> None:
        import av

        from .write import make_parents

        self.path = Path(os.path.abspath(path))
        make_parents(self.path)  # no symlinked folder below a running run's output folder
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        if os.path.lexists(self._tmp):  # a leftover of a killed run (or a planted symlink)
            os.unlink(self._tmp)
        self.size, self.count = size, 0
        self.encoder = encoder or choose_encoder(*size, fps=fps)
        self.time_base = time_base or Fraction(1, 90000)  # the unit of write()'s pts
        # the encoder's: the same, so timestamps pass unchanged — but MPEG-4 Part 2 counts time in 16 bits
        self._codec_tb = self.time_base
        if self.encoder.codec == "mpeg4" and self.time_base.denominator > 65535:
            self._codec_tb = Fraction(1, 60000)
        self._step = max(1, round(1 / (fps * self.time_base)))
        self._last: int | None = None
        self._source = self._file = self._out = None
        try:
            # created exclusively and never through a symlink, like every other output
            fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            self._file = os.fdopen(fd, "wb")
            self._out = av.open(self._file, "w", format="mp4")
            self._stream = self._video_stream(fps, threads)
            self._source = _Source(source, self._out) if source else None
            if self._source:
                self._source.tag(self._stream)
            self._colour = self._source.colour if self._source else {"dst_color_range": 1}
            self._scaler = av.video.reformatter.VideoReformatter()  # one SwsContext, reused frame after frame
        except Exception as exc:  # no partial file stays behind, whatever failed
            self.abort()
            raise self._failed(exc) from None

    def _video_stream(self, fps: float, threads: int):
        enc, (w, h) = self.encoder, self.size
        stream = self._out.add_stream(enc.codec, rate=Fraction(fps).limit_denominator(1001000),
                                      options=dict(enc.options))
        stream.width, stream.height, stream.pix_fmt = w, h, enc.pix_fmt
        stream.time_base = stream.codec_context.time_base = self._codec_tb
        stream.thread_count = max(1, threads)
        return stream

    def _failed(self, exc: BaseException) -> OSError:
        """An OSError naming the output, for what FFmpeg or the disk said (never a traceback-only failure)."""
        said = getattr(exc, "strerror", None) or str(exc)
        if not isinstance(exc, OSError):  # av.FFmpegError is one; anything else says what it is
            said = f"{type(exc).__name__}: {said}"
        return OSError(getattr(exc, "errno", None), f"could not write {self.path}: {said}")

    @property
    def audio(self) -> str:
        """What became of the input's audio: 'none', or per stream 'aac 48000 Hz copied' (or re-encoded, and why)."""
        return self._source.describe() if self._source else "none"

    def write(self, frame: np.ndarray, pts: int | None = None, duration: int = 0) -> None:
        import av

        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's {self.size}")
        if pts is None or (self._last is not None and pts <= self._last):  # an encoder wants rising timestamps
            pts = 0 if self._last is None else self._last + (self._step if pts is None else 1)
        self._last = pts
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        picture = self._scaler.reformat(picture, format=self.encoder.pix_fmt, **self._colour)
        picture.pts, picture.time_base = self._in_codec_tb(pts), self._codec_tb
        if duration:  # the last frame shows for as long as the input's: the same duration
            picture.duration = self._in_codec_tb(duration)
        try:
            self._mux(self._stream.encode(picture))
        except Exception as exc:  # the finish_video that follows removes the partial file
            raise self._failed(exc) from None
        self.count += 1

    def _in_codec_tb(self, ticks: int) -> int:
        return ticks if self._codec_tb == self.time_base else round(ticks * self.time_base / self._codec_tb)

    def _mux(self, packets) -> None:
        for packet in packets:
            if self._source:  # interleaved: the audio up to this video packet goes first
                self._source.until(packet.dts * packet.time_base if packet.dts is not None else None)
            self._out.mux(packet)

    def close(self) -> str:
        """Finish the file, check it holds every frame written (a full disk can fail a write FFmpeg buffered),
        fsync and rename it into place; OSError naming the file otherwise."""
        try:
            self._mux(self._stream.encode(None))
            if self._source:
                self._source.until(None, last=True)
            self._out.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self._source:
                self._source.close()
        except Exception as exc:  # a full disk, a muxer that refuses: the file is not whole
            self.abort()
            raise self._failed(exc) from None
        held = _frames_held(self._tmp)
        if held < 0.99 * self.count:
            self.abort()
            raise OSError(f"could not write {self.path}: the file holds {held} of the {self.count} frames written "
                          "(disk full or not writable?)")
        os.replace(self._tmp, self.path)
        return str(self.path)

    def abort(self) -> None:
        for thing in (self._source, self._out, self._file):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # noqa: BLE001 - already failing: removing the partial file is what matters
                pass
        self._tmp.unlink(missing_ok=True)


def _frames_held(path: Path) -> int:
    """Video frames the finished file's index lists (0 when it cannot be read back)."""
    import av

    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames or 0)
    except (av.FFmpegError, OSError, IndexError):
        return 0


class _Source:
    """The input video, opened a second time: its colour tags (for the output's pixels and stream) and its audio
    streams, demuxed and muxed unchanged into ``out``, interleaved with the video by time (so a player never
    waits on a far-away audio chunk). A codec an .mp4 cannot hold (8-bit or mu-law PCM, ADPCM: old cameras' AVIs)
    is re-encoded to AAC instead, and ``describe()`` says so."""

    def __init__(self, source: str, out) -> None:
        import av

        self._in = av.open(source, "r")
        video = self._in.streams.video[0].codec_context
        # 2: unspecified (BT.601 maths both ways); 0: RGB coding, whose matrix a YUV output cannot use
        space = video.colorspace if video.colorspace not in (0, 2) else None
        rng = 2 if video.color_range == 2 else 1  # JPEG (full) range stays full; the rest is MPEG (limited)
        self.colour = {"dst_colorspace": space, "dst_color_range": rng}  # for VideoFrame.reformat
        self._tags = {"colorspace": space, "color_range": rng, "color_primaries": video.color_primaries,
                      "color_trc": video.color_trc}
        self._map, self._reencoded, said = {}, set(), []
        for s in self._in.streams.audio:
            ctx = s.codec_context
            try:
                self._map[s.index] = out.add_stream_from_template(s)
                said.append(f"{ctx.name} {ctx.sample_rate} Hz copied")
            except ValueError:  # PyAV asked the mp4 muxer: it cannot hold this codec
                # the channels' standard layout: an AVI's "1 channels" (order unspecified) is not one AAC takes
                layout = {1: "mono", 2: "stereo"}.get(ctx.channels, ctx.layout)
                aac = out.add_stream("aac", rate=ctx.sample_rate, layout=layout)
                aac.bit_rate = AAC_BITS_PER_CHANNEL * ctx.channels
                self._map[s.index] = aac
                self._reencoded.add(s.index)
                said.append(f"{ctx.name} {ctx.sample_rate} Hz re-encoded to aac {aac.bit_rate // 1000} kb/s "
                            f"(an .mp4 cannot hold {ctx.name})")
        self._said = ", ".join(said) or "none"
        self._out = out
        self._packets = self._in.demux(list(self._in.streams.audio)) if self._map else iter(())
        self._pending = None

    def tag(self, stream) -> None:
        """Give the output's video stream the input's colour tags (before its first frame)."""
        for name, value in self._tags.items():
            if value:  # 0 / None: unspecified
                setattr(stream.codec_context, name, value)

    def describe(self) -> str:
        return self._said

    def until(self, time: Fraction | None, last: bool = False) -> None:
        """Mux the audio packets that start before ``time`` (seconds; every one left when ``last``)."""
        import av

        while True:
            packet = self._pending
            if packet is None:
                try:
                    packet = next(self._packets)
                except (StopIteration, av.FFmpegError):  # the end, or a damaged tail: the audio stops there
                    self._packets = iter(())
                    if last:
                        self._flush()
                    return
                if packet.dts is None and packet.pts is None:  # the demuxer's flush packet
                    continue
            stamp = packet.dts if packet.dts is not None else packet.pts
            if not last and time is not None and stamp * packet.time_base > time:
                self._pending = packet
                return
            self._pending = None
            if packet.stream.index in self._reencoded:
                self._reencode(packet.stream, packet)
            else:
                packet.stream = self._map[packet.stream.index]
                self._out.mux(packet)

    def _reencode(self, stream, packet) -> None:
        import av

        try:
            frames = stream.decode(packet)
        except av.FFmpegError:  # a damaged audio packet: a moment of silence, not a failed video
            return
        for frame in frames:
            self._out.mux(self._map[stream.index].encode(frame))

    def _flush(self) -> None:
        """The re-encoded streams' last samples, held in their decoders and encoders."""
        for index in self._reencoded:
            self._reencode(self._in.streams[index], None)
            self._out.mux(self._map[index].encode(None))

    def close(self) -> None:
        self._in.close()
