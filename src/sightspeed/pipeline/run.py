"""run(): sources -> items -> executor -> in-order sink (video writer, manifest, progress) -> Session."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..cores import CoreBudget, opencv_threads
from ..errors import InputError
from ..files import sha256_file
from ..io import sources as sources_mod
from ..io import video, video_write
from ..io.pool import BufferPool
from ..io.outdir import OutDir, check_inputs
from ..io.write import OutputNamer
from ..profiling.cpu import CpuAccount, close_account
from ..profiling.session import Session, StageInfo, machine_summary
from . import startup
from .executors import Pipelined, Serial
from .failure import reason, where_and_traceback
from .item import Item
from .stage import Pipeline
from .standard import decode_stage, stripped, write_stage


@dataclass
class RunResult:
    """What a run did: the Session (spans), counts, and the manifest path.

    ``ok`` and ``failed`` count manifest rows (an image, or a whole video); ``frames`` counts the video frames that
    went through the pipeline. Rates are over ``session.wall_s``: processing only, from the first input to the last
    output (the start-up before it, loading and warming the models, is in the session's ``setup`` spans).
    """

    session: Session
    ok: int = 0
    failed: int = 0
    manifest: str | None = None
    rows: list[dict] = field(default_factory=list)
    resumed: int = 0  # inputs finished by the run this one resumed (skipped)
    frames: int = 0  # video frames processed (every video of the run)
    images: int = 0  # still images processed (ok or not)
    session_file: str | None = None  # OUT/session.json, when the run was asked to save it and did
    warnings: list[str] = field(default_factory=list)  # what went wrong beside the inputs (session.json unsaved)

    @property
    def images_per_s(self) -> float:
        """Manifest rows (inputs) per second of processing."""
        return (self.ok + self.failed) / self.session.wall_s if self.session.wall_s else 0.0

    @property
    def frames_per_s(self) -> float:
        """Video frames per second of processing (0 when the run had no video)."""
        return self.frames / self.session.wall_s if self.session.wall_s else 0.0


def complete(pipeline: Pipeline, pool: BufferPool | None = None, max_pixels: int | None = None,
             strip_metadata: bool = False) -> Pipeline:
    """Add the standard decode / write stages a pipeline lacks. With ``strip_metadata``, or when the pipeline's
    info says ``strip_metadata`` (a task's run setting), its standard write stage carries no ICC profile, EXIF or
    XMP; the choice goes into the info (the session's config, the fingerprint a resume must match)."""
    strip = bool(strip_metadata or pipeline.info.get("strip_metadata"))
    names = {s.name for s in pipeline.stages}
    stages = list(pipeline.stages)
    if "decode" not in names:
        kwargs = {"max_pixels": max_pixels} if max_pixels else {}
        stages.insert(0, decode_stage(pool, **kwargs))
    if "write" not in names:
        stages.append(write_stage())
    return Pipeline(stripped(stages) if strip else stages, name=pipeline.name, close_hooks=pipeline.close_hooks,
                    info={**pipeline.info, "strip_metadata": strip}, setup=pipeline.setup)


def run(
    pipeline: Pipeline,
    inputs: list[str],
    out_dir: str | os.PathLike[str],
    *,
    executor: Serial | Pipelined | None = None,
    limit: int | None = None,
    on_item: Callable[[dict], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,  # None, then the count of inputs once listed
    session: Session | None = None,
    pool: BufferPool | None = None,
    max_pixels: int | None = None,
    strip_metadata: bool = False,
    cores: int | None = None,
    oversubscribe: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    fingerprint: dict | None = None,
    keep_rows: bool = True,
    save_session: bool = False,
) -> RunResult:
    """Run ``pipeline`` over ``inputs`` (files, folders, globs, ``@list.txt``, videos), writing outputs and
    ``manifest.jsonl`` into ``out_dir``. One bad input gets a manifest row with its reason; the rest go on.
    A pipeline without its own ``decode`` / ``write`` stage gets the standard ones (``max_pixels`` applies there).
    Image outputs of the standard write stage carry the input's ICC profile, EXIF (orientation 1) and XMP, unless
    ``strip_metadata`` (:mod:`sightspeed.io.metadata`).

    ``cores`` is the run's core budget (default: every core this process may use); the executor splits it into
    ``workers x threads`` per stage and no more threads work at once unless ``oversubscribe``. The split is in
    ``session.stages`` (and the budget in ``session.config["cores"]``); OpenCV's process-wide thread count is the smallest stage
    share during the run and restored after it.

    ``out_dir`` follows the output folder's contract (:mod:`sightspeed.io.outdir`): it must be empty or new, or hold
    a previous run that ``resume`` continues (the inputs whose outputs are complete are skipped; ``fingerprint``,
    default: the pipeline's name and info with its model files' sha256, must match) or ``overwrite`` replaces; one
    run at a time; an input inside it is refused; ``OUT/_SUCCESS`` is written when every input went through.
    ``keep_rows=False`` keeps only the first 1,000 failed rows in ``result.rows`` (the manifest has them all), so
    memory does not grow with the number of inputs. ``save_session`` writes the session to ``OUT/session.json``
    at the end (an interrupted run's too) while the run still holds OUT; when that fails, ``result.warnings`` says
    why (the outputs and the manifest stand).

    The session's wall time is processing only: it starts once every worker has loaded and warmed its models.
    That start-up (the pipeline's own timed ``setup`` steps, then the ``worker set-up`` of every stage's
    ``prepare``) is recorded as ``kind="setup"`` spans before the session's zero.

    >>> import tempfile, numpy as np, simplejpeg
    >>> from sightspeed import Pipeline, Stage
    >>> tmp = tempfile.mkdtemp()
    >>> _ = open(f"{tmp}/a.jpg", "wb").write(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8)))
    >>> def invert(item): item.output = 255 - item.image
    >>> result = run(Pipeline([Stage("invert", invert)]), [f"{tmp}/a.jpg"], f"{tmp}/out")
    >>> result.ok, result.failed, [s.name for s in result.session.stages]
    (1, 0, ['decode', 'invert', 'write'])
    """
    executor = executor or Serial()
    session = session or Session()
    out = Path(out_dir)
    check_inputs(inputs, out)
    pool = pool or BufferPool()
    pipe = complete(pipeline, pool, max_pixels, strip_metadata)
    outdir = OutDir(out, fingerprint or default_fingerprint(pipe), resume=resume, overwrite=overwrite)
    budget = CoreBudget.for_process(cores, oversubscribe)
    budget.split = executor.plan(pipe, budget)
    # listed lazily: the first input starts at once, however many there are; the count (for the progress bar and
    # the session) comes from a second listing on a side thread
    srcs = _counted(itertools.islice(sources_mod.iter_sources(inputs, skip=out), limit))
    session.stages = [StageInfo(s.name, s.batchable, budget.split[s.name].threads, budget.split[s.name].workers)
                      for s in pipe.stages]
    session.machine = session.machine or machine_summary()
    session.config.update({"pipeline": pipe.name, **executor.describe(), **pipe.info,
                           **budget.describe()})
    if on_start:
        on_start(None)
        threading.Thread(target=lambda: on_start(sum(1 for _ in itertools.islice(
            sources_mod.iter_sources(inputs, skip=out), limit))), name="count-inputs", daemon=True).start()
    namer = OutputNamer(out)
    result = RunResult(session, manifest=str(out / "manifest.jsonl"), resumed=len(outdir.done))
    sink = _Sink(result, pool, on_item, outdir, keep_rows, video_threads=budget.split["write"].threads)
    own_account = session.enabled and session.account is None and session.cpu_clock is time.thread_time
    if own_account:  # every thread's CPU, pool threads included, charged to the stages
        session.account = CpuAccount(cores=budget.cores)
    clock = {"started": time.perf_counter(), "prepare": time.perf_counter()}

    def ready() -> None:  # models loaded and warmed on every worker: the run's clock starts here
        if session.account is not None:
            session.account.rebase()
        clock["started"] = time.perf_counter()
        steps = [*pipe.setup, startup.SetupStep(startup.WORKER_SETUP, clock["prepare"], clock["started"],
                                                threading.current_thread().name)]
        startup.record(session, steps, clock["started"], session.now())
        pipe.setup.clear()  # the pipeline's start-up is charged once, to the first run that uses it

    try:
        with opencv_threads(min(s.threads for s in budget.split.values())):
            items = _items(srcs, namer, session, set(outdir.done), budget.split["decode"].threads)
            clock["prepare"] = time.perf_counter()
            for item in executor.run(pipe, items, session, budget, on_ready=ready):
                sink.take(item)
            sink.finish_video()
        outdir.finish({"ok": result.ok + result.resumed, "failed": result.failed})
    finally:
        session.config["inputs"] = srcs.count
        session.wall_s = time.perf_counter() - clock["started"]
        if own_account:
            close_account(session)
        pipe.close()
        close_out(outdir, result, save_session)
    return result


def close_out(outdir: OutDir, result: RunResult, save_session: bool) -> None:
    """The end of a run on any engine, finished or not: the session's counts, ``OUT/session.json`` (when asked)
    written while the run still holds OUT, then OUT released. A session that cannot be saved is a warning in the
    result, never an error over the run's own (or over what interrupted it)."""
    session = result.session
    session.counters.update({"ok": result.ok, "failed": result.failed, "images": result.images,
                             "frames": result.frames})
    try:
        if save_session:
            result.session_file = str(outdir.save_session(session))
    except OSError as exc:
        result.warnings.append(f"{exc.strerror or exc}: the session was not saved")
    finally:
        outdir.close()


# What a tuned config chose (tune.space.Candidate.as_dict); where it was read from and what it measured are not
# part of a run's identity.
TUNED_CHOICES = ("options", "executor", "split", "batch_size", "backends")


def default_fingerprint(pipe: Pipeline, task: str | dict | None = None, options: dict | None = None,
                        tuned: dict | None = None) -> dict:
    """What a resumed run must share with the run it continues: the tool's version, the pipeline, its info (a
    shipped task's options) and the sha256 of its model files; given ``task``, the identity of what
    :func:`sightspeed.tasks.build` built (:func:`sightspeed.tasks.registry.task_identity`: for ``module:function``,
    the function and the sha256 of the module's file); given ``options``, what the task was built with; given ``tuned`` (a tuned config's
    ``TunedConfig.describe()``, ``session.config["tuned"]``), its choices (options, executor, split, batch size,
    kernel backends). The same on every engine: computed once by the caller, it is what a run resumes across
    engines with. ``pipe`` may be the built pipeline or the run's completed one (:func:`complete`)."""
    from .._version import __version__

    info = json.loads(json.dumps({**pipe.info, "strip_metadata": bool(pipe.info.get("strip_metadata"))},
                                 default=str))
    models = {k: sha256_file(p) for k, p in (info.get("model_files") or {}).items() if os.path.isfile(p)}
    found = {"sightspeed": __version__, "pipeline": pipe.name, "info": info, "models": models}
    if task is not None:
        found["task"] = task
    if options is not None:
        found["options"] = json.loads(json.dumps(options, default=str))
    if tuned is not None:
        found["tuned"] = json.loads(json.dumps({k: tuned.get(k) for k in TUNED_CHOICES}, default=str))
    return found


class _counted:
    """An iterator that counts what it has handed out."""

    def __init__(self, it: Iterator) -> None:
        self._it, self.count = it, 0

    def __iter__(self) -> _counted:
        return self

    def __next__(self):
        value = next(self._it)
        self.count += 1
        return value


def _items(srcs: Iterator[sources_mod.Source], namer: OutputNamer, session: Session,
           done: set[str] = frozenset(), threads: int = 1) -> Iterator[Item]:
    """Items in order, numbered 0.. ; a video becomes one item per frame, read here (a ``decode`` span and the
    frame's decode time; the decoder gets ``threads``) and written by the sink, so the executor passes over its
    decode and write stages. A frame's meta has its timestamp (``pts``, ``duration``) and the ``reader`` (the
    video's time base, rotation and decode errors, for the writer and the row).
    Sources in ``done`` (finished by the run being resumed) keep their output names but are not yielded."""
    index = 0
    for src in srcs:
        stem = namer.stem(src.relative)
        if src.path in done:
            continue
        if src.problem is not None or src.kind == "image":
            item = Item(src.path, index, output_stem=stem)
            if src.problem:
                item.fail("input", src.problem)
            index += 1
            yield item
            continue
        try:
            reader = video.VideoReader(src.path, threads)
            info, frames = reader.info, iter(reader)
            k = 0
            while True:
                t, cpu0 = session.now(), session.begin_cpu("decode")
                frame = next(frames, None)
                took, cost = session.now(), session.end_cpu(cpu0)
                if frame is None:
                    break
                session.record("decode", t, took, items=1, bytes_out=frame.image.nbytes, **cost)
                yield Item(f"{src.path}#{k}", index, image=frame.image, output_stem=stem,
                           times={"decode": took - t}, runner_stages=VIDEO_BY_RUNNER,
                           meta={"video": src.path, "frame": k, "fps": info.fps, "expected": info.frames,
                                 "pts": frame.pts, "duration": frame.duration, "reader": reader})
                index += 1
                k += 1
            if k == 0:
                raise InputError(src.path, "video has no readable frames")
        except InputError as exc:
            item = Item(src.path, index, output_stem=stem, meta={"video": src.path})
            item.fail("decode", exc.reason)
            index += 1
            yield item


# A video frame's decode (the runner's frame reader) and write (the sink's in-order video writer) are done outside
# the pipeline's stages; the executor passes over those stages for it, so each frame counts once in each.
VIDEO_BY_RUNNER = frozenset({"decode", "write"})


def _failure(item: Item) -> dict:
    """What a failed row says beyond its reason: ``where`` it raised and the ``traceback`` (None when nothing
    raised: an input that could not be listed, a video that could not be opened)."""
    return {"where": item.where, "traceback": item.traceback}


def image_row(item: Item) -> dict:
    """The manifest row of a finished image (its checksums are added where the row is written)."""
    row = {"input": item.source, "status": "ok" if item.ok else "error", "reason": item.error,
           "stage": item.failed_stage, "outputs": item.outputs, "size": item.meta.get("size"),
           "times_ms": {k: round(v * 1000, 3) for k, v in item.times.items()}}
    if item.notes:
        row["note"] = "; ".join(item.notes)
    if not item.ok:
        row.update(_failure(item))
    return row


def _video_writer(v: dict, frame, threads: int) -> video_write.VideoWriter:
    """The writer of a video's output, made at its first frame (the processed frame's size): the input's time base
    (its frames' timestamps are kept), audio and colour tags; what it encodes with goes into the row."""
    h, w = frame.shape[:2]
    info = v["reader"].info if v["reader"] is not None else None
    writer = video_write.VideoWriter(v["stem"] + ".mp4", (w, h), fps=v["fps"] or 25.0,
                                     time_base=info.time_base if info else None, source=v["path"], threads=threads)
    # the rotation the input asked for was applied to the pixels: the output is upright and has none
    v.update(size=[w, h], codec=writer.encoder.describe(), audio=writer.audio, rotation=info.rotation if info else 0)
    return writer


class _Sink:
    """Runs on the caller's thread, in input order: video frames to their writer, rows to the manifest."""

    def __init__(self, result: RunResult, pool: BufferPool, on_item: Callable[[dict], None] | None,
                 outdir: OutDir, keep_rows: bool = True, video_threads: int = 1) -> None:
        self.result, self.pool, self.on_item, self.outdir = result, pool, on_item, outdir
        self.keep_rows = keep_rows
        self.video_threads = video_threads  # the video encoder's share of the budget (the write stage's)
        self._video: dict | None = None

    def take(self, item: Item) -> None:
        path = item.meta.get("video")
        if path is not None:
            self._video_frame(path, item)
        else:
            self.finish_video()
            self.result.images += 1
            self._row(image_row(item))
        for buf in item.borrowed:
            self.pool.give(buf)
        item.borrowed.clear()
        item.release()

    def take_row(self, row: dict) -> None:
        """A row finished elsewhere (another engine's worker): counted and written like the rest."""
        if "frames" in row:  # a video's
            self.result.frames += row["frames"]
        else:
            self.result.images += 1
        self._row(row)

    def _video_frame(self, path: str, item: Item) -> None:
        v = self._video
        if v is None or v["path"] != path:
            self.finish_video()
            v = self._video = {"path": path, "stem": item.output_stem, "writer": None, "frames": 0, "seen": 0,
                               "error": None, "stage": None, "where": None, "traceback": None, "times": {},
                               "notes": {}, "fps": item.meta.get("fps"), "expected": item.meta.get("expected", 0),
                               "reader": item.meta.get("reader")}
        if "frame" in item.meta:  # a frame (not the row of a video that could not be opened)
            v["seen"] += 1
            self.result.frames += 1
        v["frames"] += 1 if item.ok else 0
        for k, t in item.times.items():
            v["times"][k] = v["times"].get(k, 0.0) + t
        for note in item.notes:
            v["notes"][note] = v["notes"].get(note, 0) + 1
        if not item.ok:
            if v["error"] is None:
                v["error"] = (f"frame {item.meta.get('frame', 0)}: {item.error}" if "frame" in item.meta
                              else item.error)
                v["stage"], v["where"], v["traceback"] = item.failed_stage, item.where, item.traceback
            return
        if v["error"] is not None:  # the output is abandoned (finish_video removes it): encode no more of it
            return
        frame = item.output if item.output is not None else item.image
        session = self.result.session
        t, cpu0 = session.now(), session.begin_cpu("write")
        try:
            if v["writer"] is None:
                v["writer"] = _video_writer(v, frame, self.video_threads)
            v["writer"].write(frame, item.meta.get("pts"), item.meta.get("duration", 0))
        except Exception as exc:
            if v["error"] is None:
                v["error"], v["stage"] = reason(exc), "write"
                v["where"], v["traceback"] = where_and_traceback(exc)
        done, cost = session.now(), session.end_cpu(cpu0)
        session.record("write", t, done, items=1, bytes_in=frame.nbytes, **cost)
        v["times"]["write"] = v["times"].get("write", 0.0) + (done - t)

    def finish_video(self) -> None:
        v, self._video = self._video, None
        if v is None:
            return
        outputs = []
        if v["writer"] is not None:
            if v["error"] is None:
                try:
                    outputs.append(v["writer"].close())
                except OSError as exc:  # frames that never reached the disk: an error row, never "ok"
                    v["error"], v["stage"] = str(exc), "write"
            else:
                v["writer"].abort()
        status = "ok" if v["error"] is None else "error"
        expected = v["expected"]
        short = v["reader"].shortfall(v["frames"]) if v["reader"] is not None else None
        if status == "ok" and short:  # cut short or corrupt: never "ok"
            status, v["error"], v["stage"] = "partial", short, "decode"
        seen = v["seen"]
        row = {"input": v["path"], "status": status, "reason": v["error"], "stage": v["stage"],
               "outputs": outputs, "size": v.get("size"), "frames": v["frames"], "expected_frames": expected,
               "fps": round(v["fps"], 3) if v["fps"] else None,
               **{k: v[k] for k in ("codec", "audio", "rotation") if k in v},
               "times_ms": {k: round(t * 1000, 3) for k, t in v["times"].items()},
               # each stage's time per frame: what a frame costs, whatever the video's length
               "ms_per_frame": {k: round(t * 1000 / seen, 3) for k, t in v["times"].items()} if seen else {}}
        if v["notes"]:
            row["note"] = "; ".join(f"{note} ({n} of {seen} frames)" for note, n in v["notes"].items())
        if status != "ok":
            row.update({"where": v["where"], "traceback": v["traceback"]})
        self._row(row)

    def _row(self, row: dict) -> None:
        if row["status"] == "ok":
            self.result.ok += 1
            if "checksums" not in row:  # what --resume checks the outputs against (an engine's rows bring theirs)
                row["checksums"] = self.outdir.checksums(row["outputs"])
        else:
            self.result.failed += 1
        if self.keep_rows or (row["status"] != "ok" and len(self.result.rows) < 1000):
            self.result.rows.append(row)
        self.outdir.manifest.write(row)
        if self.on_item:
            self.on_item(row)
