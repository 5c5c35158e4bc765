"""Comparing two profiled Sessions on sessions built from an injected clock (known span durations, no real time)."""

from __future__ import annotations

import json
import math
import random
import re
import statistics

import pytest
from rich.console import Console

from sightspeed.profiling.session import Session, StageInfo
from sightspeed.profiling.sketch import QuantileSketch
from sightspeed.report import compare_html
from sightspeed.report.compare import SCHEMA, compare, parse_threshold, relative_se, render, to_dict

CEILINGS = {"mem_bw_1t": 20e9, "mem_bw_all": 30e9, "flops_1t": 100e9, "flops_all": 180e9}
MEANS = {"decode": 0.004, "model": 0.010, "encode": 0.003}  # seconds per span (one item per span)


def session_of(means: dict[str, float], seed: int, cpu: str = "Test CPU 9000", spans: int = 200,
               ceilings: dict | None = None, work: dict | None = None) -> Session:
    """A serial run of ``spans`` items through the stages: each span's duration is the stage's mean times a
    seeded log-normal factor (sd ~30%), read through the session's own (injected) clock."""
    rng = random.Random(seed)
    ticks, t = [], 0.0
    for _ in range(spans):
        for mean in means.values():
            ticks += [t, t + mean * rng.lognormvariate(-0.045, 0.3)]  # -sigma^2/2: the factor's mean is 1
            t = ticks[-1]
    session = Session(stages=[StageInfo(name) for name in means], clock=iter(ticks).__next__,
                      machine={"cpu": {"model": cpu, "logical_cores": 8}, "ceilings": ceilings or CEILINGS})
    for _ in range(spans):
        for name in means:
            start = session.now()
            end = session.now()
            session.record(name, start, end, items=1, cpu=end - start,
                           work=(work or {}).get(name, {"flops": 1e8}))
    session.wall_s = t
    return session


def by_name(comparison):
    return {s.name: s for s in comparison.stages}


def section(page: str, key: str) -> str:
    """The HTML of ``<section id=key>`` in a report page (AssertionError-free: ValueError when it is absent)."""
    start = page.index(f'<section id="{key}">')
    return page[start:page.index("</section>", start)]


def cells(html: str) -> dict[str, list[str]]:
    """The rows of the tables in ``html`` by their first cell, each the raw HTML of its other cells."""
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in html.split("<tr>")]
    return {row[0]: row[1:] for row in rows if row}


def offline(page: str) -> bool:
    """No script and no address to fetch (the SVG namespace is a name, not a request)."""
    return "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_same_distribution_is_no_change_everywhere():
    c = compare(session_of(MEANS, seed=1), session_of(MEANS, seed=2))
    assert {s.verdict for s in c.stages} == {"no change"} and c.end_to_end.verdict == "no change"
    assert not c.regressed() and not c.regressed(0.0) and c.warnings == []
    for s in c.stages:  # 200 spans with a 30% spread: each side's mean is known to ~2%; the band is 3 sigma
        assert 0.05 < s.noise < 0.15, s
        assert abs(s.change) < s.noise and s.bound_a == s.bound_b == "compute" and not s.bound_changed


def test_one_stage_slower_is_flagged_and_gates(tmp_path):
    a = session_of(MEANS, seed=1)
    b = session_of({**MEANS, "model": 1.3 * MEANS["model"]}, seed=2)
    # the path a user takes: both saved by `sightspeed profile`, then loaded
    c = compare(Session.load(a.save(tmp_path / "a.json")), Session.load(b.save(tmp_path / "b.json")))
    stages = by_name(c)
    assert stages["model"].verdict == "slower" and stages["model"].speedup == pytest.approx(1 / 1.3, rel=0.1)
    assert stages["decode"].verdict == stages["encode"].verdict == "no change"
    assert c.end_to_end.verdict == "slower" and c.end_to_end.noise < stages["model"].noise  # more spans, less noise
    assert c.regressed(0.05) and not c.regressed(0.5)  # 30% slower is not 50% slower
    assert [s.name for s in c.regressions(0.05)] == ["end-to-end", "model"]
    assert to_dict(c) == to_dict(compare(a, b))  # saving and loading loses nothing the comparison uses


def test_b_faster_is_not_a_regression():
    c = compare(session_of(MEANS, seed=3), session_of({k: v / 1.3 for k, v in MEANS.items()}, seed=4))
    assert {s.verdict for s in c.stages} == {"faster"} and c.end_to_end.verdict == "faster"
    assert c.end_to_end.speedup == pytest.approx(1.3, rel=0.05) and not c.regressed(0.0)


def test_stages_only_on_one_side_are_added_or_removed():
    b_means = {"decode": 0.004, "model": 0.010, "track": 0.002}
    c = compare(session_of(MEANS, seed=1), session_of(b_means, seed=2))
    assert c.added == ["track"] and c.removed == ["encode"]
    stages = by_name(c)
    assert stages["track"].ms_a is None and stages["track"].ms_b == pytest.approx(2.0, rel=0.1)
    assert stages["encode"].ms_b is None and not stages["encode"].regressed(0.0)


