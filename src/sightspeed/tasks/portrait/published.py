"""What the portrait models and the task's output are defined by, shared by both variants (the only code they
share besides the model files): BlazeFace short-range's input size, anchors and thresholds (MediaPipe's published
settings), the selfie segmenter's input size, and the task's geometry constants (how large the person ROI, the
background blur and the mask feather are). Numbers and the anchor table only; no processing.

The anchors are MediaPipe's SsdAnchorsCalculator settings for the short-range model (4 layers, strides
8/16/16/16, scales 0.1484375..0.75, one aspect ratio, fixed anchor size): 16x16x2 + 8x8x6 = 896 anchors.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# BlazeFace short-range: a 128 x 128 RGB input in [-1, 1]; a face is a sigmoid score >= 0.5; overlapping
# detections (IoU > 0.3) are merged by MediaPipe's weighted NMS.
DETECTOR_INPUT = 128
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
# the selfie segmenter (landscape-free "general" model): a 256 x 256 RGB input in [0, 1], one probability map out
SEGMENTER_INPUT = 256

# Head-and-shoulders around a face of width fw and height fh: sideways 1.6 fw each side, 0.8 fh above the
# face (hair), 4 fh below it (shoulders and chest). Chosen on portrait photos; the union covers all faces.
SIDE, ABOVE, BELOW = 1.6, 0.8, 4.0
# The background blur: a 55-px Gaussian on a 1920-px frame, scaled with the frame's larger side.
BLUR_KSIZE_AT_1920 = 55
# The mask's edge is softened by a Gaussian of sigma = 1% of the ROI's larger side (at least 1 px) (--edges soft).
FEATHER_FRACTION = 0.01
# --edges refined: the mask upsampled without the feather, then a guided filter (colour guide: the frame) with
# windows of REFINE_RADIUS segmenter pixels (where the mask's edge is uncertain), eps REFINE_EPS (about the JPEG
# noise's variance in [0, 1] units: edges weaker than ~2.5 levels are smoothed over), its coefficients computed on
# a grid of one segmenter pixel (the mask holds nothing finer). Chosen on benchmarks/edges.py's composites;
# docs/edges.md shows how the error moves with them.
REFINE_RADIUS = 2
REFINE_EPS = 1e-4


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], in the model's output order (read-only)."""
    strides = [8, 16, 16, 16]
    out = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2  # aspect ratio 1.0 plus the interpolated scale, per layer
            last += 1
        side = DETECTOR_INPUT // strides[layer]
        ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
        layer = last
    result = np.concatenate(out).astype(np.float32)
    assert result.shape == (896, 2), result.shape
    result.flags.writeable = False
    return result
