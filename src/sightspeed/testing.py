"""Test helpers for users' own refactorings, built on :func:`sightspeed.equivalence`.

>>> import numpy as np
>>> assert_equivalent(np.sort, lambda a: np.sort(a, kind="stable"), [np.array([3, 1, 2])]).ok
True
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .equivalence import Equivalence, equivalence


def assert_equivalent(reference_fn: Callable[..., Any], candidate_fn: Callable[..., Any], inputs: Iterable[Any],
                      tolerance: Any = 0.0) -> Equivalence:
    """Fail (AssertionError with the full report) unless ``candidate_fn`` agrees with ``reference_fn`` on every
    input within ``tolerance`` with the same shapes and dtypes, neither modifies its inputs and neither ignores an
    ``out=`` it was given. Times nothing: unit tests assert no speeds."""
    report = equivalence(reference_fn, candidate_fn, inputs, tolerance, repeats=0)
    if not report.ok:
        raise AssertionError(str(report))
    return report
