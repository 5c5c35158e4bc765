"""A zoo ONNX model as a TensorFlow SavedModel (``sightspeed models convert NAME --to tensorflow``), made by onnx2tf
into the model cache and checked against the ONNX original before it is kept.

What the conversion does, and why:

- **Fixed shape.** The model's dynamic dimensions are fixed first (batch 1, the spatial ones to ``size``): onnx2tf
  1.29 turns a dynamic-shape PP-OCRv4 detector into a graph whose upsampling sizes are frozen from its own probe
  run (every real input then fails with a shape error), and its ConvTranspose needs a static batch.
- **Layout.** onnx2tf produces an NHWC graph (TensorFlow's layout on the CPU). The kept SavedModel wraps it with a
  ``serving_default`` that takes the ONNX model's own NCHW input (one transpose inside the graph) and gives the
  ONNX model's outputs under their names, so it drops in wherever the ONNX file ran.
- **Never in place.** onnx2tf rewrites the file it is given (its simplifier saves over it): it gets a copy.
- **Offline.** onnx2tf fetches a sample-image file from GitHub for its own accuracy probes unless one lies in its
  working folder: the job writes that file from the zoo's sample photos.
- **Checked.** The job runs ONNX Runtime and the SavedModel on the same input (a sample photo scaled to [-1, 1]); a
  max abs difference above ``TOLERANCE`` refuses the result. ``sightspeed.json`` beside ``saved_model.pb`` records
  the source and its sha256, the shape, the difference, and the versions.

onnx2tf pins old releases of everything it touches (TensorFlow 2.19, numpy 1.26, ...), so it is installed without
its dependencies, beside the ``tensorflow`` extra: :data:`INSTALL`. It runs in a child process (its own thread
pools, its ``sys.exit`` on failure, and TensorFlow's pools in this process left unsized).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import MissingDependency, ModelError
from . import zoo

INSTALL = ("pip install 'sightspeed[tensorflow]' && pip install --no-deps onnx2tf==1.29.24 onnx-graphsurgeon==0.6.1 "
           "sng4onnx==2.0.1 tf-keras==2.21.0")
TOLERANCE = 1e-3  # max abs difference from the ONNX original on the check input
_NEEDS = ("tensorflow", "onnx2tf", "onnx_graphsurgeon", "sng4onnx", "tf_keras", "onnxruntime", "onnx")


def folder() -> Path:
    return zoo.cache_dir() / "converted"


def target(source: Path, sha256: str, size: tuple[int, int]) -> Path:
    """Where the SavedModel of ``source`` (by content) at ``size`` (H, W) lives in the cache."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.stem)
    return folder() / f"{stem}-{sha256[:12]}-{size[0]}x{size[1]}-tensorflow"


def missing() -> list[str]:
    """The modules the conversion needs that are not installed."""
    return [m for m in _NEEDS if importlib.util.find_spec(m) is None]


def to_tensorflow(name_or_path: str, *, size: tuple[int, int] = (960, 960), quiet: bool = True) -> Path:
    """The SavedModel folder of zoo entry (or ONNX file) ``name_or_path`` with its spatial size fixed to ``size``
    (H, W); converted once, then read from the cache. Raises :class:`MissingDependency` (naming :data:`INSTALL`)
    or :class:`ModelError` (the conversion or the check failed, with onnx2tf's last words)."""
    absent = missing()
    if absent:
        raise MissingDependency(f"converting to TensorFlow needs {', '.join(absent)}: {INSTALL}")
    source = zoo.resolve(name_or_path, quiet=quiet)
    sha256 = zoo.sha256_of(source)
    return zoo.built_once(target(source, sha256, size), "sightspeed.json",
                          lambda saved: _convert(source, saved, size, {"source": str(name_or_path),
                                                                       "source_file": source.name,
                                                                       "source_sha256": sha256}))


def _convert(source: Path, saved: Path, size: tuple[int, int], record: dict) -> None:
    """Run the job in a work folder of its own; the checked SavedModel and its record go into ``saved``."""
    with tempfile.TemporaryDirectory(dir=saved.parent, prefix=".convert-") as tmp:
        work = Path(tmp)
        job = [sys.executable, "-m", "sightspeed.models._onnx2tf_job", str(source), str(work), str(size[0]),
               str(size[1]), str(saved)]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        done_job = subprocess.run(job, cwd=work, env=env, capture_output=True, text=True)
        report = work / "report.json"
        if done_job.returncode != 0 or not report.is_file():
            tail = "\n".join((done_job.stderr or done_job.stdout).strip().splitlines()[-6:])
            raise ModelError(f"{source}: onnx2tf could not convert it (exit {done_job.returncode}):\n{tail}")
        checked = json.loads(report.read_text())
    if checked["max_abs_diff"] > TOLERANCE:
        raise ModelError(f"{source}: the converted model differs from the ONNX original by up to "
                         f"{checked['max_abs_diff']:.3g} (more than {TOLERANCE}); not kept")
    (saved / "sightspeed.json").write_text(json.dumps({**checked, **record}, indent=2))


def info(path: str | os.PathLike[str]) -> dict | None:
    """The conversion record of a converted SavedModel folder (None for any other model)."""
    record = Path(path) / "sightspeed.json"
    return json.loads(record.read_text()) if record.is_file() else None
