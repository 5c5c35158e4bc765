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

from sightspeed.io.outdir import OutDir, OutDirError, check_inputs

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


SCALED = '''
import numpy as np
from sightspeed import Pipeline, Stage

def build(scale: float = 1.0):
    def scaled(item):
        item.output = np.clip(item.image * scale, 0, 255).astype(np.uint8)
    return Pipeline([Stage("scale", scaled)])
'''


@pytest.fixture
def scaled(tmp_path) -> Path:
    """A user's module (scaled.py: build(scale)) and three small images in tmp_path/few."""
    (tmp_path / "scaled.py").write_text(SCALED)
    folder = tmp_path / "few"
    folder.mkdir()
    for k in range(3):
        (folder / f"f{k}.jpg").write_bytes(simplejpeg.encode_jpeg(np.full((16, 16, 3), 40 * k, np.uint8), 90, "BGR"))
    return tmp_path


def test_resume_refuses_other_user_options_or_another_module_naming_what_differs(scaled):
    out, few = str(scaled / "out"), str(scaled / "few")
    assert cli("run", "scaled:build", few, "--scale", "1.0", "-o", out, cwd=scaled).returncode == 0
    other = cli("run", "scaled:build", few, "--scale", "3.0", "-o", out, "--resume", cwd=scaled)
    assert other.returncode == 2 and "scale" in other.stderr and "3.0" in other.stderr, other.stderr
    (scaled / "another.py").write_text(SCALED)  # the same function, another module
    moved = cli("run", "another:build", few, "--scale", "1.0", "-o", out, "--resume", cwd=scaled)
    assert moved.returncode == 2 and "another:build" in moved.stderr, moved.stderr
    (scaled / "b").mkdir()
    (scaled / "b" / "scaled.py").write_text(SCALED.replace("* scale", "* scale + 1"))  # same name, other code
    edited = cli("run", "b/scaled.py:build", few, "--scale", "1.0", "-o", out, "--resume", cwd=scaled)
    assert edited.returncode == 2 and "sha256" in edited.stderr, edited.stderr
    same = cli("run", "./scaled.py:build", few, "--scale", "1.0", "-o", out, "--resume", cwd=scaled)
    assert same.returncode == 0 and "resumed: 3 inputs" in same.stderr, same.stderr


def test_resume_refuses_another_tuned_config(scaled):
    out, few = str(scaled / "out"), str(scaled / "few")
    for name, backend in (("a", "numpy"), ("b", "opencv")):
        (scaled / f"{name}.toml").write_text(f'[tuned]\ntask = "scaled:build"\n[backends]\ncomposite = "{backend}"\n')
    assert cli("run", "scaled:build", few, "-o", out, "--config", "a.toml", cwd=scaled).returncode == 0
    for other in (["--config", "b.toml"], ["--no-tuned"]):
        proc = cli("run", "scaled:build", few, "-o", out, "--resume", *other, cwd=scaled)
        assert proc.returncode == 2 and "tuned" in proc.stderr, (other, proc.stderr)
    same = cli("run", "scaled:build", few, "-o", out, "--resume", "--config", "a.toml", cwd=scaled)
    assert same.returncode == 0 and "resumed: 3 inputs" in same.stderr, same.stderr


def test_the_fingerprint_is_the_same_for_the_built_and_the_completed_pipeline():
    """The CLI fingerprints the pipeline it built; an engine may fingerprint the completed one (decode and write
    added): a run resumes across engines only when they agree."""
    from sightspeed import Pipeline, Stage
    from sightspeed.pipeline.run import complete, default_fingerprint

    built = Pipeline([Stage("invert", lambda item: None)], name="build")
    assert default_fingerprint(built) == default_fingerprint(complete(built))


def test_a_second_outdir_on_the_same_folder_is_refused_while_the_first_is_open(tmp_path):
    from sightspeed.io.outdir import preflight

    first = OutDir(tmp_path / "o", {"x": 1})
    try:
        with pytest.raises(OutDirError, match=f"being written by another sightspeed run \\(pid {os.getpid()}\\)"):
            OutDir(tmp_path / "o", {"x": 1}, resume=True)
        with pytest.raises(OutDirError, match="being written by another"):
            preflight(tmp_path / "o", resume=True)
        first.manifest.write({"input": "a", "status": "error"})  # the refused one took nothing from the first
    finally:
        first.close()
    with OutDir(tmp_path / "o", {"x": 1}, resume=True) as again:
        assert again.done == {}


def test_session_json_is_written_while_the_run_holds_out(tmp_path, monkeypatch):
    from sightspeed import Pipeline, Stage, run
    from sightspeed.io.outdir import preflight
    from sightspeed.profiling.session import Session

    (tmp_path / "a.jpg").write_bytes(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8)))
    held = []
    save = Session.save

    def spy(self, path):
        with pytest.raises(OutDirError, match="being written by another") as refused:
            preflight(tmp_path / "out", resume=True)
        held.append(refused.value)
        return save(self, path)

    monkeypatch.setattr(Session, "save", spy)
    result = run(Pipeline([Stage("invert", lambda item: None)]), [str(tmp_path / "a.jpg")], tmp_path / "out",
                 save_session=True)
    assert held and result.session_file == str(tmp_path / "out" / "session.json")
    assert Session.load(result.session_file).counters["ok"] == 1
    bare = run(Pipeline([Stage("invert", lambda item: None)]), [str(tmp_path / "a.jpg")], tmp_path / "api")
    assert bare.session_file is None and not (tmp_path / "api" / "session.json").exists()  # the API's default


