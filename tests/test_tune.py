"""sightspeed tune: candidates verified against the reference before their speed counts, precision tiers that
follow the CPU, int8 models cached by model + calibration set, and a tuned.toml that `run --config` applies.

Every tune here runs the real pipeline on real inputs with a short budget, in a temporary SIGHTSPEED_CACHE."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sightspeed.tune import fidelity
from sightspeed.tune.config import TunedConfig, saved_path
from sightspeed.tune.space import Candidate, Space, normal, tier_skips

from ocr_pages import make_pages


@pytest.fixture
def cache(tmp_path, monkeypatch, sample_paths):
    """An empty SIGHTSPEED_CACHE holding only the zoo's model files (copied, so nothing downloads)."""
    from sightspeed.models.zoo import ENTRIES, cached_path, resolve

    files = {name: resolve(name, quiet=True) for name, e in ENTRIES.items() if e.kind == "model"}
    root = tmp_path / "cache"
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(root))
    for name, path in files.items():
        target = cached_path(ENTRIES[name])
        if not Path(path).is_relative_to(root) and "site-packages" not in str(path):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return root


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tune_pages")
    make_pages(folder)
    return folder


def test_ocr_fidelity_sees_lost_added_and_changed_lines(tmp_path):
    box = [[0, 0], [100, 0], [100, 20], [0, 20]]
    lower = [[0, 40], [100, 40], [100, 60], [0, 60]]

    def page(name, lines):
        path = tmp_path / name
        path.write_text(json.dumps({"lines": [{"box": b, "text": t} for b, t in lines]}))
        return [str(path)]

    ref = page("ref.json", [(box, "total due"), (lower, "42 EUR")])
    same = page("same.json", [(box, "total  due"), (lower, "42 EUR")])  # spaces ignored
    lost = page("lost.json", [(box, "total due")])
    changed = page("changed.json", [(box, "total dve"), (lower, "42 EUR")])
    assert fidelity.ocr([(ref, same)]).ok
    got = fidelity.ocr([(ref, lost)])
    assert not got.ok and got.values["lost"] == 1 and "1 lost" in got.figure
    got = fidelity.ocr([(ref, changed)])
    assert not got.ok and got.values["identical"] == 0.5


def test_portrait_fidelity_holds_mask_iou_and_mean_diff(tmp_path):
    import cv2

    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    files = {}
    for name, img, m in (("ref", image, mask), ("near", np.clip(image.astype(int) + 1, 0, 255), mask),
                         ("far", np.clip(image.astype(int) + 6, 0, 255), mask), ("moved", image, np.roll(mask, 3, 1))):
        cv2.imwrite(str(tmp_path / f"{name}.png"), img.astype(np.uint8))
        cv2.imwrite(str(tmp_path / f"{name}_mask.png"), m)
        files[name] = [str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}_mask.png")]
    assert fidelity.portrait([(files["ref"], files["near"])]).ok
    far = fidelity.portrait([(files["ref"], files["far"])])
    assert not far.ok and far.values["mean_abs_diff"] > 2
    moved = fidelity.portrait([(files["ref"], files["moved"])])
    assert not moved.ok and moved.values["mask_iou"] < 0.99


def test_when_the_default_misses_the_bar_candidates_are_held_to_its_figure():
    default = fidelity.Fidelity(False, "mask IoU >= 0.978", {"mask_iou": 0.978, "mean_abs_diff": 0.55, "missing": 0})
    near = fidelity.Fidelity(False, "mask IoU >= 0.977", {"mask_iou": 0.977, "mean_abs_diff": 0.6, "missing": 0})
    worse = fidelity.Fidelity(False, "mask IoU >= 0.95", {"mask_iou": 0.95, "mean_abs_diff": 0.6, "missing": 0})
    assert fidelity.held_to_default("portrait", near, default).ok
    got = fidelity.held_to_default("portrait", worse, default)
    assert not got.ok and "further from the reference than the default" in got.figure
    passing_default = fidelity.Fidelity(True, "", {"mask_iou": 0.999, "mean_abs_diff": 0.5, "missing": 0})
    assert not fidelity.held_to_default("portrait", near, passing_default).ok  # the bar itself holds then


def test_the_default_is_kept_unless_beaten_beyond_the_noise(sample_paths):
    from sightspeed.tune.search import Tuner
    from sightspeed.tune.trial import Trial

    tuner = Tuner("portrait", sample_paths, budget_s=1)
    default, other = Trial("default", "default", Candidate()), Trial("serial", "executor", Candidate(executor="serial"))
    tuner.result.default = default
    noisy = {"default": [1.00, 1.10, 0.95, 1.05, 1.00], "serial": [0.97, 1.08, 0.93, 1.02, 0.99]}
    assert tuner._beyond_noise([other, default], noisy) is default
    assert "within their noise" in tuner.result.notes[-1]
    clear = {"default": [1.00, 1.01, 0.99, 1.00, 1.00], "serial": [0.80, 0.81, 0.79, 0.80, 0.82]}
    assert tuner._beyond_noise([other, default], clear) is other


