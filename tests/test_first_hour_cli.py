"""The first hour of a new user, through the real command line: their own build() raising, --debug, one style of
errors and exit codes (checked before any model loads), --help without placeholders on flags, readable doctor
and models list tables, and `profile`: a script stopped by Ctrl-C or SIGTERM keeps its profile, its flags
(--hotspots, --sample-ms, --no-implicit) do what they say, its usage errors come before the machine is probed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# 0 ok, 1 error or setup problem, 2 usage error, 3 some inputs failed (or none found)
USAGE, SETUP, PARTIAL = 2, 1, 3


def cli(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def cli_without(hidden: str, *args, env=None, timeout=300):
    """The real CLI in a Python where ``hidden`` cannot be imported (as if it were not installed)."""
    code = (f"import sys; sys.modules[{hidden!r}] = None; sys.argv = ['sightspeed'] + sys.argv[1:]; "
            "from sightspeed.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def one_error_line(proc) -> str:
    """The whole of stderr: one line, ``error: ...``."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


BUILD_RAISES = '''
def load_weights():
    raise RuntimeError("weights.bin is missing")

def build():
    load_weights()
'''

# A pipeline whose build() leaves a mark: a check that comes "before any model loads" must leave none.
MARKS_BUILD = '''
from pathlib import Path
from sightspeed import Pipeline, Stage

def check(item):
    if item.image.shape[0] < 10:
        raise ValueError("too small for my model")
    item.output = item.image

def build():
    Path(__file__).with_name("built.txt").write_text("build() ran")
    return Pipeline([Stage("check", check)])
'''


@pytest.fixture
def project(tmp_path):
    """A user's folder: mymodule.py (build raises), lib/mine.py (the same, in a sub-folder), marks.py."""
    (tmp_path / "mymodule.py").write_text(BUILD_RAISES)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mine.py").write_text(BUILD_RAISES)
    (tmp_path / "marks.py").write_text(MARKS_BUILD)
    return tmp_path


@pytest.fixture(scope="module")
def session_file(tmp_path_factory, portrait_jpegs):
    """A real session.json, from a run of a user's pipeline (no model involved)."""
    folder = tmp_path_factory.mktemp("session")
    (folder / "marks.py").write_text(MARKS_BUILD)
    proc = cli("run", "marks:build", portrait_jpegs[0], "-o", str(folder / "out"), cwd=folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder / "out" / "session.json"


# ----- 1. the user's build() raises ---------------------------------------------------------------------------------

@pytest.mark.parametrize("task, shown", [("mymodule:build", "mymodule.py"), ("./mymodule.py:build", "mymodule.py"),
                                         ("lib/mine.py:build", os.path.join("lib", "mine.py"))])
def test_a_build_that_raises_is_one_error_line_and_the_users_frames(project, portrait_jpegs, task, shown):
    proc = cli("run", task, portrait_jpegs[0], "-o", str(project / "out"), cwd=project)
    assert proc.returncode == SETUP
    *trace, last = proc.stderr.strip().splitlines()
    assert last.startswith(f"error: {task} raised RuntimeError: weights.bin is missing")
    assert "--debug" in last
    text = "\n".join(trace)
    assert text.startswith("Traceback (most recent call last):")
    assert f'{shown}", line 6, in build' in text and f'{shown}", line 3, in load_weights' in text
    assert trace[-1] == "RuntimeError: weights.bin is missing"
    # the user's frames only: none of sightspeed's, typer's or the import machinery's
    frames = [line for line in trace if line.strip().startswith("File ")]
    assert len(frames) == 2 and all(str(project) in line for line in frames), text
    assert not (project / "out").exists()


def test_debug_shows_the_full_traceback(project, portrait_jpegs):
    proc = cli("run", "mymodule:build", portrait_jpegs[0], "-o", str(project / "out"), "--debug", cwd=project)
    assert proc.returncode == SETUP
    assert os.path.join("sightspeed", "tasks", "registry.py") in proc.stderr  # sightspeed's own frames too
    assert 'mymodule.py", line 3, in load_weights' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: mymodule:build raised RuntimeError: weights.bin is missing"


def test_a_module_that_raises_on_import_shows_where(project):
    (project / "needs_torch.py").write_text("import torch_that_is_not_here\n\ndef build():\n    pass\n")
    proc = cli("run", "needs_torch:build", "-o", str(project / "out"), cwd=project)
    assert proc.returncode == SETUP
    assert 'needs_torch.py", line 1, in <module>' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: cannot load needs_torch:build: importing needs_torch raised ModuleNotFoundError: No module named "
        "'torch_that_is_not_here'")


