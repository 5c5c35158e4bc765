"""Executors: run a Pipeline over items, record a span per stage execution, yield items in input order.

``Serial`` runs one stage at a time on one thread: simplest to read and to profile; each stage call may use every
core of the budget. ``Pipelined`` gives each stage its own worker threads joined by bounded queues, so decode of
image n+1 overlaps the model on image n and the encode of image n-1; numpy, OpenCV, simplejpeg and the runtimes
release the GIL in their heavy loops, so the stages really do run at once. Output order always equals input order.

Both take their cores from the run's :class:`~sightspeed.cores.CoreBudget`: :meth:`plan` splits it into
``workers x threads`` per stage, and every stage call holds its ``threads`` core tokens while it runs, so the
threads at work never outnumber the budget's cores (unless the budget says ``oversubscribe``).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..cores import CoreBudget, Share, use_threads
from ..profiling import counters
from ..profiling.session import Session
from .failure import reason, where_and_traceback
from .item import Item
from .stage import Pipeline, Stage

_END = object()


def run_stage(stage: Stage, items: list[Item], session: Session, budget: CoreBudget | None = None,
              threads: int = 1) -> None:
    """Run ``stage`` on the items that have not failed; a span per call; a failure marks only its item. Each call
    holds ``threads`` cores of ``budget`` (a ``kind="core"`` span records a wait for them). Items whose
    ``runner_stages`` name this stage (a video frame's decode and write, done by the runner) are passed over:
    no call, no span, so each frame counts once."""
    live = [i for i in items if i.ok and stage.name not in i.runner_stages]
    if not live:
        return
    for batch in ([live] if stage.batchable else [[i] for i in live]):
        if budget is None:
            with use_threads(threads):
                _timed_call(stage, batch, session)
            continue
        asked = session.now()
        with budget.hold(threads):
            got = session.now()
            if got - asked > 1e-4:
                session.record(stage.name, asked, got, kind="core")
            _timed_call(stage, batch, session)


def prepare(stage: Stage, threads: int) -> None:
    """The stage's untimed set-up (load and warm its model for this thread's share), on the calling thread."""
    if stage.prepare is not None:
        with use_threads(threads):
            stage.prepare()


def _timed_call(stage: Stage, batch: list[Item], session: Session) -> None:
    bytes_in = sum(i.nbytes() for i in batch)
    instruments = session.instruments
    outer = counters.begin()
    start, cpu0 = session.now(), session.begin_cpu(stage.name)
    for ins in instruments:
        ins.begin(stage.name)
    error: BaseException | None = None
    try:
        stage.fn(batch if stage.batchable else batch[0])
    except Exception as exc:  # one bad input never ends the run
        error = exc
    for ins in reversed(instruments):
        ins.end(stage.name)
    end, cost = session.now(), session.end_cpu(cpu0)
    session.record(stage.name, start, end, items=len(batch), bytes_in=bytes_in,
                   bytes_out=sum(i.nbytes() for i in batch), work=counters.end(outer), **cost)
    for ins in instruments:
        ins.resume()
    share = (end - start) / len(batch)
    for item in batch:
        item.times[stage.name] = item.times.get(stage.name, 0.0) + share
    if error is None:
        return
    if len(batch) > 1:  # find which item broke the batch: run each alone
        for item in batch:
            _timed_call(stage, [item], session)
    else:
        batch[0].fail(stage.name, reason(error), *where_and_traceback(error))


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


Split = dict[str, "Share | tuple[int, int]"]


@dataclass
class Serial:
    """One thread, one stage at a time; batchable stages get ``batch_size`` items per call, and each call may use
    every core of the budget (up to the stage's own ``threads`` cap)."""

    batch_size: int = 1

    def describe(self) -> dict[str, object]:
        return {"executor": "serial", "batch_size": self.batch_size, "workers": 1}

    def plan(self, pipeline: Pipeline, budget: CoreBudget) -> dict[str, Share]:
        return {s.name: Share(1, min(s.threads or budget.cores, budget.cores)) for s in pipeline.stages}

    def run(self, pipeline: Pipeline, items: Iterable[Item], session: Session, budget: CoreBudget | None = None,
            on_ready: Callable[[], None] | None = None) -> Iterator[Item]:
        budget = budget or _budget_for(self, pipeline)
        for stage in pipeline.stages:
            prepare(stage, budget.split[stage.name].threads)
        if on_ready:
            on_ready()
        for chunk in _chunks(items, self.batch_size):
            for stage in pipeline.stages:
                run_stage(stage, chunk, session, budget, budget.split[stage.name].threads)
            yield from chunk


@dataclass
class Pipelined:
    """Every stage on its own worker threads, joined by bounded queues of ``queue_size`` items. A batchable stage
    takes what is waiting, up to ``batch_size`` items, so batches grow exactly when that stage is the bottleneck.

    The default split (``plan``) gives every stage one thread per call and ``workers`` workers (default: one per
    core of the budget; capped by the stage's ``max_workers``): on few cores, stages running side by side on one
    core each beat each stage using all cores in turn, since a model's second thread adds less than a second
    core's worth (``benchmarks/budgets.py``). ``split`` overrides it per stage: ``{"detect": (1, 2)}`` is one
    worker of two threads.
    """

    workers: int | None = None
    batch_size: int = 1
    queue_size: int = 4
    split: Split = field(default_factory=dict)
    # most items admitted and not yet handed back in order (default: 4 per stage). It bounds the memory held by
    # items that finished after a slow one, waiting for it: the feed stops admitting until the slow one is out.
    window: int | None = None

    def describe(self) -> dict[str, object]:
        return {"executor": "pipelined", "batch_size": self.batch_size, "workers": self.workers,
                "queue_size": self.queue_size, "window": self.window}

    def plan(self, pipeline: Pipeline, budget: CoreBudget) -> dict[str, Share]:
        unknown = sorted(set(self.split) - {s.name for s in pipeline.stages})
        if unknown:
            raise ValueError(f"split names no stage of this pipeline: {', '.join(unknown)}")
        shares = {}
        for s in pipeline.stages:
            given = self.split.get(s.name)
            if given is not None:
                w, t = given if isinstance(given, tuple) else (given.workers, given.threads)
                shares[s.name] = Share(s.workers_for(w), min(t, s.threads or t, budget.cores))
            else:
                shares[s.name] = Share(s.workers_for(self.workers or budget.cores), 1)
        return shares

    def run(self, pipeline: Pipeline, items: Iterable[Item], session: Session, budget: CoreBudget | None = None,
            on_ready: Callable[[], None] | None = None) -> Iterator[Item]:
        budget = budget or _budget_for(self, pipeline)
        stages = pipeline.stages
        queues: list[queue.Queue] = [queue.Queue(self.queue_size) for _ in range(len(stages) + 1)]
        failures: list[BaseException] = []
        stop = threading.Event()
        ready = threading.Semaphore(0)
        workers = []
        for k, stage in enumerate(stages):
            share = budget.split[stage.name]
            alive = [share.workers]
            lock = threading.Lock()
            for w in range(share.workers):
                # each worker runs in a copy of the caller's context, so ContextVar scopes (kernels.use_backend)
                # hold inside the stages as they do in the serial executor
                workers.append(threading.Thread(
                    target=contextvars.copy_context().run, name=f"{stage.name}-{w}", daemon=True,
                    args=(self._work, stage, share.threads, budget, ready, queues[k], queues[k + 1], session, alive, lock,
                          failures, stop)))
        admitted = threading.Semaphore(self.window or 4 * (len(stages) + 1))
        feed = threading.Thread(target=self._feed, args=(items, queues[0], failures, stop, admitted), name="feed",
                                daemon=True)
        for t in workers:
            t.start()
        try:
            for _ in workers:  # every worker has loaded and warmed its model before the clock starts
                ready.acquire()
            if failures:
                raise failures[0]
            if on_ready:
                on_ready()
            feed.start()
            yield from self._in_order(queues[-1], failures, admitted)
        finally:
            stop.set()
            for q in queues:  # unblock anyone still waiting so the threads can see `stop`
                _drain(q)
            for t in [feed, *workers]:
                if t.is_alive():
                    t.join(timeout=5)

    @staticmethod
    def _feed(items: Iterable[Item], out: queue.Queue, failures: list, stop: threading.Event,
              admitted: threading.Semaphore) -> None:
        try:
            for item in items:
                while not admitted.acquire(timeout=0.1):  # the window is full: wait for the in-order sink
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                out.put(item)
        except BaseException as exc:  # a broken source iterator ends the run with its error, not a hang
            failures.append(exc)
        finally:
            out.put(_END)

    def _work(self, stage: Stage, threads: int, budget: CoreBudget, ready: threading.Semaphore, inq: queue.Queue,
              outq: queue.Queue, session: Session, alive: list[int], lock: threading.Lock, failures: list,
              stop: threading.Event) -> None:
        try:
            try:
                prepare(stage, threads)
            finally:
                ready.release()
            while not stop.is_set():
                t_wait = session.now()
                first = inq.get()
                if first is _END:
                    inq.put(_END)  # let sibling workers see it too
                    break
                batch = [first]
                while stage.batchable and len(batch) < self.batch_size:
                    try:
                        nxt = inq.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _END:
                        inq.put(_END)
                        break
                    batch.append(nxt)
                t_got = session.now()
                if t_got - t_wait > 1e-4:
                    session.record(stage.name, t_wait, t_got, kind="wait")
                run_stage(stage, batch, session, budget, threads)
                for item in batch:
                    outq.put(item)
        except BaseException as exc:
            failures.append(exc)
            stop.set()
        finally:
            with lock:
                alive[0] -= 1
                last = alive[0] == 0
            if last:
                outq.put(_END)

    @staticmethod
    def _in_order(final: queue.Queue, failures: list, admitted: threading.Semaphore) -> Iterator[Item]:
        waiting: dict[int, Item] = {}
        expected = 0  # the runner numbers items 0, 1, 2, ...
        while True:
            got = final.get()
            if got is _END:
                break
            waiting[got.index] = got
            while expected in waiting:
                admitted.release()
                yield waiting.pop(expected)
                expected += 1
        if failures:
            raise failures[0]
        for index in sorted(waiting):  # only reached if indices were not contiguous
            yield waiting.pop(index)


def parse_split(text: str) -> dict[str, tuple[int, int]]:
    """``"detect=1x2,recognize=2x1"`` -> ``{"detect": (1, 2), "recognize": (2, 1)}`` (workers x threads).

    >>> parse_split("detect=1x2, write=2x1")
    {'detect': (1, 2), 'write': (2, 1)}
    """
    split = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        workers, _, threads = value.partition("x")
        if not (name and workers.isdigit() and threads.isdigit() and int(workers) >= 1 and int(threads) >= 1):
            raise ValueError(f"--split {part!r}: write STAGE=WORKERSxTHREADS, e.g. detect=1x2")
        split[name.strip()] = (int(workers), int(threads))
    return split


def _budget_for(executor: Serial | Pipelined, pipeline: Pipeline) -> CoreBudget:
    """Every core this process may use, split by ``executor`` (for callers that pass no budget)."""
    budget = CoreBudget.for_process()
    budget.split = executor.plan(pipeline, budget)
    return budget


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
    try:
        q.put_nowait(_END)
    except queue.Full:
        pass