def test_a_symlinked_lock_file_is_a_usage_error_naming_it(tmp_path, scaled):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for target in (victim, tmp_path / "nowhere"):
        out = tmp_path / f"out-{target.name}"
        out.mkdir()
        (out / ".sightspeed.lock").symlink_to(target)
        proc = cli("run", "scaled:build", str(scaled / "few"), "-o", str(out), cwd=scaled)
        assert proc.returncode == 2 and ".sightspeed.lock" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        with pytest.raises(OutDirError, match="sightspeed.lock is not a plain file"):
            OutDir(out, {"x": 1})
    assert victim.read_text() == "precious" and not (tmp_path / "nowhere").exists()


def test_globs_and_lists_inside_out_are_usage_errors(scaled):
    out = scaled / "out"
    (out / "x").mkdir(parents=True)
    (out / "x" / "a.jpg").write_bytes((scaled / "few" / "f0.jpg").read_bytes())
    glob = cli("run", "scaled:build", "out/x/*.jpg", "-o", "out", cwd=scaled)
    assert glob.returncode == 2, glob.stderr
    assert "input out/x/*.jpg is inside the output folder out" in glob.stderr
    (scaled / "list.txt").write_text("few/f0.jpg\n# a comment\nout/x/a.jpg\n")
    listed = cli("run", "scaled:build", "@list.txt", "-o", "out", cwd=scaled)
    assert listed.returncode == 2, listed.stderr
    assert "out/x/a.jpg (listed in list.txt) is inside the output folder out" in listed.stderr
    (scaled / "link.jpg").symlink_to(out / "x" / "a.jpg")  # a listed symlink into OUT is inside it too
    (scaled / "links.txt").write_text("link.jpg\n")
    with pytest.raises(OutDirError, match="link.jpg"):
        check_inputs(["@" + str(scaled / "links.txt")], out)
    check_inputs([str(scaled / "few" / "*.jpg"), "@" + str(scaled / "list.txt")], scaled / "elsewhere")


def test_out_inside_an_input_folder_or_glob_is_allowed_and_never_read(scaled):
    from sightspeed import Pipeline, Stage, run

    few = scaled / "few"
    invert = Pipeline([Stage("invert", lambda item: setattr(item, "output", 255 - item.image))])
    for inputs, extra in (([str(few)], {}), ([str(few / "**" / "*.jpg")], {"overwrite": True}),
                          ([str(few)], {"overwrite": True})):
        result = run(invert, inputs, few / "out", **extra)
        assert (result.ok, result.failed) == (3, 0), inputs
        assert sorted(r["input"] for r in result.rows) == sorted(str(p) for p in few.glob("f*.jpg"))


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


def output_under_a_symlinked_folder_fails(tmp_path: Path, image: Path, task: list[str], cwd=None) -> None:
    """Run TASK over nested/sub/a.jpg into an OUT (holding a run) whose sub/ is a symlink to ../elsewhere: the item
    fails naming the symlink, and nothing lands in elsewhere."""
    nested = tmp_path / "nested" / "sub"
    nested.mkdir(parents=True)
    (nested / "a.jpg").write_bytes(image.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere)
    (out / ".sightspeed-run.json").write_text(json.dumps({"fingerprint": {}}))
    proc = cli("run", *task, str(tmp_path / "nested"), "-o", str(out), "--overwrite", cwd=cwd)
    assert proc.returncode == 3, proc.stderr
    (row,) = rows(out)
    assert row["status"] == "error" and "symlink" in row["reason"] and list(elsewhere.iterdir()) == []


def test_symlinks_inside_out_are_never_followed(tmp_path, images, user_pipeline):
    """OUT/sub -> ../elsewhere: the item whose output goes there fails with the reason, nothing lands outside;
    OUT/manifest.jsonl -> victim.txt: the victim is never written."""
    output_under_a_symlinked_folder_fails(tmp_path, images / "img_000.jpg", ["slowinvert:build"], user_pipeline)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / "manifest.jsonl").symlink_to(victim)
    for extra in ([], ["--resume"], ["--overwrite"]):
        cli("run", "slowinvert:build", str(images / "img_001.jpg"), "-o", str(out2), *extra, cwd=user_pipeline)
        assert victim.read_text() == "precious", extra


def test_the_reference_variant_and_session_json_never_write_through_a_symlink(tmp_path, sample_paths, scaled):
    """portrait --variant reference writes with its own code: OUT/sub -> ../elsewhere fails that item, nothing lands
    outside; a planted OUT/session.json.tmp (or session.json) -> victim is never written through."""
    output_under_a_symlinked_folder_fails(tmp_path, Path(sample_paths[0]), ["portrait", "--variant", "reference"])
    victims = [tmp_path / "victim.txt", tmp_path / "victim2.txt"]
    out2 = tmp_path / "out2"
    assert cli("run", "scaled:build", str(scaled / "few"), "-o", str(out2), cwd=scaled).returncode == 0
    for name, victim in zip(("session.json.tmp", "session.json"), victims):
        victim.write_text("precious")
        (out2 / name).unlink(missing_ok=True)
        (out2 / name).symlink_to(victim)
    resumed = cli("run", "scaled:build", str(scaled / "few"), "-o", str(out2), "--resume", cwd=scaled)
    assert resumed.returncode == 0, resumed.stderr
    assert [v.read_text() for v in victims] == ["precious", "precious"]
    assert not (out2 / "session.json").is_symlink() and json.loads((out2 / "session.json").read_text())


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
