"""Inputs for the kernel contracts: several sizes, contiguous and strided (views into larger arrays), each a
``Case`` of the op's arguments. Deterministic (seeded) so a failure reproduces."""

from __future__ import annotations

import numpy as np

from sightspeed.equivalence import Case


def strided(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same values as ``a``, as a non-contiguous view (every other row/column of a larger array)."""
    big = rng.integers(0, 255, (a.shape[0] * 2 + 3, a.shape[1] * 2 + 5) + a.shape[2:]).astype(a.dtype)
    view = big[3::2, 5::2]
    view[...] = a
    return view


def image(rng: np.random.Generator, h: int, w: int, c: int = 3) -> np.ndarray:
    """Smooth gradients plus noise: resamplers see both edges and flat regions."""
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 255 // max(w - 1, 1) + y * 3)[..., None] + np.arange(c) * 40
    return ((base + rng.integers(0, 60, (h, w, c))) % 256).astype(np.uint8)


IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def preprocess(rng):
    for (h, w), size in [((31, 45), (16, 16)), ((240, 320), (64, 48)), ((20, 30), (64, 40)), ((1080, 1920), (640, 640))]:
        img = image(rng, h, w)
        yield Case((img, size), dict(IMAGENET, swap_rb=True))
        yield Case((strided(img, rng), size), dict(scale=1 / 127.5, mean=(1, 1, 1), std=(1, 1, 1), swap_rb=False))
    img = image(rng, 50, 70)
    yield Case((img, (32, 32)), dict(IMAGENET, out=np.zeros((1, 3, 32, 32), np.float32)))
    frame = image(rng, 300, 400)
    yield Case((frame[37:277, 11:331], (224, 224)), dict(IMAGENET))  # a ROI: pixels contiguous, rows not
    # ``out`` a slot of a wider, zero-padded batch (the OCR task's crops): only that slot's pixels are written
    batch = np.zeros((3, 3, 48, 352), np.float32)
    yield Case((image(rng, 31, 420), (300, 48)), dict(mean=(0.5,) * 3, std=(0.5,) * 3, swap_rb=False,
                                                       out=batch[1:2, :, :, :300]))
    yield Case((strided(image(rng, 20, 50), rng), (120, 48)), dict(out=batch[2:3, :, :, 7:127]))
    for (h, w), size in [((9, 2), (5, 7)), ((6, 5), (3, 3)), ((1, 9), (4, 2)), ((8, 1), (3, 4))]:  # tiny edges
        yield Case((image(rng, h, w), size), dict(IMAGENET))
    # NHWC (TFLite models: the portrait task's detector and segmenter), whole frames and ROI views
    for (h, w), size in [((90, 160), (32, 32)), ((300, 400), (256, 256)), ((7, 5), (12, 9))]:
        img = image(rng, h, w)
        yield Case((img, size), dict(layout="nhwc"))  # [0, 1], RGB
        yield Case((strided(img, rng), size), dict(scale=2 / 255, mean=(1, 1, 1), layout="nhwc"))  # [-1, 1]
        yield Case((img[1:-1, 2:], size), dict(IMAGENET, swap_rb=False, layout="nhwc",
                                                 out=np.zeros((1, size[1], size[0], 3), np.float32)))
        wide = np.zeros((1, size[1] + 2, size[0] + 4, 3), np.float32)
        same = image(rng, size[1], size[0])  # already the model's size (a letterboxed canvas): no resample
        yield Case((same, size), dict(layout="nhwc", scale=2 / 255, mean=(1, 1, 1)))
        yield Case((strided(same, rng), size), dict(IMAGENET))
        yield Case((img, size), dict(layout="nhwc", out=wide[:, 1:-1, 2:-2]))  # a strided ``out``


def letterbox(rng):
    for (h, w), size in [((50, 80), (64, 64)), ((80, 50), (64, 48)), ((1080, 1920), (640, 640)), ((7, 9), (32, 32))]:
        img = image(rng, h, w)
        yield Case((img, size), {})
        yield Case((strided(img, rng), size), dict(color=0))
    # area averaging (shrinking: integer and fractional spans; enlarging falls back to bilinear), grey too
    for (h, w), size in [((512, 384), (128, 128)), ((270, 480), (128, 128)), ((100, 37), (64, 48)),
                         ((20, 30), (128, 128))]:
        img = image(rng, h, w)
        yield Case((img, size), dict(color=0, interpolation="area"))
        yield Case((strided(img, rng), size), dict(interpolation="area"))
    yield Case((image(rng, 61, 83, 1)[..., 0], (32, 24)), dict(interpolation="area"))
    frame = np.zeros((70, 90, 3), np.uint8)  # ``out`` a region of a bigger canvas
    yield Case((image(rng, 50, 80), (64, 48)), dict(out=frame[5:53, 7:71]))
    yield Case((image(rng, 90, 60), (64, 48)), dict(out=frame[20:68, 20:84], interpolation="area"))


def crop_resize(rng):
    img = image(rng, 120, 160)
    boxes = np.array([[10, 20, 60, 50], [0.5, 0.5, 159.5, 119.5], [-10, -5, 30, 40], [150, 100, 170, 130],
                      [33.3, 44.4, 35.1, 47.9]], np.float32)
    yield Case((img, boxes, (32, 24)), {})
    yield Case((strided(img, rng), boxes[:2], (48, 16)), {})
    yield Case((img, np.zeros((0, 4), np.float32), (8, 8)), {})
    yield Case((img, boxes[:3], (20, 12)), dict(out=np.zeros((4, 16, 24, 3), np.uint8)[1:, 2:-2, 1:-3]))


def composite(rng):
    for (H, W), (h, w), (x, y) in [((40, 60), (40, 60), (0, 0)), ((120, 160), (50, 70), (30, 40)),
                                   ((1080, 1920), (1000, 1080), (400, 40))]:
        bg = image(rng, H, W)
        fg = image(rng, h, w)[::-1].copy()
        mask = rng.integers(0, 256, (h, w)).astype(np.uint8)
        mask[:, : w // 4] = 0
        mask[:, -w // 4:] = 255
        yield Case((fg, bg, mask), dict(offset=(x, y)))
        yield Case((strided(fg, rng), strided(bg, rng), strided(mask, rng)), dict(offset=(x, y)))


def feather_mask(rng):
    for (h, w), size, sigma in [((64, 64), (160, 120), 0.0), ((64, 64), (160, 120), 1.5), ((256, 256), (1080, 1000), 4.0),
                                ((17, 23), (17, 23), 2.0)]:
        y, x = np.mgrid[0:h, 0:w]
        prob = ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 3) ** 2).astype(np.float32)
        prob = np.clip(prob + rng.normal(0, 0.05, prob.shape).astype(np.float32), 0, 1)
        yield Case((prob, size, sigma), {})
        yield Case((strided(prob, rng), size, sigma), {})
        # one sigma per axis: a square model map stretched to a tall ROI (the portrait task), or one axis unblurred
        for pair in [(sigma, sigma * 0.5 + 0.3), (0.0, 1.2)]:
            yield Case((prob, size, pair), {})
            yield Case((strided(prob, rng), size, pair), {})
        yield Case((prob, size, sigma), dict(out=np.zeros((size[1] + 3, size[0] + 5), np.uint8)[2:-1, 1:-4]))


def soft_disc(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 disc whose edge ramps over ~8 pixels, with noise: an upsampled segmentation mask."""
    y, x = np.mgrid[0:h, 0:w]
    inside = min(h, w) / 3 - np.hypot(x - w / 2, y - h / 2)
    return np.clip(inside * 32 + 128 + rng.normal(0, 4, (h, w)), 0, 255).astype(np.uint8)


def refine_mask(rng):
    # sizes that do and do not divide by subsample, a subsample larger than the mask, a radius wider than it
    for (h, w), radius, subsample, eps in [((40, 60), 3, 1, 1e-4), ((120, 160), 8, 4, 1e-4), ((121, 163), 10, 4, 1e-3),
                                           ((1064, 1257), 10, 4, 1e-4), ((7, 5), 4, 8, 1e-2), ((1, 1), 1, 1, 1e-4),
                                           ((3, 40), 30, 2, 1e-5)]:
        mask, guide = soft_disc(h, w, rng), image(rng, h, w)
        yield Case((mask, guide, radius), dict(eps=eps, subsample=subsample))
        yield Case((strided(mask, rng), strided(guide, rng), radius), dict(eps=eps, subsample=subsample))
    frame = image(rng, 300, 400)  # the guide a ROI of the frame (pixels contiguous, rows not), as the task passes it
    yield Case((soft_disc(240, 320, rng), frame[37:277, 11:331], 6), dict(subsample=2))
    yield Case((soft_disc(50, 70, rng), image(rng, 50, 70), 5), dict(subsample=3,
                                                                       out=np.zeros((53, 75), np.uint8)[2:-1, 1:-4]))


def random_boxes(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    return boxes, rng.permutation(n).astype(np.float32) / max(n, 1) + 0.01  # distinct scores


def nms(rng):
    for n in (0, 1, 50, 300):
        boxes, scores = random_boxes(rng, n)
        for thr in (0.3, 0.5, 0.7):
            yield Case((boxes, scores), dict(iou_threshold=thr))
        yield Case((boxes.astype(np.float64), scores.astype(np.float64)), dict(iou_threshold=0.5))


def weighted_nms(rng):
    for n in (0, 1, 40, 200):
        boxes, scores = random_boxes(rng, n)
        yield Case((boxes, scores), dict(iou_threshold=0.3))


def db_bitmap(rng):
    for shape in [(1, 1), (37, 53), (192, 256)]:
        prob = rng.random(shape).astype(np.float32) * rng.random(shape).astype(np.float32)
        yield Case((prob,), dict(thresh=0.3))
        yield Case((strided(prob, rng),), dict(thresh=0.5))
        yield Case((prob.astype(np.float64),), dict(thresh=0.3))
    prob = rng.random((40, 50)).astype(np.float32)
    yield Case((prob,), dict(out=np.zeros((44, 60), np.uint8)[2:-2, 3:-7]))


def quads(rng, n: int, w: int, h: int) -> np.ndarray:
    centre = rng.uniform([0, 0], [w, h], (n, 2))
    size = rng.uniform([4, 2], [50, 12], (n, 2))
    angle = rng.uniform(-0.3, 0.3, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) / 2
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], 1)
    return (centre[:, None] + np.einsum("nij,nkj->nki", rot, corners[None] * size[:, None])).astype(np.float32)


def box_scores(rng):
    prob = rng.random((96, 128)).astype(np.float32)
    yield Case((prob, quads(rng, 40, 128, 96)), {})
    yield Case((strided(prob, rng), quads(rng, 10, 128, 96)), {})
    yield Case((prob, np.zeros((0, 4, 2), np.float32)), {})


CASES = {name: fn for name, fn in globals().items() if callable(fn) and name in {
    "preprocess", "letterbox", "crop_resize", "composite", "feather_mask", "nms", "weighted_nms", "db_bitmap",
    "box_scores", "refine_mask"}}
