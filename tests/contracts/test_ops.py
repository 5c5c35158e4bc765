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
