"""The reference variant: the plain way this task is usually first written. Per image: cv2.imread, float64
numpy, full-resolution GaussianBlur, float blending over the whole frame, cv2.imwrite. The correctness oracle
and the speed baseline; it shares the models and the detector with the fast variant."""

from __future__ import annotations

import os

import numpy as np

from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...pipeline.standard import imread_stage
from ...profiling import counters
from .detect import detect_stage
from .geometry import blur_ksize, feather_sigma

SEG = 256


def stages(options, background, models, pool) -> list[Stage]:
    import cv2

    def segment(item: Item) -> None:
        image = item.image
        h, w = image.shape[:2]
        x0, y0, x1, y1 = item.results["roi"]
        crop = image[y0:y1, x0:x1]
        rgb = cv2.cvtColor(cv2.resize(crop, (SEG, SEG)), cv2.COLOR_BGR2RGB)
        x = (rgb.astype(np.float64) / 255.0).astype(np.float32)[None]
        prob = models.segmenter.get().run(x)[0][0, :, :, 0]
        counters.add(flops=models.segmenter_flops)
        roi_mask = cv2.resize(prob, (x1 - x0, y1 - y0)).astype(np.float64)
        sigma = feather_sigma(x1 - x0, y1 - y0)
        roi_mask = cv2.GaussianBlur(roi_mask, (0, 0), sigma)
        mask = np.zeros((h, w), np.float64)
        mask[y0:y1, x0:x1] = np.clip(roi_mask, 0.0, 1.0)
        item.results["mask_f64"] = mask

    def composite(item: Item) -> None:
        image = item.image
        h, w = image.shape[:2]
        if background.kind == "blur":
            k = blur_ksize(w, h)
            bg = cv2.GaussianBlur(image, (k, k), 0)
        elif background.kind == "color":
            bg = np.zeros_like(image)
            bg[:] = background.color
        else:
            bg = cv2.resize(background.image, (w, h), interpolation=cv2.INTER_AREA)
        m = item.results.pop("mask_f64")
        m3 = np.dstack([m, m, m])
        out = image.astype(np.float64) * m3 + bg.astype(np.float64) * (1.0 - m3)
        item.output = np.clip(np.round(out), 0, 255).astype(np.uint8)
        if options.save_mask:
            item.results["mask"] = np.round(m * 255.0).astype(np.uint8)

    def write(item: Item) -> None:
        if "video" in item.meta:
            return
        for suffix, image, params in [(".jpg", item.output, [cv2.IMWRITE_JPEG_QUALITY, options.quality]),
                                      ("_mask.png", item.results.get("mask"), [])]:
            if image is None:
                continue
            final = item.output_stem + suffix
            os.makedirs(os.path.dirname(final) or ".", exist_ok=True)
            tmp = f"{os.path.dirname(final)}/.partial-{os.path.basename(final)}"
            if not cv2.imwrite(tmp, image, params):
                raise OSError(f"cv2.imwrite failed for {final}")
            os.replace(tmp, final)
            item.outputs.append(final)

    return [
        imread_stage(options.max_pixels),
        detect_stage(models, options.roi, threads=options.threads),
        Stage("segment", segment, threads=options.threads),
        Stage("composite", composite),
        Stage("write", write),
    ]
