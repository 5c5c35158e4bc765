"""Command line: parse, call the API, pick a renderer. Exit codes: 0 all ok; 1 an error or a setup problem (a
missing extra, a model that cannot be fetched, an output folder that cannot be written, the user's own code raised:
the message names the fix); 2 a usage error (one line, before anything slow); 3 some inputs failed, or none was
found."""

from __future__ import annotations

import sys
import math
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .cli_tasks import (EXIT_CODES, TASK_COMMAND, TUNE_COMMAND, Command, CoresOpt, Group, WhatIfOpt, _fail,
                        check_run_folder, failed, out_console, require_inputs, task_options, what_if_specs)
from .cores import quiet_pools

app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make Python computer-vision inference pipelines fast, and show why they are slow.",
                  epilog=EXIT_CODES)
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
StripOpt = Annotated[bool, typer.Option("--strip-metadata", help="Outputs carry none of the input's ICC colour "
                                         "profile, EXIF (camera, time, GPS) and XMP (kept by default).")]
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


class EngineChoice(str, Enum):
    local = "local"
    ray = "ray"


def runner_settings(runner) -> dict:  # noqa: ANN001 - a Serial or Pipelined executor
    """What a Ray actor needs to make the same executor."""
    from .pipeline.executors import Pipelined

    if isinstance(runner, Pipelined):
        return {"kind": "pipelined", "workers": runner.workers, "batch_size": runner.batch_size,
                "split": dict(runner.split)}
    return {"kind": "serial", "batch_size": runner.batch_size}


def _prepare(task: str, values: dict, inputs: list[str], variant: Variant, batch_size: int, workers: Optional[int],
             executor: ExecutorChoice, max_megapixels: float, split: Optional[str], debug: bool = False,
             hint: bool = False, strip_metadata: bool = False):
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
    options = _build_options(variant, batch_size, max_pixels, strip_metadata, values)
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


