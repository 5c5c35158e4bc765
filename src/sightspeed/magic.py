"""IPython magics: ``%sightspeed STATEMENT`` and ``%%sightspeed`` (a cell), like %timeit but per stage.

``%load_ext sightspeed`` registers them. This module sits above ``profiling`` and ``report`` (it profiles, then
renders), so neither imports it. The code runs ``-n N`` times (default 1) under ``sightspeed.profile()``;
its ``sightspeed.stage`` blocks become rows of the table, the rest is ``(main)``; they count calls (ms per call, no
items/s) unless a block declares ``items=N``. ``-o`` returns the Session.
``--lines``: the sampler's top lines per stage instead of cProfile's functions (cProfile stays the default here: a
cell is often shorter than the few hundred milliseconds a sampler needs to say much).
"""

from __future__ import annotations

import linecache
import shlex
from typing import Any


def run_magic(line: str, cell: str | None, namespace: dict[str, Any]) -> Any:
    from rich.console import Console

    from . import host
    from .profiling import trust
    from .profiler import profile
    from .profiling.machine import cached_ceilings
    from .report.profile_console import render

    args = shlex.split(line)
    repeats, keep, what_if, hotspots = 1, False, [], "calls"
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag == "-n":
            repeats = int(args.pop(0))
        elif flag == "-o":
            keep = True
        elif flag == "--what-if":
            what_if = [s for s in args.pop(0).split(",") if s]
        elif flag == "--lines":
            hotspots = "lines"
        else:
            raise ValueError(f"%sightspeed: unknown option {flag} (use -n N, -o, --what-if SPECS, --lines)")
    code = cell if cell is not None else " ".join(args)
    compiled = compile(code, "<sightspeed>", "exec")
    cached = linecache.cache.get("<sightspeed>")
    linecache.cache["<sightspeed>"] = (len(code), None, code.splitlines(True), "<sightspeed>")  # lines to show
    try:
        with profile(hotspots=hotspots, stage_items=0) as session:  # calls per stage; items only where declared
            for _ in range(repeats):
                exec(compiled, namespace)
    finally:
        if cached is None:
            linecache.cache.pop("<sightspeed>", None)
        else:
            linecache.cache["<sightspeed>"] = cached
    session.config.update({"pipeline": "%sightspeed", "repeats": repeats})
    session.machine = {**host.describe(), **session.machine}
    ceilings = cached_ceilings()  # never measured here: `sightspeed machine` does that once
    if ceilings:
        session.machine["ceilings"] = ceilings
    console = Console()
    render(console, session, what_if)
    if trust.warnings(session):  # the magic's own remedy for a run too small to trust
        console.print(f"-n N runs the code N times (this was -n {repeats}): more calls, steadier numbers")
    return session if keep else None


def load_ipython_extension(ipython: Any) -> None:
    def line_magic(line: str) -> Any:
        return run_magic(line, None, ipython.user_ns)

    def cell_magic(line: str, cell: str) -> Any:
        return run_magic(line, cell, ipython.user_ns)

    ipython.register_magic_function(line_magic, "line", "sightspeed")
    ipython.register_magic_function(cell_magic, "cell", "sightspeed")
