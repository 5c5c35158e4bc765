"""Preprocessing pushed into the model graph: a fused model takes the decoded image as it is, uint8 (1, H, W, 3)
BGR, and does in its own graph what ``kernels.preprocess`` does on the host: cast to float, B<->R swap, the
per-channel affine ``x * a + b`` (a = scale / std, b = -mean / std, as :func:`kernels.preprocess.affine`), the
layout change, and optionally the bilinear resize.

The resize goes in-graph only where it matches the host's: ONNX ``Resize`` (linear, half_pixel) followed by
``Round`` is OpenCV's INTER_LINEAR sampled at the same points and rounded to uint8 as a uint8 resize does, up and
down (no antialiasing on either side); tests/test_fuse.py measures it on real photos. A model whose input size
varies per image (the OCR detector) keeps the resize on the host and fuses the rest (``size=None``).

Fused models are written once into the cache (``<cache>/fused/``), named by the source's sha256 and the fusion
parameters, atomically (built in a temporary folder, renamed into place), and reused. OpenVINO and TensorFlow:
:mod:`.fuse_backends`.

>>> p = Fusion(mean=(0.5,) * 3, std=(0.5,) * 3, scale=1 / 255, swap_rb=False)
>>> [round(float(v), 6) for v in p.affine()[0]], [float(v) for v in p.affine()[1]]
([0.007843, 0.007843, 0.007843], [-1.0, -1.0, -1.0])
>>> p.key() == Fusion((0.5,) * 3, (0.5,) * 3, 1 / 255, False).key() != Fusion(swap_rb=False).key()
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError, require
from ..files import sha256_file

POSTS = ("sigmoid", "threshold:T", "argmax")


@dataclass(frozen=True)
class Fusion:
    """What the fused graph does before (and after) the model: the host preprocess's parameters."""

    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    scale: float = 1 / 255
    swap_rb: bool = True
    size: tuple[int, int] | None = None  # (width, height) of an in-graph resize; None: the image comes at size
    post: str | None = None  # sigmoid | threshold:T | argmax

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3 or 0.0 in self.std:
            raise ValueError(f"fuse: mean and std need 3 values each and no zero std, got {self.mean}, {self.std}")
        if self.size is not None:
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.post is not None:
            threshold(self.post)  # a bad spec fails here, before any model is read

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        from ..kernels.preprocess import affine

        return affine(self.mean, self.std, self.scale)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def threshold(post: str) -> float | None:
    """The T of ``threshold:T`` (None for the other posts); ValueError naming the choices for a bad spec."""
    if post in ("sigmoid", "argmax"):
        return None
    if post.startswith("threshold:"):
        try:
            return float(post[10:])
        except ValueError:
            pass
    raise ValueError(f"fuse: post must be one of {', '.join(POSTS)}, not {post!r}")


