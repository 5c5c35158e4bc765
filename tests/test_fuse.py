"""Preprocessing fused into the model graph (models/fuse.py, models/fuse_backends.py) against the plain pipeline:
the host ``preprocess`` op's reference (numpy) and the unfused model, on the real zoo models and sample photos.

Tolerances, and why:
- the fused graph's own preprocessing against ``preprocess_reference``: the op's stated tolerance (one uint8 level
  of the resize, in output units, plus float32 rounding): an in-graph resize is bilinear at the same half-pixel
  centres, rounded to levels, and lands within one level of the reference (measured: <= 3% of values one level
  off, the rest equal; OpenCV's own fixed-point resize is one level off on ~12%);
- a fused model against the unfused one on the same uint8 pixels: 1e-3 on the outputs (the inputs differ only by
  float32 rounding of x * a + b against (x * scale - mean) / std, ~1e-7, which the PP-OCR detector amplifies to
  ~2e-5; BlazeFace on OpenVINO against LiteRT differs by ~2e-4: two runtimes);
- task fidelity: identical DB boxes (ppocr-det-v4), the same face box (IoU >= 0.99, BlazeFace), and for whole
  runs the bounds tests/test_portrait.py and tests/test_ocr.py hold the fast variant to against the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sightspeed import kernels
from sightspeed.errors import ModelError
from sightspeed.io.decode import read_image
from sightspeed.kernels.preprocess import preprocess_reference
from sightspeed.models import resolve
from sightspeed.runtimes import load

onnx = pytest.importorskip("onnx", reason="onnx is not installed (it comes with the onnx / test extras)")

SIZES = [(1024, 1024), (640, 640), (700, 300), (256, 256), (96, 80)]  # up, down, and mixed, from 600x512 / 512x512
DET = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "scale": 1 / 255, "swap_rb": False}  # PP-OCR's
ODD = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "scale": 1 / 255, "swap_rb": True}  # ImageNet


def identity_onnx(folder: Path, layout: str, channels: int = 3) -> Path:
    """An ONNX model that returns its float image input: what comes out is what the fused graph fed it."""
    from onnx import TensorProto, helper

    shape = [1, channels, None, None] if layout == "nchw" else [1, None, None, channels]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    path = folder / f"identity_{layout}_{channels}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


def tolerance(params: dict) -> float:
    return kernels.preprocess.tolerance_for("numpy", params).atol


@pytest.fixture(scope="module")
def identities(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("identity")
    return {layout: identity_onnx(folder, layout) for layout in ("nchw", "nhwc")}


def fused_preprocess(fuse, path: Path, runtime: str, image: np.ndarray, params: dict, size, layout: str):
    """The fused identity model's output for ``image``, as the NCHW the reference gives."""
    (y,) = load(fuse(path, **params, size=size), runtime, threads=1).run(image[None])
    return y if layout == "nchw" else y.transpose(0, 3, 1, 2)


def fusers() -> list:
    found = [pytest.param("onnx", id="onnx")]
    found.append(pytest.param("openvino", id="openvino", marks=pytest.mark.skipif(
        not _has("openvino"), reason="the openvino extra is not installed: pip install 'sightspeed[openvino]'")))
    return found


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def fuser(kind: str):
    if kind == "onnx":
        from sightspeed.models.fuse import fuse_onnx

        return fuse_onnx, "onnxruntime"
    from sightspeed.models.fuse_backends import fuse_openvino

    return fuse_openvino, "openvino"


@pytest.mark.parametrize("kind", fusers())
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_in_graph_preprocess_matches_the_reference(kind, layout, identities, photos):
    """Cast, swap, affine, layout and the in-graph resize (up and down) against the numpy reference, within the
    op's tolerance; without a resize (the image comes at size) only float32 rounding differs."""
    fuse, runtime = fuser(kind)
    for photo in photos:
        before = photo.copy()
        for params in (DET, ODD):
            for size in SIZES:
                got = fused_preprocess(fuse, identities[layout], runtime, photo, params, size, layout)
                want = preprocess_reference(photo, size, **params)
                assert np.abs(got - want).max() <= tolerance(params), (kind, layout, params, size)
            at_size = fused_preprocess(fuse, identities[layout], runtime, photo, params, None, layout)
            want = preprocess_reference(photo, (photo.shape[1], photo.shape[0]), **params)
            np.testing.assert_allclose(at_size, want, atol=1e-5)
        np.testing.assert_array_equal(photo, before)  # inputs are not modified


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    from ocr_pages import LINES, render_page

    return [render_page(LINES[:5], 30, seed=0), render_page(LINES[5:], 22, width=900, seed=1)]


