"""Text detection with DBNet (PP-OCRv4 det), the fast way: input sizing, normalisation (the ``preprocess`` kernel
op), and DB post-processing to boxes (the ``db_bitmap`` and ``box_scores`` kernel ops).

Post-processing (the public DB recipe): threshold the probability map at 0.3, dilate 2x2, take contours; per
contour the minimum-area rectangle; drop it if its short side < 3 or its mean probability < 0.5; "unclip" it (a
polygon offset by d = area x 1.6 / perimeter with round joins, via pyclipper as PP-OCR does) and take the
minimum-area rectangle again; drop it if the short side is < 5; scale to the image; order corners clockwise from
top-left; clip; drop it if a side is <= 3 px.
"""

from __future__ import annotations

import numpy as np

from ... import kernels
from .published import (BOX_THRESH, DET_MULTIPLE, LIMIT_SIDE, MAX_CANDIDATES, MAX_SIDE, MEAN, MIN_SIZE, SAME_LINE,
                        SCALE, STD, TALL, THRESH, UNCLIP)


def input_size(h: int, w: int, limit: int = LIMIT_SIDE) -> tuple[int, int]:
    """(H, W) for the detector: short side raised to ``limit`` (never lowered), both rounded to multiples of 32.
    Raising never takes the long side past 4096 (a 1 x 20000 strip would otherwise ask for 736 x 14.7 million).

    >>> input_size(300, 400), input_size(768, 1024), input_size(2000, 1000), input_size(1, 20000)
    ((736, 992), (768, 1024), (1984, 992), (32, 20000))
    """
    ratio = min(limit / min(h, w), max(1.0, MAX_SIDE / max(h, w))) if min(h, w) < limit else 1.0
    rh, rw = int(h * ratio), int(w * ratio)
    m = DET_MULTIPLE
    return max(m, int(round(rh / m) * m)), max(m, int(round(rw / m) * m))


def model_input(image: np.ndarray, fused: bool = False) -> np.ndarray:
    """The detector's (1, 3, H, W) float32 input: resized to :func:`input_size`, (x / 255 - 0.5) / 0.5, BGR kept.
    ``fused``: only resized, (1, H, W, 3) uint8, for a model with the rest in its graph (models/fuse.py)."""
    h, w = input_size(*image.shape[:2])
    if fused:
        return kernels.crop_resize(image, np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32), (w, h))
    return kernels.preprocess(image, (w, h), mean=MEAN, std=STD, scale=SCALE, swap_rb=False)


def detect_boxes(models, image: np.ndarray) -> np.ndarray:
    """Text boxes (N, 4, 2) of a BGR image, in reading order; the detector's FLOPs go to the running span."""
    from ...profiling import counters

    x = model_input(image, models.det_fused)
    prob = models.det.get().run(x)[0][0, 0]
    counters.add(flops=models.det_flops_per_px * prob.shape[0] * prob.shape[1])
    return db_boxes(prob, *image.shape[:2])[0]


def warmup() -> None:
    """Import (and JIT-compile, for numba) the kernels detection calls, outside any timed region."""
    kernels.preprocess.warmup(example=lambda: ((np.zeros((8, 8, 3), np.uint8), (32, 32)), dict(swap_rb=False)))
    kernels.db_bitmap.warmup(example=lambda: ((np.zeros((8, 8), np.float32),), {}))


def _min_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle of ``points`` as 4 corners (top-left, top-right, bottom-right, bottom-left by the
    DB convention) and its short side."""
    import cv2

    rect = cv2.minAreaRect(points)
    corners = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(corners[:2], key=lambda p: p[1])
    right = sorted(corners[2:], key=lambda p: p[1])
    box = np.array([left[0], right[0], right[1], left[1]], np.float32)
    return box, min(rect[1])


def unclip(box: np.ndarray, ratio: float = UNCLIP) -> np.ndarray:
    """Offset the polygon outwards by d = area x ratio / perimeter, with round joins (pyclipper, as PP-OCR does:
    it works on integer coordinates, so the result matches PP-OCR's to the pixel)."""
    import pyclipper

    area = polygon_area(box)
    perimeter = float(np.linalg.norm(box - np.roll(box, 1, axis=0), axis=1).sum())
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / perimeter if perimeter else 0.0)
    return np.array(grown[0] if grown else box, np.float32)


def order_clockwise(box: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left (by x, then y within each side)."""
    by_x = box[np.argsort(box[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def db_boxes(prob: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4, 2) in pixels of a ``height`` x ``width`` image, and their scores, from a DB probability map."""
    import cv2

    ph, pw = prob.shape
    bitmap = kernels.db_bitmap(prob, THRESH)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[:MAX_CANDIDATES]:
        box, short = _min_box(contour)
        if short < MIN_SIZE:
            continue
        # PP-OCR scores a box over cv2.fillPoly's pixels; the opencv backend keeps its decisions (and RapidOCR's)
        score = float(kernels.box_scores(prob, box[None], backend="opencv")[0])
        if score < BOX_THRESH:
            continue
        box, short = _min_box(unclip(box).reshape(-1, 1, 2))
        if short < MIN_SIZE + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / pw * width), 0, width)
        box[:, 1] = np.clip(np.round(box[:, 1] / ph * height), 0, height)
        box = order_clockwise(box)
        box[:, 0] = np.clip(box[:, 0], 0, width - 1).astype(np.int32)
        box[:, 1] = np.clip(box[:, 1], 0, height - 1).astype(np.int32)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        boxes.append(box)
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    return sort_boxes(np.array(boxes, np.float32), np.array(scores, np.float32))


def sort_boxes(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reading order: top to bottom by the top-left corner; boxes whose tops are within 10 px are one line, read
    left to right."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0][1], boxes[i][0][0]))
    for i in range(len(order) - 1):
        for j in range(i, -1, -1):
            a, b = boxes[order[j]], boxes[order[j + 1]]
            if abs(b[0][1] - a[0][1]) < SAME_LINE and b[0][0] < a[0][0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return boxes[order], scores[order]


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's content warped upright; crops at least 1.5x taller than wide are turned 90 degrees."""
    import cv2

    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    w, h = max(w, 1), max(h, 1)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    out = cv2.warpPerspective(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if out.shape[0] / out.shape[1] >= TALL:
        out = np.ascontiguousarray(np.rot90(out))
    return out


def polygon_area(box: np.ndarray) -> float:
    x, y = box[:, 0], box[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
