"""Resampling ops: ``letterbox`` (resize keeping aspect into a padded canvas) and ``crop_resize`` (a batch of boxes
cut out and resized to one size), on a plain bilinear reference that samples where OpenCV's INTER_LINEAR does, and
(letterbox, shrinking) an area-average reference that weighs pixels as OpenCV's INTER_AREA does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks
from ._registry import Op, Tolerance


INTERPOLATIONS = ("linear", "area")


def check_letterbox(image: np.ndarray, size: tuple[int, int], color: int = 114,
                    out: np.ndarray | None = None, interpolation: str = "linear") -> None:
    checks.array("letterbox", "image", image, ndim=(2, 3), dtype=np.uint8)
    checks.size("letterbox", size)
    if not (isinstance(color, (int, np.integer)) and 0 <= color <= 255):
        raise ValueError(f"letterbox: color must be an integer 0..255 (a grey level), got {color!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"letterbox: interpolation must be one of {', '.join(INTERPOLATIONS)}, got "
                         f"{interpolation!r}")
    checks.out("letterbox", out, (size[1], size[0]) + tuple(image.shape[2:]), np.uint8)


def check_crop_resize(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                      out: np.ndarray | None = None) -> None:
    checks.array("crop_resize", "image", image, ndim=(2, 3), dtype=np.uint8)
    n = checks.boxes("crop_resize", boxes)
    checks.finite("crop_resize", "boxes", boxes)
    checks.size("crop_resize", size)
    checks.out("crop_resize", out, (n, size[1], size[0]) + tuple(image.shape[2:]), np.uint8)


def sample_positions(n_out: int, start: float, length: float, n_in: int) -> np.ndarray:
    """Source coordinates of ``n_out`` pixel centres spread over [start, start + length), clamped to the image."""
    pos = start + (np.arange(n_out) + 0.5) * (length / n_out) - 0.5
    return np.clip(pos, 0, n_in - 1)


def bilinear(image: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """float64 bilinear samples of ``image`` (HxW or HxWxC) at the grid ``sy`` x ``sx`` (already clamped)."""
    h, w = image.shape[:2]
    x0 = np.floor(sx).astype(np.intp)
    y0 = np.floor(sy).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    wx, wy = sx - x0, sy - y0
    img = image.astype(np.float64)
    if img.ndim == 3:
        wx = wx[:, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    wy = wy.reshape((-1,) + (1,) * (img.ndim - 1))
    return top * (1 - wy) + bottom * wy


def resize_reference(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize to ``size`` = (width, height), half-pixel centres, no antialiasing (OpenCV INTER_LINEAR's
    geometry), in float64."""
    h, w = image.shape[:2]
    ow, oh = size
    return bilinear(image, sample_positions(ow, 0, w, w), sample_positions(oh, 0, h, h))


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): how much of each source pixel falls in each output pixel's span of n_in / n_out source
    pixels, divided by that span (rows sum to 1). For shrinking (n_out <= n_in)."""
    span = n_in / n_out
    edges = np.arange(n_out + 1) * span
    j = np.arange(n_in)[None, :]
    overlap = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
    return np.clip(overlap, 0, None) / span


def area_resize_reference(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average shrink to ``size`` = (width, height) (OpenCV INTER_AREA's weights when shrinking), float64."""
    h, w = image.shape[:2]
    rows = np.tensordot(area_weights(h, size[1]), image.astype(np.float64), axes=(1, 0))  # (oh, w[, c])
    return np.moveaxis(np.tensordot(rows, area_weights(w, size[0]), axes=(1, 1)), -1, 1)  # (oh, ow[, c])


