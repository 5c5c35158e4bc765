"""What-if: project a profiled pipeline onto other hardware, stage by stage, from each stage's bound.

A stage's time scales with the resource that bounds it: compute with FLOP/s, memory with bandwidth,
python-overhead with single-core speed, io with file reads; waiting stays as it is. On a GPU preset, compute- and
memory-bound stages move to the GPU and pay a host<->device copy of their inputs and outputs over PCIe plus a launch
latency per call, so a memory-bound stage that does little math per byte is shown to lose; the rest stays on the CPU.

Precision tiers: a compute-bound stage at a bf16 or int8 tier scales with that tier's peak (``cpu:2x`` makes it
too 2x faster). ``tiers:f32`` (or ``tiers:int8``, ``tiers:bf16+int8``) is a target CPU with only those tiers'
instructions: a stage whose tier the target lacks falls back to f32 there, and takes this machine's tier/fp32
ceiling ratio longer (modelled: the whole stage scales, so a stage far below its SOL, mostly not math, loses less;
a runtime may instead emulate the tier, slower still). A gain the target would have where this machine lacks the
tier cannot be measured here, and the projection says so.

Throughput: serial = 1 / sum of per-item times; pipelined = 1 / max(slowest stage per item / its workers,
CPU time per item of all CPU stages / cores). Speed-ups compare the projection with the same model of this machine,
so the model's own simplifications cancel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .analysis import CODEC_WORK, StageReport

# Public spec-sheet peaks: fp32 FLOP/s (no tensor cores), memory bandwidth, and PCIe host<->device rate
# (practical, ~80% of the link: gen3 x16 ~12.5 GB/s, gen4 ~25, gen5 ~50).
GPUS = {
    "t4": {"name": "NVIDIA T4", "flops": 8.1e12, "bw": 320e9, "pcie": 12.5e9},
    "l4": {"name": "NVIDIA L4", "flops": 30.3e12, "bw": 300e9, "pcie": 25e9},
    "a10": {"name": "NVIDIA A10", "flops": 31.2e12, "bw": 600e9, "pcie": 25e9},
    "a100": {"name": "NVIDIA A100 40GB", "flops": 19.5e12, "bw": 1555e9, "pcie": 25e9},
    "h100": {"name": "NVIDIA H100 SXM", "flops": 67e12, "bw": 3350e9, "pcie": 50e9},
}
# Per call of a stage moved to a GPU: framework dispatch, tens of kernel launches and a synchronisation. Small
# models are latency-bound there; 0.5 ms is typical of a small CNN through onnxruntime-gpu or TensorRT.
GPU_CALL_S = 0.5e-3
LOW_TIERS = ("bf16", "int8")


@dataclass(frozen=True)
class Scenario:
    label: str
    compute: float = 1.0  # single-core speed factor (FLOP/s, codecs, Python)
    memory: float = 1.0  # bandwidth factor
    disk: float = 1.0
    cores: int | None = None  # None: as now
    gpu: dict[str, Any] | None = None
    tiers: frozenset[str] | None = None  # the precision tiers the target runs natively (None: as this machine)


def parse(spec: str) -> Scenario:
    """``cpu:2x``, ``mem:1.5x``, ``disk:3x``, ``cores:8``, ``gpu:t4`` (see GPUS), ``tiers:f32`` (a CPU with only
    f32; or ``tiers:int8``, ``tiers:bf16+int8``: the low-precision tiers it has natively).

    >>> parse("cpu:2x").compute, parse("cores:8").cores, parse("gpu:a100").gpu["bw"]
    (2.0, 8, 1555000000000.0)
    >>> sorted(parse("tiers:f32").tiers), sorted(parse("tiers:bf16+int8").tiers)
    ([], ['bf16', 'int8'])
    """
    kind, _, value = spec.partition(":")
    try:
        if kind == "gpu":
            return Scenario(spec, gpu=GPUS[value])
        if kind == "tiers":
            named = set(value.split("+"))
            if named and named <= {"f32", *LOW_TIERS}:
                return Scenario(spec, tiers=frozenset(named - {"f32"}))
            raise ValueError(value)
        if kind == "cores":
            if int(value) < 1:
                raise ValueError(value)
            return Scenario(spec, cores=int(value))
        factor = float(value.rstrip("x"))
        if not 0 < factor < float("inf"):
            raise ValueError(value)
        if kind == "cpu":
            return Scenario(spec, compute=factor)
        if kind == "mem":
            return Scenario(spec, memory=factor)
        if kind == "disk":
            return Scenario(spec, disk=factor)
    except (KeyError, ValueError):
        pass
    raise ValueError(f"what-if {spec!r}: use cpu:2x, mem:2x, disk:2x (factors above 0), cores:N (N >= 1), "
                     "tiers:f32|int8|bf16+int8 or "
                     f"gpu:{'|'.join(GPUS)}")


@dataclass
class Projection:
    scenario: str
    stage_s: dict[str, float]  # projected seconds per item, per stage
    on_gpu: list[str]
    serial_per_s: float
    pipelined_per_s: float
    limiting: str
    speedup: float  # pipelined, against the same model of this machine
    notes: list[str] = field(default_factory=list)  # what the projection assumed (tier fallbacks) or left out
    limiting_stage: str = "-"  # the stage named in ``limiting`` (the busiest one when all cores are)
    cores_bound: bool = False  # the cores, not one stage's workers, set the pipelined rate


def _tier_factor(st: StageReport, sc: Scenario) -> tuple[float, str | None]:
    """How much longer a compute-bound stage's FLOPs take on a target with the tiers ``sc.tiers``, and why."""
    if sc.tiers is None or st.tier not in LOW_TIERS or st.bound != "compute" or not st.work.get("flops"):
        return 1.0, None
    if st.tier not in sc.tiers:
        if st.tier_speedup is None:
            return 1.0, f"{st.name} ({st.tier}) would fall back to f32 there; not modelled: no {st.tier} ceiling here"
        return st.tier_speedup, (f"{st.name} ({st.tier}) falls back to f32 there: x{st.tier_speedup:.2f} its time "
                                 f"(this machine's {st.tier} / fp32 ceilings; modelled)")
    if st.tier_native is False:
        return 1.0, (f"{st.name} ({st.tier}): this CPU lacks native {st.tier}, so what a CPU with it gains is not "
                     "modelled (kept as now)")
    return 1.0, None


