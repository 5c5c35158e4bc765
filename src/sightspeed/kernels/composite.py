"""Alpha composite with paste-back: inside the ROI at ``offset``, out = fg * m + bg * (1 - m), m = mask / 255;
outside it, out = bg. ``out`` may be ``bg`` itself (the paste-back then writes into the background frame)."""

from __future__ import annotations

import numpy as np

from . import checks
from ._registry import Op, Tolerance
from .scratch import SCRATCH


def check_composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
                    offset: tuple[int, int] = (0, 0)) -> None:
    """ValueError naming the argument unless fg is hxwx3 uint8, mask hxw uint8, bg HxWx3 uint8 with the ROI at
    ``offset`` inside it, and ``out`` None, ``bg``, or bg's shape and dtype. The compiled backends write rows by
    these shapes: a mismatch must stop here, not corrupt memory."""
    for name, a in (("fg", fg), ("bg", bg)):
        checks.array("composite", name, a, ndim=3, dtype=np.uint8, channels=3)
    checks.array("composite", "mask", mask, ndim=2, dtype=np.uint8)
    h, w = fg.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"composite: mask is {mask.shape[1]}x{mask.shape[0]} but fg is {w}x{h}")
    x, y = (int(v) for v in offset)
    if x < 0 or y < 0 or x + w > bg.shape[1] or y + h > bg.shape[0]:
        raise ValueError(f"composite: a {w}x{h} fg at offset ({x}, {y}) does not fit in the "
                         f"{bg.shape[1]}x{bg.shape[0]} bg")
    if out is not bg:
        checks.out("composite", out, tuple(bg.shape), np.uint8)


def roi_views(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None,
              offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out, bg's ROI, out's ROI): ``out`` is a copy of ``bg`` unless it was given (or is ``bg``). Checks the
    arguments first: every backend on host arrays comes through here, however it was called."""
    check_composite(fg, bg, mask, out, offset)
    if out is None:
        out = bg.copy()
    elif out is not bg:
        np.copyto(out, bg)
    x, y = offset
    h, w = fg.shape[:2]
    return out, bg[y:y + h, x:x + w], out[y:y + h, x:x + w]


@checks.self_checked  # in roi_views, as every composite backend
def composite_reference(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
                        offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The oracle, in float64 rounded to nearest. ``fg`` is the ROI (hxwx3 uint8), ``mask`` its hxw uint8 alpha
    (255 = foreground), ``bg`` the whole frame; the ROI's top-left corner is at ``offset`` = (x, y) in it.

    >>> fg = np.full((1, 1, 3), 200, np.uint8); bg = np.zeros((2, 2, 3), np.uint8)
    >>> composite_reference(fg, bg, np.array([[128]], np.uint8), offset=(1, 1))[:, :, 0].tolist()
    [[0, 0], [0, 100]]
    """
    out, bg_roi, out_roi = roi_views(fg, bg, mask, out, offset)
    m = mask.astype(np.float64)[..., None] / 255.0
    out_roi[...] = np.round(fg * m + bg_roi * (1.0 - m)).astype(np.uint8)
    return out


def composite_opencv(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Same as the reference within 1 level, in uint8 with OpenCV's saturating SIMD arithmetic (no float image),
    for a ROI-sized ``bg`` (``out`` may be ``bg``). Temporaries live in per-thread scratch memory. Measured ~3 ms
    vs ~37 ms for the float64 reference on a 1000x1080 ROI."""
    import cv2

    shape = fg.shape
    m3 = cv2.merge([mask, mask, mask], dst=SCRATCH.array("composite.m3", shape))
    fg_part = cv2.multiply(fg, m3, dst=SCRATCH.array("composite.fg", shape), scale=1.0 / 255.0)
    cv2.bitwise_not(m3, dst=m3)
    bg_part = cv2.multiply(bg, m3, dst=SCRATCH.array("composite.bg", shape), scale=1.0 / 255.0)
    if out is None:
        out = np.empty(shape, np.uint8)
    cv2.add(fg_part, bg_part, dst=out)
    return out


@checks.self_checked
def _composite_opencv(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
                      offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    out, bg_roi, out_roi = roi_views(fg, bg, mask, out, offset)
    composite_opencv(fg, bg_roi, mask, out=out_roi)
    return out


composite = Op("composite", composite_reference,
               # benchmarks/kernels.py run G, FHD in place, streamed (medians): cython 0.67 ms, numba 1.28 (both
               # exact), opencv 4.1, numpy 49
               default_order=("cython", "numba", "opencv", "numpy"))
composite.check = check_composite
composite.add("opencv", _composite_opencv, Tolerance(1))
composite.add("numba", "sightspeed.kernels._numba:composite")
composite.add("cython", "sightspeed.kernels._cython:composite")
composite.add("opencl", "sightspeed.kernels._opencl:composite", Tolerance(1))
composite.add("array_api", "sightspeed.kernels._xp:composite")
composite.add("cupy", "sightspeed.kernels._xp:composite_cupy")
