"""The CLI's side of per-task options: `run` / `profile` take TASK's options among the inputs (they are declared by
the task, see tasks/options.py), and their --help ends with every task's options."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

err = Console(stderr=True)


class TaskCommand(TyperCommand):
    """A command whose --help ends with every shipped task's options (imported only when help is asked for)."""

    def format_help(self, ctx, formatter) -> None:
        super().format_help(ctx, formatter)
        from .tasks.registry import options_help

        formatter.write("\n" + options_help())


# `run` / `profile`: options the command itself does not know reach the inputs list, in order, for task_options.
TASK_COMMAND: dict[str, Any] = {"cls": TaskCommand,
                                "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


# The run's core budget (run, profile, tune).
CoresOpt = Annotated[Optional[int], typer.Option(min=1, help="Core budget of the run, split into workers x threads "
                                                 "per stage. Default: every core this process may use.")]

# Scenarios of the what-if projection (profile, report).
WhatIfOpt = Annotated[Optional[str], typer.Option("--what-if", help="Project onto other hardware, comma-separated: "
                                                  "cpu:2x, mem:2x, disk:2x, cores:N, gpu:t4|l4|a10|a100|h100, tiers:f32.")]


def out_console() -> Console:
    """Standard output; piped into a file it is 160 columns wide, so the stage tables keep their columns."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def task_options(ctx: typer.Context, task: str, words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """TASK's option values (by name) and the inputs, from the words after TASK. An option that does not apply to
    TASK, or a bad value, exits 2 with one line, before any model loads; an unknown task exits 1."""
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
        raise _fail(str(exc), 1) from None
