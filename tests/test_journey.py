"""The journey's program (examples/journey): before.py and each step of stages.py on the same JPEG pages, every step's
boxes held against the previous one's by benchmarks/journey.py (sightspeed.equivalence on the boxes as masks), and
the staged program run as a user runs it (`sightspeed run examples/journey/stages.py:build`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sightspeed.models import convert

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(bool(convert.missing()),
                                reason=f"the journey's TensorFlow model needs the converter: {convert.INSTALL}")
# (the converted model comes from conftest's converted_cache)


@pytest.fixture()
def env(converted_cache):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1", "SIGHTSPEED_CACHE": str(converted_cache[0])}


def test_every_step_keeps_the_boxes_of_the_step_before(env):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "journey.py"), "--pages", "2", "--rounds", "1"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    steps = report["steps"]
    assert list(steps) == ["1 before.py", "2 stages", "3 decode", "4 preprocess kernel", "5 preprocess in graph",
                           "6 onnxruntime", "6 openvino f32", "6 openvino bf16"]
    for name, row in steps.items():
        assert row["images_per_s"]["median"] > 0
        if name != "1 before.py":
            assert row["check"]["ok"], (name, row["check"])
    assert steps["2 stages"]["check"]["pixels_differing"] == 0  # the same code as before.py: the same boxes


def test_the_staged_program_runs_from_the_command_line(tmp_path, env):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _pages import document_pages

    pages = document_pages(tmp_path / "pages", 2, suffix=".jpg")
    (tmp_path / "pages" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    done = subprocess.run([sys.executable, "-m", "sightspeed", "run", "examples/journey/stages.py:build",
                           str(tmp_path / "pages"), "-o", str(tmp_path / "out"), "--step", "6", "--runtime",
                           "onnxruntime"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 3, done.stderr[-3000:]  # one bad input: the run goes on, the exit code says so
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    status = {Path(r["input"]).name: r["status"] for r in rows if "input" in r}
    assert status == {**{Path(p).name: "ok" for p in pages}, "broken.jpg": "error"}
    bad = subprocess.run([sys.executable, "-m", "sightspeed", "run", "examples/journey/stages.py:build",
                          str(tmp_path / "pages"), "-o", str(tmp_path / "out2"), "--step", "3", "--runtime",
                          "openvino"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert bad.returncode != 0 and "give --step 6" in bad.stderr


def test_tune_picks_the_runtime_and_precision_of_the_users_program(tmp_path, env):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _pages import document_pages

    document_pages(tmp_path / "pages", 3, suffix=".jpg")
    done = subprocess.run([sys.executable, "-m", "sightspeed", "tune", "examples/journey/stages.py:build",
                           str(tmp_path / "pages"), "--step", "6", "--budget", "100s", "-o",
                           str(tmp_path / "tuned.toml")], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads((tmp_path / "tuned.json").read_text())
    trials = {t["candidate"]: t for t in table["trials"]}
    # build.tuning gave tune the detector's runtimes and tiers; build.fidelity checked each against the default
    for label in ("all models onnxruntime/f32", "all models openvino/f32"):
        assert label in trials and trials[label]["pass"], (label, sorted(trials))
        assert "boxes differ on" in trials[label]["fidelity"]
    assert set(table["chosen_config"]["options"]) <= {"runtime", "precision"}