@pytest.mark.parametrize("task, says", [
    ("nosuchtask", "unknown task 'nosuchtask': use one of portrait, ocr, or module:function"),
    ("nosuchmodule:build", "no module named nosuchmodule"),
    ("marks:nope", "marks has no function nope (it has build, check)"),
    ("./missing.py:build", "no file missing.py"),
])
def test_a_task_that_does_not_exist_is_a_usage_error(project, task, says):
    proc = cli("run", task, "-o", str(project / "out"), cwd=project)
    assert proc.returncode == USAGE and says in one_error_line(proc)


# ----- 2. --debug on failed inputs ----------------------------------------------------------------------------------

def test_failed_inputs_give_a_hint_and_debug_gives_the_first_traceback(project, portrait_jpegs):
    import cv2
    import numpy as np

    tiny = project / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((4, 4, 3), np.uint8))
    inputs = [portrait_jpegs[0], str(tiny)]
    plain = cli("run", "marks:build", *inputs, "-o", str(project / "a"), cwd=project)
    assert plain.returncode == PARTIAL
    assert "run with --debug to see the first failure's traceback" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = cli("run", "marks:build", *inputs, "-o", str(project / "b"), "--debug", cwd=project)
    assert debug.returncode == PARTIAL
    assert f"the first failure's traceback: {tiny}, stage check" in debug.stderr
    assert "Traceback (most recent call last):" in debug.stderr
    assert 'raise ValueError("too small for my model")' in debug.stderr
    assert "run with --debug" not in debug.stderr


# ----- 3. usage errors: one line, exit 2, before any model loads ----------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["run", "marks:build", "-o", "{file}"], "output folder {file} is a file"),
    (["profile", "marks:build", "-o", "{file}"], "output folder {file} is a file"),
    (["run", "marks:build", "-o", "{busy}"], "holds no sightspeed run"),
    (["run", "marks:build", "-o", "{out}", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    (["profile", "marks:build", "--what-if", "cores:0", "-o", "{out}"], "what-if 'cores:0': use cpu:2x, mem:2x, disk:2x (factors above 0), cores:N (N >= 1)"),
    (["profile", "marks:build", "--what-if", "gpu:nonsense", "-o", "{out}"], "what-if 'gpu:nonsense'"),
    (["run", "marks:build", "-o", "{out}", "--cores", "0"], "invalid value for '--cores'"),
    (["run", "marks:build"], "missing option '-o' / '--out'"),
    (["run", "marks:build", "-o", "{out}", "--nope"], "marks:build has no option --nope"),
    (["tune", "marks:build", "-o", "{folder}"], "is a folder"),
    (["nosuchcommand"], "no such command 'nosuchcommand'"),
])
def test_usage_errors_are_one_line_before_anything_loads(project, args, says):
    folder = project / "folder"
    folder.mkdir()
    busy = project / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    paths = {"file": str(project / "marks.py"), "out": str(project / "out"), "busy": str(busy),
             "folder": str(folder)}
    proc = cli(*(a.format(**paths) for a in args), cwd=project)
    assert proc.returncode == USAGE
    assert says.format(**paths) in one_error_line(proc)
    assert not (project / "built.txt").exists()  # the pipeline was never built: nothing loaded
    assert not (project / "out").exists()


@pytest.mark.parametrize("content, says", [
    ('{"hello": 1}', "not a sightspeed session"),
    ("hello", "is not a session: not JSON"),
    (None, "no such file"),
])
def test_report_of_what_is_not_a_session_is_a_usage_error(tmp_path, content, says):
    path = tmp_path / "thing.json"
    if content is not None:
        path.write_text(content)
    proc = cli("report", str(path))
    assert proc.returncode == USAGE and says in one_error_line(proc) and proc.stdout == ""


