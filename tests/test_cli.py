from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "sightspeed", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_version_and_models_list():
    from sightspeed import __version__

    assert cli("--version").stdout.strip() == f"sightspeed {__version__}"
    listing = cli("models", "list")
    assert listing.returncode == 0
    for name in ("blazeface-short", "selfie-seg", "selfie-seg-landscape", "grace-hopper"):
        assert name in listing.stdout


def test_usage_errors_exit_2(tmp_path):
    assert cli("run", "portrait").returncode == 2  # no -o
    assert cli("run", "portrait", "-o", str(tmp_path), "--batch-size", "0").returncode == 2
    bad = cli("run", "portrait", "-o", str(tmp_path), "--background", "color:purple")
    assert bad.returncode == 2 and "#RRGGBB" in bad.stderr
    assert cli("models", "fetch", "no-such-model").returncode == 2
    before = cli("run", "--draw", "ocr", "-o", str(tmp_path))  # a task's option means something only after TASK
    assert before.returncode == 2 and "--draw before TASK" in before.stderr


def test_default_run_uses_the_built_in_samples(tmp_path):
    proc = cli("run", "portrait", "-o", str(tmp_path), "--save-mask")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "built-in sample photos" in proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    for row in rows:
        assert set(row["times_ms"]) == {"decode", "detect", "segment", "composite", "write"}
        assert len(row["outputs"]) == 2
    assert "images/s" in proc.stderr and "composite" in proc.stderr  # the summary table
    saved = json.loads((tmp_path / "session.json").read_text())
    machine = saved["machine"]  # the host's description and the doctor report ride along
    assert machine["cpu"]["available_cores"] >= 1 and machine["fingerprint"] and "opencv" in machine
    report = cli("report", str(tmp_path / "session.json"))  # a run's session renders like a profile's
    assert report.returncode == 0 and "segment" in report.stdout and "bound" in report.stdout


