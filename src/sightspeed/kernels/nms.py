"""Box non-maximum suppression: ``nms`` (greedy, keeps indices) and ``weighted_nms`` (each kept box becomes the
score-weighted mean of the boxes it suppresses, as BlazeFace's post-processing does). Boxes are (x0, y0, x1, y1)."""

from __future__ import annotations

import functools

import numpy as np

from . import checks
from ._registry import Op, Tolerance


def check_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5, *, op: str = "nms") -> None:
    n = checks.boxes(op, boxes)
    checks.array(op, "scores", scores, ndim=1)
    if len(scores) != n:
        raise ValueError(f"{op}: {n} boxes but {len(scores)} scores")
    if not 0.0 <= float(iou_threshold) <= 1.0:  # NaN fails this too; OpenCV would assert instead
        raise ValueError(f"{op}: iou_threshold must be between 0 and 1, not {iou_threshold}")


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of ``boxes`` (areas without the +1 pixel convention)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two convex polygons given as (K, 2) corners, e.g. rotated text boxes (K = 4).

    >>> polygon_iou(np.array([[0, 0], [2, 0], [2, 2], [0, 2]]), np.array([[1, 0], [3, 0], [3, 2], [1, 2]]))
    0.3333333333333333
    """
    import cv2

    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """Indices of the kept boxes, best score first: take the best remaining box, drop every box whose IoU with it
    is above ``iou_threshold``, repeat. Equal scores keep their input order.

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    >>> nms_reference(b, np.array([0.9, 0.8, 0.7], np.float32)).tolist()
    [0, 2]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.array(keep, np.int64)


def _nms_opencv(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    import cv2

    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros(0, np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    # NMSBoxes keeps scores as float32 (close scores would tie) and drops those <= its threshold (which must be
    # >= 0): hand it the ranks n..1 instead, in the reference's order (equal scores: input order)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    ranks = np.empty(len(order), np.float64)
    ranks[order] = np.arange(len(order), 0, -1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), ranks.tolist(), 0.0, iou_threshold)
    return np.asarray(keep, np.int64).reshape(-1)


def weighted_nms_reference(boxes: np.ndarray, scores: np.ndarray,
                           iou_threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, scores) after weighted NMS: the best remaining box and every box overlapping it by more than
    ``iou_threshold`` are replaced by their score-weighted mean box, carrying the best score.

    >>> b = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], np.float32)
    >>> boxes, s = weighted_nms_reference(b, np.array([0.75, 0.25], np.float32))
    >>> boxes.tolist(), s.tolist()
    ([[0.5, 0.0, 10.5, 10.0]], [0.75])
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")
    out_boxes, out_scores = [], []
    while order.size:
        best = order[0]
        cluster = order[iou_one_to_many(boxes[best], boxes[order]) > iou_threshold]
        cluster = cluster if best in cluster else np.append(cluster, best)  # a zero-area box overlaps nothing
        w = scores[cluster]
        out_boxes.append((boxes[cluster] * w[:, None]).sum(0) / w.sum() if w.sum() > 0 else boxes[best])
        out_scores.append(scores[best])
        order = order[~np.isin(order, cluster)]
    return (np.array(out_boxes, np.float32).reshape(-1, 4), np.array(out_scores, np.float32))


nms = Op("nms", nms_reference,
         # benchmarks/kernels.py, 2000 boxes (medians): numba 11 ms, opencv 27 (NMSBoxes), array_api 89, numpy 133
         default_order=("numba", "opencv", "numpy"))
nms.check = check_nms
nms.add("opencv", _nms_opencv)
nms.add("numba", "sightspeed.kernels._numba:nms")
nms.add("array_api", "sightspeed.kernels._xp:nms")
nms.add("cupy", "sightspeed.kernels._xp:nms_cupy")

weighted_nms = Op("weighted_nms", weighted_nms_reference, default_order=("numba", "numpy"))
weighted_nms.check = functools.partial(check_nms, op="weighted_nms")
weighted_nms.add("numba", "sightspeed.kernels._numba:weighted_nms", Tolerance(1e-4))
