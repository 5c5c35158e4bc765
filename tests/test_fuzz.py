"""Fuzzing: arbitrary bytes into the decoder; arbitrary arrays (any dtype, strided or mirrored, NaN and
infinities in floats), boxes and shapes into every kernel op on every available backend. Each call returns, or
raises the error meant for people (InputError from the decoder, ValueError naming the argument from a kernel, or
TypeError), leaving its inputs as they were; never a crash, never an allocation beyond the size limit.

Bounded for CI (``SIGHTSPEED_FUZZ_EXAMPLES``, default 150 per test); a longer run, e.g. before a release:
``SIGHTSPEED_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightspeed import kernels
from sightspeed.errors import InputError
from sightspeed.io.decode import decode_image

EXAMPLES = int(os.environ.get("SIGHTSPEED_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
MAX_PIXELS = 4_000_000


def _seeds() -> list[bytes]:
    """Small real files of every format the decoder reads: the fuzzer mutates them."""
    import cv2
    import simplejpeg

    image = np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8)
    seeds = [simplejpeg.encode_jpeg(image, 80, "BGR")]
    for ext in (".png", ".bmp", ".tiff", ".webp"):
        seeds.append(cv2.imencode(ext, image)[1].tobytes())
    seeds.append(b"GIF89a" + (32).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\x00" * 20)
    return seeds


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: cut if draw(st.booleans()) else len(data)])


def _decodes_or_refuses(data: bytes) -> None:
    try:
        image = decode_image(data, "fuzz.bin", max_pixels=MAX_PIXELS)
    except InputError as exc:
        assert exc.path == "fuzz.bin" and exc.reason
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] * image.shape[1] <= MAX_PIXELS


@FUZZ
@given(st.binary(max_size=2048))
def test_decoder_on_arbitrary_bytes(data):
    _decodes_or_refuses(data)


@FUZZ
@given(mutated())
def test_decoder_on_mutated_real_files(data):
    _decodes_or_refuses(data)


def _backends(op: str) -> list[str]:
    kernel = kernels.get(op)
    return [b for b in kernel.backends() if kernel.available(b)[0] and b != "opencl"]


def _clean(call, *unchanged: np.ndarray) -> None:
    """The call returns, or refuses with ValueError (the kernels' checks) or TypeError; the ``unchanged`` arrays
    (the op's inputs) are as they were, NaNs included."""
    before = [a.copy() for a in unchanged]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN in, NaN out: no need to say so
            warnings.simplefilter("ignore", RuntimeWarning)
            call()
    except (ValueError, TypeError) as exc:
        assert str(exc)
    for a, b in zip(unchanged, before):
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), "an input was modified"


dims = st.integers(0, 48)
u8_images = st.builds(lambda h, w, c: np.zeros((h, w, c), np.uint8) if c else np.zeros((h, w), np.uint8),
                      dims, dims, st.sampled_from([0, 1, 3, 4]))


@FUZZ
@given(u8_images, st.tuples(st.integers(-2, 40), st.integers(-2, 40)), st.sampled_from(["nchw", "nhwc"]))
def test_preprocess_on_arbitrary_shapes(image, size, layout):
    for backend in _backends("preprocess"):
        _clean(lambda: kernels.preprocess(image, size, layout=layout, backend=backend))


@FUZZ
@given(u8_images, u8_images, u8_images, st.tuples(st.integers(-60, 60), st.integers(-60, 60)))
def test_composite_on_arbitrary_shapes_and_offsets(fg, bg, mask, offset):
    for backend in _backends("composite"):
        _clean(lambda: kernels.composite(fg, bg.copy(), mask, out=None, offset=offset, backend=backend))


floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FUZZ
@given(st.integers(0, 30).flatmap(lambda n: st.tuples(
    st.lists(st.lists(floats, min_size=4, max_size=4), min_size=n, max_size=n),
    st.lists(floats, min_size=n, max_size=n))), st.floats(-1, 2))
def test_nms_on_arbitrary_boxes(boxes_scores, threshold):
    boxes = np.array(boxes_scores[0], np.float32).reshape(-1, 4)
    scores = np.array(boxes_scores[1], np.float32)
    for op in ("nms", "weighted_nms"):
        for backend in _backends(op):
            _clean(lambda: kernels.get(op)(boxes, scores, threshold, backend=backend))


@FUZZ
@given(dims, dims, st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100)), max_size=8))
def test_db_ops_on_arbitrary_maps_and_boxes(h, w, points):
    prob = np.random.default_rng(h * 100 + w).random((h, w), dtype=np.float32)
    box = np.array(points, np.float32).reshape(-1, 2)
    for backend in _backends("db_bitmap"):
        _clean(lambda: kernels.db_bitmap(prob, backend=backend))
    for backend in _backends("box_scores"):
        _clean(lambda: kernels.box_scores(prob, box, backend=backend))


