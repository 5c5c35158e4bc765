"""Repeatability of `sightspeed machine`: measure every ceiling N times in one process; print each one's
spread ((max - min) / median). Target: repeated runs agree within 15%.

The precision-tier peaks (bf16 through OpenVINO, int8 through OpenVINO and onnxruntime) are printed with the rest,
and ``tiers`` says per tier whether this CPU runs it natively, the precision OpenVINO's kernel executed in and
each runtime's own median; a tier no installed runtime ran is ``null`` with the reason.

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
    parser.add_argument("--quick", action="store_true", help="One round per measurement (what `profile` uses).")
    args = parser.parse_args()
    runs = [measure(quick=args.quick) for _ in range(args.repeats)]
    out = {}
    for name, (unit, _) in CEILINGS.items():
        values = [r[name] for r in runs if r.get(name) is not None]
        if not values:
            out[name] = None
            continue
        med = statistics.median(values)
        out[name] = {"unit": unit, "min": round(min(values) / 1e9, 3), "median": round(med / 1e9, 3),
                     "max": round(max(values) / 1e9, 3),
                     "spread_percent": round(100 * (max(values) - min(values)) / med, 1)}
    last = runs[-1]
    tiers = {tier: {"native": record["native"], "flags": record["flags"], "n": record["n"],
                    "runtimes": {rt: {k: round(v / 1e9, 3) if isinstance(v, float) else v for k, v in nums.items()}
                                 for rt, nums in record["runtimes"].items()},
                    "skipped": record["skipped"]} for tier, record in last.get("tiers", {}).items()}
    print(json.dumps({"benchmark": "machine", "repeats": args.repeats, "quick": args.quick,
                      "unit": "1e9 per second", "ceilings": out, "tiers (last run)": tiers,
                      "runtimes": last["measured"].get("runtimes")}, indent=2))


if __name__ == "__main__":
    main()
