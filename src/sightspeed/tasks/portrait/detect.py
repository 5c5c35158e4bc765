"""The fast variant's detect stage: faces (through the kernel ops, :mod:`.blazeface`) -> person ROI (or the whole
frame)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ...kernels.blur import shrink
from ...pipeline.item import Item
from ...profiling import counters
from ...pipeline.stage import Stage
from . import blazeface
from .geometry import person_roi


NO_FACE = "no face: whole frame segmented"  # the manifest row's note


def detect_stage(models, use_roi: bool, shrink_factor: Callable[[int, int], int] | None = None) -> Stage:
    """``item.results``: ``faces`` (list of [x0, y0, x1, y1, score]) and ``roi`` (x0, y0, x1, y1). A frame without
    a face is segmented whole, and its manifest row says so (:data:`NO_FACE`).

    With ``shrink_factor(w, h)``, the frame is area-shrunk once here (kept as ``results["small"]`` for later
    stages, e.g. the background blur) and the detector letterboxes from that small copy.
    """

    local = threading.local()
    blazeface.warmup()

    def model_input() -> np.ndarray:  # per-thread detector input, reused for every frame
        buf = getattr(local, "x", None)
        if buf is None:
            buf = local.x = np.empty((1, blazeface.INPUT, blazeface.INPUT, 3), np.float32)
        return buf

    def detect(item: Item) -> None:
        h, w = item.image.shape[:2]
        image, scale = item.image, 1.0
        if shrink_factor is not None:
            factor = shrink_factor(w, h)
            image = item.results["small"] = shrink(item.image, factor)
            scale = w / image.shape[1]
        if not use_roi:
            item.results["faces"], item.results["roi"] = [], (0, 0, w, h)
            return
        boxes, scores = blazeface.detect(models.detector.get(), image, scale, out=model_input(), fused=models.fused)
        counters.add(flops=models.detector_flops)
        item.results["faces"] = np.column_stack([boxes, scores]).round(2).tolist()
        item.results["roi"] = person_roi(boxes, w, h)
        if len(boxes) == 0:
            item.notes.append(NO_FACE)

    return Stage("detect", detect)