@FUZZ
@given(dims, dims, st.tuples(st.integers(-2, 64), st.integers(-2, 64)), st.floats(-1, 10))
def test_feather_mask_on_arbitrary_sizes(h, w, size, sigma):
    prob = np.zeros((h, w), np.float32)
    for backend in _backends("feather_mask"):
        _clean(lambda: kernels.feather_mask(prob, size, sigma, backend=backend))



@FUZZ
@given(u8_images, u8_images, st.integers(-2, 60), st.integers(-1, 9), st.one_of(st.floats(-1, 1), floats))
def test_refine_mask_on_arbitrary_shapes(mask, guide, radius, subsample, eps):
    for backend in _backends("refine_mask"):
        _clean(lambda: kernels.refine_mask(mask, guide, radius, eps=eps, subsample=subsample, backend=backend))


# Arrays of any dtype, shape and layout: each op computes with the ones it documents and refuses the rest with a
# ValueError naming the argument. uint8 (what the ops mostly take) half the time; strided (every other row and
# column of a bigger array) or mirrored as often as contiguous; floats with NaN and infinities in them.
DTYPES = [np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_]
u8_mostly = st.one_of(st.just(np.uint8), st.sampled_from(DTYPES))
f32_mostly = st.one_of(st.just(np.float32), st.sampled_from(DTYPES))
sides = st.integers(0, 40)


