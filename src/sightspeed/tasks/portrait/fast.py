"""The fast variant: simplejpeg into reused buffers, uint8 math, background blurred at 1/4 resolution, mask
upsampled and refined by the frame's edges (or feathered at model resolution: ``--edges soft``), composite only
inside the ROI, written in place into the background frame.

Pre/post-processing goes through the kernel ops that tests/contracts hold to their references: ``letterbox``,
``preprocess`` and ``weighted_nms`` (detect, :mod:`.blazeface`), ``preprocess``, ``feather_mask`` and
``refine_mask`` (segment), ``composite``."""

from __future__ import annotations

import threading

import numpy as np

from ...io.pool import BufferPool
from ...kernels.blur import blur_from_small, downsample_factor
from ... import kernels
from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...profiling import counters
from ...pipeline.standard import decode_stage, write_stage
from .detect import detect_stage
from .geometry import blur_ksize, cover_crop, feather_sigma, refine_settings
from .published import REFINE_EPS
from .published import SEGMENTER_INPUT as SEG


def _composite_example() -> tuple[tuple, dict]:
    fg, bg, mask = np.zeros((8, 8, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), np.zeros((8, 8), np.uint8)
    return (fg, bg, mask), {"out": bg, "offset": (4, 4)}


def cover_picture(picture: np.ndarray, w: int, h: int) -> np.ndarray:
    """``picture`` covering a w x h frame, its aspect kept: the centred part with the frame's aspect
    (:func:`.geometry.cover_crop`), scaled to w x h (area-averaged down, bilinear up). Cropping before scaling
    resamples only the pixels that are kept."""
    import cv2

    x0, y0, x1, y1 = cover_crop(picture.shape[1], picture.shape[0], w, h)
    part = picture[y0:y1, x0:x1]
    shrink = part.shape[1] >= w and part.shape[0] >= h
    return cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def stages(options, background, models, pool: BufferPool) -> list[Stage]:
    local = threading.local()
    kernels.composite.warmup(example=_composite_example)  # a JIT compile (or cache load) here, not in the first frame
    kernels.preprocess.warmup(example=lambda: ((np.zeros((8, 8, 3), np.uint8), (SEG, SEG)), dict(layout="nhwc")))
    kernels.feather_mask.warmup(example=lambda: ((np.zeros((8, 8), np.float32), (16, 12), (1.0, 2.0)), {}))
    if options.edges == "refined":
        kernels.refine_mask.warmup(example=lambda: ((np.zeros((12, 16), np.uint8), np.zeros((12, 16, 3), np.uint8), 2),
                                                    dict(subsample=2)))

    covers: dict[tuple[int, int], np.ndarray] = {}  # frame size -> the background picture cropped and scaled to it

    def cover(w: int, h: int) -> np.ndarray:
        """The background picture covering a w x h frame (made once per frame size: a video's frames share it)."""
        found = covers.get((w, h))
        if found is None:
            found = cover_picture(background.image, w, h)
            if len(covers) >= 16:  # many image sizes: keep memory bounded
                covers.clear()
            covers[(w, h)] = found
        return found

    def tensor() -> np.ndarray:  # per-thread model input, reused for every frame
        buf = getattr(local, "x", None)
        if buf is None:
            buf = local.x = np.empty((1, SEG, SEG, 3), np.float32)
        return buf

    def segment(item: Item) -> None:
        x0, y0, x1, y1 = item.results["roi"]
        rw, rh = x1 - x0, y1 - y0
        # the ROI (a view into the frame) resized to 256 x 256, RGB in [0, 1], NHWC
        x = kernels.preprocess(item.image[y0:y1, x0:x1], (SEG, SEG), layout="nhwc", out=tensor())
        prob = models.segmenter.get().run(x)[0][0, :, :, 0]
        counters.add(flops=models.segmenter_flops)
        if options.edges == "refined":  # upsampled only, then softened along the frame's own edges
            radius, subsample = refine_settings(rw, rh)
            mask = kernels.feather_mask(prob, (rw, rh), 0.0)
            item.results["roi_mask"] = kernels.refine_mask(mask, item.image[y0:y1, x0:x1], radius, REFINE_EPS,
                                                           subsample, out=mask)
            return
        sigma = feather_sigma(rw, rh)  # feather at model resolution: the same blur, measured in ROI pixels
        item.results["roi_mask"] = kernels.feather_mask(prob, (rw, rh), (sigma * SEG / rw, sigma * SEG / rh))

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
            bg[:] = cover(w, h)
        x0, y0, x1, y1 = item.results["roi"]
        roi_mask = item.results.pop("roi_mask")
        # the registry's pick (numba when installed: exact and ~4x OpenCV's uint8 ops), pasted into bg in place
        kernels.composite(image[y0:y1, x0:x1], bg, roi_mask, out=bg, offset=(x0, y0))
        item.output = bg
        if options.save_mask:
            full = np.zeros((h, w), np.uint8)
            full[y0:y1, x0:x1] = roi_mask
            item.results["mask"] = full

    return [
        decode_stage(pool, max_pixels=options.max_pixels),
        detect_stage(models, options.roi, lambda w, h: downsample_factor(blur_ksize(w, h))),
        Stage("segment", segment),
        Stage("composite", composite),
        write_stage(options.quality, {"mask": "_mask.png"} if options.save_mask else None),
    ]
