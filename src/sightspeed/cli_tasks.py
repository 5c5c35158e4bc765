"""The CLI's side of per-task options: `run` / `profile` take TASK's options among the inputs (they are declared by
the task, see tasks/options.py), and their --help ends with every task's options."""

from __future__ import annotations

from typing import Any

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
