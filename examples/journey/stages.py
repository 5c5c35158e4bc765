"""The journey's program as sightspeed stages: ``before.py``'s code, step by step made faster. Each step keeps the
previous steps' changes; ``step`` picks how far along the journey a run goes (docs/journey.md).

    sightspeed run examples/journey/stages.py:build pages/ -o out/ --step 5
    sightspeed profile examples/journey/stages.py:build pages/ -o prof/ --step 6 --what-if cpu:2x,gpu:t4

2. the same code as stages (own cv2.imread decode, float64 preprocessing, the TensorFlow model, full-page
   post-processing): the pipelined executor overlaps them, and the run gets a manifest, bad-input rows, a Session;
3. sightspeed's decode (libjpeg-turbo through simplejpeg, into reused buffers) instead of cv2.imread;
4. the fused preprocessing kernel (``sightspeed.kernels.preprocess``: resize, normalise, layout in one float32 pass);
5. the preprocessing inside the model graph (``sightspeed.models.fuse``): the model takes the decoded uint8 page;
6. the runtime and precision (``--runtime``, ``--precision``): the ONNX original on ONNX Runtime, or OpenVINO at
   f32 or bf16, each with the preprocessing in its graph; ``sightspeed tune`` picks them (``build.tuning``), a
   candidate kept only if its boxes stay those of the default (``build.fidelity``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import before  # noqa: E402  the first version's own functions, reused as they are

from sightspeed import Pipeline, Stage, kernels  # noqa: E402
from sightspeed.profiling import counters  # noqa: E402
from sightspeed.runtimes.base import PerThread, load, with_models  # noqa: E402

MEAN, STD, SCALE = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255  # before.preprocess's (x / 255 - 0.5) / 0.5
SIZE = (before.SIZE, before.SIZE)
RUNTIMES = ("tensorflow", "onnxruntime", "openvino")


def model_file(step: int, runtime: str) -> str:
    """The detector this step runs: the converted TensorFlow SavedModel (steps 2-4), with the preprocessing in its
    graph from step 5; the ONNX original (onnxruntime) or its OpenVINO IR where ``runtime`` says so."""
    from sightspeed.models import convert, fuse, fuse_backends, zoo

    fused = step >= 5
    prep = dict(mean=MEAN, std=STD, scale=SCALE, swap_rb=False, size=SIZE)
    if runtime == "tensorflow":
        saved = convert.to_tensorflow("ppocr-det-v4", size=SIZE[::-1])
        return str(fuse_backends.fuse_tensorflow(saved, **prep) if fused else saved)
    onnx = zoo.resolve("ppocr-det-v4")
    if runtime == "openvino":
        return str(fuse_backends.fuse_openvino(onnx, **prep) if fused else onnx)
    return str(fuse.fuse_onnx(onnx, **prep) if fused else onnx)


def detector_flops() -> float:
    """FLOPs of one detector call at 960x960, counted from the ONNX graph (the same network on every runtime;
    cached under SIGHTSPEED_CACHE/flops)."""
    from sightspeed.models import zoo
    from sightspeed.profiling.flops import model_flops

    return model_flops(zoo.resolve("ppocr-det-v4"), {"x": (1, 3, *SIZE[::-1])}) or 0.0


def imread(item) -> None:
    import cv2

    item.image = cv2.imread(item.source)
    if item.image is None:
        raise ValueError("cv2.imread could not read it")


def build(step: int = 6, runtime: str = "tensorflow", precision: str = "f32") -> Pipeline:
    """The pipeline at ``step`` (2-6) of the journey; ``runtime``/``precision`` apply from step 6 on."""
    if not 2 <= step <= 6:
        raise ValueError(f"step {step}: the journey's stages are steps 2 to 6")
    if runtime not in RUNTIMES or precision not in ("f32", "bf16"):
        raise ValueError(f"runtime {runtime}, precision {precision}: use {'|'.join(RUNTIMES)} and f32|bf16")
    if step < 6 and (runtime, precision) != ("tensorflow", "f32"):
        raise ValueError("runtime and precision are step 6's: give --step 6 (or --no-tuned, where a config saved by "
                         "`sightspeed tune` set them)")
    path = model_file(step, runtime)
    flops = detector_flops()
    det = PerThread(lambda threads: load(path, runtime=runtime, threads=threads, precision=precision))
    stages = [Stage("decode", imread)] if step == 2 else []

    def preprocess(item) -> None:
        if step >= 5:  # the model takes the page as decoded
            item.results["x"] = item.image[np.newaxis]
        elif step == 4:
            item.results["x"] = kernels.preprocess(item.image, SIZE, mean=MEAN, std=STD, scale=SCALE, swap_rb=False)
        else:
            item.results["x"] = before.preprocess(item.image)

    def detect(item) -> None:
        item.results["prob"] = det.get().run(item.results.pop("x"))[0][0, 0]
        counters.add(flops=flops)  # the work done, so the profile can say how far from the CPU's peak it ran

    def postprocess(item) -> None:
        boxes = before.postprocess(item.results.pop("prob"), *item.image.shape[:2])
        item.results["boxes"] = boxes
        item.output = before.draw(item.image, boxes)

    stages += [Stage("preprocess", preprocess), Stage("detect", detect), Stage("postprocess", postprocess),
               Stage("write", write)]
    return Pipeline(with_models(stages, {"detect": [det]}))


def write(item) -> None:
    """OUT/<name>.jpg (the boxes drawn) and OUT/<name>.json (the boxes), as before.py writes them; atomically."""
    from sightspeed.io.write import encode_jpeg, write_atomic

    item.outputs.append(write_atomic(item.output_stem + ".jpg", encode_jpeg(item.output, 95)))
    item.outputs.append(write_atomic(item.output_stem + ".json",
                                     json.dumps({"boxes": item.results["boxes"]}).encode()))


def mask(boxes: list, shape: tuple[int, int]) -> np.ndarray:
    """The boxes drawn filled (1 inside any box), so two box lists compare as pictures."""
    import cv2

    out = np.zeros(shape, np.uint8)
    for cx, cy, w, h, angle in boxes:
        cv2.fillPoly(out, [cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.int32)], 1)
    return out


MISMATCH = 0.02  # of a page's pixels: boxes a pixel or two apart along their edges


def same_boxes(pairs: list) -> object:
    """tune's check for this program: on every page, the boxes as masks differ on at most 2% of the pixels."""
    import cv2

    from sightspeed.tune.fidelity import Fidelity

    worst, missing = 0.0, 0
    for ref_files, cand_files in pairs:
        ref = next((f for f in ref_files if f.endswith(".json")), None)
        cand = next((f for f in cand_files if f.endswith(".json")), None)
        if ref is None or cand is None:
            missing += 1
            continue
        shape = cv2.imread(next(f for f in ref_files if f.endswith(".jpg"))).shape[:2]
        a, b = (mask(json.loads(Path(f).read_text())["boxes"], shape) for f in (ref, cand))
        worst = max(worst, float(np.mean(a != b)))
    return Fidelity(missing == 0 and worst <= MISMATCH, f"boxes differ on <= {worst:.2%} of a page's pixels",
                    {"worst": worst, "missing": missing})


# what `sightspeed tune examples/journey/stages.py:build PAGES --step 6` may turn besides the executor, split and
# batch size, and how it checks a candidate kept the outputs
build.tuning = {"models": {"det": "detect"}, "runtimes": RUNTIMES, "tiers": ("f32", "bf16")}
build.fidelity = same_boxes

