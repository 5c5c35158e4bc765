"""The ray engine on a real local Ray cluster: the same outputs and rows as the local engine, bad inputs with the same
reasons, resume across engines, and an actor killed mid-run (the job completes, one row per input)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'sightspeed[ray]'")

import sightspeed  # noqa: E402
from sightspeed.engines.ray import run_on_ray  # noqa: E402
from sightspeed.pipeline.executors import Pipelined  # noqa: E402
from sightspeed.tasks import build  # noqa: E402

SLOW = '''
import os, time
from pathlib import Path
from sightspeed import Pipeline, Stage

def build(marker: str = "", delay: float = 0.2):
    def work(item):
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(delay)
        item.output = item.image[::2, ::2].copy()
    return Pipeline([Stage("work", work)])
'''


@pytest.fixture(scope="module")
def cluster():
    # 2 CPUs, as this machine has; one actor of 2 cores takes both. Ray Data stalls when actors hold every CPU and a
    # read task needs one (ray#44687): the dataset is made from a list of paths (from_items), so no read task runs.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def options(**extra):
    return {"variant": "fast", "batch_size": 1, "max_pixels": 100_000_000, **extra}


def engines(task, opts, inputs, tmp_path, **kw):
    """The same task run by both engines: (local rows, ray rows), each by input name."""
    local = sightspeed.run(build(task, opts), inputs, tmp_path / "local", executor=Pipelined(), cores=2, **kw)
    on_ray = run_on_ray(task, opts, build(task, opts), inputs, tmp_path / "ray", cores=2, **kw)
    return local, on_ray


def by_name(result, root):
    rows = [json.loads(line) for line in (Path(root) / "manifest.jsonl").read_text().splitlines()]
    return {Path(r["input"]).name: r for r in rows}


def copies(photos: list[str], folder: Path, n: int) -> list[str]:
    """``n`` distinct files ``img0.jpg`` ... in ``folder``, the photos in turn (a run reads each path once)."""
    folder.mkdir(exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"img{k}.jpg"
        path.write_bytes(Path(photos[k % len(photos)]).read_bytes())
        paths.append(str(path))
    return paths


def same_row(a: dict, b: dict) -> None:
    keep = lambda r: {k: v for k, v in r.items() if k not in ("times_ms", "outputs", "traceback", "where")}  # noqa: E731
    assert keep(a) == keep(b)
    assert [Path(o).name for o in a["outputs"]] == [Path(o).name for o in b["outputs"]]


def test_portrait_on_ray_writes_the_local_engines_bytes_and_rows(cluster, portrait_jpegs, tmp_path):
    bad = tmp_path / "in" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is no jpeg")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    inputs = [*portrait_jpegs[:3], str(tmp_path / "in")]
    local, on_ray = engines("portrait", options(), inputs, tmp_path)
    assert (on_ray.ok, on_ray.failed) == (local.ok, local.failed) == (3, 1)
    rows_local, rows_ray = by_name(local, tmp_path / "local"), by_name(on_ray, tmp_path / "ray")
    assert rows_local.keys() == rows_ray.keys()
    for name in rows_local:
        same_row(rows_local[name], rows_ray[name])
    assert "broken.jpg" in rows_ray and rows_ray["broken.jpg"]["status"] == "error"
    for out in rows_local:
        for a, b in zip(rows_local[out]["outputs"], rows_ray[out]["outputs"]):
            assert Path(a).read_bytes() == Path(b).read_bytes(), out
    assert (tmp_path / "ray" / "_SUCCESS").is_file()
    session = on_ray.session
    # one Session from the actors' spans: every stage of every image, on the driver's clock, named by actor
    assert session.config["engine"] == "ray" and session.wall_s > 0
    for stage in ("decode", "detect", "segment", "composite", "write"):
        assert session.totals[stage].items == local.session.totals[stage].items, stage
    assert all(s.thread.startswith("actor ") and 0 <= s.start <= s.end <= session.wall_s + 1 for s in session.spans)


def test_ocr_on_ray_gives_the_local_engines_json(cluster, tmp_path):
    from ocr_pages import make_pages

    make_pages(tmp_path / "pages")
    local, on_ray = engines("ocr", options(), [str(tmp_path / "pages")], tmp_path)
    assert (on_ray.ok, on_ray.failed) == (local.ok, local.failed)
    rows_local, rows_ray = by_name(local, tmp_path / "local"), by_name(on_ray, tmp_path / "ray")
    for name in rows_local:
        same_row(rows_local[name], rows_ray[name])
        for a, b in zip(rows_local[name]["outputs"], rows_ray[name]["outputs"]):
            assert Path(a).read_bytes() == Path(b).read_bytes(), name


def test_a_run_resumes_across_engines(cluster, portrait_jpegs, tmp_path):
    out = tmp_path / "out"
    opts = options()
    first = sightspeed.run(build("portrait", opts), portrait_jpegs, out, limit=2)
    assert first.ok == 2
    rest = run_on_ray("portrait", opts, build("portrait", opts), portrait_jpegs, out, cores=2, resume=True)
    assert rest.resumed == 2 and rest.ok == len(portrait_jpegs) - 2
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["input"] for r in rows) == sorted(portrait_jpegs)  # one row per input
    again = sightspeed.run(build("portrait", opts), portrait_jpegs, out, resume=True)
    assert again.resumed == len(portrait_jpegs) and again.ok == 0


def test_an_actor_killed_mid_run_is_restarted_and_the_job_completes(cluster, portrait_jpegs, tmp_path, monkeypatch):
    (tmp_path / "slowpid.py").write_text(SLOW)
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pids.txt"
    inputs = copies(portrait_jpegs, tmp_path / "in", 8)  # distinct files: the run reads each path once
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if marker.exists() and marker.read_text().strip():
                pid = int(marker.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_first_worker)
    watcher.start()
    opts = {"marker": str(marker)}
    result = run_on_ray("slowpid:build", opts, build("slowpid:build", opts), inputs, tmp_path / "out", cores=2,
                        items_per_batch=2)
    watcher.join()
    assert killed, "the actor was never seen working"
    pids = {int(p) for p in marker.read_text().split()}
    assert len(pids) >= 2 and killed[0] in pids  # a new actor process took over
    assert (result.ok, result.failed) == (8, 0)
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["input"] for r in rows) == sorted(inputs)  # exactly one row per input
    for row in rows:
        (output,) = row["outputs"]
        size, _ = next(iter(row["checksums"].values()))
        assert os.path.getsize(output) == size  # the row's checksum is the file's


def test_the_command_line_runs_on_ray_and_the_report_reads_it(portrait_jpegs, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sightspeed", "run", "portrait", *portrait_jpegs[:2], "-o", str(out),
                           "--engine", "ray", "--cores", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 ok, 0 failed" in done.stderr + done.stdout
    report = subprocess.run([sys.executable, "-m", "sightspeed", "report", str(out / "session.json"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    stages = {s["name"] for s in json.loads(report.stdout)["stages"]}
    assert {"decode", "segment", "write"} <= stages


def test_two_actors_each_seeing_some_batches_in_any_order_finish(cluster, portrait_jpegs, tmp_path, monkeypatch):
    (tmp_path / "slowpid.py").write_text(SLOW)  # no models: the actors start in a second or two
    monkeypatch.chdir(tmp_path)
    # distinct files, one per batch, ~0.4 s each: the second actor is up long before the end
    inputs = copies(portrait_jpegs, tmp_path / "in", 12)
    opts = {"marker": str(tmp_path / "pids.txt"), "delay": 0.4}
    result = run_on_ray("slowpid:build", opts, build("slowpid:build", opts), inputs, tmp_path / "out", cores=1,
                        num_workers=2, items_per_batch=1)
    assert (result.ok, result.failed) == (12, 0)
    pids = (tmp_path / "pids.txt").read_text().split()
    assert len(set(pids)) == 2, pids  # both actors worked, each on batches the other left: out of the dataset's order
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["input"] for r in rows) == sorted(inputs)


def test_a_killed_driver_is_finished_by_resume(portrait_jpegs, tmp_path):
    import subprocess
    import sys

    (tmp_path / "slowpid.py").write_text(SLOW)
    inputs = tmp_path / "in"
    copies(portrait_jpegs, inputs, 10)
    out, marker = tmp_path / "out", tmp_path / "pids.txt"
    cmd = [sys.executable, "-m", "sightspeed", "run", "slowpid:build", str(inputs), "-o", str(out), "--engine", "ray",
           "--cores", "2", "--marker", str(marker), "--delay", "0.6"]
    driver = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("img*.jpg"))) < 2:  # the actor has written outputs
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and what it started (its local Ray)
    driver.wait()
    # rows reach the driver in batches (Ray Data may hold them back): some, none, never all of them
    manifest = out / "manifest.jsonl"
    done_before = manifest.read_text().count("\n") if manifest.exists() else 0
    assert done_before < 10 and not (out / "_SUCCESS").exists()
    again = subprocess.run([*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in rows) == sorted(f"img{k}.jpg" for k in range(10))
    assert all(r["status"] == "ok" for r in rows) and (out / "_SUCCESS").is_file()


def test_a_long_run_sends_a_sample_of_spans_and_every_stages_totals(cluster, portrait_jpegs, tmp_path, monkeypatch):
    """What a Ray run's actors send the driver is bounded (a sample of the spans, ``span_keep``), and the Session's
    totals still count every span: each stage's calls equal the inputs, as a local run's do."""
    (tmp_path / "slowpid.py").write_text(SLOW)
    monkeypatch.chdir(tmp_path)
    inputs = copies(portrait_jpegs, tmp_path / "in", 40)
    opts = {"marker": str(tmp_path / "pids.txt"), "delay": 0.0}
    result = run_on_ray("slowpid:build", opts, build("slowpid:build", opts), inputs, tmp_path / "out", cores=2,
                        items_per_batch=8, span_keep=0.25)
    session = result.session
    assert result.ok == 40
    for stage in ("decode", "work", "write"):
        assert session.totals[stage].calls == 40, stage
    assert len(session.spans) < 0.5 * session.spans_seen  # about a quarter crossed over
    assert session.counters["span_bytes"] > 0
    rendered = session.stage_summary()
    assert rendered["work"]["items"] == 40 and rendered["decode"]["median_ms_per_call"] > 0


def test_a_video_runs_whole_on_an_actor_with_the_local_engines_bytes(cluster, photos, tmp_path):
    """A video is one dataset row: one actor reads its frames, runs them through its executor and writes them with
    the local engine's writer (audio copied, timestamps and orientation kept), so the output is the local run's,
    byte for byte; images beside it run as usual."""
    import cv2
    from test_video import audio_packets, frame_times, make_clip

    person = cv2.resize(photos[0], (240, 320))
    (tmp_path / "in").mkdir()
    clip = make_clip(tmp_path / "in" / "phone.mp4", [person.copy() for _ in range(12)], rotation=90)
    photo = tmp_path / "in" / "still.jpg"
    photo.write_bytes(cv2.imencode(".jpg", photos[1])[1].tobytes())
    local, on_ray = engines("portrait", options(), [str(tmp_path / "in")], tmp_path)
    assert (on_ray.ok, on_ray.failed) == (local.ok, local.failed) == (2, 0)
    assert on_ray.frames == local.frames == 12
    rows_local, rows_ray = by_name(local, tmp_path / "local"), by_name(on_ray, tmp_path / "ray")
    for name in ("phone.mp4", "still.jpg"):
        keep = lambda r: {k: v for k, v in r.items() if k not in ("times_ms", "ms_per_frame", "outputs")}  # noqa: E731
        assert keep(rows_ray[name]) == keep(rows_local[name]), name
        (a,), (b,) = rows_local[name]["outputs"], rows_ray[name]["outputs"]
        assert Path(a).read_bytes() == Path(b).read_bytes(), name
    out = rows_ray["phone.mp4"]["outputs"][0]
    assert audio_packets(out) == audio_packets(clip) and frame_times(out) == frame_times(clip)
    assert rows_ray["phone.mp4"]["rotation"] == 90
