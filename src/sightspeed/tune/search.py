"""tune(): search a task's configurations on this machine, under a time budget, every candidate verified.

The search is greedy along one knob at a time, in the order the profile says matters: the reference variant runs
once (its outputs are what every candidate must keep); the default configuration is measured (its profile tells
which stages carry the time, and its calls to the models are the int8 calibration set); then each model's runtime
and tier, the executor and thread split, the batch, switches such as the ROI, and kernel backends, each phase
starting from the best so far. The best few are measured again in alternating, shuffled rounds, the default among
them, and the fastest by median that keeps the outputs wins. Building and quantizing count against the budget; what
does not fit is listed as skipped. Ctrl-C stops the search and keeps the best so far.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fidelity as fidelity_mod
from . import space as sp
from .fidelity import Fidelity, pairs_from
from .space import Candidate, Space
from .trial import Built, Trial, clock, take

OBJECTIVES = ("throughput", "latency")


@dataclass
class TuneResult:
    """The search's record: every trial (the table), the default and the chosen one, batch curves, notes."""

    task: str
    objective: str
    budget_s: float
    trials: list[Trial] = field(default_factory=list)
    default: Trial | None = None
    best: Trial | None = None
    final: dict[str, list[float]] = field(default_factory=dict)  # label -> seconds per pass, alternating rounds
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    spent_s: float = 0.0
    interrupted: bool = False
    seed: int = 0

    @property
    def speedup(self) -> float | None:
        """Chosen vs default, by the median of the final alternating rounds."""
        if self.best is None or self.default is None:
            return None
        mine, theirs = self.final.get(self.best.label), self.final.get(self.default.label)
        if not mine or not theirs:
            return None
        return statistics.median(theirs) / statistics.median(mine)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "objective": self.objective, "budget_s": self.budget_s,
                "spent_s": round(self.spent_s, 1), "interrupted": self.interrupted, "seed": self.seed,
                "chosen": self.best.label if self.best else None,
                "chosen_config": self.best.candidate.as_dict() if self.best and self.best.candidate else None,
                "speedup_vs_default": self.speedup, "final_rounds_s": self.final,
                "trials": [t.row() for t in self.trials], "curves": self.curves, "notes": self.notes}


