"""The Runtime protocol and ``load()``, which picks a runtime by file type or by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # None for a dynamic dimension
    dtype: str

    def example(self, fill: int = 1) -> np.ndarray:
        """A zero array of this spec, dynamic dimensions set to ``fill``."""
        return np.zeros([d if d is not None else fill for d in self.shape], self.dtype)


@runtime_checkable
class Runtime(Protocol):
    name: str
    path: str
    threads: int
    thread_safe: bool  # may run() be called from several threads at once

    @property
    def inputs(self) -> list[TensorSpec]: ...

    @property
    def outputs(self) -> list[TensorSpec]: ...

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]: ...


RUNTIMES = {"onnxruntime": (".onnx",), "openvino": (".onnx", ".xml"), "litert": (".tflite",)}


def load(path: str | Path, runtime: str | None = None, threads: int = 1, precision: str = "f32") -> Runtime:
    """Load a model file with ``runtime`` (default: onnxruntime for .onnx, litert for .tflite).

    ``threads`` is the intra-op thread budget; pools never spin while idle (spinning pools fight the other
    stages for the same cores). ``precision`` applies to OpenVINO only: f32 (default, for fidelity) or bf16.

    Example: ``rt = load("model.onnx", threads=1); (y,) = rt.run(x)``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if runtime is None:
        runtime = "litert" if suffix == ".tflite" else "onnxruntime"
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if suffix not in RUNTIMES[runtime]:
        raise ModelError(f"{path.name}: runtime {runtime} does not take {suffix} files")
    if runtime == "onnxruntime":
        from .onnxruntime import OnnxRuntime

        rt: Runtime = OnnxRuntime(str(path), threads)
    elif runtime == "openvino":
        from .openvino import OpenVinoRuntime

        rt = OpenVinoRuntime(str(path), threads, precision)
    else:
        from .litert import LiteRtRuntime

        rt = LiteRtRuntime(str(path), threads)
    return rt


def warmup(rt: Runtime, batch: int = 1, example: list[np.ndarray] | None = None) -> None:
    """Run once on zeros (or on ``example``, for models whose dynamic dimensions need sensible sizes) so first-call
    costs (allocation, JIT, kernel selection) stay out of timed regions."""
    rt.run(*(example if example is not None else [spec.example(batch) for spec in rt.inputs]))


class PerThread:
    """One runtime per thread, for runtimes that are not thread-safe (LiteRT, OpenVINO infer requests).

    ``ready`` instances are loaded and warmed up at construction (default 2: the pipelined executor's default
    workers per stage), so model loads stay out of timed regions; a thread beyond those loads (and warms) its own
    on first use.
    """

    def __init__(self, factory, example: list[np.ndarray] | None = None, ready: int = 2) -> None:
        import threading

        self._factory = factory
        self._example = example
        self._local = threading.local()
        self._spare: list[Runtime] = [self._new() for _ in range(max(1, ready))]
        self._lock = threading.Lock()

    def _new(self) -> Runtime:
        rt = self._factory()
        warmup(rt, example=self._example)
        return rt

    def sample(self) -> Runtime:
        """One of the loaded instances, for reading its metadata; unlike :meth:`get` it is not bound to this
        thread, so the instances stay ready for the worker threads."""
        with self._lock:
            if self._spare:
                return self._spare[0]
        return self.get()

    def get(self) -> Runtime:
        rt = getattr(self._local, "rt", None)
        if rt is None:
            with self._lock:
                rt = self._spare.pop() if self._spare else None
            self._local.rt = rt = rt or self._new()
        return rt
