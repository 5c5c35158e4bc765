"""The reference variant: the plain way, and the oracle the fast variant is tested against. Per image: cv2.imread,
float64 normalisation, detection with PP-OCR's DB post-processing written out (:mod:`.reference_db`), then per box
a crop, a batch-of-one angle classification and a batch-of-one recognition at the crop's own width, greedy CTC
decoding in a Python loop, json.dumps.

It shares nothing with the fast variant but the model files (and the character list in the recogniser's
metadata) and the published constants (:mod:`.published`): no kernel op, no fast helper.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ...io.write import write_atomic
from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...pipeline.standard import imread_stage
from ...profiling import counters
from .published import CLS_THRESH, CLS_WIDTH, HEIGHT, REC_MIN_WIDTH, REC_WIDTH_STEP, TEXT_SCORE
from .reference_db import crop_box, detector_input, text_boxes


def line_input(crop: np.ndarray, width_cap: int, padded: int) -> np.ndarray:
    """PP-OCR's resize_norm_img: height 48 keeping aspect (width at most ``width_cap``), (x / 255 - 0.5) / 0.5,
    CHW, zero-padded on the right to ``padded``."""
    import cv2

    h, w = crop.shape[:2]
    width = min(width_cap, int(math.ceil(HEIGHT * w / h)))
    resized = cv2.resize(crop, (width, HEIGHT)).astype(np.float64)
    x = ((resized / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    out = np.zeros((1, 3, HEIGHT, padded), np.float32)
    out[0, :, :, :width] = x
    return out


def recogniser_width(crop: np.ndarray) -> int:
    """The crop's width at height 48, rounded up to a multiple of 32, at least 320."""
    h, w = crop.shape[:2]
    steps = math.ceil(int(HEIGHT * w / h) / REC_WIDTH_STEP)
    return max(REC_MIN_WIDTH, steps * REC_WIDTH_STEP)


def ctc_greedy(probs: np.ndarray, characters) -> tuple[str, float]:
    """Best class per time step; repeats merged, blanks (class 0) dropped; the score is the mean probability of
    the characters kept."""
    text, confidences = [], []
    previous = -1
    for step in probs:
        k = int(np.argmax(step))
        if k != 0 and k != previous:
            text.append(characters[k])
            confidences.append(float(step[k]))
        previous = k
    return "".join(text), (sum(confidences) / len(confidences) if confidences else 0.0)


def stages(options, models, pool) -> list[Stage]:
    import cv2

    characters = list(models.decoder.chars)  # blank, the recogniser's metadata character list, space

    def detect(item: Item) -> None:
        h, w = item.image.shape[:2]
        x = detector_input(item.image)
        prob = models.det.get().run(x)[0][0, 0]
        counters.add(flops=models.det_flops_per_px * x.shape[2] * x.shape[3])
        item.results["boxes"] = text_boxes(prob, h, w)

    def recognize(item: Item) -> None:
        lines = []
        for box in item.results["boxes"]:
            crop = crop_box(item.image, box)
            label_probs = models.cls.get().run(line_input(crop, CLS_WIDTH, CLS_WIDTH))[0][0]
            if label_probs.argmax() == 1 and label_probs[1] >= CLS_THRESH:  # upside down
                crop = cv2.rotate(crop, cv2.ROTATE_180)
            width = recogniser_width(crop)
            probs = models.rec.get().run(line_input(crop, width, width))[0][0]
            counters.add(flops=models.cls_flops + models.rec_flops_at(width))
            text, score = ctc_greedy(probs, characters)
            if score >= TEXT_SCORE:
                lines.append({"box": box.astype(int).tolist(), "text": text, "score": round(score, 5)})
        item.results["lines"] = lines

    def write(item: Item) -> None:
        if "video" in item.meta or item.output_stem is None:
            return
        h, w = item.image.shape[:2]
        doc = {"input": item.source, "size": [w, h], "lines": item.results.get("lines", [])}
        item.outputs.append(write_atomic(item.output_stem + ".json",
                                         (json.dumps(doc, ensure_ascii=False) + "\n").encode()))
        if options.draw:
            canvas = item.image.copy()
            for line in doc["lines"]:
                cv2.polylines(canvas, [np.array(line["box"], np.int32)], True, (0, 0, 255), 2)
            ok, jpeg = cv2.imencode(".jpg", canvas)
            if not ok:
                raise OSError(f"cv2.imencode failed for {item.source}")
            item.outputs.append(write_atomic(item.output_stem + ".jpg", jpeg.tobytes()))

    return [imread_stage(options.max_pixels), Stage("detect", detect),
            Stage("recognize", recognize), Stage("write", write)]
