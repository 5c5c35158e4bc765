"""Portrait composites whose alpha is known, for measuring edges (benchmarks/edges.py, tests/test_edges.py).

A person is cut out of each built-in sample photo and pasted, with that alpha, in front of other backgrounds (the
"old" backdrop the portrait was taken against: flat studio colours and real photos from scikit-image). The
pipeline then replaces that backdrop with a colour; since the alpha is known, so is the right answer,
``person * alpha + colour * (1 - alpha)``, and the error near the edge can be measured.

The cut-out: the selfie segmenter's mask on the original photo (at 0.5) seeds OpenCV's GrabCut, which decides a
12-pixel band around it from the photo's own colours, so the edge is where the photo's edge is, not where the
model put it. The alpha is that hard cut, scaled with the person (a 2-3 pixel anti-aliased edge). No hair strand
or motion blur: real fine structure would need a matting data set, which this repository does not ship.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np

FRAME = (1920, 1080)
BAND = 15  # pixels each side of the true edge
BACKGROUND, GREEN = "color:#00ff00", (0, 255, 0)  # the replacement, and its BGR


@dataclass
class Composite:
    name: str
    path: str  # the composite as a JPEG (what the pipeline reads)
    person: np.ndarray  # HxWx3 uint8: the pasted person's pixels (the backdrop where there is no person)
    alpha: np.ndarray  # HxW float64 in [0, 1]: the true alpha


def cutout(photo: np.ndarray) -> np.ndarray:
    """A person's alpha (float32, 0 or 1) in ``photo``: the segmenter's mask refined by GrabCut (see the module)."""
    import cv2

    from sightspeed.models import fetch
    from sightspeed.runtimes import load

    segmenter = load(fetch("selfie-seg", quiet=True), "litert")
    h, w = photo.shape[:2]
    x = cv2.cvtColor(cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    prob = segmenter.run((x.astype(np.float32) / 255.0)[None])[0][0, :, :, 0]
    seed = (cv2.resize(prob, (w, h)) >= 0.5).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    labels = np.where(seed > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[cv2.erode(seed, kernel, iterations=12) > 0] = cv2.GC_FGD
    labels[cv2.dilate(seed, kernel, iterations=12) == 0] = cv2.GC_BGD
    cv2.setRNGSeed(0)  # GrabCut's k-means start: the same cut on every run
    cv2.grabCut(photo, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_MASK)
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)


def cover(picture: np.ndarray, w: int, h: int) -> np.ndarray:
    """``picture`` scaled to cover w x h and centre-cropped."""
    import cv2

    ph, pw = picture.shape[:2]
    scale = max(w / pw, h / ph)
    big = cv2.resize(picture, (max(w, round(pw * scale)), max(h, round(ph * scale))), interpolation=cv2.INTER_CUBIC)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y:y + h, x:x + w]


def backdrops(w: int, h: int) -> dict[str, np.ndarray]:
    """The old backgrounds, BGR: a blue studio wall (a bluish fringe), a bright one (a glow), and scikit-image's
    bundled photos (busy texture, colours near skin and hair)."""
    import cv2
    from skimage import data

    grey = lambda a: cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)  # noqa: E731
    return {"studio-blue": np.full((h, w, 3), (170, 120, 70), np.uint8),
            "bright": np.full((h, w, 3), (235, 240, 245), np.uint8),
            "coffee": cover(data.coffee()[..., ::-1], w, h), "rocket": cover(data.rocket()[..., ::-1], w, h),
            "chelsea": cover(data.chelsea()[..., ::-1], w, h), "brick": cover(grey(data.brick()), w, h),
            "grass": cover(grey(data.grass()), w, h)}


def composites(folder: str | Path, size: tuple[int, int] = FRAME) -> list[Composite]:
    """Each sample photo's person pasted on each backdrop (bottom-aligned, ~90% of the frame's height, at one of
    three places across it), written as JPEG (quality 92) into ``folder``."""
    import cv2

    from sightspeed.io.decode import read_image
    from sightspeed.samples import sample_paths

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    people = [(photo, cutout(photo)) for photo in (read_image(p) for p in sample_paths(quiet=True))]
    made = []
    for k, (name, backdrop) in enumerate(backdrops(w, h).items()):
        for j, (photo, alpha) in enumerate(people):
            ph = round(h * (0.9 if j == 0 else 0.83))
            pw = round(photo.shape[1] * ph / photo.shape[0])
            x = min(w - pw, round(w * (0.1, 0.36, 0.68)[(k + j) % 3]))
            person, true_alpha = backdrop.copy(), np.zeros((h, w))
            person[h - ph:, x:x + pw] = cv2.resize(photo, (pw, ph), interpolation=cv2.INTER_CUBIC)
            true_alpha[h - ph:, x:x + pw] = np.clip(cv2.resize(alpha, (pw, ph), interpolation=cv2.INTER_LINEAR), 0, 1)
            a3 = true_alpha[..., None]
            image = np.round(person * a3 + backdrop * (1 - a3)).astype(np.uint8)
            path = folder / f"{name}_{j}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            made.append(Composite(f"{name}_{j}", str(path), person, true_alpha))
    return made


def edge_band(alpha: np.ndarray, width: int = BAND) -> np.ndarray:
    """Pixels within ``width`` of the true edge (where alpha crosses 0.5), on either side; the frame's border is no
    edge."""
    import cv2

    inside = (alpha >= 0.5).astype(np.uint8)
    to_outside = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    to_inside = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    return np.where(inside > 0, to_outside, to_inside) <= width


def truth(c: Composite, color: tuple[int, int, int] = GREEN) -> np.ndarray:
    """The right answer: the person on ``color`` (BGR) with the true alpha, float64."""
    return c.person * c.alpha[..., None] + np.array(color, np.float64) * (1 - c.alpha[..., None])


def edge_errors(c: Composite, output: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean |difference| in levels, in the band around the true edge: of the output picture from :func:`truth`
    (all channels), and of the output mask from the true alpha x 255."""
    band = edge_band(c.alpha)
    return {"picture": float(np.abs(output.astype(np.float64) - truth(c))[band].mean()),
            "alpha": float(np.abs(mask.astype(np.float64) - 255.0 * c.alpha)[band].mean())}


