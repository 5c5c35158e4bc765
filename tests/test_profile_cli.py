"""`sightspeed profile` / `report` / `doctor` / `machine` and the IPython magic, end to end."""

from __future__ import annotations

import json
import math
import os
import pstats
import re
import subprocess
import sys
import textwrap

import pytest
import simplejpeg

from sightspeed.profiling.hotspots import label
from sightspeed.profiling.machine import CEILINGS, cached_ceilings, fingerprint
from sightspeed.profiling.session import Session


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**__import__("os").environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, portrait_jpegs):
    prof = tmp_path_factory.mktemp("prof")
    proc = cli("profile", "portrait", *portrait_jpegs, "-o", str(prof), "--what-if", "cpu:2x,cores:8,gpu:t4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return prof, proc


def test_profile_writes_session_trace_and_cprofile(profiled, portrait_jpegs):
    prof, proc = profiled
    session = Session.load(prof / "session.json")
    assert [s.name for s in session.stages] == ["decode", "detect", "segment", "composite", "write"]
    assert set(CEILINGS) <= set(session.machine["ceilings"])  # every ceiling a % SOL may divide by
    assert 1 <= session.machine["cpu"]["available_cores"] <= os.cpu_count()
    # hotspots come from the worker threads, attributed to the stage that ran them
    assert {s.thread for s in session.spans if s.stage == "segment"} <= {"segment-0", "segment-1"}
    assert any(h["function"].startswith("Invoke") for h in session.hotspots["segment"])
    seg = [s for s in session.spans if s.stage == "segment" and s.kind == "run"]
    assert len(seg) == len(portrait_jpegs) and all(s.work["flops"] > 50e6 for s in seg)  # model FLOPs declared
    decode = [s for s in session.spans if s.stage == "decode" and s.kind == "run"]
    # what decode declares is what it read and decoded: each file's bytes and each image's pixels
    assert sorted(s.work["disk_bytes"] for s in decode) == sorted(os.path.getsize(p) for p in portrait_jpegs)
    sizes = [simplejpeg.decode_jpeg_header(open(p, "rb").read())[:2] for p in portrait_jpegs]
    assert sorted(s.work["jpeg_pixels"] for s in decode) == sorted(h * w for h, w in sizes)
    trace = json.loads((prof / "trace.json").read_text())
    assert sum(e["ph"] == "X" for e in trace["traceEvents"]) == len(session.spans)
    stats = pstats.Stats(str(prof / "stages.prof"))
    # the .prof is the stages' profiles merged: each stage's top functions are in it, with at least their calls
    # and own time there (a function several stages ran has the sum)
    merged = {}
    for (file, _, func), (_, ncalls, tottime, _, _) in stats.stats.items():
        name = label(func) if file == "~" else func
        calls, own = merged.get(name, (0, 0.0))
        merged[name] = (calls + ncalls, own + tottime)
    for stage, rows in session.hotspots.items():
        for row in rows:
            calls, own = merged[row["function"]]
            assert calls >= row["calls"] and own * 1e3 >= row["own_ms"] * (1 - 1e-9), (stage, row)
    assert stats.total_tt == pytest.approx(sum(own for _, own in merged.values()))
    out = proc.stdout
    for text in ("bound", "% SOL", "hotspots", "what-if", "gpu:t4", "cores:8", "ceilings:"):
        assert text in out, text
    rows = [json.loads(line) for line in (prof / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == len(portrait_jpegs) and all(r["status"] == "ok" for r in rows)


def test_report_rerenders_a_saved_session(profiled, portrait_jpegs):
    jsonschema = pytest.importorskip("jsonschema")
    from sightspeed.report.summary import schema

    prof, proc = profiled
    again = cli("report", str(prof / "session.json"), "--what-if", "cpu:2x,cores:8,gpu:t4")
    assert again.returncode == 0
    table = lambda text: text[text.index("stage"):text.index("ceilings:")]  # noqa: E731
    assert table(again.stdout) == table(proc.stdout)
    # --json of the real run holds to its schema, with the run's own figures
    as_json = cli("report", str(prof / "session.json"), "--json", "--what-if", "cpu:2x,gpu:t4")
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    data = json.loads(as_json.stdout)
    jsonschema.validate(data, schema())
    assert [s["name"] for s in data["stages"]] == ["decode", "detect", "segment", "composite", "write"]
    assert data["items"] == len(portrait_jpegs) and data["items_per_s"] > 0
    assert [r["machine"] for r in data["what_if"]] == ["now", "cpu:2x", "gpu:t4"]
    assert data["what_if_not_modelled"] is None and data["what_if"][0]["measured_per_s"] > 0
    segment = data["stages"][2]
    assert segment["per"] == "item" and segment["flops_per_item"] > 50e6 and segment["intensity"] > 0
    assert cli("report", str(prof / "trace.json")).returncode == 2  # not a session
    assert cli("report", str(prof / "session.json"), "--what-if", "gpu:nope").returncode == 2


def test_profile_a_users_script(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent('''
        import sys
        import numpy as np
        import sightspeed

        def busy_python(n):
            return sum(i * i for i in range(n))

        for _ in range(int(sys.argv[1])):
            with sightspeed.stage("preprocess", bytes=2 * 8 * 10**6):
                a = np.ones(10**6) * 2.0
            with sightspeed.stage("postprocess"):
                busy_python(200000)
        unannotated = busy_python(100000)
    '''))
    prof = tmp_path / "prof"
    proc = cli("profile", "-o", str(prof), "--hotspots", "calls", "--", sys.executable, str(script), "3")  # cProfile: every call
    assert proc.returncode == 0, proc.stderr[-3000:]
    session = Session.load(prof / "session.json")
    calls = {name: (st["calls"], st["items"]) for name, st in session.stage_summary().items()}
    assert calls == {"preprocess": (3, 0), "postprocess": (3, 0)}  # a script's stages count calls, not items
    out = " ".join(proc.stdout.split())
    assert "items/s" not in out
    assert "no items counted; calls per stage: preprocess 3 in" in out and "postprocess 3 in" in out
    assert "(script)" in session.hotspots and "postprocess" in session.hotspots
    from sightspeed.profiling.analysis import analyse

    bounds = {r.name: r.bound for r in analyse(session)}
    assert bounds["postprocess"] == "python-overhead"  # a pure-Python loop: no ceiling near, all in Python frames
    failing = tmp_path / "fail.py"
    failing.write_text("raise SystemExit(4)\n")
    assert cli("profile", "-o", str(tmp_path / "p2"), "--", "python", str(failing)).returncode == 4


def test_doctor_and_machine_commands():
    doctor = cli("doctor", "--json")
    assert doctor.returncode == 0 and json.loads(doctor.stdout)["cpu"]["logical_cores"] == os.cpu_count()
    machine = cli("machine", "--json")
    assert machine.returncode == 0
    ceilings = json.loads(machine.stdout)
    assert set(CEILINGS) <= set(ceilings) and ceilings["measured"]["fingerprint"] == fingerprint()
    # a precision tier no installed runtime runs is None, with its reason in ceilings["tiers"]
    measured = [name for name in CEILINGS if ceilings[name] is not None]
    assert all(math.isfinite(ceilings[name]) and ceilings[name] > 0 for name in measured), ceilings
    assert {"flops_1t", "flops_all", "mem_bw_all"} <= set(measured)
    # the command shows the cached ceilings of this machine; the table shows the same numbers as the JSON
    assert cached_ceilings() == ceilings
    table = cli("machine")
    assert table.returncode == 0
    for name, (unit, _) in CEILINGS.items():
        if ceilings[name] is None:
            continue
        scale = 1e6 if unit == "px/s" else 1e9
        assert re.search(rf"{name}\s+\S*\s*{ceilings[name] / scale:,.2f} ", table.stdout), (name, table.stdout)


def test_ipython_magic():
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "sightspeed")
    ip.run_cell(textwrap.dedent('''
        import numpy as np, sightspeed
        def step():
            with sightspeed.stage("make"):
                a = np.ones(10**5)
            with sightspeed.stage("reduce"):
                return a.sum()
    '''))
    session = ip.run_cell_magic("sightspeed", "-n 4 -o", "step()")
    assert [s.stage for s in session.spans].count("make") == 4
    session = ip.run_line_magic("sightspeed", "-o step()")
    assert [s.stage for s in session.spans] == ["make", "reduce"]


@pytest.mark.parametrize("ending, code, last", [
    ("raise ValueError('bad frame')", 1, "ValueError: bad frame"),
    ("sys.exit(5)", 5, None),
    ("raise KeyboardInterrupt", 130, "KeyboardInterrupt"),
])
def test_a_profiled_script_that_fails_keeps_its_profile(tmp_path, ending, code, last):
    """From the command line: the profile is written and printed, then the script's traceback, and the exit code is
    the script's own."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f'''
        import sys
        import sightspeed

        for k in range(3):
            with sightspeed.stage("step"):
                total = sum(i * i for i in range(200000))
        {ending}
    '''))
    proc = cli("profile", "-o", str(tmp_path / "prof"), "--", sys.executable, str(script))
    assert proc.returncode == code, proc.stderr[-2000:]
    for name in ("session.json", "trace.json"):
        assert (tmp_path / "prof" / name).is_file()
    assert Session.load(tmp_path / "prof" / "session.json").stage_summary()["step"]["calls"] == 3
    assert "step" in proc.stdout and "verdict:" in proc.stdout  # the report was printed
    if last:
        tail = proc.stderr.strip().splitlines()
        assert tail[-1] == last and any("app.py" in line for line in tail)
        assert proc.stderr.index("wrote ") < proc.stderr.index("Traceback")  # after the report


def test_a_missing_script_is_one_usage_line_and_dash_c_runs(tmp_path):
    missing = cli("profile", "-o", str(tmp_path / "p"), "--", sys.executable, str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert missing.stderr.startswith("error:") and "nope.py" in missing.stderr
    code = "import sightspeed\nwith sightspeed.stage('spin'):\n    sum(i * i for i in range(300000))\n"
    ran = cli("profile", "-o", str(tmp_path / "c"), "--", "python", "-c", code)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert Session.load(tmp_path / "c" / "session.json").stage_summary()["spin"]["calls"] == 1
