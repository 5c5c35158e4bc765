"""``preprocess``: HWC uint8 BGR frame -> a model's float32 input, NCHW (onnx) or NHWC (TFLite) (resize, optional
BGR->RGB, (x * scale - mean) / std), written into a preallocated output."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import checks
from ._registry import Op, Tolerance
from .resize import resize_reference, to_uint8


def affine(mean: Sequence[float], std: Sequence[float], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (a, b) with output = input level * a + b, in float32 (what the fused kernels use)."""
    std = np.asarray(std, np.float64)
    return (scale / std).astype(np.float32), (-np.asarray(mean, np.float64) / std).astype(np.float32)


def check_preprocess(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
                     std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                     out: np.ndarray | None = None, layout: str = "nchw") -> None:
    """ValueError naming the argument unless ``image`` is HxWx3 uint8 (a grey or float frame would otherwise come
    back as a blob of whatever the resize scratch held), ``size`` two positive ints, ``std`` without a zero, and
    ``out`` None or float32 of the ``layout``'s shape: (1, 3, height, width) or (1, height, width, 3)."""
    checks.array("preprocess", "image (BGR; convert grey / BGRA / float frames first)", image, ndim=3,
                 dtype=np.uint8, channels=3)
    checks.size("preprocess", size)
    if len(mean) != 3 or len(std) != 3 or 0 in tuple(std):
        raise ValueError(f"preprocess: mean and std need 3 values each and no zero std, got {mean!r}, {std!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"preprocess: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    checks.out("preprocess", out, blob_shape(size, layout), np.float32)


LAYOUTS = ("nchw", "nhwc")


def blob_shape(size: tuple[int, int], layout: str = "nchw") -> tuple[int, int, int, int]:
    return (1, 3, size[1], size[0]) if layout == "nchw" else (1, size[1], size[0], 3)


def output_for(size: tuple[int, int], out: np.ndarray | None, layout: str = "nchw") -> np.ndarray:
    return np.empty(blob_shape(size, layout), np.float32) if out is None else out


def planes(out: np.ndarray, layout: str) -> np.ndarray:
    """``out``'s one image as (3, height, width): itself for NCHW, a strided view of the NHWC pixels otherwise (the
    CHW kernels write either: they index by stride when the planes are not contiguous)."""
    return out[0] if layout == "nchw" else out[0].transpose(2, 0, 1)


def preprocess_reference(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
                         std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                         out: np.ndarray | None = None, layout: str = "nchw") -> np.ndarray:
    """Resize ``image`` (HxWx3 uint8, BGR) to ``size`` = (width, height) (bilinear, rounded to uint8 as a uint8
    resize does), swap to RGB when ``swap_rb``, map each level x to (x * scale - mean[c]) / std[c], and lay it out
    as float32 in ``out``: (1, 3, height, width) for ``layout="nchw"``, (1, height, width, 3) for ``"nhwc"``.

    >>> x = preprocess_reference(np.full((4, 4, 3), 255, np.uint8), (2, 2), mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> x.shape, float(x.min()), float(x.max())
    ((1, 3, 2, 2), 1.0, 1.0)
    """
    small = to_uint8(resize_reference(image, size)).astype(np.float64)
    if swap_rb:
        small = small[:, :, ::-1]
    x = (small * scale - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    out = output_for(size, out, layout)
    out[0] = x.transpose(2, 0, 1) if layout == "nchw" else x
    return out


def resized(image: np.ndarray, size: tuple[int, int], slot: str = "preprocess.small") -> np.ndarray:
    """OpenCV's uint8 bilinear resize into this thread's scratch buffer (no fresh allocation per frame); the image
    itself when it already has ``size`` (e.g. a letterboxed canvas): the resample would be an exact copy."""
    import cv2

    from .scratch import SCRATCH

    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image

    small = SCRATCH.array(slot, (size[1], size[0], 3))
    cv2.resize(image, size, dst=small, interpolation=cv2.INTER_LINEAR)
    return small


def resize_then(normalize: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool], None]):
    """A preprocess backend made of OpenCV's resize into scratch and ``normalize(small, out[0], a, b, swap_rb)``,
    one fused pass (swap, scale, shift, HWC -> CHW) written by the backend."""

    @checks.self_checked
    def preprocess(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
                   std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                   out: np.ndarray | None = None, layout: str = "nchw") -> np.ndarray:
        check_preprocess(image, size, mean, std, scale, swap_rb, out, layout)  # compiled passes: no bounds checks
        small = resized(image, size)
        a, b = affine(mean, std, scale)
        out = output_for(size, out, layout)
        normalize(small, planes(out, layout), a, b, swap_rb)
        return out

    preprocess.__doc__ = normalize.__doc__
    return preprocess


def _preprocess_opencv(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
                       std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
                       out: np.ndarray | None = None, layout: str = "nchw") -> np.ndarray:
    """cv2.resize, then blobFromImageWithParams: (x - mean / scale) * (scale / std) per channel, into ``out``
    (NHWC: one numpy multiply-add over the resized pixels, channels reversed by a view when ``swap_rb``)."""
    import cv2

    small = resized(image, size)
    if layout == "nhwc":
        out = output_for(size, out, layout)
        normalize_hwc(small, out[0], *affine(mean, std, scale), swap_rb)
        return out
    a, _ = affine(mean, std, scale)  # mean and scale are applied after the swap, in output channel order
    level_mean = np.asarray(mean, np.float64) / scale
    params = cv2.dnn.Image2BlobParams(scalefactor=tuple(float(v) for v in a), size=size,
                                      mean=tuple(float(v) for v in level_mean), swapRB=swap_rb, ddepth=cv2.CV_32F)
    out = output_for(size, out)
    if not out.flags.c_contiguous:  # OpenCV would write a strided ``out`` as if it were contiguous (and return it)
        out[...] = cv2.dnn.blobFromImageWithParams(small, params)
        return out
    result = cv2.dnn.blobFromImageWithParams(small, out, params)
    if result is not out:
        out[...] = result
    return out


def normalize_hwc(small: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool) -> None:
    """out[y, x, c] = small[y, x, c'] * a[c] + b[c] (c' = 2 - c when ``swap``), in float32."""
    np.multiply(small[:, :, ::-1] if swap else small, a, out=out, casting="unsafe")
    if b.any():
        out += b


def tolerance(backend: str, kwargs: dict) -> Tolerance:
    """One level of the uint8 resize (OpenCV's fixed-point rounding), in output units; float32 rounding on top."""
    level = kwargs.get("scale", 1 / 255) / float(np.min(kwargs.get("std", (1.0,))))
    return Tolerance(level * 1.001 + 1e-5)


preprocess = Op("preprocess", preprocess_reference,
                # benchmarks/kernels.py run G, FHD -> 640x640, streamed (medians): cython (fused AVX2 resize +
                # normalise) 0.42 ms, numba (OpenCV resize + fused normalise) 0.82, opencv 1.6, numpy 75
                default_order=("cython", "numba", "opencv", "numpy"))
for _backend, _impl in [("opencv", _preprocess_opencv),
                        ("numba", "sightspeed.kernels._numba:preprocess"),
                        ("cython", "sightspeed.kernels._cython:preprocess"),
                        ("opencl", "sightspeed.kernels._opencl:preprocess"),
                        ("array_api", "sightspeed.kernels._xp:preprocess"),
                        ("cupy", "sightspeed.kernels._xp:preprocess_cupy")]:
    preprocess.add(_backend, _impl)
preprocess.tolerance_for = tolerance
preprocess.check = check_preprocess
