"""The registry and dispatcher: choice order, scopes, unavailable backends, measured picks; the bench API/CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from sightspeed import kernels
from sightspeed.kernels import _backends, _registry, bench
from sightspeed.cli import app


def test_import_sightspeed_loads_no_backend_library():
    import subprocess
    import sys

    code = ("import sys, sightspeed, sightspeed.kernels; "
            "print([m for m in ('cv2', 'numba', 'cupy', 'onnxruntime', 'array_api_compat') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_every_op_has_a_reference_and_opencv_or_numba():
    for name, op in kernels.OPS.items():
        assert op.impls["numpy"] is op.reference and op.reference.__doc__
        assert {"opencv", "numba"} & set(op.backends()), name
        assert all(b in _backends.PROBES for b in op.default_order)


def test_pick_order_call_then_scope_then_default():
    op = kernels.get("composite")
    assert op.pick("opencv") == ("opencv", "asked for by the caller")
    with kernels.use_backend("opencv"):
        assert op.pick()[0] == "opencv"
        with kernels.use_backend("numpy", op="composite"):
            assert op.pick()[0] == "numpy"
            assert kernels.get("nms").pick()[0] == "opencv"  # the inner scope names only composite
        assert kernels.get("weighted_nms").pick()[0] != "opencv"  # has no opencv: the scope does not apply
    assert op.pick()[1] in ("first available in the default order (benchmarks/kernels.py)",
                            "measured fastest here (sightspeed bench kernels --save)")


def test_scope_is_per_thread():
    seen = {}
    with kernels.use_backend("numpy"):
        t = threading.Thread(target=lambda: seen.update(pick=kernels.get("composite").pick()[1]))
        t.start()
        t.join()
        assert kernels.get("composite").pick()[0] == "numpy"
    assert "scope" not in seen["pick"]


def test_forcing_an_unavailable_backend_says_why(monkeypatch):
    monkeypatch.setitem(_backends._BROKEN, "numba", "numba is not installed (pip install 'sightspeed[numba]')")
    op = kernels.get("nms")
    with pytest.raises(kernels.BackendUnavailable, match=r"nms.*numba.*pip install 'sightspeed\[numba\]'"):
        op(np.zeros((0, 4)), np.zeros(0), backend="numba")
    assert op.pick()[0] != "numba"  # never picked by default
    with pytest.raises(kernels.BackendUnavailable, match="has no cython backend"):
        op(np.zeros((0, 4)), np.zeros(0), backend="cython")
    with pytest.raises(ValueError, match="unknown backend"):
        with kernels.use_backend("fortran"):
            pass


def test_measured_picks_are_used_and_tied_to_the_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    monkeypatch.setattr(_registry, "_PICKS", None)
    path = _registry.save_picks({"composite": "opencv"})
    assert json.loads(open(path).read())["picks"] == {"composite": "opencv"}
    assert kernels.get("composite").pick() == ("opencv", "measured fastest here (sightspeed bench kernels --save)")
    saved = json.loads(open(path).read())
    saved["fingerprint"] = "another machine"
    open(path, "w").write(json.dumps(saved))
    monkeypatch.setattr(_registry, "_PICKS", None)
    assert kernels.get("composite").pick()[1].startswith("first available")
    monkeypatch.setattr(_registry, "_PICKS", None)


def test_bench_rows_and_fastest():
    rows = bench.bench(["nms", "db_bitmap"], repeats=2, mem_bw=20e9)
    by = {(r.op, r.backend): r for r in rows}
    assert by[("nms", "numpy")].max_abs_diff == 0 and by[("nms", "numpy")].within_tolerance
    timed = [r for r in rows if r.available]
    nbytes = {name: bc.bytes for name, bc in bench.cases().items()}
    for r in timed:  # the derived columns are the op's bytes over the median time, and that against the ceiling
        assert r.min_ms <= r.median_ms <= r.max_ms, r
        assert r.gb_s == pytest.approx(nbytes[r.op] / (r.median_ms / 1e3) / 1e9, rel=1e-12), r
        assert r.sol_pct == pytest.approx(100 * r.gb_s * 1e9 / 20e9, rel=1e-12), r
    assert {r.backend for r in rows if r.op == "nms"} == set(kernels.get("nms").backends())
    assert sum(r.picked for r in rows if r.op == "nms") == 1
    best = bench.fastest(rows)
    assert set(best) == {"nms", "db_bitmap"}
    for op, backend in best.items():
        fastest = min((r for r in timed if r.op == op), key=lambda r: r.median_ms)
        assert backend == fastest.backend


def test_bench_kernels_cli_json(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    monkeypatch.setattr(_registry, "_PICKS", None)
    from sightspeed.profiling import machine

    machine_json = {n: 1e10 for n in machine.CEILINGS}
    machine_json["measured"] = {"fingerprint": machine.fingerprint(), "at": "now"}
    (tmp_path / "machine.json").write_text(json.dumps(machine_json))
    result = CliRunner().invoke(app, ["bench", "kernels", "--op", "weighted_nms", "--repeats", "2", "--json",
                                      "--save"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {r["backend"] for r in report["rows"]} >= {"numpy"}
    assert json.loads(open(report["picks_saved_to"]).read())["picks"]["weighted_nms"] in {"numpy", "numba"}
    monkeypatch.setattr(_registry, "_PICKS", None)
    bad = CliRunner().invoke(app, ["bench", "kernels", "--op", "nope"])
    assert bad.exit_code == 2 and "unknown op" in bad.output
    table = CliRunner().invoke(app, ["bench", "kernels", "--op", "db_bitmap", "--repeats", "1", "--size", "320x240"])
    text = " ".join(table.output.split())  # the title wraps at the terminal width
    assert table.exit_code == 0 and "db_bitmap" in text and "% SOL against 10.0 GB/s" in text
    assert "inputs streamed from memory" in text
    fresh = CliRunner().invoke(app, ["bench", "kernels", "--op", "nms", "--backend", "opencv", "--repeats", "1",
                                     "--json", "--measure-bandwidth"])
    assert fresh.exit_code == 0, fresh.output
    report = json.loads(fresh.output)
    assert report["mem_bw_all"] != 1e10 and report["mem_bw_all"] > 1e9  # measured now, not the cached file
    for row in report["rows"]:  # % SOL is against the ceiling reported (the higher of before and after)
        assert row["sol_pct"] == pytest.approx(100 * row["gb_s"] * 1e9 / report["mem_bw_all"], rel=1e-6)
    assert {r["backend"] for r in report["rows"]} == {"numpy", "opencv"}
    bad_size = CliRunner().invoke(app, ["bench", "kernels", "--op", "nms", "--size", "big"])
    assert bad_size.exit_code == 2 and "WIDTHxHEIGHT" in bad_size.output


@pytest.mark.parametrize("roi", [(0, 10, 0, 8), (2, 5, 1, 4), (7, 10, 5, 8), (0, 3, 0, 2), (9, 10, 7, 8)])
def test_numba_sees_a_roi_as_contiguous_rows_of_its_frame(roi):
    pytest.importorskip("numba")
    from sightspeed.kernels._numba import rows_of

    frame = np.arange(10 * 8 * 3, dtype=np.uint8).reshape(10, 8, 3)
    y0, y1, x0, x1 = roi
    view = frame[y0:y1, x0:x1]
    rows, y, x = rows_of(view)
    assert rows.flags.c_contiguous and np.shares_memory(rows, frame)
    got = np.stack([rows[y + i, x:x + view[0].nbytes] for i in range(view.shape[0])]).reshape(view.shape)
    np.testing.assert_array_equal(got, view)
    assert rows_of(frame[::2, ::2]) is None  # pixels not contiguous: the generic kernel takes it


def test_a_missing_compiled_extension_makes_cython_unavailable_with_the_reason(monkeypatch):
    real = _backends._has
    monkeypatch.setattr(_backends, "_has", lambda m: False if m.endswith("kernels_cy") else real(m))
    _backends._probe.cache_clear()
    try:
        ok, why = kernels.get("composite").available("cython")
        assert not ok and "was not built" in why and "compiler" in why
        assert kernels.get("composite").pick()[0] != "cython"
    finally:
        _backends._probe.cache_clear()


def test_numba_kernels_from_many_threads_survive_the_workqueue_layer():
    """numba's fallback threading layer aborts the process on concurrent parallel calls; the backend serialises
    them there (run in a child process: an abort would take pytest down with it)."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    code = """
