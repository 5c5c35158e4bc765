"""The journey (docs/journey.md), measured: examples/journey/before.py, then each step of
examples/journey/stages.py, on the same JPEG pages in one process, rounds interleaved. Each step's boxes are held
against the previous step's with ``sightspeed.equivalence`` (the boxes drawn as masks: at most 2% of the pixels
may differ). Prints JSON.

    python benchmarks/journey.py --pages 12 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # before.py imports TensorFlow itself
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "examples" / "journey"))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import numpy as np  # noqa: E402

import sightspeed  # noqa: E402
from sightspeed.equivalence import equivalence  # noqa: E402
from sightspeed.host import describe  # noqa: E402
from sightspeed.kernels import Tolerance  # noqa: E402

STEPS = {  # name -> stages.build keywords (None: before.py)
    "1 before.py": None,
    "2 stages": dict(step=2),
    "3 decode": dict(step=3),
    "4 preprocess kernel": dict(step=4),
    "5 preprocess in graph": dict(step=5),
    "6 onnxruntime": dict(step=6, runtime="onnxruntime"),
    "6 openvino f32": dict(step=6, runtime="openvino"),
    "6 openvino bf16": dict(step=6, runtime="openvino", precision="bf16"),
}


def boxes_fn(pipe, step: int):
    """page path -> its boxes, through the pipeline's own stage functions (decoded as the run decodes it)."""
    from sightspeed.io.decode import decode_image, read_bytes
    from sightspeed.pipeline.item import Item

    for stage in pipe.stages:
        if stage.prepare:
            stage.prepare()

    def run(path: str) -> list:
        item = Item(source=path, index=0)
        if step >= 3:
            item.image = decode_image(read_bytes(path), path)
        for stage in pipe.stages:
            if stage.name != "write":
                stage.fn(item)
        return item.results["boxes"]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", default="", help="comma-separated step names' first words (default: all)")
    args = parser.parse_args()

    import before
    import stages
    from stages import MISMATCH, mask
    from _pages import document_pages
    from sightspeed.models.convert import to_tensorflow

    tmp = Path(tempfile.mkdtemp(prefix="journey-"))
    pages = document_pages(tmp / "pages", args.pages, suffix=".jpg")
    shape = (768, 1024)
    wanted = {k: v for k, v in STEPS.items() if not args.steps or k.split()[0] in args.steps.split(",")
              or k == "1 before.py"}
    model = before.load_model(str(to_tensorflow("ppocr-det-v4", size=stages.SIZE[::-1])))
    pipes = {name: stages.build(**kw) for name, kw in wanted.items() if kw is not None}

    def before_fn(path: str) -> list:
        return before.process(model, path, str(tmp / "before-out"))

    (tmp / "before-out").mkdir()
    fns = {name: before_fn if kw is None else boxes_fn(pipes[name], kw["step"]) for name, kw in wanted.items()}
    checks, previous = {}, None
    for name in wanted:
        if previous is not None:
            report = equivalence(lambda p, f=fns[previous]: mask(f(p), shape),
                                 lambda p, f=fns[name]: mask(f(p), shape), pages, tolerance=Tolerance(1, MISMATCH),
                                 repeats=0)
            checks[name] = {"against": previous, "ok": report.ok, "pixels_differing": round(report.mean_abs, 5),
                            "problems": report.problems[:3]}
        previous = name if not name.startswith("6") else previous  # each runtime is held against step 5

    rates: dict[str, list[float]] = {name: [] for name in wanted}
    for r in range(args.rounds):
        for name, kw in wanted.items():
            if kw is None:
                start = time.perf_counter()
                for path in pages:
                    before_fn(path)
                rates[name].append(len(pages) / (time.perf_counter() - start))
            else:
                result = sightspeed.run(pipes[name], pages, tmp / f"out-{r}-{name.replace(' ', '_')}")
                rates[name].append(result.images_per_s)
    base = rates["1 before.py"]
    rows = {}
    for name, values in rates.items():
        ratios = [v / b for v, b in zip(values, base)]
        rows[name] = {"images_per_s": {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
                                       "max": round(max(values), 2)},
                      "speedup_vs_before": {"min": round(min(ratios), 2), "median": round(statistics.median(ratios), 2),
                                            "max": round(max(ratios), 2)},
                      "check": checks.get(name)}
    info = describe()
    print(json.dumps({"benchmark": "journey", "cpu": info["cpu"]["model"], "cores": info["cpu"].get("available_cores"),
                      "pages": len(pages), "page_size": "1024x768 JPEG", "rounds": args.rounds,
                      "rate": "images/s of processing (before.py: its loop with the model loaded; the stages: "
                              "sightspeed.run's processing wall, 2 cores)",
                      "steps": rows}, indent=2))


if __name__ == "__main__":
    main()
