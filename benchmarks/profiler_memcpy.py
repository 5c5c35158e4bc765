"""A pure memcpy stage, profiled on real time: it must come out memory-bound, near the bandwidth ceiling.

    python benchmarks/profiler_memcpy.py --mib 256 --items 12
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import sightspeed
from sightspeed import Item, Pipeline, Stage
from sightspeed.profiling import counters
from sightspeed.profiling.analysis import analyse
from sightspeed.profiler import new_session
from sightspeed.profiling.scope import profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--items", type=int, default=12)
    args = parser.parse_args()
    src = np.ones(args.mib * 2**20, np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch both once: page faults are not what this measures

    def memcpy(item: Item) -> None:
        np.copyto(dst, src)
        counters.add(mem_bytes=2 * src.nbytes)  # read + write, as STREAM counts

    session = new_session({"pipeline": "memcpy"})
    items = [Item(f"buffer{k}", k) for k in range(args.items)]
    with profile(session=session, hotspots=False, base=None):
        list(sightspeed.Serial().run(Pipeline([Stage("memcpy", memcpy)]), items, session))
    (report,) = analyse(session)
    print(json.dumps({
        "benchmark": "profiler_memcpy", "mib": args.mib, "items": args.items,
        "ceiling_mem_bw_1t_gbps": round(session.machine["ceilings"]["mem_bw_1t"] / 1e9, 2),
        "achieved_gbps": round(report.gbps, 2), "bound": report.bound, "pct_sol": round(100 * report.pct_sol, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
