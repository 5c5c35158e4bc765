"""The reference variant: the plain way. Per image: cv2.imread, float64 normalisation, detection, then per box a
crop, a batch-of-one angle classification and a batch-of-one recognition at the crop's own width. The oracle."""

from __future__ import annotations

from ...errors import InputError
from ...io.decode import read_image
from ...pipeline.item import Item
from ...pipeline.stage import Stage
from ...profiling import counters
from . import dbnet, text
from .output import write_results
from .task import lines_of


def stages(options, models, pool) -> list[Stage]:
    import cv2

    def decode(item: Item) -> None:
        if item.image is not None:
            return
        try:
            image = cv2.imread(item.source)
        except cv2.error:
            image = None
        if image is None:
            read_image(item.source, max_pixels=options.max_pixels)  # only to raise an InputError that says why
            raise InputError(item.source, "cv2.imread could not read it")
        item.image = image
        item.meta["size"] = [image.shape[1], image.shape[0]]

    def detect(item: Item) -> None:
        h, w = item.image.shape[:2]
        x = dbnet.preprocess_reference(item.image)
        prob = models.det.get().run(x)[0][0, 0]
        counters.add(flops=models.det_flops_per_px * x.shape[2] * x.shape[3])
        item.results["boxes"], _ = dbnet.db_boxes(prob, h, w)

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

    return [Stage("decode", decode), Stage("detect", detect, threads=options.threads),
            Stage("recognize", recognize, threads=options.threads), Stage("write", write)]


