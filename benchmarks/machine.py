"""Repeatability of `sightspeed machine`: measure every ceiling N times in one process; print each one's
spread ((max - min) / median). Target: repeated runs agree within 15%.

    python benchmarks/machine.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics

from sightspeed.profiling.machine import CEILINGS, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [measure() for _ in range(args.repeats)]
    out = {}
    for name in CEILINGS:
        values = [r[name] for r in runs]
        med = statistics.median(values)
        out[name] = {"min": round(min(values) / 1e9, 3), "median": round(med / 1e9, 3),
                     "max": round(max(values) / 1e9, 3), "spread_percent": round(100 * (max(values) - min(values))
                                                                                  / med, 1)}
    print(json.dumps({"benchmark": "machine", "repeats": args.repeats, "unit": "1e9 per second",
                      "ceilings": out}, indent=2))


if __name__ == "__main__":
    main()
