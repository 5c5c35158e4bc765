"""Compute peaks per model precision tier, measured through the runtimes that run the tiers.

A model runs at a tier: ``f32``, ``bf16`` (OpenVINO's ``INFERENCE_PRECISION_HINT=bf16`` on an f32 model) or
``int8`` (a QDQ-quantized model: QuantizeLinear/DequantizeLinear around a MatMul's inputs, int8 weights). numpy's
sgemm gives the f32 peak (``flops_1t`` / ``flops_all`` in :mod:`.machine`); the other tiers' peaks are what the
runtimes reach on one square matrix product built in memory with ``onnx.helper``:

- ``flops_bf16_1t`` / ``_all``: the f32 MatMul compiled by OpenVINO on the CPU with the bf16 hint;
- ``flops_int8_1t`` / ``_all``: the QDQ MatMul, through OpenVINO (it folds the QDQ pairs into int8 kernels) and
  onnxruntime (MatMulIntegerToFloat); the ceiling is the faster runtime's, each runtime's own is recorded.

Ops per second count ``2 n^3`` per product, whatever the precision. One thread, then all the cores the process
may use; OpenVINO gets ``INFERENCE_NUM_THREADS``, one stream, no pinning, the latency hint; onnxruntime
``intra_op_num_threads``. A tier is measured wherever a runtime runs it, native or not: a CPU without bf16 dot
products runs bf16 emulated (slowly) or as f32, and that is the speed a bf16 model gets there. ``native`` records
whether the CPU has the tier's instructions (:data:`sightspeed.host.DOT_PRODUCT`), ``executed`` the precision
OpenVINO's kernel actually ran in. A tier no installed runtime can run has ``None`` ceilings and says why.

>>> ceiling_names("bf16"), ceiling_names("f32")
(('flops_bf16_1t', 'flops_bf16_all'), ('flops_1t', 'flops_all'))
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..host import describe
from ..errors import require  # the runtimes imported without their telemetry

TIERS = ("f32", "bf16", "int8")
CEILINGS = {  # tier -> (1-thread ceiling, all-threads ceiling)
    "f32": ("flops_1t", "flops_all"),
    "bf16": ("flops_bf16_1t", "flops_bf16_all"),
    "int8": ("flops_int8_1t", "flops_int8_all"),
}
RUNTIMES = {"bf16": ("openvino",), "int8": ("openvino", "onnxruntime")}  # what runs each measured tier
OPENVINO_CONFIG = {"NUM_STREAMS": 1, "ENABLE_CPU_PINNING": False, "PERFORMANCE_HINT": "LATENCY"}
INSTALL = {"openvino": "pip install 'sightspeed[openvino]'", "onnx": "pip install onnx",
           "onnxruntime": "pip install onnxruntime"}


def ceiling_names(tier: str) -> tuple[str, str]:
    """The (1-thread, all-threads) ceiling names a stage at ``tier`` is held to; KeyError for an unknown tier."""
    return CEILINGS[tier]


def versions() -> dict[str, str | None]:
    """Installed versions of the packages the tier probes use (None: not installed). A cache that recorded other
    versions is measured again: a runtime installed or upgraded since can change a tier's peak.

    >>> sorted(versions())
    ['onnx', 'onnxruntime', 'openvino']
    """
    found: dict[str, str | None] = {}
    for name in ("onnx", "onnxruntime", "openvino"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def matmul_model(n: int, quantized: bool = False) -> bytes:
    """ONNX bytes of ``y = a @ w``: ``a`` an f32 ``n x n`` input, ``w`` an ``n x n`` initializer (f32; or int8
    behind a DequantizeLinear, with the input quantized to uint8 and dequantized: the QDQ form quantizers write).

    >>> import onnx
    >>> [node.op_type for node in onnx.load_from_string(matmul_model(8, quantized=True)).graph.node]
    ['QuantizeLinear', 'DequantizeLinear', 'DequantizeLinear', 'MatMul']
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    if quantized:
        inits = [numpy_helper.from_array(rng.integers(-127, 128, (n, n)).astype(np.int8), "w_q"),
                 numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
                 numpy_helper.from_array(np.array(128, np.uint8), "a_zero"),
                 numpy_helper.from_array(np.array(0.01, np.float32), "w_scale"),
                 numpy_helper.from_array(np.array(0, np.int8), "w_zero")]
        nodes = [helper.make_node("QuantizeLinear", ["a", "a_scale", "a_zero"], ["a_q"]),
                 helper.make_node("DequantizeLinear", ["a_q", "a_scale", "a_zero"], ["a_dq"]),
                 helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"]),
                 helper.make_node("MatMul", ["a_dq", "w"], ["y"])]
    else:
        inits = [numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "w")]
        nodes = [helper.make_node("MatMul", ["a", "w"], ["y"])]
    graph = helper.make_graph(nodes, "matmul", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _openvino(model: bytes, a: np.ndarray, threads: int, precision: str) -> tuple[Callable[[], None], str | None]:
    """(one inference, the precision OpenVINO's matrix-product kernel runs in) for ``model`` on ``threads``."""
    ov = require("openvino", "openvino")

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model, b""), "CPU", {
        **OPENVINO_CONFIG, "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(a))  # bound once: the timed call copies nothing in
    executed = None
    try:  # the executed graph names each kernel's precision (bf16 may run as f32 where the CPU cannot do it)
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if info["layerType"].astype(str) in ("FullyConnected", "MatMul"):
                executed = info["runtimePrecision"].astype(str)
    except Exception:  # rt_info keys are not a stable API; the measurement stands without them
        executed = None
    return request.infer, executed


def _onnxruntime(model: bytes, a: np.ndarray, threads: int) -> tuple[Callable[[], None], str | None]:
    ort = require("onnxruntime", "onnxruntime")

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()  # input and output bound once: the timed call allocates nothing
    binding.bind_cpu_input("a", a)
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(np.empty_like(a)))
    return lambda: session.run_with_iobinding(binding), None


