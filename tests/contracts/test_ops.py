"""Every backend of every registered kernel against its numpy reference, on the cases in contract_cases.py: within the
op's stated tolerance, with inputs left as they were. A backend that cannot run here is skipped with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from sightspeed import kernels
from sightspeed.equivalence import equivalence

from contract_cases import CASES


def test_every_op_has_cases():
    assert set(CASES) == set(kernels.OPS) | set(CASES)
    assert set(kernels.get(name).name for name in CASES) == set(kernels.OPS)


@pytest.mark.parametrize("op_name, backend", [p for p in kernels.all_pairs() if p[1] != "numpy"])
def test_backend_matches_reference(op_name, backend):
    op = kernels.get(op_name)
    ok, why = op.available(backend)
    if not ok:
        pytest.skip(why)
    impl = op.implementation(backend)
    rng = np.random.default_rng(0)
    for case in CASES[op_name](rng):
        tol = op.tolerance_of(backend, case.kwargs)
        report = equivalence(op.reference, impl, [case], tolerance=tol, repeats=0)
        assert report.ok, f"{op_name}/{backend}: {report}"


@pytest.mark.parametrize("op_name", sorted(CASES))
def test_dispatcher_runs_its_pick(op_name):
    op = kernels.get(op_name)
    backend, why = op.pick()
    assert op.available(backend)[0], why
    case = next(iter(CASES[op_name](np.random.default_rng(1))))
    report = equivalence(op.reference, op, [case], tolerance=op.tolerance_of(backend, case.kwargs), repeats=0)
    assert report.ok, str(report)



def twin_view(out: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """(a copy of the whole array ``out`` views, or zeros of ``dtype`` that shape; the same view into it)."""
    root = out
    while isinstance(root.base, np.ndarray):
        root = root.base
    assert root.flags.c_contiguous
    offset = out.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    copy = root.copy() if dtype is None else np.zeros(root.shape, dtype)
    scale = copy.itemsize / out.itemsize
    view = np.ndarray(out.shape, copy.dtype, buffer=copy, offset=int(offset * scale),
                      strides=tuple(int(st * scale) for st in out.strides))
    return copy, view


@pytest.mark.parametrize("op_name, backend", [p for p in kernels.all_pairs()])
def test_a_strided_out_is_written_in_place(op_name, backend):
    """An ``out=`` that is a view (a slot of a wider batch, a ROI of a frame) gets the reference's values, and
    nothing around it changes. (equivalence() hands each function a contiguous copy of ``out``, so it cannot see
    a backend that writes a strided ``out`` as if it were contiguous: the opencv preprocess did.)"""
    op = kernels.get(op_name)
    ok, why = op.available(backend)
    if not ok:
        pytest.skip(why)
    impl = op.implementation(backend)
    strided_outs = 0
    for case in CASES[op_name](np.random.default_rng(0)):
        out = case.kwargs.get("out")
        if not isinstance(out, np.ndarray) or out.flags.c_contiguous:
            continue
        strided_outs += 1
        (mine_root, mine), (want_root, want) = twin_view(out), twin_view(out)
        impl(*case.args, **{**case.kwargs, "out": mine})
        op.reference(*case.args, **{**case.kwargs, "out": want})
        inside, view = twin_view(out, bool)
        view.fill(True)
        tol = op.tolerance_of(backend, case.kwargs)
        diff = np.abs(mine_root.astype(np.float64) - want_root)
        assert diff[inside].max() <= tol.atol, f"{op_name}/{backend}: off by {diff[inside].max()} in out"
        assert (mine_root[~inside] == want_root[~inside]).all(), f"{op_name}/{backend} wrote outside its out"
    if not strided_outs:
        pytest.skip(f"no {op_name} case has a strided out")
