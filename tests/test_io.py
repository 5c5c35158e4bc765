from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from corpus import exif_jpeg
from sightspeed.errors import InputError
from sightspeed.io import sources
from sightspeed.io.decode import decode_image, read_image
from sightspeed.io.exif import apply_orientation, jpeg_orientation
from sightspeed.io.pool import BufferPool
from sightspeed.io.write import OutputNamer, write_atomic


def gradient(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[:h, :w]
    return np.dstack([x * 8 % 256, y * 10 % 256, (x + y) * 4 % 256]).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_opencv(orientation):
    """simplejpeg + our EXIF parser must turn images exactly as OpenCV's own decoder does."""
    import cv2

    data = exif_jpeg(gradient(), orientation)
    assert jpeg_orientation(data) == orientation
    ours = decode_image(data)
    theirs = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert ours.shape == theirs.shape
    assert np.abs(ours.astype(int) - theirs).max() <= 1


def test_apply_orientation_round_trip_identity():
    img = gradient()
    assert apply_orientation(img, 1) is img
    assert np.array_equal(apply_orientation(apply_orientation(img, 3), 3), img)


def test_dct_downscale_and_caller_buffer():
    import simplejpeg

    data = simplejpeg.encode_jpeg(np.zeros((400, 800, 3), np.uint8) + 100, 90, "BGR")
    small = decode_image(data, min_size=(200, 100))
    assert small.shape == (100, 200, 3)  # decoded at 1/4 scale in the DCT domain
    pool = BufferPool()
    got = []

    def allocate(shape):
        got.append(pool.take(shape))
        return got[-1]

    image = decode_image(data, allocate=allocate)
    assert np.shares_memory(image, got[0]) and int(image.mean()) in (99, 100, 101)


def test_max_pixels_is_checked_before_decoding():
    import simplejpeg

    data = simplejpeg.encode_jpeg(np.zeros((100, 100, 3), np.uint8), 90, "BGR")
    with pytest.raises(InputError, match="over the 0.009999 MP limit"):
        decode_image(data, "x.jpg", max_pixels=9999)


def _tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD says width x height (LONG tags), with no pixel data at all."""
    import struct

    entries = [(256, 4, 1, width), (257, 4, 1, height)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def _webp_vp8x(width: int, height: int) -> bytes:
    body = b"VP8X" + (10).to_bytes(4, "little") + b"\0\0\0\0" + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    return b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WEBP" + body


@pytest.mark.parametrize("fmt, data", [
    ("TIFF", _tiff_header(30000, 30000)),
    ("GIF", b"GIF89a" + (30000).to_bytes(2, "little") + (30000).to_bytes(2, "little") + b"\0" * 8),
    ("WEBP", _webp_vp8x(30000, 30000)),
])
def test_every_format_is_size_checked_from_its_header(fmt, data):
    """A 30000 x 30000 header in a few bytes is refused before any pixel memory exists (OpenCV would allocate
    2.7 GB for it)."""
    with pytest.raises(InputError, match=f"{fmt} header says 30000x30000 = 900 MP, over the 100 MP limit"):
        decode_image(data, f"bomb.{fmt.lower()}")


def test_real_files_of_every_format_read_their_size_from_the_header():
    import cv2

    from sightspeed.io.decode import header_size, sniff

    image = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    for ext, params in ((".png", []), (".bmp", []), (".tiff", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
                        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])):  # 101: lossless (VP8L)
        data = cv2.imencode(ext, image, params)[1].tobytes()
        assert header_size(data, sniff(data)) == (53, 37), ext
        assert decode_image(data).shape == (37, 53, 3)


def test_unreadable_headers_are_refused_and_reasons_never_echo_the_file():
    with pytest.raises(InputError, match="could not decode TIFF: header unreadable"):
        decode_image(b"II*\x00" + b"\xff" * 4, "x.tif")
    with pytest.raises(InputError) as info:
        decode_image(b"SECRET-TOKEN-1234", "x.jpg")
    assert "SECRET" not in str(info.value) and "53 45" not in str(info.value)  # neither text nor hex of it


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(InputError) as info:
        read_image(str(tmp_path / "missing.jpg"))
    assert info.value.path.endswith("missing.jpg") and info.value.reason == "no such file"
    os.mkfifo(tmp_path / "fifo.jpg")
    with pytest.raises(InputError, match="not a regular file"):
        read_image(str(tmp_path / "fifo.jpg"))


def test_expand_inputs(tmp_path):
    for rel in ["a/1.jpg", "a/b/2.png", "a/notes.txt", "c.jpg", "d.mp4"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# comment\nc.jpg\n\nmissing.jpg\n")
    got = sources.expand([str(tmp_path / "a"), str(tmp_path / "*.jpg"), f"@{tmp_path / 'list.txt'}",
                          str(tmp_path / "d.mp4"), str(tmp_path / "nothing*.jpg")])
    assert [s.relative for s in sources.expand([str(tmp_path / "a")], skip=tmp_path / "a" / "b")] == ["1.jpg"]
    assert [(s.relative, s.kind, s.problem) for s in got] == [
        ("1.jpg", "image", None), (os.path.join("b", "2.png"), "image", None), ("c.jpg", "image", None),
        ("missing.jpg", "image", "no such file"), ("d.mp4", "video", None),
        ("nothing*.jpg", "image", "glob matched no files")]


def test_output_names_are_unique_and_stay_inside(tmp_path):
    namer = OutputNamer(tmp_path)
    stems = [namer.stem(r) for r in ["x.jpg", "X.png", "x.jpg", "../../evil.jpg", "/abs/y.jpg", "sub/x.jpg"]]
    assert len(set(stems)) == len(stems)
    for stem in stems:
        assert os.path.realpath(stem).startswith(os.path.realpath(tmp_path) + os.sep)
    assert [os.path.relpath(s, tmp_path) for s in stems[:3]] == ["x", "X-1", "x-2"]


def test_write_atomic_leaves_no_partial_file(tmp_path):
    target = tmp_path / "o.jpg"
    write_atomic(target, b"first")
    with pytest.raises(TypeError):
        write_atomic(target, None)  # fails mid-write
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["o.jpg"]


def test_buffer_pool_is_bounded_in_bytes_dropping_the_least_recent_sizes():
    from sightspeed.io.pool import BufferPool

    pool = BufferPool(max_bytes=10 * 900 * 1200 * 3)
    for k in range(300):  # 300 distinct photo sizes, each buffer given back
        pool.give(pool.take((900 + k, 1200, 3)))
        assert pool.free_bytes <= pool.max_bytes
    assert pool.free_bytes > 0
    recent = pool.take((900 + 299, 1200, 3))  # the most recent size is still there ...
    assert pool.created == 300
    pool.take((900, 1200, 3))  # ... the oldest was dropped: a new array
    assert pool.created == 301 and recent.shape == (1199, 1200, 3)


def test_buffer_pool_is_thread_safe():
    pool = BufferPool(per_shape=64)
    seen = []

    def work():
        for _ in range(200):
            a = pool.take((8, 8))
            seen.append(id(a))
            pool.give(a)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pool.created <= 4
