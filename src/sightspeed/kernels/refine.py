"""``refine_mask``: an upsampled soft mask made to follow the frame's own edges, so a replaced background keeps no
fringe of the old one.

It is He, Sun and Tang's guided filter (ECCV 2010) with the frame's colour as the guide, computed on a grid
``subsample`` times coarser than the frame and applied at full resolution (He and Sun's "fast guided filter",
2015). With I the guide in [0, 1] (3 channels), p the mask in [0, 1], and box means over (2r+1)^2 windows of the
coarse grid (clipped at the borders: a mean of the pixels that exist):

    a = (cov(I, I) + eps * identity)^-1 cov(I, p)        b = mean(p) - a . mean(I)
    q = mean(a) . I + mean(b)        (mean(a), mean(b) upsampled bilinearly to full resolution)

Where the guide is flat the output is a smoothed mask; across an edge of the guide it steps where the guide steps.
Every term is a box mean, so the cost does not grow with the radius.

Why a colour guide: a grey one cannot tell a blue backdrop from a coat of the same brightness, and on the
portrait composites of benchmarks/edges.py a grey guide made the edge error larger than no filter at all.
"""

from __future__ import annotations

import numpy as np

from . import checks
from ._registry import Op, Tolerance
from .resize import bilinear, sample_positions, to_uint8


def check_refine(mask: np.ndarray, guide: np.ndarray, radius: int, eps: float = 1e-4, subsample: int = 1,
                 out: np.ndarray | None = None) -> None:
    """ValueError naming the argument unless mask is hxw uint8, guide hxwx3 uint8 of the same size, radius and
    subsample integers >= 1, eps > 0, and out None or hxw uint8."""
    checks.array("refine_mask", "mask", mask, ndim=2, dtype=np.uint8)
    checks.array("refine_mask", "guide", guide, ndim=3, dtype=np.uint8, channels=3)
    if guide.shape[:2] != mask.shape:
        raise ValueError(f"refine_mask: guide is {guide.shape[1]}x{guide.shape[0]} but mask is "
                         f"{mask.shape[1]}x{mask.shape[0]}")
    for name, value in (("radius", radius), ("subsample", subsample)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"refine_mask: {name} must be an integer >= 1, got {value!r}")
    if not (isinstance(eps, (int, float, np.floating)) and np.isfinite(eps) and eps > 0):
        raise ValueError(f"refine_mask: eps must be a number > 0, got {eps!r}")
    checks.out("refine_mask", out, tuple(mask.shape), np.uint8)


def coarse_grid(h: int, w: int, radius: int, subsample: int) -> tuple[int, int, int, int]:
    """(s, hs, ws, rs): the coarse grid's step (``subsample``, at most the mask's size), its size (whole s x s
    blocks from the top-left; a remainder of fewer than s rows or columns takes the last block's coefficients) and
    the radius in coarse pixels.

    >>> coarse_grid(1065, 1255, 10, 4)
    (4, 266, 313, 2)
    """
    s = max(1, min(subsample, h, w))
    return s, h // s, w // s, max(1, round(radius / s))


def window_counts(n: int, r: int) -> np.ndarray:
    """How many of an axis' ``n`` positions each clipped window of radius ``r`` covers."""
    i = np.arange(n)
    return np.minimum(i + r, n - 1) - np.maximum(i - r, 0) + 1


def box_mean_reference(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over each (2r+1)^2 window of the first two axes, clipped at the borders, float64 (running sums)."""
    h, w = x.shape[:2]
    out = x.astype(np.float64)
    for axis, n in ((0, h), (1, w)):
        c = np.cumsum(np.insert(out, 0, 0.0, axis=axis), axis=axis)
        i = np.arange(n)
        hi, lo = np.minimum(i + r + 1, n), np.maximum(i - r, 0)
        out = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    counts = np.outer(window_counts(h, r), window_counts(w, r))
    return out / counts.reshape(counts.shape + (1,) * (x.ndim - 2))


def block_mean(x: np.ndarray, s: int, hs: int, ws: int) -> np.ndarray:
    """float64 means of the s x s blocks of ``x``'s top-left hs*s x ws*s pixels."""
    part = x[:hs * s, :ws * s].astype(np.float64)
    return part.reshape((hs, s, ws, s) + x.shape[2:]).mean(axis=(1, 3))


def coefficients_reference(guide: np.ndarray, p: np.ndarray, rs: int, eps: float) -> np.ndarray:
    """(hs, ws, 4): the window means of a (3 channels) and b at each coarse pixel, from the coarse guide (hs, ws, 3)
    and mask (hs, ws) in [0, 1]; a 3x3 solve per pixel, in float64."""
    mean_i, mean_p = box_mean_reference(guide, rs), box_mean_reference(p, rs)
    cov_ip = box_mean_reference(guide * p[..., None], rs) - mean_i * mean_p[..., None]
    outer = guide[..., :, None] * guide[..., None, :]
    sigma = box_mean_reference(outer, rs) - mean_i[..., :, None] * mean_i[..., None, :]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=-1)
    return box_mean_reference(np.dstack([a, b]), rs)


