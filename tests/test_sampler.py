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


# ----- the verdict and the lines are about the user's code, never sightspeed's ----------------------------------
LOOP = textwrap.dedent('''
    import sightspeed

    def work(n):
        total = 0
        for i in range(n):
            total += i * i % 7
        return total

    with sightspeed.stage("setup"):
        work(1000)
    for k in range(30):
        {body}
''')


def _verdict_of(tmp_path, body: str):
    from sightspeed.profiling.verdict import verdict

    script = tmp_path / "loop.py"
    script.write_text(LOOP.replace("{body}", body))
    result = profile_script([str(script)], Session(), perf=False, interval=0.002)
    assert result.code == 0, result.traceback
    return result.session, verdict(result.session)


def test_time_in_the_users_stages_is_not_outside_any_stage(tmp_path):
    """The whole loop in the user's stage: its samples are in the breakdown, but the verdict is about the stage."""
    session, judged = _verdict_of(tmp_path, 'with sightspeed.stage("step"):\n            work(60000)')
    assert "outside any stage" not in judged.text and judged.stage == "step", judged.text
    assert "step sets the pace" in judged.text  # the stage with the time, not the first one (setup)
    assert session.breakdown[PYTHON]["wall_s"] > 0 and session.breakdown[PYTHON]["unstaged_s"] < 0.5 * \
        session.breakdown[PYTHON]["wall_s"]
    # a session saved before unstaged_s: with a stage of the user's, its sampled rows are not "outside"
    for row in session.breakdown.values():
        row.pop("unstaged_s", None)
    from sightspeed.profiling.verdict import verdict

    assert "outside any stage" not in verdict(session).text


def test_a_hot_loop_outside_every_stage_is_named(tmp_path):
    session, judged = _verdict_of(tmp_path, "work(60000)")
    assert judged.stage == "(script)" and judged.bound == PYTHON, judged.text
    assert "went to plain Python outside any stage" in judged.text
    line = _line_of(LOOP, "total += i * i % 7")
    assert judged.numbers["line"].endswith(f"loop.py:{line}") and judged.numbers["share"] > 0.5


def test_a_script_with_no_stage_at_all_gets_a_verdict(tmp_path):
    from sightspeed.profiling.verdict import verdict

    script = tmp_path / "plain.py"
    script.write_text("total = 0\nfor i in range(1_500_000):\n    total += i * i % 7\n")
    session = profile_script([str(script)], Session(), perf=False, interval=0.002).session
    judged = verdict(session)
    assert judged.stage == "(script)" and "plain.py:3" in judged.text, judged.text
    assert judged.text.startswith(f"{script} ran ") and "no stage" in judged.text


def test_the_profilers_own_bookkeeping_is_nobodys_line(tmp_path):
    """Each stage() call makes a Span, whose __init__ dataclasses generated (file ``<string>``): never a line."""
    script = tmp_path / "many.py"
    script.write_text("import sightspeed\n\nfor k in range(30000):\n    with sightspeed.stage('step'):\n"
                      "        pass\n")
    session = profile_script([str(script)], Session(), perf=False, interval=0.002).session
    rows = [row for rows in session.lines.values() for row in rows]
    functions = [row["function"] for rows in session.hotspots.values() for row in rows]
    assert rows and session.wall_s > 0.2
    assert not [r for r in rows if r["file"] == "<string>" or "__create_fn__" in r["function"]], rows
    assert not [f for f in functions if "__create_fn__" in f], functions


def test_dash_c_code_and_the_users_dataclasses_are_the_users(tmp_path):
    """In -c mode ``<string>`` is the user's program: its functions are its lines; a dataclass's generated
    __init__ (also ``<string>``, other line numbers) goes to the user's line that made the object."""
    code = ("from dataclasses import dataclass\n"
            "@dataclass\n"
            "class Box:\n"
            "    x: int\n"
            "    y: int\n"
            "def spin(n):\n"
            "    return sum(i * i for i in range(n))\n"
            "boxes = [Box(i, i) for i in range(400_000)]\n"
            "total = spin(1_500_000)\n")
    session = profile_script(["-c", code], Session(), perf=False, interval=0.002).session
    rows = session.lines["(script)"]
    assert not [r for r in rows if "__create_fn__" in r["function"]], rows
    by_line = {r["line"]: r for r in rows}
    assert by_line[8]["code"].startswith("boxes = [Box(i, i)") and by_line[8]["file"] == "<string>"
    assert by_line[7]["function"].startswith("spin") and "sum(i * i" in by_line[7]["code"]
    assert {r["line"] for r in rows[:2]} == {7, 8}, rows


