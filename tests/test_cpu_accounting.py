"""CPU accounting: a stage's CPU includes the runtime's own pool threads; page faults and oversubscription show."""

from __future__ import annotations

import numpy as np
import pytest

import sightspeed
from sightspeed import Pipeline, Stage, cores
from sightspeed.pipeline.executors import Pipelined, Serial
from sightspeed.profiling import counters
from sightspeed.profiling.analysis import analyse
from sightspeed.profiling.cpu import CpuAccount
from sightspeed.runtimes import load
from sightspeed.runtimes.base import PerThread, with_models

from onnx_models import matmul_chain

two_cores = pytest.mark.skipif(cores.available() < 2, reason="needs 2 cores for a 2-thread model")
# generous ceilings, the same for every stage: only the ratios between stages and times matter to these tests
CEILINGS = {"flops_1t": 2e11, "flops_all": 4e11, "mem_bw_1t": 1e10, "mem_bw_all": 2e10}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return matmul_chain(tmp_path_factory.mktemp("chain"), size=384, depth=12)


def tiny_jpegs(folder, n: int) -> list[str]:
    import simplejpeg

    paths = []
    for k in range(n):
        path = folder / f"in{k}.jpg"
        path.write_bytes(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8)))
        paths.append(str(path))
    return paths


@pytest.fixture()
def inputs(tmp_path):
    return tiny_jpegs(tmp_path, 6)


def model_stage(name: str, path: str, flops: float) -> tuple[Stage, PerThread]:
    holder = PerThread(lambda threads: load(path, threads=threads))
    x = np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32)

    def fn(item):
        for _ in range(4):
            holder.get().run(x)
        counters.add(flops=4 * flops)
        item.output = item.image

    return Stage(name, fn), holder


def stats(session, name):
    return {r.name: r for r in analyse(session, CEILINGS)}[name]


@two_cores
def test_a_two_thread_model_stage_counts_its_pool_threads(chain, inputs, tmp_path, two_free_cores):
    path, flops = chain
    stage, holder = model_stage("model", path, flops)
    pipe = Pipeline(with_models([stage], {"model": [holder]}))
    result = sightspeed.run(pipe, inputs, tmp_path / "o", executor=Serial(), cores=2)
    report = stats(result.session, "model")
    assert report.threads == 2
    assert report.cpu_ratio >= 1.4, f"cpu/wall {report.cpu_ratio:.2f}: the intra-op pool thread was not counted"
    assert report.bound == "compute"
    assert report.pct_sol == pytest.approx(report.work["flops"] / CEILINGS["flops_all"] / report.service_s)


@two_cores
def test_two_overlapping_two_thread_stages_are_oversubscribed(chain, tmp_path, two_free_cores):
    path, flops = chain
    a, ha = model_stage("a", path, flops)
    b, hb = model_stage("b", path, flops)
    pipe = Pipeline(with_models([a, b], {"a": [ha], "b": [hb]}))
    # distinct files (a run reads each input once): ~0.7 s of each stage, long enough that a stray wake-up elsewhere
    # on the machine does not decide the held run's bound
    (tmp_path / "many").mkdir()
    many = tiny_jpegs(tmp_path / "many", 24)
    executor = Pipelined(split={"a": (1, 2), "b": (1, 2)})
    over = sightspeed.run(pipe, many, tmp_path / "over", executor=executor, cores=2, oversubscribe=True)
    bounds = {r.name: r.bound for r in analyse(over.session, CEILINGS)}
    assert bounds["a"] == bounds["b"] == "oversubscribed", {r.name: (r.bound, round(r.cpu_ratio, 2), r.saturation,
                                                                     r.preempted) for r in analyse(over.session)}
    # the same split under the budget's tokens: the two stages take turns, each with its two cores
    held = sightspeed.run(pipe, many, tmp_path / "held", executor=executor, cores=2)
    for name in "ab":
        report = stats(held.session, name)
        assert report.bound == "compute" and report.cpu_ratio >= 1.4, (name, report.cpu_ratio, report.preempted)


def test_page_faults_show_fresh_memory(inputs, tmp_path):
    reused = np.ones(16 << 20, np.uint8)  # touched here, before the run: its pages are there already

    def fresh(item):  # 16 MiB of new pages, touched. An anonymous mapping of its own: np.ones would come from
        # malloc, which may hand back pages an earlier test freed (glibc raises its mmap threshold after large frees)
        import mmap

        block = mmap.mmap(-1, 16 << 20)
        pages = np.frombuffer(block, np.uint8)
        pages.fill(1)
        del pages
        block.close()

    def reuse(item):
        reused.fill(1)

    pipe = Pipeline([Stage("fresh", fresh), Stage("reuse", reuse)])
    result = sightspeed.run(pipe, inputs, tmp_path / "o", executor=Serial(), cores=1)
    summary = result.session.stage_summary()
    # small pages: 4096 per 16 MiB; transparent huge pages (numpy asks for them): 8, still many more than reusing
    assert summary["fresh"]["faults"] >= 4 * len(inputs)
    assert summary["fresh"]["faults"] > 10 * max(1, summary["reuse"]["faults"])


@two_cores
def test_account_charges_pool_threads_to_the_only_running_stage(chain):
    path, _ = chain
    rt = load(path, threads=2)
    x = np.ones((384, 384), np.float32)
    rt.run(x)
    account = CpuAccount(cores=2)
    account.rebase()
    span = account.begin("model")
    for _ in range(3):
        rt.run(x)
    cost = account.end(span)
    assert span.pool > 0 and cost.cpu > span.pool and account.owners, "the intra-op thread was learnt"
    assert set(account.owners.values()) == {"model"} and account.ambiguous == 0


def test_profile_blocks_count_pool_threads_too(chain, two_free_cores):
    path, _ = chain
    rt = load(path, threads=cores.available())
    x = np.ones((384, 384), np.float32)
    rt.run(x)
    with sightspeed.profile(hotspots=False, mirrors=False) as session:
        with sightspeed.stage("model"):
            for _ in range(3):
                rt.run(x)
    (span,) = session.spans
    if cores.available() >= 2:
        assert span.cpu / span.duration >= 1.3
    assert "pool_cpu_ambiguous_s" in session.counters and session.account is None
