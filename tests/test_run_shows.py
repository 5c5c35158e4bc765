"""What a run shows: start-up apart from processing, video throughput counted once per frame, a portrait row that
says when no face was found, a background picture that keeps its aspect, and a failed row that says where it raised.
Real models, real photos and videos; no wall-clock time is asserted, only how the times add up."""

from __future__ import annotations

import importlib
import json
import os
import textwrap
import time

import cv2
import numpy as np
import pytest

import sightspeed
from sightspeed.io.decode import read_image
from sightspeed.io.pool import BufferPool
from sightspeed.pipeline.failure import MAX_CHARS, MAX_FRAMES
from sightspeed.pipeline.startup import WORKER_SETUP
from sightspeed.profiling.session import Session, Span
from sightspeed.profiling.totals import StageTotals, startup_of
from sightspeed.report import console
from sightspeed.tasks import build

NO_FACE = "no face: whole frame segmented"
EXECUTORS = pytest.mark.parametrize("executor", [sightspeed.Serial(), sightspeed.Pipelined(workers=2)],
                                    ids=["serial", "pipelined"])


def skimage_photo(name: str) -> str:
    """A real photo shipped with scikit-image (coffee.png: a cup, 600 x 400, no face)."""
    import skimage

    return os.path.join(os.path.dirname(skimage.__file__), "data", name)


def rendered(table) -> str:
    from rich.console import Console

    out = Console(width=400)
    with out.capture() as shown:
        out.print(table)
    return shown.get()


def run_portrait(inputs, out, executor=None, **options):
    pool = BufferPool()
    return sightspeed.run(build("portrait", options, pool), inputs, out, executor=executor, pool=pool)


# ----- 1. start-up ---------------------------------------------------------------------------------------------

def test_setup_spans_are_kept_apart_from_a_stages_run_time():
    totals = StageTotals()
    totals.add(Span("detect", "t", 0.0, 0.5, items=1))
    totals.add(Span("detect", "t", -2.0, -1.0, kind="setup"))
    assert (totals.calls, totals.items, totals.total_s, totals.wait_s, totals.setup_s) == (1, 1, 0.5, 0.0, 1.0)
    assert StageTotals.from_dict(totals.to_dict()).setup_s == 1.0


def test_ocr_start_up_is_its_own_kind_and_line(tmp_path):
    """A real OCR run: fetching, loading and warming the models are setup spans before processing, and the run
    summary shows them beside the processing time; the session saved and loaded shows the same."""
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from ocr_pages import LINES, render_page

    cv2.imwrite(str(tmp_path / "page.png"), render_page(LINES[:3]))
    begun = time.perf_counter()
    pipeline = build("ocr", {})
    result = sightspeed.run(pipeline, [str(tmp_path / "page.png")], tmp_path / "out")
    elapsed = time.perf_counter() - begun
    session = result.session
    steps = startup_of(session.totals)
    assert list(steps) == ["fetch models", "load det model", "load cls model", "load rec model",
                           "read rec characters", "count model flops", "warm up kernels", WORKER_SETUP]
    setup = [s for s in session.spans if s.kind == "setup"]
    assert len(setup) == len(steps) and all(s.end <= 1e-9 for s in setup)  # before processing's zero
    # start-up and processing add up to no more than the time build + run took, and the stages hold no setup time
    assert sum(steps.values()) + session.wall_s <= elapsed
    for name in ("decode", "detect", "classify", "recognize", "write"):
        assert session.totals[name].setup_s == 0 and session.totals[name].calls == 1
    assert pipeline.setup == []  # charged once, to the run that used it
    text = rendered(console.summary(session))
    assert "s wall of processing" in text and "start-up" in text and "load det model" in text
    assert "count model flops" not in text.split("start-up")[0]  # a start-up step is no row of the stage table
    session.save(tmp_path / "session.json")
    assert rendered(console.summary(Session.load(tmp_path / "session.json"))) == text


def test_a_run_without_start_up_steps_still_shows_the_worker_set_up(tmp_path, portrait_jpegs):
    def invert(item):
        item.output = 255 - item.image

    result = sightspeed.run(sightspeed.Pipeline([sightspeed.Stage("invert", invert)]), portrait_jpegs[:1],
                            tmp_path / "out")
    assert list(startup_of(result.session.totals)) == [WORKER_SETUP]


# ----- 2. video --------------------------------------------------------------------------------------------------

def write_video(path, photos: list[np.ndarray], frames: int, fps: float = 12.0, size=(320, 240)) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for k in range(frames):
        writer.write(cv2.resize(photos[k % len(photos)], size))
    writer.release()
    return str(path)


