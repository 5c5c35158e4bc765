"""DB (differentiable binarisation) text-detection helpers the OCR task needs: ``db_bitmap`` (threshold + 2x2
dilation of the probability map) and ``box_scores`` (mean probability inside each quadrilateral)."""

from __future__ import annotations

import numpy as np

from . import checks
from ._registry import Op, Tolerance


def check_db_bitmap(prob: np.ndarray, thresh: float = 0.3, out: np.ndarray | None = None) -> None:
    checks.array("db_bitmap", "prob", prob, ndim=2, dtype=checks.FLOATS)
    checks.out("db_bitmap", out, tuple(prob.shape), np.uint8)


def check_box_scores(prob: np.ndarray, boxes: np.ndarray) -> None:
    checks.array("box_scores", "prob", prob, ndim=2, dtype=checks.FLOATS)
    checks.boxes("box_scores", boxes, corners=4)


def db_bitmap_reference(prob: np.ndarray, thresh: float = 0.3, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 0/1 map: ``prob > thresh``, dilated by a 2x2 square (a pixel is set when it or its left, upper or
    upper-left neighbour is above the threshold: OpenCV's anchor for an even kernel).

    >>> db_bitmap_reference(np.array([[0.9, 0.0], [0.0, 0.0]], np.float32)).tolist()
    [[1, 1], [1, 1]]
    """
    b = prob > thresh
    d = b.copy()
    d[1:] |= b[:-1]
    d[:, 1:] |= b[:, :-1]
    d[1:, 1:] |= b[:-1, :-1]
    if out is None:
        out = np.empty(prob.shape, np.uint8)
    out[...] = d
    return out


def _db_bitmap_opencv(prob: np.ndarray, thresh: float = 0.3, out: np.ndarray | None = None) -> np.ndarray:
    import cv2

    _, b = cv2.threshold(prob, thresh, 1, cv2.THRESH_BINARY)
    if out is None:
        out = np.empty(prob.shape, np.uint8)
    # dilate with a 2x2 kernel: anchor (1, 1) reaches the left/upper neighbours; borders add nothing
    r = cv2.dilate(b.astype(np.uint8), np.ones((2, 2), np.uint8), dst=out if out.flags.c_contiguous else None,
                   borderType=cv2.BORDER_CONSTANT, borderValue=0)
    if r is not out:
        out[...] = r
    return out


def box_extent(box: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """The box's bounding pixels (x0, y0, x1, y1 inclusive), clipped to a ``w`` x ``h`` map."""
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    return x0, y0, x1, y1


def box_scores_reference(prob: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each quadrilateral (N, 4, 2) in map pixels: the mean of ``prob`` over the pixels of its bounding
    rectangle whose integer centres lie inside or on it (vertices truncated to integers, as PP-OCR's
    ``astype(int32)`` does). A box covering no pixel scores 0.

    >>> p = np.zeros((4, 4), np.float32); p[1:3, 1:3] = 1
    >>> box_scores_reference(p, np.array([[[1, 1], [2, 1], [2, 2], [1, 2]]], np.float32)).tolist()
    [1.0]
    """
    h, w = prob.shape
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4, 2)
    scores = np.zeros(len(boxes), np.float32)
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = box_extent(box, w, h)
        q = np.trunc(box - [x0, y0])
        ys, xs = np.mgrid[0:y1 - y0 + 1, 0:x1 - x0 + 1]
        cross = []
        for k in range(4):
            (ax, ay), (bx, by) = q[k], q[(k + 1) % 4]
            cross.append((bx - ax) * (ys - ay) - (by - ay) * (xs - ax))
        cross = np.array(cross)
        inside = np.all(cross >= 0, axis=0) | np.all(cross <= 0, axis=0)
        if inside.any():
            scores[i] = prob[y0:y1 + 1, x0:x1 + 1][inside].astype(np.float64).mean()
    return scores


def _box_scores_opencv(prob: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    import cv2

    h, w = prob.shape
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4, 2)
    scores = np.zeros(len(boxes), np.float32)
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = box_extent(box, w, h)
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        cv2.fillPoly(mask, [(box - [x0, y0]).astype(np.int32)], 1)
        scores[i] = cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0]
    return scores


# benchmarks/kernels.py, 768x1024 map (medians): numba 0.20 ms, opencv 0.30, numpy 0.36 — all exact
db_bitmap = Op("db_bitmap", db_bitmap_reference, default_order=("numba", "opencv", "numpy"))
db_bitmap.check = check_db_bitmap
db_bitmap.add("opencv", _db_bitmap_opencv)
db_bitmap.add("numba", "sightspeed.kernels._numba:db_bitmap")

# benchmarks/kernels.py, 32 quads (medians): numba 1.1 ms, opencv 1.4 (a different rasterisation), numpy 4.9
box_scores = Op("box_scores", box_scores_reference, default_order=("numba", "opencv", "numpy"))
box_scores.check = check_box_scores
box_scores.add("numba", "sightspeed.kernels._numba:box_scores", Tolerance(1e-5))
# cv2.fillPoly's scan conversion decides some edge pixels differently from the centre-inside rule; on boxes a
# few pixels tall that moves the mean by up to ~0.03 (measured on tests/contracts cases).
box_scores.add("opencv", _box_scores_opencv, Tolerance(0.05, mean_atol=0.02))
