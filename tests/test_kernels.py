from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sightspeed.kernels.blur import blur_downsampled, blur_reference
from sightspeed.kernels.composite import composite_opencv, composite_reference
from sightspeed.kernels.scratch import Scratch


def random_images(shape, seed=0):
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, 256, shape + (3,), np.uint8)
    bg = rng.integers(0, 256, shape + (3,), np.uint8)
    mask = rng.integers(0, 256, shape, np.uint8)
    return fg, bg, mask


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (480, 640)])
@pytest.mark.parametrize("strided", [False, True])
def test_composite_opencv_matches_reference(shape, strided):
    fg, bg, mask = random_images(shape)
    if strided:  # ROI views inside bigger frames, as the portrait task passes them
        big = np.zeros((shape[0] + 4, shape[1] + 6, 3), np.uint8)
        big[2:-2, 3:-3] = fg
        fg = big[2:-2, 3:-3]
        big_bg = np.zeros_like(big)
        big_bg[2:-2, 3:-3] = bg
        bg = big_bg[2:-2, 3:-3]
    before = (fg.copy(), bg.copy(), mask.copy())
    got = composite_opencv(fg, bg, mask)
    want = composite_reference(fg, bg, mask)
    assert np.abs(got.astype(int) - want).max() <= 1  # each term rounds separately: at most one level
    for a, b in zip((fg, bg, mask), before):
        np.testing.assert_array_equal(a, b)  # inputs untouched


def test_composite_in_place_into_a_frame_view():
    fg, bg, mask = random_images((40, 50))
    frame = np.zeros((100, 120, 3), np.uint8)
    frame[10:50, 20:70] = bg
    want = composite_reference(fg, bg, mask)
    view = frame[10:50, 20:70]
    composite_opencv(fg, view, mask, out=view)
    assert np.abs(frame[10:50, 20:70].astype(int) - want).max() <= 1
    assert not frame[:10].any() and not frame[:, :20].any()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20), st.just(3))), st.data())
def test_composite_laws(fg, data):
    bg = data.draw(arrays(np.uint8, fg.shape))
    ones = np.full(fg.shape[:2], 255, np.uint8)
    zeros = np.zeros(fg.shape[:2], np.uint8)
    np.testing.assert_array_equal(composite_opencv(fg, bg, ones), fg)  # an all-foreground mask is the identity
    np.testing.assert_array_equal(composite_opencv(fg, bg, zeros), bg)
    np.testing.assert_array_equal(composite_reference(fg, bg, ones), fg)


def test_blur_downsampled_is_close_to_full_resolution(photos):
    import cv2

    frame = cv2.resize(photos[0], (1280, 720))
    want = blur_reference(frame, 37).astype(int)
    got = blur_downsampled(frame, 37).astype(int)
    diff = np.abs(got - want)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) < 12


def test_scratch_reuses_memory_per_slot():
    s = Scratch()
    a = s.array("x", (10, 10, 3))
    b = s.array("x", (5, 5, 3))
    c = s.array("y", (5, 5, 3))
    assert np.shares_memory(a, b) and not np.shares_memory(a, c)
    assert b.flags["C_CONTIGUOUS"] and b.shape == (5, 5, 3)


@pytest.mark.parametrize("shape", [(1080, 1920), (720, 1280), (37, 53)])
@pytest.mark.parametrize("factor", [1, 2, 4, 3])
def test_shrink_is_the_box_mean(shape, factor):
    from sightspeed.kernels.blur import shrink

    img = np.random.default_rng(1).integers(0, 256, shape + (3,), np.uint8)
    before = img.copy()
    got = shrink(img, factor)
    h, w = shape[0] // factor, shape[1] // factor
    assert got.shape == (h, w, 3)
    if shape[0] % factor == 0 and shape[1] % factor == 0:
        box = img.reshape(h, factor, w, factor, 3).astype(np.float64).mean(axis=(1, 3))
        assert np.abs(got - box).max() <= 1.0
    np.testing.assert_array_equal(img, before)
