"""What tune may try: a :class:`Candidate` is one whole configuration of a run; the functions here make the
neighbours of a candidate along one knob (model runtime and tier, executor and thread split, batch, switches,
kernel backends), from what the task declares it can turn (its module's ``TUNING``) and what the machine has."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Any

from ..tasks.options import join_per_model


@dataclass(frozen=True)
class Candidate:
    """One configuration: task ``options`` (as sorted pairs, so candidates hash), the executor, its thread split
    (pipelined: ``stage=WxT,...``), the batch size of batchable stages, and forced kernel backends."""

    options: tuple[tuple[str, Any], ...] = ()
    executor: str = "pipelined"  # serial | pipelined
    split: str = ""
    batch_size: int = 1
    backends: tuple[tuple[str, str], ...] = ()  # (op, backend)

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def with_options(self, **changes: Any) -> Candidate:
        return replace(self, options=tuple(sorted({**self.opts, **changes}.items())))

    def with_backend(self, op: str, backend: str) -> Candidate:
        return replace(self, backends=tuple(sorted({**dict(self.backends), op: backend}.items())))

    def describe(self, base: Candidate | None = None) -> str:
        """What differs from ``base`` (everything when ``base`` is None), in flag-like words."""
        words = []
        base_opts = base.opts if base else {}
        for k, v in self.options:
            if base is None or base_opts.get(k) != v:
                words.append(f"{k}={v}")
        if base is None or (self.executor, self.split) != (base.executor, base.split):
            words.append(self.executor + (f" {self.split}" if self.split else ""))
        if base is None or self.batch_size != base.batch_size:
            words.append(f"batch {self.batch_size}")
        for op, b in self.backends:
            if base is None or dict(base.backends).get(op) != b:
                words.append(f"{op}:{b}")
        return ", ".join(words) or "default"

    def as_dict(self) -> dict[str, Any]:
        return {"options": self.opts, "executor": self.executor, "split": self.split, "batch_size": self.batch_size,
                "backends": dict(self.backends)}


@dataclass
class Space:
    """What a task lets tune turn (read from its module's ``TUNING``; a user's ``module:function`` from the
    function's ``tuning`` attribute, the same keys; empty where it has none)."""

    models: dict[str, str] = field(default_factory=dict)  # model key -> the stage that runs it
    runtimes: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    batch: tuple | None = None  # (option, stage, values)
    switches: dict[str, tuple] = field(default_factory=dict)
    ops: tuple[str, ...] = ()
    save_mask: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)  # the task's options' defaults

    @classmethod
    def of(cls, task: str) -> Space:
        from ..tasks.registry import TASKS, options_of

        if task not in TASKS:  # a user's module:function declares what may turn as ``function.tuning``
            from ..tasks.registry import _function

            tuning = getattr(_function(task), "tuning", None) or {}
            return cls(**tuning, defaults={o.name: o.default for o in options_of(task)}) if tuning else cls()
        module = importlib.import_module(f"sightspeed.tasks.{TASKS[task][0]}.task")
        return cls(**getattr(module, "TUNING", {}), defaults={o.name: o.default for o in options_of(task)})

    def knobs(self) -> list[str]:
        """The task options tune turns."""
        return ([*(("runtime", "precision") if self.models else ())] + ([self.batch[0]] if self.batch else [])
                + list(self.switches))


def tier_skips(tiers: tuple[str, ...], dot_product: dict[str, list[str]]) -> dict[str, str]:
    """Tiers not worth trying on this CPU, with the reason: bf16 without native bf16 instructions (emulated bf16
    is slower than f32). int8 is tried everywhere (it is fast only with int8 dot products, and measured anyway).

    >>> tier_skips(("f32", "bf16", "int8"), {"bf16": [], "int8": ["avx2"]})
    {'bf16': 'skipped: this CPU has no native bf16 (no amx_bf16 / avx512_bf16)'}
    """
    return {t: "skipped: this CPU has no native bf16 (no amx_bf16 / avx512_bf16)" for t in tiers
            if t == "bf16" and not dot_product.get("bf16")}


def model_settings(space: Space, skip: dict[str, str]) -> list[tuple[str, str]]:
    """(runtime, tier) pairs worth trying for a model: bf16 only on OpenVINO (its precision hint)."""
    return [(rt, tier) for rt in space.runtimes for tier in space.tiers
            if tier not in skip and not (tier == "bf16" and rt != "openvino")]