def test_bf16_is_skipped_with_the_reason_on_a_cpu_without_it():
    """The doctor report decides: without amx_bf16 / avx512_bf16, no bf16 candidate is made."""
    from sightspeed.tune import space as sp

    no_bf16 = {"bf16": [], "int8": ["avx2_vnni"]}
    skips = tier_skips(("f32", "bf16", "int8"), no_bf16)
    assert "no native bf16" in skips["bf16"]
    ocr = Space.of("ocr")
    default = normal(Candidate(), ocr)
    tried = sp.one_model(default, ocr, "rec", skips)
    assert tried and not any("bf16" in c.opts["precision"] for c in tried)
    with_bf16 = sp.one_model(default, ocr, "rec", tier_skips(ocr.tiers, {"bf16": ["avx512_bf16"]}))
    assert any(c.opts["precision"] == "det=f32,cls=f32,rec=bf16" for c in with_bf16)
    # bf16 only where the runtime has a bf16 path (OpenVINO's precision hint)
    assert all("rec=openvino" in c.opts["runtime"] for c in with_bf16 if "rec=bf16" in c.opts["precision"])


def test_the_same_setting_is_the_same_candidate():
    ocr = Space.of("ocr")
    a = normal(Candidate(), ocr)
    b = normal(Candidate().with_options(runtime="onnxruntime", precision="det=f32,cls=f32,rec=f32", rec_batch=1),
               ocr)
    assert a == b and hash(a) == hash(b)


def test_quantized_model_is_cached_by_model_and_calibration_set(tmp_path, cache):
    pytest.importorskip("onnx")
    from sightspeed.models import quantize as q
    from sightspeed.runtimes import load

    from onnx_models import matmul_chain

    path, _ = matmul_chain(tmp_path, size=64, depth=3)
    rng = np.random.default_rng(0)
    samples = [[rng.standard_normal((64, 64)).astype(np.float32)] for _ in range(8)]
    first = q.quantize(path, samples)
    stamp = first.stat().st_mtime_ns
    assert first.parent == cache / "quantized" and q.find(path) == first
    again = q.quantize(path, [[a.copy() for a in call] for call in samples])  # equal arrays: the same key
    assert again == first and again.stat().st_mtime_ns == stamp  # a cache hit: not quantized again
    other = q.quantize(path, samples[:4])  # another calibration set: another file
    assert other != first and q.find(path) == other
    info = json.loads(first.with_suffix(".json").read_text())
    assert info["calibration_calls"] == 8 and info["versions"]["onnxruntime"]
    # the int8 model runs and stays near the f32 one on these inputs
    x = samples[0][0]
    (ref,) = load(path, "onnxruntime", 1).run(x)
    (got,) = load(first, "onnxruntime", 1).run(x)
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_config_round_trips(tmp_path):
    c = Candidate(options=(("precision", "det=f32,cls=f32,rec=bf16"), ("rec_batch", 4), ("roi", False)),
                  executor="serial", split="", batch_size=2, backends=(("composite", "cython"),))
    config = TunedConfig("ocr", c, {"machine": "cpu|2", "speedup": 1.25, "objective": "throughput"})
    back = TunedConfig.load(config.save(tmp_path / "tuned.toml"))
    assert back.task == "ocr" and back.candidate == c and back.about["speedup"] == 1.25
    (tmp_path / "bad.toml").write_text("[run]\nexecutor = 'serial'\n")
    with pytest.raises(ValueError, match="bad.toml: not a tuned config"):
        TunedConfig.load(tmp_path / "bad.toml")


def _lossy_composite(monkeypatch):
    """The composite kernel's opencv backend made deliberately lossy (+6 levels on every pixel it writes)."""
    from sightspeed.kernels import _registry

    op = _registry.get("composite")
    real = op.implementation("opencv")

    def lossy(*args, **kwargs):
        got = real(*args, **kwargs)
        np.add(got, 6, out=got, casting="unsafe")
        return got

    monkeypatch.setitem(op.impls, "opencv", lossy)


@pytest.mark.slow
def test_portrait_tune_rejects_a_lossy_kernel_and_keeps_outputs(sample_paths, cache, monkeypatch, tmp_path):
    from sightspeed.tune.search import tune

    _lossy_composite(monkeypatch)
    lossy = normal(Candidate(), Space.of("portrait")).with_backend("composite", "opencv")
    result = tune("portrait", sample_paths, budget_s=60, repeats=1, extra=[lossy])
    rows = {t.label: t for t in result.trials}
    bad = next(t for t in result.trials if t.candidate == lossy)
    assert bad.measured and not bad.passed and bad.fidelity.values["mean_abs_diff"] > 2
    assert "mean |diff|" in bad.fidelity.figure
    assert result.best.passed and result.best.candidate != lossy
    assert rows["default"].passed and rows["default"].fidelity.values["mask_iou"] >= 0.99
    assert {"executor", "switches"} <= {t.phase for t in result.trials}  # executors, the ROI switch were tried
    assert result.spent_s <= 60 * 1.1 + 15  # within its budget (+10%), the last candidate's build aside
    json.dumps(result.as_dict())  # the table is JSON
    from sightspeed.cli_tune import write_html  # `tune --html`: the candidate table beside the chosen one's profile

    page = write_html(result, tmp_path / "tune.html").read_text()
    assert '<section id="tune">' in page and f"{result.best.label} <b>(chosen)</b>" in page
    assert page.count("<tr>") >= len(result.trials) and "FAIL" in page  # the lossy candidate, failed
    assert '<section id="bounds">' in page and "segment" in page


