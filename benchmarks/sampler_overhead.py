"""What the line sampler costs, next to cProfile. One CPU-bound workload (numpy array arithmetic and plain Python:
a float64 normalisation and a blur-like sum of shifted copies, then a pure-Python NMS over 400 boxes, under
``sightspeed.stage`` blocks, and a generator sum outside them) timed in rounds: without profiling (``none``),
with spans only (``spans``: ``profile(hotspots=None)``), with cProfile per stage (``calls``) and with the sampler
at the default rate (``lines``). Each run's wall time and process CPU time (every thread's: the sampler's own
included). Pairs: in each round every profiled mode runs right next to a run of ``none`` of its own (which goes
first alternates from round to round), and its overhead that round is its time over that run's; min / median / max
over the rounds (``overhead_pct_per_round``): the pairing cancels the slow drift of a shared machine's load.
``target``: the sampler's paired median against the 3% target, ``target_met`` from the wall time's. Also the
sampler's own cost per sample (the sampling function called directly by a thread, the main one sampled).
``--peers`` adds pyinstrument (its sampler, same interval) and yappi (wall clock) where importable (not
dependencies: ``pip install --target /tmp/peers pyinstrument yappi`` and ``PYTHONPATH=/tmp/peers``). Prints JSON.

    python benchmarks/sampler_overhead.py --rounds 40
    PYTHONPATH=/tmp/peers python benchmarks/sampler_overhead.py --rounds 10 --peers
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import threading
import time

import numpy as np

import sightspeed
from sightspeed.profiler import profile
from sightspeed.profiling.frames import DEFAULT_INTERVAL
from sightspeed.profiling.sampler import Sampler


def iou(a: tuple, b: tuple) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def nms(boxes: list[tuple], threshold: float = 0.5) -> list[tuple]:
    kept: list[tuple] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(iou(box, k) < threshold for k in kept):
            kept.append(box)
    return kept


def workload(frames: int = 12, size: int = 768) -> float:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    xy = rng.integers(0, 600, (400, 2))
    boxes = [(int(x), int(y), int(x) + 40, int(y) + 40, k / 400) for k, (x, y) in enumerate(xy)]
    total = 0.0
    for _ in range(frames):
        with sightspeed.stage("preprocess"):
            x = image.astype(np.float64) / 255.0
            x = (x - x.mean(axis=(0, 1))) / (x.std(axis=(0, 1)) + 1e-6)
            blurred = (x[:-2, :-2] + x[1:-1, 1:-1] + x[2:, 2:]) / 3.0
        with sightspeed.stage("postprocess"):
            total += float(blurred[0, 0, 0]) + len(nms(boxes))
        total += sum(i * i for i in range(20000)) * 1e-12  # outside any stage
    return total


def timed(mode: str, frames: int, interval: float = DEFAULT_INTERVAL) -> tuple[float, float]:
    """(wall seconds, process CPU seconds: every thread's, the sampler's included) of one workload run; the
    samplers (lines, pyinstrument) every ``interval`` seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "none":
        workload(frames)
    elif mode == "pyinstrument":  # its sampler at the same interval
        import pyinstrument

        profiler = pyinstrument.Profiler(interval=interval)
        profiler.start()
        workload(frames)
        profiler.stop()
    elif mode == "yappi":
        import yappi

        yappi.set_clock_type("wall")
        yappi.start()
        workload(frames)
        yappi.stop()
        yappi.clear_stats()
    else:
        with profile(hotspots={"spans": None, "calls": "calls", "lines": "lines"}[mode], mirrors=False,
                     interval=interval):
            workload(frames)
    return time.perf_counter() - start, time.process_time() - cpu


def sample_cost(calls: int = 2000) -> float:
    """Seconds per sample, taken by another thread while this one waits (one thread sampled, the sampling one
    left out as the profiler's own)."""
    sampler = Sampler(base="(main)")
    took: list[float] = []

    def loop() -> None:
        start = time.perf_counter()
        for _ in range(calls):
            sampler.sample(DEFAULT_INTERVAL)
        took.append((time.perf_counter() - start) / calls)

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join()
    assert sampler.samples == calls
    return took[0]


TARGET_PCT = 3.0  # the line sampler's overhead at the default interval, wall time, paired median


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--frames", type=int, default=6, help="frames of the workload per timed run")
    parser.add_argument("--peers", action="store_true", help="also pyinstrument and yappi, where importable")
    parser.add_argument("--interval-ms", type=float, default=1000 * DEFAULT_INTERVAL,
                        help="the samplers' interval (default: the line sampler's default; the target is for it)")
    args = parser.parse_args()
    interval = args.interval_ms / 1000
    modes = ["none", "spans", "calls", "lines"]
    if args.peers:
        modes += [peer for peer in ("pyinstrument", "yappi") if importlib.util.find_spec(peer) is not None]
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    pct: dict[str, dict[str, list[float]]] = {"wall": {m: [] for m in modes[1:]}, "cpu": {m: [] for m in modes[1:]}}
    for mode in modes:  # warm: imports, caches, numpy's first allocations
        timed(mode, 1, interval)
    profiled = modes[1:]
    for k in range(args.rounds):
        for mode in profiled[k % len(profiled):] + profiled[:k % len(profiled)]:  # each round starts elsewhere
            pair = {}
            for m in (("none", mode) if k % 2 == 0 else (mode, "none")):  # its own run of none, right next to it
                pair[m] = timed(m, args.frames, interval)
                wall[m].append(pair[m][0])
                cpu[m].append(pair[m][1])
            for j, kind in enumerate(("wall", "cpu")):
                pct[kind][mode].append(100 * (pair[mode][j] / pair["none"][j] - 1))
    with profile(hotspots="lines", mirrors=False, interval=interval) as session:
        workload(args.frames)
    overhead = {kind: {m: spread(values, 2) for m, values in per_mode.items()} for kind, per_mode in pct.items()}

    report = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "rounds": args.rounds,
        "frames": args.frames,
        "interval_s": interval,
        "wall_s": {m: spread(v) for m, v in wall.items()},
        "cpu_s": {m: spread(v) for m, v in cpu.items()},
        "overhead_pct_per_round": overhead,
        "target": {"mode": "lines", "interval_s": interval, "max_pct": TARGET_PCT,
                   "wall_pct": overhead["wall"]["lines"], "cpu_pct": overhead["cpu"]["lines"],
                   "target_met": overhead["wall"]["lines"]["median"] <= TARGET_PCT},
        "sample_cost_us": round(1e6 * sample_cost(), 2),
        "samples_per_s": round(session.counters["samples"] / session.wall_s, 1),
        "top_lines": {stage: [f"{r['line']}: {r['code']} ({100 * r['share']:.0f}%)" for r in rows[:2]]
                      for stage, rows in session.lines.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
