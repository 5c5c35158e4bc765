"""``pytest --doctest-modules`` collects the package on an install without the optional extras: a module that
needs a missing extra is skipped with the reason, never a collection error (the root conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("numba", "sightspeed.kernels._cy.kernels_cy", "pyopencl", "cupy", "openvino", "nvtx", "ittapi")


def src_conftest():
    spec = importlib.util.spec_from_file_location("_sightspeed_src_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_extras(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import the optional extras: a meta-path blocker in a sitecustomize."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(f'''
        import sys

        class BlockExtras:
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in {BLOCKED!r}):
                    raise ImportError(f"{{name}} is blocked by the test", name=name)
                return None

        sys.meta_path.insert(0, BlockExtras())
    '''))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


def test_doctests_collect_without_the_optional_extras(tmp_path):
    env = without_extras(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", "from sightspeed import kernels; op = kernels.get('composite');"
                               "print(op.available('numba')[0], op.available('cython')[0])"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert probe.stdout.split() == ["False", "False"], probe.stderr[-2000:]  # the blocker works
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-rs", "--doctest-modules",
                           "-p", "no:cacheprovider", "src/sightspeed"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "error" not in out.lower(), out[-4000:]
    assert "sightspeed.kernels._numba needs numba, not importable here (pip install 'sightspeed[numba]')" in out
    assert "sightspeed.kernels._cython needs sightspeed.kernels._cy.kernels_cy, not importable here" in out
    assert "src/sightspeed/equivalence.py::sightspeed.equivalence" in out  # the rest is still collected


def test_only_a_missing_extra_is_a_skip():
    missing = src_conftest()._missing
    assert missing(ImportError("No module named 'numba'", name="numba")) == "numba"
    assert missing(ImportError("No module named 'numba.core'", name="numba.core")) == "numba"
    # the extension not built: ``from ._cy import kernels_cy`` finds the package but not the module
    unbuilt = ImportError("cannot import name 'kernels_cy' from 'sightspeed.kernels._cy' (/x/_cy/__init__.py)",
                          name="sightspeed.kernels._cy")
    assert missing(unbuilt) == "sightspeed.kernels._cy.kernels_cy"
    # anything else (a core dependency, a typo in the package) stays a collection error
    assert missing(ImportError("No module named 'cv2'", name="cv2")) is None
    typo = ImportError("cannot import name 'nope' from 'sightspeed.kernels'", name="sightspeed.kernels")
    assert missing(typo) is None
    assert missing(ImportError("No module named 'numbafied'", name="numbafied")) is None
