"""Preprocessing fused into OpenVINO IR (``openvino.preprocess.PrePostProcessor``) and into a TensorFlow
SavedModel (a ``tf.function`` around the model's ``serving_default``). Same input and same math as
:func:`sightspeed.models.fuse.fuse_onnx`: uint8 (1, H, W, 3) BGR in; cast, optional bilinear resize rounded to
uint8 levels, optional B<->R swap, ``x * a + b`` per channel, the model's layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ModelError, require
from .fuse import Fusion, cached, image_input


def fuse_openvino(path: str | Path, *, mean: Sequence[float] = (0.0, 0.0, 0.0),
                  std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                  size: tuple[int, int] | None = None) -> Path:
    """``path`` (.onnx, .tflite or .xml, one 3-channel image input) as OpenVINO IR with the preprocessing in its
    graph; returns the cached ``model.xml`` (weights kept f32). ``size`` = (width, height) resizes in-graph
    (OpenVINO's linear resize, then rounded to levels as a uint8 resize does): the image may then be any size.
    Raises :class:`~sightspeed.errors.MissingDependency` naming the extra when openvino is not installed.

    Example: ``load(fuse_openvino(resolve("selfie-seg")), "openvino")`` takes the ROI as decoded, at 256 x 256.
    """
    params = Fusion(mean, std, scale, swap_rb, size)
    ov = require("openvino", "openvino")
    path = Path(path)

    def build(folder: Path) -> None:
        from openvino import Layout, Type
        from openvino import opset13 as ops
        from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

        try:
            model = ov.Core().read_model(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: OpenVINO could not read it: {exc}") from exc
        if len(model.inputs) != 1:
            raise ModelError(f"{path}: cannot fuse preprocessing: it has {len(model.inputs)} inputs, not one image")
        shape = [None if d.is_dynamic else d.get_length() for d in model.input().get_partial_shape()]
        layout = image_input(shape, str(path))
        a, b = params.affine()
        ppp = PrePostProcessor(model)
        inp = ppp.input()
        inp.tensor().set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
        inp.model().set_layout(Layout(layout.upper()))
        steps = inp.preprocess()
        steps.convert_element_type(Type.f32)
        if size is not None:
            inp.tensor().set_spatial_dynamic_shape()
            steps.resize(ResizeAlgorithm.RESIZE_LINEAR, params.size[1], params.size[0])
            steps.custom(lambda node: ops.round(node, "half_to_even").output(0))  # as a uint8 resize rounds
        if swap_rb:
            steps.convert_color(ColorFormat.RGB)
        # (x - m) / s with m = -b / a, s = 1 / a: the same affine, in the model's channel order
        steps.mean([float(-bb / aa) for aa, bb in zip(a, b)]).scale([float(1 / aa) for aa in a])
        ov.save_model(ppp.build(), str(folder / "model.xml"), compress_to_fp16=False)

    return cached(path, "openvino", params, "model.xml", build)


def fuse_tensorflow(saved_model_dir: str | Path, *, mean: Sequence[float] = (0.0, 0.0, 0.0),
                    std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                    size: tuple[int, int] | None = None) -> Path:
    """A SavedModel whose ``serving_default`` takes ``image``, uint8 (1, H, W, 3) BGR, preprocesses it in a
    ``tf.function`` and calls ``saved_model_dir``'s own ``serving_default`` (one 3-channel image input); returns
    the cached SavedModel folder. ``size`` resizes in-graph (``tf.image.resize`` bilinear: half-pixel centres,
    no antialiasing, as OpenCV's INTER_LINEAR), rounded to levels.

    Example: ``load(fuse_tensorflow("my_saved_model", mean=(127.5,) * 3, std=(127.5,) * 3, scale=1.0))``.
    """
    from ..cores import tensorflow_pools, threads_here

    params = Fusion(mean, std, scale, swap_rb, size)
    tf = require("tensorflow", "tensorflow")
    tensorflow_pools(tf, threads_here())  # the load below is this process's first TensorFlow op, if nothing ran yet
    src = Path(saved_model_dir)
    if src.exists() and not (src / "saved_model.pb").is_file():
        raise ModelError(f"{src}: not a SavedModel folder (it holds no saved_model.pb)")

    def build(folder: Path) -> None:
        loaded = tf.saved_model.load(str(src))
        serve = loaded.signatures.get("serving_default")
        if serve is None:
            raise ModelError(f"{src}: cannot fuse preprocessing: the SavedModel has no serving_default signature")
        specs = serve.structured_input_signature[1]
        if len(specs) != 1:
            raise ModelError(f"{src}: cannot fuse preprocessing: serving_default takes {len(specs)} inputs, not one")
        (name, spec), = specs.items()
        layout = image_input(spec.shape.as_list(), str(src))
        h, w = (spec.shape[2], spec.shape[3]) if layout == "nchw" else (spec.shape[1], spec.shape[2])
        a, b = (tf.constant(v.reshape(1, 1, 1, 3)) for v in params.affine())

        @tf.function(input_signature=[tf.TensorSpec([1, None if size else h, None if size else w, 3], tf.uint8,
                                                    name="image")])
        def preprocessed(image):
            x = tf.cast(image, tf.float32)
            if size is not None:
                x = tf.round(tf.image.resize(x, (params.size[1], params.size[0]), "bilinear", antialias=False))
            if swap_rb:
                x = tf.reverse(x, axis=[3])
            x = x * a + b
            if layout == "nchw":
                x = tf.transpose(x, (0, 3, 1, 2))
            return serve(**{name: tf.cast(x, spec.dtype)})

        module = tf.Module()
        module.model = loaded  # keeps the wrapped model's variables in the saved graph
        module.serve = preprocessed
        tf.saved_model.save(module, str(folder / "saved_model"), signatures={"serving_default": preprocessed})

    return cached(src, "tensorflow", params, "saved_model", build)
