"""Benchmark inputs for OCR: document-like pages (1024 px wide, lines of mixed length and size) rendered with PIL
and DejaVu Sans, saved as PNG (or JPEG: ``suffix=".jpg"``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = ("pipeline stage profile memory bandwidth compute ceiling batch padding width detect recognize crop "
         "angle classify decode encode thread budget spinning pool latency throughput invoice total due date "
         "2026 11 23 1,234.56 EUR 42 ms GB/s").split()


def document_pages(folder: str | Path, count: int = 8, width: int = 1024, height: int = 768,
                   suffix: str = ".png") -> list[str]:
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    from sightspeed.tasks.ocr.fonts import dejavu_sans

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        rng = np.random.default_rng(k)
        page = Image.fromarray((238 + rng.integers(0, 12, (height, width, 1))).repeat(3, 2).astype(np.uint8))
        draw = ImageDraw.Draw(page)
        y = 30
        while y < height - 60:
            size = int(rng.integers(18, 34))
            font = ImageFont.truetype(dejavu_sans(), size)
            words = rng.choice(WORDS, int(rng.integers(2, 12)))
            x = int(rng.integers(20, 200))
            draw.text((x, y), " ".join(words), fill=(25, 25, 25), font=font)
            y += int(size * 1.8)
        path = folder / f"page_{k:02d}{suffix}"
        cv2.imwrite(str(path), np.asarray(page)[:, :, ::-1])
        paths.append(str(path))
    return paths
