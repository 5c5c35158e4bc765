"""Each GPU path sightspeed knows, and whether this machine can take it: available (with what it found) or not (with
the reason). Cheap: nothing is imported that is not imported already, except onnxruntime and OpenVINO's device
list (guarded: :func:`sightspeed.host.opencl_blocked`) and cupy's device count. The runtimes' probes live in
:mod:`sightspeed.runtimes.gpu`, the kernels' in :mod:`sightspeed.kernels._backends`; this module lists them all
(``sightspeed doctor``, and every Session's ``machine``).

Verified on a real GPU: none of them so far (no GPU was lent to this project's sessions); docs/gpu.md says what
each does and what a GPU run should check. The CuPy kernel path records its host<->device copies as stages of
their own (``copy to gpu`` / ``copy from gpu``, with their bytes), so a run on a GPU can be held against the
what-if's GPU projection (its PCIe term).
"""

from __future__ import annotations

import importlib.util
import shutil
from typing import Any

from .kernels._backends import status
from .runtimes.gpu import onnxruntime_cuda, openvino_gpu, tensorflow_gpu

NO_GPU = "no NVIDIA GPU here (no nvidia-smi on PATH)"


def cupy_kernels() -> tuple[bool, str]:
    return status("cupy")


def opencv_umat() -> tuple[bool, str]:
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
