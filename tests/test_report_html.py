"""The report people read: the verdict computed from the numbers, `report --json` against its schema, the HTML
file's size budget, `compare` as a CI gate, and the HTML opened in a real headless Chromium (skipped with the reason
where Playwright or a Chromium is missing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sightspeed.profiling.session import Session, StageInfo
from sightspeed.profiling.verdict import verdict
from sightspeed.report import browser, html
from sightspeed.report.summary import SCHEMA, schema, summarize

from test_compare import MEANS, cells, offline, section, session_of

jsonschema = pytest.importorskip("jsonschema")
CEILINGS = {"mem_bw_1t": 20e9, "mem_bw_all": 30e9, "flops_1t": 100e9, "flops_all": 180e9, "disk_read": 2e9,
            "jpeg_decode": 200e6, "jpeg_encode": 100e6}
SECTIONS = ["verdict", "config", "time", "roofline", "bounds", "hotspots", "what-if", "timeline"]


TUNE = {  # the shape `tune --html` puts in the session (TuneResult.as_dict(), cli_tune.write_html)
    "task": "synthetic", "objective": "throughput", "chosen": "batch 4", "speedup_vs_default": 1.42,
    "trials": [{"candidate": c, "phase": phase, "items_per_s": rate, "p50_ms": p50, "p95_ms": p50 and 1.5 * p50,
                "fidelity": fidelity, "pass": ok, "skipped": skipped, "error": None}
               for c, phase, rate, p50, fidelity, ok, skipped in [
                   ("default", "default", 100.0, 20.0, "identical", True, None),
                   ("batch 2", "batch", 140.0, 28.0, "identical", True, None),
                   ("batch 4", "batch", 200.0, 40.0, "identical", True, None),
                   ("lossy", "backends", 210.0, 38.0, "mean |diff| 6.0", False, None),
                   ("int8", "runtime", None, None, None, False, "no native int8 on this CPU")]],
    "curves": {"batch": {"points": [{"batch": b, "stage": "conv", "ms_per_item": ms, "items_per_s": 1000 / ms}
                                    for b, ms in [(1, 10.0), (2, 7.0), (4, 5.0)]],
                         "reason": "batch 4 cuts conv from 10.0 to 5.0 ms per item"}},
}


def synthetic(items: int, stages=("decode", "conv", "blend"), cores: int = 2) -> Session:
    """A pipelined run of ``items`` on two worker threads: conv is the slowest stage by far (compute-bound at 25%
    of the 1-thread peak), blend moves memory, decode is a codec; times are given, not measured."""
    s = Session(machine={"ceilings": CEILINGS, "cpu": {"model": "Test CPU", "available_cores": cores}},
                stages=[StageInfo(n, workers=2) for n in stages], config={"pipeline": "synthetic", "task": "synthetic"})
    per = {"decode": (0.002, {"jpeg_pixels": 2e5}), "conv": (0.010, {"flops": 2.5e8}),
           "blend": (0.003, {"mem_bytes": 3e7})}
    t = 0.0
    for k in range(items):
        thread = f"worker-{k % 2}"
        for name in stages:
            duration, work = per[name]
            s.record(name, t, t + duration, items=1, cpu=duration, work=work, thread=thread, bytes_in=10**6)
            t += duration
        if k % 2:
            t -= sum(per[n][0] for n in stages)  # two workers side by side
        t += 0.0001
    s.wall_s = t
    s.hotspots = {"conv": [{"function": "conv2d", "where": "model.py:10", "calls": items, "own_ms": 9.0 * items,
                            "share": 0.9, "python_share": 0.1}]}
    return s


# ----- the verdict is computed, not templated ------------------------------------------------------------------

def _one_stage(bound: str) -> Session:
    s = Session(machine={"ceilings": CEILINGS, "cpu": {"model": "Test CPU", "available_cores": 2}},
                config={"task": "portrait"}, stages=[StageInfo("stage", threads=2)])
    for k in range(50):
        t = 0.02 * k
        if bound == "memory":  # 0.5 GB in 20 ms = 25 GB/s, 83% of 30 GB/s
            s.record("stage", t, t + 0.02, items=1, cpu=0.04, work={"mem_bytes": 5e8}, saturation=0.2)
        elif bound == "compute":  # 0.72 GFLOP in 20 ms = 36 GFLOP/s, 20% of 180
            s.record("stage", t, t + 0.02, items=1, cpu=0.04, work={"flops": 7.2e8}, saturation=0.2)
        else:  # 2 threads got 0.6 cores while preempted 100 times a second and the cores were full
            s.record("stage", t, t + 0.02, items=1, cpu=0.012, work={"flops": 1e8}, preempted=2, saturation=1.0)
    s.wall_s = 1.0
    return s


def test_three_bounds_give_three_first_steps_quoting_their_numbers():
    memory, compute, over = (verdict(_one_stage(b)) for b in ("memory", "compute", "oversubscribed"))
    assert (memory.bound, compute.bound, over.bound) == ("memory", "compute", "oversubscribed")
    assert len({memory.first_step, compute.first_step, over.first_step}) == 3
    assert "500.0 MB per item at 25.0 GB/s, 83% of the memory bandwidth" in memory.first_step
    assert "fewer bytes" in memory.first_step
    assert "0.72 GFLOP per item at 36 GFLOP/s, 20% of this CPU's f32 peak" in compute.first_step
    assert "sightspeed tune portrait" in compute.first_step
    assert "0.60 cores of CPU for its 2 threads" in over.first_step and "100 times a second" in over.first_step
    assert "--cores 2" in over.first_step
    for v in (memory, compute, over):
        assert v.text.endswith(v.first_step) and "ran 50 items in 1.00 s" in v.text


def test_the_verdict_names_the_slowest_stage():
    v = verdict(synthetic(200))
    assert v.stage == "conv" and v.numbers["limiting_stage"] == "conv" and "conv" in v.text.split("First")[0]


# ----- --json -------------------------------------------------------------------------------------------------

def test_summary_validates_against_its_schema_and_keeps_what_if_modelled():
    data = json.loads(json.dumps(summarize(synthetic(100), ["cpu:2x", "gpu:t4"])))
    jsonschema.validate(data, schema())
    assert data["schema"] == SCHEMA and [s["name"] for s in data["stages"]] == ["decode", "conv", "blend"]
    conv = data["stages"][1]
    assert conv["bound"] == "compute" and conv["flops_per_item"] == pytest.approx(2.5e8)
    assert conv["intensity"] == pytest.approx(2.5e8 / 1e6)
    assert all(r["modelled"] for r in data["what_if"]) and data["what_if"][0]["measured_per_s"] > 0
    assert "measured_per_s" not in data["what_if"][1]


def calls_only(calls: int = 30) -> Session:
    """A profiled script's session: two stages that count calls, not items (one moves declared bytes)."""
    s = Session(machine={"ceilings": CEILINGS, "cpu": {"model": "Test CPU", "available_cores": 2}},
                config={"pipeline": "app.py"})
    for k in range(calls):
        s.record("load", 0.02 * k, 0.02 * k + 0.005, cpu=0.005, work={"mem_bytes": 5e7})
        s.record("step", 0.02 * k + 0.005, 0.02 * k + 0.019, cpu=0.014)
    s.wall_s = 0.02 * calls
    return s


