"""Runs you can trust, beyond the output folder: a video cut short is never "ok"; no size limit means no limit;
a real task killed mid-run (photos and a video) resumes to the outputs of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200", **(env or {})})


def avi(path: Path, frames: int = 100, size=(96, 64), noise: bool = False) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    rng = np.random.default_rng(0)
    for k in range(frames):
        frame = np.full((size[1], size[0], 3), (k * 2) % 255, np.uint8)
        frame[:, (k % size[0]):] = 200
        if noise:  # incompressible: the encoded video is large
            frame = rng.integers(0, 255, frame.shape, np.uint8)
        writer.write(frame)
    writer.release()
    return path


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def published(root: Path) -> dict[str, bytes]:
    """The outputs in ``root`` (images, masks, videos), by name, with their bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and p.suffix in (".jpg", ".png", ".mp4")}


def signal_at(proc: subprocess.Popen, out: Path, seed: int, *, rows_first: int = 0, after: str | None = None,
              within: float = 0.6, signum: int = signal.SIGKILL) -> None:
    """Send ``signum`` (kill -9) to ``proc`` at a seeded moment up to ``within`` seconds after its manifest holds
    ``rows_first`` rows (0: once it exists, while the models still load) and ``out/after`` exists. Waits for
    nothing after: the caller reaps ``proc``."""
    import random

    manifest, deadline = out / "manifest.jsonl", time.monotonic() + 120
    while not (manifest.is_file() and manifest.read_bytes().count(b"\n") >= rows_first
               and (after is None or (out / after).exists())):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the moment came"
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, within))
    proc.send_signal(signum)


def test_a_video_cut_in_half_is_partial_never_ok(tmp_path):
    whole = avi(tmp_path / "clip.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    (tmp_path / "a.py").write_text("from sightspeed import Pipeline, Stage\n"
                                   "def build():\n    return Pipeline([Stage('copy', lambda item: None)])\n")
    proc = subprocess.run([sys.executable, "-m", "sightspeed", "run", "a:build", str(whole), str(cut), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 3, proc.stderr
    got = {Path(r["input"]).name: r for r in rows(tmp_path / "out")}
    assert got["clip.avi"]["status"] == "ok" and got["clip.avi"]["frames"] == 100
    partial = got["cut.avi"]
    assert partial["status"] == "partial" and partial["expected_frames"] == 100 and partial["frames"] < 99
    assert f"decoded {partial['frames']} of the 100 frames" in partial["reason"]


def test_max_megapixels_inf_means_no_limit(tmp_path, sample_paths):
    proc = cli("run", "portrait", sample_paths[0], "-o", str(tmp_path / "o"), "--max-megapixels", "inf")
    assert proc.returncode == 0 and "OverflowError" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed, rows_first", [(5, 0), (6, 1)])  # while the models load; among the photos
def test_portrait_killed_mid_run_resumes_to_the_same_bytes(tmp_path, portrait_jpegs, seed, rows_first):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(6):
        for path in portrait_jpegs:
            (folder / f"{k}_{Path(path).name}").write_bytes(Path(path).read_bytes())
    avi(folder / "clip.avi", frames=40)
    whole = tmp_path / "whole"
    assert cli("run", "portrait", str(folder), "-o", str(whole), "--save-mask").returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sightspeed", "run", "portrait", str(folder), "-o", str(out),
                             "--save-mask"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal_at(proc, out, seed, rows_first=rows_first)
    proc.wait()
    resumed = cli("run", "portrait", str(folder), "-o", str(out), "--save-mask", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["input"] for r in rows(out)) == sorted(r["input"] for r in rows(whole))
    assert published(out) == published(whole)
    assert not [p for p in out.rglob("*") if "partial" in p.name]


def _small_files(limit: int):
    """A child whose files may not grow past ``limit`` bytes (RLIMIT_FSIZE; the signal ignored so a write fails
    with an error instead): a full disk, as far as the writes of one process can tell."""
    import resource

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_writes_that_fail_are_error_rows_naming_the_file(tmp_path, sample_paths):
    clip = avi(tmp_path / "clip.avi", frames=60, size=(320, 240), noise=True)
    proc = subprocess.run([sys.executable, "-m", "sightspeed", "run", "portrait", *sample_paths, str(clip), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          preexec_fn=_small_files(40_000))
    assert proc.returncode == 3, proc.stderr[-2000:]
    got = rows(tmp_path / "out")
    assert len(got) == 3 and "Traceback" not in proc.stderr
    failed = [r for r in got if r["status"] == "error"]
    assert failed and all(r["stage"] == "write" and "could not write" in r["reason"] and str(tmp_path / "out")
                          in r["reason"] for r in failed), failed
    assert not any(r["status"] == "ok" and r["input"] == str(clip) for r in got)  # the video is never "ok"
    assert not [p for p in (tmp_path / "out").rglob("*") if "partial" in p.name]


def test_a_manifest_that_cannot_be_written_stops_the_run_naming_it(tmp_path, sample_paths):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(30):
        (folder / f"p{k}.jpg").write_bytes(Path(sample_paths[0]).read_bytes())
    proc = subprocess.run([sys.executable, "-m", "sightspeed", "run", "portrait", str(folder), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          preexec_fn=_small_files(2_000))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{tmp_path / 'out' / 'manifest.jsonl'}: " in proc.stderr.replace("\n", "")  # (wrapped by the console)
    for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines():
        json.loads(line)  # no torn row


@pytest.mark.slow
@pytest.mark.parametrize("seed, rows_first", [(7, 0), (8, 1)])  # while the models load; among the pages
def test_ocr_killed_mid_run_resumes_to_the_same_results(tmp_path, seed, rows_first):
    from ocr_pages import make_pages

    pages = tmp_path / "pages"
    make_pages(pages)
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        for page in sorted(pages.glob("*.png")):
            (folder / f"{k}_{page.name}").write_bytes(page.read_bytes())
    whole = tmp_path / "whole"
    assert cli("run", "ocr", str(folder), "-o", str(whole)).returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sightspeed", "run", "ocr", str(folder), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal_at(proc, out, seed, rows_first=rows_first, within=1.0)
    proc.wait()
    resumed = cli("run", "ocr", str(folder), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["input"] for r in rows(out)) == sorted(r["input"] for r in rows(whole))

    def results(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*.json"))
                if not p.name.startswith(".") and p.name != "session.json"}

    assert results(out) == results(whole) and not [p for p in out.rglob("*") if "partial" in p.name]


def test_a_really_full_disk_gives_error_rows_and_a_consistent_manifest(tmp_path, sample_paths):
    """OUT on a 400 KB tmpfs: the photos fit, the video does not (ENOSPC). Skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the RLIMIT_FSIZE tests above cover the write paths")
    try:
        clip = avi(tmp_path / "clip.avi", frames=60, size=(320, 240), noise=True)
        proc = cli("run", "portrait", *sample_paths, str(clip), "-o", str(disk / "out"))
        assert proc.returncode in (1, 3) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        lines = (disk / "out" / "manifest.jsonl").read_text().splitlines()
        got = [json.loads(line) for line in lines]  # no torn row
        video = [r for r in got if r["input"] == str(clip)]
        assert not video or (video[0]["status"] == "error" and "could not write" in video[0]["reason"]), video
        assert all(r["status"] == "ok" for r in got if r["input"] != str(clip))
        assert not [p for p in (disk / "out").rglob("*") if "partial" in p.name]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
