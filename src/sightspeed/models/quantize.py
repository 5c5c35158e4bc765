"""int8 models by post-training static quantization, calibrated on what a pipeline really feeds its models.

onnxruntime's ``quantize_static`` writes a QDQ model (QuantizeLinear / DequantizeLinear around each quantized op:
uint8 activations, per-channel int8 weights, MinMax calibration); both onnxruntime and OpenVINO run such a model on
their int8 kernels. The result is cached in the model cache under a key of the model's sha256, the calibration
set's hash and the tool versions, so a second tune (or run) with the same inputs reuses it. NNCF (OpenVINO's own
quantizer) is not used: one QDQ file serves both runtimes and needs no further dependency.

``quantize(path, samples)`` does it for one model; :func:`find` returns the newest cached int8 model of a file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ModelError, require
from .zoo import cache_dir, sha256_of

# What the quantizer is asked for; part of the cache key, so a change here never reuses an old file.
SETTINGS = {"format": "QDQ", "activations": "QUInt8", "weights": "QInt8", "per_channel": True,
            "calibration": "MinMax"}


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("onnxruntime", "onnx"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "none"
    return found


def calibration_hash(samples: list[list[np.ndarray]]) -> str:
    """sha256 over the calibration arrays (shape, dtype and bytes of each, in order)."""
    h = hashlib.sha256()
    for call in samples:
        for a in call:
            a = np.ascontiguousarray(a)
            h.update(f"{a.shape}{a.dtype}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def folder() -> Path:
    return cache_dir() / "quantized"


def cache_key(model_sha256: str, calib_hash: str) -> str:
    """16 hex digits over model, calibration set, tool versions and quantizer settings."""
    text = json.dumps([model_sha256, calib_hash, _versions(), SETTINGS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stem(path: Path) -> str:
    return path.stem.replace(".", "_")


def cached(path: str | os.PathLike[str], calib_hash: str) -> Path | None:
    """The cached int8 model of ``path`` for this calibration set (and these tool versions), if there is one."""
    path = Path(path)
    out = folder() / f"{_stem(path)}.{cache_key(sha256_of(path), calib_hash)}.int8.onnx"
    return out if out.is_file() else None


def find(path: str | os.PathLike[str]) -> Path | None:
    """The newest cached int8 model made from ``path`` (same sha256 and tool versions), whatever its
    calibration set; None if there is none."""
    path = Path(path)
    sha, versions = sha256_of(path), _versions()
    best: tuple[float, Path] | None = None
    for info_file in folder().glob(f"{_stem(path)}.*.int8.json"):
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue
        model = info_file.with_suffix(".onnx")
        if info.get("model_sha256") == sha and info.get("versions") == versions and model.is_file():
            if best is None or info.get("created", 0) > best[0]:
                best = (info.get("created", 0), model)
    return best[1] if best else None


def _opset_13(path: Path, tmp: Path) -> Path:
    """``path`` converted to ONNX opset 13 when older: per-channel DequantizeLinear (its ``axis``) needs 13."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
    if opset >= 13:
        return path
    out = tmp / "opset13.onnx"
    onnx.save(version_converter.convert_version(model, 13), str(out))
    return out


def _touch(info_file: Path) -> None:
    try:
        info = json.loads(info_file.read_text())
        info["created"] = time.time()
        info_file.write_text(json.dumps(info, indent=2))
    except (OSError, ValueError):
        pass


class _Reader:
    """onnxruntime's CalibrationDataReader over recorded calls."""

    def __init__(self, names: list[str], samples: list[list[np.ndarray]]) -> None:
        self._feeds = iter([dict(zip(names, call)) for call in samples])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # some onnxruntime versions call it; one pass is all MinMax needs
        pass


def quantize(path: str | os.PathLike[str], samples: list[list[np.ndarray]], *, quiet: bool = True) -> Path:
    """An int8 (QDQ) copy of the ONNX model ``path``, calibrated on ``samples`` (the input arrays of real calls,
    e.g. from :func:`sightspeed.runtimes.base.capturing`); cached, so the same model and samples return the same
    file at once.

    Needs ``onnx`` (``pip install onnx``); raises ModelError naming it when missing, or when ``samples`` is empty.
    """
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{path.name}: int8 quantization takes ONNX models (this is {path.suffix})")
    if not samples:
        raise ModelError(f"{path.name}: no calibration inputs (the pipeline never called this model on them)")
    calib = calibration_hash(samples)
    hit = cached(path, calib)
    if hit is not None:  # the newest chosen is what find() returns: mark it chosen now
        _touch(hit.with_suffix(".json"))
        return hit
    try:
        ort = require("onnxruntime", "onnxruntime")
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise ModelError(f"int8 quantization needs onnx: pip install onnx ({exc})") from exc
    key = cache_key(sha256_of(path), calib)
    out = folder() / f"{_stem(path)}.{key}.int8.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [i.name for i in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(_opset_13(path, Path(tmp))), str(prepared), skip_symbolic_shape=True)
        staged = Path(tmp) / out.name
        quantize_static(str(prepared), str(staged), _Reader(names, samples), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"CalibTensorRangeSymmetric": False})
        os.replace(staged, out)
    info = {"model": path.name, "model_sha256": sha256_of(path), "calibration_sha256": calib,
            "calibration_calls": len(samples), "versions": _versions(), "settings": SETTINGS,
            "seconds": round(time.perf_counter() - started, 2), "created": time.time()}
    out.with_suffix(".json").write_text(json.dumps(info, indent=2))
    return out
