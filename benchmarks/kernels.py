"""Kernels: every backend of every op (sightspeed bench kernels), plus the two targets of the kernels issue —
FHD -> 640x640 preprocess and FHD composite — against the naive numpy chains a first version of a program writes,
in alternating rounds in one process. Prints JSON.

    python benchmarks/kernels.py --rounds 7

% SOL is the op's unavoidable bytes (read once + written once) at the all-core memory bandwidth, divided by the
measured time. The bandwidth is measured in this run, before and after the kernels (the machine's speed drifts by
tens of percent over an evening), and the higher of the two is the ceiling: the conservative % SOL.

The targets are timed twice: ``stream`` (each call takes the next of several input copies, together more than
twice the last-level cache: the data comes from memory, what a % of memory SOL means) and ``warm`` (the same
input every call, as the kernels issue measured its baseline: an FHD preprocess's 11 MB then sits in the 32 MB L3,
so its % SOL says how close the kernel is to memory speed, not that memory was the bound).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from sightspeed.cores import quiet_pools

quiet_pools()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sightspeed import kernels  # noqa: E402
from sightspeed.kernels.bench import Rotation, as_dicts, bench, cases, rescale_sol, streamed  # noqa: E402
from sightspeed.profiling.machine import memory_bandwidth  # noqa: E402

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def naive_preprocess(frame: np.ndarray, size: tuple[int, int], **_: object) -> np.ndarray:
    """What a first version does: resize, BGR->RGB, float, /255, -mean, /std, HWC->NCHW, each a new array."""
    x = cv2.resize(frame, size)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


def naive_composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, **_: object) -> np.ndarray:
    """float alpha from the mask, blend, cast back: three full-frame float temporaries."""
    alpha = mask.astype(np.float32)[..., None] / 255.0
    return (fg * alpha + bg * (1.0 - alpha)).astype(np.uint8)


def timed(fn, inputs: Rotation, calls: int) -> float:
    """Median of ``calls`` timed calls after one untimed call (the previous contender left the caches cold)."""
    case = inputs.next()
    fn(*case.args, **case.kwargs)
    samples = []
    for _ in range(calls):
        case = inputs.next()
        start = time.perf_counter()
        fn(*case.args, **case.kwargs)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def targets(rounds: int, calls: int) -> dict:
    out = {}
    all_cases = cases()
    for name, naive in (("preprocess", naive_preprocess), ("composite", naive_composite)):
        op, bc = kernels.get(name), all_cases[name]
        contenders = {"naive": naive}
        # the CPU backends; opencl and array_api (tens of ms here) are in the all-ops table, kept out of these
        # rounds so their cache and thread-pool wake-ups do not land on the kernels being compared
        contenders.update({b: op.implementation(b) for b in ("opencv", "numba", "cython") if op.available(b)[0]})
        for fn in contenders.values():
            fn(*bc.case.args, **bc.case.kwargs)  # warm-up (numba compiles or loads its cache here)
        copies = streamed(bc.case)
        out[name] = {"input": bc.what, "bytes": bc.bytes, "stream_copies": len(copies)}
        for mode, inputs in (("stream", Rotation(copies)), ("warm", Rotation([bc.case]))):
            per_round = {b: [] for b in contenders}
            for _ in range(rounds):
                for b, fn in contenders.items():
                    per_round[b].append(timed(fn, inputs, calls))
            best = min((b for b in contenders if b != "naive"), key=lambda b: statistics.median(per_round[b]))
            ratios = [n / f for n, f in zip(per_round["naive"], per_round[best])]
            out[name][mode] = {
                "median_ms": {b: statistics.median(v) * 1e3 for b, v in per_round.items()},
                "best": best, "best_round_s": per_round[best],
                "best_over_naive": spread(ratios),
            }
    return out


def opencl_costs(calls: int) -> dict | None:
    """Where the opencl backend's time goes: the copies, and the device kernel against the same host call."""
    if not kernels.get("preprocess").available("opencl")[0]:
        return None
    frame = cases()["preprocess"].case.args[0]
    on_device = cv2.UMat(frame)
    steps = {
        "upload_fhd": lambda: cv2.UMat(frame),
        "download_fhd": lambda: on_device.get(),
        "resize_on_device_640_incl_download": lambda: cv2.resize(on_device, (640, 640)).get(),
        "resize_on_host_640": lambda: cv2.resize(frame, (640, 640)),
    }
    out = {}
    for name, fn in steps.items():
        fn()
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        out[name + "_ms"] = spread([t * 1e3 for t in samples])
    out["device"] = cv2.ocl.Device.getDefault().name()
    return out


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="timed calls per contender per round")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per backend in the all-ops table")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    before = memory_bandwidth(threads=cores)
    timed_targets = targets(args.rounds, args.calls)
    all_ops = bench(repeats=args.repeats, mem_bw=before)
    after = memory_bandwidth(threads=cores)
    mem_bw = max(before, after)
    for t in timed_targets.values():  # % SOL against the higher of the two measurements
        t["sol_ms"] = t["bytes"] / mem_bw * 1e3
        for mode in ("stream", "warm"):
            t[mode]["best_pct_sol"] = spread([100 * t["bytes"] / mem_bw / s for s in t[mode].pop("best_round_s")])
    rescale_sol(all_ops, before, mem_bw)
    report = {
        "mem_bw_all_gb_s": {"before": before / 1e9, "after": after / 1e9, "used": mem_bw / 1e9},
        "cv2_threads": cv2.getNumThreads(),
        "targets": timed_targets,
        "all_ops": as_dicts(all_ops),
        "opencl_costs": opencl_costs(args.repeats),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
