"""What a video output keeps of its input: every audio packet (copied, not re-encoded), every frame's timestamp (a
variable frame rate included), the orientation a player shows, and an explicitly chosen codec named in the row.

Clips are made here with PyAV: a distinct picture per frame, a sine on an AAC track, a display-rotation flag, uneven
frame intervals. The viewer that checks orientation is OpenCV's (its own reading of the display matrix)."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import sightspeed
from sightspeed.errors import InputError
from sightspeed.io import video, video_write
from sightspeed.io.pool import BufferPool
from sightspeed.tasks import build

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

TB = Fraction(1, 90000)


def picture(k: int, size=(160, 120)) -> np.ndarray:
    """Frame ``k`` as shown: red band on the left, blue on top (so a turn or a flip shows), a bar at ``k``."""
    w, h = size
    img = np.full((h, w, 3), 60, np.uint8)
    img[:, : w // 5] = (0, 0, 220)
    img[: h // 5] = (220, 0, 0)
    x = w // 5 + (k * 3) % (w - w // 5 - 4)
    img[h // 3:, x:x + 4] = 255
    return img


def make_clip(path: Path, images: list[np.ndarray], *, rotation: int = 0, audio: bool = True,
              intervals: list[int] | None = None, codec: str = "libx264", pix_fmt: str = "yuv420p",
              time_base: Fraction = TB, bt709: bool = False) -> Path:
    """An .mp4 of ``images`` as displayed: the pixels are stored turned the other way, with a display matrix that
    turns them back by ``rotation`` degrees counter-clockwise; ``intervals`` (``time_base`` ticks) cycle between frames;
    a 440 Hz sine on an AAC track as long as the video. ``bt709``: HD colour (matrix, primaries, transfer) tagged
    and used."""
    intervals = intervals or [3750]  # 24 fps
    h, w = np.rot90(images[0], -rotation // 90).shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=24)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.time_base = vs.codec_context.time_base = time_base
        if rotation:
            vs.set_display_rotation(rotation)
        if bt709:
            for tag in ("colorspace", "color_primaries", "color_trc", "color_range"):
                setattr(vs.codec_context, tag, 1)  # BT.709 each; range 1: limited
        if audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "mono"
        pts = 0
        for k, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(img, -rotation // 90)), format="bgr24")
            if bt709:
                frame = frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            frame.pts, frame.time_base = pts, time_base
            pts += intervals[k % len(intervals)]
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if audio:
            total, done = int(48000 * pts * time_base), 0
            while done < total:
                n = min(1024, total - done)
                wave = 0.3 * np.sin(2 * math.pi * 440 * np.arange(done, done + n) / 48000)
                chunk = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, done
                out.mux(aus.encode(chunk))
                done += n
            out.mux(aus.encode(None))
    return path


def audio_packets(path) -> list[tuple[Fraction, bytes]]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [(p.pts * p.time_base, bytes(p)) for p in c.demux(audio=0) if p.size]


def frame_times(path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def video_duration(path) -> Fraction:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.duration * s.time_base


def shown(path) -> list[np.ndarray]:
    """The frames as a player shows them: OpenCV's reader, which applies the display matrix itself."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def invert_pipeline():
    def invert(item):
        item.output = 255 - item.image

    return sightspeed.Pipeline([sightspeed.Stage("invert", invert)])


def run_one(pipeline, clip, out, **kw) -> dict:
    result = sightspeed.run(pipeline, [str(clip)], out, **kw)
    (row,) = result.rows
    return row


# ----- reading ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rotation", [0, 90, -90, 180])
def test_the_reader_shows_frames_upright_as_opencv_does(tmp_path, rotation):
    images = [picture(k) for k in range(6)]
    clip = make_clip(tmp_path / "clip.mp4", images, rotation=rotation, audio=False)
    reader = video.VideoReader(str(clip))
    got = [f.image for f in reader]
    assert reader.info.rotation == rotation and (reader.info.width, reader.info.height) == (160, 120)
    assert len(got) == 6 and reader.errors == 0
    for ours, theirs, want in zip(got, shown(clip), images):
        assert ours.shape == (120, 160, 3) and ours.flags.c_contiguous
        np.testing.assert_array_equal(ours, theirs)  # the same pixels OpenCV shows
        assert np.abs(ours.astype(int) - want).mean() < 4  # and upright: the picture as made


def test_a_video_that_does_not_open_names_why(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="could not open as a video"):
        video.probe(str(bad))
    with pytest.raises(InputError, match="no such file"):
        video.probe(str(tmp_path / "missing.mp4"))


