"""Task options, declared next to the task's code, and the one parser that reads them from command-line words.

A shipped task declares each user-facing option on its options dataclass with :func:`option`; a field declared the
plain way (``detector: str = "blazeface-short"``) is Python-only. A user's ``module:function`` pipeline declares its
options by its keyword parameters. ``sightspeed run``, ``profile`` (and ``tune``) read the same declarations, so an
option that does not apply to the task is an error, never silently dropped (DESIGN.md, principle 13).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Opts:
...     draw: bool = option(False, "also write the boxes")
...     runtime: str = option("onnxruntime", "model runtime", choices=("onnxruntime", "openvino"))
...     model: str = "det-v4"  # not an option: Python only
>>> [o.flag for o in declared(Opts)]
['--draw', '--runtime']
>>> parse(["in/", "--draw", "--runtime", "openvino"], declared(Opts), "mytask")
({'draw': True, 'runtime': 'openvino'}, ['in/'])
>>> parse(["--no-roi"], declared(Opts), "mytask")
Traceback (most recent call last):
...
sightspeed.tasks.options.OptionError: mytask has no option --no-roi; its options: --draw, --runtime onnxruntime|openvino
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_KEY = "sightspeed.option"
_TYPES = (bool, int, float, str)


class OptionError(ValueError):
    """A task option that does not apply, or a value it does not take; the message is one line for people."""


@dataclass(frozen=True)
class Option:
    """One command-line option of a task: ``flag`` sets the keyword ``name`` of its options (or function)."""

    name: str
    type: type  # bool, int, float or str
    default: Any
    help: str = ""
    flag: str = ""  # --draw, --no-roi, --runtime; default: from the name (a True bool is --no-NAME)
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], object] | None = None  # raises ValueError on a bad value (runs before any model loads)
    metavar: str = ""  # what the value looks like in help; default: the choices, N, X or TEXT

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"option {self.name}: type must be one of bool, int, float, str, not {self.type!r}")
        if not self.flag:
            dashed = self.name.replace("_", "-")
            object.__setattr__(self, "flag", f"--no-{dashed}" if self.type is bool and self.default is True
                               else f"--{dashed}")

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def usage(self) -> str:
        """``--draw``, ``--runtime onnxruntime|openvino``, ``--rec-batch N``."""
        if self.type is bool:
            return self.flag
        metavar = self.metavar or "|".join(self.choices) or {int: "N", float: "X"}.get(self.type, "TEXT")
        return f"{self.flag} {metavar}"

    def convert(self, text: str) -> Any:
        """``text`` as this option's value, or an :class:`OptionError` saying what is right."""
        try:
            value = self.type(text)
        except ValueError:
            kind = {int: "an integer", float: "a number"}[self.type]
            raise OptionError(f"{self.flag} takes {kind}, not {text!r}") from None
        if self.choices and value not in self.choices:
            raise OptionError(f"{self.flag} {text!r}: use one of {', '.join(self.choices)}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            bounds = " and ".join(f"{w} {b:g}" for w, b in (("at least", self.minimum), ("at most", self.maximum))
                                  if b is not None)
            raise OptionError(f"{self.flag} {text}: must be {bounds}")
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise OptionError(str(exc).splitlines()[0] if str(exc) else f"{self.flag} {text!r}: bad value") \
                    from None
        return value


def option(default: Any, help: str, *, flag: str = "", choices: Sequence[str] = (), minimum: float | None = None,
           maximum: float | None = None, check: Callable[[Any], object] | None = None, metavar: str = "") -> Any:
    """A dataclass field that is also a command-line option of its task (its type is the field's annotation).

    ``check`` gets the converted value and raises ValueError for a bad one; it runs while parsing, so a bad
    value is a usage error before any model loads.
    """
    spec = {"help": help, "flag": flag, "choices": tuple(choices), "minimum": minimum, "maximum": maximum,
            "check": check, "metavar": metavar}
    return dataclasses.field(default=default, metadata={_KEY: spec})


def declared(options_class: type) -> list[Option]:
    """The command-line options an options dataclass declares with :func:`option`, in field order."""
    hints = typing.get_type_hints(options_class)
    return [Option(f.name, hints[f.name], f.default, **f.metadata[_KEY])
            for f in dataclasses.fields(options_class) if _KEY in f.metadata]


