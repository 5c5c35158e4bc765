"""FLOPs of a model, counted from its graph: 2 x the multiply-accumulates of its convolutions and matrix
products (the ops that dominate CNN cost; element-wise ops are left out and said so).

- ONNX: shapes from ``onnx.shape_inference`` after fixing the inputs to the shapes actually run (dynamic
  dimensions need them); Conv = N*Cout*Hout*Wout*(Cin/group)*kh*kw, ConvTranspose = N*Cin*Hin*Win*(Cout/group)*kh*kw,
  MatMul = prod(output) * K, Gemm = M*N*K.
- TFLite: LiteRT's interpreter lists each op with its tensors' (static) shapes; CONV_2D = out elements * kh*kw*Cin,
  DEPTHWISE_CONV_2D = out elements * kh*kw, FULLY_CONNECTED = out elements * in features, TRANSPOSE_CONV (and
  MediaPipe's Convolution2DTransposeBias custom op) = in elements * kh*kw*Cout.
- TensorFlow (a SavedModel folder or a .keras file): the model's graph at the input shapes run, variables frozen and
  function calls inlined so every op has static shapes; Conv2D = out elements * kh*kw*Cin, DepthwiseConv2dNative =
  out elements * kh*kw, Conv2DBackpropInput (a transposed conv) = in elements * kh*kw*Cout, MatMul / BatchMatMul =
  out elements * K. Not cached (a SavedModel is a folder, not one file to hash).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from .._version import __version__
from ..files import sha256_file
from ..host import cache_dir


def tflite_flops(path: str | Path) -> float:
    """FLOPs of one invocation of a .tflite model at its declared input shape."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in it.get_tensor_details()}
    macs = 0
    for op in it._get_ops_details():
        name = op["op_name"]
        ins = [shapes.get(int(i)) for i in op["inputs"] if int(i) >= 0]
        outs = [shapes.get(int(i)) for i in op["outputs"]]
        if not outs or outs[0] is None or len(ins) < 2 or ins[1] is None:
            continue
        out, weights = outs[0], ins[1]
        if name == "CONV_2D" and len(weights) == 4:  # weights [Cout, kh, kw, Cin]
            macs += math.prod(out) * weights[1] * weights[2] * weights[3]
        elif name == "DEPTHWISE_CONV_2D" and len(weights) == 4:  # weights [1, kh, kw, Cout]
            macs += math.prod(out) * weights[1] * weights[2]
        elif name == "FULLY_CONNECTED" and len(weights) == 2:  # weights [out, in]
            macs += math.prod(out) * weights[1]
        elif name in ("TRANSPOSE_CONV", "Convolution2DTransposeBias"):
            data = ins[2] if name == "TRANSPOSE_CONV" and len(ins) > 2 else ins[0]
            if data is not None and len(weights) == 4:  # weights [Cout, kh, kw, Cin]
                macs += math.prod(data) * weights[0] * weights[1] * weights[2]
    return 2.0 * macs