def best_seconds(fn: Callable[[], None], repeats: int) -> float:
    """The best of ``repeats`` timed calls of ``fn``, after one untimed call (every ceiling probe's timing)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _rate(run: Callable[[], None], ops: float, repeats: int) -> Callable[[], float]:
    """A probe: ops per second of ``run``, at its best of ``repeats``."""
    return lambda: ops / best_seconds(run, repeats)


def _missing(runtime: str) -> str | None:
    """Why ``runtime`` cannot run the probes here, or None."""
    for package in ("onnx", runtime):
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):  # a broken install, or an import hook refusing it
            found = False
        if not found:
            return f"{package} is not installed ({INSTALL[package]})"
    return None


def prepare(cores: int, n: int = 2048, repeats: int = 3) -> tuple[dict[str, Callable[[], float]], dict[str, Any]]:
    """The tier probes, compiled now, and the record of each tier.

    Probes are keyed ``"<ceiling>@<runtime>"`` (e.g. ``"flops_int8_1t@onnxruntime"``); each call times one round
    and returns ops/s. The record, ``{tier: {"native", "flags", "n", "runtimes": {runtime: {"version",
    "executed"}}, "skipped": {runtime: why}}}``, is completed by :func:`combine`.
    """
    flags = describe()["cpu"]["dot_product"]
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    found = versions()
    probes: dict[str, Callable[[], float]] = {}
    record: dict[str, Any] = {}
    for tier, runtimes in RUNTIMES.items():
        entry: dict[str, Any] = {"native": bool(flags.get(tier)), "flags": list(flags.get(tier, [])), "n": n,
                                 "runtimes": {}, "skipped": {}}
        record[tier] = entry
        model = None
        for runtime in runtimes:
            why = _missing(runtime)
            if why:
                entry["skipped"][runtime] = why
                continue
            try:
                model = model or matmul_model(n, quantized=tier == "int8")
                found_probes = {}
                executed = None
                for name, threads in zip(CEILINGS[tier], (1, cores)):
                    if runtime == "openvino":
                        run, executed = _openvino(model, a, threads, "bf16" if tier == "bf16" else "f32")
                    else:
                        run, executed = _onnxruntime(model, a, threads)
                    run()  # a runtime that compiles a tier but cannot run it fails here, not mid-measurement
                    found_probes[f"{name}@{runtime}"] = _rate(run, 2.0 * n**3, repeats)
            except Exception as exc:  # a runtime that cannot build or run the tier here: recorded, not fatal
                entry["skipped"][runtime] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            probes.update(found_probes)
            entry["runtimes"][runtime] = {"version": found[runtime], "executed": executed}
    return probes, record


def combine(medians: dict[str, float], record: dict[str, Any]) -> dict[str, Any]:
    """Each tier ceiling as the fastest runtime's median (None where no runtime ran it), plus ``"tiers"``: the
    record of :func:`prepare` with each runtime's own numbers.

    >>> out = combine({"flops_int8_1t@openvino": 3.0, "flops_int8_1t@onnxruntime": 4.0},
    ...               {"int8": {"runtimes": {"openvino": {}, "onnxruntime": {}}}})
    >>> out["flops_int8_1t"], out["flops_int8_all"], out["tiers"]["int8"]["runtimes"]["openvino"]
    (4.0, None, {'flops_int8_1t': 3.0})
    """
    result: dict[str, Any] = {}
    for tier, entry in record.items():
        for name in CEILINGS[tier]:
            values = []
            for runtime, numbers in entry["runtimes"].items():
                value = medians.get(f"{name}@{runtime}")
                if value is not None:
                    numbers[name] = value
                    values.append(value)
            result[name] = max(values) if values else None
    result["tiers"] = record
    return result


def stale(cached: dict[str, Any]) -> bool:
    """Whether cached ceilings must be measured again for the tiers: a tier ceiling missing (a cache from before
    tiers), or probe packages installed, removed or upgraded since (``measured.runtimes``; a cache that does not
    record them is judged on its ceilings alone)."""
    if any(name not in cached for tier in RUNTIMES for name in CEILINGS[tier]):
        return True
    recorded = cached.get("measured", {}).get("runtimes")
    return recorded is not None and recorded != versions()
