"""The benchmark scripts still run and print the JSON the docs quote: its structure and the arithmetic between its
numbers (ratios, % SOL) are asserted here, never the speeds themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_portrait_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "portrait.py"), "--images", "2", "--rounds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["images"] == 2 and report["rounds"] == 1 and set(report["images_per_s"]) >= {"reference", "fast"}
    rates = {k: v["median"] for k, v in report["images_per_s"].items()}
    for spread in (*report["images_per_s"].values(), report["fast_over_reference"]):
        assert spread["min"] == spread["median"] == spread["max"]  # one round: one sample each
    # the ratio is the two rates' (each rounded to 3 decimals in the JSON, hence the tolerance)
    assert report["fast_over_reference"]["median"] == pytest.approx(rates["fast"] / rates["reference"], rel=0.01)
    assert set(report["stage_cpu_ms_per_item"]["fast"]) == {"decode", "detect", "segment", "composite", "write"}


def test_kernels_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kernels.py"), "--rounds", "1", "--calls", "1",
                           "--repeats", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert set(report["targets"]) == {"preprocess", "composite"}
    bw = report["mem_bw_all_gb_s"]
    assert bw["used"] == max(bw["before"], bw["after"])  # the conservative ceiling: the higher bandwidth
    for target in report["targets"].values():
        assert target["sol_ms"] == pytest.approx(target["bytes"] / (bw["used"] * 1e9) * 1e3, rel=1e-9)
        assert target["stream_copies"] >= 2
        for mode in ("stream", "warm"):
            m = target[mode]
            assert m["best"] != "naive" and m["best"] in m["median_ms"]
            assert m["best"] == min((b for b in m["median_ms"] if b != "naive"), key=m["median_ms"].get)
            for spread in (m["best_pct_sol"], m["best_over_naive"]):  # one round: one sample each
                assert spread["min"] == spread["median"] == spread["max"]
            # % SOL is the speed-of-light time over the best backend's time; the ratio is naive's over best's
            assert m["best_pct_sol"]["median"] == pytest.approx(100 * target["sol_ms"] / m["median_ms"][m["best"]])
            assert m["best_over_naive"]["median"] == pytest.approx(m["median_ms"]["naive"] / m["median_ms"][m["best"]])
    assert {row["op"] for row in report["all_ops"]} >= {"preprocess", "composite", "nms", "box_scores"}
    for row in report["all_ops"]:  # restated against the same ceiling as the targets
        if row["median_ms"] is not None:
            assert row["sol_pct"] == pytest.approx(100 * row["gb_s"] / bw["used"]), row


def test_growth_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "growth.py"), "--small", "20", "--large", "60"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    small, large = report["runs"]["small"], report["runs"]["large"]
    assert small["images"] == 20 and large["images"] == 60 and small["exit"] == large["exit"] == 0
    assert report["large_over_small"]["ms_per_image"] == pytest.approx(large["ms_per_image"] / small["ms_per_image"],
                                                                       rel=0.01)
    assert large["spans_seen"] >= large["spans_kept"] > 0


def test_tune_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tune.py"), "portrait", "--budget", "30",
                           "--rounds", "1", "--inputs", "2", "--tune-on", "2"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["task"] == "portrait" and report["rounds"] == 1 and report["inputs"] == 2
    rates = {k: v["median"] for k, v in report["images_per_s"].items()}
    assert report["tuned_over_default"]["median"] == pytest.approx(rates["tuned"] / rates["default"], rel=0.01)
    assert report["tune"]["tried"][0]["candidate"] == "default" and report["tune"]["chosen"]


def test_fusion_benchmark_prints_its_json():
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fusion.py"), "--rounds", "1", "--calls", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "fusion" and report["cpu"] and report["rounds"] == 1
    assert set(report["models"]) == {"ppocr-det-v4", "blazeface-short"}
    for model in report["models"].values():
        ms = model["ms"]
        assert "host" in ms and "fused" in ms
        for name, spread in ms.items():
            assert spread["min"] <= spread["median"] <= spread["max"], name
        # one round: the ratio is the two medians' (each rounded to 3 decimals in the JSON, hence the tolerance)
        ratio = model["fused_over_host"]
        assert ratio["min"] == ratio["median"] == ratio["max"]
        assert ratio["median"] == pytest.approx(ms["fused"]["median"] / ms["host"]["median"], rel=0.02, abs=2e-3)


def test_edges_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "edges.py"), "--rounds", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    errors = report["error_levels"]
    assert {"soft", "refined", "upsampled, no filter", "grey guide"} <= set(errors)
    for measure, reduction in report["refined_error_reduction_pct"].items():  # the one the docs quote
        assert reduction == pytest.approx(100 * (1 - errors["refined"][measure] / errors["soft"][measure]), abs=0.01)
    cost = report["cost"]
    assert cost["picked"] in cost["ms_per_image"] and set(cost["pipeline_ms_per_image"]) == {"soft", "refined"}
    for spread in (*cost["ms_per_image"].values(), *cost["pipeline_ms_per_image"].values()):
        assert spread["min"] <= spread["median"] <= spread["max"]
    share = 100 * cost["ms_per_image"][cost["picked"]]["median"] / cost["pipeline_ms_per_image"]["refined"]["median"]
    assert cost["refine_pct_of_refined_pipeline"] == pytest.approx(share, abs=0.01)


def test_sampler_overhead_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sampler_overhead.py"), "--rounds", "1",
                           "--frames", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["rounds"] == 1 and report["interval_s"] > 0
    overhead = report["overhead_pct_per_round"]
    assert set(overhead["wall"]) == set(overhead["cpu"]) == {"spans", "calls", "lines"}
    for kind in ("wall", "cpu"):
        for spread in overhead[kind].values():  # one round: one paired sample each
            assert spread["min"] == spread["median"] == spread["max"]
    # the paired overhead is the mode's time over its own run of none (one of the round's runs of none)
    lines, nones = report["wall_s"]["lines"]["median"], [report["wall_s"]["none"][k] for k in ("min", "median", "max")]
    assert any(overhead["wall"]["lines"]["median"] == pytest.approx(100 * (lines / none - 1), abs=0.3)
               for none in nones)
    target = report["target"]  # the figure the docs quote, and whether it meets the target
    assert target["mode"] == "lines" and target["max_pct"] == 3.0
    assert target["wall_pct"] == overhead["wall"]["lines"] and target["cpu_pct"] == overhead["cpu"]["lines"]
    assert target["target_met"] == (target["wall_pct"]["median"] <= target["max_pct"])
    assert report["sample_cost_us"] > 0 and report["samples_per_s"] > 0