def refine_reference(mask: np.ndarray, guide: np.ndarray, radius: int, eps: float = 1e-4, subsample: int = 1,
                     out: np.ndarray | None = None) -> np.ndarray:
    """The oracle, in float64: ``mask`` (hxw uint8, 255 = foreground) refined by ``guide`` (hxwx3 uint8, the frame
    under the mask; any channel order) with windows of ``radius`` full-resolution pixels, regularised by ``eps``
    (in [0, 1] units squared: edges weaker than about sqrt(eps) * 255 levels are smoothed over), on a grid
    ``subsample`` times coarser; an hxw uint8 mask in ``out``, which may be ``mask`` itself (every backend reads
    the mask into the coarse grid before it writes a pixel).

    >>> guide = np.zeros((6, 8, 3), np.uint8); guide[:, 4:] = 200           # an edge between columns 3 and 4
    >>> mask = np.array([[0, 0, 64, 128, 160, 255, 255, 255]] * 6, np.uint8)  # a soft ramp across it
    >>> refine_reference(mask, guide, radius=2, eps=1e-4)[0].tolist()         # now it steps where the guide does
    [39, 45, 55, 77, 211, 230, 235, 239]
    """
    h, w = mask.shape
    s, hs, ws, rs = coarse_grid(h, w, radius, subsample)
    coef = coefficients_reference(block_mean(guide, s, hs, ws) / 255.0, block_mean(mask, s, hs, ws) / 255.0, rs, eps)
    up = bilinear(coef, sample_positions(w, 0, w / s, ws), sample_positions(h, 0, h / s, hs))
    level = (up[..., :3] * guide).sum(axis=-1) + 255.0 * up[..., 3]
    if out is None:
        out = np.empty((h, w), np.uint8)
    out[...] = to_uint8(level)
    return out


# Shared by the opencv and numba backends: the coarse steps, on OpenCV in float32 (its box sums add in double), one
# contiguous plane per quantity (numpy's loops over a last axis of 3 or 4 channels cost more than the arithmetic).

def coarse_planes(mask: np.ndarray, guide: np.ndarray, s: int, hs: int, ws: int) -> np.ndarray:
    """(4, hs, ws) float32: the block means of the guide's 3 channels and of the mask, in [0, 1]."""
    import cv2

    g = guide[:hs * s, :ws * s].astype(np.float32)
    m = mask[:hs * s, :ws * s].astype(np.float32)
    if s > 1:  # whole s x s blocks: INTER_AREA's exact block mean
        g = cv2.resize(g, (ws, hs), interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, (ws, hs), interpolation=cv2.INTER_AREA)
    planes = np.empty((4, hs, ws), np.float32)
    planes[:3] = np.moveaxis(g.reshape(hs, ws, 3), -1, 0)
    planes[3] = m
    planes *= np.float32(1 / 255)
    return planes


