"""The profile report's numbers say what they are: modelled vs measured, too few to trust, units, per call where no
items were counted, and none of sightspeed's own frames among the hotspots."""

from __future__ import annotations

import json

from rich.console import Console

import sightspeed
from sightspeed.profiling import trust
from sightspeed.profiling.instruments import PERF_EVENTS
from sightspeed.profiling.session import Session, StageInfo
from sightspeed.report import profile_console


def rendered(session: Session, what_if: list[str] | None = None) -> str:
    console = Console(record=True, width=250)
    profile_console.render(console, session, what_if)
    return console.export_text()


def rows(text: str) -> dict[str, list[str]]:
    """Table rows of rendered text, by their first cell."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    return {row[0]: row[1:] for row in cells if row}


def header(text: str, first: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("┃") and line.split("┃")[1].strip() == first)
    return [c.strip() for c in line.split("┃")[1:-1]]


def pipeline_run(items: int = 4, wall_s: float = 0.5, span_limit: int = 10_000) -> Session:
    """A two-stage run recorded span by span (times given, not measured)."""
    s = Session(clock=iter([0.0] * 10).__next__, span_limit=span_limit, wall_s=wall_s,
                config={"pipeline": "demo"}, stages=[StageInfo("decode"), StageInfo("detect")],
                machine={"cpu": {"available_cores": 2}})
    step = wall_s / items
    for k in range(items):
        s.record("decode", step * k, step * k + step / 4, items=1, cpu=step / 4)
        s.record("detect", step * k + step / 4, step * k + step / 2, items=1, cpu=step / 4)
    return s


def user_step(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


# 1. what-if: every row is a model; the measured rate stands beside "now" ------------------------------------------

def test_the_now_row_is_labelled_modelled_and_shows_the_measured_rate():
    out = rendered(pipeline_run(items=4, wall_s=0.5), ["cpu:2x"])
    title = next(line for line in out.splitlines() if line.startswith("what-if"))
    assert "modelled" in title
    assert "measured items/s" in header(out, "machine")
    table = rows(out[out.index(title):])
    now, faster = table["now (modelled)"], table["cpu:2x"]
    measured = header(out, "machine").index("measured items/s") - 1
    assert now[measured] == "8.0"  # 4 items / 0.5 s wall, measured
    assert now[1] != now[measured]  # the model (each stage back to back: 16/s) is not the measurement
    assert faster[measured] == ""  # only "now" was measured
    assert "now" not in rows(out)  # no bare "now" row that reads as a measurement


# 2. too few to trust -----------------------------------------------------------------------------------------------

def test_a_short_small_profile_warns_in_plain_sentences():
    small = pipeline_run(items=4, wall_s=0.5)
    found = trust.warnings(small)
    assert any("only 4 items went through the busiest stage" in w for w in found)
    assert any("the run took 0.50 s" in w for w in found)
    few = [w for w in found if f"fewer than {trust.MIN_STAGE_CALLS}" in w and w.startswith("stage")]
    assert len(few) == 1 and ("detect (4 calls)" in few[0] or few[0].startswith("stage detect ran 4 times"))
    assert "decode" not in few[0]  # decode, the busiest, is named once (above), every other stage in one sentence
    assert trust.warnings(Session.from_dict(json.loads(json.dumps(small.to_dict())))) == found  # saved alike
    out = " ".join(rendered(small).split())
    assert "warning: only 4 items went through the busiest stage (decode)" in out
    assert "warning: the run took 0.50 s" in out


def test_a_large_enough_run_has_no_warnings_even_when_its_spans_were_sampled():
    big = pipeline_run(items=200, wall_s=5.0, span_limit=50)
    assert big.spans_seen > len(big.spans)  # the timeline keeps a sample; the totals count every span
    assert trust.warnings(big) == []
    assert "warning:" not in rendered(big)


def test_thresholds_are_where_the_module_says():
    just = pipeline_run(items=trust.MIN_ITEMS, wall_s=trust.MIN_WALL_S)
    assert trust.warnings(just) == []
    short = pipeline_run(items=trust.MIN_ITEMS - 1, wall_s=trust.MIN_WALL_S)
    assert [w.split(":")[0] for w in trust.warnings(short)] == [
        f"only {trust.MIN_ITEMS - 1} items went through the busiest stage (decode)"]
    one = pipeline_run(items=100, wall_s=2.0)
    one.record("load", 0.0, 0.1, items=0)
    assert trust.warnings(one) == [f"stage load ran 1 time: its figures are from fewer than {trust.MIN_STAGE_CALLS} "
                                   "calls"]
    assert trust.warnings(Session(wall_s=3.0))[0].startswith("no stage recorded a call")


# 3. units ----------------------------------------------------------------------------------------------------------

def test_perf_counters_print_with_their_units():
    s = pipeline_run(items=40, wall_s=2.0)
    s.counters.update({"perf.task-clock": 1523.7, "perf.page-faults": 7890.0, "perf.context-switches": 42.0,
                       "perf.cpu-migrations": 3.0})
    line = next(line for line in rendered(s).splitlines() if line.startswith("perf"))
    assert "task-clock 1,524 ms CPU" in line  # perf stat's task-clock is in msec
    assert "page-faults 7,890 faults" in line and "context-switches 42 switches" in line
    assert "cpu-migrations 3 migrations" in line
    assert set(PERF_EVENTS) <= set(profile_console.PERF_UNITS)  # every event the profiler asks perf for has one


# 4. items/s only where items were counted --------------------------------------------------------------------------

def test_stages_without_items_show_calls_and_ms_per_call():
    with sightspeed.profile(hotspots=False) as session:
        for _ in range(3):
            with sightspeed.stage("load", items=0):
                user_step(100)
            with sightspeed.stage("infer", items=0):
                user_step(200)
    assert {name: (st["calls"], st["items"]) for name, st in session.stage_summary().items()} == {
        "load": (3, 0), "infer": (3, 0)}
    out = rendered(session, ["cpu:2x"])
    title = out.splitlines()[0]
    assert "items/s" not in title and "no items counted" in title
    assert "load 3 in" in title and "infer 3 in" in title
    cols = header(out, "stage")
    assert "ms/call" in cols and "MB/call" in cols and "ms/item" not in cols
    ms = rows(out)["load"][cols.index("ms/call") - 1]
    assert ms != "-" and float(ms) > 0
    assert "0.00 items/s" not in out and "what-if: not modelled: no stage counted items" in out


def test_stages_count_items_only_where_declared_when_the_profile_counts_calls():
    @sightspeed.stage("decorated")
    def decorated() -> int:
        return user_step(10)

    def counted(session: Session) -> dict[str, tuple[int, int]]:
        return {name: (st["calls"], st["items"]) for name, st in session.stage_summary().items()}

    with sightspeed.profile(hotspots=False, stage_items=0) as calls:  # as a profiled script and %sightspeed do
        for _ in range(3):
            with sightspeed.stage("step"):
                user_step(10)
            with sightspeed.stage("batch", items=4):
                user_step(10)
            decorated()
    assert counted(calls) == {"step": (3, 0), "batch": (3, 12), "decorated": (3, 0)}
    with sightspeed.profile(hotspots=False) as items:  # the default again: one item a call
        with sightspeed.stage("step"):
            user_step(10)
        decorated()
    assert counted(items) == {"step": (1, 1), "decorated": (1, 1)}


def test_a_stage_without_items_is_not_shown_per_item_beside_stages_with_them():
    with sightspeed.profile(hotspots=False) as session:
        with sightspeed.stage("load", bytes=5_000_000, items=0):  # e.g. reading a model once
            user_step(10)
        for _ in range(3):
            with sightspeed.stage("infer", bytes=1_000_000):
                user_step(10)
    out = rendered(session)
    assert "items/s" in out.splitlines()[0]
    cols = header(out, "stage")
    table = rows(out)
    assert table["load"][cols.index("MB/item") - 1] == "-"  # not its 5 MB total shown as per item
    assert table["load"][cols.index("ms/item") - 1] == "-"
    assert table["infer"][cols.index("MB/item") - 1] == "1.00"


# 5. sightspeed's own frames are never hotspots ---------------------------------------------------------------------

INSTRUMENTATION_WHERE = ("contextlib", "sightspeed/profiling", "profiling/", "nvtx", "ittapi", "profiler.py")
INSTRUMENTATION_FUNCTIONS = ("_lsprof", "(ittapi)", "(nvtx", "thread_time", "getrusage", "perf_counter")


def instrumentation_rows(rows_: list[dict]) -> list[dict]:
    return [r for r in rows_ if any(part in r["where"] for part in INSTRUMENTATION_WHERE)
            or any(part in r["function"] for part in INSTRUMENTATION_FUNCTIONS)]


def test_hotspots_hold_the_users_code_not_the_profilers():
    @sightspeed.stage("decorated")
    def decorated() -> int:
        return user_step(20_000)

    with sightspeed.profile() as session:
        user_step(20_000)  # outside any stage: the "(main)" base, inside `with profile()` (contextlib frames)
        for _ in range(3):
            with sightspeed.stage("work"):
                user_step(20_000)
            decorated()
    for stage in ("(main)", "work", "decorated"):
        assert "user_step" in [r["function"] for r in session.hotspots[stage]], (stage, session.hotspots[stage])
        every = session.profiler.top(stage, n=1000)
        assert instrumentation_rows(every) == [], stage
        assert 0 < every[0]["python_share"] <= 1


def test_the_magic_says_its_run_was_too_small_and_how_to_repeat_it(capsys):
    from sightspeed.magic import run_magic  # what %%sightspeed calls (no IPython shell needed)

    session = run_magic("-n 2 -o", "import sightspeed\nwith sightspeed.stage('step'):\n    user_step(20_000)\n",
                        {"user_step": user_step})
    out = " ".join(capsys.readouterr().out.split())
    # a cell's stage counts calls, not items: calls and times per stage, never an items/s
    assert "warning: the busiest stage (step) ran only 2 times and no stage counted items" in out
    assert "no items counted; calls per stage: step 2 in" in out and "items/s" not in out
    assert session.stage_summary()["step"]["items"] == 0
    assert "-n N runs the code N times (this was -n 2)" in out
    assert "user_step" in [r["function"] for r in session.hotspots["step"]]
    assert instrumentation_rows(session.profiler.top("step", n=1000)) == []