def _build_options(variant: Variant, batch_size: int, max_pixels: int, strip_metadata: bool, values: dict) -> dict:
    """What TASK is built with: the run settings it may take, and its own options."""
    return {"variant": variant.value, "batch_size": batch_size, "max_pixels": max_pixels,
            "strip_metadata": strip_metadata, **values}


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
    strip_metadata: StripOpt = False,
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
    engine: EngineChoice = typer.Option(EngineChoice.local, help="local (this process) or ray (Ray Data actors: "
                                        "pip install 'sightspeed[ray]')."),
    address: Optional[str] = typer.Option(None, help="ray: the cluster (auto, ray://HOST:PORT); default: a local "
                                          "Ray on this machine."),
    num_workers: int = typer.Option(1, "--num-workers", min=1, help="ray: actors, each with --cores cores."),
) -> None:
    """Run TASK over INPUTS, writing outputs and OUT/manifest.jsonl (OUT must be new or empty, or hold a run to
    --resume or --overwrite)."""
    quiet_pools()
    values, inputs = task_options(ctx, task, inputs or [])
    from .io.outdir import OutDirError, check_inputs
    from .pipeline.run import default_fingerprint
    from .tasks.registry import task_identity
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
                                                          executor, max_megapixels, split, debug, hint=True,
                                                          strip_metadata=strip_metadata)
    session = new_session(ceilings="cached")  # the machine and its cached ceilings (never measured by `run`)
    if tuned:
        session.config["tuned"] = tuned
    options = _build_options(variant, batch_size, max_pixels, strip_metadata, values)
    # what --resume must match, on either engine: the task (a module's file by its sha256), what it was built with,
    # the tuned config's choices, the models
    fingerprint = default_fingerprint(pipeline, task_identity(task), options, tuned)
    # OUT/session.json (`sightspeed report` renders it again) is written while the run holds OUT, also when killed
    if engine == EngineChoice.ray:
        from .engines.ray import run_on_ray

        def go(on_start, on_item):
            return run_on_ray(task, options, pipeline, inputs, out, executor=runner_settings(runner), cores=cores,
                              num_workers=num_workers, address=address, session=session, limit=limit, resume=resume,
                              overwrite=overwrite, fingerprint=fingerprint, keep_rows=False, on_item=on_item,
                              on_start=on_start, save_session=True)
    else:
        def go(on_start, on_item):
            return run_pipeline(pipeline, inputs, out, executor=runner, limit=limit, on_item=on_item,
                                on_start=on_start, pool=pool, max_pixels=max_pixels, session=session, cores=cores,
                                oversubscribe=oversubscribe, resume=resume, overwrite=overwrite,
                                fingerprint=fingerprint, save_session=True,
                                keep_rows=False)  # the manifest has every row
    with scope, _terminate_as_interrupt():
        try:
            result = _execute(task, go, debug, hint=True)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what ran is in the manifest and the session
            err.print(f"interrupted: {out}/manifest.jsonl has the inputs done; `--resume` continues the run")
            raise typer.Exit(130)
    for warning in result.warnings:  # the outputs and the manifest are kept; only the timing record is missing
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
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
    strip_metadata: StripOpt = False,
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
    from .profiler import check_program, new_session, profile_run, profile_script, write_outputs
    from .report.profile_console import render

    specs = what_if_specs(what_if)
    args = list(args or [])
    script = bool(args) and (Path(args[0]).name.startswith("python") or args[0].endswith(".py"))
    if not script and not args:
        err.print("[red]error:[/red] give a TASK (e.g. portrait) or -- python SCRIPT.py")
        raise typer.Exit(2)
    values, inputs = ({}, []) if script else task_options(ctx, args[0], args[1:])
    argv = (args[1:] if Path(args[0]).name.startswith("python") else args) if script else []
    if script:
        try:
            check_program(argv)  # a script or module that does not exist: one line, before the machine is probed
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    elif inputs:
        require_inputs(inputs)  # only missing inputs: exit 3, before the machine is probed
    err.print("measuring this machine's ceilings (cached after the first time)..." if refresh_ceilings else "",
              end="")
    session = new_session(refresh_ceilings=refresh_ceilings)
    code, script_traceback = 0, None
    interval = sample_ms / 1000
    if script:
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
                                                              executor, max_megapixels, split,
                                                              strip_metadata=strip_metadata)
        if tuned:
            session.config["tuned"] = tuned
        with scope:
            result = _execute(args[0], lambda on_start, on_item: profile_run(
                pipeline, inputs, out / "out", session=session, executor=runner, limit=limit, on_item=on_item,
                on_start=on_start, pool=pool, max_pixels=max_pixels, cores=cores, oversubscribe=oversubscribe,
                overwrite=True, hotspots=(hotspots or HotspotsChoice.calls).value, interval=interval))
        # (a profile's out/ is scratch: each profile starts it over)
        code = 3 if result.failed else 0
    try:
        with _terminate_as_interrupt():  # Ctrl-C / SIGTERM meanwhile: write_outputs finishes its files, then stop
            written = write_outputs(session, out)
            if html:
                from .report import html as html_report

                written["html"] = str(html_report.write(session, out / "report.html", specs, written["trace"]))
            render(_out(), session, specs)
    except KeyboardInterrupt:
        err.print(f"interrupted: the profile is in {out}")
        raise typer.Exit(130) from None
    err.print("wrote " + ", ".join(written.values()))
    if script_traceback:  # the program's own error, after its profile (plain text: it holds brackets)
        sys.stderr.write(script_traceback if script_traceback.endswith("\n") else script_traceback + "\n")
    raise typer.Exit(code)


from . import cli_machine, cli_report, cli_tune  # noqa: E402  (the commands that live there)

app.command(cls=Command)(cli_machine.doctor)
app.command(cls=Command)(cli_machine.machine)
app.add_typer(cli_machine.models_app, name="models")
app.add_typer(cli_machine.bench_app, name="bench")
app.command(**TUNE_COMMAND)(cli_tune.tune)
app.command(cls=Command)(cli_report.report)
app.command(cls=Command)(cli_report.compare)
app.add_typer(cli_tune.cache_app, name="cache")
cli_machine.models_app.command("quantize", cls=Command)(cli_tune.models_quantize)


def main() -> None:
    app()
