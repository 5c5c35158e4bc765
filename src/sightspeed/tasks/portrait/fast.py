"""The fast variant: simplejpeg into reused buffers, uint8 math, background blurred at 1/4 resolution, mask
feathered at model resolution, composite only inside the ROI, written in place into the background frame."""

from __future__ import annotations

import threading

import numpy as np

from ...io.pool import BufferPool
from ...kernels.blur import blur_from_small, downsample_factor
from ...kernels.composite import composite as composite_op
from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...profiling import counters
from ...pipeline.standard import decode_stage, write_stage
from .detect import detect_stage
from .geometry import blur_ksize, feather_sigma

SEG = 256


def _composite_example() -> tuple[tuple, dict]:
    fg, bg, mask = np.zeros((8, 8, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), np.zeros((8, 8), np.uint8)
    return (fg, bg, mask), {"out": bg, "offset": (4, 4)}


def stages(options, background, models, pool: BufferPool) -> list[Stage]:
    local = threading.local()
    composite_op.warmup(example=_composite_example)  # a JIT compile (or cache load) here, not in the first frame

    def tensor() -> np.ndarray:  # per-thread model input, reused for every frame
        buf = getattr(local, "x", None)
        if buf is None:
            buf = local.x = np.empty((1, SEG, SEG, 3), np.float32)
        return buf

    def segment(item: Item) -> None:
        import cv2

        x0, y0, x1, y1 = item.results["roi"]
        rw, rh = x1 - x0, y1 - y0
        small = cv2.resize(item.image[y0:y1, x0:x1], (SEG, SEG), interpolation=cv2.INTER_LINEAR)
        x = tensor()
        np.multiply(small[:, :, ::-1], 1.0 / 255.0, out=x[0], casting="unsafe")
        prob = models.segmenter.get().run(x)[0][0, :, :, 0]
        counters.add(flops=models.segmenter_flops)
        sigma = feather_sigma(rw, rh)  # feather at model resolution: the same blur, measured in ROI pixels
        prob = cv2.GaussianBlur(prob, (0, 0), sigmaX=sigma * SEG / rw, sigmaY=sigma * SEG / rh)
        mask = cv2.convertScaleAbs(prob, alpha=255.0)
        item.results["roi_mask"] = cv2.resize(mask, (rw, rh), interpolation=cv2.INTER_LINEAR)

    def composite(item: Item) -> None:
        image = item.image
        h, w = image.shape[:2]
        bg = pool.take(image.shape)
        item.borrowed.append(bg)
        small = item.results.pop("small")
        if background.kind == "blur":
            k = blur_ksize(w, h)
            blur_from_small(small, k, downsample_factor(k), (w, h), out=bg)
        elif background.kind == "color":
            bg[:] = background.color
        else:
            import cv2

            cv2.resize(background.image, (w, h), dst=bg, interpolation=cv2.INTER_AREA)
        x0, y0, x1, y1 = item.results["roi"]
        roi_mask = item.results.pop("roi_mask")
        # the registry's pick (numba when installed: exact and ~4x OpenCV's uint8 ops), pasted into bg in place
        composite_op(image[y0:y1, x0:x1], bg, roi_mask, out=bg, offset=(x0, y0))
        item.output = bg
        if options.save_mask:
            full = np.zeros((h, w), np.uint8)
            full[y0:y1, x0:x1] = roi_mask
            item.results["mask"] = full

    return [
        decode_stage(pool, max_pixels=options.max_pixels),
        detect_stage(models, options.roi, lambda w, h: downsample_factor(blur_ksize(w, h)), options.threads),
        Stage("segment", segment, threads=options.threads),
        Stage("composite", composite),
        write_stage(options.quality, {"mask": "_mask.png"} if options.save_mask else None),
    ]
