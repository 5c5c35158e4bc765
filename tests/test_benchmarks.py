"""The benchmark scripts still run and print the JSON the docs quote (their numbers are not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_portrait_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "portrait.py"), "--images", "2", "--rounds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["images"] == 2 and set(report["images_per_s"]) >= {"reference", "fast"}
    assert report["fast_over_reference"]["median"] > 0
    assert set(report["stage_cpu_ms_per_item"]["fast"]) == {"decode", "detect", "segment", "composite", "write"}


def test_kernels_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kernels.py"), "--rounds", "1", "--calls", "1",
                           "--repeats", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert set(report["targets"]) == {"preprocess", "composite"}
    for target in report["targets"].values():
        assert target["sol_ms"] > 0 and target["stream_copies"] >= 2
        for mode in ("stream", "warm"):
            assert target[mode]["best"] != "naive" and target[mode]["best_pct_sol"]["median"] > 0
    assert {row["op"] for row in report["all_ops"]} >= {"preprocess", "composite", "nms", "box_scores"}
