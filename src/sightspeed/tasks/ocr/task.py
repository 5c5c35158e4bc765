"""The ocr task: options, models, and the two variants' pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ...io.decode import DEFAULT_MAX_PIXELS
from ...io.pool import BufferPool
from ...models import resolve
from ...pipeline.stage import Pipeline
from ...pipeline.startup import Startup
from ...runtimes.base import PerThread, load, with_models
from ..options import option, per_model
from .text import CtcDecoder


MODELS = ("det", "cls", "rec")  # the names --runtime and --precision use for the three models
RUNTIMES = ("onnxruntime", "openvino")
TIERS = ("f32", "bf16", "int8")
STAGE_OF = {"det": "detect", "cls": "classify", "rec": "recognize"}
# What `sightspeed tune` may turn for this task, beyond the executor, thread split and kernel backends every
# pipeline has (tune/space.py): the runtime and tier of each model, the crops per recognition call, and the
# detector's normalisation fused into its graph.
TUNING = {"models": {k: STAGE_OF[k] for k in MODELS}, "runtimes": RUNTIMES, "tiers": TIERS,
          "batch": ("rec_batch", "recognize", (1, 2, 4, 8)), "switches": {"fuse_preprocess": (False, True)},
          "ops": ("preprocess", "db_bitmap", "box_scores")}


@dataclass(frozen=True)
class OcrOptions:
    """Everything that shapes an OCR run. Validated once, in :func:`build`."""

    # Fields declared with option() are the task's command-line options (tasks/options.py); variant and max_pixels
    # come from the run's common options; the model files stay Python-only (a model swap needs its own
    # pre/post-processing).
    variant: str = "fast"  # fast | reference
    runtime: str = option("onnxruntime", "model runtime for every model, or per model: det=openvino,rec=onnxruntime"
                          " (openvino needs the openvino extra)", metavar="onnxruntime|openvino|MODEL=RUNTIME,...",
                          check=lambda spec: per_model(spec, MODELS, RUNTIMES, "--runtime"))
    precision: str = option("f32", "precision tier for every model, or per model: det=bf16,rec=int8. bf16: "
                            "openvino, fast where the CPU has bf16 units; int8: the model quantized on your inputs "
                            "(made by `sightspeed tune` or `sightspeed models quantize`)",
                            metavar="f32|bf16|int8|MODEL=TIER,...",
                            check=lambda spec: per_model(spec, MODELS, TIERS, "--precision"))
    # 1 by default, since batches cost more than their parts here (docs)
    rec_batch: int = option(1, "text-line crops per recognition call", minimum=1)
    draw: bool = option(False, "also write the image with its boxes drawn")
    # The detector's input size varies per image, so the resize stays on the host (a uint8 resize); the cast,
    # normalisation and layout go into its graph (models/fuse.py). cls and rec crops are made on the host anyway.
    fuse_preprocess: bool = option(False, "feed the text detector the resized uint8 image, its normalisation in "
                                   "its graph (an ONNX model made once into the cache)")
    detector: str = "ppocr-det-v4"
    classifier: str = "ppocr-cls-v2"
    recognizer: str = "ppocr-rec-v4"
    max_pixels: int = DEFAULT_MAX_PIXELS
    strip_metadata: bool = False  # --strip-metadata: the --draw JPEG carries no ICC profile, EXIF or XMP


@dataclass
class Models:
    det: PerThread
    cls: PerThread
    rec: PerThread
    decoder: CtcDecoder
    det_flops_per_px: float = 0.0  # FLOPs per input pixel (a fully convolutional net: linear in H x W)
    cls_flops: float = 0.0  # per crop
    rec_flops: tuple[float, float] = (0.0, 0.0)  # a + b x width, per crop
    det_fused: bool = False  # the detector takes the resized uint8 image (its normalisation in its graph)

    def rec_flops_at(self, width: int) -> float:
        return self.rec_flops[0] + self.rec_flops[1] * width


def model_files(options: OcrOptions) -> dict[str, tuple]:
    """{det|cls|rec: (file to load, runtime, precision hint, tier)}: an int8 tier loads the cached quantized
    model; a bf16 tier is OpenVINO's precision hint on the f32 file."""
    from ...errors import ModelError
    from ...models import quantize

    runtimes = per_model(options.runtime, MODELS, RUNTIMES, "--runtime")
    tiers = per_model(options.precision, MODELS, TIERS, "--precision")
    files = {}
    for key, name in zip(MODELS, (options.detector, options.classifier, options.recognizer)):
        path, tier = resolve(name), tiers[key]
        if tier == "int8":
            path = quantize.find(path)
            if path is None:
                raise ModelError(f"no int8 model of {name} in the cache: make one with `sightspeed models quantize "
                                 f"{name} --calibrate DIR` (or `sightspeed tune ocr DIR`)")
        if key == "det" and options.fuse_preprocess:
            from ...models.fuse import fuse_onnx
            from .published import MEAN, SCALE, STD

            path = fuse_onnx(path, mean=MEAN, std=STD, scale=SCALE, swap_rb=False)
        files[key] = (path, runtimes[key], "bf16" if tier == "bf16" else "f32", tier)
    return files


