"""Strong Gaussian blur of a whole frame (a blurred background): at full resolution, or at 1/factor and back up."""

from __future__ import annotations

import numpy as np


def blur_reference(image: np.ndarray, ksize: int) -> np.ndarray:
    """The oracle: one full-resolution ksize x ksize Gaussian blur."""
    import cv2

    return cv2.GaussianBlur(image, (ksize, ksize), 0)


def blur_downsampled(image: np.ndarray, ksize: int, factor: int = 4, out: np.ndarray | None = None) -> np.ndarray:
    """Area-downsample by ``factor``, blur with a kernel ``factor`` times smaller, upsample bilinearly into ``out``.

    A wide Gaussian keeps almost nothing above 1/factor of the sampling rate, so the detail thrown away by the
    downsample is detail the blur removes anyway: ~8x less work at FHD for a mean difference of about one level
    (tests/test_kernels.py holds the tolerance).
    """
    import cv2

    h, w = image.shape[:2]
    sw, sh = max(1, w // factor), max(1, h // factor)
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    k = max(3, (ksize // factor) | 1)
    small = cv2.GaussianBlur(small, (k, k), 0)
    return cv2.resize(small, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)
