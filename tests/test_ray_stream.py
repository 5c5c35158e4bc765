"""What a Ray actor streams to the driver (no Ray needed: the actor's recorder and the driver's merge, run here):
running totals of every span and a uniform sample of them, so the driver's summary is exact while what crosses
over stays bounded whatever the number of inputs."""

from __future__ import annotations

import json
import random

import pytest

from sightspeed.engines.ray import _merge, default_span_keep
from sightspeed.engines.ray_worker import Tapped
from sightspeed.profiling.session import Session


def spans(n, seed=0):
    rng = random.Random(seed)
    t = 0.0
    for k in range(n):
        stage = ("decode", "model", "write")[k % 3]
        d = rng.uniform(0.001, 0.02)
        yield stage, t, t + d, {"items": 1, "cpu": d * 1.5, "work": {"flops": 1e6} if stage == "model" else None}
        t += d


def test_a_sampled_stream_sums_to_the_summary_of_every_span():
    whole, tapped, driver = Session(), Tapped(keep=0.1), Session()
    sent = 0
    for k, (stage, start, end, kw) in enumerate(spans(3000)):
        whole.record(stage, start, end, **kw)
        tapped.record(stage, start, end, **kw)
        if k % 40 == 39:  # a batch returned: the actor drains what it recorded since the last one
            text = tapped.send(0.0)
            sent += len(text)
            _merge(driver, json.loads(text), 0.0)
    _merge(driver, json.loads(tapped.send(0.0)), 0.0)
    driver.wall_s = whole.wall_s = 60.0
    assert driver.spans_seen == whole.spans_seen == 3000
    assert 150 < len(driver.spans) < 450  # about 10% crossed over, as asked
    mine, theirs = driver.stage_summary(), whole.stage_summary()
    assert mine.keys() == theirs.keys()
    for stage in mine:
        for key in ("calls", "items", "total_s", "cpu_s", "median_ms_per_call", "p95_ms_per_call", "work"):
            assert mine[stage][key] == pytest.approx(theirs[stage][key]), (stage, key)
    assert all(s.thread.startswith("actor ") for s in driver.spans)


def test_what_crosses_over_stays_a_few_samples_whatever_the_run():
    for inputs in (10, 10_000, 10_000_000):
        keep = default_span_keep(inputs, stages=5)
        assert keep == 1.0 or inputs * 5 * 3 * keep == pytest.approx(4 * 10_000)
    assert default_span_keep(10, 5) == 1.0  # a small run sends every span: its timeline is whole
