"""What recording spans costs, two ways. (1) The portrait pipeline with spans on and off (Session(enabled=False)),
same FHD JPEGs, one process, alternating rounds: on this noisy 2-core machine the run-to-run spread (~10%) is
larger than the effect. (2) So also the cost itself: a no-op stage run 20000 times through the executor's
bookkeeping with spans on and off; that cost times the spans one image makes, over the measured time per image,
is the overhead (with the all-threads CPU accounting of profiling/cpu.py, as every run has it). Prints JSON.
Target: <= 3%.

    python benchmarks/profiler_overhead.py --images 24 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.io.pool import BufferPool  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

from _images import fhd_portraits  # noqa: E402


def once(images: list[str], out: str, enabled: bool) -> float:
    pool = BufferPool()
    pipeline = build("portrait", {"variant": "fast"}, pool)
    session = sightspeed.Session(enabled=enabled)
    result = sightspeed.run(pipeline, images, out, executor=sightspeed.Pipelined(), pool=pool, session=session)
    assert result.failed == 0 and (len(session.spans) > 0) == enabled
    return len(images) / session.wall_s


def span_cost_s(calls: int = 20000) -> dict[str, float]:
    """Seconds per stage call of the executor's bookkeeping (timing, CPU clock, counters, bytes, record)."""
    import time

    import numpy as np

    from sightspeed.pipeline.executors import run_stage

    stage = sightspeed.Stage("noop", lambda item: None)
    items = [sightspeed.Item("x", 0, image=np.zeros((4, 4, 3), np.uint8))]
    from sightspeed.cores import available
    from sightspeed.profiling.cpu import CpuAccount

    out = {}
    for key in ("on", "off", "on_all_threads", "on", "off", "on_all_threads"):
        session = sightspeed.Session(enabled=key != "off")
        if key == "on_all_threads":  # what run() does: every thread's CPU charged at each span boundary
            session.account = CpuAccount(cores=available())
        t = time.perf_counter()
        for _ in range(calls):
            run_stage(stage, items, session)
        out[key] = min(out.get(key, 1.0), (time.perf_counter() - t) / calls)
    out["pool_threads"] = len(session.account._pool)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"spans_on": [], "spans_off": []}
    with tempfile.TemporaryDirectory() as tmp:
        images = fhd_portraits(Path(tmp) / "in", args.images)
        once(images[:4], tmp + "/warm", True)
        for k in range(args.rounds):
            order = [True, False] if k % 2 == 0 else [False, True]
            for enabled in order:
                rates["spans_on" if enabled else "spans_off"].append(once(images, f"{tmp}/o", enabled))
    overhead = [100 * (off / on - 1) for on, off in zip(rates["spans_on"], rates["spans_off"])]
    cost = span_cost_s()
    spans_per_image = 5 * 2  # 5 stages: a run span each, and at most one wait span each
    per_image_s = 1 / statistics.median(rates["spans_on"])
    print(json.dumps({
        "benchmark": "profiler_overhead", "images": args.images, "rounds": args.rounds,
        "images_per_s": {k: {"min": round(min(v), 2), "median": round(statistics.median(v), 2),
                             "max": round(max(v), 2)} for k, v in rates.items()},
        "overhead_percent_end_to_end": {"min": round(min(overhead), 2),
                                        "median": round(statistics.median(overhead), 2),
                                        "max": round(max(overhead), 2)},
        "bookkeeping_us_per_stage_call": {k: round(v * 1e6, 2) for k, v in cost.items() if k != "pool_threads"},
        "pool_threads_read_per_boundary": cost["pool_threads"],
        "span_recording_us_per_image": round((cost["on_all_threads"] - cost["off"]) * spans_per_image * 1e6, 1),
        "overhead_percent_from_cost": round(100 * (cost["on_all_threads"] - cost["off"]) * spans_per_image
                                            / per_image_s, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
