"""Command line of `report` (a saved session: console, --json, HTML, PNG) and `compare` (two sessions, a gate for
CI). cli.py registers them on the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli_tasks import WhatIfOpt, _fail, err, what_if_specs
from .cli_tasks import out_console as _out


def _load(path: Path):
    """The Session saved at ``path``; anything else is a usage error (exit 2, one line) before anything prints."""
    from .profiling.session import Session

    hint = "give a session.json written by `sightspeed run` or `sightspeed profile`"
    if path.is_dir():
        raise _fail(f"{path} is a folder: {hint}" + (f" ({path / 'session.json'})" if (path / "session.json")
                                                     .is_file() else ""), 2)
    if not path.exists():
        raise _fail(f"{path}: no such file; {hint}", 2)
    try:
        return Session.load(path)
    except json.JSONDecodeError as exc:
        raise _fail(f"{path} is not a session: not JSON ({exc.msg}, line {exc.lineno}); {hint}", 2) from None
    except UnicodeDecodeError:
        raise _fail(f"{path} is not a session: not a text file; {hint}", 2) from None
    except OSError as exc:
        raise _fail(f"{path}: {exc.strerror or exc}", 2) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON, but not a session's
        raise _fail(f"{path}: {exc}" if "session" in str(exc) else f"{path} is not a session ({exc}); {hint}",
                    2) from None


def report(
    session_file: Path = typer.Argument(..., metavar="SESSION", help="A session.json written by `sightspeed "
                                        "profile` (or run)."),
    what_if: WhatIfOpt = None,
    out: Optional[Path] = typer.Option(None, "-o", "--out", "--html", help="Write the HTML report there: one "
                                       "self-contained file, no network (charts inline)."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON (schema sightspeed.report/1, "
                                 "see docs/profiling.md) instead of the console report."),
    png: Optional[Path] = typer.Option(None, "--png", help="Also save PNG pictures of the HTML report and each of "
                                       "its charts into this folder (needs the report extra and a Chromium)."),
) -> None:
    """Render a saved profiling session: the console report (default), --json for scripts, -o for HTML."""
    from .report import html
    from .report.profile_console import render
    from .report.summary import summarize

    specs = what_if_specs(what_if)  # every check before the first line of the report
    session = _load(session_file)
    if as_json:
        print(json.dumps(summarize(session, specs), indent=1, default=str))
    else:
        render(_out(), session, specs)
    if png and not out:  # the pictures' own HTML, beside them
        out = png / "report.html"
    if out:
        trace = session_file.with_name("trace.json")
        written = html.write(session, out, specs, str(trace))
        err.print(f"wrote {written}")
    if png:
        from .errors import SightspeedError
        from .report.browser import export_png

        try:
            pictures = export_png(out, png)
        except SightspeedError as exc:
            raise _fail(f"--png: {exc}", 1) from None
        err.print("wrote " + ", ".join(str(p) for p in pictures))


def compare(
    before: Path = typer.Argument(..., metavar="A", help="A session.json: the baseline (A)."),
    after: Path = typer.Argument(..., metavar="B", help="A session.json: the change (B)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (schema sightspeed.compare/1)."),
    out: Optional[Path] = typer.Option(None, "-o", "--html", help="Also write it as a self-contained HTML file."),
    fail_if_slower: Optional[str] = typer.Option(None, "--fail-if-slower", help="Exit 1 when end-to-end or any "
                                                 "stage is slower by more than this (e.g. 5%) and beyond its noise."),
) -> None:
    """Compare two profiles stage by stage (B against A): speed-ups with a noise band from the spans' own spread,
    bound changes, regressions. With --fail-if-slower it is a gate for CI."""
    from .report import compare as cmp

    threshold = 0.05
    if fail_if_slower is not None:
        try:
            threshold = cmp.parse_threshold(fail_if_slower)
        except ValueError as exc:
            raise _fail(f"--fail-if-slower: {exc}", 2) from None
    result = cmp.compare(_load(before), _load(after), threshold)
    if as_json:
        print(json.dumps(cmp.to_dict(result), indent=1, default=str))
    else:
        cmp.render(result, _out())
    if out:
        from .report.compare_html import write

        err.print(f"wrote {write(result, out, str(before), str(after))}")
    if fail_if_slower is not None and result.regressed(threshold):
        raise typer.Exit(1)
