"""Core budgets: the default split vs serial vs hand-picked splits vs an oversubscribed run, per task and runtime,
same inputs, one process, alternating rounds. Prints JSON: per variant the pipeline wall seconds (min/median/max)
and the ratio serial_wall / variant_wall per round (> 1: faster than serial).

    python benchmarks/budgets.py --rounds 5 --images 8

Variants (every one on the same core budget, all cores of this process unless --cores):
- ``serial``: one stage at a time, each model call on every core of the budget;
- ``default``: the pipelined executor's default split (one thread per stage call, a worker per core, core tokens);
- ``split:...``: hand-picked ``stage=workers x threads`` splits (pipelined, core tokens);
- ``oversubscribed``: model stages at every core each, running side by side with no tokens (what a run without a
  budget does: on 2 cores, two 2-thread models at once).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import available, quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.io.pool import BufferPool  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

MODEL_STAGES = {"portrait": ("detect", "segment"), "ocr": ("detect", "classify", "recognize")}
# hand-picked splits tried per task: stage -> (workers, threads); the rest keep the default
HAND_SPLITS = {
    "portrait": {"segment=1x2": {"segment": (1, 2)}, "all=1x1": "all-1x1"},
    "ocr": {"detect=1x2": {"detect": (1, 2)}, "detect=2x1,recognize=1x1": {"detect": (2, 1), "recognize": (1, 1)},
            "all=1x1": "all-1x1"},
}


def executors(task: str, cores: int) -> dict[str, tuple[object, bool]]:
    """name -> (executor, oversubscribe)."""
    stages = MODEL_STAGES[task]
    out: dict[str, tuple[object, bool]] = {"serial": (sightspeed.Serial(), False),
                                           "default": (sightspeed.Pipelined(), False)}
    for name, split in HAND_SPLITS[task].items():
        if split == "all-1x1":
            out[f"split:{name}"] = (sightspeed.Pipelined(workers=1), False)
        else:
            out[f"split:{name}"] = (sightspeed.Pipelined(split=split), False)
    out["oversubscribed"] = (sightspeed.Pipelined(split={s: (2, cores) for s in stages}), True)
    return out


def inputs_for(task: str, folder: str, count: int) -> list[str]:
    if task == "portrait":
        from _images import fhd_portraits

        return fhd_portraits(folder, count)
    from _pages import document_pages

    return document_pages(folder, count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--cores", type=int, default=None)
    ap.add_argument("--only", default="portrait,ocr:onnxruntime,ocr:openvino",
                    help="task[:runtime] list, comma-separated")
    args = ap.parse_args()
    cores = args.cores or available()
    report: dict = {"cores": cores, "rounds": args.rounds, "images": args.images, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.only.split(","):
            task, _, runtime = spec.partition(":")
            options = {"runtime": runtime} if runtime else {}
            pool = BufferPool()
            pipeline = build(task, options, pool)
            images = inputs_for(task, f"{tmp}/in-{task}", args.images)
            variants = executors(task, cores)
            walls: dict[str, list[float]] = {name: [] for name in variants}
            splits: dict[str, dict] = {}
            for _ in range(args.rounds):  # alternating: each round runs every variant once
                for name, (executor, over) in variants.items():
                    result = sightspeed.run(pipeline, images, f"{tmp}/out", executor=executor, pool=pool,
                                            cores=cores, oversubscribe=over)
                    assert result.failed == 0, result.rows
                    walls[name].append(result.session.wall_s)
                    splits[name] = {s.name: f"{s.workers}x{s.threads}" for s in result.session.stages}
            pipeline.close()
            serial = walls["serial"]
            report["results"][spec] = {
                name: {"wall_s": _stats(w), "images_per_s": round(len(images) / statistics.median(w), 2),
                       "vs_serial": _stats([s / v for s, v in zip(serial, w)]), "split": splits[name]}
                for name, w in walls.items()}
    print(json.dumps(report, indent=1))


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


if __name__ == "__main__":
    main()
