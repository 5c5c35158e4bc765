"""Person ROI from face boxes, and the sizes (blur kernel, feather) that scale with the image (fast variant; the
constants are in :mod:`.published`)."""

from __future__ import annotations

import numpy as np

from .published import ABOVE, BELOW, BLUR_KSIZE_AT_1920, FEATHER_FRACTION, SIDE


def person_roi(faces: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in pixels, clipped to the frame; the whole frame when there is no face.

    >>> person_roi(np.array([[100, 100, 140, 150]], float), 640, 480)
    (36, 60, 204, 350)
    >>> person_roi(np.zeros((0, 4)), 640, 480)
    (0, 0, 640, 480)
    """
    if len(faces) == 0:
        return 0, 0, width, height
    fw = faces[:, 2] - faces[:, 0]
    fh = faces[:, 3] - faces[:, 1]
    x0 = np.min(faces[:, 0] - SIDE * fw)
    x1 = np.max(faces[:, 2] + SIDE * fw)
    y0 = np.min(faces[:, 1] - ABOVE * fh)
    y1 = np.max(faces[:, 3] + BELOW * fh)
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0, 0, width, height
    return x0, y0, x1, y1


def blur_ksize(width: int, height: int) -> int:
    """Odd Gaussian kernel size for the background blur: 55 px on a 1920-px frame, scaled with the frame.

    >>> blur_ksize(1920, 1080), blur_ksize(640, 480)
    (55, 19)
    """
    k = int(round(max(width, height) * BLUR_KSIZE_AT_1920 / 1920))
    return max(3, k | 1)


def feather_sigma(roi_w: int, roi_h: int) -> float:
    """Gaussian sigma (pixels at ROI size) that softens the mask edge: 1% of the ROI's larger side."""
    return max(1.0, FEATHER_FRACTION * max(roi_w, roi_h))
