"""The reference variant: the plain way. Per image: cv2.imread, float64 normalisation, detection, then per box a
crop, a batch-of-one angle classification and a batch-of-one recognition at the crop's own width. The oracle."""

from __future__ import annotations

from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...pipeline.standard import imread_stage
from ...profiling import counters
from . import dbnet, text
from .output import write_results
from .task import detect_boxes, lines_of


def stages(options, models, pool) -> list[Stage]:
    def detect(item: Item) -> None:
        item.results["boxes"] = detect_boxes(models, item.image, dbnet.preprocess_reference)

    def recognize(item: Item) -> None:
        texts = []
        for box in item.results["boxes"]:
            crop = dbnet.crop(item.image, box)
            cls_in = text.tensor_reference(crop, text.resized_width(crop, text.CLS_WIDTH), text.CLS_WIDTH)
            probs = models.cls.get().run(cls_in)[0]
            crops = [crop]
            text.rotate_180_where(crops, probs)
            width = text.rec_width(crops[0])
            rec_in = text.tensor_reference(crops[0], text.resized_width(crops[0], width), width)
            texts.extend(models.decoder(models.rec.get().run(rec_in)[0]))
            counters.add(flops=models.cls_flops + models.rec_flops_at(width))
        item.results["lines"] = lines_of(item.results["boxes"], texts)

    def write(item: Item) -> None:
        if "video" not in item.meta:
            write_results(item, options.draw)

    return [imread_stage(options.max_pixels), Stage("detect", detect, threads=options.threads),
            Stage("recognize", recognize, threads=options.threads), Stage("write", write)]


