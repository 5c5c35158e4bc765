"""The numba backend of ``refine_mask`` (kernels/refine.py): block means in integers, OpenCV's box sums on the
coarse grid, the 3x3 solve per coarse pixel, and one fused full-resolution pass (interpolate the coefficients
between two coarse rows, which OpenCV's resize widened, dot them with the guide, round) that reads the guide once
and writes the mask once, where the opencv backend makes full-resolution float32 temporaries. Imported only when
asked for."""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from ._numba import _JIT, _parallel, rows_of
from .checks import self_checked
from .refine import box_means_opencv, check_refine, coarse_grid, solve_window, window_moments
from .resize import sample_positions
from .scratch import SCRATCH


_solve_window = njit(inline="always", **_JIT)(solve_window)


@njit(parallel=True, **_JIT)
def _solve(moments, eps, coef):  # pragma: no cover - compiled
    hs, ws = moments.shape[1:]
    for y in prange(hs):
        m = np.empty(13, np.float64)
        for x in range(ws):
            for k in range(13):
                m[k] = moments[k, y, x]
            coef[0, y, x], coef[1, y, x], coef[2, y, x], coef[3, y, x] = _solve_window(m, eps)


def solve_numba(moments: np.ndarray, eps: float) -> np.ndarray:
    coef = np.empty((4,) + moments.shape[1:], np.float32)
    with _parallel():
        _solve(moments, float(eps), coef)
    return coef


@njit(parallel=True, **_JIT)
def _block_means(g2, gy, gx, m2, my, mx, s, planes):  # pragma: no cover - compiled
    """:func:`.refine.coarse_planes` from the guide's and the mask's rows (``_numba.rows_of``), each byte read once:
    a block's s rows summed down the columns (contiguous: vectorised), then each s columns across, in integers."""
    hs, ws = planes.shape[1:]
    n = ws * s
    scale = np.float32(1.0 / (255.0 * s * s))
    for j in prange(hs):
        gsum = np.zeros(3 * n, np.uint32)
        msum = np.zeros(n, np.uint32)
        for dy in range(s):
            g = g2[gy + j * s + dy][gx:]
            m = m2[my + j * s + dy][mx:]
            for x in range(3 * n):
                gsum[x] += g[x]
            for x in range(n):
                msum[x] += m[x]
        for i in range(ws):
            b0 = b1 = b2 = b3 = np.uint32(0)
            for x in range(i * s, i * s + s):
                b0 += gsum[3 * x]
                b1 += gsum[3 * x + 1]
                b2 += gsum[3 * x + 2]
                b3 += msum[x]
            planes[0, j, i] = np.float32(b0) * scale
            planes[1, j, i] = np.float32(b1) * scale
            planes[2, j, i] = np.float32(b2) * scale
            planes[3, j, i] = np.float32(b3) * scale


@njit(inline="always", fastmath=True, **_JIT)
def _level(t0, t1, t2, t3, b0, b1, b2, b3, f, i, g, x):  # pragma: no cover - compiled
    """a . guide + 255 b at pixel x, with (a, b) interpolated between two rows at column i, rounded to uint8."""
    level = (np.float32(255.0) * (t3[i] + (b3[i] - t3[i]) * f)
             + (t0[i] + (b0[i] - t0[i]) * f) * np.float32(g[3 * x])
             + (t1[i] + (b1[i] - t1[i]) * f) * np.float32(g[3 * x + 1])
             + (t2[i] + (b2[i] - t2[i]) * f) * np.float32(g[3 * x + 2]))
    return np.uint8(min(max(level + np.float32(0.5), np.float32(0.0)), np.float32(255.0)))


@njit(parallel=True, fastmath=True, **_JIT)
def _apply(wide, g2, gy, gx, y0, y1, wy, o2, oy, ox, h, w, chunks):  # pragma: no cover - compiled
    """Each output row: the two widened coarse rows around it, interpolated, dotted with the guide, rounded.
    Guide and output come as C-contiguous rows at offsets (``_numba.rows_of``), so the loop vectorises."""
    n = min(w, wide.shape[2])
    for k in prange(chunks):
        for y in range(k * h // chunks, (k + 1) * h // chunks):
            f = wy[y]
            t0, t1, t2, t3 = wide[0, y0[y]], wide[1, y0[y]], wide[2, y0[y]], wide[3, y0[y]]
            b0, b1, b2, b3 = wide[0, y1[y]], wide[1, y1[y]], wide[2, y1[y]], wide[3, y1[y]]
            g = g2[gy + y][gx:]
            o = o2[oy + y][ox:]
            for x in range(n):
                o[x] = _level(t0, t1, t2, t3, b0, b1, b2, b3, f, x, g, x)
            for x in range(n, w):  # past the last whole block: its coefficients
                o[x] = _level(t0, t1, t2, t3, b0, b1, b2, b3, f, n - 1, g, x)


def widen(coef: np.ndarray, s: int) -> np.ndarray:
    """(4, hs, ws * s): each coarse row of the coefficient planes interpolated to full width (OpenCV's SIMD
    resize, the reference's positions: pixel centres, clamped at the ends)."""
    import cv2

    _, hs, ws = coef.shape
    if s == 1:
        return coef
    wide = SCRATCH.array("refine.wide", (4, hs, ws * s), np.float32)  # 5 MB at FHD: page faults once per thread
    for plane, dst in zip(coef, wide):
        cv2.resize(plane, (ws * s, hs), dst=dst, interpolation=cv2.INTER_LINEAR)
    return wide


def taps(n: int, s: int, n_coarse: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each full-resolution position's two coarse neighbours and the second one's weight (the reference's
    bilinear positions: pixel centres, clamped)."""
    pos = sample_positions(n, 0, n / s, n_coarse)
    lo = np.floor(pos).astype(np.int64)
    return lo, np.minimum(lo + 1, n_coarse - 1), (pos - lo).astype(np.float32)


@self_checked
def refine_mask(mask: np.ndarray, guide: np.ndarray, radius: int, eps: float = 1e-4, subsample: int = 1,
                out: np.ndarray | None = None) -> np.ndarray:
    check_refine(mask, guide, radius, eps, subsample, out)  # no bounds checks below
    h, w = mask.shape
    s, hs, ws, rs = coarse_grid(h, w, radius, subsample)
    if out is None:
        out = np.empty((h, w), np.uint8)
    # a frame's ROI (pixels contiguous, rows strided) reaches numba as contiguous rows; any other layout is copied
    # (a fresh copy: ascontiguousarray keeps a 1x1 view's odd strides)
    guide_rows = rows_of(guide) or rows_of(np.array(guide, order="C"))
    mask_rows = rows_of(mask) or rows_of(np.array(mask, order="C"))
    target = out if rows_of(out) else np.empty((h, w), np.uint8)
    planes = np.empty((4, hs, ws), np.float32)
    with _parallel():
        _block_means(*guide_rows, *mask_rows, s, planes)
    coef = box_means_opencv(solve_numba(window_moments(planes, rs), eps), rs)
    wide = widen(coef, s)
    with _parallel():
        _apply(wide, *guide_rows, *taps(h, s, hs), *rows_of(target), h, w, max(1, min(get_num_threads(), h)))
    if target is not out:
        out[...] = target
    return out