def db_run(rt, x: np.ndarray, h: int, w: int):
    from sightspeed.tasks.ocr.dbnet import db_boxes

    prob = rt.run(x)[0][0, 0]
    return prob, db_boxes(prob, h, w)


def test_ppocr_detector_fused_onnx_gives_the_same_boxes(pages, photos):
    """ppocr-det-v4 with its normalisation in the graph, fed the same resized uint8 pixels as the host path:
    outputs within 1e-3, identical DB boxes and scores (pages of text, and photos: no text, few boxes)."""
    from sightspeed.models.fuse import fuse_onnx
    from sightspeed.tasks.ocr.dbnet import input_size, model_input

    det = resolve("ppocr-det-v4")
    plain, fused = load(det, threads=1), load(fuse_onnx(det, **DET), threads=1)
    assert fused.inputs[0].dtype == "uint8" and fused.inputs[0].shape == (1, None, None, 3)
    for image in [*pages, *photos]:
        h, w = image.shape[:2]
        small = model_input(image, fused=True)
        assert small.shape == (1, *input_size(h, w), 3) and small.dtype == np.uint8
        x = preprocess_reference(small[0], (small.shape[2], small.shape[1]), **DET)
        prob0, (boxes0, scores0) = db_run(plain, x, h, w)
        prob1, (boxes1, scores1) = db_run(fused, small, h, w)
        assert np.abs(prob0 - prob1).max() <= 1e-3
        np.testing.assert_array_equal(boxes0, boxes1)
        np.testing.assert_allclose(scores0, scores1, atol=1e-4)
    assert len(db_run(plain, model_input(pages[0]), *pages[0].shape[:2])[1][0]) == 5  # the check saw real boxes


def test_ppocr_detector_with_an_in_graph_resize(pages):
    """The resize in the graph too (a fixed size: a page scaled to 640 wide): boxes within a pixel of the host
    path's (the resize is within one level of the host's, which moves a DB contour by at most a pixel)."""
    from sightspeed.models.fuse import fuse_onnx

    det = resolve("ppocr-det-v4")
    plain, fused = load(det, threads=1), load(fuse_onnx(det, **DET, size=(640, 352)), threads=1)
    page = pages[0]
    h, w = page.shape[:2]
    _, (boxes0, _) = db_run(plain, kernels.preprocess(page, (640, 352), **DET), h, w)
    _, (boxes1, _) = db_run(fused, page[None], h, w)
    assert len(boxes0) == len(boxes1) == 5
    assert np.abs(boxes0 - boxes1).max() <= 2  # pixels of the page, after the 1.7x upscale of the map


@pytest.mark.skipif(not _has("openvino"), reason="the openvino extra is not installed")
def test_blazeface_fused_openvino_finds_the_same_face(photos):
    """BlazeFace's normalisation in OpenVINO IR made from the .tflite, fed the letterboxed uint8 canvas, against
    LiteRT on the host-normalised input: outputs within 1e-3, the same face (box IoU >= 0.99, score +-1e-3)."""
    from sightspeed.kernels.nms import iou_one_to_many
    from sightspeed.models.fuse_backends import fuse_openvino
    from sightspeed.tasks.portrait import blazeface

    det = resolve("blazeface-short")
    plain, fused = load(det, threads=1), load(fuse_openvino(det, **blazeface.NORMALIZE), "openvino", threads=1)
    for photo in photos:
        x, _ = blazeface.model_input(photo)
        canvas, _ = blazeface.model_input(photo, fused=True)
        assert canvas.dtype == np.uint8 and canvas.shape == (1, 128, 128, 3)
        for a, b in zip(plain.run(x), fused.run(canvas)):
            assert np.abs(a - b).max() <= 1e-3
        (box0,), (score0,) = blazeface.detect(plain, photo)
        (box1,), (score1,) = blazeface.detect(fused, photo, fused=True)
        assert iou_one_to_many(box0.astype(np.float64), box1[None].astype(np.float64))[0] >= 0.99
        assert abs(score0 - score1) <= 1e-3