def test_a_bound_that_changes_is_shown():
    memory = {"model": {"mem_bytes": 1.9e8}}  # 190 MB at 20 GB/s: 9.5 ms of a ~10 ms span
    c = compare(session_of(MEANS, seed=1), session_of(MEANS, seed=2, work=memory))
    model = by_name(c)["model"]
    assert (model.bound_a, model.bound_b, model.bound_changed) == ("compute", "memory", True)


def test_different_machines_warn_and_show_both_ceilings():
    faster = {**CEILINGS, "mem_bw_all": 60e9}
    c = compare(session_of(MEANS, seed=1), session_of(MEANS, seed=2, cpu="Other CPU 1", ceilings=faster))
    assert len(c.warnings) == 1 and "different machines" in c.warnings[0] and "Other CPU 1" in c.warnings[0]
    assert c.machines["a"]["mem_bw_all"] == 30e9 and c.machines["b"]["mem_bw_all"] == 60e9
    console = Console(record=True, width=160)
    render(c, console)
    text = console.export_text()
    assert "Other CPU 1" in text and "60.0" in text and "different machines" in text


def test_compare_html_shows_both_machines_and_marks_the_regression(tmp_path):
    faster = {**CEILINGS, "mem_bw_all": 60e9, "flops_all": 400e9}
    slow = {**MEANS, "model": 1.3 * MEANS["model"]}
    c = compare(session_of(MEANS, seed=1), session_of(slow, seed=2, cpu="Other CPU 1", ceilings=faster))
    page = compare_html.write(c, tmp_path / "c.html", "a.json", "b.json").read_text()
    assert offline(page)
    machines = cells(section(page, "machines"))  # side: cpu, cores, mem 1t, mem all, fp32 1t, fp32 all
    assert machines["A"] == ["Test CPU 9000", "8", "20.0", "30.0", "100.0", "180.0"]
    assert machines["B"] == ["Other CPU 1", "8", "20.0", "60.0", "100.0", "400.0"]
    verdict = section(page, "verdict")
    assert "Regressed" in verdict and "different machines" in verdict and "B = b.json against A = a.json" in verdict
    stages = cells(section(page, "stages"))
    assert stages["model"][-1] == "<b style='color:#c00'>slower</b>"  # the regression, marked
    assert stages["end-to-end"][-1] == "<b style='color:#c00'>slower</b>"
    assert stages["decode"][-1] == "no change" and stages["encode"][-1] == "no change"
    same = compare_html.render(compare(session_of(MEANS, seed=1), session_of(MEANS, seed=2)))
    assert 'id="machines"' not in same and "No regression" in same and offline(same)


def test_to_dict_is_json_with_the_schema():
    b = session_of({**MEANS, "model": 1.3 * MEANS["model"], "track": 0.002}, seed=2)
    c = compare(session_of(MEANS, seed=1), b)
    data = json.loads(json.dumps(to_dict(c), allow_nan=False))
    assert data["schema"] == SCHEMA == "sightspeed.compare/1" and data["regressed"] is True
    rows = {r["name"]: r for r in data["stages"]}
    assert rows["model"]["verdict"] == "slower" and rows["model"]["regressed"] is True
    assert rows["track"]["verdict"] == "added" and rows["track"]["speedup"] is None
    assert data["end_to_end"]["ms_a"] == pytest.approx(17.0, rel=0.05)  # 4 + 10 + 3 ms per item, serial


def test_render_highlights_the_regression():
    c = compare(session_of(MEANS, seed=1), session_of({**MEANS, "model": 1.3 * MEANS["model"]}, seed=2))
    console = Console(record=True, width=160, force_terminal=True, color_system="standard")
    render(c, console)
    text = console.export_text(clear=False)
    assert "end-to-end" in text and "slower" in text and "regressed: end-to-end, model" in text
    styled = console.export_text(styles=True).splitlines()
    rows = {plain.split()[1]: line for plain, line in zip(text.splitlines(), styled) if plain.startswith("│")}
    bold_red = "\x1b[1;31m"
    assert bold_red in rows["model"] and bold_red in rows["end-to-end"] and bold_red not in rows["decode"]


def test_a_single_span_stage_warns_that_it_has_no_spread():
    c = compare(session_of(MEANS, seed=1, spans=1), session_of(MEANS, seed=2, spans=1))
    assert c.warnings and all("one span" in w for w in c.warnings)


def test_relative_se_from_the_sketch_matches_the_values():
    rng = random.Random(5)
    values = [rng.lognormvariate(-5, 0.5) for _ in range(5000)]
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    exact = statistics.stdev(values) / (statistics.fmean(values) * math.sqrt(len(values)))
    assert relative_se(sketch) == pytest.approx(exact, rel=0.02)
    single = QuantileSketch()
    single.add(1.0)
    assert relative_se(single) is None


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), ("5 %", 0.05), (" 12.5% ", 0.125),
                                         ("0%", 0.0), (".1", 0.1)])
def test_parse_threshold(text, value):
    assert parse_threshold(text) == value


@pytest.mark.parametrize("text", ["", "five", "5", "-5%", "5%%", "%"])
def test_parse_threshold_rejects(text):
    with pytest.raises(ValueError, match="threshold"):
        parse_threshold(text)
