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
    x = np.random.default_rng(0).random(10_000)
    fast = lambda a: np.correlate(a, np.ones(3) / 3, mode="same")  # noqa: E731
    report = equivalence(blur_ref, fast, [x, (x[::2],)], tolerance=1e-12, repeats=3)
    assert report.ok and report.cases == 2 and report.max_abs < 1e-12
    assert report.reference_s > 0 and report.candidate_s > 0 and report.speedup > 0
    assert "equivalent over 2 case(s)" in str(report)


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
