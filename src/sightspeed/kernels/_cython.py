"""The cython backend: thin wrappers over the compiled ``_cy.kernels_cy`` (OpenMP threads when the compiler had
it). Imported only when a cython kernel is asked for."""

from __future__ import annotations

import os
import numpy as np

from ._cy import kernels_cy
from .composite import roi_views
from .preprocess import resize_then

THREADS = max(1, min(2, os.cpu_count() or 1))


def _normalize(small: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool) -> None:
    """OpenCV's SIMD uint8 resize into scratch, then one fused Cython pass: swap, scale, shift, HWC -> CHW."""
    kernels_cy.normalize_chw(small, out, a, b, swap, THREADS)


preprocess = resize_then(_normalize)


def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
              offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    out, bg_roi, out_roi = roi_views(fg, bg, out, offset)
    kernels_cy.blend(fg, bg_roi, mask, out_roi, THREADS)
    return out
