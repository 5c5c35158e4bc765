"""onnxruntime, CPU, with an explicit thread budget and no spinning."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, require
from .base import TensorSpec

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
           "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(double)": "float64"}


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, shape, _DTYPES.get(arg.type, "float32"))


class OnnxRuntime:
    name = "onnxruntime"
    thread_safe = True

    def __init__(self, path: str, threads: int = 1, gpu: bool = False) -> None:
        ort = require("onnxruntime", "onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]
            self._session = ort.InferenceSession(path, opts, providers=providers)
        except Exception as exc:
            raise ModelError(f"{path}: onnxruntime could not load it: {exc}") from exc
        self.path, self.threads = path, threads
        self.inputs = [_spec(a) for a in self._session.get_inputs()]
        self.outputs = [_spec(a) for a in self._session.get_outputs()]
        self._names = [s.name for s in self.inputs]

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, dict(zip(self._names, arrays)))
