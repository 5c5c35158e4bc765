"""What this machine and this Python can do: CPU, caches, SIMD, memory, OS, numpy's BLAS and thread pools, the
OpenCV build, model runtimes and their devices, compilers, GPUs. Every probe is cheap and never fails the whole
report: a probe that cannot answer says why.

The CPU, memory and OS sections are :func:`sightspeed.host.describe`'s, the one description of the machine."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from .. import host
from ..errors import require  # the runtimes imported without their telemetry


def _try(probe: Callable[[], Any]) -> Any:
    try:
        return probe()
    except Exception as exc:  # a probe never breaks the report
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def numpy_info() -> dict[str, Any]:
    import numpy as np

    info: dict[str, Any] = {"version": np.__version__}
    try:
        from threadpoolctl import threadpool_info

        info["thread_pools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                                         "architecture")} for p in threadpool_info()]
    except ImportError:
        info["thread_pools"] = {"unavailable": "threadpoolctl is not installed"}
    return info


def opencv() -> dict[str, Any]:
    import cv2

    host.opencl_caches_here()  # haveOpenCL() below starts the OpenCL platform, which fixes its cache folder
    build = cv2.getBuildInformation()

    def line(label: str) -> str | None:
        m = re.search(rf"^\s*{re.escape(label)}\s*:?\s*(.+)$", build, re.M)
        return m.group(1).strip() if m else None

    return {"version": cv2.__version__, "threads": cv2.getNumThreads(), "cpu_baseline": line("Baseline"),
            "cpu_dispatch": line("Dispatched code generation"), "parallel_framework": line("Parallel framework"),
            "opencl_available": host.opencl_blocked() or bool(cv2.ocl.haveOpenCL()), "jpeg": line("JPEG")}


def runtimes() -> dict[str, Any]:
    out: dict[str, Any] = {}

    def ort() -> dict[str, Any]:
        ort_ = require("onnxruntime", "onnxruntime")

        return {"version": ort_.__version__, "providers": ort_.get_available_providers()}

    def ov() -> dict[str, Any]:
        ov_ = require("openvino", "openvino")

        blocked = host.opencl_blocked()  # listing the devices starts OpenVINO's GPU plugin, which starts OpenCL
        if blocked:
            return {"version": ov_.__version__, "devices": ["CPU"], "gpu_plugin": f"OpenCL {blocked}"}
        return {"version": ov_.__version__, "devices": ov_.Core().available_devices}

    out["onnxruntime"] = _try(ort) if _version("onnxruntime") else None
    out["openvino"] = _try(ov) if _version("openvino") else None
    out["litert"] = _version("ai-edge-litert")
    out["tensorflow"] = _version("tensorflow")
    out["simplejpeg"] = _version("simplejpeg")
    return out


def compilers() -> dict[str, Any]:
    return {"numba": _version("numba"), "cython": _version("Cython"), "cc": shutil.which("cc") or shutil.which("gcc"),
            "cupy": _version("cupy") or _version("cupy-cuda12x"), "nvtx": _version("nvtx"),
            "ittapi": _version("ittapi"), "perf": shutil.which("perf")}


def gpus() -> list[dict[str, Any]] | dict[str, str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return {"unavailable": "no nvidia-smi on PATH (no NVIDIA GPU driver)"}
    proc = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version,pcie.link.gen.current,"
                           "pcie.link.width.current", "--format=csv,noheader"], capture_output=True, text=True,
                          timeout=10)
    if proc.returncode != 0:
        return {"unavailable": proc.stderr.strip() or "nvidia-smi failed"}
    keys = ("name", "memory", "driver", "pcie_gen", "pcie_width")
    return [dict(zip(keys, (v.strip() for v in row.split(",")))) for row in proc.stdout.strip().splitlines()]


def report() -> dict[str, Any]:
    """Everything, as one JSON-able dict (what a Session's ``machine`` holds, with the ceilings): the host's
    ``cpu``, ``memory``, ``system`` and ``fingerprint`` (:func:`sightspeed.host.describe`), then ``numpy``,
    ``opencv``, ``runtimes``, ``compilers``, ``gpu`` (:func:`sightspeed.profiler.describe_machine` adds
    ``gpu_paths``, :mod:`sightspeed.gpu_paths`)."""
    sections = [(name, lambda name=name: host.describe()[name])
                for name in ("cpu", "memory", "system", "fingerprint")]
    return {name: _try(probe) for name, probe in [
        *sections, ("numpy", numpy_info), ("opencv", opencv), ("runtimes", runtimes), ("compilers", compilers),
        ("gpu", gpus)]}
