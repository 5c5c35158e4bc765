"""Resume, case by case: a torn last manifest line, an output whose bytes changed since its row was written, the
``.partial`` files a killed run leaves; a kill -9 inside a video; SIGTERM and SIGINT mid-run; and numba's cache
kept in sightspeed's cache folder (nothing else written under HOME).

The run is the Python API's (the cases planted by hand: under a second each) or the CLI's with a cheap user
pipeline (tests/test_outdir.py's ``slowinvert``: a few seconds each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from sightspeed import Pipeline, Stage
from sightspeed.pipeline.run import RunResult, run
from test_outdir import cli, outputs, rows, user_pipeline  # noqa: F401 - user_pipeline: a fixture
from test_trust import avi, published, signal_at

N = 8


def invert(item) -> None:
    item.output = 255 - item.image


def run_into(folder: Path, out: Path, **kwargs) -> RunResult:
    return run(Pipeline([Stage("invert", invert)], name="invert"), [str(folder)], out, **kwargs)


def jpegs(folder: Path, names: list[str]) -> Path:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(len(names))
    for name in names:
        (folder / name).write_bytes(simplejpeg.encode_jpeg(rng.integers(0, 255, (40, 56, 3), np.uint8), 90, "BGR"))
    return folder


@pytest.fixture
def few(tmp_path) -> Path:
    return jpegs(tmp_path / "in", [f"img_{k}.jpg" for k in range(N)])


def one_ok_row_per_input(out: Path, folder: Path) -> None:
    got = rows(out)  # every line parses: no torn row left
    assert sorted(r["input"] for r in got) == sorted(str(p) for p in folder.iterdir())
    assert all(r["status"] == "ok" for r in got) and (out / "_SUCCESS").is_file()


def partials(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".partial" in p.name]


def test_resume_repairs_a_torn_last_line(few, tmp_path):
    out = tmp_path / "out"
    run_into(few, out)
    whole = outputs(out)
    lines = (out / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (out / "manifest.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-row
    (out / "_SUCCESS").unlink()
    result = run_into(few, out, resume=True)
    assert (result.resumed, result.ok, result.failed) == (N - 1, 1, 0)  # the torn row's input is redone
    one_ok_row_per_input(out, few)
    assert outputs(out) == whole


def test_resume_redoes_exactly_the_outputs_whose_bytes_changed(few, tmp_path):
    out = tmp_path / "out"
    run_into(few, out)
    whole = outputs(out)
    flipped, cut = out / "img_2.jpg", out / "img_5.jpg"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the checksum tells
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[:100])
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg") if p not in (flipped, cut)}
    result = run_into(few, out, resume=True)
    assert (result.resumed, result.ok) == (N - 2, 2)
    assert sorted(r["input"] for r in result.rows) == [str(few / "img_2.jpg"), str(few / "img_5.jpg")]
    assert outputs(out) == whole  # restored byte-identical
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # the others were not rewritten
    one_ok_row_per_input(out, few)


def test_resume_removes_leftover_partial_files(few, tmp_path):
    out = tmp_path / "out"
    run_into(few, out)
    whole = outputs(out)
    (out / "sub").mkdir()
    planted = [out / ".img_3.jpg.12345.140001.partial",  # io/write.py's write_atomic: .NAME.PID.THREAD.partial
               out / "sub" / ".x.png.7.8.partial",
               out / ".clip.partial.mp4"]  # io/video_write.py: .STEM.partial.SUFFIX
    for path in planted:
        path.write_bytes(b"half")
    run_into(few, out, resume=True)
    assert partials(out) == [] and outputs(out) == whole
    one_ok_row_per_input(out, few)


def start(user_pipeline: Path, folder: Path, out: Path) -> subprocess.Popen:
    """The run in the background, its stderr into ``stderr.txt`` beside OUT (a pipe nobody reads could fill)."""
    with open(out.parent / "stderr.txt", "w") as stderr:
        # SIGINT at its default, as in a terminal: a CI job started in the background inherits it ignored, and
        # Python then never raises KeyboardInterrupt for it
        return subprocess.Popen([sys.executable, "-m", "sightspeed", "run", "slowinvert:build", str(folder), "-o",
                                 str(out)], cwd=user_pipeline, stdout=subprocess.DEVNULL, stderr=stderr,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_a_kill_inside_a_video_resumes_to_the_same_bytes(tmp_path, user_pipeline):
    """kill -9 while the video's ``.partial.mp4`` is being written (images done before it, others after it)."""
    folder = jpegs(tmp_path / "in", ["a0.jpg", "a1.jpg", "a2.jpg", "z0.jpg", "z1.jpg"])
    avi(folder / "m_clip.avi", frames=150)
    whole = tmp_path / "whole"
    assert cli("run", "slowinvert:build", str(folder), "-o", str(whole), cwd=user_pipeline).returncode == 0
    out = tmp_path / "killed"
    proc = start(user_pipeline, folder, out)
    signal_at(proc, out, 4, after=".m_clip.partial.mp4", within=0.2)
    proc.wait()
    assert (out / ".m_clip.partial.mp4").exists() and not (out / "m_clip.mp4").exists()  # killed inside it
    resumed = cli("run", "slowinvert:build", str(folder), "-o", str(out), "--resume", cwd=user_pipeline)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed: 3 inputs were already done" in resumed.stderr  # the images before the video
    one_ok_row_per_input(out, folder)
    assert published(out) == published(whole) and "m_clip.mp4" in published(out)
    assert partials(out) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_stop_cleanly_and_resume(tmp_path, user_pipeline, signum):
    """Exit 130 (cli.py, the shell's code for an interrupt); what ran is in the manifest and session.json;
    --resume finishes the run."""
    from sightspeed.profiling.session import Session

    folder = jpegs(tmp_path / "in", [f"img_{k:03d}.jpg" for k in range(200)])
    out = tmp_path / "out"
    proc = start(user_pipeline, folder, out)
    signal_at(proc, out, 9, rows_first=1, within=0.2, signum=signum)
    proc.wait(timeout=120)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    done = rows(out)  # every line a whole row
    assert 0 < len(done) < 200 and not (out / "_SUCCESS").exists()
    Session.load(out / "session.json")
    resumed = cli("run", "slowinvert:build", str(folder), "-o", str(out), "--resume", cwd=user_pipeline)
    assert resumed.returncode == 0, resumed.stderr
    one_ok_row_per_input(out, folder)


