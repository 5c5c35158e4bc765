"""Angle classification and recognition of text crops: input tensors, batches, CTC decoding.

Both models take BGR crops resized to height 48 keeping aspect (width capped), normalised (x / 255 - 0.5) / 0.5,
right-padded with zeros. The classifier's width is 192; the recogniser's is the batch's widest crop, at least 320
(48 x 320/48, as PP-OCR trains it). Recognition output is [N, T, 6625]: per time step a distribution over blank +
the 6623 characters in the model's metadata + space; greedy CTC decoding takes the argmax per step, merges
repeats, drops blanks, and scores a line by the mean probability of the characters it kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ... import kernels
from .published import (CLS_THRESH, CLS_WIDTH, HEIGHT, MEAN, REC_MIN_WIDTH, REC_WIDTH_STEP, SCALE, STD,
                        TEXT_SCORE)

__all__ = ["CLS_THRESH", "CLS_WIDTH", "HEIGHT", "REC_MIN_WIDTH", "TEXT_SCORE", "CtcDecoder", "fill", "lines_of",
           "rec_width", "resized_width", "rotate_180_where", "width_batches"]


def resized_width(crop: np.ndarray, cap: int) -> int:
    h, w = crop.shape[:2]
    return min(cap, int(math.ceil(HEIGHT * w / h)))


# The crops' resize must be OpenCV's own, bit for bit: the recogniser reads a space or not on a one-level change
# of its input (the fused cython resampler, one level from OpenCV's on some pixels, changed the spaces in 2 of the
# 19 lines of tests/test_ocr.py). PP-OCR, RapidOCR and the reference variant resize with cv2.resize; the opencv
# backend does, and costs the same as cython's at crop sizes (~0.15 ms per 48 x 300 crop, both).
CROP_BACKEND = "opencv"


def fill(batch: np.ndarray, k: int, crop: np.ndarray, width: int) -> None:
    """Write crop ``k`` resized to HEIGHT x ``width`` and normalised into ``batch[k]`` (pre-zeroed), in place: the
    ``preprocess`` kernel op writes into the batch's (strided) slot."""
    kernels.preprocess(crop, (width, HEIGHT), mean=MEAN, std=STD, scale=SCALE, swap_rb=False,
                       out=batch[k:k + 1, :, :, :width], backend=CROP_BACKEND)


def warmup() -> None:
    """Import the kernel ``fill`` calls (a JIT compile, for numba) outside any timed region."""
    batch = np.zeros((1, 3, HEIGHT, 64), np.float32)
    kernels.preprocess.warmup(CROP_BACKEND, lambda: ((np.zeros((20, 40, 3), np.uint8), (40, HEIGHT)),
                                                     dict(mean=MEAN, std=STD, swap_rb=False, out=batch[:, :, :, :40])))


def rec_width(crop: np.ndarray) -> int:
    """The recogniser input width for this crop: its aspect at height 48, at least 320, rounded up to a multiple
    of 32. Every crop is padded to this, alone or in a batch: the recogniser attends across the whole line, so
    padding changes what it reads, and fixed per-crop padding makes batched and one-by-one results the same.

    >>> rec_width(np.zeros((48, 100, 3))), rec_width(np.zeros((48, 700, 3))), rec_width(np.zeros((24, 400, 3)))
    (320, 704, 800)
    """
    h, w = crop.shape[:2]
    return max(REC_MIN_WIDTH, -(-int(HEIGHT * w / h) // REC_WIDTH_STEP) * REC_WIDTH_STEP)


def width_batches(widths: Sequence[int], size: int) -> list[tuple[int, list[int]]]:
    """Indices grouped by equal input width (so no crop is padded beyond its own width), at most ``size`` each.

    >>> width_batches([320, 704, 320, 320], 2)
    [(320, [0, 2]), (320, [3]), (704, [1])]
    """
    groups: dict[int, list[int]] = {}
    for i, w in enumerate(widths):
        groups.setdefault(w, []).append(i)
    return [(w, idx[k:k + size]) for w, idx in sorted(groups.items()) for k in range(0, len(idx), size)]


def rotate_180_where(crops: list[np.ndarray], probs: np.ndarray) -> list[bool]:
    """Turn crops the classifier calls upside down (label 180 with probability >= 0.9); returns which."""
    import cv2

    flipped = []
    for k, p in enumerate(probs):
        flip = bool(p.argmax() == 1 and p[1] >= CLS_THRESH)
        if flip:
            crops[k] = cv2.rotate(crops[k], cv2.ROTATE_180)
        flipped.append(flip)
    return flipped


def lines_of(boxes: np.ndarray, texts: list[tuple[str, float]]) -> list[dict]:
    """The result rows: box (4 corners), text, score; lines under the text score threshold are dropped."""
    return [{"box": box.astype(int).tolist(), "text": text, "score": round(score, 5)}
            for box, (text, score) in zip(boxes, texts) if score >= TEXT_SCORE]


class CtcDecoder:
    """Greedy CTC over the model's character list (index 0 = blank, last = space)."""

    def __init__(self, characters: Sequence[str]) -> None:
        self.chars = np.array(["", *characters, " "], dtype=object)

    def __call__(self, probs: np.ndarray, steps: Sequence[int] | None = None) -> list[tuple[str, float]]:
        """probs [N, T, C] -> (text, score) per row; ``steps[i]`` limits row i to its own (unpadded) time steps."""
        idx = probs.argmax(axis=2)
        best = probs.max(axis=2)
        out = []
        for i in range(len(idx)):
            n = steps[i] if steps is not None else idx.shape[1]
            row, conf = idx[i, :n], best[i, :n]
            keep = row != 0
            keep[1:] &= row[1:] != row[:-1]
            text = "".join(self.chars[row[keep]])
            out.append((text, float(conf[keep].mean()) if keep.any() else 0.0))
        return out