def _per_model(base: Candidate, space: Space, runtime: dict[str, str], tier: dict[str, str]) -> Candidate:
    # the same join for every candidate, so equal settings compare equal
    return base.with_options(runtime=join_per_model(runtime), precision=join_per_model(tier))


def current(base: Candidate, space: Space) -> tuple[dict[str, str], dict[str, str]]:
    """Each model's runtime and tier in ``base``."""
    from ..tasks.options import per_model

    keys = tuple(space.models)
    opts = base.opts
    return (per_model(opts.get("runtime", space.runtimes[0]), keys, space.runtimes),
            per_model(opts.get("precision", space.tiers[0]), keys, space.tiers))


def normal(candidate: Candidate, space: Space) -> Candidate:
    """``candidate`` with every knob's value written out (the task's default where it has none) and each model's
    runtime and tier in their shortest form, so the same setting is always the same candidate."""
    filled = candidate.with_options(**{k: candidate.opts.get(k, space.defaults.get(k)) for k in space.knobs()
                                       if k in candidate.opts or k in space.defaults})
    if not space.models:
        return filled
    runtime, tier = current(filled, space)
    return _per_model(filled, space, runtime, tier)


def one_model(base: Candidate, space: Space, key: str, skip: dict[str, str]) -> list[Candidate]:
    """``base`` with model ``key`` alone at each other (runtime, tier)."""
    runtime, tier = current(base, space)
    found = []
    for rt, t in model_settings(space, skip):
        if (rt, t) != (runtime[key], tier[key]):
            found.append(_per_model(base, space, {**runtime, key: rt}, {**tier, key: t}))
    return found


def executors(base: Candidate, stage_ms: dict[str, float], cores: int) -> list[Candidate]:
    """Serial, pipelined with the default split, and pipelined with the heaviest stage given more than one core
    (one worker of ``cores`` threads; and as many one-thread workers), from the default run's per-stage times."""
    found = [replace(base, executor="serial", split=""), replace(base, executor="pipelined", split="")]
    if cores > 1 and stage_ms:
        heavy = max(stage_ms, key=stage_ms.get)
        found += [replace(base, executor="pipelined", split=f"{heavy}=1x{cores}"),
                  replace(base, executor="pipelined", split=f"{heavy}={cores}x1")]
    return [c for c in found if c != base]


def batches(base: Candidate, space: Space, batchable: bool) -> list[Candidate]:
    """The task's batch option at each of its values, else the run's batch size 1..8 where a stage batches."""
    if space.batch is not None:
        name, _, values = space.batch
        return [normal(base.with_options(**{name: v}), space) for v in values]
    if batchable:
        return [replace(base, batch_size=b) for b in (1, 2, 4, 8)]
    return []


def switches(base: Candidate, space: Space) -> list[Candidate]:
    return [normal(base.with_options(**{name: v}), space) for name, values in space.switches.items()
            for v in values if base.opts.get(name, space.defaults.get(name, values[0])) != v]


# Backends tune never forces: the plain references (never the fast choice) and the array-API path (it is there
# for CuPy; on numpy it is the reference again).
NOT_TRIED = ("numpy", "array_api")


def backends(base: Candidate, space: Space) -> list[Candidate]:
    """``base`` with each op of the task forced onto each of its other available backends."""
    from ..kernels import _registry

    found = []
    for op in space.ops:
        kernel = _registry.get(op)
        picked = dict(base.backends).get(op) or kernel.pick()[0]
        for backend in kernel.backends():
            if backend not in NOT_TRIED and backend != picked and kernel.available(backend)[0]:
                found.append(base.with_backend(op, backend))
    return found


def label(candidate: Candidate, default: Candidate, space: Space) -> str:
    """What differs from the default, with model settings as ``rec openvino/bf16``."""
    if not space.models:
        return candidate.describe(default)
    runtime, tier = current(candidate, space)
    runtime0, tier0 = current(default, space)
    changed = [k for k in space.models if (runtime[k], tier[k]) != (runtime0[k], tier0[k])]
    if changed and len(changed) == len(space.models) and len(set(runtime.values())) == len(set(tier.values())) == 1:
        words = [f"all models {runtime[changed[0]]}/{tier[changed[0]]}"]
    else:
        words = [f"{k} {runtime[k]}/{tier[k]}" for k in changed]
    rest = replace(candidate, options=tuple((k, v) for k, v in candidate.options if k not in ("runtime", "precision")))
    base = replace(default, options=tuple((k, v) for k, v in default.options if k not in ("runtime", "precision")))
    other = rest.describe(base)
    return ", ".join(words + ([other] if other != "default" else [])) or "default"
