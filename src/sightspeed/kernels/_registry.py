"""The kernel registry: (op, backend) -> implementation, which backends this machine has, and which one to use.

An :class:`Op` is callable: ``op(*args, backend=None, **kwargs)`` runs the chosen backend. The choice, in order:
``backend=`` given to the call; a :func:`use_backend` scope (a ContextVar, so threads and asyncio tasks each keep
their own); the backend measured fastest on this machine by ``sightspeed bench kernels --save``; else the op's
default order, which names the benchmark that chose it. An unavailable backend is never picked by default, and
forcing one raises :class:`BackendUnavailable` with the reason.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import _backends

_FORCED: ContextVar[dict[str, str]] = ContextVar("sightspeed_kernel_backend", default={})


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name but cannot run here (the message says why and what to install)."""


@dataclass(frozen=True)
class Tolerance:
    """How far a backend may be from the reference: every element within ``atol`` and the mean within
    ``mean_atol`` (a resampler that quantises positions to 1/32 pixel is off by a few levels on sharp edges, but
    not on average). ``atol=0`` means exact."""

    atol: float = 0.0
    mean_atol: float | None = None


@dataclass
class Op:
    """One kernel: its numpy reference, its backends, and the order to try them in when nothing was measured."""

    name: str
    reference: Callable[..., Any]
    default_order: tuple[str, ...]
    tolerance: dict[str, Tolerance] = field(default_factory=dict)
    impls: dict[str, Callable[..., Any] | str] = field(default_factory=dict)
    warm: set[str] = field(default_factory=set)
    tolerance_for: Callable[[str, dict], Tolerance] | None = None  # when it depends on the call's arguments
    check: Callable[..., None] | None = None  # validates a call's arguments before any backend sees them

    def __post_init__(self) -> None:
        self.impls["numpy"] = self.reference
        self.__doc__ = self.reference.__doc__
        OPS[self.name] = self

    def add(self, backend: str, impl: Callable[..., Any] | str, tolerance: Tolerance | None = None) -> None:
        """Register ``impl`` (a callable, or "module:function" imported on first use) as ``backend``."""
        if backend not in _backends.PROBES:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(_backends.PROBES)}")
        self.impls[backend] = impl
        self.tolerance[backend] = tolerance or Tolerance()

    def available(self, backend: str) -> tuple[bool, str]:
        """(True, description) when ``backend`` can run this op here, else (False, the reason)."""
        if backend not in self.impls:
            return False, f"{self.name} has no {backend} backend"
        return _backends.status(backend)

    def tolerance_of(self, backend: str, kwargs: dict | None = None) -> Tolerance:
        """How far ``backend`` may be from the reference for a call with ``kwargs``."""
        if backend == "numpy":
            return Tolerance()
        if self.tolerance_for is not None:
            return self.tolerance_for(backend, kwargs or {})
        return self.tolerance.get(backend, Tolerance())

    def backends(self) -> list[str]:
        return list(self.impls)

    def implementation(self, backend: str) -> Callable[..., Any]:
        ok, why = self.available(backend)
        if not ok:
            raise BackendUnavailable(f"kernel {self.name!r}: backend {backend!r} unavailable: {why}")
        impl = self.impls[backend]
        if isinstance(impl, str):
            module, _, attr = impl.partition(":")
            try:
                impl = self.impls[backend] = getattr(importlib.import_module(module), attr)
            except ImportError as exc:  # e.g. the compiled extension was not built
                _backends.mark_unavailable(backend, f"{module} did not import: {exc}")
                raise BackendUnavailable(f"kernel {self.name!r}: backend {backend!r} unavailable: {exc}") from exc
        return impl

    def pick(self, backend: str | None = None) -> tuple[str, str]:
        """(backend, why) for a call with ``backend=`` as given."""
        if backend is not None:
            return backend, "asked for by the caller"
        forced = _FORCED.get()
        for key in (self.name, "*"):
            name = forced.get(key)
            if name is not None and (key == self.name or name in self.impls):
                return name, f"use_backend({name!r}) scope"
        measured = measured_picks().get(self.name)
        if measured and self.available(measured)[0]:
            return measured, "measured fastest here (sightspeed bench kernels --save)"
        for name in self.default_order:
            if self.available(name)[0]:
                return name, "first available in the default order (benchmarks/kernels.py)"
        return "numpy", "the reference (no other backend available)"

    def __call__(self, *args: Any, backend: str | None = None, **kwargs: Any) -> Any:
        name, _ = self.pick(backend)
        impl = self.implementation(name)
        if self.check is not None and not getattr(impl, "checks_arguments", False):
            self.check(*args, **kwargs)  # a clear ValueError, not a compiled kernel reading past a buffer
        return impl(*args, **kwargs)

    def warmup(self, backend: str | None = None, example: Callable[[], tuple[tuple, dict]] | None = None) -> str:
        """Import (and for numba, JIT-compile) the chosen backend now, outside any timed region. Returns its name."""
        name, _ = self.pick(backend)
        impl = self.implementation(name)
        if name not in self.warm and example is not None:
            args, kwargs = example()
            impl(*args, **kwargs)
        self.warm.add(name)
        return name


OPS: dict[str, Op] = {}


def available_pairs() -> list[tuple[str, str]]:
    """Every registered (op, backend) that runs on this machine."""
    _load_ops()
    return [(op.name, b) for op in OPS.values() for b in op.backends() if op.available(b)[0]]


def all_pairs() -> list[tuple[str, str]]:
    _load_ops()
    return [(op.name, b) for op in OPS.values() for b in op.backends()]


def get(name: str) -> Op:
    _load_ops()
    if name not in OPS:
        raise KeyError(f"no kernel named {name!r}; known: {', '.join(sorted(OPS))}")
    return OPS[name]


@contextlib.contextmanager
def use_backend(backend: str, op: str | None = None) -> Iterator[None]:
    """Within the block, kernels run on ``backend`` (only ``op`` when given; otherwise every op that has it).

    >>> from sightspeed import kernels
    >>> with kernels.use_backend("numpy"):
    ...     kernels.get("composite").pick()
    ('numpy', "use_backend('numpy') scope")
    """
    if backend not in _backends.PROBES:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(_backends.PROBES)}")
    token = _FORCED.set({**_FORCED.get(), op or "*": backend})
    try:
        yield
    finally:
        _FORCED.reset(token)


_PICKS: dict[str, str] | None = None


def picks_path():
    from ..host import cache_dir

    return cache_dir() / "kernel_picks.json"


def measured_picks() -> dict[str, str]:
    """{op: backend} saved by ``sightspeed bench kernels --save`` for this machine's fingerprint (else {})."""
    global _PICKS
    if _PICKS is None:
        _PICKS = {}
        try:
            from ..host import fingerprint

            saved = json.loads(picks_path().read_text())
            if saved.get("fingerprint") == fingerprint():
                _PICKS = dict(saved["picks"])
        except (OSError, ValueError, KeyError):
            pass
    return _PICKS


def save_picks(picks: dict[str, str]) -> str:
    global _PICKS
    from ..host import fingerprint

    path = picks_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint(), "picks": picks}, indent=2))
    _PICKS = dict(picks)
    return str(path)


def _load_ops() -> None:
    # The op modules register themselves on import; importing them is cheap (no backend library loads).
    from . import composite, db, feather, nms, preprocess, refine, resize  # noqa: F401
