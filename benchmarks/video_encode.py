"""Video encoders for the outputs: CPU per frame, size per frame and PSNR against the frames given, for libx264
presets at CRF 18 (and veryfast at CRF 23; macroblock-tree off, as the outputs have it), MPEG-4 Part 2 at quantiser 2 (the fallback without H.264), and OpenCV's
``mp4v`` writer (what sightspeed wrote before PyAV). Prints JSON.

    python benchmarks/video_encode.py --frames 24 --rounds 3            # 1920x1080

The frames: a real photo (the astronaut sample) scaled to the size asked, panned 8 px a frame, with sensor-like
noise (sigma 3), so the encoder has motion and grain to spend bits on. Each encoder gets one thread (a pipelined
run's write stage gets one) and is timed by process CPU time, which other load on the machine disturbs less than
wall time; the variants alternate over ``rounds`` and the CPU time is given as min / median / max (the size and PSNR
do not change between rounds). The PyAV variants go through sightspeed's own writer
(:class:`sightspeed.io.video_write.VideoWriter`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from sightspeed.host import describe
from sightspeed.io.video import VideoReader
from sightspeed.io.video_write import Encoder, VideoWriter, choose_encoder


def make_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    import cv2

    from sightspeed.io.decode import read_image
    from sightspeed.samples import sample_paths

    photo = read_image(next(p for p in sample_paths(quiet=True) if "astronaut" in p))
    base = cv2.resize(photo, (width, height))
    rng = np.random.default_rng(0)
    return [np.clip(np.roll(base, 8 * k, axis=1) + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
            for k in range(n)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def measure(write, path: str, frames: list[np.ndarray]) -> dict:
    cpu = time.process_time()
    write(path, frames)
    cpu = time.process_time() - cpu
    got = [f.image for f in VideoReader(path)]
    assert len(got) == len(frames), f"{path}: {len(got)} of {len(frames)} frames"
    return {"cpu_ms_per_frame": round(cpu * 1000 / len(frames), 2),
            "kb_per_frame": round(os.path.getsize(path) / 1000 / len(frames), 2),
            "psnr_db": round(float(np.mean([psnr(a, b) for a, b in zip(frames, got)])), 2)}


def pyav(encoder: Encoder):
    def write(path: str, frames: list[np.ndarray]) -> None:
        h, w = frames[0].shape[:2]
        writer = VideoWriter(path, (w, h), fps=24.0, encoder=encoder, threads=1)
        for frame in frames:
            writer.write(frame)
        writer.close()
    return write


def opencv_mp4v(path: str, frames: list[np.ndarray]) -> None:
    import cv2

    cv2.setNumThreads(1)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 24.0, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()


def variants(width: int, height: int) -> dict:
    out = {}
    for crf, preset in [(18, "ultrafast"), (18, "superfast"), (18, "veryfast"), (18, "faster"), (18, "medium"),
                        (23, "veryfast")]:
        enc = Encoder("libx264", (("crf", str(crf)), ("preset", preset), ("x264-params", "mbtree=0")), "yuv420p", "")
        out[enc.describe()] = pyav(enc)
    mpeg4 = choose_encoder(width, height, available=lambda name: name == "mpeg4")
    out[mpeg4.describe()] = pyav(mpeg4)
    out["opencv mp4v (before PyAV)"] = opencv_mp4v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = make_frames(args.frames, args.width, args.height)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pyav(choose_encoder(args.width, args.height))(os.path.join(tmp, "warm.mp4"), frames[:2])  # libraries loaded
        for _ in range(args.rounds):
            for k, (name, write) in enumerate(variants(args.width, args.height).items()):
                runs.setdefault(name, []).append(measure(write, os.path.join(tmp, f"{k}.mp4"), frames))
    results = {}
    for name, got in runs.items():
        cpu = [g["cpu_ms_per_frame"] for g in got]
        results[name] = {**got[0], "cpu_ms_per_frame": {"min": min(cpu), "median": statistics.median(cpu),
                                                        "max": max(cpu)}}
    print(json.dumps({"size": [args.width, args.height], "frames": args.frames, "rounds": args.rounds,
                      "cpu": describe()["cpu"]["model"], "chosen": choose_encoder(args.width, args.height).describe(),
                      "encoders": results}, indent=2))


if __name__ == "__main__":
    main()
