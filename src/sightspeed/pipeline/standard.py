"""The stages every run needs: decode at the start, write at the end. A pipeline that has its own keeps them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import InputError
from ..io.decode import DEFAULT_MAX_PIXELS, decode_image, read_bytes, sniff
from ..io.pool import BufferPool
from ..io.write import encode_jpeg, encode_png, write_atomic
from ..profiling import counters
from .item import Item
from .stage import Stage


def decode_stage(pool: BufferPool | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 min_size: tuple[int, int] | None = None) -> Stage:
    """Read the item's file and decode it into ``item.image`` (video frames arrive decoded and pass through)."""

    def decode(item: Item) -> None:
        if item.image is not None:
            return
        data = read_bytes(item.source)
        allocate = None
        if pool is not None:
            def allocate(shape: tuple[int, ...]) -> object:
                buf = pool.take(shape)
                item.borrowed.append(buf)
                return buf
        item.image = decode_image(data, item.source, max_pixels=max_pixels, min_size=min_size, allocate=allocate)
        counters.add(disk_bytes=len(data), **({"jpeg_pixels": item.image.shape[0] * item.image.shape[1]}
                                              if sniff(data) == "JPEG" else {}))
        item.meta["size"] = [int(item.image.shape[1]), int(item.image.shape[0])]

    return Stage("decode", decode)


def imread_stage(max_pixels: int = DEFAULT_MAX_PIXELS) -> Stage:
    """The plain way to decode, for reference variants: ``cv2.imread`` (a file that it cannot read is decoded
    again by :func:`decode_image` only to say why)."""

    def decode(item: Item) -> None:
        import cv2

        if item.image is not None:  # a video frame
            return
        try:
            image = cv2.imread(item.source)
        except cv2.error:  # e.g. a header over OpenCV's own pixel limit
            image = None
        if image is None:
            decode_image(read_bytes(item.source), item.source, max_pixels=max_pixels)
            raise InputError(item.source, "cv2.imread could not read it")
        if image.shape[0] * image.shape[1] > max_pixels:
            raise InputError(item.source, f"{image.shape[1]}x{image.shape[0]} is over the max_pixels limit")
        item.image = image
        counters.add(disk_bytes=os.path.getsize(item.source))
        item.meta["size"] = [image.shape[1], image.shape[0]]

    return Stage("decode", decode)


def write_stage(quality: int = 90, extras: Mapping[str, str] | None = None) -> Stage:
    """Encode ``item.output`` as ``<stem>.jpg`` (atomically) and each ``item.results[key]`` named in ``extras``
    as ``<stem><suffix>`` (``.png`` suffixes as PNG). Video frames are left to the runner's in-order video writer."""
    extras = dict(extras or {})

    def write(item: Item) -> None:
        if "video" in item.meta or item.output_stem is None:
            return
        if item.output is not None:
            item.outputs.append(write_atomic(item.output_stem + ".jpg", encode_jpeg(item.output, quality)))
            counters.add(jpeg_encode_pixels=item.output.shape[0] * item.output.shape[1])
        for key, suffix in extras.items():
            value = item.results.get(key)
            if value is None:
                continue
            data = encode_png(value) if suffix.endswith(".png") else encode_jpeg(value, quality)
            item.outputs.append(write_atomic(item.output_stem + suffix, data))

    return Stage("write", write)
