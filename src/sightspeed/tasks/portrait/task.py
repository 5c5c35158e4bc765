"""The portrait task: options, models, and the two variants' pipelines."""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import numpy as np

from ...io.decode import DEFAULT_MAX_PIXELS
from ...io.pool import BufferPool
from ...models import resolve
from ...pipeline.stage import Pipeline
from ...pipeline.startup import Startup
from ...runtimes.base import PerThread, load, with_models
from ..options import option


# What `sightspeed tune` may turn for this task, beyond the executor, thread split and batch size every pipeline has
# (tune/space.py): the ROI switch (off segments the whole frame), the detector's preprocessing fused into its graph,
# and the kernel ops' backends. The models are .tflite files run by LiteRT at f32: no other tier or runtime takes them
# (the fused detector is OpenVINO IR made from the .tflite).
# --edges is not a switch: soft and refined are different pictures (benchmarks/edges.py measures how different), and
# tune keeps what the user sees, choosing only among ways of computing the same output.
TUNING = {"switches": {"roi": (True, False), "fuse_preprocess": (False, True)},
          "ops": ("preprocess", "feather_mask", "refine_mask", "composite", "letterbox"), "save_mask": True}


@dataclass(frozen=True)
class PortraitOptions:
    """Everything that shapes a portrait run. Validated once, in :func:`build`."""

    # Fields declared with option() are the task's command-line options (tasks/options.py); variant and max_pixels
    # come from the run's common options; the model files stay Python-only: another model needs its own anchors and
    # pre/post-processing, so swapping one is not a user-facing switch.
    variant: str = "fast"  # fast | reference
    roi: bool = option(True, "segment the whole frame, not a head-and-shoulders ROI around the faces")
    background: str = option("blur", "what replaces the background: a blur of it, a colour or an image",
                             metavar="blur|color:#RRGGBB|image:PATH", check=lambda spec: parse_background(spec))
    # image:PATH keeps the picture's aspect: scaled to cover the frame and centre-cropped (never stretched)
    save_mask: bool = option(False, "also write the mask as PNG")
    detector: str = "blazeface-short"  # zoo name or .tflite path
    segmenter: str = "selfie-seg"  # zoo name or .tflite path
    quality: int = option(90, "JPEG quality of the output", minimum=1, maximum=100)
    # Only the detector can be fused: OpenVINO reads BlazeFace's .tflite, not the selfie segmenter's (MediaPipe's
    # custom Convolution2DTransposeBias op), and no ONNX copy of it ships; the segmenter's input stays on the host.
    fuse_preprocess: bool = option(False, "feed the face detector the uint8 image, its normalisation in its graph "
                                   "(OpenVINO IR made once into the cache; needs the openvino extra)")
    edges: str = option("refined", "the mask's edge: refined follows the photo's own edges (a guided filter), soft "
                        "is the plain feathered mask (fringes of the old background with color: and image:)",
                        choices=("soft", "refined"))
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are refused from their header (decompression bombs)
    # --strip-metadata: the output JPEG carries no ICC profile, EXIF or XMP (the runner turns it on in the standard
    # write stage: pipeline/run.py complete()); the mask PNG never carries any (data, not a photo)
    strip_metadata: bool = False


@dataclass(frozen=True)
class Background:
    kind: str  # blur | color | image
    color: tuple[int, int, int] = (0, 0, 0)  # BGR
    image: np.ndarray | None = None


def parse_background(spec: str) -> Background:
    """``blur``, ``color:#RRGGBB`` or ``image:PATH`` -> Background; a bad spec is a ValueError saying what is right.

    >>> parse_background("color:#ff8000").color
    (0, 128, 255)
    """
    if spec == "blur":
        return Background("blur")
    if spec.startswith("color:"):
        m = re.fullmatch(r"#?([0-9a-fA-F]{6})", spec[6:])
        if not m:
            raise ValueError(f"--background {spec!r}: colour must be #RRGGBB, e.g. color:#00ff00")
        r, g, b = (int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
        return Background("color", color=(b, g, r))
    if spec.startswith("image:"):
        from ...errors import InputError
        from ...io.decode import read_image

        try:
            return Background("image", image=read_image(spec[6:]))
        except InputError as exc:
            raise ValueError(f"--background image: {exc}") from None
    raise ValueError(f"--background {spec!r}: use blur, color:#RRGGBB or image:PATH")


@dataclass
class Models:
    detector: PerThread
    segmenter: PerThread
    detector_flops: float = 0.0  # per invocation, counted from the graph (profiling.flops)
    segmenter_flops: float = 0.0
    fused: bool = False  # the detector takes the uint8 letterboxed canvas (preprocessing in its graph)


def load_models(options: PortraitOptions, startup: Startup | None = None) -> Models:
    """Fetch, load and warm up both models (each step timed in ``startup``: the run shows it as start-up)."""
    from ...profiling.flops import model_flops

    startup = startup or Startup()
    with startup.step("fetch models"):
        det, seg = resolve(options.detector), resolve(options.segmenter)
    # each stage's models run with that stage's share of the run's core budget (PerThread.get)
    if options.fuse_preprocess:
        from ...models.fuse_backends import fuse_openvino
        from .blazeface import NORMALIZE

        with startup.step("fuse detector preprocessing"):  # made once, then read from the cache
            fused_det = fuse_openvino(det, **NORMALIZE)
        with startup.step("load detector"):
            detector = PerThread(partial(load, fused_det, "openvino"))
    else:
        with startup.step("load detector"):  # also imports the runtime
            detector = PerThread(partial(load, det, "litert"))
    with startup.step("load segmenter"):
        segmenter = PerThread(partial(load, seg, "litert"))
    with startup.step("count model flops"):
        flops = model_flops(det) or 0.0, model_flops(seg) or 0.0
    return Models(detector, segmenter, *flops, fused=options.fuse_preprocess)


def build(options: PortraitOptions | None = None, pool: BufferPool | None = None) -> Pipeline:
    """The portrait pipeline for ``options`` (models fetched and warmed up here, outside any timed region).

    Example: ``sightspeed.run(build(PortraitOptions(background="color:#00ff00")), ["photos/"], "out/")``.
    """
    options = options or PortraitOptions()
    if options.variant not in ("fast", "reference"):
        raise ValueError(f"portrait variant must be fast or reference, not {options.variant!r}")
    if options.fuse_preprocess and options.variant == "reference":
        raise ValueError("--fuse-preprocess applies to the fast variant (the reference preprocesses the plain way)")
    startup = Startup()
    with startup.step("read background") if options.background.startswith("image:") else nullcontext():
        background = parse_background(options.background)
    models = load_models(options, startup)
    with startup.step("warm up kernels"):  # JIT compiles (or numba cache loads) here, not in the first frame
        if options.variant == "reference":
            from .reference import stages
        else:
            from .fast import stages
        built = stages(options, background, models, pool or BufferPool())
    steps = with_models(built, {"detect": [models.detector], "segment": [models.segmenter]})
    pipeline = Pipeline(steps, name=f"portrait-{options.variant}", setup=startup.steps)
    pipeline.info.update({"task": "portrait", "variant": options.variant, "roi": options.roi,
                          "background": options.background, "save_mask": options.save_mask,
                          "fuse_preprocess": options.fuse_preprocess, "edges": options.edges,
                          "quality": options.quality, "strip_metadata": options.strip_metadata,
                          "model_files": {"detector": str(resolve(options.detector)),
                                          "segmenter": str(resolve(options.segmenter))}})
    return pipeline
