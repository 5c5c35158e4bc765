"""Person ROI from face boxes, the sizes (blur kernel, feather, edge filter) that scale with the image, and the part
of a background picture that covers a frame (fast variant; the constants are in :mod:`.published`)."""

from __future__ import annotations

import numpy as np

from .published import ABOVE, BELOW, BLUR_KSIZE_AT_1920, FEATHER_FRACTION, REFINE_RADIUS, SEGMENTER_INPUT, SIDE


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


def cover_crop(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the centred part of a ``src_w`` x ``src_h`` picture with the frame's aspect, i.e. what is
    left of it when it is scaled to cover a ``width`` x ``height`` frame and centre-cropped (never stretched).

    >>> cover_crop(512, 512, 640, 480)  # a square picture behind a 4:3 frame loses a band top and bottom
    (0, 64, 512, 448)
    >>> cover_crop(1920, 1080, 600, 800)  # a landscape picture behind a portrait frame keeps its middle
    (555, 0, 1365, 1080)
    """
    crop_w = max(1, min(src_w, round(src_h * width / height)))
    crop_h = max(1, min(src_h, round(src_w * height / width)))
    x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    return x0, y0, x0 + crop_w, y0 + crop_h


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


def refine_settings(roi_w: int, roi_h: int) -> tuple[int, int]:
    """(radius, subsample) in ROI pixels for ``refine_mask``: REFINE_RADIUS segmenter pixels, and a coarse grid of
    one segmenter pixel (its 256 pixels stretched over the ROI's larger side).

    >>> refine_settings(1256, 1064), refine_settings(200, 150)
    ((10, 4), (2, 1))
    """
    model_px = max(roi_w, roi_h) / SEGMENTER_INPUT
    return max(1, round(REFINE_RADIUS * model_px)), max(1, int(model_px))