def load_models(options: OcrOptions, startup: Startup | None = None) -> Models:
    """Fetch, load and warm up the three models (each step timed in ``startup``: the run shows it as start-up)."""
    startup = startup or Startup()
    with startup.step("fetch models"):
        files = model_files(options)
        paths = [resolve(n) for n in (options.detector, options.classifier, options.recognizer)]
    examples = [np.zeros(s, np.float32) for s in ((1, 3, 64, 64), (1, 3, 48, 192), (1, 3, 48, 320))]
    if options.fuse_preprocess:
        examples[0] = np.zeros((1, 64, 64, 3), np.uint8)
    make = []
    for (key, (path, runtime, hint, _)), x in zip(files.items(), examples):
        with startup.step(f"load {key} model"):  # the first also imports the runtime
            # each stage's models run with that stage's share of the run's core budget (PerThread.get)
            make.append(PerThread(partial(load, path, runtime, precision=hint), [x]))
    with startup.step("read rec characters"):
        # The character list is in the ONNX metadata, which only onnxruntime sessions of the original file expose.
        characters = load(paths[2], "onnxruntime", 1).metadata["character"].splitlines()
    models = Models(*make, CtcDecoder(characters), det_fused=options.fuse_preprocess)
    with startup.step("count model flops"):
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
    if options.rec_batch < 1:
        raise ValueError("rec_batch must be >= 1")
    if options.fuse_preprocess and options.variant == "reference":
        raise ValueError("--fuse-preprocess applies to the fast variant (the reference preprocesses the plain way)")
    runtimes = per_model(options.runtime, MODELS, RUNTIMES, "--runtime")
    tiers = per_model(options.precision, MODELS, TIERS, "--precision")
    for key in MODELS:
        if tiers[key] == "bf16" and runtimes[key] != "openvino":
            raise ValueError(f"{key}: precision bf16 needs the openvino runtime")
    startup = Startup()
    models = load_models(options, startup)
    from ...kernels import db_bitmap

    with startup.step("warm up kernels"):
        # the DB post-processing's kernel is JIT-compiled (or loaded from numba's cache) here, not in the first page
        db_bitmap.warmup(example=lambda: ((np.zeros((8, 8), np.float32),), {}))
        if options.variant == "reference":
            from .reference import stages
        else:
            from .fast import stages
        built = stages(options, models, pool or BufferPool())
    # the reference variant classifies inside its recognize stage
    steps = with_models(built, {"detect": [models.det], "classify": [models.cls],
                                "recognize": [models.cls, models.rec]})
    pipeline = Pipeline(steps, name=f"ocr-{options.variant}", setup=startup.steps)
    pipeline.info.update({"task": "ocr", "variant": options.variant, "runtime": options.runtime,
                          "precision": options.precision, "draw": options.draw,
                          "strip_metadata": options.strip_metadata,
                          "fuse_preprocess": options.fuse_preprocess,
                          # the f32 files (tune calibrates its int8 copies on what the pipeline feeds them)
                          "model_files": {k: str(resolve(n)) for k, n in zip(MODELS, (
                              options.detector, options.classifier, options.recognizer))},
                          # each stage's tier (the profiler's % SOL is against that tier's ceiling)
                          "tiers": {STAGE_OF[k]: tiers[k] for k in MODELS if options.variant == "fast" or k != "cls"}})
    return pipeline
