"""This machine's ceilings, measured: memory bandwidth, fp32 FLOP/s, file read, JPEG decode (and host<->device
copies when a GPU is there). ``measure()`` takes a few seconds; ``ceilings()`` reuses the cached result.

Methods (each the best of several repeats, on arrays far larger than the 32 MiB last-level cache):
- memory: numpy ``copyto`` (STREAM copy: 2 bytes moved per byte copied) and ``add`` into an existing output (STREAM
  add: 3), on 1 thread and on all cores at once (each thread its own arrays; numpy drops the GIL in these loops);
- fp32: ``float32`` matmul of 2048x2048 (2 n^3 FLOPs), BLAS limited to 1 thread, then all threads (threadpoolctl);
- file read: a fresh 256 MiB file, flushed and dropped from the page cache (posix_fadvise), read in 4 MiB blocks;
- JPEG decode and encode: simplejpeg on a full-HD photo-like image (q90, 4:2:0), 1 thread, megapixels per second.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CEILINGS = {  # name -> (unit, what it bounds)
    "mem_bw_1t": ("B/s", "memory"),
    "mem_bw_all": ("B/s", "memory"),
    "flops_1t": ("FLOP/s", "compute"),
    "flops_all": ("FLOP/s", "compute"),
    "disk_read": ("B/s", "io"),
    "jpeg_decode": ("px/s", "compute"),
    "jpeg_encode": ("px/s", "compute"),
}


def _best(fn: Callable[[], None], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def last_level_cache(default: int = 32 * 2**20) -> int:
    """Bytes of the largest CPU cache (Linux sysfs; ``default`` where that is not readable). Data that fits in it
    is not bound by the memory bandwidth, so benchmarks that claim a % of memory SOL must stream more than this.

    >>> last_level_cache() > 0
    True
    """
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes, default=default)


def memory_bandwidth(threads: int = 1, mib: int = 256, repeats: int = 5) -> float:
    """Bytes per second moved by STREAM-style copy and add (the better of the two), over ``threads`` threads,
    each on its own ``mib``-MiB arrays."""
    n = mib * 2**20 // 4
    arrays = [(np.ones(n, np.float32), np.ones(n, np.float32), np.empty(n, np.float32)) for _ in range(threads)]

    def run(kernel: Callable[[tuple], None]) -> float:
        def once() -> None:
            workers = [threading.Thread(target=kernel, args=(a,)) for a in arrays]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        return _best(once, repeats)

    copy_s = run(lambda a: np.copyto(a[2], a[0]))
    add_s = run(lambda a: np.add(a[0], a[1], out=a[2]))
    total = n * 4 * threads
    return max(2 * total / copy_s, 3 * total / add_s)


def fp32_flops(threads: int | None = 1, n: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of a float32 matmul with BLAS on ``threads`` threads (None: BLAS's default, all cores)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)

    def matmul() -> None:
        np.matmul(a, b, out=out)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threads is not None and threadpool_limits is not None:
        with threadpool_limits(limits=threads, user_api="blas"):
            seconds = _best(matmul, repeats)
    else:
        seconds = _best(matmul, repeats)
    return 2 * n**3 / seconds


def disk_read(mib: int = 256, folder: str | None = None) -> float:
    """Sequential read bytes/s of a file just written, flushed and dropped from the page cache."""
    block = np.random.default_rng(0).integers(0, 256, 4 * 2**20, dtype=np.uint8).tobytes()
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as f:
        path = f.name
        for _ in range(mib // 4):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            t = time.perf_counter()
            while os.read(fd, 4 * 2**20):
                pass
            seconds = time.perf_counter() - t
        finally:
            os.close(fd)
    finally:
        os.unlink(path)
    return mib * 2**20 / seconds


def _photo_like() -> np.ndarray:
    y, x = np.mgrid[:1080, :1920]
    noise = np.random.default_rng(0).integers(0, 8, (1080, 1920, 3))  # camera-like noise, not static
    return (np.dstack([x / 8 % 256, y / 5 % 256, (x + y) / 12 % 256]) + noise).clip(0, 255).astype(np.uint8)


def jpeg_decode(repeats: int = 10) -> float:
    """Pixels per second simplejpeg decodes on one thread (a 1920x1080 photo-like JPEG, quality 90, 4:2:0)."""
    import simplejpeg

    image = _photo_like()
    data = simplejpeg.encode_jpeg(image, 90, "BGR", "420")
    buffer = np.empty_like(image)
    seconds = _best(lambda: simplejpeg.decode_jpeg(data, "BGR", buffer=buffer), repeats)
    return image.shape[0] * image.shape[1] / seconds


def jpeg_encode(repeats: int = 10) -> float:
    """Pixels per second simplejpeg encodes on one thread (the same image, quality 90, 4:2:0)."""
    import simplejpeg

    image = _photo_like()
    seconds = _best(lambda: simplejpeg.encode_jpeg(image, 90, "BGR", "420"), repeats)
    return image.shape[0] * image.shape[1] / seconds


def gpu_copy() -> dict[str, float] | None:
    """Host->device and device->host bytes/s with CuPy (256 MiB, pinned-free numpy source), or None."""
    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:
        return None
    host = np.ones(64 * 2**20, np.float32)
    dev = cp.asarray(host)
    h2d = _best(lambda: (dev.set(host), cp.cuda.Stream.null.synchronize()), 3)
    d2h = _best(lambda: dev.get(), 3)
    return {"h2d": host.nbytes / h2d, "d2h": host.nbytes / d2h}


def measure(quick: bool = False) -> dict[str, Any]:
    """Measure every ceiling now (~15 s; quick: one round, ~5 s).

    Each ceiling is the best of a few repeats within a round, and the measurement goes round all ceilings three
    times and keeps each one's median round: on a shared machine a neighbour's burst (or a lucky quiet moment)
    then moves one round of one ceiling, not the result.
    """
    cores = os.cpu_count() or 1
    probes: dict[str, Callable[[], float]] = {
        "mem_bw_1t": lambda: memory_bandwidth(1, 256, 3),
        "mem_bw_all": lambda: memory_bandwidth(cores, 256, 3),
        "flops_1t": lambda: fp32_flops(1, 2048, 3),
        "flops_all": lambda: fp32_flops(None, 2048, 3),
        "disk_read": lambda: disk_read(256),
        "jpeg_decode": lambda: jpeg_decode(5),
        "jpeg_encode": lambda: jpeg_encode(5),
    }
    rounds: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(1 if quick else 3):
        for name, probe in probes.items():
            rounds[name].append(probe())
    result: dict[str, Any] = {name: float(np.median(values)) for name, values in rounds.items()}
    gpu = gpu_copy()
    if gpu:
        result.update({"gpu_h2d": gpu["h2d"], "gpu_d2h": gpu["d2h"]})
    result["measured"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick, "cores": cores,
                          "fingerprint": fingerprint()}
    return result


def fingerprint() -> str:
    """What must not change for cached ceilings to hold: CPU model, core count, memory size, numpy."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return f"{model}|{os.cpu_count()}|{mem >> 30}GiB|numpy {np.__version__}"


def cache_path() -> Path:
    from ..models.zoo import cache_dir

    return cache_dir() / "machine.json"


def cached_ceilings() -> dict[str, Any] | None:
    """The cached ceilings if they are there and still hold for this machine; never measures."""
    try:
        cached = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return None
    if cached.get("measured", {}).get("fingerprint") != fingerprint() or not all(n in cached for n in CEILINGS):
        return None
    return cached


def ceilings(refresh: bool = False, quick: bool = True) -> dict[str, Any]:
    """Cached ceilings for this machine; measured (and cached) when missing, stale or ``refresh``."""
    cached = None if refresh else cached_ceilings()
    if cached is not None:
        return cached
    path = cache_path()
    result = measure(quick=quick)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
    except OSError:
        pass
    return result
