"""The profiler's parts on real code: per-thread hotspots, stage() / profile(), traces, FLOP counts, ceilings."""

from __future__ import annotations

import json
import os
import pstats
import threading

import numpy as np
import pytest

from sightspeed import Item, Pipeline, Pipelined, Stage
from sightspeed.profiling import counters, machine
from sightspeed.profiling.flops import model_flops, onnx_flops
from sightspeed.profiling.scope import profile, stage
from sightspeed.profiling.session import Session
from sightspeed.profiling.trace import chrome_trace


def spin_alpha(n: int) -> int:
    return sum(i * i for i in range(n))


def spin_beta(n: int) -> int:
    return sum(i ^ 3 for i in range(n))


def test_hotspots_follow_the_stage_in_every_worker_thread(tmp_path):
    def alpha(item: Item) -> None:
        item.results["a"] = spin_alpha(20000)

    def beta(item: Item) -> None:
        item.results["b"] = spin_beta(20000)

    pipeline = Pipeline([Stage("alpha", alpha), Stage("beta", beta)])
    items = [Item(f"x{k}", k, image=np.zeros((2, 2, 3), np.uint8)) for k in range(8)]
    session = Session()
    with profile(session=session, base=None):
        done = list(Pipelined(workers=2).run(pipeline, items, session))
    assert all(i.ok for i in done)
    threads = {s.thread for s in session.spans if s.stage == "alpha" and s.kind == "run"}
    assert threads <= {"alpha-0", "alpha-1"} and threads  # ran on worker threads, not the main one
    assert session.hotspots["alpha"] and session.hotspots["beta"]
    in_alpha = {func for (_, _, func) in session.profiler.stats("alpha").stats}
    in_beta = {func for (_, _, func) in session.profiler.stats("beta").stats}
    assert "spin_alpha" in in_alpha and "spin_beta" not in in_alpha
    assert "spin_beta" in in_beta and "spin_alpha" not in in_beta
    assert not any(h["function"].startswith("thread_time") for h in session.hotspots["alpha"])
    assert session.profiler.dump(tmp_path / "all.prof")
    stats = pstats.Stats(str(tmp_path / "all.prof"))
    names = {func for (_, _, func) in stats.stats}
    assert {"spin_alpha", "spin_beta"} <= names


def test_stage_blocks_and_decorator_record_into_the_active_session():
    @stage("decorated", flops=100)
    def work() -> int:
        counters.add(disk_bytes=7)
        return spin_alpha(1000)

    assert work() == spin_alpha(1000)  # no session: plain call
    with stage("ignored"):
        pass
    with profile(hotspots=False) as session:
        work()
        with stage("outer", bytes=50):
            with stage("inner"):
                counters.add(flops=3)
        t = threading.Thread(target=work)
        t.start()
        t.join()
    spans = {(s.stage, s.thread == "MainThread"): s for s in session.spans}
    assert spans[("decorated", True)].work == {"disk_bytes": 7, "flops": 100}
    assert spans[("decorated", False)].work == {"disk_bytes": 7, "flops": 100}  # another thread, same session
    assert spans[("inner", True)].work == {"flops": 3}
    assert spans[("outer", True)].work == {"flops": 3, "mem_bytes": 50}  # nested work counts in both
    # the session's wall time covers every span in it (span times count from the session's start)
    assert all(0 <= s.start <= s.end <= session.wall_s for s in session.spans), (session.wall_s, session.spans)
    assert "ignored" not in {s.stage for s in session.spans}
    with pytest.raises(RuntimeError, match="already active"):
        with profile(hotspots=False):
            with profile(hotspots=False):
                pass


def test_disabled_session_records_nothing():
    session = Session(enabled=False)
    session.record("x", 0.0, 1.0)
    assert session.spans == []


