"""Instruments that mirror spans into outside profilers: NVTX ranges (Nsight Systems) and ITT tasks (VTune), and
perf's software counters for the whole run. Each is used only when its package or tool is there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from typing import Any


class Nvtx:
    """A NVTX range per span, in the ``sightspeed`` domain (visible in Nsight Systems; free when not attached)."""

    def __init__(self) -> None:
        import nvtx

        self._nvtx = nvtx

    def begin(self, stage: str) -> None:
        self._nvtx.push_range(stage, domain="sightspeed")

    def end(self, stage: str) -> None:
        self._nvtx.pop_range(domain="sightspeed")

    def resume(self) -> None:
        pass


class Itt:
    """An ITT task per span in the ``sightspeed`` domain (visible in VTune's timeline)."""

    def __init__(self) -> None:
        import ittapi

        self._itt = ittapi
        self._domain = ittapi.domain("sightspeed")
        self._names: dict[str, Any] = {}

    def begin(self, stage: str) -> None:
        handle = self._names.get(stage)
        if handle is None:
            handle = self._names[stage] = self._itt.string_handle(stage)
        self._itt.task_begin(self._domain, handle)

    def end(self, stage: str) -> None:
        self._itt.task_end(self._domain)

    def resume(self) -> None:
        pass


def available_mirrors() -> list[Any]:
    """NVTX and ITT instruments for what is installed."""
    out = []
    for cls in (Nvtx, Itt):
        try:
            out.append(cls())
        except ImportError:
            continue
    return out


PERF_EVENTS = ("task-clock", "page-faults", "context-switches", "cpu-migrations")


class PerfCounters:
    """``perf stat`` attached to this process for the duration of a run: software counters, which need no
    hardware PMU (this machine's perf has none). ``stop()`` returns {event: value} or {} when perf cannot run."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self.error: str | None = None

    def start(self) -> PerfCounters:
        perf = shutil.which("perf")
        if not perf:
            self.error = "perf is not installed"
            return self
        try:
            self._proc = subprocess.Popen([perf, "stat", "-x", ",", "-e", ",".join(PERF_EVENTS), "-p",
                                           str(os.getpid())], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True)
        except OSError as exc:
            self.error = str(exc)
        return self

    def stop(self) -> dict[str, float]:
        if self._proc is None:
            return {}
        self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return {}
        counts: dict[str, float] = {}
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) >= 3 and parts[2] in PERF_EVENTS:
                try:
                    counts[parts[2]] = float(parts[0])
                except ValueError:
                    continue  # "<not supported>" / "<not counted>"
        if not counts:
            self.error = err.strip().splitlines()[-1] if err.strip() else "perf printed nothing"
        return counts
