from __future__ import annotations

import threading

import numpy as np
import pytest

from sightspeed import Item, Pipeline, Pipelined, Serial, Session, Stage
from sightspeed.pipeline.executors import run_stage


def make_items(n: int) -> list[Item]:
    return [Item(source=f"in{k}", index=k, image=np.full((4, 4, 3), k, np.uint8)) for k in range(n)]


def add_one(item: Item) -> None:
    item.image = item.image + 1


def fail_on_three(item: Item) -> None:
    if item.index == 3:
        raise ValueError("index three is bad")
    item.results["seen"] = True


def test_stage_validates_names_and_counts():
    with pytest.raises(ValueError):
        Stage("has space", add_one)
    with pytest.raises(ValueError):
        Stage("ok", add_one, threads=0)
    with pytest.raises(ValueError):
        Pipeline([Stage("a", add_one), Stage("a", add_one)])
    with pytest.raises(ValueError):
        Pipeline([])
    assert Stage("a", add_one, max_workers=1).workers_for(4) == 1
    assert Stage("a", add_one).workers_for(3) == 3


@pytest.mark.parametrize("executor", [Serial(), Serial(batch_size=3), Pipelined(workers=1),
                                      Pipelined(workers=3, batch_size=2, queue_size=2)])
def test_executors_keep_order_and_isolate_failures(executor):
    pipeline = Pipeline([Stage("add", add_one), Stage("check", fail_on_three), Stage("add2", add_one)])
    session = Session()
    out = list(executor.run(pipeline, make_items(20), session))
    assert [i.index for i in out] == list(range(20))
    bad = out[3]
    assert not bad.ok and bad.failed_stage == "check" and "index three is bad" in bad.error
    assert int(bad.image[0, 0, 0]) == 3 + 1  # stages after the failure were skipped
    for item in out[:3] + out[4:]:
        assert item.ok and item.results["seen"] and int(item.image[0, 0, 0]) == item.index + 2
    runs = [s for s in session.spans if s.kind == "run"]
    assert {s.stage for s in runs} == {"add", "check", "add2"}
    assert sum(s.items for s in runs if s.stage == "add2") == 19
    assert all(s.end >= s.start for s in session.spans)


def test_batchable_stage_gets_batches_and_a_bad_item_is_isolated():
    sizes = []

    def batched(items: list[Item]) -> None:
        sizes.append(len(items))
        if any(i.index == 5 for i in items):
            raise RuntimeError("batch with item 5")
        for i in items:
            i.results["batched"] = True

    pipeline = Pipeline([Stage("b", batched, batchable=True)])
    out = list(Serial(batch_size=4).run(pipeline, make_items(10), Session()))
    assert sizes[:2] == [4, 4] and max(sizes) <= 4
    assert [i.index for i in out if not i.ok] == [5]
    assert all(i.results.get("batched") for i in out if i.index != 5)


def test_pipelined_runs_stages_concurrently():
    """Two stages that each wait for the other to have started: only concurrent execution gets past them."""
    a_started, b_started = threading.Event(), threading.Event()

    def a(item: Item) -> None:
        a_started.set()
        if item.index == 1:
            assert b_started.wait(5), "stage b never ran while stage a was busy"

    def b(item: Item) -> None:
        b_started.set()

    out = list(Pipelined(workers=1).run(Pipeline([Stage("a", a), Stage("b", b)]), make_items(3), Session()))
    assert all(i.ok for i in out)


def test_the_reorder_window_bounds_items_held_after_a_slow_one():
    """Item 0 takes a while; the second worker races ahead. The feed stops admitting once ``window`` items wait
    for item 0, so memory stays bounded (without it, every later item would pile up in the in-order sink)."""
    import time

    pulled = []

    def source():
        for k in range(200):
            pulled.append(k)
            yield Item(f"x{k}", k, image=np.zeros((2, 2, 3), np.uint8))

    def slow_first(item):
        if item.index == 0:
            time.sleep(0.5)

    runner = Pipelined(workers=2, window=8).run(Pipeline([Stage("s", slow_first)]), source(), Session())
    first = next(runner)
    assert first.index == 0 and len(pulled) <= 8 + 1, len(pulled)
    assert [i.index for i in runner] == list(range(1, 200))


