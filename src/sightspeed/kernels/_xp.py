"""Kernels written once against the Python array API (via array-api-compat), so the same code runs on numpy (the
``array_api`` backend, which the contract tests check) and on CuPy arrays on a GPU (the ``cupy`` backend).

Only array-API operations are used on the arrays (``take``, ``floor``, ``astype``, operators...); index tables
and sample positions are computed on the host with numpy and moved over once per call. The ``*_cupy`` entry points
accept numpy or CuPy inputs: numpy inputs are uploaded and the result downloaded into ``out``."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from array_api_compat import array_namespace

from .checks import self_checked
from .composite import check_composite
from .feather import gaussian_taps, reflect101, sigmas
from .resize import Letterbox, area_weights, sample_positions, uses_area


def _bilinear(xp: Any, img: Any, sx: np.ndarray, sy: np.ndarray) -> Any:
    """float32 bilinear samples of ``img`` (h, w[, c]) at the grid sy x sx (host positions, clamped)."""
    h, w = img.shape[:2]
    x0 = np.floor(sx).astype(np.int64)
    y0 = np.floor(sy).astype(np.int64)
    dev = lambda a, dtype=None: xp.asarray(a, dtype=dtype)  # noqa: E731
    x0d, x1d = dev(x0), dev(np.minimum(x0 + 1, w - 1))
    y0d, y1d = dev(y0), dev(np.minimum(y0 + 1, h - 1))
    shape_x = (1, -1) + (1,) * (img.ndim - 2)
    shape_y = (-1, 1) + (1,) * (img.ndim - 2)
    wx = xp.reshape(dev(sx - x0, xp.float32), shape_x)
    wy = xp.reshape(dev(sy - y0, xp.float32), shape_y)
    img = xp.astype(img, xp.float32)
    top, bottom = xp.take(img, y0d, axis=0), xp.take(img, y1d, axis=0)
    top = xp.take(top, x0d, axis=1) * (1 - wx) + xp.take(top, x1d, axis=1) * wx
    bottom = xp.take(bottom, x0d, axis=1) * (1 - wx) + xp.take(bottom, x1d, axis=1) * wx
    return top * (1 - wy) + bottom * wy


def _resize(xp: Any, img: Any, size: tuple[int, int]) -> Any:
    h, w = img.shape[:2]
    return _bilinear(xp, img, sample_positions(size[0], 0, w, w), sample_positions(size[1], 0, h, h))


def _to_uint8(xp: Any, x: Any) -> Any:
    return xp.astype(xp.clip(xp.round(x), 0, 255), xp.uint8)


def _put(result: Any, out: Any) -> Any:
    if out is None:
        return result
    out[...] = result
    return out


def preprocess(image: Any, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
               std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
               out: Any = None, layout: str = "nchw") -> Any:
    xp = array_namespace(image)
    small = xp.astype(_to_uint8(xp, _resize(xp, image, size)), xp.float32)
    if swap_rb:
        small = xp.flip(small, axis=2)
    a = xp.asarray(np.float32(scale) / np.asarray(std, np.float32), dtype=xp.float32)
    b = xp.asarray(-np.asarray(mean, np.float32) / np.asarray(std, np.float32), dtype=xp.float32)
    x = small * a + b
    return _put(xp.expand_dims(xp.permute_dims(x, (2, 0, 1)) if layout == "nchw" else x, axis=0), out)


def _area(xp: Any, img: Any, size: tuple[int, int]) -> Any:
    """Area-average shrink as two matrix products with the host-built weights (float32)."""
    h, w = img.shape[:2]
    wy = xp.asarray(area_weights(h, size[1]), dtype=xp.float32)
    wx = xp.asarray(area_weights(w, size[0]), dtype=xp.float32)
    rows = xp.tensordot(wy, xp.astype(img, xp.float32), axes=([1], [0]))  # (oh, w[, c])
    cols = xp.tensordot(rows, wx, axes=([1], [1]))  # (oh[, c], ow)
    return xp.permute_dims(cols, (0, 2, 1)) if img.ndim == 3 else cols


def letterbox(image: Any, size: tuple[int, int], color: int = 114, out: Any = None,
              interpolation: str = "linear") -> Any:
    xp = array_namespace(image)
    g = Letterbox.fit((image.shape[1], image.shape[0]), size)
    (px, py), (nw, nh) = g.pad, g.size
    canvas = xp.full((size[1], size[0]) + tuple(image.shape[2:]), color, dtype=xp.uint8)
    resize = _area if uses_area(interpolation, g.src, g.size) else _resize
    canvas[py:py + nh, px:px + nw, ...] = _to_uint8(xp, resize(xp, image, (nw, nh)))
    return _put(canvas, out)


def _gaussian(xp: Any, x: Any, sigma: float | tuple[float, float]) -> Any:
    sx, sy = sigmas(sigma)
    h, w = x.shape
    if sx > 0:
        k = gaussian_taps(sx).astype(np.float32)
        rows = xp.take(x, xp.asarray(reflect101(w, len(k) // 2)), axis=1)
        x = sum(float(k[i]) * rows[:, i:i + w] for i in range(len(k)))
    if sy > 0:
        k = gaussian_taps(sy).astype(np.float32)
        cols = xp.take(x, xp.asarray(reflect101(h, len(k) // 2)), axis=0)
        x = sum(float(k[i]) * cols[i:i + h, :] for i in range(len(k)))
    return x


def feather_mask(prob: Any, size: tuple[int, int], sigma: float | tuple[float, float], out: Any = None) -> Any:
    xp = array_namespace(prob)
    blurred = _gaussian(xp, xp.astype(prob, xp.float32), sigma)
    return _put(_to_uint8(xp, _resize(xp, blurred, size) * 255.0), out)


@self_checked
def composite(fg: Any, bg: Any, mask: Any, out: Any = None, offset: tuple[int, int] = (0, 0)) -> Any:
    check_composite(fg, bg, mask, out, offset)
    xp = array_namespace(fg)
    if out is None:
        out = xp.asarray(bg, copy=True)
    elif out is not bg:
        out[...] = bg
    x, y = offset
    h, w = fg.shape[:2]
    m = xp.astype(mask, xp.int32)[..., None]
    t = xp.astype(fg, xp.int32) * m + xp.astype(bg[y:y + h, x:x + w, ...], xp.int32) * (255 - m) + 128
    out[y:y + h, x:x + w, ...] = xp.astype((t + (t >> 8)) >> 8, xp.uint8)
    return out


def nms(boxes: Any, scores: Any, iou_threshold: float = 0.5) -> Any:
    """The IoU matrix on the device, the greedy pass on the host over its thresholded rows (N^2 bits back)."""
    xp = array_namespace(boxes)
    boxes = xp.reshape(xp.astype(boxes, xp.float64), (-1, 4))
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    ix = xp.clip(xp.minimum(x1[:, None], x1[None, :]) - xp.maximum(x0[:, None], x0[None, :]), 0, None)
    iy = xp.clip(xp.minimum(y1[:, None], y1[None, :]) - xp.maximum(y0[:, None], y0[None, :]), 0, None)
    inter = ix * iy
    area = (x1 - x0) * (y1 - y0)
    union = area[:, None] + area[None, :] - inter
    over = (inter > iou_threshold * union) & (union > 0)
    over = np.asarray(_host(over))
    order = np.argsort(-np.asarray(_host(scores), np.float64), kind="stable")
    dead = np.zeros(n, bool)
    keep = []
    for i in order:
        if not dead[i]:
            keep.append(i)
            dead |= over[i]
    return np.array(keep, np.int64)


def _host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def _on_cupy(fn: Callable[..., Any], n_arrays: int) -> Callable[..., Any]:
    """Run ``fn`` with its first ``n_arrays`` arguments on the GPU; numpy in -> numpy out (into ``out``). The
    copies are stages of their own in a profile (``copy to gpu`` / ``copy from gpu``, with their bytes), each
    synchronised so the kernels' time stays with the calling stage and the copies' with theirs (what the what-if's
    PCIe term models)."""

    def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        import cupy

        from . import copy_span as stage  # sightspeed.stage once the package is imported (see kernels/__init__)

        on_host = isinstance(args[0], np.ndarray)
        stream = cupy.cuda.get_current_stream()
        sent = sum(a.nbytes for a in args[:n_arrays] if isinstance(a, np.ndarray))
        with stage("copy to gpu", bytes=sent):
            moved = [cupy.asarray(a) for a in args[:n_arrays]] + list(args[n_arrays:])
            stream.synchronize()
        result = fn(*moved, **kwargs)
        stream.synchronize()
        if on_host and isinstance(result, cupy.ndarray):
            with stage("copy from gpu", bytes=result.nbytes):
                result = cupy.asnumpy(result)
        return _put(result, out)

    wrapper.__name__ = f"{fn.__name__}_cupy"
    wrapper.__doc__ = fn.__doc__
    return wrapper


preprocess_cupy = _on_cupy(preprocess, 1)
letterbox_cupy = _on_cupy(letterbox, 1)
feather_mask_cupy = _on_cupy(feather_mask, 1)
composite_cupy = _on_cupy(composite, 3)
nms_cupy = _on_cupy(nms, 2)