def test_chrome_trace_has_a_track_per_thread_and_waits():
    session = Session(config={"pipeline": "demo"})
    session.record("decode", 0.0, 0.5, items=1, thread="decode-0", work={"disk_bytes": 10})
    session.record("decode", 0.5, 0.7, kind="wait", thread="decode-0")
    session.record("segment", 0.1, 0.3, items=1, thread="segment-0")
    trace = json.loads(json.dumps(chrome_trace(session)))
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert names == {"decode-0", "segment-0"}
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in slices] == [
        ("decode", 0.0, 500000.0), ("wait for decode", 500000.0, 200000.0), ("segment", 100000.0, 200000.0)]
    assert slices[0]["args"]["disk_bytes"] == 10 and slices[1]["cat"] == "wait"


def test_onnx_flops_count_conv_macs(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((4, 3, 3, 3), np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("MatMul", ["f", "m"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros((256, 10), np.float32), "m")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "m.onnx")
    conv = 3 * 4 * 8 * 8 * 3 * 3 * 3  # N * Cout * H * W * Cin * kh * kw
    matmul = 3 * 10 * 256
    assert onnx_flops(tmp_path / "m.onnx", {"x": (3, 3, 8, 8)}) == 2 * (conv + matmul)


def test_onnx_flops_are_counted_once_then_cached(tmp_path, monkeypatch):
    """The count is kept per model file and input shapes: the second call reads it (the same number), another
    shape or a changed file is counted again, and a torn cache entry is ignored."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from sightspeed.profiling import flops as flops_mod

    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path / "cache"))

    def save(cout: int) -> None:
        graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", cout, 6, 6])],
                                  [numpy_helper.from_array(np.zeros((cout, 3, 3, 3), np.float32), "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, tmp_path / "m.onnx")

    save(4)
    first = onnx_flops(tmp_path / "m.onnx", {"x": (1, 3, 8, 8)})
    assert first == 2 * 4 * 6 * 6 * 3 * 9
    (entry,) = (tmp_path / "cache" / "flops").glob("*.json")
    counted = []
    monkeypatch.setattr(flops_mod, "_count_onnx", lambda *a: counted.append(a) or -1.0)
    assert onnx_flops(tmp_path / "m.onnx", {"x": (1, 3, 8, 8)}) == first and not counted  # from the cache
    assert onnx_flops(tmp_path / "m.onnx", {"x": (2, 3, 8, 8)}) == -1.0 and len(counted) == 1  # another shape
    save(8)
    assert onnx_flops(tmp_path / "m.onnx", {"x": (1, 3, 8, 8)}) == -1.0 and len(counted) == 2  # another file
    monkeypatch.undo()
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path / "cache"))
    save(4)
    entry.write_text('{"flo')  # torn
    assert onnx_flops(tmp_path / "m.onnx", {"x": (1, 3, 8, 8)}) == first


def test_tflite_flops_of_the_zoo_models():
    from sightspeed.models import fetch

    face = model_flops(fetch("blazeface-short", quiet=True))
    seg = model_flops(fetch("selfie-seg", quiet=True))
    landscape = model_flops(fetch("selfie-seg-landscape", quiet=True))
    assert 20e6 < face < 200e6 and 50e6 < seg < 500e6
    # the landscape model is the same network on 144x256 instead of 256x256 input: ~144/256 of the work
    assert landscape / seg == pytest.approx(144 / 256, rel=0.1)


def test_ceilings_are_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    calls = []
    real = machine.measure
    monkeypatch.setattr(machine, "measure", lambda quick=False, photos=None: calls.append(quick) or real(quick=True))
    first = machine.ceilings()
    second = machine.ceilings()
    assert len(calls) == 1 and first == second
    assert json.loads((tmp_path / "machine.json").read_text()) == first  # what is cached is what was measured
    assert first["measured"]["quick"] is True and first["measured"]["fingerprint"] == machine.fingerprint()
    # orders of magnitude any machine this runs on falls within (catches a unit slip, e.g. GB/s for B/s)
    assert 1e9 < first["mem_bw_1t"] < 1e12 and 1e9 < first["flops_1t"] < 1e13
    assert 1e9 < first["mem_bw_all"] < 1e13 and 1e9 < first["flops_all"] < 1e15
    assert 1e6 < first["disk_read"] < 1e12 and 1e6 < first["jpeg_decode"] < 1e10 and 1e6 < first["jpeg_encode"] < 1e10
    machine.ceilings(refresh=True)
    assert len(calls) == 2


def test_doctor_reports_this_machine():
    from sightspeed.profiling.doctor import report

    info = json.loads(json.dumps(report()))
    assert info["cpu"]["logical_cores"] == os.cpu_count()
    assert info["memory"]["total_gib"] == round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    assert info["opencv"]["version"].startswith("4.")
    assert "CPUExecutionProvider" in info["runtimes"]["onnxruntime"]["providers"]
    assert info["numpy"]["thread_pools"]


def test_mirrors_and_perf_counters_when_available():
    from sightspeed.profiling.instruments import PerfCounters, available_mirrors

    mirrors = available_mirrors()
    with profile(hotspots=False) as session:
        with stage("mirrored"):
            np.ones(10**6).sum()
    assert [s.stage for s in session.spans] == ["mirrored"]
    for mirror in mirrors:  # balanced begin/end on real NVTX / ITT
        mirror.begin("x")
        mirror.end("x")
    import mmap
    import resource
    import time

    cpu_before, faults_before = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    perf = PerfCounters().start()
    if perf.error:
        pytest.skip(perf.error)
    time.sleep(0.2)
    for _ in range(4):  # a fresh anonymous mapping faults on first touch, whatever the allocator has cached
        area = mmap.mmap(-1, 16 * 2**20)
        np.frombuffer(area, np.uint8)[::4096] = 1
        del area
    for _ in range(20):
        np.ones(10**6).sum()  # and some CPU time
    counts = perf.stop()
    cpu_ms = (time.process_time() - cpu_before) * 1e3
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    assert "page-faults" in counts and "task-clock" in counts, (counts, perf.error)
    # at least one fault per touched page even with 2 MiB transparent huge pages, and never more than the
    # kernel's own count for the process over the same window; likewise the CPU time (task-clock is in ms)
    assert 4 * 16 * 2**20 // (2 * 2**20) <= counts["page-faults"] <= faults, (counts, faults)
    assert 0 < counts["task-clock"] <= cpu_ms * 1.05 + 1, (counts, cpu_ms)


def test_jpeg_ceilings_say_which_images_they_were_measured_on(portrait_jpegs):
    from sightspeed.profiling.machine import SYNTHETIC, jpeg_rates

    real = jpeg_rates(portrait_jpegs[:2], repeats=1, label="of the run's JPEGs")
    assert real["jpeg_source"] == "2 of the run's JPEGs"
    synthetic = jpeg_rates(None, repeats=1)
    assert synthetic["jpeg_source"] == SYNTHETIC
    for rates in (real, synthetic):
        assert np.isfinite(rates["jpeg_decode"]) and np.isfinite(rates["jpeg_encode"])


def test_a_profile_holds_decode_to_codec_ceilings_measured_on_its_own_jpegs(portrait_jpegs, tmp_path):
    from sightspeed import Pipeline, Stage
    from sightspeed.profiler import profile_run
    from sightspeed.profiling.session import Session

    session = Session(machine={"ceilings": {"jpeg_decode": 1.0, "jpeg_encode": 1.0, "jpeg_source": "old"}})
    profile_run(Pipeline([Stage("noop", lambda item: None)]), portrait_jpegs, tmp_path / "o", session=session,
                perf=False)
    ceilings = session.machine["ceilings"]
    assert ceilings["jpeg_source"] == f"{min(3, len(portrait_jpegs))} of the run's JPEGs"
    assert ceilings["jpeg_decode"] > 1.0 and ceilings["jpeg_encode"] > 1.0