def run_edges(edges: str, paths: list[str], out: Path, during: Callable[[], ContextManager] | None = None
              ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[float]]:
    """({input: (output picture, mask)}, the pipeline's ms per image): the fast portrait variant with ``--edges
    edges`` on :data:`BACKGROUND`, serial; the run (not the build, whose warm-up calls the real ops) inside
    ``during()`` when given."""
    import sightspeed
    from sightspeed.io.decode import read_image
    from sightspeed.io.pool import BufferPool
    from sightspeed.tasks import build

    pool = BufferPool()
    pipeline = build("portrait", {"edges": edges, "background": BACKGROUND, "save_mask": True, "quality": 95}, pool)
    with during() if during else contextlib.nullcontext():
        result = sightspeed.run(pipeline, paths, out, executor=sightspeed.Serial(), pool=pool)
    assert result.failed == 0, result.rows
    outputs = {}
    for row in result.rows:
        jpg, png = sorted(row["outputs"], key=lambda o: o.endswith(".png"))
        outputs[row["input"]] = (read_image(jpg), read_image(png)[..., 0])
    return outputs, [sum(row["times_ms"].values()) for row in result.rows]


def errors(made: list[Composite], outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """{composite: :func:`edge_errors`} for one run's ``outputs``."""
    return {c.name: edge_errors(c, *outputs[c.path]) for c in made}


def mean_errors(per_image: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([e[k] for e in per_image.values()])) for k in ("picture", "alpha")}