def test_pipelined_reports_a_broken_source():
    def items():
        yield from make_items(2)
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        list(Pipelined().run(Pipeline([Stage("add", add_one)]), items(), Session()))


def test_spans_count_bytes_and_use_the_injected_clock():
    ticks = iter(np.arange(0.0, 100.0, 0.5))
    session = Session(clock=lambda: float(next(ticks)), cpu_clock=lambda: 0.0)
    session.now()
    item = make_items(1)[0]
    run_stage(Stage("add", add_one), [item], session)
    (span,) = session.spans
    assert span.duration == 0.5 and span.bytes_in == 48 and span.bytes_out == 48 and span.items == 1
    assert item.times["add"] == 0.5


def test_session_round_trips_through_json(tmp_path):
    session = Session(config={"task": "x"}, machine={"cpu_count": 2}, wall_s=1.25)
    session.record("decode", 0.0, 0.1, items=1, bytes_in=10, bytes_out=20, cpu=0.05)
    session.record("decode", 0.1, 0.2, kind="wait")
    loaded = Session.load(session.save(tmp_path / "s.json"))
    assert loaded.spans == session.spans
    assert loaded.config == {"task": "x"} and loaded.wall_s == 1.25
    summary = loaded.stage_summary()["decode"]
    assert summary["calls"] == 1 and summary["items"] == 1
    assert summary["ms_per_item"] == pytest.approx(100.0) and summary["cpu_ms_per_item"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="not a sightspeed session"):
        Session.from_dict({"schema": "other"})


def test_a_long_run_keeps_exact_totals_and_a_bounded_sample_of_spans(tmp_path):
    """100,000 spans: the Session keeps at most ``span_limit`` of them (a uniform sample, for the timeline) while
    every figure of the stage summary counts all of them; p50/p95 from the sketch are within 1%."""
    import random

    rng = random.Random(1)
    durations = [rng.lognormvariate(-4, 0.5) for _ in range(100_000)]
    session = Session(span_limit=1000, wall_s=sum(durations))
    t = 0.0
    for d in durations:
        session.record("model", t, t + d, items=2, cpu=d / 2, work={"flops": 10.0})
        t += d
    assert len(session.spans) == 1000 and session.spans_seen == 100_000
    got = session.stage_summary()["model"]
    assert got["calls"] == 100_000 and got["items"] == 200_000 and got["work"]["flops"] == pytest.approx(1e6)
    assert got["total_s"] == pytest.approx(sum(durations)) and got["cpu_s"] == pytest.approx(sum(durations) / 2)
    ordered = sorted(durations)
    for q, key in ((0.5, "median_ms_per_call"), (0.95, "p95_ms_per_call")):
        exact = 1000 * ordered[int(q * (len(ordered) - 1))]
        assert abs(got[key] - exact) / exact < 0.01, (key, got[key], exact)
    sample_mean = sum(s.duration for s in session.spans) / len(session.spans)  # the sample is not the first 1000
    assert abs(sample_mean - sum(durations) / len(durations)) / sample_mean < 0.1
    assert max(s.start for s in session.spans) > 0.5 * t
    loaded = Session.load(session.save(tmp_path / "long.json"))
    assert loaded.stage_summary() == session.stage_summary() and loaded.spans_seen == 100_000
    assert (tmp_path / "long.json").stat().st_size < 400_000  # not 100,000 spans


def test_a_session_saved_before_totals_still_loads():
    session = Session(wall_s=1.0)
    session.record("decode", 0.0, 0.25, items=1)
    data = session.to_dict()
    old = {k: v for k, v in data.items() if k not in ("totals", "spans_seen")}
    old["schema"] = "sightspeed.session/1"
    loaded = Session.from_dict(old)
    assert loaded.stage_summary()["decode"]["calls"] == 1 and loaded.stage_summary()["decode"]["total_s"] == 0.25
