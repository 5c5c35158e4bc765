"""Bounds, speed of light and what-if on synthetic sessions whose answers are known."""

from __future__ import annotations

import pytest

from sightspeed.profiling.analysis import analyse
from sightspeed.profiling.session import Session, StageInfo
from sightspeed.profiling.whatif import GPU_CALL_S, parse, project

CEILINGS = {"mem_bw_1t": 20e9, "mem_bw_all": 30e9, "flops_1t": 100e9, "flops_all": 180e9, "disk_read": 2e9,
            "jpeg_decode": 200e6, "jpeg_encode": 100e6}


def session_with(*spans, stages=None, hotspots=None) -> Session:
    s = Session(machine={"ceilings": CEILINGS}, wall_s=10.0, stages=stages or [], hotspots=hotspots or {})
    for kwargs in spans:
        s.record(**{"items": 10, "cpu": kwargs["end"] - kwargs["start"], **kwargs})
    return s


def by_name(session):
    return {r.name: r for r in analyse(session)}


def test_memory_compute_io_and_codec_bounds():
    r = by_name(session_with(
        dict(stage="copy", start=0, end=1.0, bytes_in=8e9, bytes_out=8e9),  # 16 GB at 20 GB/s: 0.8 s
        dict(stage="conv", start=1, end=2.0, work={"flops": 50e9}),  # 50 GFLOP at 100 GFLOP/s: 0.5 s
        dict(stage="read", start=2, end=4.0, cpu=1.5, work={"disk_bytes": 3e9}),  # 1.5 s at 2 GB/s
        dict(stage="decode", start=4, end=5.0, work={"jpeg_pixels": 180e6, "mem_bytes": 1e9}),  # 0.9 s codec
    ))
    assert r["copy"].bound == "memory" and r["copy"].sol_s == pytest.approx(0.8)
    assert r["copy"].pct_sol == pytest.approx(0.8) and r["copy"].gbps == pytest.approx(16.0)
    assert r["conv"].bound == "compute" and r["conv"].pct_sol == pytest.approx(0.5)
    assert r["conv"].gflops == pytest.approx(50.0)
    assert r["read"].bound == "io" and r["read"].pct_sol == pytest.approx(0.75)
    assert r["decode"].bound == "compute" and r["decode"].pct_sol == pytest.approx(0.9)
    assert r["decode"].bytes == 1e9  # declared bytes replace the array-size estimate


def test_waiting_io_and_python_overhead():
    r = by_name(session_with(
        dict(stage="blocked", start=0, end=1.0, cpu=0.1, bytes_in=1e6),
        dict(stage="slowread", start=1, end=2.0, cpu=0.2, work={"disk_bytes": 1e9}),
        dict(stage="loop", start=2, end=3.0, bytes_in=1e6),
        dict(stage="native", start=3, end=4.0, bytes_in=1e6),
        hotspots={"loop": [{"function": "f", "where": "x.py:1", "calls": 1, "own_ms": 900, "share": 0.9,
                            "python_share": 0.95}],
                 "native": [{"function": "resize", "where": "builtin", "calls": 1, "own_ms": 900, "share": 0.9,
                             "python_share": 0.05}]}))
    assert r["blocked"].bound == "waiting"
    assert r["slowread"].bound == "io"
    assert r["loop"].bound == "python-overhead" and r["loop"].pct_sol < 0.05
    assert r["native"].bound == "memory"  # far from SOL, but not in Python: the nearest ceiling names it


def test_multithreaded_stage_is_held_to_all_core_ceilings():
    r = by_name(session_with(dict(stage="gemm", start=0, end=1.0, work={"flops": 90e9}),
                             stages=[StageInfo("gemm", threads=2)]))
    assert r["gemm"].pct_sol == pytest.approx(0.5)  # 90 / 180, not 90 / 100


def test_what_if_scales_each_stage_by_its_bound():
    stages = analyse(session_with(
        dict(stage="conv", start=0, end=1.0, work={"flops": 50e9}),
        dict(stage="copy", start=1, end=2.0, bytes_in=8e9, bytes_out=8e9),
    ))
    faster_cpu = project(stages, parse("cpu:2x"), cores=1)
    assert faster_cpu.stage_s["conv"] == pytest.approx(0.05) and faster_cpu.stage_s["copy"] == pytest.approx(0.1)
    more_bw = project(stages, parse("mem:2x"), cores=1)
    assert more_bw.stage_s["copy"] == pytest.approx(0.05) and more_bw.stage_s["conv"] == pytest.approx(0.1)
    # serial: 1 / (0.1 + 0.1) = 5 items/s now; on 1 core pipelining cannot help
    now = project(stages, parse("cpu:1x"), cores=1)
    assert now.serial_per_s == pytest.approx(5.0) and now.pipelined_per_s == pytest.approx(5.0)
    assert project(stages, parse("cores:2"), cores=1).pipelined_per_s == pytest.approx(10.0)  # stages overlap


def test_gpu_wins_for_math_and_loses_for_copies():
    stages = analyse(session_with(
        dict(stage="conv", start=0, end=1.0, bytes_in=1e6, bytes_out=1e6, work={"flops": 90e9}, items=1),
        dict(stage="copy", start=1, end=2.0, bytes_in=8e9, bytes_out=8e9, items=1),
    ))
    t4 = project(stages, parse("gpu:t4"), cores=1)
    assert set(t4.on_gpu) == {"conv", "copy"}
    # on the GPU: max(math time, device-memory time) + the PCIe transfer of its bytes + one call's latency
    # 90 GFLOP at 8.1 TFLOP/s + a tiny transfer
    assert t4.stage_s["conv"] == pytest.approx(90e9 / 8.1e12 + 2e6 / 12.5e9 + GPU_CALL_S)
    # 16 GB over PCIe at 12.5 GB/s (+ 16 GB at 320 GB/s on the device): slower than the 1 s it took here
    assert t4.stage_s["copy"] == pytest.approx(16e9 / 320e9 + 16e9 / 12.5e9 + GPU_CALL_S)
    assert t4.limiting == "copy"


def test_bad_what_if_specs():
    for bad in ("gpu:rtx9999", "cpu:fast", "cores:x", "tpu:v5"):
        with pytest.raises(ValueError):
            parse(bad)


def test_saturated_cores_are_contention_not_waiting():
    """Two stages sharing one core, each on-CPU 40% of its wall time: the core was the limit, not their input."""
    s = Session(machine={"ceilings": CEILINGS, "cpu_count": 1}, wall_s=2.0)
    s.record("copy", 0.0, 2.0, items=10, cpu=0.8, bytes_in=8e9, bytes_out=8e9)  # 16 GB: 0.8 s at 20 GB/s
    s.record("conv", 0.0, 2.0, items=10, cpu=0.8, work={"flops": 50e9})  # 0.5 s at 100 GFLOP/s
    r = {x.name: x for x in analyse(s)}
    assert r["copy"].contended and r["copy"].service_s == pytest.approx(0.8)
    assert r["copy"].bound == "memory" and r["copy"].pct_sol == pytest.approx(1.0)
    assert r["conv"].bound == "compute" and r["conv"].pct_sol == pytest.approx(0.625)
    # the same spans with 4 cores idle half the time are plain waiting
    s.machine["cpu_count"] = 4
    assert {x.bound for x in analyse(s)} == {"waiting"}