NUMBA_USER = '''
import numpy as np
from sightspeed import Pipeline, Stage, kernels

def threshold(item):
    bitmap = kernels.db_bitmap(item.image[..., 0] / np.float32(255), backend="numba")
    item.output = np.dstack([bitmap * 255] * 3)

def build():
    return Pipeline([Stage("threshold", threshold)])
'''


PROBE = """
import json, numba  # numba imported first, as a user's program may
import sightspeed.kernels._refine_numba as refine
from sightspeed.host import cache_dir
print(json.dumps([str(cache_dir()), numba.config.CACHE_DIR, refine._solve._cache._cache_path]))
"""


def test_numba_caches_in_sightspeeds_cache_and_nothing_else_lands_in_home(tmp_path, few):
    """HOME and XDG_* at an empty folder, no CI, no NUMBA_CACHE_DIR or SIGHTSPEED_CACHE: numba's cache=True goes
    into sightspeed's cache folder (not ~/.cache/numba, not the package's __pycache__), and a run that compiles a
    numba kernel leaves nothing under HOME outside that folder."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "numbauser.py").write_text(NUMBA_USER)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "NUMBA_CACHE_DIR", "SIGHTSPEED_CACHE") and not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_STATE_HOME=str(home / ".local" / "state"))
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert probe.returncode == 0, probe.stderr
    cache, numba_cache, kernel_cache = json.loads(probe.stdout)
    assert Path(cache).is_relative_to(home) and numba_cache == str(Path(cache) / "numba")
    assert Path(kernel_cache).is_relative_to(numba_cache)
    proc = subprocess.run([sys.executable, "-m", "sightspeed", "run", "numbauser:build", str(few), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outside = [str(p) for p in home.rglob("*") if p.is_file() and not p.is_relative_to(cache)]
    assert outside == [], sorted(str(p) for p in home.rglob("*"))
    assert list((Path(cache) / "numba").rglob("*.nbi")), "numba cached nothing in sightspeed's cache"
