"""Core budgets: the split each executor plans, the tokens that cap the threads at work, the per-thread share the
runtimes and kernels read, and what run() restores."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import sightspeed
from sightspeed import Pipeline, Stage, cores
from sightspeed.cores import CoreBudget, Share, threads_here, use_threads
from sightspeed.pipeline.executors import Pipelined, Serial
from sightspeed.runtimes import load
from sightspeed.runtimes.base import PerThread

from onnx_models import matmul_chain


@pytest.fixture()
def jpegs(tmp_path):
    import simplejpeg

    paths = []
    for k in range(6):
        path = tmp_path / f"in{k}.jpg"
        path.write_bytes(simplejpeg.encode_jpeg(np.full((16, 16, 3), 20 * k, np.uint8)))
        paths.append(str(path))
    return paths


class Concurrency:
    """Counts the stage calls running at once (each holds for a few ms so that calls overlap when allowed)."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()
        self.seen: dict[str, set[int]] = {}

    def stage(self, name: str, threads: int | None = None) -> Stage:
        def fn(item):
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.seen.setdefault(name, set()).add(threads_here())
            time.sleep(0.005)
            with self.lock:
                self.now -= 1
            item.output = item.image

        return Stage(name, fn, threads=threads)


def test_available_cores_follow_the_affinity_mask():
    import os

    assert cores.available() == len(os.sched_getaffinity(0))


def test_tokens_cap_the_calls_at_work_to_the_budget(jpegs, tmp_path):
    probe = Concurrency()
    pipe = Pipeline([probe.stage("a"), probe.stage("b"), probe.stage("c")])
    result = sightspeed.run(pipe, jpegs, tmp_path / "one", executor=Pipelined(workers=2), cores=1)
    assert result.ok == len(jpegs)
    assert probe.most == 1  # 3 stages x 2 workers, one core: one call at a time
    cores_waits = [s for s in result.session.spans if s.kind == "core"]
    assert cores_waits, "a ready call that waited for the core is recorded as a 'core' span"

    probe = Concurrency()
    pipe = Pipeline([probe.stage("a"), probe.stage("b"), probe.stage("c")])
    sightspeed.run(pipe, jpegs, tmp_path / "over", executor=Pipelined(workers=2), cores=1, oversubscribe=True)
    assert probe.most > 1  # no tokens: the stages overlap


def test_the_default_splits(jpegs, tmp_path):
    probe = Concurrency()
    pipe = Pipeline([probe.stage("model"), probe.stage("single", threads=1)])
    result = sightspeed.run(pipe, jpegs, tmp_path / "s", executor=Serial(), cores=2)
    split = {s.name: (s.workers, s.threads) for s in result.session.stages}
    assert split == {"decode": (1, 2), "model": (1, 2), "single": (1, 1), "write": (1, 2)}
    assert probe.seen == {"model": {2}, "single": {1}}  # what the stage's pools were told to use
    assert result.session.config["cores"] == 2 and result.session.config["oversubscribe"] is False

    probe = Concurrency()
    pipe = Pipeline([probe.stage("model"), probe.stage("single", threads=1)])
    result = sightspeed.run(pipe, jpegs, tmp_path / "p", executor=Pipelined(), cores=2)
    split = {s.name: (s.workers, s.threads) for s in result.session.stages}
    assert split == {"decode": (2, 1), "model": (2, 1), "single": (2, 1), "write": (2, 1)}
    assert probe.seen == {"model": {1}, "single": {1}}


def test_an_explicit_split_is_applied_and_capped(jpegs, tmp_path):
    probe = Concurrency()
    pipe = Pipeline([probe.stage("model"), Stage("serial_only", lambda item: None, max_workers=1)])
    executor = Pipelined(split={"model": (1, 2), "serial_only": (3, 1)})
    result = sightspeed.run(pipe, jpegs, tmp_path / "x", executor=executor, cores=2)
    split = {s.name: (s.workers, s.threads) for s in result.session.stages}
    assert split["model"] == (1, 2) and split["serial_only"] == (1, 1)  # max_workers caps the workers
    assert probe.seen == {"model": {2}}
    with pytest.raises(ValueError, match="nope"):
        Pipelined(split={"nope": (1, 1)}).plan(pipe, CoreBudget(2))


