from __future__ import annotations

import json
import subprocess
import sys

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