def box_means_opencv(planes: np.ndarray, r: int, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`box_mean_reference` of each of ``planes`` (k, h, w), in float32: cv2.boxFilter's window sums (zeros
    outside) over the counts."""
    import cv2

    _, h, w = planes.shape
    inverse = (1.0 / np.outer(window_counts(h, r), window_counts(w, r))).astype(np.float32)
    out = np.empty(planes.shape, np.float32) if out is None else out
    for plane, dst in zip(planes, out):
        cv2.boxFilter(plane, -1, (2 * r + 1, 2 * r + 1), dst=dst, normalize=False, borderType=cv2.BORDER_CONSTANT)
        dst *= inverse
    return out


def window_moments(planes: np.ndarray, rs: int) -> np.ndarray:
    """(13, hs, ws) float32 window means of I (3 planes), p, I*p (3) and the 6 distinct I_i*I_j, from
    :func:`coarse_planes`."""
    i0, i1, i2, p = planes
    products = np.stack([i0 * p, i1 * p, i2 * p, i0 * i0, i0 * i1, i0 * i2, i1 * i1, i1 * i2, i2 * i2])
    moments = np.empty((13,) + planes.shape[1:], np.float32)
    box_means_opencv(planes, rs, out=moments[:4])
    box_means_opencv(products, rs, out=moments[4:])
    return moments


def solve_window(m: np.ndarray, eps: float) -> tuple[np.ndarray, ...]:
    """(a0, a1, a2, b) from the 13 window means of :func:`window_moments` (planes, or one pixel's 13 numbers in a
    numba loop), in float64: the symmetric 3x3 system solved by its cofactors (its determinant is a product of
    three small variances, too small for float32)."""
    v0, v1, v2 = m[4] - m[0] * m[3], m[5] - m[1] * m[3], m[6] - m[2] * m[3]
    s00, s01, s02 = m[7] - m[0] * m[0] + eps, m[8] - m[0] * m[1], m[9] - m[0] * m[2]
    s11, s12, s22 = m[10] - m[1] * m[1] + eps, m[11] - m[1] * m[2], m[12] - m[2] * m[2] + eps
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    a0 = (c00 * v0 + c01 * v1 + c02 * v2) / det
    a1 = (c01 * v0 + c11 * v1 + c12 * v2) / det
    a2 = (c02 * v0 + c12 * v1 + c22 * v2) / det
    return a0, a1, a2, m[3] - a0 * m[0] - a1 * m[1] - a2 * m[2]


def solve_numpy(moments: np.ndarray, eps: float) -> np.ndarray:
    """(4, hs, ws) float32 (a, b) per coarse pixel from :func:`window_moments`."""
    return np.stack(solve_window(moments.astype(np.float64), eps)).astype(np.float32)


def coefficients_opencv(mask: np.ndarray, guide: np.ndarray, radius: int, subsample: int, eps: float
                        ) -> tuple[np.ndarray, int]:
    """((4, hs, ws) float32 window means of (a, b), s): the coarse half of the filter."""
    h, w = mask.shape
    s, hs, ws, rs = coarse_grid(h, w, radius, subsample)
    return box_means_opencv(solve_numpy(window_moments(coarse_planes(mask, guide, s, hs, ws), rs), eps), rs), s


@checks.self_checked
def _refine_opencv(mask: np.ndarray, guide: np.ndarray, radius: int, eps: float = 1e-4, subsample: int = 1,
                   out: np.ndarray | None = None) -> np.ndarray:
    import cv2

    check_refine(mask, guide, radius, eps, subsample, out)
    h, w = mask.shape
    planar, s = coefficients_opencv(mask, guide, radius, subsample, eps)
    coef = cv2.merge(list(planar))
    hs, ws = coef.shape[:2]
    up = cv2.resize(coef, (ws * s, hs * s), interpolation=cv2.INTER_LINEAR) if s > 1 else coef
    if up.shape[:2] != (h, w):  # the remainder past the last whole block: its positions clamp to the last one
        up = cv2.copyMakeBorder(up, 0, h - hs * s, 0, w - ws * s, cv2.BORDER_REPLICATE)
    # level = a . guide + 255 b: the guide with a fourth channel of 255 dotted with (a, b)
    level = cv2.transform(cv2.multiply(up, cv2.cvtColor(guide, cv2.COLOR_BGR2BGRA), dtype=cv2.CV_32F),
                          np.ones((1, 4), np.float32)).reshape(h, w)
    if out is None:
        out = np.empty((h, w), np.uint8)
    np.clip(level, 0, 255, out=level)
    np.rint(level, out=level)
    out[...] = level
    return out


# sightspeed bench kernels --op refine_mask (a 1280x1080 ROI of an FHD frame, radius 10, subsample 5; medians on the
# 2-core AMD EPYC of docs/edges.md): numba 5.7 ms, opencv 24.5, numpy 286
refine_mask = Op("refine_mask", refine_reference, default_order=("numba", "opencv", "numpy"))
refine_mask.check = check_refine
# float32 (box sums added in double) against the float64 oracle: a level here and there where a sum rounds the
# other way (tests/contracts: at most 1 on every case)
refine_mask.add("opencv", _refine_opencv, Tolerance(1))
refine_mask.add("numba", "sightspeed.kernels._refine_numba:refine_mask", Tolerance(1))