def source_digest(path: Path) -> str:
    """sha256 of a model file, or of a folder's files (relative names and contents), e.g. a SavedModel."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path)}\0{sha256_file(f)}\0".encode())
    return h.hexdigest()


def cached(source: Path, kind: str, params: Fusion, artifact: str, build: Callable[[Path], None]) -> Path:
    """``<cache>/fused/<stem>-<source sha>-<kind>-<params key>/<artifact>``, made by ``build(folder)`` into a
    temporary folder that is renamed into place (a concurrent or interrupted build never leaves half a model)."""
    from .zoo import built_once, cache_dir

    source = Path(source)
    if not source.exists():
        raise ModelError(f"{source}: model file not found")
    final = cache_dir() / "fused" / f"{source.stem}-{source_digest(source)[:16]}-{kind}-{params.key()}"
    return built_once(final, artifact, build) / artifact


def fuse_onnx(path: str | Path, *, mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0),
              scale: float = 1 / 255, swap_rb: bool = True, size: tuple[int, int] | None = None,
              post: str | None = None) -> Path:
    """``path`` (an ONNX model with one float image input, NCHW or NHWC, 3 channels) with the preprocessing merged
    in front (``onnx.compose``): its input becomes ``image``, uint8 (1, H, W, 3) BGR. ``size`` = (width, height)
    resizes in-graph (then H, W are free); ``post`` appends ``sigmoid``, ``threshold:T`` (uint8 0/1) or
    ``argmax`` (over the channel axis) to the first output. Returns the cached fused file.

    Example: ``fuse_onnx(resolve("ppocr-det-v4"), mean=(0.5,) * 3, std=(0.5,) * 3, swap_rb=False)``.
    """
    params = Fusion(mean, std, scale, swap_rb, size, post)
    onnx = require("onnx", "onnx")
    path = Path(path)

    def build(folder: Path) -> None:
        try:
            model = onnx.load(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: onnx could not read it: {exc}") from exc
        onnx.save(fused_graph(model, params, str(path)), str(folder / "model.onnx"))

    return cached(path, "onnx", params, "model.onnx", build)


def image_input(shape: Sequence, where: str) -> str:
    """``nchw`` or ``nhwc`` for a 4-D, 3-channel image input shape (dims: int, or None / str when free)."""
    if len(shape) == 4 and shape[1] == 3:
        return "nchw"
    if len(shape) == 4 and shape[3] == 3:
        return "nhwc"
    raise ModelError(f"{where}: cannot fuse preprocessing: its input {list(shape)} is not a 3-channel image "
                     "(N, 3, H, W) or (N, H, W, 3)")


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def fused_graph(model, params: Fusion, where: str):
    """The ONNX ``model`` with the preprocessing graph in front and ``params.post`` behind (see :func:`fuse_onnx`)."""
    from onnx import TensorProto, compose, helper, numpy_helper

    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"{where}: cannot fuse preprocessing: it has {len(inputs)} inputs, not one image")
    dims = _dims(inputs[0])
    layout = image_input(dims, where)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise ModelError(f"{where}: cannot fuse preprocessing: opset {opset} (Resize and Round need 11 or later)")
    h, w = (dims[2], dims[3]) if layout == "nchw" else (dims[1], dims[2])
    if params.size is None:
        h, w = h or "height", w or "width"
    else:
        if (w, h) != (None, None) and (w, h) != params.size:
            raise ModelError(f"{where}: cannot resize in-graph to {params.size}: the model's input is {w}x{h}")
        h, w = "height", "width"
    a, b = params.affine()
    nodes = [helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["chw"], perm=[0, 3, 1, 2])]
    x = "chw"
    tensors = [numpy_helper.from_array(a.reshape(1, 3, 1, 1), "a"), numpy_helper.from_array(b.reshape(1, 3, 1, 1), "b")]
    if params.size is not None:
        sw, sh = params.size
        # opset 11-12 want roi and scales present (empty) next to sizes
        tensors += [numpy_helper.from_array(np.zeros(0, np.float32), "empty"),
                    numpy_helper.from_array(np.array([1, 3, sh, sw], np.int64), "sizes")]
        nodes += [helper.make_node("Resize", [x, "empty", "empty", "sizes"], ["resized"], mode="linear",
                                   coordinate_transformation_mode="half_pixel"),
                  helper.make_node("Round", ["resized"], ["rounded"])]  # as a uint8 resize rounds
        x = "rounded"
    if params.swap_rb:
        tensors.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), "rgb"))
        nodes.append(helper.make_node("Gather", [x, "rgb"], ["swapped"], axis=1))
        x = "swapped"
    nodes += [helper.make_node("Mul", [x, "a"], ["scaled"]), helper.make_node("Add", ["scaled", "b"], ["pre_out"])]
    if layout == "nhwc":
        nodes[-1].output[0] = "normal"
        nodes.append(helper.make_node("Transpose", ["normal"], ["pre_out"], perm=[0, 2, 3, 1]))
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, [1, h, w, 3])
    out = helper.make_tensor_value_info("pre_out", TensorProto.FLOAT, None)
    pre = helper.make_model(helper.make_graph(nodes, "preprocess", [image], [out], tensors),
                            opset_imports=list(model.opset_import), ir_version=model.ir_version)
    pre = compose.add_prefix(pre, "fuse_pre_")
    pre.graph.input[0].name = "image"  # the one name callers see
    for node in pre.graph.node:
        node.input[:] = ["image" if i == "fuse_pre_image" else i for i in node.input]
    fused = compose.merge_models(pre, model, io_map=[("fuse_pre_pre_out", inputs[0].name)])
    return fused if params.post is None else with_post(fused, params.post, where)


def with_post(model, post: str, where: str):
    """``model`` with ``post`` applied to its first output (the others pass through)."""
    from onnx import TensorProto, compose, helper, numpy_helper

    first = model.graph.output[0]
    dims = _dims(first)
    if first.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ModelError(f"{where}: post {post!r} needs a float output; {first.name} is not")
    tensors, name = [], f"{first.name}_{post.split(':')[0]}"
    t = threshold(post)
    if post == "sigmoid":
        nodes, kind = [helper.make_node("Sigmoid", ["y"], [name])], TensorProto.FLOAT
    elif t is not None:
        tensors = [numpy_helper.from_array(np.array(t, np.float32), "t")]
        nodes = [helper.make_node("Greater", ["y", "t"], ["above"]),
                 helper.make_node("Cast", ["above"], [name], to=TensorProto.UINT8)]
        kind = TensorProto.UINT8
    else:
        axis = 1 if len(dims) == 4 and (dims[1] or 0) > 1 else -1 if dims and (dims[-1] or 0) > 1 else None
        if axis is None:
            raise ModelError(f"{where}: post argmax needs a channel axis of more than one class; "
                             f"{first.name} is {dims}")
        nodes, kind = [helper.make_node("ArgMax", ["y"], [name], axis=axis, keepdims=1)], TensorProto.INT64
    shape = [d if d else f"d{i}" for i, d in enumerate(dims)]
    out_shape = shape if post != "argmax" else [1 if i == axis % len(dims) else d for i, d in enumerate(shape)]
    graph = helper.make_graph(nodes, "postprocess", [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(name, kind, out_shape)], tensors)
    tail = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    tail = compose.add_prefix(tail, "fuse_post_", rename_outputs=False)
    return compose.merge_models(model, tail, io_map=[(first.name, "fuse_post_y")])
