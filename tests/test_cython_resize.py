"""The cython backend's fused resize + normalise: its AVX2 and SSSE3 steps (those this CPU has) and its scalar loop
give the same numbers, its tables sample where the reference does, and the 16-byte loads never leave the source
rows."""

from __future__ import annotations

import numpy as np
import pytest

from sightspeed import kernels
from sightspeed.kernels.preprocess import affine, preprocess_reference
from sightspeed.kernels.resize import sample_positions

ok, why = kernels.get("preprocess").available("cython")
pytestmark = pytest.mark.skipif(not ok, reason=str(why))

GEOMETRIES = [((1080, 1920), (640, 640)), ((240, 320), (64, 48)), ((20, 30), (64, 40)), ((7, 6), (13, 5)),
              ((480, 640), (640, 480))]


def run(image, size, simd, swap=True, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    from sightspeed.kernels import _cython
    from sightspeed.kernels._cy import kernels_cy

    ofs, wx, n_simd, y0, y1, wy = _cython.sampling(image.shape[1], image.shape[0], *size)
    a, b = affine(mean, std, 1 / 255)
    out = np.full((3, size[1], size[0]), np.nan, np.float32)
    kernels_cy.resize_normalize_chw(image, out, ofs, wx, y0, y1, wy, a, b, swap, n_simd, simd, 2)
    return out


@pytest.mark.parametrize("shape, size", GEOMETRIES)
@pytest.mark.parametrize("swap", [True, False])
def test_simd_and_scalar_paths_agree_and_match_the_reference(shape, size, swap):
    from sightspeed.kernels._cy import kernels_cy

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, shape + (3,), np.uint8)
    scalar = run(image, size, simd=0, swap=swap)
    assert not np.isnan(scalar).any()  # every output pixel written
    for level in range(1, kernels_cy.SIMD + 1):  # 1: SSSE3, 2: AVX2 + FMA
        np.testing.assert_allclose(run(image, size, simd=level, swap=swap), scalar, rtol=0, atol=1e-5)
    want = preprocess_reference(image, size, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                swap_rb=swap)[0]
    level = 1 / 255 / 0.225
    # no uint8 rounding between resize and normalise: within half a level of the rounded reference
    assert np.abs(scalar - want).max() <= 0.5 * level + 1e-4


@pytest.mark.parametrize("shape, size", GEOMETRIES)
def test_tables_sample_where_the_reference_does(shape, size):
    from sightspeed.kernels import _cython

    (h, w), (ow, oh) = shape, size
    ofs, wx, n_simd, y0, y1, wy = _cython.sampling(w, h, ow, oh)
    x = ofs / 3 + wx[:, 1] / _cython.ONE
    np.testing.assert_allclose(x, sample_positions(ow, 0, w, w), atol=1 / _cython.ONE)
    assert (wx[:, 0].astype(int) + wx[:, 1] == _cython.ONE).all()
    assert (ofs >= 0).all() and (ofs + 6 <= 3 * w).all()  # both taps inside the row
    assert n_simd % 4 == 0 and (ofs[:n_simd] + 16 <= 3 * w).all()  # the SIMD loads too
    np.testing.assert_allclose(y0 + wy, sample_positions(oh, 0, h, h), atol=1e-6)
    assert (y1 <= h - 1).all() and (y1 - y0 <= 1).all()


def test_the_fused_path_reads_only_inside_the_source_rows():
    """A ROI whose right edge is the end of the frame's buffer: a load past the row would read past the buffer
    (or, here, the poisoned pixels right of the ROI, which would change the result)."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (100, 160, 3), np.uint8)
    roi = frame[10:90, 20:100]
    clean = roi.copy()
    frame[:, 100:] = 255 - frame[:, 100:]  # what a stray read right of the ROI would see
    got = kernels.preprocess(roi, (37, 29), backend="cython")
    np.testing.assert_array_equal(got, kernels.preprocess(clean, (37, 29), backend="cython"))