def test_run_restores_opencv_threads_and_sets_the_smallest_share(jpegs, tmp_path):
    import cv2

    before = cv2.getNumThreads()
    seen = []
    pipe = Pipeline([Stage("look", lambda item: seen.append(cv2.getNumThreads()))])
    sightspeed.run(pipe, jpegs, tmp_path / "o", executor=Pipelined(), cores=2)
    assert set(seen) == {1} and cv2.getNumThreads() == before
    seen.clear()
    sightspeed.run(pipe, jpegs, tmp_path / "o2", executor=Serial(), cores=2)
    assert set(seen) == {2} and cv2.getNumThreads() == before


def test_prepare_runs_once_per_worker_before_any_span(jpegs, tmp_path):
    prepared: list[tuple[int, int]] = []
    called: set[int] = set()

    def fn(item):
        called.add(threading.get_ident())

    stage = Stage("m", fn, prepare=lambda: prepared.append((threading.get_ident(), threads_here())))
    result = sightspeed.run(Pipeline([stage]), jpegs, tmp_path / "o", executor=Pipelined(workers=2), cores=2)
    assert len(prepared) == 2 and {t for t, _ in prepared} >= called and {n for _, n in prepared} == {1}
    assert all(s.start >= 0 for s in result.session.spans if s.kind != "setup")  # start-up comes before 0


def test_use_threads_nests_and_restores():
    outside = threads_here()
    with use_threads(3):
        with use_threads(1):
            assert threads_here() == 1
        assert threads_here() == 3
    assert threads_here() == outside == cores.available()
    with pytest.raises(ValueError):
        with use_threads(0):
            pass


def test_budget_describe_and_hold():
    budget = CoreBudget(2, split={"a": Share(2, 1)})
    assert budget.describe() == {"cores": 2, "oversubscribe": False, "split": {"a": {"workers": 2, "threads": 1}}}
    with budget.hold(5):  # more threads than cores: holds the whole budget, no deadlock
        assert budget.free == 0 and threads_here() == 5
    assert budget.free == 2
    with pytest.raises(ValueError):
        CoreBudget(0)


def test_runtimes_take_the_thread_share(tmp_path):
    path, _ = matmul_chain(tmp_path, size=32, depth=2)
    with use_threads(2):
        ort = load(path)
        ov = load(path, "openvino")
    assert ort.threads == 2 and ort._session.get_session_options().intra_op_num_threads == 2
    assert ov.threads == 2 and int(ov._compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    with use_threads(1):
        assert load(path, threads=3).threads == 3  # an explicit count wins


def test_per_thread_loads_one_runtime_per_thread_and_share(tmp_path):
    path, _ = matmul_chain(tmp_path, size=32, depth=2)
    made: list[int] = []

    def factory(threads):
        made.append(threads)
        return load(path, threads=threads)

    holder = PerThread(factory)
    assert made == [1]  # one instance up front: a model that cannot load fails at build time
    with use_threads(1):
        first = holder.get()
        assert holder.get() is first and made == [1]  # the spare was taken, not reloaded
    with use_threads(2):
        two = holder.get()
        assert two.threads == 2 and two is not first
    got = {}

    def other():
        with use_threads(1):
            got["rt"] = holder.get()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert got["rt"] is not first and made == [1, 2, 1] and holder.loaded == 3


def test_numba_kernels_use_the_thread_share():
    numba = pytest.importorskip("numba")
    from sightspeed import kernels

    fg = np.zeros((64, 64, 3), np.uint8)
    mask = np.full((64, 64), 128, np.uint8)
    import sightspeed.kernels._numba as nb

    seen = []
    real = nb._blend_rows

    def spy(*args):
        seen.append(numba.get_num_threads())
        return real(*args)

    before = numba.get_num_threads()
    nb._blend_rows = spy
    try:
        for n in (1, 2):
            with use_threads(n):
                kernels.composite(fg, fg.copy(), mask, out=np.empty_like(fg), backend="numba")
    finally:
        nb._blend_rows = real
    assert seen == [1, min(2, numba.config.NUMBA_NUM_THREADS)]  # the share, during the call
    assert numba.get_num_threads() == before  # restored after it
