"""sightspeed.equivalence and the pytest helper: they must catch what they claim to catch."""

from __future__ import annotations

import numpy as np
import pytest

from sightspeed import equivalence
from sightspeed.equivalence import Case
from sightspeed.kernels import Tolerance
from sightspeed.testing import assert_equivalent


def blur_ref(x):
    return np.convolve(x, np.ones(3) / 3, mode="same")


def test_agreeing_functions_report_ok_and_a_speed_ratio():
    """Timed on a fake clock that each function advances by its own cost: the report's seconds are those costs
    summed over the cases, and the speedup is their ratio (no wall clock involved)."""
    x = np.random.default_rng(0).random(10_000)
    now = [0.0]

    def ref(a):
        now[0] += 0.006
        return blur_ref(a)

    def fast(a):
        now[0] += 0.002
        return np.correlate(a, np.ones(3) / 3, mode="same")

    report = equivalence(ref, fast, [x, (x[::2],)], tolerance=1e-12, repeats=3, clock=lambda: now[0])
    assert report.ok and report.cases == 2 and report.max_abs < 1e-12
    assert report.reference_s == pytest.approx(2 * 0.006) and report.candidate_s == pytest.approx(2 * 0.002)
    assert report.speedup == report.reference_s / report.candidate_s == pytest.approx(3.0)
    assert "equivalent over 2 case(s)" in str(report) and "candidate 3.00x the reference's speed" in str(report)
    untimed = equivalence(ref, fast, [x], repeats=0)
    assert untimed.reference_s is None and untimed.speedup is None and "speed" not in str(untimed)


def test_the_times_are_medians_over_repeats_summed_over_cases():
    now = [0.0]
    steps = iter([0.5, 0.1, 0.3, 0.2, 0.2, 0.2, 9.0, 0.1, 0.4, 0.3, 0.3, 0.3])

    def clock():
        return now[0]

    def ref(a):
        now[0] += next(steps)
        return a

    cand = ref
    # per case, untimed compare calls take the first two steps, then 3 reference calls and 3 candidate calls
    report = equivalence(ref, cand, [np.zeros(2)], repeats=3, clock=clock)
    assert report.reference_s == pytest.approx(0.2)  # median of 0.3, 0.2, 0.2
    assert report.candidate_s == pytest.approx(0.2)  # median of 0.2, 9.0 (an outlier), 0.1
    assert report.speedup == pytest.approx(1.0)


def test_a_difference_is_measured_and_fails():
    x = np.arange(100, dtype=np.float64)
    report = equivalence(lambda a: a * 2, lambda a: a * 2 + (a > 90), [x], tolerance=0.5, repeats=0)
    assert not report.ok
    assert report.max_abs == 1.0 and report.mismatch_fraction == pytest.approx(9 / 100)
    with pytest.raises(AssertionError, match="DIFFERENT over 1 case"):
        assert_equivalent(lambda a: a * 2, lambda a: a * 2 + (a > 90), [x], tolerance=0.5)


def test_mean_tolerance_and_shapes_and_nested_results():
    x = np.zeros(1000)
    spike = lambda a: a + np.eye(1, 1000).ravel() * 5  # noqa: E731
    assert equivalence(lambda a: a, spike, [x], Tolerance(5, mean_atol=0.01), repeats=0).ok
    assert not equivalence(lambda a: a, spike, [x], Tolerance(5, mean_atol=0.001), repeats=0).ok
    shape = equivalence(lambda a: a, lambda a: a[:-1], [x], 1, repeats=0)
    assert not shape.ok and "shape" in shape.problems[0]
    nested = equivalence(lambda a: {"n": 1, "v": (a, "x")}, lambda a: {"n": 1, "v": (a, "y")}, [x], repeats=0)
    assert not nested.ok and "'x' != 'y'" in nested.problems[0]


def test_a_function_that_modifies_its_input_is_caught():
    def sorts_in_place(a):
        a.sort()
        return a

    report = equivalence(np.sort, sorts_in_place, [np.array([3, 1, 2])], repeats=0)
    assert not report.ok and "candidate modified its input" in report.problems[0]


def test_out_buffers_are_not_shared_between_the_two():
    def writes(a, out=None):
        out[...] = a
        return out

    def forgets(a, out=None):
        return out

    case = Case((np.arange(4.0),), {"out": np.zeros(4)})
    assert equivalence(writes, writes, [case], repeats=0).ok
    assert not equivalence(writes, forgets, [case], repeats=0).ok


