"""The Ray actor of ``--engine ray``: the task's pipeline, built once per actor, run by sightspeed's own executor
on a long-lived feed, so models load once per actor (not per batch) and batches overlap in its stages.

Each call takes a batch of ``{"index", "path", "stem"}`` rows and returns, per input, its manifest row (with the
checksums of its outputs, written by the actor into OUT with the same atomic rules as a local run) and what the
actor recorded since its previous call (``spans``: the stages' running totals and a sample of the spans, on the
epoch clock, so the driver puts every actor's spans on one timeline and sums every actor's totals).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import astuple
from typing import Any

from ..profiling.session import Session, Span
from ..profiling.totals import StageTotals

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
VIDEO_WINDOW = 8  # a video's frames in the actor's pipeline at once: its stages overlap, its memory stays bounded


class Worker:
    """``map_batches`` callable class (one per actor). ``settings``: task, options, out, cores, executor
    (serial | pipelined), workers, split, batch_size, max_pixels."""

    def __init__(self, settings: dict[str, Any]) -> None:
        cores = int(settings["cores"])
        for name in THREAD_VARS:  # Ray sets OMP_NUM_THREADS=1 in workers: the actor's budget decides instead
            os.environ[name] = str(cores)
        from ..cores import CoreBudget
        from ..io import write as write_mod
        from ..io.pool import BufferPool
        from ..pipeline.executors import Pipelined, Serial
        from ..pipeline.run import complete
        from ..profiling.cpu import CpuAccount
        from ..tasks import build

        self.out = str(settings["out"])
        write_mod.guard(self.out)  # writes below OUT never follow a symlink, as in a local run
        self.pool = BufferPool()
        pipe = build(settings["task"], dict(settings.get("options") or {}), pool=self.pool)
        self.pipe = complete(pipe, self.pool, settings.get("max_pixels"))
        batch = settings.get("batch_size") or 1
        executor = (Serial(batch_size=batch) if settings.get("executor") == "serial" else
                    Pipelined(settings.get("workers"), batch, split={k: tuple(v) for k, v in
                                                                      (settings.get("split") or {}).items()}))
        budget = CoreBudget.for_process(cores, False)
        budget.split = executor.plan(self.pipe, budget)
        self.session = Tapped(float(settings.get("span_keep", 1.0)), account=CpuAccount(cores=cores))
        self.epoch = time.time() - time.perf_counter()  # perf_counter -> epoch seconds
        self._fed: queue.Queue = queue.Queue()
        self._done: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._next = 0  # the next item number of this actor's feed
        self.threads = {name: share.threads for name, share in budget.split.items()}
        self.captured = Captured(self.out)
        self._feeding = threading.Lock()
        self._thread = threading.Thread(target=self._serve, args=(executor, budget), name="sightspeed-actor",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _feed(self):
        while True:
            item = self._fed.get()
            if item is None:
                return
            yield item

    def _serve(self, executor: Any, budget: Any) -> None:
        from ..cores import opencv_threads

        try:
            with opencv_threads(min(s.threads for s in budget.split.values())):
                for item in executor.run(self.pipe, self._feed(), self.session, budget,
                                         on_ready=self._ready.set):
                    with self._cond:
                        self._done[item.index] = item
                        self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, in its thread
            self._error = exc
        finally:
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from ..pipeline.item import Item
        from ..pipeline.run import image_row

        kinds = batch["kind"] if "kind" in batch else ["image"] * len(batch["path"])
        images = [(str(p), str(s)) for p, s, k in zip(batch["path"], batch["stem"], kinds) if k != "video"]
        videos = [(str(p), str(s)) for p, s, k in zip(batch["path"], batch["stem"], kinds) if k == "video"]
        # the executor hands items back in the order it numbered them (0, 1, 2, ...), and this actor sees only some
        # of the run's batches, in any order: its own numbering, not the dataset's
        with self._feeding:  # two calls at once (engines.ray._pool): each batch's items numbered and fed together
            indexes = list(range(self._next, self._next + len(images)))
            self._next += len(indexes)
            for index, (path, stem) in zip(indexes, images):
                self._fed.put(Item(path, index, output_stem=stem))
        rows = [self._video(path, stem) for path, stem in videos]
        for index in indexes:
            item = self._wait(index)
            row = image_row(item)
            if row["status"] == "ok":
                row["checksums"] = self.captured.checksums(row["outputs"])
            for buf in item.borrowed:
                self.pool.give(buf)
            item.release()
            rows.append(row)
        return {"row": [_json(r) for r in rows], "spans": [self._spans()] + [""] * (len(rows) - 1)}

    def _wait(self, index: int) -> Any:
        with self._cond:
            while index not in self._done and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._done.pop(index)

    def _video(self, path: str, stem: str) -> dict:
        """One video, whole, on this actor, as the local engine runs it: its frames read here (``_items``), fed to
        the executor at most ``VIDEO_WINDOW`` ahead of the one being written, and written in order by a local
        ``_Sink`` (audio, timestamps, orientation kept), which hands back the video's row."""
        from ..io.sources import Source
        from ..pipeline.run import RunResult, _items, _Sink

        sink = _Sink(RunResult(self.session), self.pool, None, self.captured, video_threads=self.threads["write"])
        pending: list[int] = []
        with self._feeding:  # the video's frames, numbered in a row (another call's batch waits to be fed)
            frames = _items(iter([Source(path, path, "video")]), _Named(stem), self.session,
                            threads=self.threads["decode"])
            for item in frames:
                item.index, self._next = self._next, self._next + 1
                self._fed.put(item)
                pending.append(item.index)
                if len(pending) > VIDEO_WINDOW:
                    sink.take(self._wait(pending.pop(0)))
        for index in pending:
            sink.take(self._wait(index))
        sink.finish_video()
        return self.captured.rows.pop()

    def _spans(self) -> str:
        return self.session.send((self.session.t0 or 0.0) + self.epoch)