def uses_area(interpolation: str, src: tuple[int, int], size: tuple[int, int]) -> bool:
    """``interpolation="area"`` averages areas only when shrinking on both axes; enlarging stays bilinear."""
    return interpolation == "area" and size[0] <= src[0] and size[1] <= src[1]


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Letterbox:
    """Where a ``src`` image lands inside a letterboxed ``dst`` canvas; maps points both ways.

    >>> g = Letterbox.fit((1920, 1080), (640, 640))
    >>> g.size, g.pad
    ((640, 360), (0, 140))
    >>> g.to_source(g.to_canvas(np.array([[100.0, 50.0]]))).round(6).tolist()
    [[100.0, 50.0]]
    """

    src: tuple[int, int]
    size: tuple[int, int]
    pad: tuple[int, int]

    @classmethod
    def fit(cls, src: tuple[int, int], dst: tuple[int, int]) -> Letterbox:
        (w, h), (dw, dh) = src, dst
        s = min(dw / w, dh / h)
        nw, nh = max(1, min(dw, round(w * s))), max(1, min(dh, round(h * s)))
        return cls((w, h), (nw, nh), ((dw - nw) // 2, (dh - nh) // 2))

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Source (x, y) points -> canvas points (the same sampling geometry as the resize)."""
        scale = np.array(self.size, np.float64) / np.array(self.src, np.float64)
        return np.asarray(points, np.float64) * scale + np.array(self.pad)

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Canvas (x, y) points, e.g. a detector's boxes -> source image points."""
        scale = np.array(self.size, np.float64) / np.array(self.src, np.float64)
        return (np.asarray(points, np.float64) - np.array(self.pad)) / scale


def letterbox_reference(image: np.ndarray, size: tuple[int, int], color: int = 114,
                        out: np.ndarray | None = None, interpolation: str = "linear") -> np.ndarray:
    """Resize ``image`` (HxWxC uint8) to fit ``size`` = (width, height) keeping its aspect, centred on a canvas
    filled with ``color``; :meth:`Letterbox.fit` gives the geometry. ``interpolation``: "linear" (bilinear) or
    "area" (each output pixel the mean of the source area it covers, when shrinking; bilinear when enlarging).

    >>> letterbox_reference(np.zeros((10, 20, 3), np.uint8), (8, 8))[:, 0, 0].tolist()
    [114, 114, 0, 0, 0, 0, 114, 114]
    """
    g = Letterbox.fit((image.shape[1], image.shape[0]), size)
    if out is None:
        out = np.empty((size[1], size[0]) + image.shape[2:], np.uint8)
    out[...] = color
    (px, py), (nw, nh) = g.pad, g.size
    resize = area_resize_reference if uses_area(interpolation, g.src, g.size) else resize_reference
    out[py:py + nh, px:px + nw] = to_uint8(resize(image, (nw, nh)))
    return out


def _letterbox_opencv(image: np.ndarray, size: tuple[int, int], color: int = 114,
                      out: np.ndarray | None = None, interpolation: str = "linear") -> np.ndarray:
    import cv2

    g = Letterbox.fit((image.shape[1], image.shape[0]), size)
    if out is None:
        out = np.empty((size[1], size[0]) + image.shape[2:], np.uint8)
    (px, py), (nw, nh) = g.pad, g.size
    out[:py] = color
    out[py + nh:] = color
    out[py:py + nh, :px] = color
    out[py:py + nh, px + nw:] = color
    inner = out[py:py + nh, px:px + nw]
    flag = cv2.INTER_AREA if uses_area(interpolation, g.src, g.size) else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), dst=inner if inner.flags.c_contiguous else None, interpolation=flag)
    if resized is not inner:
        inner[...] = resized
    return out


def crop_resize_reference(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                          out: np.ndarray | None = None) -> np.ndarray:
    """Cut each box (x0, y0, x1, y1 in pixels, floats allowed) out of ``image`` and resize it to ``size`` =
    (width, height): an (N, height, width, C) uint8 batch. Samples outside the image repeat its edge.

    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    >>> crop_resize_reference(img, np.array([[0, 0, 2, 2]]), (2, 2))[0, :, :, 0].tolist()
    [[0, 1], [4, 5]]
    """
    h, w = image.shape[:2]
    ow, oh = size
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if out is None:
        out = np.empty((len(boxes), oh, ow) + image.shape[2:], np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        sx = sample_positions(ow, x0, x1 - x0, w)
        sy = sample_positions(oh, y0, y1 - y0, h)
        out[i] = to_uint8(bilinear(image, sx, sy))
    return out


def _crop_resize_opencv(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                        out: np.ndarray | None = None) -> np.ndarray:
    import cv2

    ow, oh = size
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if out is None:
        out = np.empty((len(boxes), oh, ow) + image.shape[2:], np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        fx, fy = (x1 - x0) / ow, (y1 - y0) / oh
        m = np.array([[fx, 0, x0 + 0.5 * fx - 0.5], [0, fy, y0 + 0.5 * fy - 0.5]])
        dst = out[i] if out[i].flags.c_contiguous else None
        r = cv2.warpAffine(image, m, (ow, oh), dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
        if r is not dst:
            out[i] = r.reshape(out[i].shape)
    return out


# benchmarks/kernels.py, FHD -> 640x640: opencv 0.56 ms, opencl 10.8 (copies), array_api 16.7, numpy 43
letterbox = Op("letterbox", letterbox_reference, default_order=("opencv", "numpy"))
# OpenCV's INTER_LINEAR uses 11-bit fixed-point weights, INTER_AREA float32 ones: within one level of the reference.
letterbox.check = check_letterbox
letterbox.add("opencv", _letterbox_opencv, Tolerance(1))
letterbox.add("opencl", "sightspeed.kernels._opencl:letterbox", Tolerance(1))
letterbox.add("array_api", "sightspeed.kernels._xp:letterbox", Tolerance(1))
letterbox.add("cupy", "sightspeed.kernels._xp:letterbox_cupy", Tolerance(1))

# benchmarks/kernels.py, 32 boxes: opencv 1.3 ms, numba 4.0, numpy 318 — numba first all the same: it is within one
# level of the reference, warpAffine is up to 8 levels off on edges (sightspeed bench kernels --save picks by speed
# among backends within their stated tolerance, and would pick opencv here)
crop_resize = Op("crop_resize", crop_resize_reference, default_order=("numba", "opencv", "numpy"))
# warpAffine quantises sample positions to 1/32 px: a few levels off on sharp edges, not on average.
crop_resize.check = check_crop_resize
crop_resize.add("opencv", _crop_resize_opencv, Tolerance(8, mean_atol=0.5))
crop_resize.add("numba", "sightspeed.kernels._numba:crop_resize", Tolerance(1))
