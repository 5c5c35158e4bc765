"""Command line of `report` (a saved session: console, --json, HTML, PNG) and `compare` (two sessions, a gate for
CI). cli.py registers them on the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli_tasks import WhatIfOpt, _fail, err
from .cli_tasks import out_console as _out


def _load(path: Path):
    from .profiling.session import Session

    try:
        return Session.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"{path}: {exc}", 2) from None


def _specs(what_if: str | None) -> list[str]:
    from .profiling.whatif import parse

    specs = [s.strip() for s in (what_if or "").split(",") if s.strip()]
    try:
        for spec in specs:
            parse(spec)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    return specs


def report(
    session_file: Path = typer.Argument(..., help="A session.json written by `sightspeed profile` (or run)."),
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

    session = _load(session_file)
    specs = _specs(what_if)
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
    before: Path = typer.Argument(..., help="A session.json: the baseline (A)."),
    after: Path = typer.Argument(..., help="A session.json: the change (B)."),
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