def test_report_checks_what_if_before_printing_anything(session_file):
    assert cli("report", str(session_file)).returncode == 0  # a real session: it renders
    proc = cli("report", str(session_file), "--what-if", "cpu:2x,gpu:nonsense")
    assert proc.returncode == USAGE and "what-if 'gpu:nonsense'" in one_error_line(proc)
    assert proc.stdout == ""


@pytest.mark.parametrize("args, says", [
    (["models", "fetch", "no-such-model"], "unknown zoo entry no-such-model"),
    (["cache", "clear", "everything"], "unknown cache kind everything"),
    (["bench", "kernels", "--size", "12"], "'12' is not WIDTHxHEIGHT"),
    (["bench", "kernels", "--op", "nope"], "unknown op(s) nope"),
    (["bench", "kernels", "--backend", "nope"], "unknown backend(s) nope"),
    (["compare", "a.json", "b.json", "--fail-if-slower", "lots"], "--fail-if-slower: threshold 'lots'"),
    (["compare", "a.json", "b.json"], "a.json: no such file"),
])
def test_other_commands_usage_errors(tmp_path, args, says):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == USAGE and says in one_error_line(proc)


def test_only_missing_inputs_exit_3_before_the_pipeline_is_built(project):
    proc = cli("run", "marks:build", "nope.jpg", "nowhere/", "none*.png", "-o", str(project / "out"), cwd=project)
    assert proc.returncode == PARTIAL
    assert one_error_line(proc) == "error: no input found at nope.jpg, nowhere/, none*.png"
    assert not (project / "built.txt").exists() and not (project / "out").exists()


def test_some_missing_inputs_still_run_the_others(project, portrait_jpegs):
    proc = cli("run", "marks:build", portrait_jpegs[0], "nope.jpg", "-o", str(project / "out"), cwd=project)
    assert proc.returncode == PARTIAL and "no input found" not in proc.stderr
    rows = [json.loads(line) for line in (project / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "error"] and rows[1]["reason"] == "no such file"


# ----- 3. setup errors: exit 1, the fix named -----------------------------------------------------------------------

def test_a_missing_extra_exits_1_naming_it(tmp_path, portrait_jpegs):
    proc = cli_without("openvino", "run", "ocr", portrait_jpegs[0], "--runtime", "openvino", "--no-tuned",
                       "-o", str(tmp_path / "out"))
    assert proc.returncode == SETUP
    assert "pip install 'sightspeed[openvino]'" in proc.stderr.strip().splitlines()[-1]


def test_an_offline_model_fetch_exits_1_naming_the_fix(tmp_path):
    """rapidocr-onnxruntime hidden and pip without an index (nothing is downloaded): the fetch cannot succeed."""
    env = {**os.environ, "SIGHTSPEED_CACHE": str(tmp_path / "cache"), "PIP_NO_INDEX": "1"}
    proc = cli_without("rapidocr_onnxruntime", "models", "fetch", "ppocr-cls-v2", env=env)
    assert proc.returncode == SETUP
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not download rapidocr-onnxruntime==1.4.4 for ppocr-cls-v2")
    assert "Fix: run `sightspeed models fetch ppocr-cls-v2` where PyPI can be reached" in last
    assert not list((tmp_path / "cache").rglob("*.onnx"))


# ----- 4. --help ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["run"], ["profile"], ["tune"], ["report"], ["compare"], ["doctor"],
                                     ["machine"], ["models", "list"], ["models", "fetch"], ["models", "quantize"],
                                     ["bench", "kernels"], ["cache", "list"], ["cache", "clear"]])
