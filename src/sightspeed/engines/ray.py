"""``sightspeed run TASK INPUTS -o OUT --engine ray``: the same pipeline on a Ray cluster (optional extra: ray).

The driver (this process) lists the inputs, names every output (so the names are the local engine's), takes OUT's
lock, and skips what a resumed run finished (:mod:`sightspeed.io.outdir`, the same fingerprint as a local run: a run
resumes across engines). The inputs that need work become a dataset of ``{index, path, stem}`` rows
(``ray.data.from_items``: paths, not ``read_images``, so decoding stays in the workers with sightspeed's decoders,
EXIF handling and bad-input reasons, and no read task needs a CPU of its own). ``map_batches`` runs
:class:`.ray_worker.Worker` on an actor pool (``ActorPoolStrategy``), ``cores`` CPUs per actor: each actor builds
the pipeline once and runs sightspeed's executor inside, writing outputs into OUT (a path every node sees) with the
local rules, and returns each input's manifest row and the spans it recorded. The driver writes the manifest (one
writer, append-only, fsynced per batch), keeps one row per input (a batch Ray retried after an actor died comes
back once more; the first row of an input wins, its outputs rewritten atomically by the retry), and sums the
actors' running totals (every span counted) and a uniform sample of their spans into one Session on its own clock,
so ``report`` and ``profile`` read a Ray run as a local one, and what crosses over does not grow with the run.

A video runs whole on one actor (its frames in order through the actor's executor, written by the local engine's
video writer: audio, timestamps and orientation kept); many videos spread over the actors.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import require
from ..io import sources as sources_mod
from ..io.outdir import OutDir, check_inputs
from ..io.pool import BufferPool
from ..io.write import OutputNamer
from ..pipeline.item import Item
from ..pipeline.run import RunResult, _Sink, close_out, complete, default_fingerprint
from ..pipeline.stage import Pipeline
from ..profiling.session import SPAN_LIMIT, Session, Span, StageInfo
from ..profiling.totals import StageTotals


def _task_for_workers(task: str) -> str:
    """A user's ``module:function`` as an absolute ``file.py:function`` where the module is a file of the current
    folder (or the path given): Ray's workers start in another folder, on other machines too (OUT and the module
    must then be on storage every node sees)."""
    module, _, function = task.rpartition(":")
    if not module:
        return task
    path = module if module.endswith(".py") else os.path.join(*module.split(".")) + ".py"
    return f"{os.path.abspath(path)}:{function}" if os.path.isfile(path) else task


def run_on_ray(task: str, options: dict[str, Any], pipeline: Pipeline, inputs: list[str],
               out_dir: str | os.PathLike[str], *, executor: dict[str, Any] | None = None, cores: int | None = None,
               num_workers: int = 1, address: str | None = None, items_per_batch: int | None = None,
               session: Session | None = None, limit: int | None = None, resume: bool = False,
               overwrite: bool = False, fingerprint: dict | None = None, keep_rows: bool = True,
               on_item: Callable[[dict], None] | None = None,
               on_start: Callable[[int | None], None] | None = None,
               span_keep: float | None = None, save_session: bool = False) -> RunResult:
    """Run ``task`` (built with ``options``; ``pipeline`` is the driver's own build of it, for the fingerprint and
    the stage list) over ``inputs`` on Ray: ``num_workers`` actors of ``cores`` CPUs each (default 1 actor of every
    core here). ``executor``: ``{"kind": "serial" | "pipelined", "workers", "batch_size", "split"}`` inside each
    actor. ``address``: None starts (or joins) a local Ray; ``"auto"`` or ``ray://host:port`` a cluster.
    ``items_per_batch`` (default :func:`default_items_per_batch`) and ``span_keep`` (the probability an actor sends
    a span for the timeline, default :func:`default_span_keep`; the totals count every span) shape what crosses
    over to the driver. ``fingerprint``, ``resume``, ``overwrite``, ``save_session``: as the local engine's
    (:func:`sightspeed.pipeline.run.run`)."""
    ray = require("ray", "ray")
    from ..cores import available

    cores = cores or available()
    out = Path(out_dir)
    check_inputs(inputs, out)
    pool = BufferPool()
    pipe = complete(pipeline, pool, options.get("max_pixels"))
    outdir = OutDir(out, fingerprint or default_fingerprint(pipe), resume=resume, overwrite=overwrite)
    session = session or Session()
    result = RunResult(session, manifest=str(out / "manifest.jsonl"), resumed=len(outdir.done))
    sink = _Sink(result, pool, on_item, outdir, keep_rows)
    executor = executor or {"kind": "pipelined"}
    session.stages = [StageInfo(s.name, s.batchable, cores, num_workers) for s in pipe.stages]
    session.config.update({"pipeline": pipe.name, **pipe.info, "engine": "ray", "actors": num_workers,
                           "cores": cores * num_workers, "cores_per_actor": cores, "executor": executor.get("kind"),
                           "items_per_batch": items_per_batch})
    try:
        work = _list(inputs, out, outdir, sink, limit)
        session.config["inputs"] = len(work) + result.images + result.resumed
        if on_start:
            on_start(len(work) + result.images)
        if work:
            items_per_batch = items_per_batch or default_items_per_batch(len(work), num_workers)
            session.config["items_per_batch"] = items_per_batch
            _start_ray(ray, address)
            keep = span_keep if span_keep is not None else default_span_keep(len(work), len(session.stages))
            started = _execute(ray, task, options, work, out, executor, cores, num_workers, items_per_batch,
                               session, sink, keep)
            session.wall_s = time.time() - started
        outdir.finish({"ok": result.ok + result.resumed, "failed": result.failed})
    finally:
        pipeline.close()
        close_out(outdir, result, save_session)
    return result


def _list(inputs: list[str], out: Path, outdir: OutDir, sink: _Sink, limit: int | None) -> list[dict]:
    """The inputs that need work, as dataset rows; the ones that cannot be read get their rows here, as locally."""
    namer = OutputNamer(out)
    work = []
    for src in itertools.islice(sources_mod.iter_sources(inputs, skip=out), limit):
        stem = namer.stem(src.relative)
        if src.path in outdir.done:
            continue
        if src.problem is not None:
            item = Item(src.path, len(work), output_stem=stem)
            item.fail("input", src.problem)
            sink.take(item)
            continue
        work.append({"index": len(work), "path": src.path, "stem": stem, "kind": src.kind})
    return work


def _start_ray(ray: Any, address: str | None) -> None:
    import logging

    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # sightspeed shows its own
    if not ray.is_initialized():
        _init(ray, address, logging)
    for name in ("ray", "ray.data"):  # Ray Data's execution plan and progress lines
        logging.getLogger(name).setLevel(logging.WARNING)


def _init(ray: Any, address: str | None, logging: Any) -> None:
    # the driver's folder on the workers' import path: a package module:function found from here is found there
    env = {"PYTHONPATH": os.getcwd()}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env},
             ignore_reinit_error=True, logging_level=logging.WARNING)


def default_items_per_batch(inputs: int, actors: int) -> int:
    """Inputs per Ray batch: 4 on a short run (work spreads over the actors, and a retried batch redoes little),
    up to 64 on a long one, where each batch's fixed costs (a Ray task, the actor's totals, one manifest fsync)
    are spread over more inputs.

    >>> default_items_per_batch(40, 1), default_items_per_batch(10_000, 2), default_items_per_batch(10_000_000, 8)
    (4, 64, 64)
    """
    return max(4, min(64, inputs // (16 * max(1, actors))))


def default_span_keep(inputs: int, stages: int, limit: int = SPAN_LIMIT) -> float:
    """The probability with which an actor sends a span to the driver: about four times the Session's sample
    (``limit`` spans) crosses over in all, whatever the number of inputs (a few spans per stage and input: the run
    itself, waits for input and for a core); the totals count every span.

    >>> default_span_keep(100, 5), round(default_span_keep(10_000_000, 5), 6)
    (1.0, 0.000267)
    """
    return min(1.0, 4 * limit / max(1, inputs * stages * 3))


def _merge(session: Session, sent: dict, shift: float) -> None:
    """Add one actor batch's totals and sampled spans (epoch times moved by ``shift`` onto the session's clock)."""
    totals = {k: StageTotals.from_dict(v) for k, v in sent["totals"].items()}
    sample = [Span(stage, thread, start + shift, end + shift, *rest)
              for stage, thread, start, end, *rest in sent["spans"]]
    session.merge(totals, int(sent["seen"]), sample)


def _pool(strategy: Any, size: int) -> tuple[Any, dict[str, Any]]:
    """``size`` actors, each taking two batches at once (two calls in flight, on two threads): while the caller of
    one waits for its batch to leave the actor's pipeline, the other's items already fill it. One call at a time
    drains the pipeline at every batch end (measured: benchmarks/engines.py). Newer Rays run an actor's calls
    concurrently only when asked to (``enable_true_multi_threading``); older ones do with ``max_concurrency``.
    Returns the strategy and the actors' extra Ray options."""
    import inspect

    if "enable_true_multi_threading" in inspect.signature(strategy).parameters:
        return strategy(size=size, max_concurrent_calls_per_actor=2, max_tasks_in_flight_per_actor=2,
                        enable_true_multi_threading=True), {}
    return strategy(size=size, max_tasks_in_flight_per_actor=2), {"max_concurrency": 2}


