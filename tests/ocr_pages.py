"""Rendered text pages with known text (PIL + DejaVu fonts), for OCR tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LINES = [
    "Speed of light is the time a stage would take at its ceiling",
    "Profile first, then optimize the part that bounds the pipeline",
    "Batch the crops by width so that little padding is computed",
    "The quick brown fox jumps over the lazy dog 0123456789",
    "Invoice 2026-11-23 total due: 1,234.56 EUR",
    "Decode, preprocess, model, postprocess, encode",
    "Memory bandwidth 25 GB/s, peak 95 GFLOPS per core",
    "Keep the reference and the fast path in agreement",
    "Pipelined stages overlap detection and recognition",
    "Never lose a good image because of a bad one",
]


def render_page(lines: list[str], size: int = 28, width: int = 1100, upside_down: bool = False,
                seed: int = 0) -> np.ndarray:
    """A BGR page with ``lines`` of black text on a slightly uneven light background."""
    from PIL import Image, ImageDraw, ImageFont

    from sightspeed.tasks.ocr.fonts import dejavu_sans

    font = ImageFont.truetype(dejavu_sans(), size)
    line_h = int(size * 1.9)
    height = line_h * len(lines) + 2 * size
    rng = np.random.default_rng(seed)
    bg = (235 + rng.integers(0, 15, (height, width, 1))).repeat(3, axis=2).astype(np.uint8)
    page = Image.fromarray(bg)
    draw = ImageDraw.Draw(page)
    for k, line in enumerate(lines):
        draw.text((size, size + k * line_h), line, fill=(20, 20, 20), font=font)
    rgb = np.asarray(page)
    if upside_down:
        rgb = rgb[::-1, ::-1]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def make_pages(folder: Path) -> dict[str, list[str]]:
    """Pages as PNGs in ``folder``; returns file name -> its lines in reading order."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    pages = {
        "page_a.png": (LINES[:5], 30, False),
        "page_b.png": (LINES[5:], 24, False),
        "page_small.png": (LINES[2:7], 20, False),
        "page_upside_down.png": (LINES[:4], 30, True),
    }
    truth = {}
    for k, (name, (lines, size, flip)) in enumerate(pages.items()):
        cv2.imwrite(str(folder / name), render_page(lines, size, upside_down=flip, seed=k))
        truth[name] = list(reversed(lines)) if flip else list(lines)
    blank = np.full((300, 400, 3), 240, np.uint8)
    cv2.imwrite(str(folder / "no_text.png"), blank)
    truth["no_text.png"] = []
    return truth
