"""The numba backend: fused loops compiled on first use (``cache=True`` keeps the machine code on disk, so later
processes skip the compile). Imported only when a numba kernel is asked for.

Integer math is exact where the reference rounds: round(t / 255) for t in [0, 65025] is
(t + 128 + ((t + 128) >> 8)) >> 8, all in uint16, which LLVM vectorises 16 lanes wide."""

from __future__ import annotations

import os

import numpy as np

from ..cores import quiet_pools, threads_here
from ..host import cache_dir

quiet_pools()  # before numba starts its OpenMP pool: idle workers sleep instead of spinning
# cache=True writes beside the package (its __pycache__) or under ~/.cache/numba: into sightspeed's cache folder
# instead, unless the user chose a place. numba reads the variable when it is imported, and again (reload_config
# below) if something imported it earlier; each kernel's cache place is fixed when its decorator runs, after this.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))

import contextlib  # noqa: E402
import threading  # noqa: E402
from typing import Iterator  # noqa: E402

import numba  # noqa: E402
from numba import get_num_threads, njit, prange  # noqa: E402

numba.core.config.reload_config()

from .checks import self_checked  # noqa: E402
from .composite import roi_views  # noqa: E402
from .db import check_box_scores, check_db_bitmap  # noqa: E402
from .nms import check_nms  # noqa: E402
from .preprocess import resize_then  # noqa: E402
from .resize import check_crop_resize, sample_positions  # noqa: E402

_JIT = dict(cache=True, nogil=True, boundscheck=False)
_LOCK = threading.Lock()


@contextlib.contextmanager
def _parallel() -> Iterator[None]:
    """Around every parallel kernel call: numba's workqueue threading layer (what numba falls back to without
    OpenMP or TBB) aborts the process when two Python threads enter parallel code at once, as pipeline workers do;
    then the calls take turns. OpenMP and TBB are thread-safe and run concurrently."""
    # numba's thread count is per calling thread: the stage's share of the run's core budget (cores.threads_here),
    # set for the call and restored after it
    before = get_num_threads()
    numba.set_num_threads(max(1, min(threads_here(), numba.config.NUMBA_NUM_THREADS)))
    try:
        safe = numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel region has run yet, so the layer is not chosen yet
        safe = False
    try:
        if safe:
            yield
        else:
            with _LOCK:
                yield
    finally:
        numba.set_num_threads(before)


@njit(parallel=True, fastmath=True, **_JIT)
def _normalize_chw(src, out, a, b, swap):  # pragma: no cover - compiled
    h, w3 = src.shape
    w = w3 // 3
    a0, a1, a2, b0, b1, b2 = a[0], a[1], a[2], b[0], b[1], b[2]
    for y in prange(h):
        r = src[y]
        o0, o1, o2 = out[0, y], out[1, y], out[2, y]
        if swap:  # literal channel offsets (a variable one costs a wraparound branch and the SIMD)
            for x in range(w):
                o0[x] = np.float32(r[3 * x + 2]) * a0 + b0
                o1[x] = np.float32(r[3 * x + 1]) * a1 + b1
                o2[x] = np.float32(r[3 * x]) * a2 + b2
        else:
            for x in range(w):
                o0[x] = np.float32(r[3 * x]) * a0 + b0
                o1[x] = np.float32(r[3 * x + 1]) * a1 + b1
                o2[x] = np.float32(r[3 * x + 2]) * a2 + b2


def _normalize(small: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool) -> None:
    """OpenCV's SIMD uint8 resize into scratch, then one fused numba pass: swap, scale, shift, HWC -> CHW."""
    with _parallel():
        _normalize_chw(small.reshape(small.shape[0], -1), out, a, b, swap)


preprocess = resize_then(_normalize)


@njit(parallel=True, **_JIT)
def _blend(fg, bg, mask, out):  # pragma: no cover - compiled
    """Any strides (the slow path: per-element address arithmetic, no SIMD)."""
    h, w = mask.shape
    for y in prange(h):
        for x in range(w):
            a = np.uint16(mask[y, x])
            ia = np.uint16(255) - a
            for c in range(3):
                t = np.uint16(fg[y, x, c]) * a + np.uint16(bg[y, x, c]) * ia + np.uint16(128)
                out[y, x, c] = np.uint8((t + (t >> np.uint16(8))) >> np.uint16(8))


