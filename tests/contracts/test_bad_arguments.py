"""Every op refuses malformed arguments with a ValueError that names the op and the argument, on every backend,
whether called through the dispatcher or straight at a backend's implementation. The compiled backends index
without bounds checks: before these checks, a composite whose fg was larger than its bg corrupted the heap in the
cython backend, and an ``out`` of the wrong shape let numba's db_bitmap and crop_resize write past it."""

from __future__ import annotations

import numpy as np
import pytest

from sightspeed import kernels

U8 = np.uint8


def img(h, w, c=3, dtype=U8):
    return np.zeros((h, w, c) if c else (h, w), dtype)


BAD = {
    "preprocess": [
        ((img(40, 60, 0), (16, 16)), {}, "image"),
        ((img(40, 60, 4), (16, 16)), {}, "image"),
        ((img(40, 60, dtype=np.float32), (16, 16)), {}, "image"),
        ((img(0, 60), (16, 16)), {}, "image"),
        ((img(40, 60), (16, 0)), {}, "size"),
        ((img(40, 60), (16, 16)), dict(out=np.zeros((1, 3, 8, 8), np.float32)), "out"),
        ((img(40, 60), (16, 16)), dict(std=(1.0, 0.0, 1.0)), "std"),
        ((img(40, 60), (16, 16)), dict(layout="chw"), "layout"),
        ((img(40, 60), (16, 16)), dict(layout="nhwc", out=np.zeros((1, 3, 16, 16), np.float32)), "out"),
    ],
    "composite": [
        ((img(50, 50), img(40, 40), img(50, 50, 0)), {}, "does not fit"),
        ((img(20, 20), img(40, 40), img(20, 20, 0)), dict(offset=(30, 0)), "does not fit"),
        ((img(20, 20), img(40, 40), img(20, 20, 0)), dict(offset=(-1, 0)), "does not fit"),
        ((img(20, 20), img(40, 40), img(10, 20, 0)), {}, "mask"),
        ((img(20, 20, dtype=np.float32), img(40, 40), img(20, 20, 0)), {}, "fg"),
        ((img(20, 20), img(40, 40, 4), img(20, 20, 0)), {}, "bg"),
        ((img(20, 20), img(40, 40), img(20, 20, 0)), dict(out=img(20, 20)), "out"),
    ],
    "letterbox": [
        ((img(40, 60, dtype=np.float32), (32, 32)), {}, "image"),
        ((img(40, 60), (32, 32)), dict(out=img(16, 16)), "out"),
        ((img(40, 60), (32, 32)), dict(interpolation="cubic"), "interpolation"),
    ],
    "crop_resize": [
        ((img(40, 60), np.array([[0, 0, 10, 10]], np.float32), (32, 16)), dict(out=np.zeros((1, 4, 4, 3), U8)),
         "out"),
        ((img(40, 60), np.zeros((2, 3), np.float32), (32, 16)), {}, "boxes"),
    ],
    "feather_mask": [
        ((np.zeros((8, 8), np.float32), (20, 10), 1.0), dict(out=img(5, 5, 0)), "out"),
        ((np.zeros((2, 8, 8), np.float32), (20, 10), 1.0), {}, "prob"),
        ((np.zeros((8, 8), np.float32), (20, 10), (1.0, -1.0)), {}, "sigma"),
        ((np.zeros((8, 8), np.float32), (20, 10), (1.0, 1.0, 1.0)), {}, "sigma"),
    ],
    "nms": [((np.zeros((10, 4), np.float32), np.zeros(5)), {}, "scores"),
            ((np.zeros((10, 4), np.float32), np.zeros(10), -1.0), {}, "iou_threshold")],  # found by test_fuzz
    "weighted_nms": [((np.zeros((10, 4), np.float32), np.zeros((10, 1))), {}, "scores")],
    "db_bitmap": [
        ((np.zeros((50, 50), np.float32),), dict(out=img(10, 10, 0)), "out"),
        ((np.zeros((2, 50, 50), np.float32),), {}, "prob"),
    ],
    "box_scores": [((np.zeros((50, 50), np.float32), np.zeros((3, 2), np.float32)), {}, "boxes")],
    "refine_mask": [
        ((np.zeros((8, 8), np.float32), img(8, 8), 2), {}, "mask"),
        ((img(8, 8, 0), img(8, 8, 0), 2), {}, "guide"),
        ((img(8, 8, 0), img(8, 8, 4), 2), {}, "guide"),
        ((img(8, 8, 0), img(8, 9), 2), {}, "guide"),
        ((img(8, 8, 0), img(8, 8), 0), {}, "radius"),
        ((img(8, 8, 0), img(8, 8), 2.5), {}, "radius"),
        ((img(8, 8, 0), img(8, 8), 2), dict(subsample=0), "subsample"),
        ((img(8, 8, 0), img(8, 8), 2), dict(eps=0.0), "eps"),
        ((img(8, 8, 0), img(8, 8), 2), dict(eps=float("nan")), "eps"),
        ((img(8, 8, 0), img(8, 8), 2), dict(out=img(4, 4, 0)), "out"),
    ],
}


def test_every_op_has_bad_cases():
    assert set(BAD) == set(kernels.OPS)


@pytest.mark.parametrize("op_name, backend", [p for p in kernels.all_pairs()])
def test_bad_arguments_raise_a_clear_error(op_name, backend):
    op = kernels.get(op_name)
    ok, why = op.available(backend)
    if not ok:
        pytest.skip(why)
    for args, kwargs, word in BAD[op_name]:
        calls = [lambda: op(*args, backend=backend, **kwargs)]
        if backend in ("numba", "cython"):  # no bounds checks inside: they check even when called directly
            calls.append(lambda: op.implementation(backend)(*args, **kwargs))
        for call in calls:
            with pytest.raises(ValueError, match=op_name) as info:
                call()
            assert word in str(info.value), str(info.value)
