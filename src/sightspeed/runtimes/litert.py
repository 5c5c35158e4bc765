"""ai-edge-litert (the TFLite runtime; runs MediaPipe's custom ops, which OpenVINO and tflite-runtime do not)."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, require
from .base import TensorSpec


class LiteRtRuntime:
    name = "litert"
    thread_safe = False  # one Interpreter per thread

    def __init__(self, path: str, threads: int = 1) -> None:
        interpreter = require("ai_edge_litert.interpreter", "tflite")
        try:
            self._it = interpreter.Interpreter(model_path=path, num_threads=threads)
            self._it.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"{path}: LiteRT could not load it: {exc}") from exc
        self.path, self.threads = path, threads
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()

    @property
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]).name) for d in self._in]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]).name)
                for d in self._out]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        resized = False
        for detail, array in zip(self._in, arrays):
            if tuple(detail["shape"]) != array.shape:
                self._it.resize_tensor_input(detail["index"], array.shape)
                resized = True
        if resized:
            self._it.allocate_tensors()
            self._in = self._it.get_input_details()
            self._out = self._it.get_output_details()
        for detail, array in zip(self._in, arrays):
            self._it.set_tensor(detail["index"], np.ascontiguousarray(array, detail["dtype"]))
        self._it.invoke()
        return [self._it.get_tensor(d["index"]) for d in self._out]