class Tapped(Session):
    """A Session that streams to the driver (:meth:`drain`): running totals of every span since the last drain,
    and each span kept for the driver's timeline with probability ``keep`` (the driver sets it so that a run of
    any length sends a few times its sample's size: a uniform sample, in traffic that does not grow with the run).
    """

    def __init__(self, keep: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self._rng.seed(os.getpid())  # actors sample independently

    def record(self, stage: str, start: float, end: float, items: int = 0, bytes_in: int = 0, bytes_out: int = 0,
               kind: str = "run", thread: str | None = None, cpu: float = 0.0, work: dict | None = None,
               faults: int = 0, preempted: int = 0, saturation: float = 0.0) -> None:
        span = Span(stage, f"actor {os.getpid()}/{thread or threading.current_thread().name}", start, end, items,
                    bytes_in, bytes_out, kind, cpu, dict(work) if work else {}, faults, preempted, saturation)
        with self._lock:
            self.totals.setdefault(stage, StageTotals()).add(span)
            self.spans_seen += 1
            if self.keep >= 1.0 or self._rng.random() < self.keep:
                self.spans.append(span)

    def send(self, shift: float) -> str:
        """:meth:`drain` as the JSON an actor returns: the totals, the count, and the kept spans as rows of Span
        fields, their times moved by ``shift`` (the actor's clock onto the epoch)."""
        totals, seen, spans = self.drain()
        return json.dumps({"totals": {k: t.to_dict() for k, t in totals.items()}, "seen": seen,
                           "spans": [[*astuple(s)[:2], s.start + shift, s.end + shift, *astuple(s)[4:]]
                                     for s in spans]})

    def drain(self) -> tuple[dict[str, StageTotals], int, list[Span]]:
        """(totals, spans counted, spans kept) since the previous drain; starts afresh."""
        with self._lock:
            found = self.totals, self.spans_seen, self.spans
            self.totals, self.spans_seen, self.spans = {}, 0, []
        return found


class Captured:
    """Where an actor's video sink writes its row (the driver owns OUT's manifest), and the checksums every row of
    this actor carries, named relative to OUT as a local run's are."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.rows: list[dict] = []
        self.manifest = self  # the sink writes rows to ``outdir.manifest``

    def write(self, row: dict) -> None:
        self.rows.append(row)

    def checksums(self, outputs: list[str]) -> dict[str, list]:
        from ..io.outdir import checksums

        return checksums(outputs, self.root)


class _Named:
    """The output namer of an actor's video: the driver named it already."""

    def __init__(self, stem: str) -> None:
        self._stem = stem

    def stem(self, relative: str) -> str:
        return self._stem


def _json(row: dict) -> str:
    return json.dumps(row, default=str)
