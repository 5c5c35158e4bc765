"""Laws every backend must keep (hypothesis property tests), beyond agreeing with the reference on fixed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightspeed import kernels
from sightspeed.kernels.nms import iou_one_to_many


def backends_of(name: str) -> list[str]:
    return [b for op, b in kernels.available_pairs() if op == name]


# derandomized: the same examples on every run, so a failure (or a crash in an OpenCL driver) is reproducible
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@pytest.mark.parametrize("backend", backends_of("composite"))
@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), x=st.integers(0, 10), y=st.integers(0, 10),
       seed=st.integers(0, 2**16))
def test_composite_full_mask_pastes_foreground(backend, h, w, x, y, seed):
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h + y + 3, w + x + 2, 3), dtype=np.uint8)
    out = kernels.composite(fg, bg, np.full((h, w), 255, np.uint8), offset=(x, y), backend=backend)
    np.testing.assert_array_equal(out[y:y + h, x:x + w], fg)
    outside = np.ones(bg.shape[:2], bool)
    outside[y:y + h, x:x + w] = False
    np.testing.assert_array_equal(out[outside], bg[outside])
    empty = kernels.composite(fg, bg, np.zeros((h, w), np.uint8), offset=(x, y), backend=backend)
    np.testing.assert_array_equal(empty, bg)


@pytest.mark.parametrize("backend", backends_of("composite"))
def test_composite_in_place_equals_out_of_place(backend):
    rng = np.random.default_rng(3)
    fg = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    mask = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    want = kernels.composite(fg, bg, mask, offset=(5, 7), backend=backend)
    frame = bg.copy()
    got = kernels.composite(fg, frame, mask, out=frame, offset=(5, 7), backend=backend)
    assert got is frame
    np.testing.assert_array_equal(frame, want)


@pytest.mark.parametrize("backend", backends_of("refine_mask"))
@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), value=st.integers(0, 255), radius=st.integers(1, 12),
       subsample=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_refine_keeps_a_constant_mask_constant(backend, h, w, value, radius, subsample, seed):
    """Whatever the guide: a mask with no edge gets none (cov(I, p) is 0, so a = 0 and b = p)."""
    guide = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = kernels.refine_mask(np.full((h, w), value, np.uint8), guide, radius, subsample=subsample, backend=backend)
    assert (out == value).all()


@pytest.mark.parametrize("backend", backends_of("refine_mask"))
def test_refine_in_place_equals_out_of_place(backend):
    """The portrait task refines the upsampled mask in place (out=mask)."""
    rng = np.random.default_rng(4)
    guide = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    mask = np.clip(np.arange(61) * 6 - 100, 0, 255).astype(np.uint8)[None].repeat(45, 0)
    want = kernels.refine_mask(mask, guide, 6, subsample=3, backend=backend)
    got = kernels.refine_mask(mask, guide, 6, subsample=3, out=mask, backend=backend)
    assert got is mask
    np.testing.assert_array_equal(mask, want)


boxes_strategy = st.integers(0, 60).flatmap(lambda n: st.tuples(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(1, 40), st.floats(1, 40)),
             min_size=n, max_size=n),
    st.lists(st.floats(0, 1), min_size=n, max_size=n)))


@pytest.mark.parametrize("backend", backends_of("nms"))
@SETTINGS
@given(data=boxes_strategy, thr=st.floats(0.1, 0.9))
def test_nms_keeps_a_subset_with_no_overlapping_pair(backend, data, thr):
    rows, scores = data
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], np.float64).reshape(-1, 4)
    scores = np.array(scores, np.float64)
    keep = kernels.nms(boxes, scores, thr, backend=backend)
    assert len(set(keep.tolist())) == len(keep) and all(0 <= i < len(boxes) for i in keep)
    for a in range(len(keep)):
        others = keep[a + 1:]
        if len(others):
            assert (iou_one_to_many(boxes[keep[a]], boxes[others]) <= thr + 1e-6).all()
    dropped = sorted(set(range(len(boxes))) - set(keep.tolist()))
    for i in dropped:  # greedy: each dropped box overlaps a kept one that scores at least as high
        ious = iou_one_to_many(boxes[i], boxes[keep]) if len(keep) else np.zeros(0)
        assert ((ious > thr - 1e-6) & (scores[keep] >= scores[i])).any()


@SETTINGS
@given(w=st.integers(1, 3000), h=st.integers(1, 3000), dw=st.integers(8, 1024), dh=st.integers(8, 1024),
       px=st.floats(0, 1), py=st.floats(0, 1))
def test_letterbox_points_map_back(w, h, dw, dh, px, py):
    g = kernels.Letterbox.fit((w, h), (dw, dh))
    assert g.size[0] <= dw and g.size[1] <= dh and min(g.pad) >= 0
    points = np.array([[px * w, py * h], [0, 0], [w, h]])
    np.testing.assert_allclose(g.to_source(g.to_canvas(points)), points, atol=1e-6 * max(w, h))
    corner = g.to_canvas(np.array([[w, h]]))[0]  # the image's far corner lands at the far edge of its area
    np.testing.assert_allclose(corner, np.array(g.pad) + g.size, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["linear", "area"])
@pytest.mark.parametrize("backend", backends_of("letterbox"))
@SETTINGS
@given(w=st.integers(1, 200), h=st.integers(1, 200), value=st.integers(0, 255))
def test_letterbox_of_a_flat_image_is_flat_inside_and_padded_outside(backend, interpolation, w, h, value):
    img = np.full((h, w, 3), value, np.uint8)
    out = kernels.letterbox(img, (64, 48), color=114, backend=backend, interpolation=interpolation)
    g = kernels.Letterbox.fit((w, h), (64, 48))
    (x, y), (nw, nh) = g.pad, g.size
    assert (out[y:y + nh, x:x + nw] == value).all()
    pad = np.ones(out.shape[:2], bool)
    pad[y:y + nh, x:x + nw] = False
    assert (out[pad] == 114).all()


@SETTINGS
@given(n_in=st.integers(1, 400), n_out=st.integers(1, 400))
def test_area_weights_cover_each_source_pixel_once(n_in, n_out):
    """Shrinking by area: each output pixel averages (rows sum to 1) and each source pixel is spent exactly once."""
    from sightspeed.kernels.resize import area_weights

    if n_out > n_in:
        n_in, n_out = n_out, n_in
    w = area_weights(n_in, n_out)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(w.sum(axis=0), n_out / n_in, atol=1e-9)
