"""Preprocessing fused into the model graph (models/fuse.py) against host preprocessing + the model, per model,
same inputs, same process, one model thread, contenders taking turns in rounds. Prints JSON.

    python benchmarks/fusion.py --rounds 7 --calls 20

Contenders (each call includes everything from the decoded uint8 image to the model's outputs):
- ppocr-det-v4 on a rendered text page (onnxruntime): ``host`` = the ``preprocess`` op (resize + normalise) +
  the model; ``fused`` = a uint8 resize on the host (``crop_resize`` op, what the OCR task does) + the model with
  cast / normalise / layout in its graph; ``fused_resize`` = the raw page into a model that also resizes.
- blazeface-short on a sample photo: ``host`` = letterbox + ``preprocess`` + LiteRT (the portrait task);
  ``host_openvino`` = letterbox + ``preprocess`` + the same model as plain OpenVINO IR; ``fused`` = letterbox +
  OpenVINO IR with the normalisation in its graph (what ``--fuse-preprocess`` runs). ``host_openvino`` separates
  the runtime change from the fusion.

``fused_over_host``: the fused contender's median over host's, per round (min / median / max over rounds; < 1:
fusion wins); for BlazeFace also ``fused_over_host_openvino`` (the fusion alone, one runtime).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from sightspeed.cores import quiet_pools

quiet_pools()

import numpy as np  # noqa: E402

from sightspeed import kernels  # noqa: E402
from sightspeed.models import resolve  # noqa: E402
from sightspeed.runtimes import load  # noqa: E402


def ocr_contenders() -> tuple[str, dict]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from ocr_pages import LINES, render_page

    from sightspeed.models.fuse import fuse_onnx
    from sightspeed.tasks.ocr import dbnet
    from sightspeed.tasks.ocr.published import MEAN, SCALE, STD

    page = render_page(LINES[:5], 30)
    h, w = dbnet.input_size(*page.shape[:2])
    norm = {"mean": MEAN, "std": STD, "scale": SCALE, "swap_rb": False}
    det = resolve("ppocr-det-v4")
    plain, fused = load(det, threads=1), load(fuse_onnx(det, **norm), threads=1)
    resizing = load(fuse_onnx(det, **norm, size=(w, h)), threads=1)
    return f"page {page.shape[1]}x{page.shape[0]} -> {w}x{h}", {
        "host": lambda: plain.run(dbnet.model_input(page)),
        "fused": lambda: fused.run(dbnet.model_input(page, fused=True)),
        "fused_resize": lambda: resizing.run(page[None]),
    }


def blazeface_contenders(folder: Path) -> tuple[str, dict]:
    import openvino as ov

    from sightspeed.io.decode import read_image
    from sightspeed.models.fuse_backends import fuse_openvino
    from sightspeed.tasks.portrait import blazeface

    photo = read_image(resolve("grace-hopper"))
    det = resolve("blazeface-short")
    ov.save_model(ov.Core().read_model(str(det)), str(folder / "blazeface.xml"), compress_to_fp16=False)
    litert, plain_ov = load(det, threads=1), load(folder / "blazeface.xml", "openvino", threads=1)
    fused = load(fuse_openvino(det, **blazeface.NORMALIZE), "openvino", threads=1)
    out = np.empty((1, 128, 128, 3), np.float32)
    return f"photo {photo.shape[1]}x{photo.shape[0]} -> letterbox 128x128", {
        "host": lambda: litert.run(blazeface.model_input(photo, out)[0]),
        "host_openvino": lambda: plain_ov.run(blazeface.model_input(photo, out)[0]),
        "fused": lambda: fused.run(blazeface.model_input(photo, fused=True)[0]),
    }


def spread(values: list[float], digits: int = 3) -> dict:
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def measure(contenders: dict, rounds: int, calls: int, baselines: tuple[str, ...] = ("host",)) -> dict:
    """Contenders take turns: per round, each makes one untimed call, then ``calls`` timed ones. Ratios: every
    other contender's per-round median over each of ``baselines``'."""
    samples = {name: [] for name in contenders}
    per_round = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()  # warm-up: first-call allocations and kernel selection
    for _ in range(rounds):
        for name, fn in contenders.items():
            fn()
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
            samples[name] += times
            per_round[name].append(statistics.median(times))
    result = {"ms": {name: spread(t) for name, t in samples.items()}}
    for base in baselines:
        for name in contenders:
            if name not in baselines:
                result[f"{name}_over_{base}"] = spread([a / b for a, b in zip(per_round[name], per_round[base])])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    from sightspeed.host import describe

    kernels.preprocess.warmup()
    report = {"benchmark": "fusion", "cpu": describe()["cpu"]["model"], "model_threads": 1, "rounds": args.rounds,
              "calls": args.calls, "preprocess_backend": kernels.preprocess.pick()[0],
              "crop_resize_backend": kernels.crop_resize.pick()[0], "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, baselines in (("ppocr-det-v4", ocr_contenders, ("host",)),
                                      ("blazeface-short", lambda: blazeface_contenders(Path(tmp)),
                                       ("host", "host_openvino"))):
            what, contenders = make()
            report["models"][name] = {"input": what, **measure(contenders, args.rounds, args.calls, baselines)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
