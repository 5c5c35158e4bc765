"""Run an old and a new implementation of a function on the same inputs and say whether they agree, by how much,
and how much faster the new one is: the "keep running both and assert the same results" habit, as a tool.

>>> import numpy as np
>>> old = lambda x: np.round(x.astype(np.float64) * 0.5).astype(np.uint8)
>>> new = lambda x: (x >> 1) + (x & 1)                  # rounds half up, like the old one for these inputs
>>> report = equivalence(old, new, [np.arange(256, dtype=np.uint8)], tolerance=1, repeats=0)
>>> report.ok, report.max_abs
(True, 1.0)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np


@dataclass
class Case:
    """One call's arguments. A bare tuple is positional arguments; any other single object is one argument."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, item: Any) -> Case:
        if isinstance(item, Case):
            return item
        return cls(item) if isinstance(item, tuple) else cls((item,))


@dataclass
class Equivalence:
    """What :func:`equivalence` found. ``ok``: every case within tolerance, same shapes and dtypes, no input
    modified, no ``out=`` ignored."""

    cases: int = 0
    max_abs: float = 0.0
    mean_abs: float = 0.0
    mismatch_fraction: float = 0.0  # of compared elements further apart than the tolerance's atol
    problems: list[str] = field(default_factory=list)
    reference_s: float | None = None  # median seconds per call, summed over cases
    candidate_s: float | None = None
    tolerance: Any = 0.0

    @property
    def speedup(self) -> float | None:
        if not self.reference_s or not self.candidate_s:
            return None
        return self.reference_s / self.candidate_s

    @property
    def ok(self) -> bool:
        if self.problems:
            return False
        atol, mean_atol = _limits(self.tolerance)
        return self.max_abs <= atol and (mean_atol is None or self.mean_abs <= mean_atol)

    def __str__(self) -> str:
        verdict = "equivalent" if self.ok else "DIFFERENT"
        text = (f"{verdict} over {self.cases} case(s): max |diff| {self.max_abs:.6g}, mean {self.mean_abs:.3g}, "
                f"{self.mismatch_fraction:.2%} of elements beyond tolerance {self.tolerance}")
        if self.speedup is not None:
            text += f"; candidate {self.speedup:.2f}x the reference's speed"
        return "\n".join([text] + [f"  - {p}" for p in self.problems])


