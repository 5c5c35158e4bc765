"""Whether each model runtime can reach a GPU here: (available, what it found or why not). Used by
``runtimes.load(..., device="gpu")`` and listed by ``sightspeed doctor`` (:mod:`sightspeed.gpu_paths`)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys


def _installed(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def onnxruntime_cuda() -> tuple[bool, str]:
    if importlib.util.find_spec("onnxruntime") is None:
        return False, "onnxruntime is not installed"
    from ..errors import require

    providers = require("onnxruntime", "onnxruntime").get_available_providers()
    if "CUDAExecutionProvider" in providers:
        return True, "CUDAExecutionProvider (onnxruntime-gpu)"
    return False, "this onnxruntime is the CPU build (pip install onnxruntime-gpu for CUDAExecutionProvider)"


def openvino_gpu() -> tuple[bool, str]:
    if importlib.util.find_spec("openvino") is None:
        return False, "openvino is not installed (pip install 'sightspeed[openvino]')"
    from ..host import opencl_blocked

    blocked = opencl_blocked()
    if blocked:
        return False, f"its GPU plugin is {blocked}"
    from ..errors import require

    devices = [d for d in require("openvino", "openvino").Core().available_devices if d.startswith("GPU")]
    return (True, ", ".join(devices)) if devices else (False, "OpenVINO lists no GPU device (its GPU plugin runs "
                                                              "on Intel GPUs, through their OpenCL driver)")


def tensorflow_gpu() -> tuple[bool, str]:
    if _installed("tensorflow", "tensorflow-cpu") is None:
        return False, "tensorflow is not installed (pip install 'sightspeed[tensorflow]')"
    if _installed("tensorflow") is None:
        return False, "tensorflow-cpu is installed: it has no GPU support (pip install 'tensorflow[and-cuda]')"
    if "tensorflow" not in sys.modules:
        return False, "not probed: TensorFlow is not imported in this process (its import takes seconds)"
    gpus = sys.modules["tensorflow"].config.list_physical_devices("GPU")
    return (True, f"{len(gpus)} GPU device(s)") if gpus else (False, "TensorFlow sees no GPU")
