"""Does a run's cost per image, or its memory, grow with the number of images? The same trivial pipeline (decode,
invert, encode) over 1,000 and over 20,000 small generated JPEGs, each run a fresh `sightspeed run` process.
Prints JSON: per-image wall time and peak RSS of each run, and the ratios (targets: within 10%).

    python benchmarks/growth.py --small 1000 --large 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PIPELINE = '''
from sightspeed import Pipeline, Stage

def invert(item):
    item.output = 255 - item.image

def build():
    return Pipeline([Stage("invert", invert)])
'''


def make_inputs(folder: Path, count: int) -> None:
    import simplejpeg

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tiles = [simplejpeg.encode_jpeg(rng.integers(0, 255, (48, 64, 3), np.uint8), 85, "BGR") for _ in range(16)]
    for k in range(count):
        sub = folder / f"d{k // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"img_{k:06d}.jpg").write_bytes(tiles[k % len(tiles)])


def one_run(workdir: Path, inputs: Path, out: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sightspeed", "run", "growth_pipeline:build", str(inputs), "-o",
                             str(out)], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    rows = sum(1 for _ in open(out / "manifest.jsonl"))
    session = json.loads((out / "session.json").read_text())
    return {"exit": os.waitstatus_to_exitcode(status), "images": rows, "wall_s": round(wall, 2),
            "run_wall_s": round(session["wall_s"], 2), "ms_per_image": round(1000 * session["wall_s"] / rows, 3),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "session_kib": (out / "session.json").stat().st_size // 1024,
            "spans_kept": len(session["spans"]), "spans_seen": session["spans_seen"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "growth_pipeline.py").write_text(PIPELINE)
        runs = {}
        for label, count in (("small", args.small), ("large", args.large)):
            make_inputs(work / label, count)
            runs[label] = one_run(work, work / label, work / f"out_{label}")
    from sightspeed.host import describe

    report = {"benchmark": "growth", "cpu": describe()["cpu"]["model"], "runs": runs,
              "large_over_small": {k: round(runs["large"][k] / runs["small"][k], 3)
                                   for k in ("ms_per_image", "peak_rss_mib")}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
