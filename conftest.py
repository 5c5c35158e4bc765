"""Doctest collection of the package (``--doctest-modules`` with ``src/sightspeed`` in testpaths) on any install.

A backend module that needs an optional extra (``kernels/_numba.py`` imports numba, ``kernels/_cython.py`` the
compiled extension) cannot be imported where the extra is missing; that is by design (the kernel registry imports
it lazily and marks the backend unavailable, saying why). Collecting its doctests there is then a skip that names
what is missing, never a collection error. Any other import error stays an error.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

# module (or package) that may be absent -> what gets it
OPTIONAL = {
    "numba": "pip install 'sightspeed[numba]'",
    "sightspeed.kernels._cy.kernels_cy": "the compiled extension was not built: reinstall with a C compiler",
    "pyopencl": "pip install pyopencl",
    "cupy": "pip install 'sightspeed[gpu]'",
    "openvino": "pip install 'sightspeed[openvino]'",
    "nvtx": "pip install 'sightspeed[nvtx]'",
    "ittapi": "pip install 'sightspeed[itt]'",
}

_SRC = Path(__file__).resolve().parent / "src"


def _missing(exc: ImportError) -> str | None:
    """The optional module an ImportError is about, or None when it is about anything else."""
    names = [exc.name or ""]
    # ``from pkg import sub`` where sub is not there: "cannot import name 'sub' from 'pkg'", exc.name == "pkg"
    found = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", str(exc))
    if found:
        names.insert(0, f"{found[2]}.{found[1]}")
    for name in names:
        for optional in OPTIONAL:
            if name == optional or name.startswith(optional + "."):
                return optional
    return None


def optional_import_error(path: Path) -> str | None:
    """Why the module at ``path`` cannot be imported when that is a missing optional extra, else None."""
    module = ".".join(path.resolve().relative_to(_SRC).with_suffix("").parts)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        optional = _missing(exc)
        if optional is not None:
            return f"{module} needs {optional}, not importable here ({OPTIONAL[optional]})"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ANN201 - pytest's CollectReport
    report = yield
    if report.failed and isinstance(collector, DoctestModule) and Path(collector.path).resolve().is_relative_to(_SRC):
        why = optional_import_error(Path(collector.path))
        if why is not None:
            report.outcome = "skipped"
            report.longrepr = (str(collector.path), 0, f"Skipped: {why}")
    return report
