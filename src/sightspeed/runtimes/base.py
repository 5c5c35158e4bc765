"""The Runtime protocol and ``load()``, which picks a runtime by file type or by name."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..cores import threads_here
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


# runtime -> the file types it takes ("saved_model": a SavedModel folder, one holding saved_model.pb)
RUNTIMES = {"onnxruntime": (".onnx",), "openvino": (".onnx", ".xml"), "litert": (".tflite",),
            "tensorflow": (".keras", "saved_model")}


def load(path: str | Path, runtime: str | None = None, threads: int | None = None, precision: str = "f32",
         device: str = "cpu") -> Runtime:
    """Load a model file with ``runtime`` (default: onnxruntime for .onnx, litert for .tflite, tensorflow for .keras
    and for a SavedModel folder, one holding saved_model.pb).

    ``threads`` is the intra-op thread budget (default: this thread's share of the run's core budget,
    :func:`sightspeed.cores.threads_here`; every core outside a run); pools never spin while idle (spinning pools
    fight the other stages for the same cores); TensorFlow sizes its pools once per process, at its first load (see
:mod:`sightspeed.runtimes.tensorflow`). ``precision`` applies to OpenVINO only: f32 (default) or bf16.

    ``device="gpu"``: onnxruntime's CUDA provider, OpenVINO's GPU device or TensorFlow's GPU, each only where
    :mod:`sightspeed.runtimes.gpu` finds it (else a :class:`~sightspeed.errors.ModelError` with its
    reason); not verified on a real GPU yet (docs/gpu.md).

    Example: ``rt = load("model.onnx", threads=1); (y,) = rt.run(x)``.
    """
    path = Path(path)
    threads = threads or threads_here()
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ModelError(f"{path}: a folder, and no SavedModel (it holds no saved_model.pb)")
        suffix, kind = "saved_model", "SavedModel folders"
    elif path.is_file():
        suffix = path.suffix.lower()
        kind = f"{suffix} files"
    else:
        raise ModelError(f"{path}: model file not found")
    if runtime is None:
        runtime = {".tflite": "litert", ".keras": "tensorflow", "saved_model": "tensorflow"}.get(suffix, "onnxruntime")
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if suffix not in RUNTIMES[runtime]:
        raise ModelError(f"{path.name}: runtime {runtime} does not take {kind}")
    gpu = _gpu_check(runtime, device)
    if runtime == "onnxruntime":
        from .onnxruntime import OnnxRuntime

        rt: Runtime = OnnxRuntime(str(path), threads, gpu=gpu)
    elif runtime == "openvino":
        from .openvino import OpenVinoRuntime

        rt = OpenVinoRuntime(str(path), threads, precision, device="GPU" if gpu else "CPU")
    elif runtime == "tensorflow":
        from .tensorflow import TensorFlowRuntime

        rt = TensorFlowRuntime(str(path), threads)
    else:
        from .litert import LiteRtRuntime

        rt = LiteRtRuntime(str(path), threads)
    return rt


def _gpu_check(runtime: str, device: str) -> bool:
    """Whether ``device`` is the GPU; a GPU this runtime cannot reach here is a ModelError saying why."""
    if device not in ("cpu", "gpu"):
        raise ModelError(f"device must be cpu or gpu, not {device!r}")
    if device == "cpu":
        return False
    from . import gpu

    probe = {"onnxruntime": gpu.onnxruntime_cuda, "openvino": gpu.openvino_gpu,
             "tensorflow": gpu.tensorflow_gpu}.get(runtime)
    if probe is None:
        raise ModelError(f"runtime {runtime} has no GPU path in sightspeed (LiteRT's GPU delegate is not wired)")
    if runtime == "tensorflow":
        from .tensorflow import import_tensorflow

        import_tensorflow()  # the probe looks only where TensorFlow is imported
    ok, why = probe()
    if not ok:
        raise ModelError(f"no GPU for {runtime}: {why}")
    return True


def warmup(rt: Runtime, batch: int = 1, example: list[np.ndarray] | None = None) -> None:
    """Run once on zeros (or on ``example``, for models whose dynamic dimensions need sensible sizes) so first-call
    costs (allocation, JIT, kernel selection) stay out of timed regions."""
    rt.run(*(example if example is not None else [spec.example(batch) for spec in rt.inputs]))


class PerThread:
    """One runtime per thread and thread count, for runtimes that are not thread-safe (LiteRT, OpenVINO infer
    requests) and so that each stage's model runs with that stage's share of the core budget.

    ``factory(threads)`` loads a runtime. :meth:`get` returns this thread's instance for the current share
    (:func:`sightspeed.cores.threads_here`), loading and warming one on first use: a pipeline stage calls it in
    its ``prepare`` hook, so loads stay out of timed regions. One instance (``threads=1``) is loaded at
    construction, so a model that cannot load fails early, and :meth:`sample` can read its metadata.
    """

    def __init__(self, factory: Callable[[int], Runtime], example: list[np.ndarray] | None = None) -> None:
        self._factory = factory
        self._example = example
        self._local = threading.local()
        self._lock = threading.Lock()
        self._spare: dict[int, list[Runtime]] = {1: [self._new(1)]}
        self.loaded = 1

    def _new(self, threads: int) -> Runtime:
        rt = self._factory(threads)
        warmup(rt, example=self._example)
        return rt

    def sample(self) -> Runtime:
        """One of the loaded instances, for reading its metadata; unlike :meth:`get` it is not bound to this
        thread, so the instances stay ready for the worker threads."""
        with self._lock:
            for spare in self._spare.values():
                if spare:
                    return spare[0]
        return self.get()

    def get(self) -> Runtime:
        """This thread's runtime for its current thread share."""
        threads = threads_here()
        mine = getattr(self._local, "rts", None)
        if mine is None:
            mine = self._local.rts = {}
        rt = mine.get(threads)
        if rt is None:
            with self._lock:
                spare = self._spare.get(threads)
                rt = spare.pop() if spare else None
            if rt is None:
                rt = self._new(threads)
                with self._lock:
                    self.loaded += 1
            mine[threads] = rt
        store = _CAPTURE.get(rt.path) if _CAPTURE is not None else None
        return rt if store is None else _Recording(rt, store)