def rates(data, key: str = "") -> list:
    """Every value under a key ending in ``_per_s``, anywhere in the document."""
    if isinstance(data, dict):
        return [v for k, x in data.items() for v in rates(x, k)]
    if isinstance(data, list):
        return [v for x in data for v in rates(x, key)]
    return [data] if key.endswith("_per_s") else []


def test_a_session_without_items_shows_calls_and_no_rate_of_items():
    session = calls_only()
    page = html.render(session, ["cpu:2x", "gpu:t4"])
    assert "items/s" not in page and "ms/item" not in page and "0.00x" not in page
    what_if = section(page, "what-if")
    assert "not modelled: no stage counted items" in what_if and "<svg" not in what_if and "(modelled)" not in what_if
    bounds = section(page, "bounds")
    assert "<th>ms/call</th>" in bounds and "<th>MB/call</th>" in bounds
    assert cells(bounds)["load"][:2] == ["30", "5.00"] and cells(bounds)["load"][5] == "50.00"  # calls, ms, MB
    assert "14.0 ms/call" in section(page, "time") and "5.00 ms/call" in section(page, "time")
    assert "time per call" in section(page, "time")
    data = json.loads(json.dumps(summarize(session, ["cpu:2x", "gpu:t4"])))
    jsonschema.validate(data, schema())
    assert data["what_if"] == [] and data["what_if_not_modelled"].startswith("not modelled: no stage counted items")
    assert data["items"] == 0 and 0.0 not in rates(data) and rates(data) == [None]  # items_per_s: null
    assert {s["name"]: s["per"] for s in data["stages"]} == {"load": "call", "step": "call"}
    with_items = summarize(synthetic(100))
    assert with_items["what_if_not_modelled"] is None and with_items["what_if"][0]["pipelined_per_s"] > 0