class Tuner:
    """The search's state. ``options``: the user's task options (kept unless a knob turns them); ``extra``:
    candidates to try besides the generated ones (tests add a deliberately lossy one)."""

    def __init__(self, task: str, inputs: list[str], *, options: dict[str, Any] | None = None,
                 budget_s: float = 300.0, objective: str = "throughput", cores: int | None = None,
                 repeats: int = 2, seed: int = 0, workdir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None, extra: list[Candidate] | None = None,
                 metric: Callable[[list], Fidelity] | None = None, dot_product: dict | None = None) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        from ..cores import available
        from ..host import cpu

        self.task, self.inputs, self.cores = task, list(inputs), cores or available()
        self.space = Space.of(task)
        self.options = {**(options or {}), "variant": "fast"}
        if self.space.save_mask:
            self.options["save_mask"] = True  # the fidelity check compares masks
        self.repeats, self.extra = repeats, list(extra or [])
        self.metric = metric or fidelity_mod.METRICS.get(task) or _own_metric(task) or fidelity_mod.identical
        self.dot_product = dot_product if dot_product is not None else cpu()["dot_product"]
        self.rng = random.Random(seed)
        self.progress = progress or (lambda message: None)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sightspeed-tune-"))
        self.result = TuneResult(task, objective, budget_s, seed=seed)
        self.started = clock()
        self.tried: dict[Candidate, Trial] = {}
        self.reference_rows: list[dict] = []
        self.calibration: dict[str, list] = {}  # model key -> recorded calls (the int8 calibration set)
        self.model_files: dict[str, str] = {}  # model key -> its f32 file (the default pipeline's)
        self.batchable = False
        self.bounds: dict[str, str] = {}
        self.default_fidelity: Fidelity | None = None  # set when the default itself misses the bar
        self._n = 0

    # ----- budget -----------------------------------------------------------------------------------------------
    def left(self) -> float:
        return self.result.budget_s - (clock() - self.started)

    def _estimate(self) -> float:
        default = self.result.default
        return default.cost_s if default and default.cost_s else 0.0

    # ----- measuring --------------------------------------------------------------------------------------------
    def _out(self) -> Path:
        self._n += 1
        return self.workdir / f"c{self._n:03d}"

    def measure(self, candidate: Candidate, phase: str, base: Candidate | None = None) -> Trial:
        """Build, run once (checked against the reference), then ``repeats`` timed passes."""
        if candidate in self.tried:
            return self.tried[candidate]
        trial = Trial(sp.label(candidate, base, self.space) if base else "default", phase, candidate)
        self.tried[candidate] = trial
        self.result.trials.append(trial)
        if self._estimate() > self.left() - (self.reserve() if phase != "default" else 0.0):
            trial.skipped = (f"skipped for budget (~{self._estimate():.0f} s each; {max(self.left(), 0):.0f} s left, "
                            f"{self.reserve():.0f} s of it kept for the final rounds)")
            return trial
        self.progress(f"{phase}: {trial.label}")
        started = clock()
        out = self._out()
        try:
            built = Built(self.task, self.options, candidate, self.cores)
            if trial.label == "default":
                self.model_files = dict(built.pipeline.info.get("model_files", {}))
                self.batchable = any(s.batchable for s in built.pipeline.stages)
            first = self._first_pass(built, out, capture=trial.label == "default")
            trial.fidelity = self._check(first.rows, default=trial.label == "default")
            for _ in range(self.repeats):
                take(trial, built.run(self.inputs, out))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a candidate that cannot run (no int8 model, runtime missing) is a row, not a crash
            trial.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            trial.cost_s = clock() - started
            shutil.rmtree(out, ignore_errors=True)
        return trial

    def _first_pass(self, built: Built, out: Path, capture: bool):
        if not capture or not self.space.models:
            return built.run(self.inputs, out)
        from ..runtimes.base import capturing

        with capturing(list(self.model_files.values()), limit=32) as stores:
            result = built.run(self.inputs, out)
        self.calibration = {k: stores.get(p, []) for k, p in self.model_files.items()}
        return result

    def _check(self, rows: list[dict], default: bool = False) -> Fidelity:
        got = self.metric(pairs_from(self.reference_rows, rows))
        if default and not got.ok:  # the baseline: candidates are held to its figure (fidelity.NO_WORSE)
            self.default_fidelity = got
            self.result.notes.append(f"the default misses the fidelity bar on these inputs ({got.figure}): "
                                     "candidates must be no further from the reference than it is")
            return Fidelity(True, got.figure + " (the default: the baseline)", got.values)
        if self.default_fidelity is not None:
            return fidelity_mod.held_to_default(self.task, got, self.default_fidelity)
        return got

    def best(self) -> Trial:
        passing = [t for t in self.tried.values() if t.passed]
        return max(passing, key=lambda t: t.score(self.result.objective)) if passing else self.result.default

    # ----- phases -----------------------------------------------------------------------------------------------
    def reference(self) -> None:
        """The f32 reference variant's outputs on the inputs (kept until the search ends)."""
        from ..tasks.registry import TASKS

        self.progress("reference outputs")
        options = {**self.options, "variant": "reference"}
        if self.task in TASKS:
            options = {k: v for k, v in options.items() if k not in ("runtime", "precision")}  # f32, onnxruntime
        ref = Built(self.task, options, Candidate(executor="serial"), self.cores)
        self.reference_rows = ref.run(self.inputs, self.workdir / "reference").rows

    def try_all(self, candidates: list[Candidate], phase: str, base: Candidate) -> None:
        for c in candidates:
            self.measure(c, phase, base)

    def models(self) -> None:
        """Each model's runtime and tier, the heaviest model first, each from the best so far."""
        sp_ = self.space
        if not sp_.models:
            return
        skips = sp.tier_skips(sp_.tiers, self.dot_product)
        for tier, why in skips.items():
            self.result.notes.append(f"{tier}: {why}")
        default = self.result.default
        total = sum(default.stage_ms.values()) or 1.0
        shares = {k: default.stage_ms.get(stage, 0.0) / total for k, stage in sp_.models.items()}
        if sum(shares.values()) < 0.1:
            self.result.notes.append(f"the models take {sum(shares.values()):.0%} of the stage time: their runtime "
                                     "and tier were not tried (they cannot matter)")
            return
        if "int8" in sp_.tiers and "int8" not in skips:
            why = self.quantize()
            if why:
                skips["int8"] = why
                self.result.notes.append(f"int8: {why}")
        for key in sorted(shares, key=shares.get, reverse=True):  # the heaviest model first
            if shares[key] < 0.05:
                self.result.notes.append(f"{key}: {shares[key]:.0%} of the stage time, its runtime and tier kept")
                continue
            self.try_all(sp.one_model(self.best().candidate, sp_, key, skips), f"model {key}", default.candidate)

    def quantize(self) -> str | None:
        """int8 copies of the task's ONNX models, calibrated on the default run's calls (cached); the reason
        when int8 cannot be tried."""
        from ..models import quantize as q

        if not any(self.calibration.values()):
            return "skipped: no calibration inputs were recorded"
        if self.left() - self.reserve() < 0.25 * self.result.budget_s:
            return "skipped for budget (quantizing needs a quarter of the budget or more)"
        self.progress("int8: quantizing the models, calibrated on your inputs")
        started = clock()
        try:
            for key, samples in self.calibration.items():
                q.quantize(self.model_files[key], samples)
        except Exception as exc:
            return f"quantization failed: {str(exc).splitlines()[0]}"
        self.result.notes.append(f"int8: quantized in {clock() - started:.1f} s (cached for the next run)")
        return None

    def executors(self) -> None:
        base = self.best().candidate
        stage_ms = {k: v for k, v in self.result.default.stage_ms.items() if k not in ("decode", "write")}
        self.try_all(sp.executors(base, stage_ms, self.cores), "executor", self.result.default.candidate)

    def batches(self) -> None:
        base = self.best().candidate
        found = sp.batches(base, self.space, self.batchable)
        self.try_all(found, "batch", self.result.default.candidate)
        self.curve(found)

    def curve(self, candidates: list[Candidate]) -> None:
        """Per-item time of the batched stage at each batch size, and one line on whether batching helps."""
        if not candidates:
            return
        name, stage = (self.space.batch[0], self.space.batch[1]) if self.space.batch else ("batch_size", None)
        points = []
        for c in candidates:
            t = self.tried.get(c)
            if t is None or not t.measured:
                continue
            size = c.opts[name] if self.space.batch else c.batch_size
            key = stage or max((k for k in t.stage_ms if k not in ("decode", "write")), key=t.stage_ms.get,
                               default=None)
            if key is not None:
                points.append({"batch": size, "stage": key, "ms_per_item": round(t.stage_ms.get(key, 0.0), 3),
                               "items_per_s": round(t.throughput, 3)})
        if len(points) < 2:
            return
        first, best = points[0], min(points, key=lambda p: p["ms_per_item"])
        bound = self.bounds.get(first["stage"], "")
        if best["ms_per_item"] >= 0.9 * first["ms_per_item"]:
            reason = (f"batching does not help {first['stage']}: {bound + ' at batch 1: ' if bound else ''}"
                      f"per-item time flat from {points[0]['batch']} to {points[-1]['batch']} "
                      f"({first['ms_per_item']:.1f} -> {points[-1]['ms_per_item']:.1f} ms)")
        else:
            reason = (f"batch {best['batch']} cuts {first['stage']} from {first['ms_per_item']:.1f} to "
                      f"{best['ms_per_item']:.1f} ms per item")
        self.result.curves[name] = {"points": points, "reason": reason}

    def switches(self) -> None:
        base = self.best().candidate
        self.try_all(sp.switches(base, self.space) + [c for c in self.extra], "switches",
                     self.result.default.candidate)

    def backends(self) -> None:
        base = self.best().candidate
        self.try_all(sp.backends(base, self.space), "backends", self.result.default.candidate)

    def final(self, top: int = 2, rounds: int = 5) -> None:
        """The best ``top`` and the default measured again in alternating, shuffled rounds (after one warm-up pass
        each: a freshly built pipeline's first pass pays first-call costs), as many rounds as the budget allows,
        at least two."""
        objective = self.result.objective
        ranked = sorted((t for t in self.tried.values() if t.passed), key=lambda t: -t.score(objective))
        finalists = ranked[:top]
        if self.result.default.passed and all(t is not self.result.default for t in finalists):
            finalists.append(self.result.default)
        if len(finalists) < 2:
            return
        self.progress(f"final: {len(finalists)} candidates, alternating rounds")
        out = self._out()
        built = {}
        for t in finalists:
            built[t.label] = Built(self.task, self.options, t.candidate, self.cores)
            built[t.label].run(self.inputs, out)  # warm-up
        times: dict[str, list[float]] = {label: [] for label in built}
        lat: dict[str, list[float]] = {label: [] for label in built}
        per_round = sum(t.median_s for t in finalists)
        for k in range(rounds):
            if k >= 2 and per_round > self.left():
                self.result.notes.append(f"final: {k} rounds (the budget allowed no more)")
                break
            order = list(built)
            self.rng.shuffle(order)
            for label in order:
                result = built[label].run(self.inputs, out)
                times[label].append(result.session.wall_s)
                lat[label] += [sum(r["times_ms"].values()) for r in result.rows if r.get("times_ms")]
        shutil.rmtree(out, ignore_errors=True)
        self.result.final = {k: [round(x, 4) for x in v] for k, v in times.items()}

        values = lat if objective == "latency" else times
        self.result.best = self._beyond_noise(finalists, values)

    def _beyond_noise(self, finalists: list[Trial], values: dict[str, list[float]]) -> Trial:
        """The fastest finalist by median (seconds per pass, or ms per item for latency), but the default unless
        that one beats it by more than the rounds' own spread (the two medians' absolute deviations, at least 2%):
        on a noisy machine a tie is no reason to change the configuration."""
        def mad(xs: list[float]) -> float:
            m = statistics.median(xs)
            return statistics.median([abs(x - m) for x in xs])

        fastest = min(finalists, key=lambda t: statistics.median(values[t.label]))
        default = self.result.default
        if fastest is default or default.label not in values:
            return fastest
        mine, theirs = values[fastest.label], values[default.label]
        margin = max(0.02, (mad(mine) + mad(theirs)) / statistics.median(theirs))
        gain = 1 - statistics.median(mine) / statistics.median(theirs)
        if gain > margin:
            return fastest
        self.result.notes.append(f"kept the default: the fastest candidate ({fastest.label}) was {gain:+.1%} in "
                                 f"the final rounds, within their noise ({margin:.1%})")
        return default

    def reserve(self) -> float:
        """Seconds kept for the final rounds: builds, a warm-up and two rounds of three candidates."""
        default = self.result.default
        if default is None or not default.measured:
            return 0.0
        build = max(default.cost_s - (1 + len(default.times)) * default.median_s, 0.0)
        return 3 * (build + 3 * default.median_s)

    # ----- the whole search -------------------------------------------------------------------------------------
    def run(self, initial: Candidate | None = None) -> TuneResult:
        result = self.result
        try:
            self.reference()
            knobs = {k: v for k, v in self.options.items() if k in self.space.knobs()}
            default = sp.normal(initial or Candidate().with_options(**knobs), self.space)
            result.default = self.measure(default, "default")
            if not result.default.measured:
                raise RuntimeError(f"the default configuration did not run: {result.default.error}")
            self._profile()
            for phase in (self.models, self.executors, self.batches, self.switches, self.backends):
                phase()
            self.final()
        except KeyboardInterrupt:
            result.interrupted = True
            result.notes.append("interrupted: the best configuration measured so far is kept")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if result.best is None:
            result.best = self.best()
        result.spent_s = clock() - self.started
        return result

    def _profile(self) -> None:
        """Which stages carry the time and what bounds them, from the default's last timed pass."""
        from ..profiling.analysis import analyse
        from ..profiling.machine import cached_ceilings

        default = self.result.default
        self.bounds = {r.name: r.bound for r in analyse(default.session, cached_ceilings() or {})}
        total = sum(default.stage_ms.values()) or 1.0
        heavy = sorted(default.stage_ms.items(), key=lambda kv: -kv[1])[:3]
        self.result.notes.append("default: " + ", ".join(f"{k} {v / total:.0%}" for k, v in heavy)
                                 + " of the stage time")


def _own_metric(task: str) -> Callable[[list], Fidelity] | None:
    """A user's ``module:function`` may bring its metric as ``function.fidelity = metric`` (pairs -> Fidelity)."""
    from ..tasks.registry import TASKS, _function

    return None if task in TASKS else getattr(_function(task), "fidelity", None)


def tune(task: str, inputs: list[str], **kwargs: Any) -> TuneResult:
    """Search ``task``'s configurations on ``inputs`` (see :class:`Tuner` for the keywords); the result's ``best``
    is the chosen trial (the default if nothing beat it).

    Example: ``result = tune("ocr", ["scans/"], budget_s=120); print(result.best.label)``.
    """
    from ..io import sources

    paths = [s.path for s in sources.expand(inputs) if s.problem is None]
    if not paths:
        raise ValueError(f"no input found at {', '.join(inputs)}")
    return Tuner(task, paths, **kwargs).run()