def _execute(ray: Any, task: str, options: dict, work: list[dict], out: Path, executor: dict, cores: int,
             num_workers: int, items_per_batch: int, session: Session, sink: _Sink, keep: float) -> float:
    """Run the dataset; write each row as it arrives; returns when it started (epoch seconds)."""
    from ray.data import ActorPoolStrategy

    from .ray_worker import Worker

    settings = {"task": _task_for_workers(task), "options": options, "out": str(out.resolve()), "cores": cores,
                "executor": executor.get("kind"), "split": executor.get("split"),
                "batch_size": executor.get("batch_size", 1), "workers": executor.get("workers"),
                "max_pixels": options.get("max_pixels"), "span_keep": keep}
    blocks = max(1, math.ceil(len(work) / items_per_batch))
    ds = ray.data.from_items(work, override_num_blocks=blocks)
    compute, actor_options = _pool(ActorPoolStrategy, num_workers)
    mapped = ds.map_batches(Worker, fn_constructor_kwargs={"settings": settings}, batch_size=items_per_batch,
                            compute=compute, num_cpus=cores, batch_format="numpy", **actor_options)
    started = time.time()
    t0 = session.now()  # the session's clock: epoch `started` is its t0 + this
    seen: set[str] = set()
    for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        handling = time.perf_counter()  # the driver's own cost per row (docs/scaling.md): counted, not guessed
        for text in batch["spans"]:
            if text:
                session.count("span_bytes", len(text))
                _merge(session, json.loads(text), t0 - started)
        for text in batch["row"]:
            row = json.loads(text)
            if row["input"] in seen:  # a batch retried after its actor died: one row per input
                continue
            seen.add(row["input"])
            # the actor wrote below OUT's absolute path; the row names them as the user gave OUT, as locally
            row["outputs"] = [os.path.join(str(out), os.path.relpath(o, settings["out"])) for o in row["outputs"]]
            sink.take_row(row)
        sink.outdir.manifest.sync()
        session.count("driver_s", time.perf_counter() - handling)
        session.count("driver_rows", len(batch["row"]))
    return started
