"""Executors: run a Pipeline over items, record a span per stage execution, yield items in input order.

``Serial`` runs one stage at a time on one thread: simplest to read and to profile. ``Pipelined`` gives each stage
its own worker threads joined by bounded queues, so decode of image n+1 overlaps the model on image n and the
encode of image n-1; numpy, OpenCV, simplejpeg and the runtimes release the GIL in their heavy loops, so the stages
really do run at once. Output order always equals input order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import InputError
from ..profiling import counters
from ..profiling.session import Session
from .item import Item
from .stage import Pipeline, Stage

_END = object()


def describe(exc: BaseException) -> str:
    """A one-line reason for a manifest row."""
    if isinstance(exc, InputError):
        return exc.reason
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_stage(stage: Stage, items: list[Item], session: Session) -> None:
    """Run ``stage`` on the items that have not failed; a span per call; a failure marks only its item."""
    live = [i for i in items if i.ok]
    if not live:
        return
    if stage.batchable:
        _timed_call(stage, live, session)
    else:
        for item in live:
            _timed_call(stage, [item], session)


def _timed_call(stage: Stage, batch: list[Item], session: Session) -> None:
    bytes_in = sum(i.nbytes() for i in batch)
    instruments = session.instruments
    outer = counters.begin()
    start, cpu0 = session.now(), session.cpu_now()
    for ins in instruments:
        ins.begin(stage.name)
    error: BaseException | None = None
    try:
        stage.fn(batch if stage.batchable else batch[0])
    except Exception as exc:  # one bad input never ends the run
        error = exc
    for ins in reversed(instruments):
        ins.end(stage.name)
    end, cpu = session.now(), session.cpu_now() - cpu0
    session.record(stage.name, start, end, items=len(batch), bytes_in=bytes_in,
                   bytes_out=sum(i.nbytes() for i in batch), cpu=cpu, work=counters.end(outer))
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
        batch[0].fail(stage.name, describe(error))


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Serial:
    """One thread, one stage at a time; batchable stages get ``batch_size`` items per call."""

    batch_size: int = 1

    def describe(self) -> dict[str, object]:
        return {"executor": "serial", "batch_size": self.batch_size, "workers": 1}

    def run(self, pipeline: Pipeline, items: Iterable[Item], session: Session) -> Iterator[Item]:
        for chunk in _chunks(items, self.batch_size):
            for stage in pipeline.stages:
                run_stage(stage, chunk, session)
            yield from chunk


@dataclass
class Pipelined:
    """Every stage on its own worker threads (``workers`` each, capped by the stage's ``max_workers``), joined by
    bounded queues of ``queue_size`` items. A batchable stage takes what is waiting, up to ``batch_size`` items, so
    batches grow exactly when that stage is the bottleneck."""

    workers: int = 2
    batch_size: int = 1
    queue_size: int = 4

    def describe(self) -> dict[str, object]:
        return {"executor": "pipelined", "batch_size": self.batch_size, "workers": self.workers,
                "queue_size": self.queue_size}

    def run(self, pipeline: Pipeline, items: Iterable[Item], session: Session) -> Iterator[Item]:
        stages = pipeline.stages
        queues: list[queue.Queue] = [queue.Queue(self.queue_size) for _ in range(len(stages) + 1)]
        failures: list[BaseException] = []
        stop = threading.Event()
        threads = [threading.Thread(target=self._feed, args=(items, queues[0], failures, stop),
                                    name="feed", daemon=True)]
        for k, stage in enumerate(stages):
            n = stage.workers_for(self.workers)
            alive = [n]
            lock = threading.Lock()
            for w in range(n):
                threads.append(threading.Thread(
                    target=self._work, name=f"{stage.name}-{w}", daemon=True,
                    args=(stage, queues[k], queues[k + 1], session, alive, lock, failures, stop)))
        for t in threads:
            t.start()
        try:
            yield from self._in_order(queues[-1], failures)
        finally:
            stop.set()
            for q in queues:  # unblock anyone still waiting so the threads can see `stop`
                _drain(q)
            for t in threads:
                t.join(timeout=5)

    @staticmethod
    def _feed(items: Iterable[Item], out: queue.Queue, failures: list, stop: threading.Event) -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                out.put(item)
        except BaseException as exc:  # a broken source iterator ends the run with its error, not a hang
            failures.append(exc)
        finally:
            out.put(_END)

    def _work(self, stage: Stage, inq: queue.Queue, outq: queue.Queue, session: Session, alive: list[int],
              lock: threading.Lock, failures: list, stop: threading.Event) -> None:
        try:
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
                run_stage(stage, batch, session)
                for item in batch:
                    outq.put(item)
        except BaseException as exc:
            failures.append(exc)
        finally:
            with lock:
                alive[0] -= 1
                last = alive[0] == 0
            if last:
                outq.put(_END)

    @staticmethod
    def _in_order(final: queue.Queue, failures: list) -> Iterator[Item]:
        waiting: dict[int, Item] = {}
        expected = 0  # the runner numbers items 0, 1, 2, ...
        while True:
            got = final.get()
            if got is _END:
                break
            waiting[got.index] = got
            while expected in waiting:
                yield waiting.pop(expected)
                expected += 1
        if failures:
            raise failures[0]
        for index in sorted(waiting):  # only reached if indices were not contiguous
            yield waiting.pop(index)


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
