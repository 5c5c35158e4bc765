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
    assert saved["machine"]["doctor"]["cpu"]["logical_cores"] >= 1  # the doctor report rides along
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
    assert proc.returncode == 1 and ("unknown task" in proc.stderr or "cannot load" in proc.stderr)


def test_limit_max_pixels_and_image_background(tmp_path, portrait_jpegs, sample_paths):
    out = tmp_path / "out"
    import cv2
    import numpy as np

    from sightspeed.io.decode import read_image

    proc = cli("run", "portrait", *portrait_jpegs, "-o", str(out), "--limit", "2", "--max-megapixels", "0.4",
               "--background", f"image:{sample_paths[1]}", "--save-mask")
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # --limit
    # photo0 is 512x600 = 0.31 MP, photo1 512x512 = 0.26 MP: both under the limit
    assert all(r["status"] == "ok" for r in rows), proc.stderr[-2000:]
    result, mask = (read_image(p) for p in rows[0]["outputs"])
    backdrop = cv2.resize(read_image(sample_paths[1]), result.shape[1::-1], interpolation=cv2.INTER_AREA)
    background = mask[..., 0] == 0
    assert background.mean() > 0.2
    assert np.abs(result[background].astype(int) - backdrop[background]).mean() < 4
    proc = cli("run", "portrait", portrait_jpegs[2], "-o", str(out), "--max-megapixels", "0.4")
    assert proc.returncode == 3  # the 1280x720 frame is 0.92 MP
    (row,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert "1280x720 = 1 MP, over the 0.4 MP limit" in row["reason"]


def test_unwritable_output_is_a_clear_error(tmp_path, portrait_jpegs):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("run", "portrait", portrait_jpegs[0], "-o", str(blocker / "out"))
    assert proc.returncode == 1 and "error:" in proc.stderr and "Traceback" not in proc.stderr
