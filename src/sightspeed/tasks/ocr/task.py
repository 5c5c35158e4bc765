"""The ocr task: options, models, and the two variants' pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ...io.decode import DEFAULT_MAX_PIXELS
from ...io.pool import BufferPool
from ...models import resolve
from ...pipeline.stage import Pipeline
from ...runtimes.base import PerThread, load
from .text import CtcDecoder


@dataclass(frozen=True)
class OcrOptions:
    """Everything that shapes an OCR run. Validated once, in :func:`build`."""

    variant: str = "fast"  # fast | reference
    runtime: str = "onnxruntime"  # onnxruntime | openvino
    precision: str = "f32"  # openvino only: f32 | bf16
    threads: int = 1  # intra-op threads per model
    rec_batch: int = 1  # crops per recognition call: 1, since batches cost more than their parts here (docs)
    draw: bool = False  # also write a JPEG with the boxes drawn
    detector: str = "ppocr-det-v4"
    classifier: str = "ppocr-cls-v2"
    recognizer: str = "ppocr-rec-v4"
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class Models:
    det: PerThread
    cls: PerThread
    rec: PerThread
    decoder: CtcDecoder
    det_flops_per_px: float = 0.0  # FLOPs per input pixel (a fully convolutional net: linear in H x W)
    cls_flops: float = 0.0  # per crop
    rec_flops: tuple[float, float] = (0.0, 0.0)  # a + b x width, per crop

    def rec_flops_at(self, width: int) -> float:
        return self.rec_flops[0] + self.rec_flops[1] * width


def load_models(options: OcrOptions) -> Models:
    paths = [resolve(n) for n in (options.detector, options.classifier, options.recognizer)]
    examples = [np.zeros(s, np.float32) for s in ((1, 3, 64, 64), (1, 3, 48, 192), (1, 3, 48, 320))]
    make = [PerThread(partial(load, p, options.runtime, options.threads, options.precision), [x])
            for p, x in zip(paths, examples)]
    # The character list is in the ONNX metadata, which only onnxruntime sessions expose.
    rec_rt = load(paths[2], "onnxruntime", 1) if options.runtime != "onnxruntime" else make[2].sample()
    characters = rec_rt.metadata["character"].splitlines()
    models = Models(*make, CtcDecoder(characters))
    _count_flops(models, paths)
    return models


def _count_flops(models: Models, paths: list) -> None:
    """FLOPs from the graphs (needs onnx; without it the profiler shows FLOPs as unknown)."""
    try:
        from ...profiling.flops import onnx_flops

        models.det_flops_per_px = onnx_flops(paths[0], {"x": (1, 3, 736, 736)}) / 736**2
        models.cls_flops = onnx_flops(paths[1], {"x": (1, 3, 48, 192)})
        f320 = onnx_flops(paths[2], {"x": (1, 3, 48, 320)})
        f640 = onnx_flops(paths[2], {"x": (1, 3, 48, 640)})
        slope = (f640 - f320) / 320
        models.rec_flops = (f320 - slope * 320, slope)
    except ImportError:
        pass


def build(options: OcrOptions | None = None, pool: BufferPool | None = None) -> Pipeline:
    """The OCR pipeline for ``options`` (models fetched, loaded and warmed up here, outside timed regions).

    Example: ``sightspeed.run(build(OcrOptions(draw=True)), ["scans/"], "out/")``.
    """
    options = options or OcrOptions()
    if options.variant not in ("fast", "reference"):
        raise ValueError(f"ocr variant must be fast or reference, not {options.variant!r}")
    if options.runtime not in ("onnxruntime", "openvino"):
        raise ValueError(f"ocr runtime must be onnxruntime or openvino, not {options.runtime!r}")
    if options.rec_batch < 1:
        raise ValueError("rec_batch must be >= 1")
    models = load_models(options)
    from ...kernels import db_bitmap

    # the DB post-processing's kernel is JIT-compiled (or loaded from numba's cache) here, not in the first page
    db_bitmap.warmup(example=lambda: ((np.zeros((8, 8), np.float32),), {}))
    if options.variant == "reference":
        from .reference import stages
    else:
        from .fast import stages
    pipeline = Pipeline(stages(options, models, pool or BufferPool()), name=f"ocr-{options.variant}")
    pipeline.info.update({"task": "ocr", "variant": options.variant, "runtime": options.runtime,
                          "precision": options.precision, "model_threads": options.threads})
    return pipeline


def detect_boxes(models: Models, image: np.ndarray, preprocess) -> np.ndarray:
    """Text boxes (N, 4, 2) of a BGR image, in reading order; the detector's FLOPs go to the running span."""
    from ...profiling import counters
    from .dbnet import db_boxes

    x = preprocess(image)
    prob = models.det.get().run(x)[0][0, 0]
    counters.add(flops=models.det_flops_per_px * x.shape[2] * x.shape[3])
    return db_boxes(prob, *image.shape[:2])[0]


def lines_of(boxes: np.ndarray, texts: list[tuple[str, float]]) -> list[dict]:
    """The result rows: box (4 corners), text, score; lines under the text score threshold are dropped."""
    from .text import TEXT_SCORE

    return [{"box": box.astype(int).tolist(), "text": text, "score": round(score, 5)}
            for box, (text, score) in zip(boxes, texts) if score >= TEXT_SCORE]
