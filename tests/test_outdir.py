"""The output folder's contract: never a silent overwrite, one writer, no write through a symlink, inputs never
inside OUT, resume after kill -9 with outputs identical to an uninterrupted run, and nothing written outside OUT
and sightspeed's cache."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from sightspeed.io.outdir import OutDir, OutDirError

SLOW_INVERT = '''
import time
from sightspeed import Pipeline, Stage

def invert(item):
    time.sleep(0.005)
    item.output = 255 - item.image

def build():
    return Pipeline([Stage("invert", invert)])
'''


N = 300  # a folder of a few hundred small images


def cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(N):
        (folder / f"img_{k:03d}.jpg").write_bytes(simplejpeg.encode_jpeg(
            rng.integers(0, 255, (48, 64, 3), np.uint8), 90, "BGR"))
    return folder


@pytest.fixture
def user_pipeline(tmp_path) -> Path:
    (tmp_path / "slowinvert.py").write_text(SLOW_INVERT)
    return tmp_path


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jpg"))}


def test_a_second_run_into_the_same_out_is_refused_then_overwrite_starts_over(images, user_pipeline):
    out = user_pipeline / "out"
    first = cli("run", "slowinvert:build", str(images), "-o", str(out), cwd=user_pipeline)
    assert first.returncode == 0 and len(rows(out)) == N and (out / "_SUCCESS").is_file()
    before = outputs(out)
    again = cli("run", "slowinvert:build", str(images / "img_000.jpg"), "-o", str(out), cwd=user_pipeline)
    assert again.returncode == 2 and "holds a previous run: --resume continues it, --overwrite" in again.stderr
    assert outputs(out) == before and len(rows(out)) == N  # nothing touched
    over = cli("run", "slowinvert:build", str(images / "img_000.jpg"), "-o", str(out), "--overwrite",
               cwd=user_pipeline)
    assert over.returncode == 0 and len(rows(out)) == 1 and list(outputs(out)) == ["img_000.jpg"]


def test_a_non_empty_folder_that_is_no_run_is_refused(images, user_pipeline):
    out = user_pipeline / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = cli("run", "slowinvert:build", str(images), "-o", str(out), cwd=user_pipeline)
    assert proc.returncode == 2 and "not empty and holds no sightspeed run" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] or (out / "notes.txt").read_text() == "keep me"


def test_resume_refuses_other_settings_naming_what_differs(tmp_path):
    with OutDir(tmp_path / "o", {"task": "ocr", "options": {"draw": False}}):
        pass
    (tmp_path / "o" / "manifest.jsonl").write_text("")
    with pytest.raises(OutDirError, match="draw"):
        OutDir(tmp_path / "o", {"task": "ocr", "options": {"draw": True}}, resume=True)


def test_one_writer_per_out(images, user_pipeline):
    out = user_pipeline / "out"
    with OutDir(out, {"x": 1}):
        proc = cli("run", "slowinvert:build", str(images), "-o", str(out), cwd=user_pipeline)
    assert proc.returncode == 2 and "being written by another sightspeed run" in proc.stderr


def test_an_input_inside_out_is_a_usage_error(images, user_pipeline):
    proc = cli("run", "slowinvert:build", str(images), "-o", str(images.parent), cwd=user_pipeline)
    assert proc.returncode == 2 and f"input {images} is inside the output folder" in proc.stderr
    same = cli("run", "slowinvert:build", str(images), "-o", str(images), cwd=user_pipeline)
    assert same.returncode == 2 and "inside the output folder" in same.stderr


def test_symlinks_inside_out_are_never_followed(tmp_path, images, user_pipeline):
    """OUT/sub -> ../elsewhere: the item whose output goes there fails with the reason, nothing lands outside;
    OUT/manifest.jsonl -> victim.txt: the victim is never written."""
    nested = tmp_path / "nested" / "sub"
    nested.mkdir(parents=True)
    (nested / "a.jpg").write_bytes((images / "img_000.jpg").read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere)
    (out / ".sightspeed-run.json").write_text(json.dumps({"fingerprint": {}}))
    proc = cli("run", "slowinvert:build", str(tmp_path / "nested"), "-o", str(out), "--overwrite",
               cwd=user_pipeline)
    assert proc.returncode == 3, proc.stderr
    (row,) = rows(out)
    assert row["status"] == "error" and "symlink" in row["reason"] and list(elsewhere.iterdir()) == []
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / "manifest.jsonl").symlink_to(victim)
    for extra in ([], ["--resume"], ["--overwrite"]):
        cli("run", "slowinvert:build", str(images / "img_001.jpg"), "-o", str(out2), *extra, cwd=user_pipeline)
        assert victim.read_text() == "precious", extra


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_resume_after_kill_9_gives_the_uninterrupted_outputs(images, user_pipeline, seed):
    whole = user_pipeline / "whole"
    assert cli("run", "slowinvert:build", str(images), "-o", str(whole), cwd=user_pipeline).returncode == 0
    out = user_pipeline / f"killed{seed}"
    proc = subprocess.Popen([sys.executable, "-m", "sightspeed", "run", "slowinvert:build", str(images), "-o",
                             str(out)], cwd=user_pipeline, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / "manifest.jsonl").is_file() and time.monotonic() < deadline:  # models and imports first
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "_SUCCESS").exists() or len(rows(out)) == N
    resumed = cli("run", "slowinvert:build", str(images), "-o", str(out), "--resume", cwd=user_pipeline)
    assert resumed.returncode == 0, resumed.stderr
    got = rows(out)
    assert sorted(r["input"] for r in got) == sorted(r["input"] for r in rows(whole))  # one row per input
    assert outputs(out) == outputs(whole)  # byte-identical
    assert not [p for p in out.rglob("*") if ".partial" in p.name] and (out / "_SUCCESS").is_file()


def test_nothing_is_written_outside_out_and_the_cache(tmp_path, sample_paths):
    """HOME and XDG_* point at empty folders: after a portrait run and an OCR run on OpenVINO, they stay empty."""
    pytest.importorskip("openvino")
    from sightspeed.models.zoo import ENTRIES, resolve

    for name in ENTRIES:  # fetched into the real cache first: this test is about what a run writes
        resolve(name, quiet=True)
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    from sightspeed.host import cache_dir

    env = {"HOME": str(home), "XDG_CACHE_HOME": str(xdg / "cache"), "XDG_CONFIG_HOME": str(xdg / "config"),
           "XDG_DATA_HOME": str(xdg / "data"), "XDG_STATE_HOME": str(xdg / "state"),
           "SIGHTSPEED_CACHE": str(cache_dir())}
    portrait = cli("run", "portrait", *sample_paths, "-o", str(tmp_path / "p"), env=env)
    assert portrait.returncode == 0, portrait.stderr
    ocr = cli("run", "ocr", sample_paths[0], "--runtime", "openvino", "-o", str(tmp_path / "o"), env=env)
    assert ocr.returncode == 0, ocr.stderr
    written = [str(p.relative_to(tmp_path)) for p in (*home.rglob("*"), *xdg.rglob("*"))]
    assert written == [], written
