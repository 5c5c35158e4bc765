"""``sightspeed bench kernels``: every available backend of every op on one representative input, timed side by
side (backends take turns in rounds of 5 calls after one untimed call, so the machine's noise hits them alike and
no backend is timed on the caches another one just emptied), with achieved GB/s, % of the memory-bandwidth speed
of light, the difference from the reference, and the dispatcher's pick.

By default each call gets the next of several copies of the input, together more than twice the last-level cache
(a stream of frames, as a pipeline sees them): the data comes from memory, which is what a % of the *memory*
bandwidth assumes. ``warm=True`` reuses one input, which then sits in the cache (an FHD preprocess moves 11 MB;
this machine's L3 is 32 MB) and can read above 100% of memory SOL."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..equivalence import Case, equivalence
from . import _registry


@dataclass
class BenchCase:
    """One op's representative call: arguments, and the bytes a perfect kernel must move (read + write)."""

    case: Case
    bytes: int
    what: str


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 255 // max(w - 1, 1))[..., None] + (y * 255 // max(h - 1, 1))[..., None] // 2 + np.arange(3) * 60
    return ((base + rng.integers(0, 24, (h, w, 3))) % 256).astype(np.uint8)


def _boxes(rng: np.random.Generator, n: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, [w * 0.9, h * 0.9], (n, 2))
    wh = rng.uniform(10, 120, (n, 2))
    return np.concatenate([xy, xy + wh], 1), rng.permutation(n) / n


def cases(size: tuple[int, int] = (1920, 1080)) -> dict[str, BenchCase]:
    """The representative input of each op for frames of ``size`` = (width, height)."""
    _registry._load_ops()
    w, h = size
    rng = np.random.default_rng(0)
    frame = _photo(h, w)
    imagenet = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    blob = np.empty((1, 3, 640, 640), np.float32)
    canvas = np.empty((640, 640, 3), np.uint8)
    mask = np.clip((np.arange(w)[None, :] - w / 3) * 255 / (w / 3), 0, 255).astype(np.uint8).repeat(h, 0)
    fg, bg = _photo(h, w, 1), _photo(h, w, 2)
    prob = rng.random((256, 256)).astype(np.float32)
    crops, _ = _boxes(rng, 32, w, h)
    det = rng.random((768, 1024)).astype(np.float32) ** 3
    nms_boxes, nms_scores = _boxes(rng, 2000, w, h)
    quads = np.stack([crops[:, [0, 1]], crops[:, [2, 1]], crops[:, [2, 3]], crops[:, [0, 3]]], 1) * 1024 / w
    # refine_mask: the portrait task's call on a person ROI two thirds of the frame wide (tasks/portrait/geometry.py)
    rw, rh = w * 2 // 3, h
    roi_px = max(rw, rh) / 256  # the segmenter's pixel, in frame pixels
    refine_args = (mask[:rh, :rw], frame[:rh, w - rw:], max(1, round(2 * roi_px)))
    crop_bytes = int(((crops[:, 2] - crops[:, 0]) * (crops[:, 3] - crops[:, 1])).sum() * 3) + 32 * 64 * 128 * 3
    return {
        "preprocess": BenchCase(Case((frame, (640, 640)), dict(imagenet, out=blob)), frame.nbytes + blob.nbytes,
                                f"{w}x{h} BGR -> 1x3x640x640 float32, ImageNet mean/std"),
        "letterbox": BenchCase(Case((frame, (640, 640)), dict(out=canvas)), frame.nbytes + canvas.nbytes,
                               f"{w}x{h} -> 640x640 canvas"),
        "crop_resize": BenchCase(Case((frame, crops, (128, 64)), {}), crop_bytes, "32 boxes -> 32x64x128x3"),
        "composite": BenchCase(Case((fg, bg, mask), dict(out=bg)), fg.nbytes * 3 + mask.nbytes,
                               f"{w}x{h} fg/bg by a mask, in place into bg"),
        "feather_mask": BenchCase(Case((prob, size, 4.0), {}), prob.nbytes + w * h, f"256x256 float -> {w}x{h} uint8"),
        "refine_mask": BenchCase(Case(refine_args, dict(subsample=max(1, int(roi_px)))), rw * rh * 5,
                                 f"{rw}x{rh} mask guided by a ROI of the frame"),
        "nms": BenchCase(Case((nms_boxes, nms_scores), dict(iou_threshold=0.5)), nms_boxes.nbytes, "2000 boxes"),
        "weighted_nms": BenchCase(Case((nms_boxes[:500], nms_scores[:500]), dict(iou_threshold=0.3)),
                                  nms_boxes[:500].nbytes, "500 boxes"),
        "db_bitmap": BenchCase(Case((det,), dict(thresh=0.3)), det.nbytes + det.size, "768x1024 probability map"),
        "box_scores": BenchCase(Case((det, quads), {}), det.nbytes, "32 quadrilaterals on 768x1024"),
    }