# ----- what an output keeps ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def portrait_clip(tmp_path_factory, photos):
    """A phone-style clip: a portrait (taller than wide) person stored sideways with a 90-degree display flag, and
    an AAC track."""
    tmp = tmp_path_factory.mktemp("portrait_clip")
    person = cv2.resize(photos[0], (240, 320))
    images = []
    for k in range(24):
        img = person.copy()
        cv2.putText(img, str(k), (10, 310), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        images.append(img)
    return make_clip(tmp / "phone.mp4", images, rotation=90)


def test_the_portrait_task_keeps_audio_timing_and_orientation(tmp_path, portrait_clip):
    pool = BufferPool()
    row = run_one(build("portrait", {}, pool), portrait_clip, tmp_path / "out", pool=pool)
    assert row["status"] == "ok" and row["frames"] == 24, row
    assert row["codec"] == "libx264 crf=18 preset=veryfast x264-params=mbtree=0 yuv420p" and row["audio"] == "aac 48000 Hz copied"
    assert row["rotation"] == 90 and row["size"] == [240, 320]
    assert "note" not in row, row["note"]  # the model saw the person upright: a face in every frame
    (out,) = row["outputs"]
    # audio: the same packets, byte for byte, at the same times
    packets = audio_packets(portrait_clip)
    assert packets and audio_packets(out) == packets
    # timing: every frame at its input time; the same duration
    assert frame_times(out) == frame_times(portrait_clip)
    assert abs(video_duration(out) - video_duration(portrait_clip)) <= Fraction(1, 24)
    # orientation: upright pixels and no rotation flag; a player shows the same shape as the input's
    with av.open(out) as c:
        assert next(c.decode(video=0)).rotation == 0
    assert shown(out)[0].shape == shown(portrait_clip)[0].shape == (320, 240, 3)


def test_a_player_shows_the_output_as_it_showed_the_input(tmp_path):
    images = [picture(k) for k in range(12)]
    clip = make_clip(tmp_path / "clip.mp4", images, rotation=-90, audio=False)
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "ok" and row["rotation"] == -90
    before, after = shown(clip), shown(row["outputs"][0])
    assert len(after) == len(before) == 12
    for a, b in zip(before, after):
        assert a.shape == b.shape
        assert np.abs((255 - b.astype(int)) - a).mean() < 4  # the inverse of what the input showed, same way up


@pytest.mark.parametrize("kind", ["vfr-mp4", "mjpeg-avi"])
def test_every_frame_keeps_its_timestamp(tmp_path, kind):
    if kind == "vfr-mp4":  # frames 33, 42 and 50 ms apart in turn
        clip = make_clip(tmp_path / "vfr.mp4", [picture(k) for k in range(30)], intervals=[3000, 3750, 4500])
        assert len({b - a for a, b in zip(frame_times(clip), frame_times(clip)[1:])}) == 3
    else:  # what OpenCV writes: a 1/25 s time base, no audio
        clip = tmp_path / "clip.avi"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
        for k in range(30):
            writer.write(picture(k))
        writer.release()
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "ok" and row["frames"] == 30
    (out,) = row["outputs"]
    assert frame_times(out) == frame_times(clip)
    assert audio_packets(out) == audio_packets(clip)
    fps = row["fps"]
    assert abs(video_duration(out) - video_duration(clip)) <= Fraction(1) / Fraction(fps)


def test_colour_tags_are_kept_and_used(tmp_path):
    images = [picture(k) for k in range(6)]
    clip = make_clip(tmp_path / "hd.mp4", images, audio=False, bt709=True)
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    tags = ("colorspace", "color_primaries", "color_trc", "color_range")
    with av.open(str(clip)) as a, av.open(row["outputs"][0]) as b:
        assert [getattr(a.streams.video[0].codec_context, t) for t in tags] == [1, 1, 1, 1]
        assert [getattr(b.streams.video[0].codec_context, t) for t in tags] == [1, 1, 1, 1]
        before = [f.to_ndarray(format="bgr24") for f in a.decode(video=0)]  # decoded with the BT.709 matrix
        after = [f.to_ndarray(format="bgr24") for f in b.decode(video=0)]
    for x, y in zip(before, after):
        assert np.abs((255 - y.astype(int)) - x).mean() < 3  # the same colours back: no matrix mix-up


def test_no_audio_in_no_audio_out(tmp_path):
    clip = make_clip(tmp_path / "silent.mp4", [picture(k) for k in range(8)], audio=False)
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "ok" and row["audio"] == "none"
    with av.open(row["outputs"][0]) as c:
        assert [s.type for s in c.streams] == ["video"]


def test_audio_an_mp4_cannot_hold_is_re_encoded_to_aac_and_said(tmp_path):
    """An old camera's AVI: MJPEG with 8-bit PCM sound, which the .mp4 muxer refuses: AAC, the same samples."""
    clip = tmp_path / "camera.avi"
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("mjpeg", rate=25)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuvj420p"
        aus = out.add_stream("pcm_u8", rate=8000, layout="mono")
        for k in range(10):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(picture(k), format="bgr24")))
        out.mux(vs.encode(None))
        wave = (128 + 100 * np.sin(2 * math.pi * 440 * np.arange(3200) / 8000)).astype(np.uint8)[None]
        chunk = av.AudioFrame.from_ndarray(wave, format="u8", layout="mono")
        chunk.sample_rate, chunk.pts = 8000, 0
        out.mux(aus.encode(chunk))
        out.mux(aus.encode(None))
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "ok" and row["audio"] == ("pcm_u8 8000 Hz re-encoded to aac 96 kb/s "
                                                      "(an .mp4 cannot hold pcm_u8)")
    with av.open(row["outputs"][0]) as c:
        (stream,) = c.streams.audio
        frames = list(c.decode(stream))
        assert stream.codec_context.name == "aac" and stream.sample_rate == 8000
        assert 3200 <= sum(f.samples for f in frames) < 3200 + 1024 and frames[0].pts == 0  # AAC: 1024 a frame


