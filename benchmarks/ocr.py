"""OCR: reference, fast (onnxruntime), fast (OpenVINO f32) and, when installed, RapidOCR 1.4.4's own RapidOCR()
on the same document pages, one process, alternating rounds. Prints JSON: images/s, ratios, and the pipeline
efficiency = time inside the three models' run() / wall time (how well the models are kept busy).

    python benchmarks/ocr.py --pages 8 --rounds 3

Peer: pip install --no-deps rapidocr-onnxruntime==1.4.4 && pip install -e '.[peers]'
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.io.pool import BufferPool  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

from _pages import document_pages  # noqa: E402


class ModelClock:
    """Adds up the seconds spent inside the runtimes' run() (all threads), for the pipeline efficiency."""

    def __init__(self) -> None:
        from sightspeed.runtimes.onnxruntime import OnnxRuntime
        from sightspeed.runtimes.openvino import OpenVinoRuntime

        self.seconds = 0.0
        self._lock = threading.Lock()
        for cls in (OnnxRuntime, OpenVinoRuntime):
            original = cls.run

            def timed(rt, *arrays, _original=original):
                t = time.perf_counter()
                try:
                    return _original(rt, *arrays)
                finally:
                    with self._lock:
                        self.seconds += time.perf_counter() - t

            cls.run = timed


VARIANTS = {
    # the run's core budget gives the model threads: the serial reference uses every core per model call, the
    # pipelined defaults one thread per call and a worker per core (benchmarks/budgets.py compares the splits)
    "reference": ({"variant": "reference"}, lambda: sightspeed.Serial()),
    "fast_onnxruntime": ({"variant": "fast"}, lambda: sightspeed.Pipelined(batch_size=2)),
    "fast_openvino_f32": ({"variant": "fast", "runtime": "openvino"}, lambda: sightspeed.Pipelined(batch_size=2)),
}


def run_variant(name: str, pages: list[str], out: str, clock: ModelClock) -> dict:
    options, executor = VARIANTS[name]
    pool = BufferPool()
    pipeline = build("ocr", options, pool)
    sightspeed.run(pipeline, pages[:1], out, executor=executor(), pool=pool)  # first-shape costs out of the timing
    clock.seconds = 0.0
    result = sightspeed.run(pipeline, pages, out, executor=executor(), pool=pool)
    assert result.failed == 0, result.rows
    wall = result.session.wall_s
    return {"images_per_s": len(pages) / wall, "efficiency": clock.seconds / wall,
            "lines": sum(len(json.load(open(r["outputs"][0]))["lines"]) for r in result.rows)}


def run_rapidocr(pages: list[str]) -> dict | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    engine = RapidOCR()
    engine(pages[0])
    start = time.perf_counter()
    lines = 0
    for page in pages:
        result, _ = engine(page)
        lines += len(result or [])
    return {"images_per_s": len(pages) / (time.perf_counter() - start), "lines": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    clock = ModelClock()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pages = document_pages(Path(tmp) / "pages", args.pages)
        for _ in range(args.rounds):
            for name in VARIANTS:
                if name == "reference" and args.skip_reference:
                    continue
                runs.setdefault(name, []).append(run_variant(name, pages, f"{tmp}/{name}", clock))
            peer = run_rapidocr(pages)
            if peer:
                runs.setdefault("rapidocr", []).append(peer)

    def stats(values: list[float]) -> dict:
        return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
                "max": round(max(values), 3)}

    rates = {k: [r["images_per_s"] for r in v] for k, v in runs.items()}
    report: dict = {"benchmark": "ocr", "pages": args.pages, "size": "1024x768", "rounds": args.rounds,
                    "images_per_s": {k: stats(v) for k, v in rates.items()},
                    "lines_found": {k: v[-1]["lines"] for k, v in runs.items()},
                    "efficiency": {k: stats([r["efficiency"] for r in v]) for k, v in runs.items()
                                   if "efficiency" in v[0]}}
    base = "rapidocr" if "rapidocr" in rates else "reference"
    if base in rates:
        for name in ("fast_onnxruntime", "fast_openvino_f32"):
            report[f"{name}_over_{base}"] = stats([f / b for f, b in zip(rates[name], rates[base])])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