def from_signature(func: Callable[..., Any], skip: Sequence[str] = ()) -> list[Option]:
    """A user's pipeline function's options: its keyword parameters (``skip`` the run settings it may also name).

    The type is the annotation, else the default's type, else str; a parameter without a default is required.

    >>> def build(strength: float = 1.0, invert=False, label="x", variant="fast"): ...
    >>> [o.usage for o in from_signature(build, skip=["variant"])]
    ['--strength X', '--invert', '--label TEXT']
    """
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve: fall back to the defaults' types
        hints = {}
    found = []
    for p in inspect.signature(func).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        default = dataclasses.MISSING if p.default is p.empty else p.default
        kind = hints.get(p.name)
        if type(None) in typing.get_args(kind):  # int | None -> int
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if kind not in _TYPES:
            kind = type(default) if type(default) in _TYPES else str
        found.append(Option(p.name, kind, default))
    return found


def parse(words: Sequence[str], options: Sequence[Option], task: str,
          common: Sequence[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """Split command-line ``words`` into ``task``'s option values (by name) and the rest (inputs, in order).

    ``--flag VALUE`` and ``--flag=VALUE`` both work; a word that starts with ``-`` and is none of ``options`` is
    an :class:`OptionError` naming the task and listing its options (and the closest match among them and the
    ``common`` flags, if any).
    """
    by_flag = {o.flag: o for o in options}
    values: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word == "-":
            rest.append(word)
            continue
        flag, eq, text = word.partition("=")
        opt = by_flag.get(flag)
        if opt is None:
            raise OptionError(unknown(flag, options, task, common))
        if opt.type is bool:
            if eq:
                raise OptionError(f"{flag} is a switch: it takes no value")
            values[opt.name] = not opt.default
            continue
        if not eq:
            if i >= len(words):
                raise OptionError(f"{flag} needs a value: {opt.usage}")
            text = words[i]
            i += 1
        values[opt.name] = opt.convert(text)
    missing = [o.usage for o in options if o.required and o.name not in values]
    if missing:
        raise OptionError(f"{task} needs {', '.join(missing)}")
    return values, rest


def unknown(flag: str, options: Sequence[Option], task: str, common: Sequence[str] = ()) -> str:
    """One line: ``flag`` is not an option of ``task``; what its options are, and the nearest spelling."""
    listing = ", ".join(o.usage for o in options) if options else "none"
    close = difflib.get_close_matches(flag, [o.flag for o in options] + list(common), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{task} has no option {flag}{hint}; its options: {listing}"


def describe(options: Sequence[Option]) -> list[tuple[str, str]]:
    """``(usage, help)`` rows for a help screen, the default named where it says something."""
    rows = []
    for o in options:
        shown = "" if o.type is bool or o.required or o.default in ("", None) else f" (default: {o.default})"
        rows.append((o.usage, (o.help or "") + shown))
    return rows


def per_model(spec: str, models: Sequence[str], choices: Sequence[str], what: str = "value") -> dict[str, str]:
    """A value for every model: ``spec`` is one choice for all (``bf16``) or ``model=choice`` pairs
    (``det=bf16,rec=int8``; the models not named get the first choice). A bad spec is a ValueError saying
    what is right.

    >>> per_model("det=bf16,rec=int8", ("det", "cls", "rec"), ("f32", "bf16", "int8"))
    {'det': 'bf16', 'cls': 'f32', 'rec': 'int8'}
    >>> per_model("bf16", ("det", "rec"), ("f32", "bf16"))
    {'det': 'bf16', 'rec': 'bf16'}
    """
    if "=" not in spec:
        if spec not in choices:
            raise ValueError(f"{what} {spec!r}: use one of {', '.join(choices)}, or {models[0]}=...,{models[-1]}=...")
        return {m: spec for m in models}
    values = {m: choices[0] for m in models}
    for pair in spec.split(","):
        model, _, value = pair.strip().partition("=")
        if model not in models or value not in choices:
            raise ValueError(f"{what} {pair.strip()!r}: use MODEL=VALUE with MODEL one of {', '.join(models)} and "
                             f"VALUE one of {', '.join(choices)}")
        values[model] = value
    return values


def join_per_model(values: dict[str, str]) -> str:
    """The shortest spec :func:`per_model` reads back as ``values``: one word when every model agrees.

    >>> join_per_model({"det": "bf16", "cls": "bf16"}), join_per_model({"det": "bf16", "cls": "f32"})
    ('bf16', 'det=bf16,cls=f32')
    """
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ",".join(f"{k}={v}" for k, v in values.items())