def test_help_shows_flags_without_placeholders(command):
    proc = cli(*command, "--help", env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0
    assert "<bool>" not in proc.stdout and "--help" in proc.stdout
    assert "<list[str]>]" not in proc.stdout and "INPUTS...]..." not in proc.stdout


def test_help_lists_the_exit_codes():
    text = " ".join(cli("--help", env={**os.environ, "COLUMNS": "200"}).stdout.split())
    assert "Exit codes: 0 ok; 1 error or setup problem" in text
    assert "2 usage error; 3 some inputs failed" in text


# ----- 5. doctor ----------------------------------------------------------------------------------------------------

def test_doctor_prints_a_table_and_json_on_request():
    info = json.loads(cli("doctor", "--json").stdout)
    assert {"cpu", "memory", "system", "numpy", "opencv", "runtimes", "compilers", "gpu"} <= set(info)
    proc = cli("doctor")
    assert proc.returncode == 0 and not proc.stdout.lstrip().startswith("{")
    text = proc.stdout
    for label in ("CPU", "SIMD", "dot products", "caches", "memory", "OS", "numpy", "OpenCV", "runtimes",
                  "compilers", "GPU"):
        assert label in text, label
    for flag in info["cpu"]["simd"]:
        assert flag in text
    assert info["numpy"]["version"] in text and info["opencv"]["version"] in text
    assert f"{info['memory']['total_gib']} GiB" in text


# ----- 6. models list -----------------------------------------------------------------------------------------------

def test_models_list_is_an_aligned_table():
    from sightspeed.models.zoo import ENTRIES
    from sightspeed.report.models_console import size

    rows = json.loads(cli("models", "list", "--json").stdout)
    assert [r["name"] for r in rows] == list(ENTRIES)
    for row in rows:
        assert row["size"] == ENTRIES[row["name"]].size > 0
        if row["local"]:  # a file here: its size is the zoo's, its sha256 was checked
            assert Path(row["path"]).stat().st_size == row["size"] and row["sha256_ok"] is True
    proc = cli("models", "list", env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    starts, size_ends = set(), set()
    for row in rows:
        (line,) = [line for line in lines if f" {row['name']} " in line]
        assert ENTRIES[row["name"]].requirement in line
        assert ("sha256 ok" in line) == bool(row["local"] and row["sha256_ok"])
        assert (row["task"] or "sample photo") in line
        starts.add(line.index(ENTRIES[row["name"]].requirement))
        shown = f" {size(row['size'])} "  # e.g. 244 KiB, 10.4 MiB: right-aligned just before the wheel's column
        assert shown in line and line.index(shown) < line.index(ENTRIES[row["name"]].requirement)
        size_ends.add(line.index(shown) + len(shown))
    assert len(starts) == 1 and len(size_ends) == 1  # the wheels' column lines up, the sizes are right-aligned
    assert size(229714) == "224 KiB" and size(10857958) == "10.4 MiB" and size(0) == "-"


# ----- 7. sightspeed profile: never loses a run, checks before it probes, flags that do what they say ------------

SPIN = '''
import sys
from pathlib import Path

import sightspeed

with sightspeed.stage("setup"):
    total = sum(i * i for i in range(1000))
Path(sys.argv[1]).write_text("spinning")
while True:
    with sightspeed.stage("spin"):
        total = sum(i * i for i in range(20000))
'''


# `python -m sightspeed ...` with Ctrl-C raising KeyboardInterrupt, as in a terminal (Python leaves SIGINT ignored
# when it starts ignoring it, as a shell's background jobs do)
AS_IN_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "sys.argv[0] = 'sightspeed'; runpy.run_module('sightspeed', run_name='__main__', alter_sys=True)")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_to_a_profiled_script_keeps_its_profile(tmp_path, signame):
    """A real signal to `sightspeed profile -- python spin.py` once the script spins: exit 130, the profile written,
    the report printed, then the script's traceback."""
    import signal
    import time

    from sightspeed.profiling.session import Session

    script, marker, prof = tmp_path / "spin.py", tmp_path / "spinning", tmp_path / "prof"
    script.write_text(SPIN)
    proc = subprocess.Popen([sys.executable, "-c", AS_IN_A_TERMINAL, "profile", "-o", str(prof), "--", "python",
                             str(script), str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=30)
        time.sleep(0.2)  # a few turns of the loop
        proc.send_signal(getattr(signal, signame))
        out, errors = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, errors[-3000:]
    session = Session.load(prof / "session.json")
    assert (prof / "trace.json").is_file() and session.stage_summary()["spin"]["calls"] >= 1
    assert "verdict:" in out and "spin" in out  # the report
    assert errors.index("wrote ") < errors.index("Traceback (most recent call last):")  # then the traceback
    assert errors.strip().splitlines()[-1] == "KeyboardInterrupt" and 'spin.py", line 12' in errors


def test_a_failing_script_profiled_with_calls_writes_stages_prof(tmp_path):
    import pstats

    script = tmp_path / "app.py"
    script.write_text("import sightspeed\n\nfor k in range(3):\n    with sightspeed.stage('step'):\n"
                      "        total = sum(i * i for i in range(50_000))\nraise ValueError('bad frame')\n")
    prof = tmp_path / "prof"
    proc = cli("profile", "-o", str(prof), "--hotspots", "calls", "--", "python", str(script))
    assert proc.returncode == SETUP and proc.stderr.strip().splitlines()[-1] == "ValueError: bad frame"
    assert {p.name for p in prof.iterdir()} == {"session.json", "trace.json", "stages.prof"}
    stats = pstats.Stats(str(prof / "stages.prof"))
    assert any(func == "<genexpr>" for _, _, func in stats.stats)  # the step's own work, by cProfile
    assert "stages.prof" in proc.stderr[:proc.stderr.index("Traceback")]


def test_a_scripts_hotspots_are_lines_by_default_and_the_flags_change_them(tmp_path, portrait_jpegs):
    """By default a script gets the line sampler at 5 ms and its cv2 calls as implicit stages; --sample-ms and
    --no-implicit change exactly that."""
    from sightspeed.profiling.session import Session

    script = tmp_path / "app.py"
    script.write_text(f"import cv2\n\nfor _ in range(3):\n    image = cv2.imread({portrait_jpegs[0]!r})\n"
                      "    total = sum(i * i for i in range(300_000))\n")
    sessions = {}
    for name, flags in (("default", []), ("flags", ["--sample-ms", "2", "--no-implicit"])):
        proc = cli("profile", "-o", str(tmp_path / name), *flags, "--", "python", str(script))
        assert proc.returncode == 0, proc.stderr[-2000:]
        sessions[name] = Session.load(tmp_path / name / "session.json")
        assert "hotspots: the lines each stage spent its time on" in proc.stdout
        assert not (tmp_path / name / "stages.prof").exists()
    default, flags = sessions["default"], sessions["flags"]
    for session in (default, flags):
        assert session.config["hotspots"] == "lines" and session.lines["(script)"]
        assert any(row["code"].startswith("total = sum(") for row in session.lines["(script)"][:3])
    assert default.config["sample_interval_s"] == 0.005 and flags.config["sample_interval_s"] == 0.002
    assert default.stage_summary()["image decode"]["calls"] == 3
    assert "image decode" not in flags.stage_summary() and "implicit" not in flags.config


def test_profile_a_task_with_line_hotspots(tmp_path, portrait_jpegs):
    """One small photo through portrait (models cached): the sampler's lines per stage, from the worker threads."""
    from sightspeed.profiling.session import Session

    proc = cli("profile", "portrait", portrait_jpegs[0], "--hotspots", "lines", "-o", str(tmp_path / "prof"),
               env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    session = Session.load(tmp_path / "prof" / "session.json")
    assert session.config["hotspots"] == "lines" and session.counters["samples"] > 0
    stages = {s.name for s in session.stages}
    assert session.lines and set(session.lines) <= stages  # no base: time outside the stages is nobody's
    assert not (tmp_path / "prof" / "stages.prof").exists()
    assert "hotspots: the lines each stage spent its time on" in proc.stdout
    verdict = " ".join(proc.stdout[proc.stdout.index("verdict:"):].split())
    assert "outside any stage" not in verdict and any(stage in verdict for stage in stages)


@pytest.mark.parametrize("args, code, says", [
    (["--", "python", "-m", "nosuchmod"], USAGE, "error: no module named nosuchmod"),
    (["--", "python", "nosuch.py"], USAGE, "error: no such script: nosuch.py"),
    (["nosuchtask"], USAGE, "error: unknown task 'nosuchtask'"),
    (["portrait", "nope.jpg", "nowhere/"], PARTIAL, "error: no input found at nope.jpg, nowhere/"),
])
def test_profile_says_what_is_wrong_before_probing_the_machine(tmp_path, args, code, says):
    """One line and the exit code, before anything is measured: an empty cache stays empty (the machine's
    ceilings would be measured and cached there, for seconds)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = cli("profile", "-o", str(tmp_path / "prof"), *args, cwd=tmp_path,
               env={**os.environ, "SIGHTSPEED_CACHE": str(cache)})
    assert proc.returncode == code and one_error_line(proc).startswith(says)
    assert not list(cache.iterdir()) and not (tmp_path / "prof").exists()
