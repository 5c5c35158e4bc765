"""int8 by hand: run a task's pipeline over calibration inputs, record what it feeds its models, quantize them
(``sightspeed models quantize NAME --calibrate DIR``; tune does the same on the default run it measures)."""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
from pathlib import Path

from ..errors import SightspeedError


def task_of(model: str) -> tuple[str, str]:
    """(task, model key) of the shipped task whose options name zoo model ``model`` (e.g. ppocr-rec-v4 ->
    ("ocr", "rec")); SightspeedError naming the models that can be quantized otherwise."""
    from ..tasks.registry import TASKS, _options_class

    names = []
    for task in TASKS:
        module = importlib.import_module(f"sightspeed.tasks.{TASKS[task][0]}.task")
        keys = dict(zip(("detector", "classifier", "recognizer"), getattr(module, "MODELS", ())))
        for f in dataclasses.fields(_options_class(task)):
            if f.name in keys:
                names.append(f.default)
                if f.default == model:
                    return task, keys[f.name]
    raise SightspeedError(f"{model}: not a model tune can quantize; these are: {', '.join(names)} (the others "
                          ".tflite files LiteRT runs at f32)")


def quantize_models(task: str, inputs: list[str], keys: list[str] | None = None, limit: int = 16,
                    calls: int = 32) -> dict[str, Path]:
    """int8 copies of ``task``'s models (``keys``, default all), calibrated on up to ``calls`` calls each, made
    while the fast pipeline runs over the first ``limit`` of ``inputs``. Cached: the same inputs return the same
    files at once."""
    from ..io import sources
    from ..models.quantize import quantize
    from ..pipeline.run import run
    from ..runtimes.base import capturing
    from ..tasks import build

    paths = [s.path for s in sources.expand(inputs) if s.problem is None][:limit]
    if not paths:
        raise SightspeedError(f"no calibration input found at {', '.join(inputs)}")
    pipeline = build(task, {"variant": "fast"})
    files = pipeline.info.get("model_files", {})
    wanted = {k: p for k, p in files.items() if keys is None or k in keys}
    with tempfile.TemporaryDirectory(prefix="sightspeed-calibrate-") as out, \
            capturing(list(wanted.values()), limit=calls) as stores:
        run(pipeline, paths, out)
    return {k: quantize(p, stores[p]) for k, p in wanted.items()}
