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

HEIGHT = 48
CLS_WIDTH = 192
REC_MIN_WIDTH = 320
CLS_THRESH = 0.9
TEXT_SCORE = 0.5


def resized_width(crop: np.ndarray, cap: int) -> int:
    h, w = crop.shape[:2]
    return min(cap, int(math.ceil(HEIGHT * w / h)))


def fill(batch: np.ndarray, k: int, crop: np.ndarray, width: int) -> None:
    """Write crop ``k`` resized to HEIGHT x ``width`` and normalised into ``batch[k]`` (pre-zeroed)."""
    import cv2

    resized = cv2.resize(crop, (width, HEIGHT))
    batch[k, :, :, :width] = cv2.dnn.blobFromImage(resized, 1 / 127.5, mean=(127.5, 127.5, 127.5))[0]


def tensor_reference(crop: np.ndarray, width: int, padded: int) -> np.ndarray:
    """The plain way for one crop: resize, float64 normalise, CHW, pad to ``padded``."""
    import cv2

    resized = cv2.resize(crop, (width, HEIGHT)).astype(np.float64)
    x = ((resized / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    out = np.zeros((1, 3, HEIGHT, padded), np.float32)
    out[0, :, :, :width] = x
    return out


def rec_width(crop: np.ndarray) -> int:
    """The recogniser input width for this crop: its aspect at height 48, at least 320, rounded up to a multiple
    of 32. Every crop is padded to this, alone or in a batch: the recogniser attends across the whole line, so
    padding changes what it reads, and fixed per-crop padding makes batched and one-by-one results the same.

    >>> rec_width(np.zeros((48, 100, 3))), rec_width(np.zeros((48, 700, 3))), rec_width(np.zeros((24, 400, 3)))
    (320, 704, 800)
    """
    h, w = crop.shape[:2]
    return max(REC_MIN_WIDTH, -(-int(HEIGHT * w / h) // 32) * 32)


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
