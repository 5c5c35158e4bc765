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
   f32 or bf16, each with the preprocessing in its graph.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import before  # noqa: E402  the first version's own functions, reused as they are

from sightspeed import Pipeline, Stage, kernels  # noqa: E402
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
        raise ValueError("runtime and precision are step 6's: give --step 6")
    path = model_file(step, runtime)
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

    def postprocess(item) -> None:
        boxes = before.postprocess(item.results.pop("prob"), *item.image.shape[:2])
        item.results["boxes"] = boxes
        item.output = before.draw(item.image, boxes)

    stages += [Stage("preprocess", preprocess), Stage("detect", detect), Stage("postprocess", postprocess)]
    return Pipeline(with_models(stages, {"detect": [det]}))

