"""Precision tiers: a peak per tier measured through the runtimes (real OpenVINO / onnxruntime, no mocks), % SOL
against the stage's own tier, and what-ifs on a target CPU without the tier."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

from sightspeed.cores import available
from sightspeed.host import describe
from sightspeed.profiling import machine, tiers
from sightspeed.profiling.analysis import analyse
from sightspeed.profiling.session import Session, StageInfo
from sightspeed.profiling.whatif import parse, project
from sightspeed.report import profile_console
from sightspeed.report.console import machine_table

F32 = {"mem_bw_1t": 20e9, "mem_bw_all": 30e9, "flops_1t": 100e9, "flops_all": 180e9, "disk_read": 2e9,
       "jpeg_decode": 200e6, "jpeg_encode": 100e6}
TIERED = {**F32, "flops_bf16_1t": 200e9, "flops_bf16_all": 360e9, "flops_int8_1t": 400e9, "flops_int8_all": 720e9,
          "tiers": {"bf16": {"native": True}, "int8": {"native": True}}}


def measured(n: int = 256) -> dict:
    """The tier ceilings of this machine, one short round (the probes are the ones `sightspeed machine` runs)."""
    probes, record = tiers.prepare(available(), n=n, repeats=2)
    return tiers.combine({name: probe() for name, probe in probes.items()}, record)


def test_tier_ceilings_are_measured_and_say_whether_the_cpu_has_the_tier():
    pytest.importorskip("onnx", reason="the probe models are built with onnx (the test extra)")
    pytest.importorskip("openvino", reason="bf16 is measured through OpenVINO (pip install 'sightspeed[openvino]')")
    result = measured()
    flags = describe()["cpu"]["dot_product"]
    for tier in ("bf16", "int8"):
        for name in tiers.ceiling_names(tier):
            assert math.isfinite(result[name]) and 1e8 < result[name] < 1e16, (name, result[name])
        record = result["tiers"][tier]
        assert record["native"] == bool(flags[tier]) and record["flags"] == flags[tier]
        assert not record["skipped"], record["skipped"]
        assert "openvino" in record["runtimes"]
    # OpenVINO ran the product in the tier's precision where the CPU has it (it may run bf16 as f32 elsewhere)
    if flags["bf16"]:
        assert result["tiers"]["bf16"]["runtimes"]["openvino"]["executed"] == "bf16"
    assert result["tiers"]["int8"]["runtimes"]["openvino"]["executed"] in ("u8", "i8")
    # the int8 ceiling is the faster runtime's; each runtime's own number is kept
    int8 = result["tiers"]["int8"]["runtimes"]
    assert result["flops_int8_1t"] == max(r["flops_int8_1t"] for r in int8.values())
    assert json.loads(json.dumps(result)) == result  # what the cache holds is what was measured


def test_a_tier_without_its_runtime_is_skipped_with_the_reason(tmp_path):
    """With openvino not importable, bf16 is not measured and says why; int8 still is, through onnxruntime."""
    pytest.importorskip("onnx", reason="the probe models are built with onnx (the test extra)")
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent('''
        import sys

        class BlockOpenVINO:
            def find_spec(self, name, path=None, target=None):
                if name == "openvino" or name.startswith("openvino."):
                    raise ImportError(f"{name} is blocked by the test", name=name)
                return None

        sys.meta_path.insert(0, BlockOpenVINO())
    '''))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    code = ("import json; from sightspeed.profiling import tiers; probes, record = tiers.prepare(1, n=128, repeats=1);"
            "print(json.dumps(tiers.combine({k: p() for k, p in probes.items()}, record)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["flops_bf16_1t"] is None and result["flops_bf16_all"] is None
    assert "openvino is not installed" in result["tiers"]["bf16"]["skipped"]["openvino"]
    assert result["flops_int8_1t"] > 0 and list(result["tiers"]["int8"]["runtimes"]) == ["onnxruntime"]
    # the profile says why its bf16 stage is held to fp32
    session = tiered_session({**F32, **result}, "bf16")
    (report,) = analyse(session)
    assert report.flops_ceiling == "flops_1t" and "openvino is not installed" in report.notes[0]


def test_an_old_cache_without_tier_ceilings_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    stamp = {"fingerprint": machine.fingerprint(), "at": "now"}
    old = {**F32, "measured": stamp}
    (tmp_path / "machine.json").write_text(json.dumps(old))
    assert machine.cached_ceilings() is None  # no tier ceilings: measured again by ceilings()
    # a tier no runtime ran is cached as None with its reason, and that holds while the runtimes stay as they were
    now = {**old, "flops_bf16_1t": None, "flops_bf16_all": None, "flops_int8_1t": 4e11, "flops_int8_all": 8e11,
           "measured": {**stamp, "runtimes": tiers.versions()}}
    (tmp_path / "machine.json").write_text(json.dumps(now))
    assert machine.cached_ceilings() == now
    # a runtime installed, removed or upgraded since: measured again
    moved = {**now, "measured": {**stamp, "runtimes": {**tiers.versions(), "openvino": "0.0.1"}}}
    (tmp_path / "machine.json").write_text(json.dumps(moved))
    assert machine.cached_ceilings() is None


def tiered_session(ceilings: dict, tier: str | None, threads: int = 1) -> Session:
    """One model stage: 50 GFLOP in 1 s (10 items), at ``tier`` (None: the session declares no tier)."""
    config = {"tiers": {"model": tier}} if tier else {}
    s = Session(machine={"ceilings": ceilings}, config=config, wall_s=10.0,
                stages=[StageInfo("model", threads=threads)])
    s.record("model", 0.0, 1.0, items=10, cpu=1.0, work={"flops": 50e9})
    return s


@pytest.mark.parametrize("tier, threads, ceiling, pct", [
    (None, 1, "flops_1t", 0.5),  # no tier declared: fp32, 50 / 100
    ("f32", 1, "flops_1t", 0.5),
    ("bf16", 1, "flops_bf16_1t", 0.25),  # 50 / 200: half-way to fp32's peak is a quarter of bf16's
    ("int8", 1, "flops_int8_1t", 0.125),
    ("bf16", 2, "flops_bf16_all", 50 / 360),
])
def test_a_stage_is_held_to_its_tiers_ceiling(tier, threads, ceiling, pct):
    (report,) = analyse(tiered_session(TIERED, tier, threads))
    assert report.bound == "compute" and report.flops_ceiling == ceiling
    assert report.pct_sol == pytest.approx(pct) and report.notes == []
    assert report.tier == (tier or "f32")


def test_ceilings_without_the_tier_fall_back_to_fp32_and_say_so():
    (report,) = analyse(tiered_session(F32, "bf16"))  # a session saved before tiers were measured
    assert report.flops_ceiling == "flops_1t" and report.pct_sol == pytest.approx(0.5)
    assert "no bf16 ceiling measured" in report.notes[0] and "fp32" in report.notes[0]
    assert report.tier_speedup is None
    (odd,) = analyse(tiered_session(TIERED, "fp16"))
    assert odd.flops_ceiling == "flops_1t" and "'fp16' is not one of" in odd.notes[0]
    # an emulated tier is still its own ceiling, with a word that it is not native
    emulated = {**TIERED, "flops_bf16_1t": 50e9, "tiers": {"bf16": {"native": False}}}
    (slow,) = analyse(tiered_session(emulated, "bf16"))
    assert slow.pct_sol == pytest.approx(1.0) and "no native bf16" in slow.notes[0]
    assert slow.tier_native is False and slow.tier_speedup == pytest.approx(0.5)


def test_what_if_a_target_lacks_the_tier():
    stages = analyse(tiered_session(TIERED, "bf16"))
    now = project(stages, parse("cpu:1x"), cores=1).stage_s["model"]
    assert now == pytest.approx(0.1)
    assert project(stages, parse("cpu:2x"), cores=1).stage_s["model"] == pytest.approx(0.05)  # scales with it
    # no bf16 on the target: f32 there, at this machine's fp32 / bf16 ratio (100 / 200): twice the time
    fallback = project(stages, parse("tiers:f32"), cores=1)
    assert fallback.stage_s["model"] == pytest.approx(0.2) and fallback.speedup == pytest.approx(0.5)
    assert "falls back to f32" in fallback.notes[0] and "modelled" in fallback.notes[0]
    assert project(stages, parse("tiers:int8"), cores=1).stage_s["model"] == pytest.approx(0.2)
    has_it = project(stages, parse("tiers:bf16+int8"), cores=1)
    assert has_it.stage_s["model"] == pytest.approx(0.1) and has_it.notes == []
    # an f32 stage does not care which tiers the target has
    f32 = analyse(tiered_session(TIERED, "f32"))
    assert project(f32, parse("tiers:f32"), cores=1).stage_s["model"] == pytest.approx(0.1)
    # a tier this CPU only emulates: what a CPU with it would gain is not measurable here
    emulated = analyse(tiered_session({**TIERED, "tiers": {"bf16": {"native": False}}}, "bf16"))
    gain = project(emulated, parse("tiers:bf16"), cores=1)
    assert gain.stage_s["model"] == pytest.approx(0.1) and "not modelled" in gain.notes[0]
    for bad in ("tiers:", "tiers:fp16", "tiers:bf16+fp8"):
        with pytest.raises(ValueError):
            parse(bad)


def test_the_profile_shows_the_stages_tier():
    console = Console(record=True, width=250)
    profile_console.render(console, tiered_session(TIERED, "bf16"), ["tiers:f32"])
    out = console.export_text()
    assert "compute (bf16)" in out and "bf16 200 GFLOP/s (1 thread), 360 (all)" in out
    assert "int8 400 GOP/s (1 thread), 720 (all)" in out
    assert "tiers:f32: model (bf16) falls back to f32 there" in " ".join(out.split())
    console = Console(record=True, width=250)
    profile_console.render(console, tiered_session(F32, "bf16"))
    out = console.export_text()
    assert "compute (bf16 vs fp32)" in out and "no bf16 ceiling measured" in out
    console = Console(record=True, width=250)
    profile_console.render(console, tiered_session(TIERED, None))  # no tier declared: the bound as before
    assert "compute (" not in console.export_text()


def test_the_machine_table_shows_each_tier_and_its_runtime():
    result = {**TIERED, "flops_int8_1t": None, "flops_int8_all": None,
              "tiers": {"bf16": {"native": False, "runtimes": {"openvino": {"version": "2099.1",
                                                                             "flops_bf16_1t": 200e9}}},
                        "int8": {"native": True, "skipped": {"onnx": "onnx is not installed (pip install onnx)"}}}}
    console = Console(record=True, width=250)
    console.print(machine_table(result, machine.CEILINGS))
    out = console.export_text()
    assert "200.00 GFLOP/s" in out and "openvino 2099.1, not native" in out and "compute (bf16)" in out
    assert "not measured: onnx: onnx is not installed" in out
    assert "20.00 GB/s" in out and "200.00 MP/s" in out
