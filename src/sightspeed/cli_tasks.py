"""The CLI's shared parts: the command classes (flags shown without a placeholder, click's usage errors as one
line), the checks every command runs before anything slow (OUT, what-if, inputs), one way to fail, and the
per-task options: `run` / `profile` take TASK's options among the inputs (they are declared by the task, see
tasks/options.py), and their --help ends with every task's options.

Exit codes: 0 ok; 1 an error or a setup problem (a missing optional extra, a model that cannot be fetched: the
message names the fix; the user's own code raised); 2 a usage error; 3 some inputs failed (or none was found)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

err = Console(stderr=True)

EXIT_CODES = ("Exit codes: 0 ok; 1 error or setup problem (a missing extra, a model that cannot be fetched: the "
              "message names the fix; compare --fail-if-slower: slower); 2 usage error; 3 some inputs failed "
              "(partial results: see OUT/manifest.jsonl) or no input was found.")


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _one_line_usage() -> Iterator[None]:
    """Click's usage errors (a missing option, a bad value, an unknown command) as one line ``error: ...``, exit 2,
    instead of a usage block and a panel."""
    try:
        yield
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: typer prints the help
            raise
        message = exc.format_message().strip().rstrip(".")
        message = message[:1].lower() + message[1:]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        raise _fail(message + hint, getattr(exc, "exit_code", 2)) from None


class _PlainHelp:
    """--help shows a flag (it takes no value) without a ``<bool>`` placeholder."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_PlainHelp, TyperCommand):
    """A command of the app."""


class Group(_PlainHelp, TyperGroup):
    """The app and its command groups: usage errors are one line (see :func:`_one_line_usage`)."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_usage():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        with _one_line_usage():
            return super().invoke(ctx)


class TaskCommand(Command):
    """`run` / `profile` (OUT: a folder) and `tune` (OUT: a file): OUT is checked before anything runs, and --help
    ends with every shipped task's options (imported only when help is asked for)."""

    out_is_a_folder = True

    def format_help(self, ctx, formatter) -> None:
        super().format_help(ctx, formatter)
        from .tasks.registry import options_help

        formatter.write("\n" + options_help())

    def invoke(self, ctx):
        out = ctx.params.get("out")
        if self.out_is_a_folder:
            check_out_folder(out)
        elif out is not None and out.is_dir():
            raise _fail(f"-o {out} is a folder: give the file to write to (e.g. tuned.toml)", 2)
        return super().invoke(ctx)


class TuneCommand(TaskCommand):
    out_is_a_folder = False  # tuned.toml


# `run` / `profile`: options the command itself does not know reach the inputs list, in order, for task_options.
_TASK_SETTINGS: dict[str, Any] = {"context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}
TASK_COMMAND: dict[str, Any] = {"cls": TaskCommand, **_TASK_SETTINGS}
TUNE_COMMAND: dict[str, Any] = {"cls": TuneCommand, **_TASK_SETTINGS}


def check_out_folder(out: Path | None) -> None:
    """OUT of `run` / `profile` is a folder: an existing file is a usage error (before anything runs)."""
    if out is not None and out.exists() and not out.is_dir():
        raise _fail(f"output folder {out} is a file: give a new or empty folder", 2)


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """What :class:`sightspeed.io.outdir.OutDir` would refuse of `run`'s OUT (another run writing it, both --resume
    and --overwrite, a non-empty folder holding no run, a previous run without either flag), now rather than once
    the models have loaded."""
    from .io.outdir import OutDirError, preflight

    try:
        preflight(out, resume=resume, overwrite=overwrite)
    except OutDirError as exc:
        raise _fail(str(exc), 2) from None


def require_inputs(inputs: list[str]) -> None:
    """Exit 3 with one line when not one of ``inputs`` gives an input (every path missing, every glob empty, every
    folder without images), before any model loads: a table of zeros would say less."""
    from .io.sources import iter_sources

    if inputs and not any(src.problem is None for src in iter_sources(inputs)):
        raise _fail(f"no input found at {', '.join(inputs)}", 3)


def what_if_specs(text: str | None) -> list[str]:
    """The what-if scenarios of ``--what-if`` (comma-separated), each checked: a bad one exits 2 with one line."""
    from .profiling.whatif import parse

    specs = [s.strip() for s in (text or "").split(",") if s.strip()]
    for spec in specs:
        try:
            parse(spec)  # a bad scenario (cores:0, cpu:0x, gpu:nonsense) is refused there
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    return specs


def _checked_what_if(value: Optional[str]) -> Optional[str]:
    what_if_specs(value)  # at parse time: before any session is read or any model loads
    return value


# The run's core budget (run, profile, tune).
CoresOpt = Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Core budget of the run, split into "
                                                 "workers x threads per stage. Default: every core this process may "
                                                 "use.")]

# Scenarios of the what-if projection (profile, report).
WhatIfOpt = Annotated[Optional[str], typer.Option("--what-if", metavar="SCENARIO,...", callback=_checked_what_if,
                                                  help="Project onto other hardware, comma-separated: cpu:2x, mem:2x, "
                                                  "disk:2x, cores:N, gpu:t4|l4|a10|a100|h100, tiers:f32.")]


def out_console() -> Console:
    """Standard output; piped into a file it is 160 columns wide, so the stage tables keep their columns."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def failed(exc: Exception, debug: bool = False, hint: bool = False) -> typer.Exit:
    """Print what a :class:`~sightspeed.errors.SightspeedError` (or a ValueError: a usage error) says, and return
    the Exit to raise: 2 for a usage error (an unknown task, an option that does not apply), 1 otherwise. The user's
    own code's error (:class:`~sightspeed.errors.UserCodeError`) comes with its traceback: the user's frames only,
    or every frame with ``debug``; ``hint`` says that --debug exists."""
    from .errors import UserCodeError, user_traceback

    if isinstance(exc, UserCodeError):
        import traceback

        cause = exc.__cause__ or exc
        text = "".join(traceback.format_exception(exc)) if debug else user_traceback(cause)
        err.print(text, markup=False, highlight=False, soft_wrap=True, end="")
        return _fail(str(exc) + (" (--debug shows the full traceback)" if hint and not debug else ""), 1)
    return _fail(str(exc), 2 if isinstance(exc, ValueError) else 1)


def task_options(ctx: typer.Context, task: str, words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """TASK's option values (by name) and the inputs, from the words after TASK. An option that does not apply to
    TASK, a bad value or an unknown task exits 2 with one line, before any model loads; a module:function whose
    module raises on import exits 1 with its traceback."""
    from .errors import SightspeedError
    from .tasks.options import OptionError, parse
    from .tasks.registry import options_of

    if task.startswith("-"):  # a task option before TASK: its meaning depends on TASK, so TASK comes first
        raise _fail(f"{task} before TASK: give TASK (portrait, ocr or module:function) first, then its options", 2)
    common = [flag for param in ctx.command.params for flag in param.opts]  # for "did you mean"
    try:
        return parse(words, options_of(task), task, common)
    except OptionError as exc:
        raise _fail(str(exc), 2) from None
    except SightspeedError as exc:  # an unknown task, a module:function that does not import
        raise failed(exc, debug=bool(ctx.params.get("debug")), hint="debug" in ctx.params) from None
