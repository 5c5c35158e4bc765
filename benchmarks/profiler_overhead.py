"""What recording spans costs: the portrait pipeline with spans on and off (Session(enabled=False)), same FHD
JPEGs, one process, alternating rounds. Prints JSON. Target: <= 3% overhead.

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

from sightspeed.pipeline.threads import quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.io.pool import BufferPool  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

from _images import fhd_portraits  # noqa: E402


def once(images: list[str], out: str, enabled: bool) -> float:
    pool = BufferPool()
    pipeline = build("portrait", {"variant": "fast", "threads": 1}, pool)
    session = sightspeed.Session(enabled=enabled)
    result = sightspeed.run(pipeline, images, out, executor=sightspeed.Pipelined(workers=2), pool=pool,
                            session=session)
    assert result.failed == 0 and (len(session.spans) > 0) == enabled
    return len(images) / session.wall_s


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
    print(json.dumps({
        "benchmark": "profiler_overhead", "images": args.images, "rounds": args.rounds,
        "images_per_s": {k: {"min": round(min(v), 2), "median": round(statistics.median(v), 2),
                             "max": round(max(v), 2)} for k, v in rates.items()},
        "overhead_percent": {"min": round(min(overhead), 2), "median": round(statistics.median(overhead), 2),
                             "max": round(max(overhead), 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
