"""``feather_mask``: a segmentation model's low-resolution probability map -> a soft uint8 alpha mask at the
frame's size (Gaussian feather at model resolution, then bilinear upsample, x255)."""

from __future__ import annotations

import numpy as np

from . import checks
from ._registry import Op, Tolerance
from .resize import resize_reference, to_uint8


def sigmas(sigma: float | tuple[float, float]) -> tuple[float, float]:
    """(sigma_x, sigma_y) from one sigma for both axes or a pair."""
    return (float(sigma[0]), float(sigma[1])) if isinstance(sigma, (tuple, list)) else (float(sigma), float(sigma))


def check_feather(prob: np.ndarray, size: tuple[int, int], sigma: float | tuple[float, float],
                  out: np.ndarray | None = None) -> None:
    checks.array("feather_mask", "prob", prob, ndim=2, dtype=checks.FLOATS)
    checks.size("feather_mask", size)
    if isinstance(sigma, (tuple, list)) and len(sigma) != 2 or not all(0 <= s < np.inf for s in sigmas(sigma)):
        raise ValueError(f"feather_mask: sigma must be a finite number >= 0, or a pair (x, y) of them, got {sigma!r}")
    checks.out("feather_mask", out, (size[1], size[0]), np.uint8)


def gaussian_size(sigma: float) -> int:
    """OpenCV's kernel size for a float image and ``sigma`` (0: no blur, one tap)."""
    return int(round(sigma * 4 * 2 + 1)) | 1 if sigma > 0 else 1


def gaussian_taps(sigma: float) -> np.ndarray:
    """The normalised 1-D kernel OpenCV's GaussianBlur uses for a float image and ``sigma``."""
    if sigma <= 0:
        return np.ones(1)
    radius = gaussian_size(sigma)
    x = np.arange(radius) - (radius - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def reflect101(n: int, radius: int) -> np.ndarray:
    """Indices of a length-``n`` axis padded by ``radius`` with OpenCV's default border (gfedcb|abcdefgh|gfedcba)."""
    i = np.arange(-radius, n + radius)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def gaussian_reference(x: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """Separable Gaussian blur in float64 with reflect-101 borders; ``sigma`` for both axes or (x, y); 0 = none."""
    kx, ky = (gaussian_taps(s) for s in sigmas(sigma))
    h, w = x.shape
    rx, ry = len(kx) // 2, len(ky) // 2
    rows = x.astype(np.float64)[:, reflect101(w, rx)]
    rows = sum(kx[i] * rows[:, i:i + w] for i in range(len(kx)))
    cols = rows[reflect101(h, ry)]
    return sum(ky[i] * cols[i:i + h] for i in range(len(ky)))


def feather_reference(prob: np.ndarray, size: tuple[int, int], sigma: float | tuple[float, float],
                      out: np.ndarray | None = None) -> np.ndarray:
    """Blur ``prob`` (hxw float in [0, 1]) with a Gaussian of ``sigma`` (in its own pixels; 0 = none; a pair
    (sigma_x, sigma_y) when the map is stretched unevenly to ``size``), resize it bilinearly to ``size`` =
    (width, height), scale to 0..255 and round: an HxW uint8 mask in ``out``.

    >>> feather_reference(np.ones((4, 4), np.float32), (8, 6), 1.0).shape
    (6, 8)
    """
    up = resize_reference(gaussian_reference(prob, sigma), size) * 255.0
    if out is None:
        out = np.empty((size[1], size[0]), np.uint8)
    out[...] = to_uint8(up)
    return out


def opencv_blur(cv2, prob, sigma: float | tuple[float, float]):
    """cv2.GaussianBlur with a sigma per axis, 0 = that axis untouched (OpenCV's own 0 means "same as x")."""
    sx, sy = sigmas(sigma)
    if sx <= 0 and sy <= 0:
        return prob
    return cv2.GaussianBlur(prob, (gaussian_size(sx), gaussian_size(sy)), sigmaX=sx or 1.0, sigmaY=sy or 1.0)


def _feather_opencv(prob: np.ndarray, size: tuple[int, int], sigma: float | tuple[float, float],
                    out: np.ndarray | None = None) -> np.ndarray:
    import cv2

    small = opencv_blur(cv2, prob, sigma)
    small = cv2.convertScaleAbs(small, alpha=255.0)  # scale + round at model resolution: cheap
    if out is None:
        out = np.empty((size[1], size[0]), np.uint8)
    r = cv2.resize(small, size, dst=out if out.flags.c_contiguous else None, interpolation=cv2.INTER_LINEAR)
    if r is not out:
        out[...] = r
    return out


# benchmarks/kernels.py, 256x256 -> FHD: opencv 1.2 ms, array_api 27, opencl 41, numpy 76
feather_mask = Op("feather_mask", feather_reference, default_order=("opencv", "numpy"))
# OpenCV rounds to uint8 before the upsample (fewer pixels to scale) and uses fixed-point weights: 1 level.
feather_mask.check = check_feather
feather_mask.add("opencv", _feather_opencv, Tolerance(1))
feather_mask.add("opencl", "sightspeed.kernels._opencl:feather_mask", Tolerance(1))
feather_mask.add("array_api", "sightspeed.kernels._xp:feather_mask", Tolerance(1))
feather_mask.add("cupy", "sightspeed.kernels._xp:feather_mask_cupy", Tolerance(1))
