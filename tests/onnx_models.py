"""Small real ONNX graphs built with the onnx helper, for tests that need a model without the zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def matmul_chain(folder: Path, size: int = 384, depth: int = 12) -> tuple[str, float]:
    """y = x @ W1 @ W2 ... (``depth`` MatMuls of size x size): heavy enough that onnxruntime's intra-op pool
    splits every MatMul over its threads. Returns (path, FLOPs per call for a (size, size) input)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32) for _ in range(depth)]
    nodes = [helper.make_node("MatMul", ["x" if k == 0 else f"h{k}", f"w{k}"], ["y" if k == depth - 1 else f"h{k + 1}"])
             for k in range(depth)]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
                              [numpy_helper.from_array(w, f"w{k}") for k, w in enumerate(weights)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = Path(folder) / "chain.onnx"
    onnx.save(model, str(path))
    return str(path), 2.0 * size**3 * depth
