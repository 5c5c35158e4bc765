"""Before/after crops for docs/edges.md, made by benchmarks/edges.py ``--crops FOLDER``: at the top of the head and
at a shoulder, side by side, the truth (or the input), ``--edges soft`` and ``--edges refined``, each on the
replacement colour. Native pixels (no scaling), PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

SIDE = 160  # crop size, pixels
SHOWN = {"studio-blue_0": "a blue studio wall (the bluish fringe at the shoulders)",
         "bright_1": "a bright wall (the glow around a coat)"}


def edge_points(alpha: np.ndarray) -> list[tuple[int, int]]:
    """(y, x) centres of two crops: the top of the head, and the person's left edge 40% of the way down."""
    ys, xs = np.nonzero(alpha >= 0.5)
    top = int(ys.min())
    row = top + int(0.4 * (alpha.shape[0] - top))
    return [(top + SIDE // 3, int(np.median(xs[ys == top]))), (row, int(np.nonzero(alpha[row] >= 0.5)[0].min()))]


def crop(image: np.ndarray, y: int, x: int) -> np.ndarray:
    h, w = image.shape[:2]
    y0, x0 = min(max(0, y - SIDE // 2), h - SIDE), min(max(0, x - SIDE // 2), w - SIDE)
    return image[y0:y0 + SIDE, x0:x0 + SIDE]


def sheet(panels: list[tuple[str, np.ndarray]], points: list[tuple[int, int]]) -> np.ndarray:
    """One row per point, one column per labelled panel."""
    import cv2

    rows = []
    for y, x in points:
        tiles = []
        for label, image in panels:
            tile = np.ascontiguousarray(crop(image, y, x))
            for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                cv2.putText(tile, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, thickness, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(cv2.hconcat(tiles))
    return cv2.vconcat(rows)


def write_crops(folder: Path, made: list, outputs: dict, run_one: Callable[[str, str], tuple]) -> list[str]:
    """The composites in :data:`SHOWN` (truth | soft | refined, from ``outputs[edges][path]``) and the first sample
    photo itself (input | soft | refined, made by ``run_one(edges, path)`` -> (picture, mask): no truth there, the
    real case). Returns the files written."""
    import cv2

    from sightspeed.io.decode import read_image
    from sightspeed.samples import sample_paths

    from _cutouts import truth

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for c in made:
        if c.name in SHOWN:
            panels = [("truth", np.round(truth(c)).astype(np.uint8))]
            panels += [(e, outputs[e][c.path][0]) for e in ("soft", "refined")]
            written.append(_save(folder / f"edges-{c.name}.png", sheet(panels, edge_points(c.alpha))))
    photo = sample_paths(quiet=True)[0]
    soft, refined = (run_one(e, photo) for e in ("soft", "refined"))
    points = edge_points(refined[1] / 255.0)
    panels = [("input", read_image(photo)), ("soft", soft[0]), ("refined", refined[0])]
    written.append(_save(folder / "edges-sample-photo.png", sheet(panels, points)))
    assert all(cv2.imread(p) is not None for p in written)
    return written


def _save(path: Path, image: np.ndarray) -> str:
    import cv2

    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return str(path)
