"""Command line of `tune`, `cache` and `models quantize` (cli.py registers them on the app)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .cli_tasks import Command, CoresOpt, Group, _fail, err, failed, require_inputs, task_options
from .cli_tasks import out_console as _out

cache_app = typer.Typer(cls=Group, no_args_is_help=True,
                        help="What sightspeed keeps in its cache folder: list it, prune it.")


def _usage(message: str):
    raise _fail(message, 2)


def parse_budget(text: str) -> float:
    """``90s``, ``5m``, ``1h`` or plain seconds -> seconds.

    >>> parse_budget("5m"), parse_budget("90s"), parse_budget("120")
    (300.0, 90.0, 120.0)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--budget {text!r}: write seconds or a duration such as 90s, 5m, 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def tune(
    ctx: typer.Context,
    task: str = typer.Argument(..., metavar="TASK", help="A shipped task (portrait, ocr) or module:function."),
    inputs: Optional[list[str]] = typer.Argument(None, metavar="INPUTS", help="Your own inputs (a few representative "
                                                 "ones: every candidate runs over all of them), and TASK's options."),
    budget: str = typer.Option("5m", metavar="DURATION", help="Time for the whole search, model builds and "
                               "quantization included."),
    objective: str = typer.Option("throughput", metavar="throughput|latency", help="throughput (items/s) or latency "
                                  "(p50 per item)."),
    out: Path = typer.Option(Path("tuned.toml"), "-o", "--out", help="Where to write the chosen config (a "
                             "table of every candidate goes beside it, as .json)."),
    cores: CoresOpt = None,
    seed: int = typer.Option(0, help="Seed of the final rounds' shuffled order."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write an HTML report: the candidate table, batch "
                                        "curves, and the chosen configuration's profile."),
) -> None:
    """Search TASK's configurations on INPUTS (runtime and precision tier per model, executor and thread split,
    batch, switches, kernel backends); every candidate's outputs are checked against the f32 reference's."""
    from .cores import quiet_pools
    from .errors import SightspeedError
    from .report.tune_console import render
    from .tune.config import TunedConfig, saved_path
    from .tune.search import OBJECTIVES, tune as run_tune

    quiet_pools()
    values, inputs = task_options(ctx, task, inputs or [])
    try:
        budget_s = parse_budget(budget)
    except ValueError as exc:
        _usage(str(exc))
    if objective not in OBJECTIVES:
        _usage(f"--objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    if not inputs:
        from .samples import sample_paths

        inputs = sample_paths()
        err.print("no inputs given: tuning on the built-in sample photos (tune on your own inputs for your data)")
    else:
        require_inputs(inputs)
    try:
        result = run_tune(task, inputs, options=values, budget_s=budget_s, objective=objective, cores=cores,
                          seed=seed, progress=lambda message: err.print(f"[dim]{message}[/dim]"))
    except (ValueError, SightspeedError) as exc:  # a usage error (2); a missing extra or model, the user's code (1)
        raise failed(exc) from None
    render(result, _out())
    if result.best is None or result.best.candidate is None:
        err.print("[red]error:[/red] no configuration ran")
        raise typer.Exit(1)
    config = TunedConfig(task, result.best.candidate, _about(result))
    written = [config.save(out), config.save(saved_path(task))]
    table = out.with_suffix(".json")
    table.write_text(json.dumps(result.as_dict(), indent=1, default=str))
    err.print(f"wrote {written[0]} and {table}; saved for `run {task}` on this machine: {written[1]}")
    if html:
        err.print(f"wrote {write_html(result, html)}")


def write_html(result, path: Path) -> Path:
    """The tune's HTML report: the chosen candidate's last timed pass as the profile, the search in its tune
    section (candidates, batch curves, the choice)."""
    from .profiler import describe_machine
    from .profiling.session import Session
    from .report import html

    trial = result.best if result.best is not None and result.best.session is not None else result.default
    session = trial.session if trial is not None and trial.session is not None else Session()
    session.machine = session.machine or describe_machine("cached")
    session.config.update({"pipeline": f"{result.task} (tuned: {trial.label if trial else '-'})",
                           "task": result.task, "tune": json.loads(json.dumps(result.as_dict(), default=str))})
    return html.write(session, path)


def _about(result) -> dict:
    from ._version import __version__
    from .host import describe

    host = describe()
    return {"machine": host["fingerprint"], "cpu": host["cpu"]["model"], "objective": result.objective,
            "speedup": round(result.speedup, 3) if result.speedup else None,
            "fidelity": result.best.fidelity.figure if result.best.fidelity else None,
            "sightspeed": __version__}


def models_quantize(
    name: str = typer.Argument(..., metavar="NAME", help="A zoo model name (e.g. ppocr-rec-v4)."),
    calibrate: list[str] = typer.Option(..., metavar="INPUTS", help="Calibration inputs (files, folders, globs): "
                                        "a sample of your own."),
) -> None:
    """Make an int8 copy of a model, calibrated on what its task's pipeline feeds it on your inputs (cached)."""
    from .errors import SightspeedError
    from .tune.calibrate import quantize_models, task_of

    try:
        task, key = task_of(name)
        made = quantize_models(task, calibrate, [key])
    except SightspeedError as exc:
        raise _fail(str(exc), 2 if "not a model" in str(exc) or "no calibration" in str(exc) else 1) from None
    print(f"{name}\t{made[key]}")
    err.print(f"use it: sightspeed run {task} ... --precision {key}=int8")


CACHE_KINDS = {"models": "model files fetched from wheels", "quantized": "int8 models (models quantize, tune)",
               "tuned": "tuned configs (tune)", "ceilings": "measured machine ceilings (machine, profile)",
               "other": "kernel picks, CPU description, compiled-kernel caches"}


def _kind(entry: Path) -> str:
    if entry.name in ("quantized", "tuned"):
        return entry.name
    if entry.name == "machine.json":
        return "ceilings"
    if entry.is_dir() and any(p.suffix in (".onnx", ".tflite", ".xml") for p in entry.rglob("*")):
        return "models"
    return "other"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@cache_app.command("list", cls=Command)
def cache_list() -> None:
    """What the cache folder holds, by kind, with sizes."""
    from rich.table import Table

    from .host import cache_dir

    root = cache_dir()
    table = Table(title=f"cache: {root}", title_justify="left")
    for col, justify in (("kind", "left"), ("entries", "right"), ("size", "right"), ("what", "left")):
        table.add_column(col, justify=justify)
    totals: dict[str, list[int]] = {k: [0, 0] for k in CACHE_KINDS}
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        kind = _kind(entry)
        count = sum(1 for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else 1
        totals[kind][0] += count
        totals[kind][1] += _size(entry)
    for kind, (count, size) in totals.items():
        table.add_row(kind, str(count), f"{size / 2**20:,.1f} MiB", CACHE_KINDS[kind])
    Console().print(table)


@cache_app.command("clear", cls=Command)
def cache_clear(kinds: list[str] = typer.Argument(..., metavar="KINDS", help=f"What to delete: "
                                                 f"{', '.join(CACHE_KINDS)} or all.")) -> None:
    """Delete what the cache holds of the given kinds (models are fetched again when next needed)."""
    import shutil

    from .host import cache_dir

    wrong = [k for k in kinds if k not in CACHE_KINDS and k != "all"]
    if wrong:
        _usage(f"unknown cache kind {', '.join(wrong)}: use {', '.join(CACHE_KINDS)} or all")
    root = cache_dir()
    freed = 0
    for entry in list(root.iterdir()) if root.is_dir() else []:
        if "all" in kinds or _kind(entry) in kinds:
            freed += _size(entry)
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    err.print(f"freed {freed / 2**20:,.1f} MiB from {root}")


def apply_tuned(ctx: typer.Context, task: str, config: Optional[Path], no_tuned: bool, variant: str,
                values: dict, settings: dict):
    """The tuned config for this run (``--config``, else the one saved for TASK on this machine unless
    ``--no-tuned``), merged under what the command line gave: returns (values, settings, TunedConfig or None).
    ``settings``: the run's executor, split and batch_size; those the user left at their defaults take the
    config's."""
    from .tune.config import TunedConfig, saved

    if config is not None:
        try:
            tuned = TunedConfig.load(config)
        except ValueError as exc:
            _usage(str(exc))
        if tuned.task != task:
            _usage(f"{config} was tuned for {tuned.task}, not {task}")
        if variant != "fast":
            _usage("--config applies to the fast variant (the reference variant is the plain way, never tuned)")
    elif no_tuned or variant != "fast":
        return values, settings, None
    else:
        tuned = saved(task)
        if tuned is None:
            return values, settings, None
        err.print(f"using the tuned config saved for {task} on this machine ({tuned.path}; --no-tuned ignores it)")
    c = tuned.candidate
    given = {name for name in settings  # those the command line set (typer's click reports where a value came from)
             if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")}
    tuned_settings = {"executor": c.executor, "split": c.split or None, "batch_size": c.batch_size}
    settings = {k: (v if k in given else tuned_settings[k]) for k, v in settings.items()}
    return {**c.opts, **values}, settings, tuned
