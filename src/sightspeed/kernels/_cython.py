"""The cython backend: thin wrappers over the compiled ``_cy.kernels_cy`` (OpenMP threads when the compiler had
it). Imported only when a cython kernel is asked for."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ..cores import quiet_pools, threads_here

quiet_pools()  # before libgomp starts: its idle workers would otherwise spin on the cores the other pools need

from ._cy import kernels_cy  # noqa: E402
from .checks import self_checked  # noqa: E402
from .composite import roi_views  # noqa: E402
from .preprocess import affine, check_preprocess, output_for, resize_then  # noqa: E402
from .resize import sample_positions  # noqa: E402

ONE = 1 << 14  # the horizontal weights' fixed point: w0 + w1 == ONE, exact int32 sums in pmaddwd


def _normalize(small: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool) -> None:
    """OpenCV's SIMD uint8 resize into scratch, then one fused Cython pass: swap, scale, shift, HWC -> CHW."""
    kernels_cy.normalize_chw(small, out, a, b, swap, threads_here())


_resize_then_normalize = resize_then(_normalize)


@functools.lru_cache(maxsize=32)
def sampling(w_in: int, h_in: int, w_out: int, h_out: int) -> tuple[np.ndarray, ...]:
    """The fused kernel's tables for one geometry (cached: a video repeats it every frame): byte offsets of each
    output pixel's left tap and its int16 weight pairs, how many leading pixels the 16-byte SIMD load may take, and
    per output row the two source rows and the second one's weight. Same positions as ``resize_reference``."""
    sx = sample_positions(w_out, 0, w_in, w_in)
    x0 = np.minimum(np.floor(sx).astype(np.int64), w_in - 2)  # the right tap is x0 + 1: at the edge, weight 1
    w1 = np.round((sx - x0) * ONE).astype(np.int16)
    wx = np.zeros((w_out, 8), np.int16)
    wx[:, 0:6:2] = (ONE - w1)[:, None]
    wx[:, 1:6:2] = w1[:, None]
    ofs = (3 * x0).astype(np.int32)
    inside = ofs + 16 <= 3 * w_in
    n_simd = w_out if inside.all() else int(np.argmin(inside))
    sy = sample_positions(h_out, 0, h_in, h_in)
    y0 = np.floor(sy).astype(np.int32)
    y1 = np.minimum(y0 + 1, h_in - 1).astype(np.int32)
    for table in (ofs, wx, y0, y1):
        table.flags.writeable = False
    wy = (sy - y0).astype(np.float32)
    wy.flags.writeable = False
    return ofs, wx, n_simd - n_simd % 4, y0, y1, wy


@self_checked
def preprocess(image: np.ndarray, size: tuple[int, int], mean: Sequence[float] = (0.0, 0.0, 0.0),
               std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1 / 255, swap_rb: bool = True,
               out: np.ndarray | None = None, layout: str = "nchw") -> np.ndarray:
    """One fused pass per output row: bilinear taps (AVX2 eight pixels a step, or SSSE3 four, where the CPU has
    them), swap, scale, shift, CHW. Frames narrower than 2 pixels, with pixels not contiguous within a row, or an
    NHWC output take OpenCV's resize then the normalise pass (strided writes for NHWC)."""
    check_preprocess(image, size, mean, std, scale, swap_rb, out, layout)
    out = output_for(size, out, layout)
    h_in, w_in = image.shape[:2]
    if w_in < 2 or image.strides[1:] != (3, 1) or layout != "nchw" or out.strides[3] != 4:
        return _resize_then_normalize(image, size, mean, std, scale, swap_rb, out, layout)
    ofs, wx, n_simd, y0, y1, wy = sampling(w_in, h_in, size[0], size[1])
    a, b = affine(mean, std, scale)
    kernels_cy.resize_normalize_chw(image, out[0], ofs, wx, y0, y1, wy, a, b, swap_rb, n_simd, kernels_cy.SIMD,
                                    threads_here())
    return out


@self_checked  # in roi_views
def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
              offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    out, bg_roi, out_roi = roi_views(fg, bg, mask, out, offset)
    kernels_cy.blend(fg, bg_roi, mask, out_roi, threads_here())
    return out
