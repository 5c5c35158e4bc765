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
