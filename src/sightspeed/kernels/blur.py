"""Strong Gaussian blur of a whole frame (a blurred background): at full resolution, or at 1/factor and back up."""

from __future__ import annotations

import numpy as np


def blur_reference(image: np.ndarray, ksize: int) -> np.ndarray:
    """The oracle: one full-resolution ksize x ksize Gaussian blur (sigma from ksize, as OpenCV derives it)."""
    import cv2

    return cv2.GaussianBlur(image, (ksize, ksize), 0)


def opencv_sigma(ksize: int) -> float:
    """The sigma OpenCV uses for a Gaussian of size ``ksize`` when given sigma 0."""
    return 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8


def downsample_factor(ksize: int) -> int:
    """How far a blur of ``ksize`` can be shrunk and still be a >= 13-tap blur: 4 for 55 (FHD), 1 for small ones."""
    return int(np.clip(ksize // 13, 1, 8))


def blur_downsampled(image: np.ndarray, ksize: int, factor: int | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Area-downsample by ``factor``, blur with a sigma ``factor`` times smaller, upsample bilinearly into ``out``.

    A wide Gaussian keeps almost nothing above 1/factor of the sampling rate, so the detail thrown away by the
    downsample is detail the blur removes anyway: ~8x less work at FHD. The box (area) filter and the bilinear
    upsample blur a little themselves (variances f^2/12 and f^2/6 in full-resolution pixels); the small blur's
    sigma is reduced by that much so the total matches the reference (tests/test_kernels.py holds the tolerance).
    """
    factor = factor or downsample_factor(ksize)
    h, w = image.shape[:2]
    return blur_from_small(shrink(image, factor), ksize, factor, (w, h), out)


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average ``factor`` x ``factor`` blocks (the image itself when factor is 1).

    A power-of-two factor is done as repeated halving: OpenCV's 2x2 INTER_AREA path is a special case, and two of
    them cost ~1 ms at FHD against ~3.2 ms for one 4x4 INTER_AREA, for the same 4x4 box mean (the intermediate
    rounding moves a value by at most one level; tests/test_kernels.py holds it).
    """
    import cv2

    if factor == 1:
        return image
    h, w = image.shape[:2]
    if factor & (factor - 1) == 0 and w % factor == 0 and h % factor == 0:
        while factor > 1:
            h, w, factor = h // 2, w // 2, factor // 2
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return image
    return cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def blur_from_small(small: np.ndarray, ksize: int, factor: int, size: tuple[int, int],
                    out: np.ndarray | None = None) -> np.ndarray:
    """The second half of :func:`blur_downsampled`, for a caller that already has the ``shrink``-ed image."""
    import cv2

    if factor == 1:
        return cv2.GaussianBlur(small, (ksize, ksize), 0, dst=out)
    variance = opencv_sigma(ksize) ** 2 - factor**2 / 12 - factor**2 / 6
    sigma = float(np.sqrt(max(variance, 0.25))) / factor
    blurred = cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.resize(blurred, size, dst=out, interpolation=cv2.INTER_LINEAR)
