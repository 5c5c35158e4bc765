"""Renderers read only the Session (a saved one renders like a live one), and the one description of the host."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from sightspeed.profiling.session import Session, StageInfo
from sightspeed.report import console as run_console
from sightspeed.report import profile_console


def text(renderable) -> str:
    out = Console(record=True, width=200)
    out.print(renderable)
    return out.export_text()


def a_run(cores: int | None = 2, oversubscribe: bool = False) -> Session:
    s = Session(clock=iter([0.0] * 100).__next__)
    s.stages = [StageInfo("decode", False, 1, 2), StageInfo("detect", True, 2, 1), StageInfo("write", False, 1, 1)]
    for k in range(4):
        s.record("decode", 0.1 * k, 0.1 * k + 0.05, items=1, cpu=0.04)
        s.record("detect", 0.1 * k + 0.05, 0.1 * k + 0.1, items=1, cpu=0.09)
        s.record("write", 0.1 * k + 0.1, 0.1 * k + 0.12, items=1, cpu=0.02)
    s.counters.update({"ok": 3, "failed": 1})
    s.config["pipeline"] = "portrait"
    if cores is not None:
        s.config.update({"cores": cores, "oversubscribe": oversubscribe})
    s.wall_s = 0.5
    return s


def saved(session: Session) -> Session:
    return Session.from_dict(json.loads(json.dumps(session.to_dict())))


def test_the_run_summary_shows_counts_rate_and_the_core_split():
    out = text(run_console.summary(a_run()))
    assert "portrait: 3 ok, 1 failed, 8.00 images/s, 0.50 s wall" in out  # (3 + 1) / 0.5 s
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["decode"][:3] == ["2 x 1", "4", "50.00"] and rows["detect"][:3] == ["1 x 2", "4", "50.00"]
    flat = " ".join(out.split())
    assert "core budget: 2 cores: 5 threads in the split, at most 2 working at once" in flat  # 2x1 + 1x2 + 1x1
    over = " ".join(text(run_console.summary(a_run(cores=4, oversubscribe=True))).split())
    assert "core budget: 4 cores, oversubscribed: all 5 threads of the split may" in over
    assert "core budget" not in text(run_console.summary(a_run(cores=None)))  # shown only when recorded


def test_a_saved_session_renders_like_the_live_one():
    live = a_run()
    assert text(run_console.summary(saved(live))) == text(run_console.summary(live))
    live.machine = {"ceilings": {"mem_bw_1t": 1e10, "mem_bw_all": 2e10, "flops_1t": 1e11, "flops_all": 2e11,
                                 "disk_read": 1e9, "jpeg_decode": 3e8, "jpeg_encode": 2e8},
                    "cpu": {"available_cores": 2}}
    outputs = []
    for session in (live, saved(live)):
        console = Console(record=True, width=200)
        profile_console.render(console, session, ["cores:4"])
        outputs.append(console.export_text())
    assert outputs[0] == outputs[1]
    flat = " ".join(outputs[0].split())
    assert "core budget: 2 cores" in flat and "workers x threads: decode 2x1, detect 1x2, write 1x1" in flat


def test_the_profile_renderer_never_reads_this_machines_ceilings(tmp_path, monkeypatch):
    """A session without ceilings gets none from the local cache: it renders the same on any machine."""
    from sightspeed.profiling import machine

    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    cached = {name: 1e10 for name in machine.CEILINGS}
    cached["measured"] = {"fingerprint": machine.fingerprint(), "at": "now"}
    (tmp_path / "machine.json").write_text(json.dumps(cached))
    assert machine.cached_ceilings() is not None  # this machine has ceilings ...
    console = Console(record=True, width=200)
    profile_console.render(console, a_run())
    out = console.export_text()
    assert "no machine ceilings in this session" in out  # ... and the renderer does not use them
    assert "cached" not in out


def test_the_cores_a_session_had():
    from sightspeed.profiling.analysis import session_cores

    s = a_run(cores=None)
    s.machine = {"cpu_count": 3}  # what sessions before the host description recorded
    assert session_cores(s) == 3
    s.machine["doctor"] = {"cpu": {"logical_cores": 5}}
    assert session_cores(s) == 5
    s.machine["cpu"] = {"available_cores": 6}
    assert session_cores(s) == 6
    s.config["cores"] = 2  # the run's budget wins
    assert session_cores(s) == 2


def test_failures_lists_the_manifest_rows_that_failed():
    rows = [{"input": "a.jpg", "status": "ok"}] + [
        {"input": f"bad{k}.jpg", "status": "error", "stage": "decode", "reason": "not an image"} for k in range(3)]
    out = text(run_console.failures(rows, "out/manifest.jsonl", max_rows=2))
    assert "3 failed (all in out/manifest.jsonl)" in out and "bad1.jpg" in out and "bad2.jpg" not in out
    assert "... and 1 more" in out
    assert run_console.failures(rows[:1]) is None


# ----- the host ---------------------------------------------------------------------------------------------------
def test_one_description_of_the_host():
    from sightspeed import cores, host
    from sightspeed.profiling import doctor, machine
    from sightspeed.profiling.session import machine_summary

    info = host.describe()
    assert set(info) == {"cpu", "memory", "system", "fingerprint"}
    c = info["cpu"]
    assert c["available_cores"] == cores.available() and 1 <= c["available_cores"] <= c["logical_cores"]
    assert set(c["dot_product"]) == {"bf16", "int8"}
    for tier, found in c["dot_product"].items():
        assert set(found) <= set(host.DOT_PRODUCT[tier])
    assert set(c["simd"]) <= set(host.SIMD) and c["model"]
    assert host.last_level_cache() == max(c["caches"].values(), default=32 * 2**20)
    assert info["memory"]["total_gib"] == round(info["memory"]["total_bytes"] / 2**30, 1)
    # the others read it: the session's summary, the doctor report, the ceilings' cache key
    assert machine_summary() == info
    report = doctor.report()
    assert {k: report[k] for k in info} == info
    assert machine.fingerprint() == info["fingerprint"] == host.fingerprint()
    info["cpu"]["model"] = "changed"
    assert host.describe()["cpu"]["model"] != "changed"  # each caller gets its own copy


def test_cpu_flags_and_the_per_boot_cache(tmp_path, monkeypatch):
    cpuinfo = pytest.importorskip("cpuinfo")
    from sightspeed import host

    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    fake = {"brand_raw": "Test CPU 9000", "vendor_id_raw": "Test", "arch_string_raw": "x86_64",
            "flags": ["sse4_2", "avx2", "fma", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni", "ht"],
            "l3_cache_size": 2**25}
    monkeypatch.setattr(cpuinfo, "get_cpu_info", lambda: fake)
    c = host.cpu()
    assert c["model"] == "Test CPU 9000" and c["vendor"] == "Test"
    assert c["simd"] == ["sse4_2", "avx2", "fma", "amx_tile"]
    assert c["dot_product"] == {"bf16": ["amx_bf16"], "int8": ["avx512_vnni", "avx_vnni"]}
    assert json.loads((tmp_path / "cpuinfo.json").read_text())["info"]["brand_raw"] == "Test CPU 9000"

    def slow():
        raise AssertionError("py-cpuinfo ran again within the same boot")

    monkeypatch.setattr(cpuinfo, "get_cpu_info", slow)
    assert host.cpu()["model"] == "Test CPU 9000"  # read back from the cache
    monkeypatch.setattr(host, "_boot_key", lambda: "another boot")
    with pytest.raises(AssertionError, match="ran again"):
        host.cpu()