@pytest.mark.slow
def test_ocr_tune_on_a_cpu_without_bf16(pages, cache, tmp_path):
    """A doctor report without bf16 flags: no bf16 candidate, the reason in the notes; int8 models quantized on
    the run's own model calls (or skipped for budget, saying so); the choice keeps the outputs."""
    from sightspeed.tune.search import tune

    result = tune("ocr", [str(pages / "page_a.png"), str(pages / "page_b.png")], budget_s=120, repeats=1,
                  dot_product={"bf16": [], "int8": []})
    assert not any("bf16" in (t.candidate.opts.get("precision", "") if t.candidate else "") for t in result.trials)
    assert any("no native bf16" in note for note in result.notes)
    int8 = [t for t in result.trials if t.candidate and "int8" in t.candidate.opts.get("precision", "")]
    assert int8 or any("int8" in note for note in result.notes)
    assert all(t.fidelity is not None for t in int8 if t.measured)  # every measured candidate was checked
    if any(t.measured for t in int8):
        assert list((cache / "quantized").glob("*.int8.onnx"))
    assert result.best.passed and result.best.fidelity.values["lost"] == 0


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.mark.slow
def test_tuned_config_applies_to_run(sample_paths, cache, tmp_path):
    """`run --config` applies it and the Session records it; a config saved for the task on this machine applies
    without --config (and says so), --no-tuned ignores it; a config of another task is a usage error."""
    c = normal(Candidate(), Space.of("portrait")).with_options(roi=False)
    config = TunedConfig("portrait", Candidate(c.options, executor="serial", batch_size=2), {"speedup": 1.1})
    path = config.save(tmp_path / "tuned.toml")
    proc = cli("run", "portrait", *sample_paths, "-o", str(tmp_path / "a"), "--config", str(path))
    assert proc.returncode == 0, proc.stderr
    session = json.loads((tmp_path / "a" / "session.json").read_text())
    assert session["config"]["tuned"]["executor"] == "serial" and session["config"]["executor"] == "serial"
    assert session["config"]["roi"] is False and session["config"]["batch_size"] == 2
    config.save(saved_path("portrait"))
    proc = cli("run", "portrait", *sample_paths, "-o", str(tmp_path / "b"), "--limit", "1")
    assert "using the tuned config saved for portrait" in proc.stderr
    assert json.loads((tmp_path / "b" / "session.json").read_text())["config"]["roi"] is False
    proc = cli("run", "portrait", *sample_paths, "-o", str(tmp_path / "c"), "--limit", "1", "--no-tuned")
    assert "tuned" not in json.loads((tmp_path / "c" / "session.json").read_text())["config"]
    proc = cli("run", "ocr", "-o", str(tmp_path / "d"), "--config", str(path))
    assert proc.returncode == 2 and "was tuned for portrait, not ocr" in proc.stderr


@pytest.mark.slow
def test_models_quantize_by_hand_then_run_at_int8(pages, cache, tmp_path):
    pytest.importorskip("onnx")
    proc = cli("models", "quantize", "ppocr-cls-v2", "--calibrate", str(pages))
    assert proc.returncode == 0, proc.stderr
    made = Path(proc.stdout.split("\t")[1].strip())
    assert made.is_file() and made.parent == cache / "quantized"
    proc = cli("run", "ocr", str(pages / "page_a.png"), "--precision", "cls=int8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    session = json.loads((tmp_path / "o" / "session.json").read_text())
    assert session["config"]["tiers"]["classify"] == "int8"
    bad = cli("models", "quantize", "selfie-seg", "--calibrate", str(pages))
    assert bad.returncode == 2 and "not a model tune can quantize" in bad.stderr
    missing = cli("run", "ocr", str(pages / "page_a.png"), "--precision", "det=int8", "-o", str(tmp_path / "m"),
                  env={"SIGHTSPEED_CACHE": str(tmp_path / "empty")})
    assert missing.returncode == 1 and "no int8 model of ppocr-det-v4" in missing.stderr


def test_cache_list_and_clear(cache, tmp_path):
    (cache / "tuned").mkdir(parents=True, exist_ok=True)
    (cache / "tuned" / "ocr.x.toml").write_text("x" * 1000)
    listed = cli("cache", "list")
    assert listed.returncode == 0 and "tuned" in listed.stdout and "models" in listed.stdout
    cleared = cli("cache", "clear", "tuned")
    assert cleared.returncode == 0 and not (cache / "tuned").exists()
    assert cli("cache", "clear", "nonsense").returncode == 2
