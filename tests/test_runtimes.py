from __future__ import annotations

import numpy as np
import pytest

from sightspeed.errors import ModelError
from sightspeed.models import fetch
from sightspeed.runtimes import load
from sightspeed.runtimes.base import PerThread, warmup


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """y = relu(conv3x3(x) + b) built with the onnx helper: a real graph, no zoo needed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, path)
    return path, w, b


def conv_reference(x, w, b):
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd), np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return np.maximum(out + b[None, :, None, None], 0)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_onnx_runtimes_match_numpy(tiny_onnx, runtime):
    path, w, b = tiny_onnx
    rt = load(path, runtime, threads=1)
    assert [s.name for s in rt.inputs] == ["x"] and rt.inputs[0].shape == (None, 3, 8, 8)
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    (y,) = rt.run(x)
    np.testing.assert_allclose(y, conv_reference(x, w, b), atol=1e-4)


def test_litert_runs_the_zoo_detector_and_resizes_batches():
    rt = load(fetch("blazeface-short", quiet=True))
    assert rt.inputs[0].shape == (1, 128, 128, 3)
    assert [s.shape for s in rt.outputs] == [(1, 896, 16), (1, 896, 1)]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    reg, scores = rt.run(x)
    assert reg.shape == (1, 896, 16) and np.isfinite(reg).all()
    again, _ = rt.run(x.copy())
    np.testing.assert_array_equal(reg, again)


def test_per_thread_gives_each_thread_its_own_runtime(tiny_onnx):
    import threading

    made = []
    holder = PerThread(lambda: made.append(load(tiny_onnx[0])) or made[-1], ready=1)
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("t", holder.get()))
    main = holder.get()
    t.start()
    t.join()
    assert main is made[0] and got["t"] is made[1] and holder.get() is main  # the thread loaded its own
    warmup(main, batch=2)
    made.clear()
    holder = PerThread(lambda: made.append(load(tiny_onnx[0])) or made[-1], ready=2)
    assert len(made) == 2  # loaded up front, outside any timed region
    t = threading.Thread(target=lambda: got.__setitem__("t", holder.get()))
    t.start()
    t.join()
    assert holder.sample() in made and len(made) == 2  # sample() reads without binding an instance
    assert {id(holder.get()), id(got["t"])} == {id(m) for m in made} and len(made) == 2


def test_load_errors():
    with pytest.raises(ModelError, match="not found"):
        load("missing.onnx")
    with pytest.raises(ModelError, match="does not take .tflite"):
        load(fetch("blazeface-short", quiet=True), "onnxruntime")
