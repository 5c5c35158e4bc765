"""What this machine and this Python can do: CPU, caches, SIMD, memory, OS, numpy's BLAS and thread pools, the
OpenCV build, model runtimes and their devices, compilers, GPUs. Every probe is cheap and never fails the whole
report: a probe that cannot answer says why."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "neon", "asimd", "sve")


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


def cpu() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "logical_cores": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    info["model"] = model.group(1).strip() if model else platform.processor()
    flags = re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M)
    have = set(flags.group(2).split()) if flags else set()
    info["simd"] = [f for f in SIMD if f in have]
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            caches[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = size
        except OSError:
            continue
    info["caches"] = caches
    return info


def memory() -> dict[str, Any]:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"total_gib": round(total / 2**30, 1)}


def system() -> dict[str, Any]:
    return {"os": platform.platform(), "python": platform.python_version(),
            "implementation": platform.python_implementation()}


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

    build = cv2.getBuildInformation()

    def line(label: str) -> str | None:
        m = re.search(rf"^\s*{re.escape(label)}\s*:?\s*(.+)$", build, re.M)
        return m.group(1).strip() if m else None

    return {"version": cv2.__version__, "threads": cv2.getNumThreads(), "cpu_baseline": line("Baseline"),
            "cpu_dispatch": line("Dispatched code generation"), "parallel_framework": line("Parallel framework"),
            "opencl_available": bool(cv2.ocl.haveOpenCL()), "jpeg": line("JPEG")}


def runtimes() -> dict[str, Any]:
    out: dict[str, Any] = {}

    def ort() -> dict[str, Any]:
        import onnxruntime as ort_

        return {"version": ort_.__version__, "providers": ort_.get_available_providers()}

    def ov() -> dict[str, Any]:
        import openvino as ov_

        core = ov_.Core()
        return {"version": ov_.__version__, "devices": core.available_devices}

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
    """Everything, as one JSON-able dict (embedded in every profiling session)."""
    return {name: _try(probe) for name, probe in [
        ("cpu", cpu), ("memory", memory), ("system", system), ("numpy", numpy_info), ("opencv", opencv),
        ("runtimes", runtimes), ("compilers", compilers), ("gpu", gpus)]}
