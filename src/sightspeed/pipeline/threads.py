"""Thread budgets. On few cores, stages that each bring a spinning pool (OpenMP, onnxruntime, OpenCV) steal
each other's cores; so every pool gets an explicit size, and no pool spins while idle."""

from __future__ import annotations

import os


def quiet_pools() -> None:
    """Ask OpenMP pools to sleep, not spin, when idle. Takes effect only for pools not yet started, so the CLI
    calls it first thing; Python users call it before importing numpy-heavy code, or set the variables."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")


def per_stage_threads(parallel_stages: int, cores: int | None = None) -> int:
    """Intra-op threads one stage may use when ``parallel_stages`` stages run at once.

    >>> per_stage_threads(1, cores=2), per_stage_threads(4, cores=2)
    (2, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, parallel_stages))


def set_opencv_threads(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)
