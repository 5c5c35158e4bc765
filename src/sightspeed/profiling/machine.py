"""This machine's ceilings, measured: memory bandwidth, fp32 FLOP/s, file read, JPEG decode (and host<->device
copies when a GPU is there). ``measure()`` takes a few seconds; ``ceilings()`` reuses the cached result.

Methods (each the best of several repeats, on arrays far larger than the 32 MiB last-level cache):
- memory: numpy ``copyto`` (STREAM copy: 2 bytes moved per byte copied) and ``add`` into an existing output (STREAM
  add: 3), on 1 thread and on all cores at once (each thread its own arrays; numpy drops the GIL in these loops);
- fp32: ``float32`` matmul of 2048x2048 (2 n^3 FLOPs), BLAS limited to 1 thread, then all threads (threadpoolctl);
- file read: a fresh 256 MiB file, flushed and dropped from the page cache (posix_fadvise), read in 4 MiB blocks;
- JPEG decode and encode: simplejpeg, 1 thread, pixels per second, on real photos (the built-in samples; a profile
  re-measures them on a few of the run's own JPEGs), else on a synthetic full-HD image; ``jpeg_source`` says which;
- bf16 and int8: a square MatMul through OpenVINO (bf16 hint; QDQ int8) and onnxruntime (QDQ int8), 1 thread and
  all; ``tiers`` records per tier whether the CPU has it natively and each runtime's number (:mod:`.tiers`). A tier
  no installed runtime runs is ``None``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cores import available
from ..host import cache_dir
from ..host import fingerprint as fingerprint  # the cache key; the host module describes the machine
from ..host import last_level_cache as last_level_cache
from . import tiers

CEILINGS = {  # name -> (unit, what it bounds)
    "mem_bw_1t": ("B/s", "memory"),
    "mem_bw_all": ("B/s", "memory"),
    "flops_1t": ("FLOP/s", "compute"),
    "flops_all": ("FLOP/s", "compute"),
    "flops_bf16_1t": ("FLOP/s", "compute"),  # None where no installed runtime runs bf16 (see ``tiers``)
    "flops_bf16_all": ("FLOP/s", "compute"),
    "flops_int8_1t": ("OP/s", "compute"),
    "flops_int8_all": ("OP/s", "compute"),
    "disk_read": ("B/s", "io"),
    "jpeg_decode": ("px/s", "compute"),
    "jpeg_encode": ("px/s", "compute"),
}


_best = tiers.best_seconds  # one timing rule for every ceiling


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


SYNTHETIC = "synthetic photo-like gradient (decodes faster than real photos: ~1.4x for simplejpeg)"


def _jpegs(paths: list[str]) -> list[tuple[bytes, np.ndarray]]:
    """(JPEG bytes q90 4:2:0 as files usually are, decoded BGR pixels) per image; a PNG is encoded to JPEG first."""
    import cv2
    import simplejpeg

    out = []
    for path in paths:
        data = Path(path).read_bytes()
        if simplejpeg.is_jpeg(data):
            out.append((data, simplejpeg.decode_jpeg(data, "BGR")))
        else:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                out.append((simplejpeg.encode_jpeg(image, 90, "BGR", "420"), image))
    return out


def jpeg_rates(paths: list[str] | None = None, repeats: int = 5, label: str = "real photos") -> dict[str, Any]:
    """simplejpeg's decode and encode rates on one thread, pixels per second, on the images ``paths`` (real photos:
    the built-in samples, or a few of a run's own images), else on a synthetic full-HD image. ``jpeg_source`` says
    which (``"N <label>"``): codec speed depends on the content, and a gradient decodes ~1.4x faster than a photo.

    Each image is the best of ``repeats``; the rate is all pixels over the sum of those bests.
    """
    import simplejpeg

    images = _jpegs(paths) if paths else []
    source = f"{len(images)} {label}" if images else ""
    if not images:
        image = _photo_like()
        images, source = [(simplejpeg.encode_jpeg(image, 90, "BGR", "420"), image)], SYNTHETIC
    pixels = sum(img.shape[0] * img.shape[1] for _, img in images)
    decode = sum(_best(lambda d=data, b=np.empty_like(img): simplejpeg.decode_jpeg(d, "BGR", buffer=b), repeats)
                 for data, img in images)
    encode = sum(_best(lambda i=img: simplejpeg.encode_jpeg(i, 90, "BGR", "420"), repeats) for _, img in images)
    return {"jpeg_decode": pixels / decode, "jpeg_encode": pixels / encode, "jpeg_source": source}


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


def measure(quick: bool = False, photos: list[str] | None = None) -> dict[str, Any]:
    """Measure every ceiling now (~20 s; quick: one round, smaller tier probes, ~8 s); the JPEG codec ones on
    ``photos`` (see :func:`jpeg_rates`).

    Each ceiling is the best of a few repeats within a round, and the measurement goes round all ceilings three
    times and keeps each one's median round: on a shared machine a neighbour's burst (or a lucky quiet moment)
    then moves one round of one ceiling, not the result.
    """
    cores = available()  # all the cores this process may use (affinity, cgroup quota)
    probes: dict[str, Callable[[], float]] = {
        "mem_bw_1t": lambda: memory_bandwidth(1, 256, 3),
        "mem_bw_all": lambda: memory_bandwidth(cores, 256, 3),
        "flops_1t": lambda: fp32_flops(1, 2048, 3),
        "flops_all": lambda: fp32_flops(None, 2048, 3),
        "disk_read": lambda: disk_read(256),
    }
    # 1024^2 reaches the same bf16/int8 peak as 2048^2 within a few % (this machine), at an eighth of the time
    tier_probes, tier_record = tiers.prepare(cores, n=1024 if quick else 2048, repeats=3)
    probes.update(tier_probes)
    rounds: dict[str, list[float]] = {name: [] for name in [*probes, "jpeg_decode", "jpeg_encode"]}
    source = ""
    for _ in range(1 if quick else 3):
        for name, probe in probes.items():
            rounds[name].append(probe())
        codec = jpeg_rates(photos, repeats=5, label="real photos (the built-in samples)")
        rounds["jpeg_decode"].append(codec["jpeg_decode"])
        rounds["jpeg_encode"].append(codec["jpeg_encode"])
        source = codec["jpeg_source"]
    result: dict[str, Any] = {name: float(np.median(values)) for name, values in rounds.items()}
    result.update(tiers.combine({name: result.pop(name) for name in tier_probes}, tier_record))
    result["jpeg_source"] = source
    gpu = gpu_copy()
    if gpu:
        result.update({"gpu_h2d": gpu["h2d"], "gpu_d2h": gpu["d2h"]})
    result["measured"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick, "cores": cores,
                          "fingerprint": fingerprint(), "runtimes": tiers.versions()}
    return result


def cache_path() -> Path:
    return cache_dir() / "machine.json"


def cached_ceilings() -> dict[str, Any] | None:
    """The cached ceilings if they are there and still hold for this machine; never measures.

    They do not hold when the machine changed (fingerprint), a ceiling is missing (a cache written before it was
    measured, e.g. the bf16/int8 tiers), or the runtimes the tier probes use changed since (:func:`.tiers.stale`).
    A tier ceiling that is there as ``None`` (no runtime ran it) holds: it says "not measurable here".
    """
    try:
        cached = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return None
    if cached.get("measured", {}).get("fingerprint") != fingerprint() or not all(n in cached for n in CEILINGS):
        return None
    return None if tiers.stale(cached) else cached


def ceilings(refresh: bool = False, quick: bool = True, photos: list[str] | None = None) -> dict[str, Any]:
    """Cached ceilings for this machine; measured (and cached) when missing, stale or ``refresh``."""
    cached = None if refresh else cached_ceilings()
    if cached is not None:
        return cached
    path = cache_path()
    result = measure(quick=quick, photos=photos)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
    except OSError:
        pass
    return result
