"""The fast variant: simplejpeg into reused buffers; pre/post-processing through the kernel ops that
tests/contracts hold to their references (``preprocess`` for the page and for each crop, written straight into its
batch slot; ``db_bitmap`` and ``box_scores`` for the DB post-processing); crops of several images classified and
recognised together, sorted by width so each batch pads little; stages overlap across images (detection of the
next image runs while this one is recognised); one thread per model, no spinning."""

from __future__ import annotations

import numpy as np

from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...pipeline.standard import decode_stage
from ...profiling import counters
from . import dbnet, text
from .output import write_results
from .text import lines_of


def stages(options, models, pool) -> list[Stage]:
    dbnet.warmup()
    text.warmup()

    def detect(item: Item) -> None:
        item.results["boxes"] = boxes = dbnet.detect_boxes(models, item.image)
        item.results["crops"] = [dbnet.crop(item.image, b) for b in boxes]

    def classify(items: list[Item]) -> None:
        crops = [c for item in items for c in item.results["crops"]]
        if not crops:
            return
        batch = np.zeros((len(crops), 3, text.HEIGHT, text.CLS_WIDTH), np.float32)
        for k, c in enumerate(crops):
            text.fill(batch, k, c, text.resized_width(c, text.CLS_WIDTH))
        probs = models.cls.get().run(batch)[0]
        counters.add(flops=models.cls_flops * len(crops))
        text.rotate_180_where(crops, probs)
        start = 0
        for item in items:  # hand the (possibly turned) crops back
            n = len(item.results["crops"])
            item.results["crops"] = crops[start:start + n]
            start += n

    def recognize(items: list[Item]) -> None:
        owners = [(item, k) for item in items for k in range(len(item.results["crops"]))]
        crops = [item.results["crops"][k] for item, k in owners]
        widths = [text.rec_width(c) for c in crops]
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for padded, chunk in text.width_batches(widths, options.rec_batch):
            batch = np.zeros((len(chunk), 3, text.HEIGHT, padded), np.float32)
            for row, i in enumerate(chunk):
                text.fill(batch, row, crops[i], text.resized_width(crops[i], padded))
            decoded = models.decoder(models.rec.get().run(batch)[0])
            counters.add(flops=models.rec_flops_at(padded) * len(chunk))
            for row, i in enumerate(chunk):
                results[i] = decoded[row]
        start = 0
        for item in items:
            n = len(item.results["crops"])
            item.results["lines"] = lines_of(item.results["boxes"], results[start:start + n])
            item.results.pop("crops")
            start += n

    def write(item: Item) -> None:
        if "video" not in item.meta:
            write_results(item, options.draw, options.strip_metadata)

    return [
        decode_stage(pool, max_pixels=options.max_pixels),
        Stage("detect", detect),
        Stage("classify", classify, batchable=True),
        Stage("recognize", recognize, batchable=True),
        Stage("write", write),
    ]