@pytest.mark.skipif(not _has("openvino"), reason="the openvino extra is not installed")
def test_the_selfie_segmenter_cannot_be_fused_and_says_why():
    """OpenVINO has no translator for MediaPipe's custom op, and onnx cannot read a .tflite: errors name the file."""
    from sightspeed.models.fuse import fuse_onnx
    from sightspeed.models.fuse_backends import fuse_openvino

    seg = resolve("selfie-seg")
    why = r"(?s)selfie_segmentation\.tflite: OpenVINO could not read it.*Convolution2DTransposeBias"
    with pytest.raises(ModelError, match=why):
        fuse_openvino(seg)
    with pytest.raises(ModelError, match=r"selfie_segmentation\.tflite: onnx could not read it"):
        fuse_onnx(seg)


def test_post_steps_match_numpy(identities, tmp_path, photos):
    """sigmoid, threshold:T and argmax appended to the first output equal numpy's on that output."""
    from sightspeed.models.fuse import fuse_onnx

    photo = photos[0]
    ident = identities["nchw"]
    x = load(fuse_onnx(ident, **ODD), threads=1).run(photo[None])[0]
    (s,) = load(fuse_onnx(ident, **ODD, post="sigmoid"), threads=1).run(photo[None])
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x.astype(np.float64))), atol=1e-6)
    (t,) = load(fuse_onnx(ident, **ODD, post="threshold:0.25"), threads=1).run(photo[None])
    assert t.dtype == np.uint8 and (t == (x > 0.25)).all()
    (m,) = load(fuse_onnx(ident, **ODD, post="argmax"), threads=1).run(photo[None])
    np.testing.assert_array_equal(m, x.argmax(axis=1)[:, None])
    det = resolve("ppocr-det-v4")
    with pytest.raises(ModelError, match=r"ch_PP-OCRv4_det_infer\.onnx: post argmax needs a channel axis"):
        fuse_onnx(det, **DET, post="argmax")
    with pytest.raises(ValueError, match="post must be one of sigmoid, threshold:T, argmax"):
        fuse_onnx(ident, post="softmax")


def test_models_that_are_no_image_model_are_refused_by_name(tmp_path):
    from sightspeed.models.fuse import fuse_onnx

    grey = identity_onnx(tmp_path, "nchw", channels=1)
    with pytest.raises(ModelError, match=r"identity_nchw_1\.onnx: cannot fuse preprocessing: its input"):
        fuse_onnx(grey)
    with pytest.raises(ModelError, match=r"nothing\.onnx: model file not found"):
        fuse_onnx(tmp_path / "nothing.onnx")
    with pytest.raises(ValueError, match="no zero std"):
        fuse_onnx(grey, std=(1.0, 0.0, 1.0))


def test_fused_models_are_cached_by_source_and_parameters(tmp_path, monkeypatch):
    """Made once (a second call reuses the file), a new file for other parameters or another source, nothing
    half-written left behind."""
    from sightspeed.models.fuse import fuse_onnx

    ident = identity_onnx(tmp_path, "nchw")
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path / "cache"))
    first = fuse_onnx(ident, **DET)
    assert first.is_file() and first.parent.parent == tmp_path / "cache" / "fused"
    stamp = first.stat().st_mtime_ns
    assert fuse_onnx(ident, **DET) == first and first.stat().st_mtime_ns == stamp
    assert fuse_onnx(ident, **ODD) != first
    assert fuse_onnx(ident, **DET, size=(64, 64)) != first
    ident.write_bytes(identity_onnx(tmp_path / "..", "nchw").read_bytes().replace(b"identity", b"identitx"))
    assert fuse_onnx(ident, **DET) != first  # the source changed: its sha256 names the fused file
    leftovers = [p for p in (tmp_path / "cache" / "fused").iterdir() if p.name.startswith(".")]
    assert leftovers == [] and len(os.listdir(tmp_path / "cache" / "fused")) == 4


