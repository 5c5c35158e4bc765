"""Edges: ``--edges soft`` (the feathered mask) against ``--edges refined`` (the mask upsampled, then the
``refine_mask`` guided filter) on FHD portraits whose alpha is known (benchmarks/_cutouts.py: each sample photo's
person pasted in front of 7 backdrops), background replaced by a colour. Prints JSON:

- ``error_levels``: mean |difference| in a +-15 px band around the true edge, of the output picture from the true
  composite and of the saved mask from the true alpha; also the refined path without its filter (upsampled
  only) and with a grey guide, to show what each part does, and how the error moves with the filter's settings;
- ``cost``: ``refine_mask`` per image on the task's own ROI inputs, each backend in alternating rounds
  (min/median/max ms), against the whole fast pipeline's time per image, soft and refined in alternating rounds.

    python benchmarks/edges.py --rounds 5 --crops docs/img
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import numpy as np  # noqa: E402

from sightspeed import kernels  # noqa: E402
from sightspeed.tasks.portrait import fast, geometry  # noqa: E402

from _cutouts import BACKGROUND, BAND, composites, errors, mean_errors, run_edges  # noqa: E402


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """``obj.name = value`` within the block (the ablations swap the task's filter or its settings)."""
    before = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, before)


REFINE = kernels.refine_mask  # the op itself, kept while the ablations swap the name the task calls


def unfiltered(mask, guide, radius, eps, subsample, out=None):  # noqa: ANN001, ANN201 - refine_mask's signature
    return mask


def grey_guided(mask, guide, radius, eps, subsample, out=None):  # noqa: ANN001, ANN201
    """The guide's luma in all three channels: the colour filter then is the grey-guide filter (with eps / 3)."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(guide), cv2.COLOR_BGR2GRAY)
    return REFINE(mask, np.dstack([grey] * 3), radius, eps, subsample, out=out)


def ablations() -> dict[str, Callable[[], contextlib.AbstractContextManager]]:
    """Variants of the refined path: without the filter, a grey guide, other radii (segmenter pixels) and eps."""
    found = {"upsampled, no filter": lambda: patched(kernels, "refine_mask", unfiltered),
             "grey guide": lambda: patched(kernels, "refine_mask", grey_guided)}
    for radius in (1, 3):
        found[f"radius {radius}"] = lambda r=radius: patched(geometry, "REFINE_RADIUS", r)
    for eps in (1e-3, 1e-5):
        found[f"eps {eps:g}"] = lambda e=eps: patched(fast, "REFINE_EPS", e)
    return found


def captured_inputs(paths: list[str], out: Path) -> list[tuple[tuple, dict]]:
    """The refine_mask calls one refined run makes (the guide kept as a ROI view of an FHD frame, as the task
    passes it)."""
    calls = []

    def record(mask, guide, radius, eps, subsample, out=None):  # noqa: ANN001, ANN202
        h, w = mask.shape
        frame = np.zeros((max(h, 1080), max(w, 1920), 3), np.uint8)
        x = (frame.shape[1] - w) // 2
        frame[:h, x:x + w] = guide
        calls.append(((mask.copy(), frame[:h, x:x + w], radius, eps, subsample), {}))
        return REFINE(mask, guide, radius, eps, subsample, out=out)

    run_edges("refined", paths, out, lambda: patched(kernels, "refine_mask", record))
    return calls


def refine_cost(calls: list[tuple[tuple, dict]], rounds: int) -> dict[str, Any]:
    """Per-call ms of each available backend on the captured inputs, backends taking turns each round."""
    backends = [b for b in REFINE.backends() if REFINE.available(b)[0] and b in ("numpy", "opencv", "numba")]
    impls = {b: REFINE.implementation(b) for b in backends}
    for fn in impls.values():  # untimed: numba's JIT (or its cache load)
        fn(*calls[0][0])
    times: dict[str, list[float]] = {b: [] for b in backends}
    for r in range(rounds):
        for b, fn in impls.items():
            for args, kwargs in calls if b != "numpy" or r == 0 else calls[:2]:  # the reference: enough to show it
                start = time.perf_counter()
                fn(*args, **kwargs)
                times[b].append((time.perf_counter() - start) * 1e3)
    return {"picked": REFINE.pick()[0],
            "roi_sizes": sorted({f"{args[0].shape[1]}x{args[0].shape[0]}" for args, _ in calls}),
            "radius_subsample": sorted({f"{args[2]}/{args[4]}" for args, _ in calls}),
            "ms_per_image": {b: spread(t) for b, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (the errors need one run each)")
    parser.add_argument("--crops", type=Path, help="also write before/after crops as PNG into this folder")
    args = parser.parse_args()
    from sightspeed.host import describe

    cpu = describe()["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        made = composites(tmp / "in")
        paths = [c.path for c in made]
        outputs, per_image, pipeline_ms = {}, {}, {"soft": [], "refined": []}
        for r in range(args.rounds):  # alternating: the machine's noise hits both alike
            for edges in ("soft", "refined"):
                outputs[edges], ms = run_edges(edges, paths, tmp / f"{edges}{r}")
                pipeline_ms[edges].append(statistics.median(ms))
        for edges in ("soft", "refined"):
            per_image[edges] = errors(made, outputs[edges])
        for name, swap in ablations().items():
            per_image[name] = errors(made, run_edges("refined", paths, tmp / name.replace(" ", "-"), swap)[0])
        cost = refine_cost(captured_inputs(paths, tmp / "captured"), args.rounds)
        crops = []
        if args.crops:
            from _edge_crops import write_crops

            crops = write_crops(args.crops, made, outputs,
                                lambda edges, path: run_edges(edges, [path], tmp / f"photo-{edges}")[0][path])
    mean = {k: mean_errors(v) for k, v in per_image.items()}
    picked = cost["ms_per_image"][cost["picked"]]["median"]
    report = {
        "benchmark": "edges", "cpu": f"{cpu['model']} ({cpu['logical_cores']} logical cores)",
        "composites": len(made), "frame": "1920x1080", "band_px": BAND, "background": BACKGROUND,
        "rounds": args.rounds,
        "error_levels": mean,
        "refined_error_reduction_pct": {k: 100 * (1 - mean["refined"][k] / mean["soft"][k])
                                        for k in ("picture", "alpha")},
        "per_image_reduction_pct": {k: spread([100 * (1 - per_image["refined"][n][k] / per_image["soft"][n][k])
                                               for n in per_image["soft"]]) for k in ("picture", "alpha")},
        "per_image_error_levels": {n: {v: per_image[v][n] for v in ("soft", "refined")} for n in per_image["soft"]},
        "cost": {**cost,
                 "pipeline_ms_per_image": {k: spread(v) for k, v in pipeline_ms.items()},
                 "refine_pct_of_refined_pipeline": 100 * picked / statistics.median(pipeline_ms["refined"])},
        "crops": crops,
    }
    print(json.dumps(rounded(report), indent=2))


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
