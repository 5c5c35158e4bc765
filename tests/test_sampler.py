"""The line sampler on real code (the hot line and the expression in it, stages across threads), and profiling a
script that fails, exits, is interrupted or does not exist: the session of what ran always comes back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from rich.console import Console

from sightspeed.profiler import ScriptNotFound, ScriptResult, profile, profile_script
from sightspeed.profiling import scope
from sightspeed.profiling.frames import ARRAY, PYTHON, file_kind
from sightspeed.profiling.sampler import Sampler
from sightspeed.profiling.session import Session
from sightspeed.report.lines_console import excerpt, lines_table
from sightspeed.report.profile_console import render

HOT = textwrap.dedent('''
    import numpy as np
    import sightspeed

    x = np.random.default_rng(0).integers(0, 255, (1500, 1500), dtype=np.uint8)
    for _ in range(6):
        with sightspeed.stage("work"):
            y = (x.astype(np.float32) ** 1.2)
            small = int(x[0, 0]) + 1
''')


def _line_of(source: str, text: str) -> int:
    return next(k for k, line in enumerate(source.splitlines(), 1) if text in line)


def test_the_hot_line_and_its_expression(tmp_path):
    script = tmp_path / "hot.py"
    script.write_text(HOT)
    result = profile_script([str(script)], Session(), perf=False)
    assert isinstance(result, ScriptResult) and result.code == 0 and result.traceback is None
    session = result.session
    assert session.config["hotspots"] == "lines" and session.counters["samples"] > 0
    top = session.lines["work"][0]
    assert top["line"] == _line_of(HOT, "** 1.2") and top["file"].endswith("hot.py")
    assert top["code"] == "y = (x.astype(np.float32) ** 1.2)" and top["share"] > 0.5
    start, end = top["columns"]  # the binary expression caught running: it covers `** 1.2`
    assert "** 1.2" in top["code"][start:end] and top["code"][start:end].startswith("x.astype")
    assert top["category"] == ARRAY
    assert all(row["line"] != _line_of(HOT, "small =") or row["share"] < 0.2 for row in session.lines["work"])
    # the stage table's hotspot is that line; the lines table marks the expression under the source
    console = Console(record=True, width=220)
    render(console, session)
    text = console.export_text()
    assert "hot.py:" in text and "y = (x.astype(np.float32) ** 1.2)" in text
    source_row = next(line for line in text.splitlines() if "y = (x.astype(np.float32) ** 1.2)" in line)
    carets = text.splitlines()[text.splitlines().index(source_row) + 1]
    code_at = source_row.index("y = (x.astype")
    assert carets.index("^") == code_at + start and carets.count("^") == end - start
    # saved and loaded, the lines are the same; a session file from before the sampler still loads
    again = Session.from_dict(json.loads(json.dumps(session.to_dict())))
    assert again.lines == session.lines and again.breakdown == session.breakdown
    old = session.to_dict()
    del old["lines"], old["breakdown"]
    assert Session.from_dict(old).lines == {} and Session.from_dict(old).breakdown == {}
    assert not any(t.name == "sightspeed-sampler" for t in threading.enumerate())


def numpy_work(x: np.ndarray, rounds: int) -> None:
    for _ in range(rounds):
        np.sqrt(x * 1.0001 + 2.0)


def python_work(rounds: int) -> int:
    total = 0
    for k in range(rounds):
        total += k * k % 7
    return total


def test_each_thread_sampled_in_its_own_stage():
    x = np.ones(3_000_000)
    python_rounds = 600_000

    def in_numpy() -> None:
        with scope.stage("numpy"):
            numpy_work(x, 25)

    def in_python() -> None:
        with scope.stage("python"):
            python_work(python_rounds)

    with profile(hotspots="lines", interval=0.002, base="(main)") as session:
        threads = [threading.Thread(target=in_numpy), threading.Thread(target=in_python)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    numpy_lines = {row["function"] for row in session.lines["numpy"]}
    python_lines = {row["function"] for row in session.lines["python"]}
    assert "numpy_work" in numpy_lines and "python_work" not in numpy_lines
    assert "python_work" in python_lines and "numpy_work" not in python_lines
    assert session.lines["numpy"][0]["function"] == "numpy_work"
    assert session.lines["python"][0]["function"] == "python_work"
    assert session.lines["python"][0]["category"] == PYTHON
    # the functions view, shaped as cProfile's rows: python-overhead is recognised from the samples
    assert session.hotspots["python"][0]["python_share"] > 0.5
    assert session.hotspots["numpy"][0]["python_share"] < 0.5


def test_pipeline_workers_are_sampled_in_their_stages():
    """The executor's stages on its worker threads (it tells the instruments, as stage() blocks do)."""
    from sightspeed import Item, Pipeline, Pipelined, Stage

    def alpha(item: Item) -> None:
        item.results["a"] = python_work(150_000)

    def beta(item: Item) -> None:
        item.results["b"] = numpy_work(np.ones(1_000_000), 4)

    pipeline = Pipeline([Stage("alpha", alpha), Stage("beta", beta)])
    items = [Item(f"x{k}", k, image=np.zeros((2, 2, 3), np.uint8)) for k in range(8)]
    with profile(hotspots="lines", interval=0.002, base=None) as session:
        done = list(Pipelined(workers=2).run(pipeline, items, session))
    assert all(i.ok for i in done) and set(session.lines) == {"alpha", "beta"}  # no base: idle time is nobody's
    assert {r["function"] for r in session.lines["alpha"]} & {"python_work", "alpha"}
    assert "numpy_work" not in {r["function"] for r in session.lines["alpha"]}
    assert session.lines["beta"][0]["function"] == "numpy_work"