def with_models(stages: list, models: dict[str, list[PerThread]]) -> list:
    """``stages`` with a ``prepare`` hook on each one named in ``models``: it loads and warms, on each worker
    thread and for that thread's share, the runtimes the stage calls (so no model load lands in a timed span)."""
    from dataclasses import replace

    def hook(holders: list[PerThread]) -> Callable[[], None]:
        return lambda: [h.get() for h in holders]

    return [replace(s, prepare=hook(models[s.name])) if s.name in models else s for s in stages]


# model path -> the input arrays of the calls made while :func:`capturing` (None: not capturing)
_CAPTURE: dict[str, list[list[np.ndarray]]] | None = None
_CAPTURE_LOCK = threading.Lock()


class _Recording:
    """A runtime that keeps a copy of what it is called with (up to the store's limit), then runs it."""

    def __init__(self, rt: Runtime, store: list) -> None:
        self._rt, self._store = rt, store
        self.name, self.path, self.threads, self.thread_safe = rt.name, rt.path, rt.threads, rt.thread_safe

    def __getattr__(self, name: str):
        return getattr(self._rt, name)

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        with _CAPTURE_LOCK:
            if len(self._store) < self._store.limit:
                self._store.append([np.array(a, copy=True) for a in arrays])
        return self._rt.run(*arrays)


class _Store(list):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit


@contextlib.contextmanager
def capturing(paths: list[str], limit: int = 256) -> Iterator[dict[str, list[list[np.ndarray]]]]:
    """Within the block, runtimes got through :class:`PerThread` for the model files ``paths`` record the arrays
    they are called with (at most ``limit`` calls each): the calibration set of a post-training quantization is
    what the pipeline really feeds its models.

    Yields ``{path: [[array, ...] per call]}``, filled as the pipeline runs.
    """
    global _CAPTURE
    stores = {str(p): _Store(limit) for p in paths}
    previous, _CAPTURE = _CAPTURE, stores
    try:
        yield stores
    finally:
        _CAPTURE = previous