@njit(parallel=True, **_JIT)
def _blend_rows(f2, fy, fx, b2, by, bx, m2, my, mx, o2, oy, ox, h, w, chunks):  # pragma: no cover - compiled
    """Contiguous rows of the ROI inside C-contiguous (rows, bytes) arrays at offsets: vectorised 16 lanes wide.
    One block of rows per thread (``chunks``; faster than a prange over rows here: benchmarks/kernels.py)."""
    for k in prange(chunks):
        for y in range(k * h // chunks, (k + 1) * h // chunks):
            _blend_row(f2[fy + y][fx:], b2[by + y][bx:], m2[my + y][mx:], o2[oy + y][ox:], w)


@njit(inline="always", **_JIT)
def _blend_level(f, b, a):  # pragma: no cover - compiled
    """round((f * a + b * (255 - a)) / 255), exact, in uint16 (see the module docstring)."""
    t = np.uint16(f) * a + np.uint16(b) * (np.uint16(255) - a) + np.uint16(128)
    return np.uint8((t + (t >> np.uint16(8))) >> np.uint16(8))


@njit(inline="always", **_JIT)
def _blend_row(f, b, m, o, w):  # pragma: no cover - compiled
    # start-only slices of C rows stay C-contiguous, and indices from range() are known >= 0: no wraparound
    # branch in the loop, so LLVM vectorises it
    for x in range(w):
        a = np.uint16(m[x])
        for c in range(3):
            o[3 * x + c] = _blend_level(f[3 * x + c], b[3 * x + c], a)


@njit(parallel=True, **_JIT)
def _blend_rows_inplace(f2, fy, fx, b2, by, bx, m2, my, mx, h, w, chunks):  # pragma: no cover - compiled
    """In place: ``b`` read and written through one argument (two aliasing arguments fail LLVM's runtime alias
    check, and it runs the scalar loop)."""
    for k in prange(chunks):
        for y in range(k * h // chunks, (k + 1) * h // chunks):
            _blend_row_inplace(f2[fy + y][fx:], b2[by + y][bx:], m2[my + y][mx:], w)


@njit(inline="always", **_JIT)
def _blend_row_inplace(f, b, m, w):  # pragma: no cover - compiled
    for x in range(w):
        a = np.uint16(m[x])
        for c in range(3):
            b[3 * x + c] = _blend_level(f[3 * x + c], b[3 * x + c], a)


@self_checked
def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None,
              offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Exact (equal to the float64 reference) in uint16 arithmetic, one pass over the ROI, in place when
    ``out`` is ``bg``."""
    in_place = out is bg
    out, bg_roi, out_roi = roi_views(fg, bg, mask, out, offset)
    h, w = mask.shape
    views = [rows_of(a) for a in (fg, bg_roi, mask, out_roi)]
    with _parallel():
        if any(v is None for v in views):
            _blend(fg, bg_roi, mask, out_roi)
        elif in_place:
            _blend_rows_inplace(*views[0], *views[1], *views[2], h, w, get_num_threads())
        else:
            _blend_rows(*views[0], *views[1], *views[2], *views[3], h, w, get_num_threads())
    return out


def rows_of(a: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """(rows, y, x): ``a`` (uint8, pixels contiguous within a row) as rows ``y``.. from byte ``x`` of a C-contiguous
    2-D byte array over the memory it views: how a ROI of a frame reaches numba as contiguous rows (numba's
    strided arrays index per element; its C arrays vectorise). None when ``a`` is not laid out that way."""
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or a.strides[-1] != 1:
        return None
    if a.ndim == 3 and a.strides[1] != a.shape[2]:
        return None
    if a.flags.c_contiguous:
        return a.reshape(a.shape[0], -1), 0, 0
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    h, stride, row_bytes = a.shape[0], a.strides[0], a[0].nbytes
    if not root.flags.c_contiguous or stride < row_bytes:
        return None
    start = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    back = max(0, start + h * stride - root.nbytes)  # start the rows earlier so the last one ends in the buffer
    if back > start or back > stride - row_bytes:
        return None
    flat = root.reshape(-1).view(np.uint8)
    return flat[start - back:start - back + h * stride].reshape(h, stride), 0, back


@njit(parallel=True, **_JIT)
def _crop_resize(image, sx, sy, out):  # pragma: no cover - compiled
    n, oh, ow = sx.shape[0], sy.shape[1], sx.shape[1]
    h, w, ch = image.shape
    for k in prange(n * oh):
        i, r = k // oh, k % oh
        fy = sy[i, r]
        y0 = int(np.floor(fy))
        y1 = min(y0 + 1, h - 1)
        wy = fy - y0
        for j in range(ow):
            fx = sx[i, j]
            x0 = int(np.floor(fx))
            x1 = min(x0 + 1, w - 1)
            wx = fx - x0
            for c in range(ch):
                top = image[y0, x0, c] * (1.0 - wx) + image[y0, x1, c] * wx
                bottom = image[y1, x0, c] * (1.0 - wx) + image[y1, x1, c] * wx
                v = top * (1.0 - wy) + bottom * wy
                out[i, r, j, c] = np.uint8(min(255.0, max(0.0, np.round(v))))


@self_checked
def crop_resize(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                out: np.ndarray | None = None) -> np.ndarray:
    """Float bilinear over all boxes' rows in parallel (the reference's sampling, to within float rounding)."""
    check_crop_resize(image, boxes, size, out)  # no bounds checks below
    ow, oh = size
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if out is None:
        out = np.empty((len(boxes), oh, ow) + image.shape[2:], np.uint8)
    if not len(boxes):
        return out
    sx = np.stack([sample_positions(ow, b[0], b[2] - b[0], w) for b in boxes])
    sy = np.stack([sample_positions(oh, b[1], b[3] - b[1], h) for b in boxes])
    img3 = image if image.ndim == 3 else image[:, :, None]
    out4 = out if out.ndim == 4 else out[..., None]
    with _parallel():
        _crop_resize(img3, sx, sy, out4)
    return out


@njit(**_JIT)
def _iou(a, b):  # pragma: no cover - compiled
    ix = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    iy = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@njit(**_JIT)
def _nms(boxes, order, thr):  # pragma: no cover - compiled
    n = order.shape[0]
    dead = np.zeros(n, np.bool_)
    keep = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if dead[i]:
            continue
        bi = boxes[order[i]]
        keep[k] = order[i]
        k += 1
        for j in range(i + 1, n):
            if not dead[j] and _iou(bi, boxes[order[j]]) > thr:
                dead[j] = True
    return keep[:k]


def _order(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


@self_checked
def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    check_nms(boxes, scores, iou_threshold)  # no bounds checks below
    boxes = np.ascontiguousarray(boxes, np.float64).reshape(-1, 4)
    return _nms(boxes, _order(scores), float(iou_threshold))


@njit(**_JIT)
def _weighted_nms(boxes, scores, order, thr):  # pragma: no cover - compiled
    n = order.shape[0]
    dead = np.zeros(n, np.bool_)
    out = np.empty((n, 4), np.float64)
    out_scores = np.empty(n, np.float64)
    k = 0
    for i in range(n):
        if dead[i]:
            continue
        best = boxes[order[i]]
        acc = np.zeros(4, np.float64)
        total = 0.0
        for j in range(i, n):
            if not dead[j] and (j == i or _iou(best, boxes[order[j]]) > thr):
                dead[j] = True
                s = scores[order[j]]
                acc += boxes[order[j]] * s
                total += s
        out[k] = acc / total if total > 0 else best
        out_scores[k] = scores[order[i]]
        k += 1
    return out[:k], out_scores[:k]


@self_checked
def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    check_nms(boxes, scores, iou_threshold, op="weighted_nms")  # no bounds checks below
    boxes = np.ascontiguousarray(boxes, np.float64).reshape(-1, 4)
    scores = np.ascontiguousarray(scores, np.float64)
    b, s = _weighted_nms(boxes, scores, _order(scores), float(iou_threshold))
    return b.astype(np.float32), s.astype(np.float32)


@njit(parallel=True, **_JIT)
def _db_bitmap(prob, thresh, out):  # pragma: no cover - compiled
    h, w = prob.shape
    for y in prange(h):
        for x in range(w):
            v = prob[y, x] > thresh
            if y > 0:
                v = v or prob[y - 1, x] > thresh or (x > 0 and prob[y - 1, x - 1] > thresh)
            if x > 0:
                v = v or prob[y, x - 1] > thresh
            out[y, x] = 1 if v else 0


@self_checked
def db_bitmap(prob: np.ndarray, thresh: float = 0.3, out: np.ndarray | None = None) -> np.ndarray:
    check_db_bitmap(prob, thresh, out)  # no bounds checks below
    if out is None:
        out = np.empty(prob.shape, np.uint8)
    with _parallel():
        _db_bitmap(prob, prob.dtype.type(thresh), out)
    return out


@njit(**_JIT)
def _box_scores(prob, boxes, extents, scores):  # pragma: no cover - compiled
    for i in range(boxes.shape[0]):
        x0, y0, x1, y1 = extents[i, 0], extents[i, 1], extents[i, 2], extents[i, 3]
        q = np.empty((4, 2), np.float64)
        for k in range(4):
            q[k, 0] = np.trunc(boxes[i, k, 0] - x0)
            q[k, 1] = np.trunc(boxes[i, k, 1] - y0)
        total = 0.0
        count = 0
        for y in range(y1 - y0 + 1):
            for x in range(x1 - x0 + 1):
                pos = neg = False
                for k in range(4):
                    ax, ay = q[k, 0], q[k, 1]
                    bx, by = q[(k + 1) % 4, 0], q[(k + 1) % 4, 1]
                    c = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
                    pos = pos or c > 0
                    neg = neg or c < 0
                if not (pos and neg):
                    total += prob[y0 + y, x0 + x]
                    count += 1
        scores[i] = total / count if count else 0.0


@self_checked
def box_scores(prob: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    from .db import box_extent

    check_box_scores(prob, boxes)
    h, w = prob.shape
    boxes = np.ascontiguousarray(boxes, np.float64).reshape(-1, 4, 2)
    extents = np.array([box_extent(b, w, h) for b in boxes], np.int64).reshape(-1, 4)
    scores = np.zeros(len(boxes), np.float32)
    _box_scores(prob, boxes, extents, scores)
    return scores

