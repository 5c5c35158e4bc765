"""`sightspeed doctor` as a table: what :func:`sightspeed.profiling.doctor.report` returns (passed in: a renderer
reads data, never the machine), one row per fact, grouped by section. A section a probe could not answer shows why.

>>> import io
>>> from rich.console import Console
>>> console = Console(file=io.StringIO(), width=100, record=True)
>>> console.print(table({"memory": {"total_bytes": 2**34, "total_gib": 16.0},
...                      "gpu": {"unavailable": "no nvidia-smi on PATH"}}))
>>> text = console.export_text()
>>> "16.0 GiB" in text and "no nvidia-smi on PATH" in text
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rich.table import Table
from rich.text import Text

Row = tuple[str, str]  # (what, value)

# optional dependency -> the extra that brings it (pyproject.toml)
EXTRAS = {"openvino": "openvino", "litert": "tflite", "numba": "numba", "cupy": "gpu", "nvtx": "nvtx",
          "ittapi": "itt"}


def _size(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return str(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _words(values: Any) -> str:
    if isinstance(values, (list, tuple)):
        return " ".join(str(v) for v in values) or "none"
    return str(values)


def _cpu(cpu: dict) -> Iterator[Row]:
    more = ", ".join(str(cpu[k]) for k in ("vendor", "arch") if cpu.get(k))
    yield "model", f"{cpu.get('model', '?')}" + (f" ({more})" if more else "")
    cores = [f"{cpu[k]} {label}" for k, label in (("logical_cores", "logical"), ("physical_cores", "physical"),
                                                  ("available_cores", "available to this process")) if k in cpu]
    if cores:
        yield "cores", ", ".join(cores)
    if "simd" in cpu:
        yield "SIMD", _words(cpu["simd"])
    for tier, units in (cpu.get("dot_product") or {}).items():
        yield f"dot products {tier}", _words(units) if units else "none (emulated: slower than f32)"
    caches = cpu.get("caches") or {}
    if caches:
        yield "caches", ", ".join(f"{name} {_size(size)}" for name, size in caches.items())
    for key, value in cpu.items():
        if key not in {"model", "vendor", "arch", "logical_cores", "physical_cores", "available_cores", "simd",
                       "dot_product", "caches"}:
            yield key.replace("_", " "), _words(value)


def _memory(memory: dict) -> Iterator[Row]:
    yield "total", f"{memory['total_gib']} GiB" if "total_gib" in memory else _size(memory.get("total_bytes"))


def _system(system: dict) -> Iterator[Row]:
    yield "platform", str(system.get("os", "?"))
    yield "Python", " ".join(str(system[k]) for k in ("python", "implementation") if system.get(k))


def _numpy(numpy: dict) -> Iterator[Row]:
    yield "version", str(numpy.get("version", "?"))
    pools = numpy.get("thread_pools")
    if isinstance(pools, dict):  # {"unavailable": why}
        yield "thread pools", pools.get("unavailable", str(pools))
        return
    for pool in pools or []:
        name = pool.get("internal_api") or pool.get("user_api") or "?"
        label = "BLAS" if pool.get("user_api") == "blas" else str(pool.get("user_api") or "pool")
        details = ", ".join(str(v) for v in (pool.get("version"), pool.get("architecture")) if v)
        yield label, f"{name}" + (f" {details}" if details else "") + f", {pool.get('num_threads')} threads"


def _opencv(cv: dict) -> Iterator[Row]:
    yield "version", f"{cv.get('version', '?')}, {cv.get('threads', '?')} threads"
    for key, label in (("cpu_baseline", "CPU baseline"), ("cpu_dispatch", "CPU dispatch"),
                       ("parallel_framework", "parallel framework"), ("jpeg", "JPEG")):
        if cv.get(key):
            yield label, str(cv[key])
    if "opencl_available" in cv:
        found = cv["opencl_available"]
        yield "OpenCL", found if isinstance(found, str) else "available" if found else "not available"


def _missing(name: str) -> str:
    extra = EXTRAS.get(name)
    return f"not installed (pip install 'sightspeed[{extra}]')" if extra else "not installed"


def _installed(section: dict) -> Iterator[Row]:
    """runtimes / compilers: name -> version, a path, a dict with details, or None (not installed)."""
    for name, value in section.items():
        if value is None:
            yield name, _missing(name)
        elif isinstance(value, dict) and "unavailable" in value:
            yield name, f"unavailable: {value['unavailable']}"
        elif isinstance(value, dict):
            details = [f"{k} {_words(v)}" for k, v in value.items() if k != "version"]
            yield name, " ".join([str(value.get("version", "")), *(f"({d})" for d in details)]).strip()
        else:
            yield name, str(value)


def _gpu(gpu: Any) -> Iterator[Row]:
    if isinstance(gpu, dict):
        yield "GPU", f"none: {gpu['unavailable']}" if "unavailable" in gpu else _words(gpu)
        return
    for k, card in enumerate(gpu or []):
        link = f", PCIe gen {card['pcie_gen']} x{card['pcie_width']}" if card.get("pcie_gen") else ""
        yield f"GPU {k}", f"{card.get('name', '?')}, {card.get('memory', '?')}, driver {card.get('driver', '?')}{link}"
    if not gpu:
        yield "GPU", "none"


def _gpu_paths(found: dict) -> Iterator[Row]:
    for name, row in found.items():
        yield name, ("yes: " if row.get("available") else "no: ") + str(row.get("how", ""))


def _other(value: Any) -> Iterator[Row]:
    if isinstance(value, dict):
        for key, v in value.items():
            yield str(key), _words(v)
    else:
        yield "", _words(value)


# section key -> (its title, its rows)
SECTIONS: dict[str, tuple[str, Callable[[Any], Iterator[Row]]]] = {
    "cpu": ("CPU", _cpu), "memory": ("memory", _memory), "system": ("OS", _system), "numpy": ("numpy", _numpy),
    "opencv": ("OpenCV", _opencv), "runtimes": ("runtimes", _installed), "compilers": ("compilers", _installed),
    "gpu": ("GPU", _gpu), "gpu_paths": ("GPU paths", _gpu_paths),
}


def table(info: dict[str, Any], title: str = "doctor: what this machine and this Python have") -> Table:
    """The doctor report as a rich Table (section, what, value); sections it does not know are listed as they are."""
    out = Table(title=title, title_justify="left")
    out.add_column("section", style="bold")
    out.add_column("what")
    out.add_column("value", overflow="fold")
    for key, value in info.items():
        if key == "fingerprint":
            continue
        name, rows = SECTIONS.get(key, (key, _other))
        if isinstance(value, dict) and set(value) == {"unavailable"} and key != "gpu":
            lines: list[Row] = [("", f"unavailable: {value['unavailable']}")]
        else:
            lines = list(rows(value))
        for k, (what, shown) in enumerate(lines):
            out.add_row(name if k == 0 else "", Text(what), Text(shown), end_section=k == len(lines) - 1)
    if info.get("fingerprint"):
        out.caption = f"fingerprint: {info['fingerprint']}"
    return out
