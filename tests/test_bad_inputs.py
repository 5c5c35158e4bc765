from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from corpus import make


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, make(folder / "in", photos[0])


@pytest.mark.parametrize("task, variant", [("portrait", "fast"), ("portrait", "reference"), ("ocr", "fast")])
def test_a_bad_input_never_ends_the_run(corpus, tmp_path, task, variant):
    import cv2

    folder, expect = corpus
    if variant == "reference":
        # The plain way's cv2.imread decodes a truncated JPEG without complaint (the missing part comes out grey);
        # the fast path's strict decoder reports it. The reference keeps the plain behaviour: it is the baseline.
        expect = {**expect, "truncated.jpg": None}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "sightspeed", "run", task, str(folder / "in"), "-o", str(out),
                           "--variant", variant], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-3000:]
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert set(rows) == set(expect)
    for name, reason in expect.items():
        row = rows[name]
        if reason is None:
            assert row["status"] == "ok", (name, row)
            if task == "ocr":
                (output,) = row["outputs"]
                assert json.loads(open(output).read())["size"] == row["size"], name
                continue
            (output,) = [o for o in row["outputs"] if o.endswith(".jpg")]
            written = cv2.imread(output)
            assert written is not None and [written.shape[1], written.shape[0]] == row["size"], name
        else:
            assert row["status"] == "error" and reason in row["reason"], (name, row)
            assert row["outputs"] == []
    # EXIF orientation 6 (rotate 90 cw) turns a 320x360 photo into 360x320
    assert rows["exif_rotated.jpg"]["size"] == [360, 320]
    assert rows["strip_1x20000.png"]["size"] == [20000, 1]
    # no partial or temporary files left behind
    own = {".sightspeed-run.json", ".sightspeed.lock"}  # the output folder's record and lock (io/outdir.py)
    leftovers = [p.name for p in out.rglob("*") if "partial" in p.name or p.name.startswith(".") and p.name not in own]
    assert leftovers == []


def test_decoders_agree_on_awkward_formats(corpus):
    from sightspeed.io.decode import read_image

    folder, _ = corpus
    base = read_image(str(folder / "in" / "good.jpg")).astype(int)
    for name in ("png_named.jpg", "progressive.jpg", "cmyk.jpg"):
        image = read_image(str(folder / "in" / name))
        assert image.shape == base.shape and image.dtype == np.uint8
        assert np.abs(image.astype(int) - base).mean() < 6, name  # the same photo, re-encoded
    gray = read_image(str(folder / "in" / "gray.png"))
    assert gray.shape == base.shape and (gray[..., 0] == gray[..., 2]).all()
    sixteen = read_image(str(folder / "in" / "sixteen.png"))
    assert sixteen.dtype == np.uint8 and np.abs(sixteen.astype(int) - base).mean() < 6


def _deflated_zeros(row: bytes, rows: int) -> bytes:
    pack = zlib.compressobj(9)
    return b"".join(pack.compress(row * 1000) for _ in range(rows // 1000)) + pack.flush()


def png_bomb(side: int) -> bytes:
    """A real 1-bit grey PNG of side x side black pixels, about 100 KB: every decoder that trusts it makes a
    side x side x 3 array (2.7 GB at 30000)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    idat = _deflated_zeros(bytes(1 + side // 8), side)  # a filter byte, then side bits, per row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiff_bomb(side: int, rows: int = 16) -> bytes:
    """The same as a TIFF: deflated strips of ``rows`` 1-bit rows each (OpenCV reads a strip of up to 1 GB), the
    directory after them (where libtiff writes it, past any short read of the file's start)."""
    strip = zlib.compress(bytes(side // 8 * rows), 9)
    strips = side // rows
    offsets = 8 + strips * len(strip)  # the two arrays of the strips' offsets and sizes
    ifd_at = offsets + 8 * strips
    # (tag, type 3 SHORT or 4 LONG, count, value or offset): width, length, bits per sample, deflate, black is
    # zero, strip offsets, samples per pixel, rows per strip, strip sizes
    tags = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 1), (259, 3, 1, 8), (262, 3, 1, 1),
            (273, 4, strips, offsets), (277, 3, 1, 1), (278, 4, 1, rows), (279, 4, strips, offsets + 4 * strips)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHI", tag, kind, count) + (
        struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)) for tag, kind, count, value in tags)
    arrays = struct.pack(f"<{strips}I", *range(8, offsets, len(strip))) + struct.pack("<I", len(strip)) * strips
    return b"II*\x00" + struct.pack("<I", ifd_at) + strip * strips + arrays + ifd + b"\0\0\0\0"


CHILD = """
import sys
from sightspeed import Pipeline, Stage
from sightspeed.pipeline.run import run
from sightspeed.pipeline.standard import imread_stage

def invert(item):
    item.output = 255 - item.image

run(Pipeline([imread_stage(), Stage("invert", invert)]), sys.argv[2:], sys.argv[1])
# the peak resident set of this process image (VmHWM starts afresh at exec; ru_maxrss would carry the forking
# parent's, a pytest process of ~2 GB late in a run)
print(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_the_reference_decode_refuses_bombs_from_the_header(tmp_path, monkeypatch):
    """cv2.imread (the reference variants' decode) would fill 2.7 GB for a ~100 KB PNG or TIFF that says
    30000x30000: the header is read first and the file refused with the fast path's reason, before imread."""
    import cv2

    from sightspeed.errors import InputError
    from sightspeed.io.decode import decode_image
    from sightspeed.pipeline.item import Item
    from sightspeed.pipeline.standard import imread_stage

    bombs = []
    for name, data in (("bomb.png", png_bomb(30000)), ("bomb.tif", tiff_bomb(30000))):
        assert len(data) < 400_000
        (tmp_path / name).write_bytes(data)
        bombs.append(str(tmp_path / name))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "out"), *bombs], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout) < 1 << 30  # peak memory of the whole child, imports included
    rows = {r["input"]: r for r in map(json.loads, (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())}
    for path in bombs:
        with pytest.raises(InputError) as fast:
            decode_image(open(path, "rb").read(), path)
        assert "header says 30000x30000 = 900 MP, over the 100 MP limit" in fast.value.reason
        assert rows[path]["status"] == "error" and rows[path]["reason"] == fast.value.reason, rows[path]
        assert rows[path]["stage"] == "decode" and rows[path]["outputs"] == []

    def imread(path, *args):
        raise AssertionError(f"cv2.imread({path}) called on a bomb")

    monkeypatch.setattr(cv2, "imread", imread)
    for path in bombs:
        with pytest.raises(InputError, match="header says 30000x30000"):
            imread_stage().fn(Item(source=path, index=0))