def test_a_different_dtype_is_a_difference_even_with_equal_values():
    x = np.arange(0, 250, 10, dtype=np.uint8)
    halve = lambda a: a // 2  # noqa: E731
    as_float = lambda a: (a // 2).astype(np.float64)  # noqa: E731
    report = equivalence(halve, as_float, [x], tolerance=0, repeats=0)
    assert report.max_abs == 0.0  # the values agree ...
    assert not report.ok and report.problems == ["case 0: result dtype uint8 vs float64"]  # ... the type does not
    with pytest.raises(AssertionError, match="dtype uint8 vs float64"):
        assert_equivalent(halve, as_float, [x])
    nested = equivalence(lambda a: {"n": np.int64(3), "k": 2}, lambda a: {"n": np.int32(3), "k": 2.0}, [x],
                         repeats=0)
    assert sorted(nested.problems) == ["case 0: ['k'] dtype int64 vs float64", "case 0: ['n'] dtype int64 vs int32"]
    # a Python number against a numpy one of the same kind is no difference (what a list-returning reference gives)
    assert equivalence(lambda a: [1, 2.0], lambda a: [np.int32(1), np.float32(2.0)], [x], repeats=0).ok


def test_an_ignored_out_is_flagged():
    def writes(a, out=None):
        np.multiply(a, 2, out=out)
        return out

    def returns_new(a, out=None):  # right values, but in a new array: the caller's buffer stays as it was
        return a * 2

    def writes_and_returns_a_copy(a, out=None):
        np.multiply(a, 2, out=out)
        return out.copy()

    def writes_view(a, out=None):
        np.multiply(a, 2, out=out)
        return out[...]

    def fills_out(a, out=None):  # answers through out alone
        np.multiply(a, 2, out=out)

    def forgets(a, out=None):
        return None

    def fills_wrong(a, out=None):
        np.add(a, 1, out=out)

    case = Case((np.arange(4.0),), {"out": np.zeros(4)})
    assert equivalence(writes, writes_view, [case], repeats=0).ok
    new = equivalence(writes, returns_new, [case], repeats=0)
    assert new.max_abs == 0.0 and not new.ok
    assert "the candidate ignored out=: it returned a new array" in new.problems[0]
    assert "candidate left out= unwritten" in new.problems[1]
    copied = equivalence(writes, writes_and_returns_a_copy, [case], repeats=0)
    assert copied.problems == ["case 0: the candidate ignored out=: it returned a new array, not the out it was given"]
    assert equivalence(fills_out, fills_out, [case], repeats=0).ok
    unwritten = equivalence(fills_out, forgets, [case], repeats=0)
    assert "case 0: the candidate left out= unwritten" in unwritten.problems and unwritten.max_abs == 6.0
    wrong = equivalence(fills_out, fills_wrong, [case], 0.5, repeats=0)
    assert not wrong.ok and wrong.max_abs == 2.0 and wrong.problems == []  # judged by what it wrote
    with pytest.raises(AssertionError, match="ignored out="):
        assert_equivalent(writes, returns_new, [case])
    with pytest.raises(AssertionError, match="left out= unwritten"):
        assert_equivalent(fills_out, forgets, [case])
    # the caller's own buffer is never written: each function gets a copy
    assert not case.kwargs["out"].any()


def test_an_out_view_keeps_its_layout_so_a_contiguous_write_is_caught():
    from sightspeed.equivalence import _copy_keeping_layout

    batch = np.zeros((2, 3, 4), np.float32)
    slot = batch[:, 1]  # a strided view
    copy = _copy_keeping_layout(slot)
    assert copy.strides == slot.strides and not np.shares_memory(copy, slot)
    np.testing.assert_array_equal(copy, slot)

    def right(x, out):
        out[...] = x
        return out

    def as_if_contiguous(x, out):  # writes out's first bytes in C order, the view's layout ignored
        base = out if out.base is None else out.base  # (right, by luck, when out is contiguous)
        flat = np.ndarray((out.size,), out.dtype, buffer=base, offset=out.__array_interface__["data"][0]
                          - base.__array_interface__["data"][0])
        flat[...] = x.ravel()
        return out

    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    report = equivalence(right, as_if_contiguous, [Case((x,), {"out": slot})], repeats=0)
    assert not report.ok
