"""Local engine vs the Ray engine on this machine: the same inputs, the same run, rounds alternating. Prints JSON.

    python benchmarks/engines.py --rounds 3

For each task (portrait on FHD photos, ocr on rendered pages): the local engine (pipelined, 2 cores), Ray with
1 actor of 2 cores, and Ray with 2 actors of 1 core. Rates are images/s end to end: the wall time of building the
pipeline and running it (the actors build theirs inside the run: their model loads count, as the local build's
does), on an already started Ray. Ray's overhead is the ratio to local, per round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.engines.ray import run_on_ray  # noqa: E402
from sightspeed.host import describe  # noqa: E402
from sightspeed.pipeline.executors import Pipelined  # noqa: E402
from sightspeed.tasks import build  # noqa: E402


def options() -> dict:
    return {"variant": "fast", "batch_size": 1, "max_pixels": 100_000_000}


def one(task: str, engine: str, inputs: list[str], out: Path) -> tuple[float, float, float, float]:
    """(end-to-end, steady-state) images/s, and for Ray the driver's ms per row and the span bytes per row
    (what the actors sent it: totals and sampled spans). Steady state: the inputs over the run's processing window, from the
    first stage span's start to the last one's end on the Session's clock (the actors' start-up and model loads,
    Ray's scheduling before the first batch and the local build left out alike; gaps between batches count)."""
    opts = options()
    started = time.perf_counter()
    if engine == "local":
        result = sightspeed.run(build(task, opts), inputs, out, executor=Pipelined(), cores=2)
    else:
        actors, cores = (1, 2) if engine == "ray 1x2" else (2, 1)
        result = run_on_ray(task, opts, build(task, opts), inputs, out, cores=cores, num_workers=actors)
    end_to_end = len(inputs) / (time.perf_counter() - started)
    assert result.failed == 0 and result.session.spans_seen == len(result.session.spans), result.rows[:2]
    work = [s for s in result.session.spans if s.kind == "run"]
    counters = result.session.counters
    rows = counters.get("driver_rows") or 1
    return (end_to_end, len(inputs) / (max(s.end for s in work) - min(s.start for s in work)),
            1000 * counters.get("driver_s", 0.0) / rows, counters.get("span_bytes", 0.0) / rows)


def spread(values: list[float]) -> dict:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main() -> None:
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--pages", type=int, default=12)
    args = parser.parse_args()
    from _images import fhd_portraits
    from _pages import document_pages

    tmp = Path(tempfile.mkdtemp(prefix="engines-"))
    inputs = {"portrait": fhd_portraits(tmp / "photos", args.photos), "ocr": document_pages(tmp / "pages", args.pages)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    engines = ("local", "ray 1x2", "ray 2x1")
    rates = {task: {e: [] for e in engines} for task in inputs}
    for r in range(args.rounds):
        for task, paths in inputs.items():
            for engine in (engines if r % 2 == 0 else engines[::-1]):
                rates[task][engine].append(one(task, engine, paths, tmp / f"{task}-{r}-{engine.replace(' ', '')}"))
    report = {"benchmark": "engines", "cpu": describe()["cpu"]["model"], "cores": 2, "rounds": args.rounds,
              "inputs": {t: len(p) for t, p in inputs.items()}, "ray": ray.__version__,
              "tasks": {}}
    for task, by_engine in rates.items():
        rows = {}
        for engine, values in by_engine.items():
            row = {}
            for k, kind in enumerate(("end_to_end", "steady")):
                mine = [v[k] for v in values]
                ratios = [v[k] / b[k] for v, b in zip(values, by_engine["local"])]
                row[kind] = {"images_per_s": spread(mine), "vs_local": spread(ratios)}
            if engine != "local":
                row["driver_ms_per_row"] = spread([v[2] for v in values])
                row["span_bytes_per_row"] = spread([v[3] for v in values])
            rows[engine] = row
        report["tasks"][task] = rows
    print(json.dumps(report, indent=2))
    ray.shutdown()


if __name__ == "__main__":
    main()