def test_a_users_own_pipeline_gets_the_runner(tmp_path, portrait_jpegs):
    """module:function: the user's stages run inside sightspeed's decode/write, manifest and bad-input handling."""
    (tmp_path / "my_pipeline.py").write_text(textwrap.dedent('''
        import numpy as np
        from sightspeed import Pipeline, Stage

        def invert(item):
            if item.image.shape[0] < 10:
                raise ValueError("too small for my model")
            item.output = 255 - item.image

        def build(background="blur"):
            return Pipeline([Stage("invert", invert)], name="mine-" + background)
    '''))
    tiny = tmp_path / "tiny.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(tiny), np.zeros((4, 4, 3), np.uint8))
    proc = cli("run", "my_pipeline:build", portrait_jpegs[0], str(tiny), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert rows[0]["status"] == "ok" and set(rows[0]["times_ms"]) == {"decode", "invert", "write"}
    assert rows[1]["status"] == "error" and rows[1]["stage"] == "invert"
    assert rows[1]["reason"] == "ValueError: too small for my model"
    from sightspeed.io.decode import read_image

    original, inverted = read_image(portrait_jpegs[0]), read_image(rows[0]["outputs"][0])
    assert np.abs((255 - original.astype(int)) - inverted).mean() < 3


@pytest.mark.parametrize("task", ["nosuchtask", "nosuchmodule:build"])
def test_unknown_task_is_a_clear_error(tmp_path, task):
    proc = cli("run", task, "-o", str(tmp_path))
    assert proc.returncode == 2 and ("unknown task" in proc.stderr or "cannot load" in proc.stderr)  # a usage error


def test_limit_max_pixels_and_image_background(tmp_path, portrait_jpegs, sample_paths):
    out = tmp_path / "out"
    import numpy as np

    from sightspeed.io.decode import read_image

    proc = cli("run", "portrait", *portrait_jpegs, "-o", str(out), "--limit", "2", "--max-megapixels", "0.4",
               "--background", f"image:{sample_paths[1]}", "--save-mask")
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # --limit
    # photo0 is 512x600 = 0.31 MP, photo1 512x512 = 0.26 MP: both under the limit
    assert all(r["status"] == "ok" for r in rows), proc.stderr[-2000:]
    result, mask = (read_image(p) for p in rows[0]["outputs"])
    from sightspeed.tasks.portrait.fast import cover_picture  # the picture keeps its aspect (cover-crop)

    backdrop = cover_picture(read_image(sample_paths[1]), *result.shape[1::-1])
    background = mask[..., 0] == 0
    assert background.mean() > 0.2
    assert np.abs(result[background].astype(int) - backdrop[background]).mean() < 4
    proc = cli("run", "portrait", portrait_jpegs[2], "-o", str(out), "--max-megapixels", "0.4", "--overwrite")
    assert proc.returncode == 3  # the 1280x720 frame is 0.92 MP
    (row,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert "1280x720 = 1 MP, over the 0.4 MP limit" in row["reason"]


def test_unwritable_output_is_a_clear_error(tmp_path, portrait_jpegs):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("run", "portrait", portrait_jpegs[0], "-o", str(blocker / "out"))
    assert proc.returncode == 1 and "error:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, listed", [
    (("run", "ocr", "--no-roi"), "--runtime onnxruntime|openvino|MODEL=RUNTIME,..., --precision f32|bf16|int8|MODEL=TIER,..., "
     "--rec-batch N, --draw"),
    (("run", "portrait", "--draw"), "--no-roi, --background blur|color:#RRGGBB|image:PATH, --save-mask, --quality N"),
    (("profile", "ocr", "--no-roi"), "--draw"),
])
def test_an_option_the_task_does_not_take_is_a_usage_error(tmp_path, args, listed):
    """Never silently dropped: one line naming the task and listing its options, exit 2."""
    proc = cli(*args, "-o", str(tmp_path / "out"))
    (line,) = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and line.startswith(f"error: {args[1]} has no option {args[2]}; its options: ")
    assert listed in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, words, message", [
    ("ocr", ["--runtime", "tensorrt"], "--runtime 'tensorrt': use one of onnxruntime, openvino"),
    ("ocr", ["--rec-batch", "two"], "--rec-batch takes an integer, not 'two'"),
    ("ocr", ["--precision", "bf16"], "precision bf16 needs the openvino runtime"),  # checked by build, before load
    ("ocr", ["--precision", "rec=fp8"], "--precision 'rec=fp8': use MODEL=VALUE"),
    ("ocr", ["--runtime", "det=openvino,rec=onnxruntime", "--precision", "det=bf16,rec=bf16"],
     "rec: precision bf16 needs the openvino runtime"),
    ("portrait", ["--background", "color:purple"], "colour must be #RRGGBB"),
    ("portrait", ["--quality=0"], "--quality 0: must be at least 1"),
    ("portrait", ["--background"], "--background needs a value"),
])
def test_a_bad_option_value_exits_2_before_any_model_loads(tmp_path, monkeypatch, task, words, message):
    """In-process, with the tasks' model loading replaced by a failure: the error must come first."""
    from typer.testing import CliRunner

    from sightspeed.cli import app
    from sightspeed.tasks.ocr import task as ocr_task
    from sightspeed.tasks.portrait import task as portrait_task

    def no_models(options):
        raise AssertionError("models loaded before the options were checked")

    for module in (ocr_task, portrait_task):
        monkeypatch.setattr(module, "load_models", no_models)
    result = CliRunner().invoke(app, ["run", task, *words, "-o", str(tmp_path)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert message in result.stderr and result.stderr.splitlines()[-1].startswith("error: ")


def test_task_options_reach_the_tasks_options(tmp_path, monkeypatch, sample_paths):
    """Each declared option, in any position among the inputs, arrives typed on the task's options object."""
    from typer.testing import CliRunner

    from sightspeed.cli import app
    from sightspeed.tasks.ocr import OcrOptions
    from sightspeed.tasks.ocr import task as ocr_task
    from sightspeed.tasks.portrait import PortraitOptions
    from sightspeed.tasks.portrait import task as portrait_task

    got = []

    def capture(options, pool=None):
        got.append(options)
        raise ValueError("stop here")  # a usage error: exit 2 before anything runs

    for module in (ocr_task, portrait_task):
        monkeypatch.setattr(module, "build", capture)
    runner = CliRunner()
    runner.invoke(app, ["run", "ocr", sample_paths[0], "--draw", "--rec-batch", "3", "--runtime=openvino",
                        "--precision", "bf16", "--variant", "reference", "-o", str(tmp_path)])
    runner.invoke(app, ["run", "portrait", "--no-roi", sample_paths[0], "--background", "color:#00ff00",
                        "--save-mask", "--quality", "75", "-o", str(tmp_path), "--max-megapixels", "2"])
    assert got == [OcrOptions(variant="reference", runtime="openvino", precision="bf16", rec_batch=3, draw=True),
                   PortraitOptions(roi=False, background="color:#00ff00", save_mask=True, quality=75,
                                   max_pixels=2_000_000)]


def test_a_real_run_with_task_options_and_a_core_budget(tmp_path, portrait_jpegs):
    proc = cli("run", "portrait", portrait_jpegs[0], "--no-roi", "--quality", "60", "-o", str(tmp_path), "--cores",
               "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((tmp_path / "session.json").read_text())["config"]
    assert config["roi"] is False and config["cores"] == 1 and config["oversubscribe"] is False
    assert cli("run", "portrait", "-o", str(tmp_path), "--cores", "0").returncode == 2


def test_help_lists_every_tasks_options():
    for args in (("run", "--help"), ("run", "ocr", "--help"), ("profile", "--help")):
        proc = cli(*args)
        assert proc.returncode == 0
        text = proc.stdout[proc.stdout.index("Task options"):]
        for expected in ("portrait:", "--no-roi", "--background blur|color:#RRGGBB|image:PATH", "--save-mask",
                         "ocr:", "--runtime onnxruntime|openvino", "--draw", "module:function"):
            assert expected in text, (args, expected)
        assert "--cores" in proc.stdout and "--oversubscribe" in proc.stdout


def test_a_users_function_takes_the_options_its_signature_names(tmp_path, portrait_jpegs):
    (tmp_path / "opts_pipeline.py").write_text(textwrap.dedent('''
        from sightspeed import Pipeline, Stage

        def build(strength: float = 1.0, invert: bool = False):
            def step(item):
                item.output = 255 - item.image if invert else item.image
            return Pipeline([Stage("step", step)], name=f"mine-{strength}-{invert}")
    '''))
    proc = cli("run", "opts_pipeline:build", portrait_jpegs[0], "--strength", "2.5", "--invert",
               "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "session.json").read_text())["config"]["pipeline"] == "mine-2.5-True"
    bad = cli("run", "opts_pipeline:build", "--draw", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: opts_pipeline:build has no option --draw; its options: --strength X, --invert"
    bad = cli("run", "opts_pipeline:build", "--strength", "lots", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert bad.returncode == 2 and "--strength takes a number, not 'lots'" in bad.stderr
