"""BlazeFace short-range, the fast way: letterbox to 128x128 and normalise (the ``letterbox`` and ``preprocess``
kernel ops), decode the boxes against the anchors, merge overlaps (the ``weighted_nms`` kernel op).

The model's constants (input size, anchors, thresholds) are in :mod:`.published`.
"""

from __future__ import annotations

import numpy as np

from ... import kernels
from .published import DETECTOR_INPUT as INPUT
from .published import NMS_IOU, SCORE_THRESHOLD, anchors

__all__ = ["INPUT", "NORMALIZE", "anchors", "decode", "detect", "warmup"]

# the model's input levels: RGB, x * 2 / 255 - 1 (the ``preprocess`` op's arguments; also what a fused model bakes in)
NORMALIZE = {"scale": 2 / 255, "mean": (1.0, 1.0, 1.0), "std": (1.0, 1.0, 1.0), "swap_rb": True}


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


def model_input(image: np.ndarray, out: np.ndarray | None = None, fused: bool = False
                ) -> tuple[np.ndarray, kernels.Letterbox]:
    """The detector's (1, 128, 128, 3) RGB input in [-1, 1] (black bars = -1) and where the image landed in it.
    The image is area-averaged down (bilinear when it is smaller than the input). ``fused``: the letterboxed
    uint8 BGR canvas itself, for a model with :data:`NORMALIZE` in its graph (:mod:`sightspeed.models.fuse`)."""
    canvas = kernels.letterbox(image, (INPUT, INPUT), color=0, interpolation="area")
    fit = kernels.Letterbox.fit((image.shape[1], image.shape[0]), (INPUT, INPUT))
    if fused:
        return canvas[None], fit
    return kernels.preprocess(canvas, (INPUT, INPUT), **NORMALIZE, layout="nhwc", out=out), fit


def detect(runtime, image: np.ndarray, scale: float = 1.0, out: np.ndarray | None = None, fused: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    """Faces in a BGR image: boxes (N, 4) in image pixels and their scores, best first.

    ``image`` may be a shrunk copy of the frame (``scale`` = frame size / image size): boxes come back in frame
    pixels either way, and letterboxing from the small copy is cheaper than from the frame. ``out``: a reused
    (1, 128, 128, 3) float32 model input. ``fused``: ``runtime`` takes the uint8 canvas (see :func:`model_input`).
    """
    x, fit = model_input(image, out, fused)
    regressors, logits = runtime.run(x)
    boxes, scores = decode(regressors, logits)
    boxes, scores = kernels.weighted_nms(boxes, scores, NMS_IOU)
    corners = fit.to_source(boxes.reshape(-1, 2) * INPUT).reshape(-1, 4)
    return (corners * scale).astype(np.float32), scores


def warmup() -> None:
    """Import (and JIT-compile, for numba) the kernels ``detect`` calls, outside any timed region."""
    image = np.zeros((40, 60, 3), np.uint8)
    kernels.letterbox.warmup(example=lambda: ((image, (INPUT, INPUT)), dict(color=0, interpolation="area")))
    kernels.preprocess.warmup(example=lambda: ((np.zeros((INPUT, INPUT, 3), np.uint8), (INPUT, INPUT)),
                                               dict(layout="nhwc")))
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1.1]], np.float32)
    kernels.weighted_nms.warmup(example=lambda: ((boxes, np.array([0.9, 0.8], np.float32), NMS_IOU), {}))