def _stage_time(st: StageReport, sc: Scenario) -> tuple[float, bool, str | None]:
    """(projected seconds per item, moved to the GPU, a note on the projection)."""
    if not st.items:
        return 0.0, False, None
    per_item = (st.service_s or st.total_s) / st.items
    if sc.gpu and st.bound in ("compute", "memory") and not CODEC_WORK & set(st.work):
        flops = st.work.get("flops", 0.0) / st.items
        moved = st.bytes / st.items
        transfer = moved / sc.gpu["pcie"]
        launch = GPU_CALL_S * st.calls / st.items
        return max(flops / sc.gpu["flops"], moved / sc.gpu["bw"]) + transfer + launch, True, None
    factor = {"compute": sc.compute, "python-overhead": sc.compute, "memory": sc.memory, "io": sc.disk}.get(
        st.bound, 1.0)
    slower, note = _tier_factor(st, sc)
    return per_item * slower / factor, False, note


def project(stages: list[StageReport], scenario: Scenario, cores: int | None = None) -> Projection:
    now_cores = cores or os.cpu_count() or 1
    base = _throughput(stages, Scenario("now"), now_cores)
    times, on_gpu, notes = {}, [], []
    for st in stages:
        times[st.name], gpu, note = _stage_time(st, scenario)
        if gpu:
            on_gpu.append(st.name)
        if note:
            notes.append(note)
    serial, pipelined, limiting, stage, cores_bound = _throughput(stages, scenario, scenario.cores or now_cores)
    return Projection(scenario.label, times, on_gpu, serial, pipelined, limiting,
                      pipelined / base[1] if base[1] else 0.0, notes, stage, cores_bound)


def _throughput(stages: list[StageReport], sc: Scenario, cores: int) -> tuple[float, float, str, str, bool]:
    per_stage: dict[str, float] = {}
    cpu_by_stage: dict[str, float] = {}
    for st in stages:
        t, gpu, _ = _stage_time(st, sc)
        per_stage[st.name] = t / max(1, st.workers)
        if not gpu:
            service = st.service_s or st.total_s
            on_cpu = min(float(max(1, st.threads)), st.cpu_s / service) if st.cpu_s and service else 1.0
            cpu_by_stage[st.name] = t * on_cpu
    cpu_total = sum(cpu_by_stage.values())
    serial_t = sum(_stage_time(st, sc)[0] for st in stages)
    slowest = max(per_stage, key=per_stage.get) if per_stage else "-"
    cores_t = cpu_total / max(1, cores)
    bottleneck_t = max(per_stage.get(slowest, 0.0), cores_t)
    cores_bound = cores_t > per_stage.get(slowest, 0.0)
    stage = max(cpu_by_stage, key=cpu_by_stage.get) if cores_bound else slowest
    limiting = f"all {cores} cores busy (most: {stage})" if cores_bound else slowest
    return ((1 / serial_t if serial_t else 0.0), (1 / bottleneck_t if bottleneck_t else 0.0), limiting, stage,
            cores_bound)
