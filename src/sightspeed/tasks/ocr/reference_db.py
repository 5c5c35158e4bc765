"""The reference variant's text detection, the plain way: PP-OCR's DBNet pre- and post-processing as its own
code (and RapidOCR's copy of it) reads, with OpenCV, pyclipper and numpy. Shares nothing with the fast variant
but the model file and the published constants (:mod:`.published`).

Post-processing: threshold the probability map, dilate 2x2, take contours; per contour the minimum-area
rectangle; drop it if its short side is too small or its mean probability (over cv2.fillPoly's pixels) is too
low; grow it ("unclip": offset by area x ratio / perimeter with round joins) and take the minimum-area rectangle
again; scale to the image, order the corners clockwise from top-left, clip, drop slivers; sort in reading order.
"""

from __future__ import annotations

import math

import numpy as np

from .published import (BOX_THRESH, DET_MULTIPLE, LIMIT_SIDE, MAX_CANDIDATES, MAX_SIDE, MIN_SIZE, SAME_LINE, TALL,
                        THRESH, UNCLIP)


def detector_input(image: np.ndarray) -> np.ndarray:
    """Resize so the short side is at least LIMIT_SIDE (never past MAX_SIDE on the long side), both sides a
    multiple of 32; (x / 255 - 0.5) / 0.5 in float64; CHW with a batch axis."""
    import cv2

    h, w = image.shape[:2]
    ratio = 1.0
    if min(h, w) < LIMIT_SIDE:
        ratio = min(LIMIT_SIDE / min(h, w), max(1.0, MAX_SIDE / max(h, w)))
    new_h = max(DET_MULTIPLE, int(round(int(h * ratio) / DET_MULTIPLE) * DET_MULTIPLE))
    new_w = max(DET_MULTIPLE, int(round(int(w * ratio) / DET_MULTIPLE) * DET_MULTIPLE))
    resized = cv2.resize(image, (new_w, new_h))
    x = (resized.astype(np.float64) / 255.0 - 0.5) / 0.5
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """PP-OCR's get_mini_boxes: the minimum-area rectangle's corners (top-left, top-right, bottom-right,
    bottom-left) and its short side."""
    import cv2

    rect = cv2.minAreaRect(contour)
    points = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(points[:2], key=lambda p: p[1])
    right = sorted(points[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], np.float32), min(rect[1])


def box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """PP-OCR's box_score_fast: the mean probability over the box's filled polygon."""
    import cv2

    h, w = prob.shape
    xmin = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
    shifted = box - np.array([xmin, ymin], np.float32)
    cv2.fillPoly(mask, [shifted.astype(np.int32)], 1)
    return cv2.mean(prob[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def unclip(box: np.ndarray) -> np.ndarray:
    """Grow the box by area x UNCLIP / perimeter (pyclipper, round joins), as PP-OCR does."""
    import pyclipper

    x, y = box[:, 0].astype(np.float64), box[:, 1].astype(np.float64)
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    perimeter = sum(math.dist(box[i], box[(i + 1) % len(box)]) for i in range(len(box)))
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * UNCLIP / perimeter if perimeter else 0.0)
    return np.array(grown[0] if grown else box, np.float32)


def clockwise(box: np.ndarray) -> np.ndarray:
    """Corners ordered top-left, top-right, bottom-right, bottom-left: the two leftmost (by x) are the left side."""
    by_x = sorted(box.tolist(), key=lambda p: p[0])
    left = sorted(by_x[:2], key=lambda p: p[1])
    right = sorted(by_x[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def text_boxes(prob: np.ndarray, height: int, width: int) -> list[np.ndarray]:
    """The text boxes (each 4 x 2, image pixels) in a DB probability map, in reading order."""
    import cv2

    map_h, map_w = prob.shape
    bitmap = cv2.dilate((prob > THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours[:MAX_CANDIDATES]:
        box, short_side = mini_box(contour)
        if short_side < MIN_SIZE:
            continue
        if box_score(prob, box) < BOX_THRESH:
            continue
        box, short_side = mini_box(unclip(box).reshape(-1, 1, 2))
        if short_side < MIN_SIZE + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / map_w * width), 0, width)
        box[:, 1] = np.clip(np.round(box[:, 1] / map_h * height), 0, height)
        box = clockwise(box)
        box[:, 0] = np.clip(box[:, 0], 0, width - 1).astype(np.int32)
        box[:, 1] = np.clip(box[:, 1], 0, height - 1).astype(np.int32)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        boxes.append(box)
    return reading_order(boxes)


def reading_order(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """PP-OCR's sorted_boxes: by the top-left corner's y then x; a box whose top is within SAME_LINE pixels of the
    previous one's and further left moves before it."""
    boxes = sorted(boxes, key=lambda b: (b[0][1], b[0][0]))
    for i in range(len(boxes) - 1):
        for j in range(i, -1, -1):
            if abs(boxes[j + 1][0][1] - boxes[j][0][1]) < SAME_LINE and boxes[j + 1][0][0] < boxes[j][0][0]:
                boxes[j], boxes[j + 1] = boxes[j + 1], boxes[j]
            else:
                break
    return boxes


def crop_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """PP-OCR's get_rotate_crop_image: the box warped upright (cubic, edge pixels repeated); a crop at least TALL
    times taller than wide is turned 90 degrees."""
    import cv2

    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    w, h = max(w, 1), max(h, 1)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if crop.shape[0] / crop.shape[1] >= TALL:
        crop = np.rot90(crop)
    return crop
