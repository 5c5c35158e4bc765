"""BlazeFace short-range: letterbox to 128x128, SSD anchors, box decoding, weighted NMS.

The anchors are MediaPipe's SsdAnchorsCalculator settings for the short-range model (4 layers, strides
8/16/16/16, scales 0.1484375..0.75, one aspect ratio, fixed anchor size): 16x16x2 + 8x8x6 = 896 anchors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

INPUT = 128
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], in the model's output order."""
    strides = [8, 16, 16, 16]
    out = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2  # aspect ratio 1.0 plus the interpolated scale, per layer
            last += 1
        side = INPUT // strides[layer]
        ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
        layer = last
    result = np.concatenate(out).astype(np.float32)
    assert result.shape == (896, 2), result.shape
    return result


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square model input: scale, and padding in input pixels."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) x0,y0,x1,y1 normalised to the model input -> pixels of the original image."""
        b = boxes * INPUT
        b[:, [0, 2]] -= self.pad_x
        b[:, [1, 3]] -= self.pad_y
        return b / self.scale


def letterbox(image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, Letterbox]:
    """Fit a BGR uint8 image into 128x128 keeping aspect (centred, black bars); RGB float32 in [-1, 1]."""
    import cv2

    h, w = image.shape[:2]
    scale = INPUT / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
    if out is None:
        out = np.empty((INPUT, INPUT, 3), np.float32)
    out.fill(-1.0)
    # BGR -> RGB and [0, 255] -> [-1, 1] in one pass over the small copy
    np.multiply(small[:, :, ::-1], 2.0 / 255.0, out=out[py:py + nh, px:px + nw], casting="unsafe")
    out[py:py + nh, px:px + nw] -= 1.0
    return out, Letterbox(scale, px, py)


def decode(regressors: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs ([896, 16], [896] logits) -> boxes (N, 4) normalised x0,y0,x1,y1 and scores, above threshold."""
    logits = np.clip(scores.reshape(-1).astype(np.float64), -80.0, 80.0)
    prob = 1.0 / (1.0 + np.exp(-logits))
    keep = prob >= SCORE_THRESHOLD
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    reg = regressors.reshape(-1, 16)[keep]
    anc = anchors()[keep]
    cx = reg[:, 0] / INPUT + anc[:, 0]
    cy = reg[:, 1] / INPUT + anc[:, 1]
    w = reg[:, 2] / INPUT
    h = reg[:, 3] / INPUT
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes.astype(np.float32), prob[keep].astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box against many (x0, y0, x1, y1)."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED overlap suppression: each cluster (IoU > threshold with its best box) becomes the
    score-weighted mean of its boxes, keeping the best score. Output sorted by score, best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    out_boxes, out_scores = [], []
    remaining = np.arange(len(boxes))
    while remaining.size:
        overlaps = iou(boxes[remaining[0]], boxes[remaining])
        cluster = remaining[overlaps > threshold]
        cluster = cluster if cluster.size else remaining[:1]
        weights = scores[cluster]
        out_boxes.append((boxes[cluster] * weights[:, None]).sum(0) / weights.sum())
        out_scores.append(scores[remaining[0]])
        remaining = remaining[overlaps <= threshold]
        if remaining.size and remaining[0] == cluster[0]:  # guard against a degenerate box that overlaps nothing
            remaining = remaining[1:]
    return np.array(out_boxes, np.float32).reshape(-1, 4), np.array(out_scores, np.float32)


def detect(runtime, image: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Faces in a BGR image: boxes (N, 4) in image pixels and their scores, best first.

    ``image`` may be a shrunk copy of the frame (``scale`` = frame size / image size): boxes come back in frame
    pixels either way, and letterboxing from the small copy is cheaper than from the frame.
    """
    x, fit = letterbox(image)
    regressors, logits = runtime.run(x[None])
    boxes, scores = decode(regressors, logits)
    boxes, scores = weighted_nms(boxes, scores)
    return fit.to_image(boxes) * scale, scores