def test_the_magic_shows_lines():
    """In a process of its own: IPython's test shell starts once per process (tests/test_profile_cli.py's too)."""
    pytest.importorskip("IPython")
    check = textwrap.dedent('''
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        ip.run_line_magic("load_ext", "sightspeed")
        session = ip.run_cell_magic("sightspeed", "-o --lines", "total = sum(i * i for i in range(3_000_000))")
        print(session.config["hotspots"], "|", session.lines["(main)"][0]["code"])
    ''')
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "lines | total = sum(i * i for i in range(3_000_000))"


def test_calls_mode_is_cprofile_and_no_lines():
    with profile(hotspots="calls", base="(main)") as session:
        python_work(50_000)
    assert session.config["hotspots"] == "calls" and session.lines == {} and session.hotspots["(main)"]
    assert session.hotspots["(main)"][0]["calls"] >= 1 and "samples" not in session.hotspots["(main)"][0]
    with pytest.raises(ValueError, match="hotspots"):
        with profile(hotspots="functions"):
            pass


def test_profiler_frames_are_never_the_users_line():
    assert file_kind(scope.__file__) == 0 and file_kind(threading.__file__) == 3
    assert file_kind(np.__file__) == 1 and file_kind(__file__) == 2
    sampler = Sampler(base="(main)")
    other = threading.Thread(target=lambda: (time.sleep(0.05), sampler.sample(0.005)))
    other.start()
    other.join()  # the thread running sample() is the profiler (no line); this one waits in threading.py: this line
    rows = [row for rows in sampler.lines().values() for row in rows]
    assert [(r["function"], r["code"], r["category"]) for r in rows] == [
        ("test_profiler_frames_are_never_the_users_line", "other.join()  # the thread running sample() is the "
         "profiler (no line); this one waits in threading.py: this line", "waiting")]


def test_excerpt_keeps_the_marked_expression_in_view():
    code = "result = " + "a + " * 40 + "np.sqrt(big_array)"
    text, start, end = excerpt(code, [len(code) - 18, len(code)], width=40)
    assert text[start:end] == "np.sqrt(big_array)" and len(text) <= 40
    assert lines_table(Session()) is None


# ----- a script that does not end well still gives its profile ----------------------------------------------------
FAILS = textwrap.dedent('''
    import sightspeed

    def step(k):
        with sightspeed.stage("step"):
            if k == 2:
                {ending}
            return sum(range(1000))

    for k in range(5):
        step(k)
''')


@pytest.mark.parametrize("ending, code, last", [
    ("raise ValueError('bad frame')", 1, "ValueError: bad frame"),
    ("raise SystemExit(5)", 5, None),
    ("raise KeyboardInterrupt", 130, "KeyboardInterrupt"),
    ("raise SystemExit('no input given')", 1, "no input given"),
])
def test_a_failing_script_still_returns_its_session(tmp_path, ending, code, last):
    script = tmp_path / "app.py"
    script.write_text(FAILS.replace("{ending}", ending))
    argv_before, path_before = sys.argv[:], sys.path[:]
    result = profile_script([str(script), "--flag"], Session(), perf=False)
    assert result.code == code
    assert sys.argv == argv_before and sys.path == path_before
    assert result.session.stage_summary()["step"]["calls"] == 3  # steps 0, 1 and the one that ended it
    assert result.session.wall_s > 0 and scope.active() is None
    session, exit_code = result  # unpacks as the old (session, code) pair
    assert session is result.session and exit_code == code
    if last is None:
        assert result.traceback is None
        return
    assert result.traceback.strip().splitlines()[-1] == last
    if code != 1 or "Error" in last:  # a traceback: the user's frames only, as Python prints them
        assert "app.py" in result.traceback and "in step" in result.traceback
        assert "runpy" not in result.traceback and "sightspeed" not in result.traceback


def test_what_does_not_exist_is_a_usage_error(tmp_path):
    with pytest.raises(ScriptNotFound, match="no such script"):
        profile_script([str(tmp_path / "missing.py")], Session())
    with pytest.raises(ScriptNotFound, match="no module named sightspeed_no_such_module"):
        profile_script(["-m", "sightspeed_no_such_module"], Session())
    with pytest.raises(ValueError, match="-c needs"):
        profile_script(["-c"], Session())
    assert issubclass(ScriptNotFound, ValueError)  # the CLI's `except ValueError` maps it to exit 2 today


def test_python_dash_c(tmp_path):
    code = ("import sys, sightspeed\n"
            "with sightspeed.stage('spin'):\n"
            "    total = sum(i * i for i in range(int(sys.argv[1])))\n"
            "print(sys.argv[0], total > 0)\n")
    result = profile_script(["-c", code, "2000000"], Session(), perf=False)
    assert result.code == 0 and result.session.config["pipeline"] == "-c"
    assert result.session.stage_summary()["spin"]["calls"] == 1
    row = result.session.lines["spin"][0]
    assert row["file"] == "<string>" and row["line"] == 3 and "sum(i * i" in row["code"]
    failing = profile_script(["-c", "x = 1\n1 / 0\n"], Session(), perf=False)
    assert failing.code == 1 and 'File "<string>", line 2' in failing.traceback
    assert failing.traceback.strip().endswith("ZeroDivisionError: division by zero")
