"""The detect stage, shared by both variants: faces -> person ROI (or the whole frame)."""

from __future__ import annotations

import numpy as np

from ...pipeline.item import Item
from ...pipeline.stage import Stage
from . import blazeface
from .geometry import person_roi


def detect_stage(detector, use_roi: bool) -> Stage:
    """``item.results``: ``faces`` (list of [x0, y0, x1, y1, score]) and ``roi`` (x0, y0, x1, y1)."""

    def detect(item: Item) -> None:
        h, w = item.image.shape[:2]
        if not use_roi:
            item.results["faces"], item.results["roi"] = [], (0, 0, w, h)
            return
        boxes, scores = blazeface.detect(detector.get(), item.image)
        item.results["faces"] = np.column_stack([boxes, scores]).round(2).tolist()
        item.results["roi"] = person_roi(boxes, w, h)

    return Stage("detect", detect)
