"""Writing OCR results: one JSON per image (and, on request, the image with its boxes drawn)."""

from __future__ import annotations

import json

import numpy as np

from ...io.write import encode_image, write_atomic
from ...pipeline.item import Item


def result_json(item: Item) -> bytes:
    """{"input", "size": [w, h], "lines": [{"box": 4 corners, "text", "score"}, ...]}, a text line per line."""
    h, w = item.image.shape[:2]
    rows = [json.dumps(line, ensure_ascii=False) for line in item.results.get("lines", [])]
    body = ",\n  ".join(rows)
    head = f'{{"input": {json.dumps(item.source, ensure_ascii=False)}, "size": [{w}, {h}], "lines": ['
    return (head + (f"\n  {body}\n" if rows else "") + "]}\n").encode()


def drawn(item: Item) -> np.ndarray:
    import cv2

    canvas = item.image.copy()
    for line in item.results.get("lines", []):
        cv2.polylines(canvas, [np.array(line["box"], np.int32)], True, (0, 0, 255), 2)
    return canvas


def write_results(item: Item, draw: bool, strip_metadata: bool = False) -> None:
    """The JSON, and with ``draw`` the page with its boxes as JPEG: the photo still, so it carries the input's ICC
    profile, EXIF and XMP unless ``strip_metadata``."""
    if item.output_stem is None:
        return
    item.outputs.append(write_atomic(item.output_stem + ".json", result_json(item)))
    if draw:
        data, notes = encode_image(drawn(item), metadata=None if strip_metadata else item.metadata)
        item.outputs.append(write_atomic(item.output_stem + ".jpg", data))
        item.notes += notes
