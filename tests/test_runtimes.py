from __future__ import annotations

import numpy as np
import pytest

from sightspeed.errors import ModelError
from sightspeed.models import fetch
from sightspeed.runtimes import load



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


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """y = relu(conv3x3_same(x) + b), NHWC, written as a .tflite flatbuffer with the schema LiteRT ships (no
    TensorFlow needed); the batch dimension is dynamic (shape signature -1), its stored shape 1."""
    flatbuffers = pytest.importorskip("flatbuffers")
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # (out, kh, kw, in): TFLite's filter layout
    b = rng.standard_normal(4).astype(np.float32)

    def tensor(name, shape, buffer=0, signature=None):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), schema.TensorType.FLOAT32, buffer
        t.shapeSignature = list(signature) if signature else None
        return t

    def buffer(array=None):
        buf = schema.BufferT()
        buf.data = None if array is None else list(array.tobytes())
        return buf

    graph = schema.SubGraphT()
    graph.tensors = [tensor("x", (1, 8, 8, 3), 0, (-1, 8, 8, 3)), tensor("w", w.shape, 1), tensor("b", b.shape, 2),
                     tensor("y", (1, 8, 8, 4), 0, (-1, 8, 8, 4))]
    graph.inputs, graph.outputs = [0], [3]
    conv = schema.OperatorT()
    conv.opcodeIndex, conv.inputs, conv.outputs = 0, [0, 1, 2], [3]
    conv.builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
    conv.builtinOptions = schema.Conv2DOptionsT()
    conv.builtinOptions.padding, conv.builtinOptions.strideW, conv.builtinOptions.strideH = schema.Padding.SAME, 1, 1
    conv.builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.RELU
    graph.operators = [conv]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CONV_2D
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [buffer(), buffer(w), buffer(b)]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(builder.Output())
    return path, w, b


def conv_reference_nhwc(x, w, b):
    n, h, wd, _ = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, wd, w.shape[0]), np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nhwc,oc->nhwo", xp[:, i:i + h, j:j + wd], w[:, i, j, :])
    return np.maximum(out + b, 0)


def test_litert_resizes_the_batch_between_calls(tiny_tflite):
    path, w, b = tiny_tflite
    rt = load(path)
    assert rt.name == "litert" and rt.inputs[0].shape == (1, 8, 8, 3) and rt.outputs[0].shape == (1, 8, 8, 4)
    rng = np.random.default_rng(1)
    results = {}
    for n in (1, 3, 2, 3, 1):  # grow, shrink, grow again, back to the stored shape
        x = rng.standard_normal((n, 8, 8, 3)).astype(np.float32)
        (y,) = rt.run(x)
        assert y.shape == (n, 8, 8, 4)
        np.testing.assert_allclose(y, conv_reference_nhwc(x, w, b), atol=1e-4)
        assert rt.inputs[0].shape == (n, 8, 8, 3) and rt.outputs[0].shape == (n, 8, 8, 4)  # what it runs now
        results[n] = x, y
    for x, y in results.values():  # an earlier call's result is the caller's: later calls did not overwrite it
        np.testing.assert_allclose(y, conv_reference_nhwc(x, w, b), atol=1e-4)
    x, y = results[3]
    for k in range(3):  # each row of a batch is that image on its own
        np.testing.assert_allclose(rt.run(x[k:k + 1])[0], y[k:k + 1], atol=1e-5)
    # a strided float64 batch is converted (a contiguous float32 copy), not misread
    wide = rng.standard_normal((2, 8, 16, 3))
    (y,) = rt.run(wide[:, :, ::2])
    np.testing.assert_allclose(y, conv_reference_nhwc(wide[:, :, ::2].astype(np.float32), w, b), atol=1e-4)


def test_litert_runs_the_zoo_detector_repeatably():
    rt = load(fetch("blazeface-short", quiet=True))
    assert rt.inputs[0].shape == (1, 128, 128, 3)
    assert [s.shape for s in rt.outputs] == [(1, 896, 16), (1, 896, 1)]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    reg, scores = rt.run(x)
    assert reg.shape == (1, 896, 16) and np.isfinite(reg).all()
    again, _ = rt.run(x.copy())
    np.testing.assert_array_equal(reg, again)


def test_load_errors():
    with pytest.raises(ModelError, match="not found"):
        load("missing.onnx")
    with pytest.raises(ModelError, match="does not take .tflite"):
        load(fetch("blazeface-short", quiet=True), "onnxruntime")