def tensorflow_flops(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> float:
    """FLOPs of one call of a TensorFlow model (SavedModel folder or .keras file) with inputs of ``input_shapes``
    (name -> shape; an input not named runs at its declared shape with batch 1)."""
    from ..errors import require

    tf = require("tensorflow", "tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    _size_tf_pools(tf)
    if (Path(path) / "saved_model.pb").is_file():
        loaded = tf.saved_model.load(str(path))  # held while counting: the signature reads its variables
        signature = loaded.signatures["serving_default"]
        declared = signature.structured_input_signature[1]
        names = sorted(declared)
        specs = [(n, declared[n]) for n in names]

        def call(*xs):
            return signature(**dict(zip(names, xs)))
    else:
        import keras

        model = keras.saving.load_model(str(path), compile=False)
        specs = [(getattr(t, "name", None) or f"input_{i}", t) for i, t in enumerate(model.inputs)]

        def call(*xs):
            return model(xs[0] if len(xs) == 1 else list(xs), training=False)

    shapes = input_shapes or {}
    fixed = [tf.TensorSpec(shapes.get(n) or [d if d is not None else 1 for d in t.shape], t.dtype) for n, t in specs]
    concrete = tf.function(call, input_signature=fixed).get_concrete_function()
    # variables frozen to constants and function calls inlined: every op of the model, with static shapes
    return count_tf_graph(convert_variables_to_constants_v2(concrete).graph)


def _size_tf_pools(tf) -> None:  # noqa: ANN001 - the tensorflow module
    """Size TensorFlow's pools as ``sightspeed.runtimes.tensorflow`` does (this thread's share intra-op, 1
    inter-op) when this count is TensorFlow's first use in the process: a model load fixes them."""
    from ..cores import tensorflow_pools, threads_here

    tensorflow_pools(tf, threads_here())


def count_tf_graph(graph) -> float:  # noqa: ANN001 - a tf.Graph (tensorflow is an optional extra)
    """2 x the multiply-accumulates of the convolutions and matrix products of a TensorFlow graph with static
    shapes (ops whose shapes are not known are left out)."""
    macs = 0
    for op in graph.get_operations():
        if op.type not in ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2",
                           "BatchMatMulV3", "BatchMatMul"):
            continue
        ins = [t.shape.as_list() if t.shape.rank is not None else None for t in op.inputs]
        out = op.outputs[0].shape.as_list() if op.outputs[0].shape.rank is not None else None
        if out is None or None in out or any(s is None or None in s for s in ins):
            continue
        if op.type == "Conv2D":  # filter [kh, kw, Cin/group, Cout]
            macs += math.prod(out) * math.prod(ins[1][:3])
        elif op.type == "DepthwiseConv2dNative":  # filter [kh, kw, Cin, multiplier]
            macs += math.prod(out) * ins[1][0] * ins[1][1]
        elif op.type == "Conv2DBackpropInput":  # (sizes, filter [kh, kw, Cout, Cin], input)
            macs += math.prod(ins[2]) * ins[1][0] * ins[1][1] * ins[1][2]
        elif op.type == "MatMul":
            k = ins[0][0] if op.get_attr("transpose_a") else ins[0][-1]
            macs += math.prod(out) * k
        else:
            k = ins[0][-2] if op.get_attr("adj_x") else ins[0][-1]
            macs += math.prod(out) * k
    return 2.0 * macs


def onnx_flops(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> float:
    """FLOPs of one run of an .onnx model with inputs of ``input_shapes`` (name -> shape; needed for dynamic dims).
    Counted once per model file and shapes, then read from the cache (``SIGHTSPEED_CACHE/flops/``): shape inference
    over a 10 MB model takes ~0.3 s, which every run of a task paid at start-up."""
    key = _cache_key(path, input_shapes)
    cached = _cached(key)
    if cached is not None:
        return cached
    flops = _count_onnx(path, input_shapes)
    try:
        entry = cache_dir() / "flops" / f"{key}.json"
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.partial")
        tmp.write_text(json.dumps({"flops": flops, "model": str(path)}))
        os.replace(tmp, entry)
    except OSError:  # a read-only cache: counted again next time
        pass
    return flops


def _cache_key(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None) -> str:
    shapes = json.dumps(sorted((k, list(v)) for k, v in (input_shapes or {}).items()))
    return hashlib.sha256(f"{sha256_file(path)}|{shapes}|{__version__}".encode()).hexdigest()[:32]


def _cached(key: str) -> float | None:
    try:
        value = json.loads((cache_dir() / "flops" / f"{key}.json").read_text())["flops"]
        return float(value) if value >= 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _count_onnx(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> float:
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    graph = model.graph
    for inp in graph.input:
        shape = (input_shapes or {}).get(inp.name)
        if shape is None:
            continue
        dims = inp.type.tensor_type.shape.dim
        for dim, size in zip(dims, shape):
            dim.ClearField("dim_param")
            dim.dim_value = int(size)
    model = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for value in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        out = shapes.get(node.output[0], [])
        ins = [shapes.get(name, []) for name in node.input]
        if not out or 0 in out:
            continue
        if node.op_type == "Conv" and len(ins) > 1 and len(ins[1]) >= 3:
            w = ins[1]  # [Cout, Cin/group, kh, kw]
            macs += math.prod(out) * math.prod(w[1:])
        elif node.op_type == "ConvTranspose" and len(ins) > 1 and ins[0] and len(ins[1]) >= 3:
            w = ins[1]  # [Cin, Cout/group, kh, kw]
            macs += math.prod(ins[0]) * math.prod(w[1:])
        elif node.op_type == "MatMul" and len(ins) > 1 and ins[0]:
            macs += math.prod(out) * ins[0][-1]
        elif node.op_type == "Gemm" and len(ins) > 1 and ins[0]:
            k = ins[0][0] if attrs.get("transA", 0) else ins[0][-1]
            macs += math.prod(out) * k
    return 2.0 * macs


def model_flops(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> float | None:
    """FLOPs by file type; None when the counter's dependency (onnx for .onnx, tensorflow for .keras and SavedModel
    folders) is missing."""
    suffix = Path(path).suffix.lower()
    if suffix == ".keras" or (Path(path) / "saved_model.pb").is_file():
        try:
            return tensorflow_flops(path, input_shapes)
        except ImportError:
            return None
    if suffix == ".tflite":
        return tflite_flops(path)
    if suffix == ".onnx":
        try:
            return onnx_flops(path, input_shapes)
        except ImportError:
            return None
    return None
