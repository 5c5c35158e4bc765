"""`sightspeed models convert ppocr-det-v4 --to tensorflow`: a real pretrained model from a wheel, converted by
onnx2tf into a SavedModel in the cache, held against the ONNX original on rendered text pages (max abs diff of the
probability map <= 1e-3, identical DB boxes at threshold 0.3), the source file left as it was, the result reused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sightspeed.models import convert, zoo

pytestmark = pytest.mark.skipif(bool(convert.missing()),
                                reason=f"the converter is not installed ({', '.join(convert.missing())}): "
                                       f"{convert.INSTALL}")

SIZE = (960, 960)  # H, W


@pytest.fixture(scope="module")
def cache(converted_cache):
    return converted_cache[0]


@pytest.fixture(scope="module")
def converted(converted_cache):
    return converted_cache[1]


def test_the_converted_detector_gives_the_onnx_boxes_on_text_pages(converted, tmp_path):
    import cv2

    from ocr_pages import make_pages
    from sightspeed import kernels
    from sightspeed.runtimes import load
    from sightspeed.tasks.ocr import dbnet
    from sightspeed.tasks.ocr.published import MEAN, SCALE, STD

    tf_model = load(str(converted), threads=2)  # the thread count test_tensorflow's module asks for too
    onnx_model = load(str(zoo.resolve("ppocr-det-v4")), threads=2)
    assert tf_model.name == "tensorflow" and tf_model.inputs[0].shape == (1, 3, *SIZE)
    pages = make_pages(tmp_path / "pages")
    boxes_seen = 0
    for name in pages:
        image = cv2.imread(str(tmp_path / "pages" / name))
        x = kernels.preprocess(image, SIZE[::-1], mean=MEAN, std=STD, scale=SCALE, swap_rb=False)
        want = onnx_model.run(x)[0]
        got = tf_model.run(x)[0]
        assert got.shape == want.shape == (1, 1, *SIZE)
        assert np.abs(got - want).max() <= 1e-3, name
        want_boxes = dbnet.db_boxes(want[0, 0], *image.shape[:2])[0]
        got_boxes = dbnet.db_boxes(got[0, 0], *image.shape[:2])[0]
        np.testing.assert_array_equal(got_boxes, want_boxes, err_msg=name)
        boxes_seen += len(want_boxes)
    assert boxes_seen >= 15  # the pages' text lines were found, so the equal boxes say something


def test_the_record_names_the_source_and_the_source_file_is_untouched(converted):
    record = convert.info(converted)
    entry = zoo.ENTRIES["ppocr-det-v4"]
    assert record["source_sha256"] == entry.sha256 and record["shape"] == [1, 3, *SIZE]
    assert record["max_abs_diff"] <= convert.TOLERANCE and record["versions"]["onnx2tf"]
    assert zoo.sha256_of(zoo.resolve("ppocr-det-v4")) == entry.sha256  # onnx2tf saves over its input: it got a copy
    assert not list(converted.parent.glob(".convert-*"))  # the work folder is gone


def test_a_second_convert_reuses_the_cached_model_and_the_cli_prints_it(converted, cache):
    stamp = (converted / "sightspeed.json").stat().st_mtime_ns
    env = {**os.environ, "SIGHTSPEED_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-m", "sightspeed", "models", "convert", "ppocr-det-v4", "--to",
                           "tensorflow", "--size", "960x960"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert str(converted) in done.stdout and "max abs diff" in done.stdout
    assert (converted / "sightspeed.json").stat().st_mtime_ns == stamp


def test_usage_and_setup_errors_are_one_line(monkeypatch, tmp_path):
    done = subprocess.run([sys.executable, "-m", "sightspeed", "models", "convert", "ppocr-det-v4", "--to", "onnx"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == "error: --to onnx: the only target is tensorflow"
    monkeypatch.setattr(convert, "_NEEDS", (*convert._NEEDS, "no_such_converter_module"))
    with pytest.raises(convert.MissingDependency, match="no_such_converter_module.*pip install --no-deps onnx2tf"):
        convert.to_tensorflow("ppocr-det-v4")


def test_a_model_that_is_not_an_image_model_is_refused_with_the_reason(monkeypatch, tmp_path):
    from onnx_models import matmul_chain

    path, _ = matmul_chain(tmp_path, size=8, depth=1)
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path / "cache"))
    with pytest.raises(convert.ModelError, match="only NCHW images convert"):
        convert.to_tensorflow(path)
    assert not list((tmp_path / "cache" / "converted").iterdir())


def test_the_converted_folder_is_a_savedmodel_of_its_own(converted):
    assert (converted / "saved_model.pb").is_file() and (converted / "variables").is_dir()
    assert json.loads((converted / "sightspeed.json").read_text())["outputs"] == ["sigmoid_0_tmp_0"]
    assert Path(converted).name.startswith("ch_PP-OCRv4_det_infer-d2a7720d45a5-960x960")