def test_tensorflow_saved_model_fused(tmp_path, photos):
    """A tiny Keras model (NHWC, Conv2D) exported as a SavedModel, fused with tf.function: its output on the
    uint8 image equals the model's on the host reference's input; an NCHW model gets the transpose."""
    tf = pytest.importorskip("tensorflow", reason="the tensorflow extra is not installed")
    import keras

    from sightspeed.models.fuse_backends import fuse_tensorflow
    from sightspeed.runtimes.tensorflow import apply_threads

    apply_threads(tf, 2)  # before the first TensorFlow op of this process (the pools are sized once)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    model.export(str(tmp_path / "nhwc"), verbose=False)
    photo = photos[0]
    plain = load(tmp_path / "nhwc", threads=2)
    for size in (None, (64, 64)):
        fused = load(fuse_tensorflow(tmp_path / "nhwc", **ODD, size=size), threads=2)
        assert fused.inputs[0].dtype == "uint8"
        image = kernels.crop_resize(photo, np.array([[0, 0, 512, 600]]), (64, 64))[0] if size is None else photo
        x = preprocess_reference(image, (64, 64), **ODD, layout="nhwc")
        (want,), (got,) = plain.run(x), fused.run(image[None])
        # a resize within one level of the reference (x 1 / 0.225 / 255 per level), through a 3x3x3 conv
        atol = 1e-4 if size is None else 27 * tolerance(ODD) * float(np.abs(model.get_weights()[0]).max())
        assert np.abs(want - got).max() <= atol, size

    class Nchw(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 3, 32, 32], tf.float32)])
        def __call__(self, x):
            return {"y": x * 1.0}

    module = Nchw()
    tf.saved_model.save(module, str(tmp_path / "nchw"), signatures={"serving_default": module.__call__})
    small = np.ascontiguousarray(photo[:32, :32])
    (got,) = load(fuse_tensorflow(tmp_path / "nchw", **DET), threads=2).run(small[None])
    np.testing.assert_allclose(got, preprocess_reference(small, (32, 32), **DET), atol=1e-5)


@pytest.mark.skipif(not _has("openvino"), reason="the openvino extra is not installed")
def test_portrait_with_fuse_preprocess_matches_a_run_without(portrait_jpegs, tmp_path):
    """The portrait task's switch: the same bounds tests/test_portrait.py holds fast to reference (mask IoU >=
    0.99, output mean |diff| <= 2 levels), and the same faces."""
    from test_portrait import iou, outputs, run_task

    plain = run_task(portrait_jpegs, tmp_path / "plain", variant="fast")
    fused = run_task(portrait_jpegs, tmp_path / "fused", variant="fast", fuse_preprocess=True)
    for path in portrait_jpegs:
        (img0, mask0), (img1, mask1) = outputs(plain[path]), outputs(fused[path])
        assert iou(mask0, mask1) >= 0.99 and np.abs(img0 - img1).mean() <= 2.0, path
    with pytest.raises(ValueError, match="--fuse-preprocess applies to the fast variant"):
        run_task(portrait_jpegs[:1], tmp_path / "ref", variant="reference", fuse_preprocess=True)


def test_ocr_with_fuse_preprocess_matches_a_run_without(tmp_path):
    """The OCR task's switch: the bounds tests/test_ocr.py holds fast to reference (>= 99% of lines read the same,
    every box IoU >= 0.95)."""
    from ocr_pages import make_pages
    from test_ocr import pair_lines, run_ocr

    truth = make_pages(tmp_path / "pages")
    inputs = [str(tmp_path / "pages" / name) for name in truth]
    plain = run_ocr(inputs, tmp_path / "plain", variant="fast")
    fused = run_ocr(inputs, tmp_path / "fused", variant="fast", fuse_preprocess=True)
    same = total = 0
    for name in plain:
        for f, r, box_iou in pair_lines(fused[name]["lines"], plain[name]["lines"]):
            total += 1
            same += bool(f and r and f["text"] == r["text"])
            assert box_iou >= 0.95, (name, f, r)
    assert total and same / total >= 0.99


@pytest.mark.parametrize("task", ["portrait", "ocr"])
def test_tune_turns_the_switch(task):
    """tune's search space has the switch (the task's TUNING), and its neighbours include the fused run."""
    from sightspeed.tune.space import Candidate, Space, normal, switches

    space = Space.of(task)
    assert "fuse_preprocess" in space.knobs() and space.defaults["fuse_preprocess"] is False
    base = normal(Candidate(), space)
    assert any(c.opts["fuse_preprocess"] is True for c in switches(base, space))
