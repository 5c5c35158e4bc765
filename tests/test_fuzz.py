"""Fuzzing: arbitrary bytes into the decoder, arbitrary arrays, boxes and shapes into every kernel op on every
available backend. Each call returns, or raises the error meant for people (InputError from the decoder,
ValueError naming the argument from a kernel); never a crash, never an allocation beyond the size limit.

Bounded for CI (``SIGHTSPEED_FUZZ_EXAMPLES``, default 150 per test); a longer run, e.g. before a release:
``SIGHTSPEED_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import os

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


def _clean(call) -> None:
    """The call returns, or refuses with ValueError (the kernels' checks)."""
    try:
        call()
    except ValueError as exc:
        assert str(exc)


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