def _limits(tolerance: Any) -> tuple[float, float | None]:
    if hasattr(tolerance, "atol"):
        return float(tolerance.atol), getattr(tolerance, "mean_atol", None)
    return float(tolerance), None


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, leaf) pairs of a nested result: arrays, numbers, strings inside tuples, lists, dicts, dataclasses."""
    if isinstance(value, dict):
        return [leaf for k in sorted(value, key=str) for leaf in leaves(value[k], f"{path}[{k!r}]")]
    if isinstance(value, (list, tuple)):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}[{i}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return leaves(dataclasses.asdict(value), path)
    return [(path or "result", value)]


def _snapshot(case: Case) -> list[tuple[str, Any]]:
    return [(p, v.copy() if isinstance(v, np.ndarray) else v) for p, v in leaves((case.args, case.kwargs))]


def _own_out(case: Case) -> Case:
    """The case with a fresh copy of its ``out=`` buffer, so two functions never share (and so agree through) it."""
    out = case.kwargs.get("out")
    if not isinstance(out, np.ndarray):
        return case
    return Case(case.args, {**case.kwargs, "out": _copy_keeping_layout(out)})


def _copy_keeping_layout(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` with its strides: a view into a wider buffer (one slot of a batch) stays such a view, so a
    function that wrongly writes its ``out=`` as if contiguous is caught."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    if a.flags.c_contiguous or root is a or not root.flags.c_contiguous:
        return a.copy()
    offset = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return np.ndarray(a.shape, a.dtype, buffer=root.copy(), offset=offset, strides=a.strides)


def _time(fn: Callable[..., Any], case: Case, repeats: int, clock: Callable[[], float]) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        fn(*case.args, **case.kwargs)
        times.append(clock() - start)
    return float(np.median(times))


def _dtype_problem(a: Any, b: Any) -> str | None:
    """``"dtype X vs Y"`` when two leaves differ in type: numpy dtypes exactly; a Python number against a numpy
    one, or two Python numbers, by kind only (``3`` and ``np.int32(3)`` agree; ``3`` and ``3.0`` do not)."""
    a_np, b_np = isinstance(a, (np.ndarray, np.generic)), isinstance(b, (np.ndarray, np.generic))
    if not (a_np or b_np or (isinstance(a, (int, float, complex)) and isinstance(b, (int, float, complex)))):
        return None  # lists of lists and other leaves numpy converts: values and shapes are compared, not types
    da, db = np.asarray(a).dtype, np.asarray(b).dtype
    if a_np and b_np:
        return None if da == db else f"dtype {da} vs {db}"
    kind = lambda d: "i" if d.kind in "iu" else d.kind  # noqa: E731
    return None if kind(da) == kind(db) else f"dtype {da} vs {db}"


def _holds(result: Any, out: np.ndarray) -> bool | None:
    """Whether ``result`` hands back ``out`` (itself or a view of all of it); None when it returns no array."""
    arrays = [v for _, v in leaves(result) if isinstance(v, np.ndarray)]
    if not arrays:
        return None
    return any(a is out or (a.size == out.size and np.shares_memory(a, out)) for a in arrays)


def _compare(label: str, a: Any, b: Any, atol: float, report: Equivalence, sums: list[float]) -> None:
    """Compare one leaf pair into ``report`` (problems) and ``sums`` (sum of |diff|, count beyond atol, count)."""
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        if not ((a is None and b is None) or (isinstance(a, str) and isinstance(b, str) and a == b)):
            report.problems.append(f"{label} {a!r} != {b!r}"[:300])
        return
    dtype = _dtype_problem(a, b)
    if dtype:
        report.problems.append(f"{label} {dtype}")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        report.problems.append(f"{label} shape {a.shape} vs {b.shape}")
        return
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    d = np.where(np.isnan(fa) & np.isnan(fb), 0.0, np.abs(fa - fb))
    if d.size:
        report.max_abs = max(report.max_abs, float(np.nanmax(np.where(np.isnan(d), np.inf, d))))
        sums[0] += float(d.sum())
        sums[1] += int((d > atol).sum())
        sums[2] += d.size


def equivalence(reference_fn: Callable[..., Any], candidate_fn: Callable[..., Any], inputs: Iterable[Any],
                tolerance: Any = 0.0, repeats: int = 5,
                clock: Callable[[], float] = time.perf_counter) -> Equivalence:
    """Call both functions on every case of ``inputs`` and compare their results leaf by leaf: values within
    ``tolerance``, and the same shapes and dtypes (a float64 result where the reference gives uint8 is a
    difference even when the values agree).

    ``tolerance``: a number (max abs difference allowed per element) or an object with ``atol`` and
    ``mean_atol`` (e.g. :class:`sightspeed.kernels.Tolerance`). Each function also gets its own check that it
    left its inputs as it found them. A case with an ``out=`` array gives each function its own copy of it, and
    a function that ignores it is reported: one that returns arrays none of which is ``out``, or leaves ``out``
    as it was where the reference wrote it; one that returns no array is judged by what it wrote into ``out``.
    With ``repeats`` > 0 both are timed with ``clock`` (after one untimed call each, so JIT compiles and caches
    warm up outside the timing) and the report carries the speed ratio.
    """
    report = Equivalence(tolerance=tolerance)
    atol, _ = _limits(tolerance)
    sums = [0.0, 0, 0]  # sum of |diff|, elements beyond atol, elements compared
    ref_times, cand_times = [], []
    for index, item in enumerate(inputs):
        case = Case.of(item)
        report.cases += 1
        results, outs, holds, written = [], [], [], []
        for name, fn in (("reference", reference_fn), ("candidate", candidate_fn)):
            call = _own_out(case)
            before = _snapshot(call)
            result = fn(*call.args, **call.kwargs)
            results.append(result)
            for (p, old), (_, new) in zip(before, leaves((call.args, call.kwargs))):
                if p.endswith("['out']"):
                    continue  # the one argument a function is meant to write
                if isinstance(old, np.ndarray) and not np.array_equal(old, new, equal_nan=True):
                    report.problems.append(f"case {index}: the {name} modified its input {p}")
            out = call.kwargs.get("out")
            if isinstance(out, np.ndarray):
                outs.append(out)
                holds.append(_holds(result, out))
                written.append(not np.array_equal(out, case.kwargs["out"], equal_nan=True))
                if holds[-1] is False:
                    report.problems.append(f"case {index}: the {name} ignored out=: it returned a new array, "
                                           f"not the out it was given")
        if outs:
            if written[0] and not written[1]:
                report.problems.append(f"case {index}: the candidate left out= unwritten")
            if holds[0] is None and holds[1] is None:  # both answer through out alone: that is the result
                _compare(f"case {index}: out=", outs[0], outs[1], atol, report, sums)
        want, got = (leaves(r) for r in results)
        if len(want) != len(got):
            report.problems.append(f"case {index}: {len(want)} result leaves vs {len(got)}")
            continue
        for (path, a), (_, b) in zip(want, got):
            _compare(f"case {index}: {path}", a, b, atol, report, sums)
        if repeats > 0:
            ref_times.append(_time(reference_fn, case, repeats, clock))
            cand_times.append(_time(candidate_fn, case, repeats, clock))
    diff_sum, beyond, total = sums
    report.mean_abs = diff_sum / total if total else 0.0
    report.mismatch_fraction = beyond / total if total else 0.0
    if repeats > 0 and ref_times:
        report.reference_s, report.candidate_s = float(sum(ref_times)), float(sum(cand_times))
    return report
