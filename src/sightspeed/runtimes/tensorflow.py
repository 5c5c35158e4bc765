"""TensorFlow on the CPU (optional extra): a SavedModel folder (its ``serving_default`` signature) or a ``.keras``
file (the model's call, inference mode), each behind one ``tf.function`` with a fixed input signature, so calls of
any batch size reuse one trace.

TensorFlow's thread pools are process-wide and can be sized only before its first op: the first load of the
process sets intra-op threads to its ``threads`` and inter-op threads to 1 (ops run one after another, like the
other runtimes). A later load that asks for another count keeps the process's pools, says so in its ``notes`` and
warns; its ``threads`` is the count really in use. Per-model thread budgets are not possible in TensorFlow.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, require
from .base import TensorSpec

def import_tensorflow() -> Any:
    """``tensorflow``, or :class:`~sightspeed.errors.MissingDependency` naming
    ``pip install 'sightspeed[tensorflow]'``."""
    return require("tensorflow", "tensorflow")


def is_saved_model(path: str | Path) -> bool:
    """Whether ``path`` is a SavedModel folder (it holds ``saved_model.pb``).

    >>> is_saved_model("no/such/folder")
    False
    """
    return (Path(path) / "saved_model.pb").is_file()


def apply_threads(tf: Any, threads: int) -> tuple[int, str]:
    """Size TensorFlow's pools to ``threads`` if they are not sized yet (:func:`sightspeed.cores.tensorflow_pools`);
    returns (threads in use, note)."""
    from ..cores import tensorflow_pools

    used = tensorflow_pools(tf, threads)
    if used == threads:
        return threads, ""
    pools = f"{used} intra-op threads" if used else "TensorFlow's default intra-op pool (every core)"
    note = (f"asked for {threads} threads, runs with {pools}: TensorFlow sizes its thread pools once per "
            "process, before its first op")
    warnings.warn(note, RuntimeWarning, stacklevel=4)
    return used, note


def _natural(key: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _flat(structure: Any) -> list[tuple[str, Any]]:
    """(name, tensor) pairs of a model's result: a dict in natural key order (output_2 before output_10), a list
    or tuple in order, a lone tensor as one."""
    if isinstance(structure, dict):
        return [(str(k), structure[k]) for k in sorted(structure, key=lambda k: _natural(str(k)))]
    if isinstance(structure, (list, tuple)):
        return [(f"output_{i}", t) for i, t in enumerate(structure)]
    return [("output_0", structure)]


class TensorFlowRuntime:
    name = "tensorflow"
    thread_safe = True  # a tf.function may be called from several threads at once

    def __init__(self, path: str, threads: int = 1) -> None:
        tf = import_tensorflow()
        self._tf = tf
        self.threads, note = apply_threads(tf, threads)
        self.notes = [note] if note else []
        self.path = path
        try:
            call, specs = self._load_saved_model(path) if is_saved_model(path) else self._load_keras(path)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{path}: TensorFlow could not load it: {exc}") from exc
        self.inputs = [TensorSpec(s.name, tuple(s.shape.as_list()), s.dtype.name) for s in specs]
        self._fn = tf.function(call, input_signature=specs)
        traced = self._fn.get_concrete_function()
        self.outputs = [TensorSpec(n, tuple(t.shape.as_list()) if t.shape.rank is not None else (),
                                    t.dtype.name) for n, t in _flat(traced.structured_outputs)]

    def _load_saved_model(self, path: str) -> tuple[Any, list]:
        tf = self._tf
        self._model = tf.saved_model.load(path)
        signature = self._model.signatures.get("serving_default")
        if signature is None:
            raise ModelError(f"{path}: the SavedModel has no serving_default signature "
                             f"(it has {', '.join(self._model.signatures) or 'none'})")
        kwargs = signature.structured_input_signature[1]
        names = sorted(kwargs, key=_natural)
        specs = [tf.TensorSpec(kwargs[n].shape, kwargs[n].dtype, name=n) for n in names]

        def call(*xs):
            return signature(**dict(zip(names, xs)))

        return call, specs

    def _load_keras(self, path: str) -> tuple[Any, list]:
        tf = self._tf
        import keras

        self._model = keras.saving.load_model(path, compile=False)
        try:
            declared = list(self._model.inputs)
        except (AttributeError, ValueError, TypeError):
            declared = []
        if not declared:
            raise ModelError(f"{path}: the Keras model declares no inputs (build it from keras.Input)")
        specs = [tf.TensorSpec(t.shape, t.dtype, name=getattr(t, "name", None) or f"input_{i}")
                 for i, t in enumerate(declared)]
        model = self._model

        def call(*xs):
            return model(xs[0] if len(xs) == 1 else list(xs), training=False)

        return call, specs

    @property
    def traces(self) -> int:
        """How many times the model's call was traced: 1 for the life of the runtime (one input signature)."""
        return self._fn.experimental_get_tracing_count()

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        result = self._fn(*[np.ascontiguousarray(a, spec.dtype) for a, spec in zip(arrays, self.inputs)])
        return [t.numpy() for _, t in _flat(result)]
