"""This host, described once: the CPU (model, vector and dot-product flags, caches), the cores this process may
use, memory, the OS and Python — plus where sightspeed caches things and the fingerprint those caches are keyed by.

A bottom module: it imports only the standard library, :mod:`sightspeed.cores`, and (lazily) py-cpuinfo and
psutil. ``sightspeed doctor``, the machine summary every Session carries and the ceilings cache all read
:func:`describe`; nothing else parses ``/proc/cpuinfo``.

py-cpuinfo takes about a second (it runs CPUID probes in a child process), so its answer is kept in
``cache_dir()/cpuinfo.json`` for as long as the machine has not rebooted (keyed by host name and boot time).

>>> info = describe()
>>> info["cpu"]["available_cores"] >= 1 and info["memory"]["total_bytes"] > 0
True
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

from .cores import available

# Vector extensions worth knowing for image kernels (x86 names as Linux spells them, then Arm's).
SIMD = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_fp16", "amx_tile",
        "neon", "asimd", "sve", "sve2")
# Instructions that make a bf16 or int8 model tier fast: matrix tiles (AMX) or fused dot products (VNNI, i8mm).
DOT_PRODUCT = {
    "bf16": ("amx_bf16", "avx512_bf16", "bf16", "svebf16"),
    "int8": ("amx_int8", "avx512_vnni", "avx_vnni", "asimddp", "i8mm", "svei8mm"),
}


def cache_dir() -> Path:
    """Where sightspeed keeps models, ceilings and kernel picks: ``$SIGHTSPEED_CACHE``, else the user cache dir."""
    env = os.environ.get("SIGHTSPEED_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sightspeed"))


def opencl_caches_here() -> None:
    """Point PoCL's and OpenCV's OpenCL kernel caches into sightspeed's cache folder (unless the user set them), so
    a run writes nothing under ~/.cache. PoCL reads its variable when the OpenCL platform is first enumerated: call
    this before anything touches OpenCL (``cv2.ocl.haveOpenCL()`` included)."""
    os.environ.setdefault("POCL_CACHE_DIR", str(cache_dir() / "pocl"))
    os.environ.setdefault("OPENCV_OPENCL_CACHE_DIR", str(cache_dir() / "opencv-opencl"))


_OPENCL = {"started": False}


def opencl_blocked() -> str | None:
    """Why OpenCL must not be started in this process now, or None (and then the caller starts it: the answer
    stays None for the life of the process). An OpenCL platform enumerated after TensorFlow was imported crashes
    the process (seen with PoCL: a segmentation fault inside ``cv2.ocl.haveOpenCL()``); started before, both work."""
    import sys

    if not _OPENCL["started"] and "tensorflow" in sys.modules:
        return ("not started: TensorFlow is loaded in this process, and an OpenCL platform (PoCL) enumerated after "
                "it crashes the process")
    _OPENCL["started"] = True
    return None


def _boot_key() -> str:
    import psutil

    return f"{platform.node()}|{int(psutil.boot_time())}|{os.cpu_count()}"


def _cpuinfo() -> dict[str, Any]:
    """py-cpuinfo's dict (brand, vendor, arch, flags, cache sizes), from the per-boot cache when it is there."""
    path = cache_dir() / "cpuinfo.json"
    key = _boot_key()
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["info"]
    except (OSError, ValueError, KeyError):
        pass
    import cpuinfo

    info = {k: v for k, v in cpuinfo.get_cpu_info().items()
            if k in ("brand_raw", "vendor_id_raw", "arch_string_raw", "flags", "l1_data_cache_size",
                     "l1_instruction_cache_size", "l2_cache_size", "l3_cache_size")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "info": info}))
        os.replace(tmp, path)
    except OSError:
        pass
    return info


def _sysfs_caches() -> dict[str, int]:
    """Per-core cache sizes in bytes from Linux sysfs (L1d, L1i, L2, L3 as cpu0 sees them), else {}."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    caches: dict[str, int] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        size = int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)
        caches[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = size
    return caches


def cpu() -> dict[str, Any]:
    """Model, vendor, architecture, cores (logical, physical, available to this process), the SIMD and
    dot-product flags it has, and cache sizes in bytes."""
    import psutil

    info = _cpuinfo()
    flags = set(info.get("flags", []))
    # sysfs gives per-core L1/L2; py-cpuinfo (from lscpu) may give their sum over cores, so it is the fallback
    caches = _sysfs_caches() or {name: int(info[key]) for name, key in (
        ("L1d", "l1_data_cache_size"), ("L1i", "l1_instruction_cache_size"), ("L2", "l2_cache_size"),
        ("L3", "l3_cache_size")) if info.get(key)}
    return {
        "model": info.get("brand_raw") or platform.processor() or platform.machine(),
        "vendor": info.get("vendor_id_raw", ""),
        "arch": info.get("arch_string_raw") or platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "available_cores": available(),
        "simd": [f for f in SIMD if f in flags],
        "dot_product": {tier: [f for f in names if f in flags] for tier, names in DOT_PRODUCT.items()},
        "caches": caches,
    }


def memory() -> dict[str, Any]:
    import psutil

    total = psutil.virtual_memory().total
    return {"total_bytes": total, "total_gib": round(total / 2**30, 1)}


def system() -> dict[str, Any]:
    return {"os": platform.platform(), "python": platform.python_version(),
            "implementation": platform.python_implementation()}


def _numpy_version() -> str:
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _fingerprint(c: dict[str, Any], m: dict[str, Any]) -> str:
    return f"{c['model']}|{c['logical_cores']}|{m['total_bytes'] >> 30}GiB|numpy {_numpy_version()}"


def fingerprint() -> str:
    """What must not change for cached ceilings and kernel picks to hold: CPU model, cores, memory, numpy."""
    return _describe()["fingerprint"]


@functools.lru_cache(maxsize=1)
def _describe() -> dict[str, Any]:
    c, m = cpu(), memory()
    return {"cpu": c, "memory": m, "system": system(), "fingerprint": _fingerprint(c, m)}


def describe() -> dict[str, Any]:
    """The one description of this host (JSON-able; computed once per process, a fresh copy each call):
    ``{"cpu": {...}, "memory": {...}, "system": {...}, "fingerprint": str}``."""
    return json.loads(json.dumps(_describe()))


def last_level_cache(default: int = 32 * 2**20) -> int:
    """Bytes of the largest CPU cache (``default`` where it is not known). Data that fits in it is not bound by
    the memory bandwidth, so benchmarks that claim a % of memory SOL must stream more than this.

    >>> last_level_cache() > 0
    True
    """
    return max(_describe()["cpu"]["caches"].values(), default=default)
