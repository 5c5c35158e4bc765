"""The stages every run needs: decode at the start, write at the end. A pipeline that has its own keeps them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import InputError
from ..io.decode import DEFAULT_MAX_PIXELS, check_file, decode_image, read_bytes, sniff
from ..io.metadata import read_metadata
from ..io.pool import BufferPool
from ..io.write import encode_image, write_atomic
from ..profiling import counters
from .item import Item
from .stage import Stage


def decode_stage(pool: BufferPool | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 min_size: tuple[int, int] | None = None) -> Stage:
    """Read the item's file and decode it into ``item.image``, and its ICC profile, EXIF and XMP into
    ``item.metadata`` (video frames arrive decoded and pass through)."""

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
        fmt = sniff(data)
        item.metadata = read_metadata(data, fmt)  # a walk over the headers' segments: microseconds
        counters.add(disk_bytes=len(data), **({"jpeg_pixels": item.image.shape[0] * item.image.shape[1]}
                                              if fmt == "JPEG" else {}))
        item.meta["size"] = [int(item.image.shape[1]), int(item.image.shape[0])]

    return Stage("decode", decode)


def imread_stage(max_pixels: int = DEFAULT_MAX_PIXELS) -> Stage:
    """The plain way to decode, for reference variants: ``cv2.imread`` (a file that it cannot read is decoded
    again by :func:`decode_image` only to say why). The file's header is checked first, as the fast path's
    decoder checks it (same reasons): imread would allocate and fill whatever size the header claims."""

    def decode(item: Item) -> None:
        import cv2

        if item.image is not None:  # a video frame
            return
        check_file(item.source, max_pixels)  # a 25 KB TIFF may claim 30000x30000: refused before imread
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


def write_stage(quality: int = 90, extras: Mapping[str, str] | None = None, *, suffix: str = ".jpg",
                strip_metadata: bool = False) -> Stage:
    """Encode ``item.output`` as ``<stem><suffix>`` (``.jpg``, or ``.png``: lossless), atomically, carrying the
    input's ICC profile, EXIF and XMP (``item.metadata``) unless ``strip_metadata``; and each ``item.results[key]``
    named in ``extras`` as ``<stem><extra suffix>`` (``.png`` suffixes as PNG), without metadata: an extra is data
    the task made (a mask's values are coverage, not colours: a profile would have viewers colour-manage them), not
    the photo. Video frames are left to the runner's in-order video writer.

    >>> write_stage(suffix=".png").fn.suffix
    '.png'
    """
    if suffix not in (".jpg", ".png"):
        raise ValueError(f"write_stage: suffix must be .jpg or .png, not {suffix!r}")
    return Stage("write", ImageWriter(quality, dict(extras or {}), suffix, strip_metadata))


@dataclass(frozen=True)
class ImageWriter:
    """The standard write stage's function (see :func:`write_stage`); a dataclass, so a run can turn its
    ``strip_metadata`` on (:func:`stripped`) whoever built the stage."""

    quality: int = 90
    extras: Mapping[str, str] = field(default_factory=dict)
    suffix: str = ".jpg"
    strip_metadata: bool = False

    def __call__(self, item: Item) -> None:
        if "video" in item.meta or item.output_stem is None:
            return
        if item.output is not None:
            data, notes = encode_image(item.output, self.suffix, self.quality,
                                       None if self.strip_metadata else item.metadata)
            item.outputs.append(write_atomic(item.output_stem + self.suffix, data))
            item.notes += notes
            if self.suffix == ".jpg":
                counters.add(jpeg_encode_pixels=item.output.shape[0] * item.output.shape[1])
        for key, suffix in self.extras.items():
            value = item.results.get(key)
            if value is None:
                continue
            data, _ = encode_image(value, ".png" if suffix.endswith(".png") else ".jpg", self.quality)
            item.outputs.append(write_atomic(item.output_stem + suffix, data))


def stripped(stages: Sequence[Stage]) -> list[Stage]:
    """``stages`` with each standard write stage's ``strip_metadata`` on (``--strip-metadata``: outputs carry no
    ICC profile, EXIF or XMP); other stages as they are."""
    return [dataclasses.replace(s, fn=dataclasses.replace(s.fn, strip_metadata=True))
            if isinstance(s.fn, ImageWriter) else s for s in stages]
