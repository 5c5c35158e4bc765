"""Benchmark inputs made from the built-in sample photos: full-HD JPEGs (crops, flips, shifts of real portraits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fhd_portraits(folder: str | Path, count: int = 12, size: tuple[int, int] = (1920, 1080)) -> list[str]:
    import cv2
    import simplejpeg

    from sightspeed.io.decode import read_image
    from sightspeed.samples import sample_paths

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photos = [read_image(p) for p in sample_paths(quiet=True)]
    w, h = size
    paths = []
    for k in range(count):
        photo = photos[k % len(photos)]
        scale = h / photo.shape[0] * (1.0 + 0.15 * (k // len(photos) % 3))
        big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        canvas = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)  # a busy background
        canvas = cv2.GaussianBlur(canvas, (0, 0), 3)[:, ::-1] if k % 2 else canvas
        canvas = np.ascontiguousarray(canvas)
        x = (w - min(w, big.shape[1])) * ((k * 37) % 100) // 100
        ph, pw = min(h, big.shape[0]), min(w, big.shape[1])
        canvas[h - ph:, x:x + pw] = big[:ph, :pw]
        path = folder / f"portrait_{k:02d}.jpg"
        path.write_bytes(simplejpeg.encode_jpeg(canvas, quality=90, colorspace="BGR", colorsubsampling="420"))  # as cameras write
        paths.append(str(path))
    return paths
