"""The opencl backend: OpenCV's transparent API (cv2.UMat) on the default OpenCL device. Every call uploads its
inputs and downloads its result, so on a CPU device (PoCL) it pays copies the opencv backend does not; on a
discrete GPU the copies cross PCIe. benchmarks/kernels.py shows the cost. Imported only when asked for."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .checks import self_checked
from .composite import roi_views
from .feather import opencv_blur
from .preprocess import affine, normalize_hwc, output_for
from .resize import Letterbox, uses_area

cv2.ocl.setUseOpenCL(True)


def preprocess(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
               std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
               out: np.ndarray | None = None, layout: str = "nchw") -> np.ndarray:
    small = cv2.resize(cv2.UMat(np.ascontiguousarray(image)), size, interpolation=cv2.INTER_LINEAR)
    if layout == "nhwc":  # the blob's NHWC layout is a transpose on the host anyway: normalise there
        out = output_for(size, out, layout)
        normalize_hwc(small.get(), out[0], *affine(mean, std, scale), swap_rb)
        return out
    a, _ = affine(mean, std, scale)
    params = cv2.dnn.Image2BlobParams(scalefactor=tuple(float(v) for v in a), size=size,
                                      mean=tuple(float(v) / scale for v in mean), swapRB=swap_rb,
                                      ddepth=cv2.CV_32F)
    out = output_for(size, out)
    out[...] = cv2.dnn.blobFromImageWithParams(small, params)
    return out


def letterbox(image: np.ndarray, size: tuple[int, int], color: int = 114,
              out: np.ndarray | None = None, interpolation: str = "linear") -> np.ndarray:
    g = Letterbox.fit((image.shape[1], image.shape[0]), size)
    (px, py), (nw, nh) = g.pad, g.size
    flag = cv2.INTER_AREA if uses_area(interpolation, g.src, g.size) else cv2.INTER_LINEAR
    resized = cv2.resize(cv2.UMat(np.ascontiguousarray(image)), (nw, nh), interpolation=flag)
    value = (color,) * (image.shape[2] if image.ndim == 3 else 1)
    canvas = cv2.copyMakeBorder(resized, py, size[1] - nh - py, px, size[0] - nw - px, cv2.BORDER_CONSTANT,
                                value=value)
    result = canvas.get().reshape((size[1], size[0]) + image.shape[2:])
    if out is None:
        return result
    out[...] = result
    return out


def feather_mask(prob: np.ndarray, size: tuple[int, int], sigma: float | tuple[float, float],
                 out: np.ndarray | None = None) -> np.ndarray:
    u = opencv_blur(cv2, cv2.UMat(np.ascontiguousarray(prob)), sigma)
    small = cv2.convertScaleAbs(u, alpha=255.0)
    result = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR).get()
    if out is None:
        return result
    out[...] = result
    return out


@self_checked  # in roi_views
def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
              offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    out, bg_roi, out_roi = roi_views(fg, bg, mask, out, offset)
    m = cv2.UMat(np.ascontiguousarray(mask))
    m3 = cv2.merge([m, m, m])
    fg_part = cv2.multiply(cv2.UMat(np.ascontiguousarray(fg)), m3, scale=1.0 / 255.0)
    bg_part = cv2.multiply(cv2.UMat(np.ascontiguousarray(bg_roi)), cv2.bitwise_not(m3), scale=1.0 / 255.0)
    out_roi[...] = cv2.add(fg_part, bg_part).get()
    return out
