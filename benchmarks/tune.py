"""Tune, then measure what it chose: the tuned config vs the default config vs the peer (RapidOCR 1.4.4 with its
defaults for ocr, MediaPipe's own selfie-segmentation recipe for portrait), same inputs, one process, alternating
rounds in shuffled order. Prints JSON: tune's own record (what it tried, its budget and what it spent) and the
ratios per round (min / median / max).

    python benchmarks/tune.py ocr --budget 300 --rounds 5
    python benchmarks/tune.py portrait --budget 180 --rounds 5

Tune searches on a few of the inputs (``--tune-on``); the rounds run over all of them. Peers: see
docs/benchmarks.md (installed with --no-deps; without them the peer column is absent).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

from sightspeed.host import describe  # noqa: E402
from sightspeed.tune.search import tune  # noqa: E402
from sightspeed.tune.space import Candidate, Space, normal  # noqa: E402
from sightspeed.tune.trial import Built  # noqa: E402


def inputs_for(task: str, folder: Path, count: int) -> list[str]:
    if task == "ocr":
        from _pages import document_pages

        return document_pages(folder, count)
    from _images import fhd_portraits

    half = count // 2  # a mix of FHD and HD photos
    return fhd_portraits(folder / "fhd", count - half) + fhd_portraits(folder / "hd", half, size=(1280, 720))


def peer(task: str):
    """A callable running the peer over a list of paths, or None when it is not installed."""
    if task == "ocr":
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            return None
        engine = RapidOCR()
        return lambda paths, out: [engine(p) for p in paths]
    try:
        import mediapipe as mp
    except ImportError:
        return None
    import cv2
    import numpy as np

    try:
        seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    except Exception as exc:  # e.g. mediapipe beside a protobuf it does not support (see docs/benchmarks.md)
        print(f"MediaPipe peer unavailable: {exc}", file=sys.stderr)
        return None

    def mediapipe(paths, out):
        for k, path in enumerate(paths):  # MediaPipe's documented recipe
            image = cv2.imread(path)
            mask = seg.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).segmentation_mask
            condition = np.stack((mask,) * 3, axis=-1) > 0.1
            cv2.imwrite(f"{out}/mp_{k}.jpg", np.where(condition, image, cv2.GaussianBlur(image, (55, 55), 0)))
    return mediapipe


def stats(values: list[float]) -> dict:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=("ocr", "portrait"))
    parser.add_argument("--budget", type=float, default=300.0, help="tune's budget, seconds")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--tune-on", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = inputs_for(args.task, Path(tmp) / "in", args.inputs)
        started = time.perf_counter()
        result = tune(args.task, paths[: args.tune_on], budget_s=args.budget)
        tune_s = time.perf_counter() - started
        options = {"save_mask": True} if Space.of(args.task).save_mask else {}
        contenders = {"default": Built(args.task, {"variant": "fast", **options},
                                       normal(Candidate(), Space.of(args.task)), None),
                      "tuned": Built(args.task, {"variant": "fast", **options}, result.best.candidate, None)}
        runners = {name: (lambda b: lambda p, out: b.run(p, Path(out)))(b) for name, b in contenders.items()}
        other = peer(args.task)
        if other is not None:
            runners["peer"] = other
        for name, fn in runners.items():  # first calls (shapes, allocations) out of the timing
            fn(paths[:1], f"{tmp}/{name}")
        times: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        rng = random.Random(0)
        for _ in range(args.rounds):
            rng.shuffle(order)
            for name in order:
                Path(f"{tmp}/{name}").mkdir(exist_ok=True)
                t = time.perf_counter()
                runners[name](paths, f"{tmp}/{name}")
                times[name].append(time.perf_counter() - t)
    rates = {name: [len(paths) / t for t in v] for name, v in times.items()}
    report = {
        "benchmark": "tune", "task": args.task, "cpu": describe()["cpu"]["model"],
        "dot_product": describe()["cpu"]["dot_product"], "inputs": len(paths), "rounds": args.rounds,
        "tune": {"budget_s": args.budget, "spent_s": round(tune_s, 1), "over_budget": round(tune_s / args.budget, 3),
                 "chosen": result.best.label, "config": result.best.candidate.as_dict(),
                 "fidelity": result.best.fidelity.figure if result.best.fidelity else None,
                 "tried": [{k: row[k] for k in ("candidate", "items_per_s", "pass", "fidelity", "skipped", "error")}
                           for row in (t.row() for t in result.trials)],
                 "curves": result.curves, "notes": result.notes},
        "images_per_s": {name: stats(v) for name, v in rates.items()},
        "tuned_over_default": stats([t / d for t, d in zip(rates["tuned"], rates["default"])]),
    }
    if "peer" in rates:
        report["tuned_over_peer"] = stats([t / p for t, p in zip(rates["tuned"], rates["peer"])])
        report["default_over_peer"] = stats([d / p for d, p in zip(rates["default"], rates["peer"])])
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