@dataclass
class Row:
    op: str
    backend: str
    available: bool
    note: str
    median_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    gb_s: float | None = None
    sol_pct: float | None = None
    max_abs_diff: float | None = None
    within_tolerance: bool | None = None
    picked: bool = False
    copies: int = 1  # distinct inputs the calls rotate over (1: warm, the same input every call)


def _once(fn: Callable[..., Any], case: Case) -> float:
    start = time.perf_counter()
    fn(*case.args, **case.kwargs)
    return time.perf_counter() - start


def footprint(case: Case) -> int:
    """Bytes of the arrays a call touches (its array arguments, ``out`` included, each counted once)."""
    arrays = {id(a): a for a in (*case.args, *case.kwargs.values()) if isinstance(a, np.ndarray)}
    return sum(a.nbytes for a in arrays.values())


def streamed(case: Case, cache: int | None = None, most: int = 16) -> list[Case]:
    """Independent copies of ``case`` (arrays copied; an ``out`` that is one of the inputs stays that input) whose
    arrays together are at least twice ``cache`` (default: this machine's last-level cache), at most ``most``."""
    if cache is None:
        from ..host import last_level_cache

        cache = last_level_cache()
    count = max(2, min(most, math.ceil(2 * cache / max(footprint(case), 1))))
    return [case] + [copy.deepcopy(case) for _ in range(count - 1)]


class Rotation:
    """Hands out the next copy on each call."""

    def __init__(self, copies: list[Case]):
        self.copies, self.i = copies, 0

    def next(self) -> Case:
        self.i = (self.i + 1) % len(self.copies)
        return self.copies[self.i]


def bench(ops: list[str] | None = None, size: tuple[int, int] = (1920, 1080), repeats: int = 20,
          mem_bw: float | None = None, backends: list[str] | None = None, warm: bool = False) -> list[Row]:
    """Time every available backend of ``ops`` (default: all) on :func:`cases`; ``mem_bw`` in bytes/s is the
    speed-of-light ceiling, e.g. ``sightspeed.profiling.machine.ceilings()["mem_bw_all"]`` (None: no % SOL).
    Inputs are :func:`streamed` unless ``warm``."""
    all_cases = cases(size)
    rows: list[Row] = []
    for name in ops or list(all_cases):
        op = _registry.get(name)
        bc = all_cases[name]
        picked, _ = op.pick()
        runnable: dict[str, Callable[..., Any]] = {}
        for backend in op.backends():
            if backends and backend not in backends and backend != "numpy":
                continue
            ok, why = op.available(backend)
            row = Row(name, backend, ok, why, picked=(backend == picked))
            rows.append(row)
            if not ok:
                continue
            fn = runnable[backend] = op.implementation(backend)
            check = equivalence(op.reference, fn, [bc.case], op.tolerance_of(backend, bc.case.kwargs), repeats=0)
            row.max_abs_diff, row.within_tolerance = check.max_abs, check.ok
        inputs = Rotation([bc.case] if warm else streamed(bc.case))
        times: dict[str, list[float]] = {b: [] for b in runnable}
        slow = {b for b in runnable if _once(runnable[b], bc.case) > 0.5}  # the warm-up call doubles as a probe
        per_round = min(5, repeats)
        for r in range(max(1, repeats // per_round)):
            for b, fn in runnable.items():
                if b in slow and r >= 1:
                    continue  # a slow reference needs no 20 samples to show it is slow
                _once(fn, inputs.next())  # untimed: the previous backend left the caches cold
                times[b].extend(_once(fn, inputs.next()) for _ in range(per_round))
        for row in rows:
            if row.op == name and row.backend in times:
                t = np.array(times[row.backend]) * 1e3
                row.median_ms, row.min_ms, row.max_ms = float(np.median(t)), float(t.min()), float(t.max())
                row.gb_s = bc.bytes / (row.median_ms / 1e3) / 1e9
                row.sol_pct = 100 * (bc.bytes / mem_bw) / (row.median_ms / 1e3) if mem_bw else None
                row.copies = len(inputs.copies)
    return rows


def rescale_sol(rows: list[Row], timed_against: float, ceiling: float) -> None:
    """Restate the rows' % SOL against ``ceiling`` (bytes/s) instead of the ``timed_against`` they were computed
    with: benchmarks measure the bandwidth before and after and keep the higher, the conservative ceiling."""
    for row in rows:
        if row.sol_pct is not None:
            row.sol_pct *= timed_against / ceiling


def fastest(rows: list[Row]) -> dict[str, str]:
    """{op: the backend with the lowest median time among those within tolerance}: what ``--save`` stores."""
    best: dict[str, Row] = {}
    for row in rows:
        if row.median_ms is None or not row.within_tolerance:
            continue
        if row.op not in best or row.median_ms < best[row.op].median_ms:
            best[row.op] = row
    return {op: row.backend for op, row in best.items()}


def as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
