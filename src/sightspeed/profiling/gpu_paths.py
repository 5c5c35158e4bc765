"""Each GPU path sightspeed knows, and whether this machine can take it: available (with what it found) or not (with
the reason). Cheap: nothing is imported that is not imported already, except onnxruntime and OpenVINO's device
list (guarded: :func:`sightspeed.host.opencl_blocked`) and cupy's device count.

Verified on a real GPU: none of them so far (no GPU was lent to this project's sessions); docs/gpu.md says what
each does and what a GPU run should check. The CuPy kernel path records its host<->device copies as stages of
their own (``copy to gpu`` / ``copy from gpu``, with their bytes), so a run on a GPU can be held against the
what-if's GPU projection (its PCIe term).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import sys
from typing import Any

NO_GPU = "no NVIDIA GPU here (no nvidia-smi on PATH)"


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


def cupy_kernels() -> tuple[bool, str]:
    from ..kernels._backends import status

    return status("cupy")


def opencv_umat() -> tuple[bool, str]:
    from ..kernels._backends import status

    ok, why = status("opencl")
    if not ok:
        return ok, why
    import cv2

    on_gpu = cv2.ocl.Device.getDefault().type() & cv2.ocl.Device_TYPE_GPU
    return (True, why) if on_gpu else (False, f"OpenCV's OpenCL device is a CPU, not a GPU: {why}")


def dali_decode() -> tuple[bool, str]:
    if importlib.util.find_spec("nvidia") is None or importlib.util.find_spec("nvidia.dali") is None:
        return False, "NVIDIA DALI is not installed (pip install nvidia-dali-cuda120 on a machine with a GPU)"
    return (True, "nvidia.dali (its GPU JPEG decoder, nvJPEG)") if shutil.which("nvidia-smi") else (False, NO_GPU)


PATHS = {"onnxruntime CUDA": onnxruntime_cuda, "OpenVINO GPU": openvino_gpu, "TensorFlow GPU": tensorflow_gpu,
         "CuPy kernels": cupy_kernels, "OpenCV UMat (OpenCL)": opencv_umat, "DALI JPEG decode": dali_decode}


def paths() -> dict[str, dict[str, Any]]:
    """name -> {"available": bool, "how": what was found, or why not}; a probe that fails says so."""
    out = {}
    for name, probe in PATHS.items():
        try:
            ok, how = probe()
        except Exception as exc:  # noqa: BLE001 - a broken driver or package raises many kinds; say it, go on
            ok, how = False, f"the probe failed: {type(exc).__name__}: {exc}"
        out[name] = {"available": ok, "how": how}
    return out
