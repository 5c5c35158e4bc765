from __future__ import annotations

import numpy as np
import pytest

import sightspeed
from sightspeed.io.decode import read_image
from sightspeed.io.pool import BufferPool
from sightspeed.models import fetch
from sightspeed.runtimes import load
from sightspeed import kernels
from sightspeed.kernels._registry import Op
from sightspeed.kernels.nms import iou_one_to_many
from sightspeed.tasks import build
from sightspeed.tasks.portrait import blazeface, reference
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
    return {  # the default edges (refined), and soft
        "reference": run_task(portrait_jpegs, tmp / "ref", variant="reference"),
        "fast": run_task(portrait_jpegs, tmp / "fast", sightspeed.Pipelined(workers=2), variant="fast"),
        "fast_noroi": run_task(portrait_jpegs, tmp / "noroi", variant="fast", roi=False),
        "reference_soft": run_task(portrait_jpegs, tmp / "ref_soft", variant="reference", edges="soft"),
        "fast_soft": run_task(portrait_jpegs, tmp / "fast_soft", variant="fast", edges="soft"),
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return (a & b).sum() / max(1, (a | b).sum())


def box_iou(a, b) -> float:
    return float(iou_one_to_many(np.asarray(a, np.float64), np.asarray([b], np.float64))[0])


def test_anchors_and_faces_on_real_photos(photos):
    """The fast detector (kernel ops) and the reference's own find the same one face in each sample photo."""
    assert blazeface.anchors().shape == (896, 2)
    rt = load(fetch("blazeface-short", quiet=True))
    for photo in photos:
        boxes, scores = blazeface.detect(rt, photo)
        assert len(boxes) == 1 and scores[0] > 0.75  # one person in each sample photo
        x0, y0, x1, y1 = boxes[0]
        h, w = photo.shape[:2]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and 0.1 < (x1 - x0) / w < 0.6
        (ref_score, ref_box), = reference.find_faces(rt, photo)
        assert box_iou(boxes[0], ref_box) >= 0.97 and abs(scores[0] - ref_score) < 0.02, (boxes[0], ref_box)


@pytest.mark.parametrize("edges", ["", "_soft"])
def test_fast_matches_reference(variants, portrait_jpegs, edges):
    """Mask IoU >= 0.99 and output mean |diff| <= 2 levels on every image; a failure lists every image's numbers."""
    from skimage.metrics import structural_similarity

    rows, bad = [], []
    for path in portrait_jpegs:
        ref_img, ref_mask = outputs(variants["reference" + edges][path])
        fast_img, fast_mask = outputs(variants["fast" + edges][path])
        assert ref_img.shape == fast_img.shape == read_image(path).shape
        m_iou = iou(ref_mask, fast_mask)
        diff = float(np.abs(ref_img - fast_img).mean())
        ssim = structural_similarity(ref_img.astype(np.uint8), fast_img.astype(np.uint8), channel_axis=2)
        row = f"{path.rsplit('/', 1)[-1]}: mask IoU {m_iou:.4f}, mean |diff| {diff:.2f} levels, SSIM {ssim:.4f}"
        rows.append(row)
        if m_iou < 0.99 or diff > 2.0 or ssim < 0.98:
            bad.append(row)
        # the person is kept sharp: inside the mask the output is the input (up to JPEG re-encoding)
        person = fast_mask >= 250
        assert person.mean() > 0.1
        assert np.abs(fast_img[person] - read_image(path).astype(int)[person]).mean() < 3
    assert not bad, "fast differs from reference:\n" + "\n".join(bad) + "\nall:\n" + "\n".join(rows)


def calls_to_kernel_ops(monkeypatch) -> list[str]:
    """Every kernel op called from now on (through the dispatcher), by name, from any thread."""
    called: list[str] = []
    dispatch = Op.__call__

    def spy(self, *args, **kwargs):
        called.append(self.name)
        return dispatch(self, *args, **kwargs)

    monkeypatch.setattr(Op, "__call__", spy)
    return called


def test_fast_variant_runs_on_the_kernel_ops(portrait_jpegs, tmp_path, monkeypatch):
    """What ships is what tests/contracts hold to the references: the fast variant's pre/post-processing goes
    through the dispatched kernel ops (a private copy in the task would not show up here)."""
    pool = BufferPool()
    pipeline = build("portrait", {"save_mask": True}, pool)
    called = calls_to_kernel_ops(monkeypatch)
    result = sightspeed.run(pipeline, portrait_jpegs[:1], tmp_path, executor=sightspeed.Serial(), pool=pool)
    assert result.failed == 0
    wanted = {"letterbox", "preprocess", "weighted_nms", "feather_mask", "refine_mask", "composite"}
    assert wanted <= set(called), called
    assert called.count("preprocess") == 2  # the detector's and the segmenter's inputs


def test_fast_variant_follows_a_forced_backend(portrait_jpegs, tmp_path, monkeypatch):
    """A use_backend scope reaches the task's kernels: forcing the numpy references gives the same mask."""
    pool = BufferPool()
    pipeline = build("portrait", {"save_mask": True}, pool)
    called = calls_to_kernel_ops(monkeypatch)
    picks = []
    pick = Op.pick
    monkeypatch.setattr(Op, "pick", lambda self, backend=None: picks.append(pick(self, backend)) or picks[-1])
    with kernels.use_backend("numpy"):
        result = sightspeed.run(pipeline, portrait_jpegs[:1], tmp_path / "numpy", executor=sightspeed.Serial(),
                                pool=pool)
    assert result.failed == 0 and called
    assert {name for name, _ in picks} == {"numpy"}, picks
    default = run_task(portrait_jpegs[:1], tmp_path / "default", variant="fast")
    _, forced_mask = outputs(result.rows[0])
    _, default_mask = outputs(default[portrait_jpegs[0]])
    assert iou(forced_mask, default_mask) >= 0.995


def test_reference_variant_is_independent():
    """The oracle imports neither the kernels nor the fast variant's modules: only the published constants."""
    import ast
    import inspect

    for module in (reference,):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        assert not any("kernels" in m or m.lstrip(".") in {"blazeface", "detect", "fast", "geometry"}
                       for m in imported), imported


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
    """The kernel op the fast variant calls and the reference's own agree on MediaPipe's weighted NMS."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    out, out_scores = kernels.weighted_nms(boxes, scores, blazeface.NMS_IOU)
    assert out.shape == (2, 4) and out_scores.tolist() == pytest.approx([0.9, 0.8])
    np.testing.assert_allclose(out[0], (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5, rtol=1e-5)
    merged = reference.weighted_nms([(float(s), b.tolist()) for s, b in zip(scores, boxes)])
    np.testing.assert_allclose([b for _, b in merged], out, rtol=1e-5)
    assert [s for s, _ in merged] == pytest.approx(out_scores.tolist())


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
