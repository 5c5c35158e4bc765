"""The cython backend: thin wrappers over the compiled ``_cy.kernels_cy`` (OpenMP threads when the compiler had
it). Imported only when a cython kernel is asked for."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ._cy import kernels_cy
from .composite import roi_views
from .preprocess import affine, output_for, resized

THREADS = max(1, min(2, os.cpu_count() or 1))


def preprocess(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
               std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
               out: np.ndarray | None = None) -> np.ndarray:
    small = resized(image, size)
    a, b = affine(mean, std, scale)
    out = output_for(size, out)
    kernels_cy.normalize_chw(small, out[0], a, b, swap_rb, THREADS)
    return out


def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
              offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    out, bg_roi, out_roi = roi_views(fg, bg, out, offset)
    kernels_cy.blend(fg, bg_roi, mask, out_roi, THREADS)
    return out