@st.composite
def arrays(draw, shape=None, ndims=(2, 3), dtypes=u8_mostly) -> np.ndarray:
    """An array of ``shape`` (else of one of ``ndims`` dimensions, 1, 3 or 4 channels past the second)."""
    if shape is None:
        ndim = draw(st.sampled_from(ndims))
        shape = [draw(sides) for _ in range(min(ndim, 2))] + [draw(st.sampled_from([1, 3, 4]))] * (ndim - 2)
    dtype = np.dtype(draw(dtypes))
    step = draw(st.sampled_from([1, 2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    full = [n * step for n in shape[:2]] + list(shape[2:])
    if dtype.kind == "f":
        a = (rng.standard_normal(full) * 300).astype(dtype)
        special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
        if special is not None and a.size:
            a.flat[rng.integers(0, a.size, max(1, a.size // 8))] = special
    elif dtype.kind == "b":
        a = rng.integers(0, 2, full).astype(bool)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, full, dtype=dtype, endpoint=True)
    a = a[(slice(None, None, step),) * min(a.ndim, 2)]
    return a[:, ::-1] if a.ndim >= 2 and draw(st.booleans()) else a


def same_size(*channels: int | None):
    """Arrays of one height and width, with these channels (None: 2-D)."""
    return st.tuples(sides, sides).flatmap(lambda hw: st.tuples(
        *[arrays(shape=hw if c is None else (*hw, c)) for c in channels]))


sizes = st.tuples(st.integers(-2, 40), st.integers(-2, 40))
box_lists = st.integers(0, 6).flatmap(lambda n: st.lists(
    st.tuples(*[st.one_of(st.floats(-60, 100), floats)] * 4), min_size=n, max_size=n))


@FUZZ
@given(arrays(ndims=(1, 2, 3, 4)), sizes, st.integers(-2, 260), st.sampled_from(["linear", "area", "cubic"]))
def test_letterbox_on_arbitrary_arrays(image, size, color, interpolation):
    for backend in _backends("letterbox"):
        _clean(lambda: kernels.letterbox(image, size, color, interpolation=interpolation, backend=backend), image)


@FUZZ
@given(arrays(ndims=(1, 2, 3, 4)), box_lists, sizes)
def test_crop_resize_on_arbitrary_arrays_and_boxes(image, box_list, size):
    box_array = np.array(box_list, np.float64).reshape(-1, 4)
    for backend in _backends("crop_resize"):
        _clean(lambda: kernels.crop_resize(image, box_array, size, backend=backend), image, box_array)


@FUZZ
@given(arrays(), st.sampled_from(["nchw", "nhwc"]))
def test_preprocess_on_arbitrary_dtypes_and_strides(image, layout):
    for backend in _backends("preprocess"):
        _clean(lambda: kernels.preprocess(image, (16, 12), layout=layout, backend=backend), image)


@FUZZ
@given(same_size(3, 3, None))
def test_composite_on_arbitrary_dtypes_and_strides(fg_bg_mask):
    fg, bg, mask = fg_bg_mask
    for backend in _backends("composite"):
        _clean(lambda: kernels.composite(fg, bg.copy(), mask, backend=backend), fg, bg, mask)


@FUZZ
@given(same_size(None, 3), st.integers(1, 8))
def test_refine_mask_on_arbitrary_dtypes_and_strides(mask_guide, radius):
    mask, guide = mask_guide
    for backend in _backends("refine_mask"):
        _clean(lambda: kernels.refine_mask(mask, guide, radius, backend=backend), mask, guide)


# finite sigmas in a sane range (1e30 is legal and costs a Gaussian of 8e30 taps: not fuzzed), NaN and infinities
sigmas = st.one_of(st.floats(0, 5), st.sampled_from([np.nan, np.inf, -np.inf]))


@FUZZ
@given(arrays(ndims=(1, 2, 3), dtypes=f32_mostly), sizes, sigmas)
def test_feather_and_db_ops_on_arbitrary_dtypes_and_strides(prob, size, sigma):
    quad = np.array([[1, 1], [9, 2], [8, 7], [0, 6]], np.float32)
    for backend in _backends("feather_mask"):
        _clean(lambda: kernels.feather_mask(prob, size, sigma, backend=backend), prob)
    for backend in _backends("db_bitmap"):
        _clean(lambda: kernels.db_bitmap(prob, backend=backend), prob)
    for backend in _backends("box_scores"):
        _clean(lambda: kernels.box_scores(prob, quad, backend=backend), prob)


@FUZZ
@given(st.integers(0, 30).flatmap(lambda n: st.tuples(arrays(shape=(n, 4), dtypes=f32_mostly),
                                                      arrays(shape=(n,), dtypes=f32_mostly))), st.floats(0, 1))
def test_nms_on_arbitrary_dtypes_and_strides(boxes_scores, threshold):
    box_array, scores = boxes_scores
    for op in ("nms", "weighted_nms"):
        for backend in _backends(op):
            _clean(lambda: kernels.get(op)(box_array, scores, threshold, backend=backend), box_array, scores)


FUZZED = {"preprocess", "composite", "nms", "weighted_nms", "db_bitmap", "box_scores", "feather_mask", "refine_mask",
          "letterbox", "crop_resize"}


def test_every_registered_op_is_fuzzed():
    assert set(kernels.OPS) - FUZZED == set(), "a kernel op without a fuzz test here"
