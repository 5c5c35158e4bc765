"""Every GPU path is availability-checked with a reason (docs/gpu.md): what doctor says matches what this machine
has, and a path is never called available without the hardware behind it."""

from __future__ import annotations

import importlib.util
import shutil

from sightspeed.gpu_paths import PATHS, paths
from sightspeed.profiler import describe_machine


def test_each_path_says_yes_or_why_not():
    found = paths()
    assert list(found) == list(PATHS)
    for name, row in found.items():
        assert isinstance(row["available"], bool) and row["how"].strip(), name
    assert describe_machine(ceilings="none")["gpu_paths"].keys() == found.keys()


def test_without_an_nvidia_gpu_no_cuda_path_is_available():
    found = paths()
    if shutil.which("nvidia-smi"):
        return  # a GPU machine: the CPU-only claims below do not apply
    for name in ("onnxruntime CUDA", "CuPy kernels", "DALI JPEG decode", "TensorFlow GPU"):
        assert not found[name]["available"], (name, found[name])
    if importlib.util.find_spec("cupy") is None:
        assert "pip install 'sightspeed[gpu]'" in found["CuPy kernels"]["how"]
    ort = importlib.util.find_spec("onnxruntime")
    if ort is not None:
        assert "CPU build" in found["onnxruntime CUDA"]["how"]


def test_opencv_umat_on_a_cpu_opencl_device_is_not_a_gpu_path():
    from sightspeed.kernels._backends import status

    ok, why = status("opencl")
    row = paths()["OpenCV UMat (OpenCL)"]
    if not ok:
        assert not row["available"] and row["how"] == why
        return
    import cv2

    gpu = bool(cv2.ocl.Device.getDefault().type() & cv2.ocl.Device_TYPE_GPU)
    assert row["available"] == gpu and (gpu or "a CPU, not a GPU" in row["how"])


def test_asking_a_runtime_for_a_gpu_it_cannot_reach_says_why(tmp_path):
    import pytest

    from sightspeed.errors import ModelError
    from sightspeed.runtimes import load

    from onnx_models import matmul_chain

    path, _ = matmul_chain(tmp_path, size=8, depth=1)
    with pytest.raises(ModelError, match="device must be cpu or gpu"):
        load(path, device="tpu")
    if paths()["onnxruntime CUDA"]["available"]:
        return
    with pytest.raises(ModelError, match="no GPU for onnxruntime: .*CPU build"):
        load(path, device="gpu")
    assert load(path, device="cpu").name == "onnxruntime"
