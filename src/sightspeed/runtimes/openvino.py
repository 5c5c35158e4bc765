"""OpenVINO on the CPU (optional extra). f32 inference precision by default for fidelity; bf16 on request."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, require
from .base import TensorSpec


class OpenVinoRuntime:
    name = "openvino"
    thread_safe = False  # one infer request per runtime; make one runtime per thread

    def __init__(self, path: str, threads: int = 1, precision: str = "f32", device: str = "CPU") -> None:
        ov = require("openvino", "openvino")
        if precision not in ("f32", "bf16"):
            raise ModelError(f"OpenVINO precision must be f32 or bf16, not {precision!r}")
        core = ov.Core()
        # One stream of ``threads`` threads: the stage's share of the run's budget. Pinning off: OpenVINO would pin
        # every compiled model's threads to the same first cores, and two stages' models would share one core.
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
                  "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "ENABLE_CPU_PINNING": False}
        try:
            if device != "CPU":  # the CPU-only settings do not apply to a GPU plugin
                config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
            self._compiled = core.compile_model(core.read_model(path), device, config)
        except Exception as exc:
            raise ModelError(f"{path}: OpenVINO could not load it: {exc}") from exc
        self._request = self._compiled.create_infer_request()
        self.path, self.threads, self.precision = path, threads, precision

    @staticmethod
    def _spec(port) -> TensorSpec:
        shape = tuple(None if d.is_dynamic else d.get_length() for d in port.get_partial_shape())
        return TensorSpec(port.get_any_name(), shape, port.get_element_type().to_dtype().name)

    @property
    def inputs(self) -> list[TensorSpec]:
        return [self._spec(p) for p in self._compiled.inputs]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [self._spec(p) for p in self._compiled.outputs]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        result = self._request.infer([np.ascontiguousarray(a) for a in arrays])
        return [np.array(result[port]) for port in self._compiled.outputs]