def test_a_stage_without_items_beside_stages_with_them_is_shown_per_call():
    session = synthetic(40)
    for k in range(3):  # e.g. loading a model: 20 ms and 5 MB a call, no item
        session.record("load", 0.001 * k, 0.001 * k + 0.02, cpu=0.02, work={"mem_bytes": 5e6})
    page = html.render(session)
    bounds = section(page, "bounds")
    assert "<th>ms/item</th>" in bounds
    load, conv = cells(bounds)["load"], cells(bounds)["conv"]
    assert load[1] == "20.00 <span class=note>per call</span>" and load[5] == "5.00 <span class=note>per call</span>"
    assert conv[1] == "10.00" and "per call" not in "".join(conv)
    time = section(page, "time")
    assert "no items: 20.00 ms per call (3 calls)" in time and ">0.00 ms/item" not in time


def test_a_script_profile_has_calls_not_items_and_still_validates():
    s = Session(machine={"ceilings": CEILINGS})
    for k in range(30):
        s.record("step", 0.01 * k, 0.01 * k + 0.009, cpu=0.009)
    s.wall_s = 0.3
    data = summarize(s)
    jsonschema.validate(json.loads(json.dumps(data)), schema())
    assert data["items"] == 0 and data["items_per_s"] is None and data["stages"][0]["per"] == "call"
    assert "ran 30 stage calls" in data["verdict"]["text"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_report_json_from_the_command_line(tmp_path):
    synthetic(100).save(tmp_path / "session.json")
    done = run_cli("report", "session.json", "--json", "--what-if", "cores:8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, schema())
    assert [r["machine"] for r in data["what_if"]] == ["now", "cores:8"]
    bad = run_cli("report", "nothing.json", "--json", cwd=tmp_path)
    assert bad.returncode == 2 and "nothing.json" in bad.stderr


# ----- the HTML: self-contained and within its size budget --------------------------------------------------------

@pytest.mark.parametrize("items, budget", [(1_000, 1 << 20), (100_000, 2 << 20)])
def test_html_size_budget(items, budget):
    session = synthetic(items)
    assert session.spans_seen == 3 * items
    page = html.render(session, ["cpu:2x", "gpu:t4"])
    assert len(page.encode()) <= budget
    for key in SECTIONS:
        assert f'<section id="{key}">' in page
    assert offline(page)


def test_the_page_says_what_each_figure_is():
    page = html.render(synthetic(5), ["cpu:2x"], trace="trace.json")  # 5 items: too few to trust
    assert page.index("<section") == page.index('<section id="verdict">')  # the verdict first
    verdict_ = section(page, "verdict")
    assert "<div class=warn>only 5 items went through the busiest stage (conv)" in verdict_
    assert "<div class=warn>the run took" in verdict_
    what_if = section(page, "what-if")
    assert "now (modelled)</text>" in what_if and "cpu:2x (modelled)</text>" in what_if
    measured = 5 / synthetic(5).wall_s
    assert f"measured now: {measured:.1f} items/s</text>" in what_if and 'stroke-dasharray="4 3"' in what_if
    assert "conv2d" in section(page, "hotspots") and "model.py:10" in section(page, "hotspots")
    config = section(page, "config")
    assert "<dd>Test CPU (2 cores for this run)</dd>" in config
    assert "<dd>decode 2x1, conv 2x1, blend 2x1</dd>" in config
    assert "2x1, cpu/wall 1.00</text>" in section(page, "time")
    timeline = section(page, "timeline")
    assert '<a href="trace.json">trace.json</a>' in timeline and "open it in Perfetto" in timeline
    assert "ui.perfetto.dev" in timeline and "chrome://tracing" in timeline
    assert "trace.json" not in html.render(synthetic(5), trace=None)


def test_the_roofline_names_the_stages_it_leaves_out():
    roof = section(html.render(synthetic(100)), "roofline")
    assert "<title>conv:" in roof and "<title>blend:" not in roof and "<title>decode:" not in roof
    note = roof[roof.index("Not placed"):]
    assert "blend (memory): bytes only, 10.0 GB/s of 20.0 GB/s memory bandwidth" in note
    assert "decode (" in note and "conv" not in note
    nothing = Session(machine={"ceilings": CEILINGS})
    nothing.record("wait", 0.0, 0.01, items=1)
    nothing.wall_s = 0.01
    roof = section(html.render(nothing), "roofline")
    assert "No roofline: no stage declared both FLOPs and bytes" in roof and "no FLOPs or bytes counted" in roof


def test_tunes_candidates_and_batch_curve():
    session = synthetic(40)
    session.config["tune"] = TUNE
    page = html.render(session)
    assert page.index('<section id="what-if">') < page.index('<section id="tune">') < page.index('id="timeline"')
    tune = section(page, "tune")
    rows = cells(tune)
    assert rows["batch 4 <b>(chosen)</b>"][:2] == ["batch", "200.00"] and "default" in rows
    assert rows["lossy"][-1] == "FAIL" and rows["int8"][-2:] == ["no native int8 on this CPU", "-"]
    assert "<b>batch 4</b>, 1.42x the default" in tune and "batch 4 cuts conv from 10.0 to 5.0 ms per item" in tune
    chart = tune[tune.index('<svg class="chart lines"'):tune.index("</svg>") + 6]
    assert "<title>batch curve: batch</title>" in chart and "batch size" in chart and "ms per item" in chart
    (line,) = re.findall(r'<polyline points="([^"]+)"', chart)
    ys = [float(p.split(",")[1]) for p in line.split()]
    assert len(ys) == 3 and ys[0] < ys[1] < ys[2]  # 10 -> 7 -> 5 ms: each point lower (SVG y grows down)
    assert [t for t in ("1", "2", "4") if f">{t}</text>" in chart] == ["1", "2", "4"]  # the batch sizes
    assert 'id="tune"' not in html.render(synthetic(40))  # no tune, no section


def test_tune_html_flag_writes_the_report(tmp_path, monkeypatch, sample_paths):
    """`tune --html` wired end to end through the CLI, the search replaced by a made-up result (no model runs)."""
    from typer.testing import CliRunner

    import sightspeed.tune.search as search
    from sightspeed.cli import app
    from sightspeed.tune.fidelity import Fidelity
    from sightspeed.tune.space import Candidate
    from sightspeed.tune.trial import Trial

    def trial(label, phase, candidate, seconds):
        return Trial(label, phase, candidate, times=[seconds] * 2, items=40, latencies_ms=[25.0] * 40,
                     fidelity=Fidelity(True, "identical"), session=synthetic(40))

    default = trial("default", "default", Candidate(), 1.0)
    best = trial("batch 4", "batch", Candidate(batch_size=4), 0.7)
    result = search.TuneResult("portrait", "throughput", 60.0, trials=[default, best], default=default, best=best,
                               final={"default": [1.0, 1.0], "batch 4": [0.7, 0.7]}, curves=TUNE["curves"])
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(search, "tune", lambda *args, **kwargs: result)
    done = CliRunner().invoke(app, ["tune", "portrait", sample_paths[0], "-o", str(tmp_path / "tuned.toml"),
                                    "--html", str(tmp_path / "tune.html")])
    assert done.exit_code == 0, done.output
    page = (tmp_path / "tune.html").read_text()
    assert "<title>sightspeed: portrait (tuned: batch 4)</title>" in page
    tune = section(page, "tune")
    assert "batch 4 <b>(chosen)</b>" in tune and "1.43x the default" in tune and "<title>batch curve: batch" in tune
    assert '<section id="bounds">' in page and offline(page)


# ----- compare as a gate ---------------------------------------------------------------------------------------

def test_compare_gates_a_regression_from_the_command_line(tmp_path):
    session_of(MEANS, seed=1).save(tmp_path / "a.json")
    session_of(MEANS, seed=2).save(tmp_path / "same.json")
    session_of({**MEANS, "model": 1.3 * MEANS["model"]}, seed=3).save(tmp_path / "slow.json")
    same = run_cli("compare", "a.json", "same.json", "--fail-if-slower", "5%", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    slow = run_cli("compare", "a.json", "slow.json", "--fail-if-slower", "5%", "--json", "-o", "c.html",
                   cwd=tmp_path)
    assert slow.returncode == 1, slow.stdout + slow.stderr
    data = json.loads(slow.stdout)
    assert {s["name"]: s["verdict"] for s in data["stages"]}["model"] == "slower"
    assert "model" in (tmp_path / "c.html").read_text()
    without_gate = run_cli("compare", "a.json", "slow.json", cwd=tmp_path)
    assert without_gate.returncode == 0 and "slower" in without_gate.stdout
    assert run_cli("compare", "a.json", "slow.json", "--fail-if-slower", "five", cwd=tmp_path).returncode == 2


# ----- in a real browser ---------------------------------------------------------------------------------------

needs_browser = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SIGHTSPEED_TEST_ARTIFACTS", tmp_path / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_in_browser(path: Path, shot: Path) -> dict:
    """Open ``path`` from file:// and read what a user would see; every request and console message recorded."""
    requests, problems = [], []
    with browser.page() as page:
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(path.resolve().as_uri())
        page.screenshot(path=str(shot), full_page=True)
        seen = {
            "sections": page.eval_on_selector_all("section", "els => els.map(e => e.id)"),
            "verdict": page.inner_text("#verdict .verdict"),
            "chart_texts": page.eval_on_selector_all(
                "svg.chart", "els => els.map(e => [e.getBoundingClientRect().width, e.textContent])"),
            "title": page.title(),
        }
    seen["requests"], seen["problems"] = requests, problems
    return seen


@needs_browser
def test_the_html_report_in_chromium(tmp_path):
    session = synthetic(1_000)
    session.config["tune"] = TUNE
    path = html.write(session, tmp_path / "report.html", ["cpu:2x", "gpu:t4"])
    seen = open_in_browser(path, artifacts(tmp_path) / "report-synthetic.png")
    assert seen["problems"] == [] and seen["requests"] == [path.resolve().as_uri()]
    assert seen["sections"] == SECTIONS[:-1] + ["tune", "timeline"]  # in order, the verdict first
    assert "conv sets the pace" in seen["verdict"] or "conv used the most CPU" in seen["verdict"]
    charts = seen["chart_texts"]
    assert len(charts) >= 4 and all(width > 100 for width, _ in charts)
    for name in ("decode", "conv", "blend"):  # the stage names are text in the time chart and the timeline
        assert sum(name in text for _, text in charts) >= 2
    assert any(text.startswith("roofline") and "conv" in text for _, text in charts)  # the one stage with FLOPs
    assert any(text.startswith("batch curve: batch") and "ms per item" in text for _, text in charts)


@needs_browser
def test_profile_html_and_png_export_of_a_real_run(tmp_path, sample_paths):
    """The real path: `profile portrait --html` on photos, then `report --png`; the pictures are real PNGs."""
    done = run_cli("profile", "portrait", *sample_paths, "-o", "prof", "--html", "--what-if", "gpu:t4",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "prof" / "report.html"
    seen = open_in_browser(report, artifacts(tmp_path) / "report-portrait.png")
    assert seen["problems"] == [] and seen["requests"] == [report.resolve().as_uri()]
    assert set(SECTIONS) <= set(seen["sections"])
    assert 'href="trace.json"' in report.read_text()
    export = run_cli("report", "prof/session.json", "-o", "prof/again.html", "--png", "pics", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    pictures = sorted(p.name for p in (tmp_path / "pics").glob("*.png"))
    assert {"report.png", "roofline.png", "time.png", "timeline.png", "what-if.png"} <= set(pictures)
    for name in pictures:
        assert (tmp_path / "pics" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_console_report_ends_with_the_same_verdict():
    from rich.console import Console

    from sightspeed.report.profile_console import render

    session = synthetic(100)
    out = Console(record=True, width=400)
    render(out, session, ["cpu:2x"])
    last = out.export_text().strip().splitlines()[-1]
    assert last == f"verdict: {verdict(session).text}" and "conv" in last


def test_an_unannotated_script_is_judged_on_what_the_sampler_saw_outside_stages():
    """Most of the time outside every stage (numpy work on one line): the verdict names that line, not the
    implicit decode stage that is the slowest of the stages."""
    s = Session(machine={"ceilings": CEILINGS}, config={"pipeline": "before.py"})
    for k in range(40):
        s.record("image decode", 0.05 * k, 0.05 * k + 0.01, items=1, cpu=0.01, work={"jpeg_pixels": 2e5})
    s.wall_s = 2.0
    s.breakdown = {"numpy/OpenCV": {"wall_s": 1.5, "cpu_s": 1.4, "share": 0.75},
                   "image decode": {"wall_s": 0.4, "cpu_s": 0.4, "share": 0.2, "stages": ["image decode"]}}
    s.lines = {"(script)": [{"file": "before.py", "line": 9, "function": "<module>", "code": "y = x ** 1.2",
                             "columns": [4, 12], "samples": 200, "share": 0.8, "category": "numpy/OpenCV"}]}
    v = verdict(s)
    assert v.stage == "(script)" and v.numbers["line"] == "before.py:9"
    assert "75% of the time (1.50 s) went to numpy/OpenCV outside any stage" in v.first_step
    assert "before.py:9 `y = x ** 1.2`" in v.first_step and "float64" in v.first_step
    s.breakdown["numpy/OpenCV"].update(wall_s=0.1, share=0.05)  # a small remainder: the stages decide again
    assert verdict(s).stage == "image decode"


def test_a_session_without_ceilings_says_so_once():
    s = synthetic(50)
    s.machine.pop("ceilings")
    v = verdict(s)
    assert "no machine ceilings" in v.first_step and "sightspeed machine" in v.first_step
    assert summarize(s)["notes"] == []  # no per-stage "no f32 ceiling measured" notes