@EXECUTORS
def test_video_decode_and_write_count_once_per_frame(tmp_path, photos, executor):
    """Each frame is read once and written once: one decode span and one write span per frame, not two."""
    coffee = read_image(skimage_photo("coffee.png"))
    clip = write_video(tmp_path / "clip.mp4", [photos[0], coffee], frames=8)
    result = run_portrait([clip], tmp_path / "out", executor=executor)
    session = result.session
    for stage in ("decode", "detect", "segment", "composite", "write"):
        totals = session.totals[stage]
        assert (totals.calls, totals.items) == (8, 8), stage
    assert result.frames == 8 and session.counters["frames"] == 8
    assert result.frames_per_s == pytest.approx(8 / session.wall_s)
    (row,) = result.rows
    assert row["status"] == "ok" and row["frames"] == 8 and row["fps"] == pytest.approx(12.0)
    assert set(row["ms_per_frame"]) == {"decode", "detect", "segment", "composite", "write"}
    for stage, total in row["times_ms"].items():
        assert row["ms_per_frame"][stage] == pytest.approx(total / 8, abs=1e-3)
    # the frame read and the video write are the frame's own decode and write time, not a pass-through
    assert row["times_ms"]["decode"] > 0 and row["times_ms"]["write"] > 0
    assert row["note"] == f"{NO_FACE} (4 of 8 frames)"  # the coffee frames
    title = rendered(console.summary(session)).splitlines()
    assert any("8 frames" in line and "frames/s" in line and "images/s" not in line for line in title)


# ----- 3. portrait ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["fast", "reference"])
def test_a_photo_without_a_face_says_so(tmp_path, portrait_jpegs, variant):
    coffee = skimage_photo("coffee.png")
    result = run_portrait([coffee, portrait_jpegs[0]], tmp_path / "out", variant=variant)
    rows = {r["input"]: r for r in result.rows}
    assert rows[coffee]["status"] == "ok" and rows[coffee]["note"] == NO_FACE
    assert "note" not in rows[portrait_jpegs[0]]
    json.dumps(result.rows)


def plain_cover(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Cover-crop the plain way, with another library: PIL's ImageOps.fit (crop to the aspect, centred; scale)."""
    from PIL import Image, ImageOps

    rgb = Image.fromarray(np.ascontiguousarray(picture[:, :, ::-1]))
    return np.asarray(ImageOps.fit(rgb, (width, height), Image.Resampling.BILINEAR, centering=(0.5, 0.5)))[:, :, ::-1]


@pytest.mark.parametrize("variant", ["fast", "reference"])
def test_an_image_background_keeps_its_aspect(tmp_path, sample_paths, variant):
    """coffee.png (3:2 landscape) behind grace_hopper.jpg (512 x 600 portrait): scaled to cover, centre-cropped."""
    coffee = skimage_photo("coffee.png")
    result = run_portrait(sample_paths[:1], tmp_path / "out", variant=variant, background=f"image:{coffee}",
                          save_mask=True)
    (row,) = result.rows
    out = read_image(next(o for o in row["outputs"] if o.endswith(".jpg"))).astype(int)
    mask = read_image(next(o for o in row["outputs"] if o.endswith("_mask.png")))[..., 0]
    h, w = out.shape[:2]
    assert (w, h) == (512, 600)
    background = mask == 0
    assert background.mean() > 0.2
    picture = read_image(coffee)
    covered = plain_cover(picture, w, h).astype(int)
    stretched = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA).astype(int)
    off_cover = np.abs(out[background] - covered[background]).mean()
    off_stretch = np.abs(out[background] - stretched[background]).mean()
    assert off_cover < 4, off_cover  # up to JPEG error and the resampling filter
    assert off_stretch > 4 * off_cover, (off_cover, off_stretch)


def test_cover_crop_matches_the_plain_way_on_real_pictures():
    from sightspeed.tasks.portrait import fast as fast_variant
    from sightspeed.tasks.portrait import reference
    from sightspeed.tasks.portrait.geometry import cover_crop

    picture = read_image(skimage_photo("coffee.png"))  # 600 x 400
    before = picture.copy()
    for w, h in ((512, 600), (1280, 720), (300, 300), (200, 100)):
        x0, y0, x1, y1 = cover_crop(picture.shape[1], picture.shape[0], w, h)
        assert abs((x1 - x0) / (y1 - y0) - w / h) < 0.01 and (x1 - x0 == 600 or y1 - y0 == 400)
        fast = fast_variant.cover_picture(picture, w, h).astype(int)
        plain = plain_cover(picture, w, h).astype(int)
        ref = reference.cover(picture, w, h).astype(int)
        stretched = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA).astype(int)
        assert fast.shape == plain.shape == ref.shape == (h, w, 3)
        # the filters differ (PIL's, OpenCV's) and scaling before cropping lands up to half a pixel off
        off = {"fast": np.abs(fast - plain).mean(), "reference": np.abs(ref - plain).mean()}
        assert max(off.values()) < 5 and np.abs(stretched - plain).mean() > 4 * max(off.values()), (w, h, off)
    assert np.array_equal(picture, before)  # the picture itself is not modified


