"""The reference variant: the plain way this task is usually first written, and the oracle the fast variant is
tested against. Per image: cv2.imread; BlazeFace on the whole frame (cv2.resize, numpy decoding and MediaPipe's
weighted NMS written out); the selfie segmenter on the head-and-shoulders ROI; the mask upsampled, then refined by
a guided filter written out in float64 (``--edges soft``: feathered at full resolution instead); a full-resolution
GaussianBlur background (or a picture scaled to cover the frame, then centre-cropped); float blending over the
whole frame; cv2.imencode (imwrite's bytes), written atomically.

It shares nothing with the fast variant but the model files and the published constants (:mod:`.published`): no
kernel op, no fast helper, so a bug in those shows up as a difference from this.
"""

from __future__ import annotations

import numpy as np

from ...io.write import write_atomic
from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...pipeline.standard import imread_stage
from ...profiling import counters
from .published import (ABOVE, BELOW, BLUR_KSIZE_AT_1920, DETECTOR_INPUT, FEATHER_FRACTION, NMS_IOU, REFINE_EPS,
                        REFINE_RADIUS, SCORE_THRESHOLD, SEGMENTER_INPUT, SIDE, anchors)


def find_faces(detector, image: np.ndarray) -> list[tuple[float, list[float]]]:
    """[(score, [x0, y0, x1, y1] in image pixels)], best first: BlazeFace as MediaPipe documents it."""
    import cv2

    size = DETECTOR_INPUT
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float64)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), -1.0)  # black bars
    canvas[top:top + new_h, left:left + new_w] = rgb / 127.5 - 1.0
    regressors, logits = detector.run(canvas[None].astype(np.float32))
    regressors, logits = regressors.reshape(-1, 16), logits.reshape(-1)

    found = []
    for i, anchor in enumerate(anchors()):
        score = 1.0 / (1.0 + np.exp(-np.clip(float(logits[i]), -80.0, 80.0)))
        if score < SCORE_THRESHOLD:
            continue
        cx = regressors[i, 0] / size + anchor[0]
        cy = regressors[i, 1] / size + anchor[1]
        bw, bh = regressors[i, 2] / size, regressors[i, 3] / size
        found.append((score, [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]))

    faces = []
    sx, sy = new_w / w, new_h / h
    for score, box in weighted_nms(found):
        # model-input units -> pixels of the letterboxed input -> pixels of the image
        x0, y0, x1, y1 = (np.array(box) * size - [left, top, left, top]) / [sx, sy, sx, sy]
        faces.append((score, [float(x0), float(y0), float(x1), float(y1)]))
    return faces