import threading, numpy as np, numba
from sightspeed import kernels
fg = np.zeros((300, 400, 3), np.uint8); m = np.full((300, 400), 255, np.uint8)
def work():
    bg = np.ones((300, 400, 3), np.uint8)
    for _ in range(20):
        kernels.composite(fg, bg, m, out=bg, backend="numba")
        kernels.preprocess(bg, (64, 64), backend="numba")
        kernels.db_bitmap(np.zeros((50, 50), np.float32), backend="numba")
    assert (bg == 0).all()
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print(numba.threading_layer())
"""
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip() == "workqueue"


def test_streamed_copies_are_independent_keep_out_aliasing_and_outgrow_the_cache():
    from sightspeed.equivalence import Case
    from sightspeed.kernels.bench import Rotation, footprint, streamed

    fg, bg = np.zeros((10, 10, 3), np.uint8), np.ones((10, 10, 3), np.uint8)
    case = Case((fg, bg, (4, 4)), dict(out=bg))
    assert footprint(case) == 600  # bg counted once although it is also out; the tuple is not an array
    copies = streamed(case, cache=1000)
    assert len(copies) == 4  # ceil(2 * 1000 / 600)
    assert len(streamed(case, cache=10**9)) == 16 and len(streamed(case, cache=1)) == 2
    arrays = [c.args[0] for c in copies] + [c.args[1] for c in copies]
    assert len({id(a) for a in arrays}) == 8 and not any(np.shares_memory(a, fg) for a in arrays[1:4])
    for c in copies:
        assert c.kwargs["out"] is c.args[1]  # in place stays in place
        np.testing.assert_array_equal(c.args[1], bg)
    rotation = Rotation(copies)
    assert [rotation.next() for _ in range(5)] == [copies[1], copies[2], copies[3], copies[0], copies[1]]


def test_bench_streams_inputs_unless_warm():
    from sightspeed.kernels.bench import bench

    streamed_rows = bench(["db_bitmap"], repeats=1, mem_bw=1e10, backends=["numpy"])
    warm_rows = bench(["db_bitmap"], repeats=1, mem_bw=1e10, backends=["numpy"], warm=True)
    assert all(r.copies >= 2 for r in streamed_rows if r.median_ms is not None)
    assert all(r.copies == 1 for r in warm_rows if r.median_ms is not None)


def test_the_dispatcher_checks_once_and_leaves_self_checking_backends_to_themselves(monkeypatch):
    op = kernels.get("nms")
    seen = []
    monkeypatch.setattr(op, "check", lambda *a, **k: seen.append(a))
    boxes, scores = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], np.float32), np.array([0.9, 0.8])
    op(boxes, scores, backend="numpy")
    assert len(seen) == 1  # the reference does not check itself: the dispatcher does
    if op.available("numba")[0]:
        assert getattr(op.implementation("numba"), "checks_arguments", False)
        op(boxes, scores, backend="numba")
        assert len(seen) == 1  # numba's nms runs the check itself (it indexes without bounds checks)
        with pytest.raises(ValueError, match="nms: 2 boxes but 1 scores"):
            op(boxes, scores[:1], backend="numba")