# ----- 4. a stage that raises ------------------------------------------------------------------------------------

USER_CODE = '''
import numpy as np
from sightspeed import Pipeline, Stage


def check(image):
    if image.shape[0] > 0:
        raise ValueError("the user's own check failed")


def checked(item):
    check(item.image)


def reshape(item):
    np.reshape(item.image, (7, 7, 7))


def deep(item, n=60):
    if n == 0:
        raise RuntimeError("deep down")
    deep(item, n - 1)


def build(which="checked"):
    return Pipeline([Stage("user", globals()[which])], name="user")
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    path = folder / "user_pipe.py"
    path.write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("user_pipe")
    yield module, str(path)
    import sys

    sys.modules.pop("user_pipe", None)


def line_of(path: str, text: str) -> int:
    return next(k for k, line in enumerate(open(path).read().splitlines(), 1) if text in line)


@EXECUTORS
def test_a_failed_row_says_where_the_users_code_raised(tmp_path, portrait_jpegs, user_module, executor):
    module, path = user_module
    result = sightspeed.run(module.build("checked"), portrait_jpegs[:2], tmp_path / "out", executor=executor)
    assert result.failed == 2
    row = result.rows[0]
    assert row["reason"] == "ValueError: the user's own check failed" and row["stage"] == "user"
    assert row["where"] == f"{path}:{line_of(path, 'raise ValueError')}"
    text = row["traceback"]
    assert text.startswith("Traceback (most recent call last):") and "in checked" in text and "in check" in text
    assert text.rstrip().endswith("ValueError: the user's own check failed")
    assert "_timed_call" not in text  # the executor's own frame is left out
    assert json.loads(json.dumps(row)) == row
    manifest = [json.loads(line) for line in open(result.manifest)]
    assert manifest[0]["where"] == row["where"] and manifest[0]["traceback"] == text


def test_where_is_the_users_line_not_the_librarys(tmp_path, portrait_jpegs, user_module):
    module, path = user_module
    (row,) = sightspeed.run(module.build("reshape"), portrait_jpegs[:1], tmp_path / "out").rows
    assert row["reason"].startswith("ValueError: cannot reshape")
    assert row["where"] == f"{path}:{line_of(path, 'np.reshape(')}"  # numpy's frames are in the traceback only
    assert "numpy" in row["traceback"]


def test_a_deep_traceback_is_bounded(tmp_path, portrait_jpegs, user_module):
    module, path = user_module
    (row,) = sightspeed.run(module.build("deep"), portrait_jpegs[:1], tmp_path / "out").rows
    assert row["where"] == f"{path}:{line_of(path, 'raise RuntimeError')}"
    text = row["traceback"]
    assert len(text) <= MAX_CHARS and text.count('  File "') <= MAX_FRAMES
    assert text.rstrip().endswith("RuntimeError: deep down") and "outer frames left out" in text


def test_an_error_inside_sightspeed_points_into_sightspeed(tmp_path, portrait_jpegs):
    """A file that is no image fails in sightspeed's own decode: ``where`` is the innermost frame there."""
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"this is text, not a JPEG" * 10)
    result = run_portrait([str(bad), portrait_jpegs[0]], tmp_path / "out")
    rows = {r["input"]: r for r in result.rows}
    failed = rows[str(bad)]
    assert failed["status"] == "error" and failed["stage"] == "decode"
    package = os.path.dirname(sightspeed.__file__)
    where, _, line = failed["where"].rpartition(":")
    assert os.path.abspath(where).startswith(package) and line.isdigit()
    assert failed["traceback"] and "where" not in rows[portrait_jpegs[0]]


def test_a_batch_that_raises_isolates_the_item_with_its_where(tmp_path, portrait_jpegs, user_module):
    module, path = user_module

    def batched(items):
        for item in items:
            if item.source.endswith("photo1.jpg"):
                module.check(item.image)

    stage = sightspeed.Stage("batched", batched, batchable=True)
    result = sightspeed.run(sightspeed.Pipeline([stage]), portrait_jpegs[:3], tmp_path / "out",
                            executor=sightspeed.Serial(batch_size=3))
    assert [r["status"] for r in result.rows] == ["ok", "error", "ok"]
    assert result.rows[1]["where"] == f"{path}:{line_of(path, 'raise ValueError')}"
