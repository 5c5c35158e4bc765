from __future__ import annotations

import numpy as np
import pytest

import sightspeed
from sightspeed.io.decode import read_image
from sightspeed.io.pool import BufferPool
from sightspeed.models import fetch
from sightspeed.runtimes import load
from sightspeed.tasks import build
from sightspeed.tasks.portrait import blazeface
from sightspeed.tasks.portrait.task import parse_background


def run_task(inputs, out, executor=None, **options):
    pool = BufferPool()
    pipeline = build("portrait", {"save_mask": True, **options}, pool)
    result = sightspeed.run(pipeline, inputs, out, executor=executor, pool=pool)
    assert result.failed == 0, result.rows
    return {row["input"]: row for row in result.rows}


def outputs(row):
    jpg = next(o for o in row["outputs"] if o.endswith(".jpg"))
    png = next(o for o in row["outputs"] if o.endswith("_mask.png"))
    return read_image(jpg).astype(int), read_image(png)[..., 0]


@pytest.fixture(scope="module")
def variants(portrait_jpegs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants")
    return {
        "reference": run_task(portrait_jpegs, tmp / "ref", variant="reference"),
        "fast": run_task(portrait_jpegs, tmp / "fast", sightspeed.Pipelined(workers=2), variant="fast"),
        "fast_noroi": run_task(portrait_jpegs, tmp / "noroi", variant="fast", roi=False),
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return (a & b).sum() / max(1, (a | b).sum())


def test_anchors_and_faces_on_real_photos(photos):
    assert blazeface.anchors().shape == (896, 2)
    rt = load(fetch("blazeface-short", quiet=True))
    for photo in photos:
        boxes, scores = blazeface.detect(rt, photo)
        assert len(boxes) == 1 and scores[0] > 0.75  # one person in each sample photo
        x0, y0, x1, y1 = boxes[0]
        h, w = photo.shape[:2]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and 0.1 < (x1 - x0) / w < 0.6


def test_fast_matches_reference(variants, portrait_jpegs):
    from skimage.metrics import structural_similarity

    for path in portrait_jpegs:
        ref_img, ref_mask = outputs(variants["reference"][path])
        fast_img, fast_mask = outputs(variants["fast"][path])
        assert ref_img.shape == fast_img.shape == read_image(path).shape
        assert iou(ref_mask, fast_mask) >= 0.99, path
        assert np.abs(ref_img - fast_img).mean() <= 2.0, path
        ssim = structural_similarity(ref_img.astype(np.uint8), fast_img.astype(np.uint8), channel_axis=2)
        assert ssim >= 0.98, (path, ssim)
        # the person is kept sharp: inside the mask the output is the input (up to JPEG re-encoding)
        person = fast_mask >= 250
        assert person.mean() > 0.1
        assert np.abs(fast_img[person] - read_image(path).astype(int)[person]).mean() < 3


def test_roi_and_full_frame_agree_inside_the_roi(variants, portrait_jpegs):
    for path in portrait_jpegs:
        roi_row, full_row = variants["fast"][path], variants["fast_noroi"][path]
        _, roi_mask = outputs(roi_row)
        _, full_mask = outputs(full_row)
        ys, xs = np.nonzero(roi_mask)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        assert iou(roi_mask[box], full_mask[box]) >= 0.9, path


def test_colour_background_and_bad_specs(portrait_jpegs, tmp_path):
    rows = run_task(portrait_jpegs[:1], tmp_path, variant="fast", background="color:#00ff00")
    img, mask = outputs(rows[portrait_jpegs[0]])
    background = mask == 0
    assert np.abs(img[background] - [0, 255, 0]).mean() < 4  # BGR green, up to JPEG error
    for bad in ("colour:#00ff00", "color:green", "image:/no/such.png"):
        with pytest.raises(ValueError):
            parse_background(bad)


def test_weighted_nms_merges_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    out, out_scores = blazeface.weighted_nms(boxes, scores)
    assert out.shape == (2, 4) and out_scores.tolist() == pytest.approx([0.9, 0.8])
    np.testing.assert_allclose(out[0], (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5, rtol=1e-5)


def test_video_in_video_out(photos, tmp_path):
    import cv2

    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (320, 240))
    frames = []
    for k in range(6):
        frame = cv2.resize(photos[k % 2], (320, 240))
        cv2.putText(frame, str(k), (10, 230), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        frames.append(frame)
        writer.write(frame)
    writer.release()
    pool = BufferPool()
    result = sightspeed.run(build("portrait", {}, pool), [str(src)], tmp_path / "out",
                            executor=sightspeed.Pipelined(workers=2), pool=pool)
    (row,) = result.rows
    assert row["status"] == "ok" and row["frames"] == 6 and row["size"] == [320, 240]
    cap = cv2.VideoCapture(row["outputs"][0])
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    got = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        got.append(frame)
    assert len(got) == 6 and got[0].shape == (240, 320, 3)
    # frame order kept: each output frame is closest to its own input frame
    for k, frame in enumerate(got):
        dists = [np.abs(frame.astype(int) - f).mean() for f in frames]
        assert int(np.argmin(dists)) % 2 == k % 2