def _category_at_call(tmp_path, source: str, function: str, namespace: dict) -> str:
    """The category :func:`where` gives a thread caught at the last call of ``function`` (compiled from a real
    file: the callee's name is read from the source)."""
    import dis

    from sightspeed.profiling.frames import USER, where

    path = tmp_path / "calls.py"
    path.write_text(source)
    exec(compile(source, str(path), "exec"), namespace)
    code = namespace[function].__code__
    call = [i for i in dis.get_instructions(code) if i.opname == "CALL"][-1]
    return where(code, call.offset, namespace, USER)[2]


def test_categories_of_calls(tmp_path):
    from sightspeed.profiling.frames import IO, OTHER, WAITING

    source = textwrap.dedent('''
        import time
        import numpy as np
        import pyclipper

        def read_file(path):
            return open(path, "rb").read()

        def read_array(path):
            return np.fromfile(path)

        def native():
            return pyclipper.Pyclipper()

        def array():
            return np.sqrt(x)

        def nap():
            time.sleep(0.001)
    ''')
    namespace: dict = {}
    got = {name: _category_at_call(tmp_path, source, name, namespace)
           for name in ("read_file", "read_array", "native", "array", "nap")}
    assert got == {"read_file": IO, "read_array": IO, "native": OTHER, "array": ARRAY, "nap": WAITING}


# ----- a Ctrl-C that lands in the profiler's own finishing or writing loses nothing --------------------------------

@pytest.mark.parametrize("ending, traceback_ends", [("pass", "KeyboardInterrupt"),
                                                    ("raise KeyboardInterrupt", "KeyboardInterrupt")])
def test_a_ctrl_c_while_the_profile_is_finished_loses_nothing(tmp_path, monkeypatch, ending, traceback_ends,
                                                              ctrl_c_raises):
    """The program ends (or is interrupted: a first Ctrl-C), then a Ctrl-C arrives while the sampler's lines are
    being collected: the profile is finished whole, then the program counts as interrupted (130)."""
    import signal

    script = tmp_path / "app.py"
    script.write_text(FAILS.replace("{ending}", ending))
    lines = Sampler.lines

    def interrupted(self, top=10):
        signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C right now
        return lines(self, top)

    monkeypatch.setattr(Sampler, "lines", interrupted)
    result = profile_script([str(script)], Session(), perf=False)
    assert result.code == 130 and result.traceback.strip().splitlines()[-1] == traceback_ends
    session = result.session
    assert session.config["hotspots"] == "lines" and "samples" in session.counters  # _finish ran to its end
    assert session.config["sample_interval_s"] > 0 and session.stage_summary()["step"]["calls"] >= 3
    assert scope.active() is None and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_while_writing_waits_for_whole_files(tmp_path, monkeypatch, ctrl_c_raises):
    import signal

    import sightspeed.profiler as profiler

    with profile(hotspots="calls", base="(main)") as session:
        with scope.stage("step"):
            python_work(20_000)
    trace = profiler.write_chrome_trace

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return trace(*args, **kwargs)

    monkeypatch.setattr(profiler, "write_chrome_trace", interrupted)
    with pytest.raises(KeyboardInterrupt):  # the Ctrl-C still stops the caller, once the files are whole
        profiler.write_outputs(session, tmp_path / "prof")
    assert sorted(p.name for p in (tmp_path / "prof").iterdir()) == ["session.json", "stages.prof", "trace.json"]
    assert json.loads((tmp_path / "prof" / "trace.json").read_text())["traceEvents"]
    assert Session.load(tmp_path / "prof" / "session.json").stage_summary()["step"]["calls"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
