"""Which kernel backends this machine can run, and why not when it can't. Probes are cheap and cached: they look
for the library (and a device) without importing anything heavy until a backend is used."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Callable


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _numpy() -> tuple[bool, str]:
    return True, "the reference"


def _opencv() -> tuple[bool, str]:
    return (True, "cv2") if _has("cv2") else (False, "cv2 is not installed (pip install opencv-python-headless)")


def _numba() -> tuple[bool, str]:
    if not _has("numba"):
        return False, "numba is not installed (pip install 'sightspeed[numba]')"
    return True, "numba JIT, compiled on first use and cached on disk"


def _cython() -> tuple[bool, str]:
    if not _has("sightspeed.kernels._cy.kernels_cy"):
        return False, ("the compiled extension sightspeed.kernels._cy.kernels_cy was not built (no C compiler or "
                       "Cython at install time; reinstall with a compiler to get it)")
    return True, "compiled at install from kernels/_cy/kernels_cy.pyx"


def _opencl() -> tuple[bool, str]:
    ok, why = _opencv()
    if not ok:
        return ok, why
    import glob
    import os

    # OpenCV only looks at GPU devices unless told otherwise; with no GPU device node here, let it take a CPU
    # device (e.g. PoCL). Read when the first OpenCL context is made, so this must come before any UMat use.
    if "OPENCV_OPENCL_DEVICE" not in os.environ and not glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/dri/render*"):
        os.environ["OPENCV_OPENCL_DEVICE"] = ":CPU:"
    from ..host import opencl_blocked, opencl_caches_here

    opencl_caches_here()
    blocked = opencl_blocked()
    if blocked:
        return False, f"OpenCL {blocked}"
    import cv2

    if not cv2.ocl.haveOpenCL():
        return False, ("OpenCV finds no OpenCL platform (on a CPU-only Debian machine: apt-get install "
                       "pocl-opencl-icd ocl-icd-libopencl1)")
    cv2.ocl.setUseOpenCL(True)
    try:  # the default device is chosen when the first UMat op creates the context
        import numpy as np

        cv2.add(cv2.UMat(np.zeros((2, 2), np.uint8)), 1).get()
    except cv2.error as exc:
        return False, f"OpenCL context creation failed: {exc}"
    device = cv2.ocl.Device.getDefault()
    if not cv2.ocl.useOpenCL() or not device.available():
        return False, "OpenCV's default OpenCL device is not available"
    return True, f"cv2.UMat on {device.name()} ({device.vendorName()})"


def _array_api() -> tuple[bool, str]:
    if not _has("array_api_compat"):
        return False, "array-api-compat is not installed (pip install array-api-compat)"
    return True, "the array-API code (the same as the cupy backend) run on numpy"


def _cupy() -> tuple[bool, str]:
    if not _has("cupy"):
        return False, "cupy is not installed (pip install 'sightspeed[gpu]' on a machine with an NVIDIA GPU)"
    ok, why = _array_api()
    if not ok:
        return ok, why
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install raises many kinds
        return False, f"cupy found no usable GPU: {exc}"
    return (True, f"the array-API code on {count} CUDA device(s)") if count else (False, "cupy sees no CUDA device")


PROBES: dict[str, Callable[[], tuple[bool, str]]] = {
    "numpy": _numpy, "opencv": _opencv, "numba": _numba, "cython": _cython, "opencl": _opencl,
    "array_api": _array_api, "cupy": _cupy,
}
_BROKEN: dict[str, str] = {}


@lru_cache(maxsize=None)
def _probe(name: str) -> tuple[bool, str]:
    return PROBES[name]()


def status(name: str) -> tuple[bool, str]:
    """(available, description or reason) for backend ``name``."""
    if name in _BROKEN:
        return False, _BROKEN[name]
    return _probe(name)


def mark_unavailable(name: str, reason: str) -> None:
    """Record that a backend whose probe passed failed to load after all (so it is not picked again)."""
    _BROKEN[name] = reason