def test_an_odd_sized_video_is_written_in_4_4_4_at_its_size(tmp_path):
    clip = make_clip(tmp_path / "odd.mp4", [picture(k, (97, 65)) for k in range(5)], pix_fmt="yuv444p")
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "ok" and row["codec"].endswith("yuv444p") and row["size"] == [97, 65]
    assert shown(row["outputs"][0])[0].shape == (65, 97, 3)


def test_a_damaged_middle_is_partial_naming_the_packets(tmp_path):
    rng = np.random.default_rng(0)
    clip = make_clip(tmp_path / "clip.mp4", [rng.integers(0, 255, (64, 96, 3), np.uint8) for _ in range(60)],
                     audio=False, codec="mpeg4", time_base=Fraction(1, 24), intervals=[1])
    data = bytearray(clip.read_bytes())
    middle = len(data) // 3
    data[middle:middle + 4000] = b"\x5a" * 4000  # inside the media data (the index is at the end)
    clip.write_bytes(bytes(data))
    row = run_one(invert_pipeline(), clip, tmp_path / "out")
    assert row["status"] == "partial" and row["stage"] == "decode"
    assert "could not be decoded" in row["reason"] and f"decoded {row['frames']} " in row["reason"], row["reason"]


def test_a_matroska_cut_in_half_is_partial_by_its_declared_duration(tmp_path):
    """Matroska has no frame count: the frames must reach the duration its video track declares."""
    whole = make_clip(tmp_path / "clip.mkv", [picture(k) for k in range(48)])
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = sightspeed.run(invert_pipeline(), [str(whole), str(cut)], tmp_path / "out")
    got = {Path(r["input"]).name: r for r in result.rows}
    assert got["clip.mkv"]["status"] == "ok" and got["clip.mkv"]["expected_frames"] == 0
    assert got["cut.mkv"]["status"] == "partial" and got["cut.mkv"]["frames"] < 40, got["cut.mkv"]
    assert "s of the 2.00 s the container declares" in got["cut.mkv"]["reason"]


# ----- the writer -------------------------------------------------------------------------------------------------

def test_the_writer_never_writes_through_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".out.partial.mp4").symlink_to(victim)
    writer = video_write.VideoWriter(str(tmp_path / "out.mp4"), (64, 48), fps=10.0)
    for k in range(3):
        writer.write(np.full((48, 64, 3), 50 * k, np.uint8))
    assert writer.close() == str(tmp_path / "out.mp4")
    assert victim.read_text() == "keep me" and not (tmp_path / ".out.partial.mp4").exists()
    assert len(frame_times(tmp_path / "out.mp4")) == 3


def test_the_encoder_choice_says_what_and_why():
    best = video_write.choose_encoder(1920, 1080)
    assert (best.codec, best.pix_fmt) == ("libx264", "yuv420p") and "CRF 18" in best.why
    openh264 = video_write.choose_encoder(1920, 1080, 30.0, available=lambda name: name == "libopenh264")
    assert openh264.codec == "libopenh264" and "kb/s" in openh264.why
    with pytest.raises(OSError, match="even sides"):
        video_write.choose_encoder(97, 65, available=lambda name: name != "libx264")


def test_importing_sightspeed_and_its_video_modules_loads_no_pyav():
    code = "import sys, sightspeed, sightspeed.io.video, sightspeed.io.video_write; print('av' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_the_encoder_benchmark_prints_its_json():
    import json

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "video_encode.py"
    proc = subprocess.run([sys.executable, str(script), "--frames", "2", "--width", "160", "--height", "96",
                           "--rounds", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["chosen"] in report["encoders"] and "opencv mp4v (before PyAV)" in report["encoders"]
    for row in report["encoders"].values():
        cpu = row["cpu_ms_per_frame"]
        assert cpu["min"] == cpu["median"] == cpu["max"]  # one round: one sample
        assert row["kb_per_frame"] > 0 and row["psnr_db"] > 20
