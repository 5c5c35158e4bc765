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