def overlap(a: list[float], b: list[float]) -> float:
    """Intersection over union of two boxes (the oracle's own, on purpose)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def weighted_nms(found: list[tuple[float, list[float]]]) -> list[tuple[float, list[float]]]:
    """MediaPipe's WEIGHTED suppression: the best remaining detection and all overlapping it by more than the
    threshold become one box, their score-weighted mean, with the best score."""
    remaining = sorted(found, key=lambda f: -f[0])
    merged = []
    while remaining:
        best_score, best = remaining[0]
        cluster = [f for f in remaining[1:] if overlap(best, f[1]) > NMS_IOU]
        cluster.insert(0, remaining[0])
        total = sum(s for s, _ in cluster)
        mean = [sum(s * b[k] for s, b in cluster) / total for k in range(4)]
        merged.append((best_score, mean))
        remaining = [f for f in remaining[1:] if not any(f is c for c in cluster)]
    return merged


def head_and_shoulders(faces: list[tuple[float, list[float]]], w: int, h: int) -> tuple[int, int, int, int]:
    """The ROI around all faces (SIDE, ABOVE, BELOW face sizes), clipped; the whole frame without a face."""
    if not faces:
        return 0, 0, w, h
    x0s, y0s, x1s, y1s = [], [], [], []
    for _, (fx0, fy0, fx1, fy1) in faces:
        fw, fh = fx1 - fx0, fy1 - fy0
        x0s.append(fx0 - SIDE * fw)
        x1s.append(fx1 + SIDE * fw)
        y0s.append(fy0 - ABOVE * fh)
        y1s.append(fy1 + BELOW * fh)
    x0, y0 = max(0, int(np.floor(min(x0s)))), max(0, int(np.floor(min(y0s))))
    x1, y1 = min(w, int(np.ceil(max(x1s)))), min(h, int(np.ceil(max(y1s))))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0, 0, w, h
    return x0, y0, x1, y1


def guided_filter(mask: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """``mask`` (float, [0, 1], the ROI's size) made to follow the edges of ``crop`` (the ROI of the frame): He et
    al.'s guided filter with a colour guide, its coefficients on a grid of one segmenter pixel (He and Sun's fast
    guided filter), written out: float64, window sums by cv2.boxFilter, one np.linalg.solve per coarse pixel."""
    import cv2

    h, w = mask.shape
    model_px = max(h, w) / SEGMENTER_INPUT
    step = max(1, min(int(model_px), h, w))
    r = max(1, round(max(1, round(REFINE_RADIUS * model_px)) / step))
    hs, ws = h // step, w // step  # whole blocks; the few rows and columns past them take the last block's values
    guide = cv2.resize(crop[:hs * step, :ws * step].astype(np.float64) / 255.0, (ws, hs), interpolation=cv2.INTER_AREA)
    p = cv2.resize(mask[:hs * step, :ws * step], (ws, hs), interpolation=cv2.INTER_AREA)
    window = (2 * r + 1, 2 * r + 1)
    count = cv2.boxFilter(np.ones((hs, ws)), -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT)

    def mean(x: np.ndarray) -> np.ndarray:  # over each window, clipped at the borders
        sums = cv2.boxFilter(x, -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT).reshape(x.shape)
        return sums / (count if x.ndim == 2 else count[..., None])

    mean_i, mean_p = mean(guide), mean(p)
    cov_ip = mean(guide * p[..., None]) - mean_i * mean_p[..., None]
    var_i = np.empty((hs, ws, 3, 3))
    for i in range(3):
        for j in range(3):
            var_i[..., i, j] = mean(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(var_i + REFINE_EPS * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=-1)
    up_a = cv2.resize(mean(a), (ws * step, hs * step), interpolation=cv2.INTER_LINEAR)
    up_b = cv2.resize(mean(b), (ws * step, hs * step), interpolation=cv2.INTER_LINEAR)
    edge = ((0, h - hs * step), (0, w - ws * step))
    up_a, up_b = np.pad(up_a, edge + ((0, 0),), mode="edge"), np.pad(up_b, edge, mode="edge")
    return np.clip((up_a * crop / 255.0).sum(axis=-1) + up_b, 0.0, 1.0)


def cover(picture: np.ndarray, w: int, h: int) -> np.ndarray:
    """The picture scaled to cover a w x h frame (keeping its aspect), then centre-cropped to it."""
    import cv2

    ph, pw = picture.shape[:2]
    scale = max(w / pw, h / ph)
    sw, sh = max(w, round(pw * scale)), max(h, round(ph * scale))
    scaled = cv2.resize(picture, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (sw - w) // 2, (sh - h) // 2
    return scaled[top:top + h, left:left + w]


def stages(options, background, models, pool) -> list[Stage]:
    import cv2

    def detect(item: Item) -> None:
        h, w = item.image.shape[:2]
        if not options.roi:
            item.results["faces"], item.results["roi"] = [], (0, 0, w, h)
            return
        faces = find_faces(models.detector.get(), item.image)
        counters.add(flops=models.detector_flops)
        item.results["faces"] = [[round(float(v), 2) for v in (*box, score)] for score, box in faces]
        item.results["roi"] = head_and_shoulders(faces, w, h)
        if not faces:
            item.notes.append("no face: whole frame segmented")

    def segment(item: Item) -> None:
        image = item.image
        h, w = image.shape[:2]
        x0, y0, x1, y1 = item.results["roi"]
        crop = image[y0:y1, x0:x1]
        size = SEGMENTER_INPUT
        rgb = cv2.cvtColor(cv2.resize(crop, (size, size)), cv2.COLOR_BGR2RGB)
        x = (rgb.astype(np.float64) / 255.0).astype(np.float32)[None]
        prob = models.segmenter.get().run(x)[0][0, :, :, 0]
        counters.add(flops=models.segmenter_flops)
        roi_mask = cv2.resize(prob, (x1 - x0, y1 - y0)).astype(np.float64)
        if options.edges == "refined":
            roi_mask = guided_filter(roi_mask, crop)
        else:
            sigma = max(1.0, FEATHER_FRACTION * max(x1 - x0, y1 - y0))
            roi_mask = cv2.GaussianBlur(roi_mask, (0, 0), sigma)
        mask = np.zeros((h, w), np.float64)
        mask[y0:y1, x0:x1] = np.clip(roi_mask, 0.0, 1.0)
        item.results["mask_f64"] = mask

    def composite(item: Item) -> None:
        image = item.image
        h, w = image.shape[:2]
        if background.kind == "blur":
            k = max(3, int(round(max(w, h) * BLUR_KSIZE_AT_1920 / 1920)) | 1)
            bg = cv2.GaussianBlur(image, (k, k), 0)
        elif background.kind == "color":
            bg = np.zeros_like(image)
            bg[:] = background.color
        else:
            bg = cover(background.image, w, h)
        m = item.results.pop("mask_f64")
        m3 = np.dstack([m, m, m])
        out = image.astype(np.float64) * m3 + bg.astype(np.float64) * (1.0 - m3)
        item.output = np.clip(np.round(out), 0, 255).astype(np.uint8)
        if options.save_mask:
            item.results["mask"] = np.round(m * 255.0).astype(np.uint8)

    def write(item: Item) -> None:
        if "video" in item.meta:
            return
        # cv2.imencode makes the bytes cv2.imwrite would write with the same params; write_atomic puts them in
        # place (temp + fsync + rename, never through a symlink inside OUT)
        for suffix, image, params in [(".jpg", item.output, [cv2.IMWRITE_JPEG_QUALITY, options.quality]),
                                      ("_mask.png", item.results.get("mask"), [])]:
            if image is None:
                continue
            final = item.output_stem + suffix
            ok, data = cv2.imencode(suffix[suffix.rindex("."):], image, params)
            if not ok:
                raise OSError(f"cv2.imencode failed for {final}")
            write_atomic(final, data.tobytes())
            item.outputs.append(final)

    return [
        imread_stage(options.max_pixels),
        Stage("detect", detect),
        Stage("segment", segment),
        Stage("composite", composite),
        Stage("write", write),
    ]
