"""A plain script nobody annotated, profiled: its codec and model calls become stages (with their work, so bounds),
the rest of its time is sorted by what it was doing, the hint names the line worth a stage, and nothing stays
wrapped afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import onnxruntime
import pytest
from rich.console import Console

from onnx_models import matmul_chain
from sightspeed.profiler import profile_script
from sightspeed.profiling import implicit
from sightspeed.profiling.analysis import analyse
from sightspeed.profiling.session import Session
from sightspeed.report.lines_console import hint_text, wrap_hints
from sightspeed.report.profile_console import render

ROUNDS = 4
SCRIPT = textwrap.dedent('''
    import sys

    import cv2
    import numpy as np
    import onnxruntime as ort

    *paths, model, out = sys.argv[1:]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for k, path in enumerate(paths * {rounds}):
        image = cv2.imread(path)
        x = np.sqrt(image.astype(np.float64) ** 2 + 1.0) / 255.0
        blob = np.ascontiguousarray(x[:64, :64, 0], dtype=np.float32)
        y = session.run(None, {{"x": blob}})[0]
        cv2.imwrite(f"{{out}}/out{{k}}.jpg", image)
''').format(rounds=ROUNDS)
FLOAT64_LINE = "x = np.sqrt(image.astype(np.float64) ** 2 + 1.0) / 255.0"


@pytest.fixture(scope="module")
def plain_app(tmp_path_factory, photos):
    """The script, three real photos written as JPEGs by cv2, a tiny real ONNX model and an output folder."""
    folder = tmp_path_factory.mktemp("plain")
    jpegs = []
    for k, photo in enumerate((photos * 3)[:3]):
        path = folder / f"photo{k}.jpg"
        assert cv2.imwrite(str(path), cv2.resize(photo, (800, 600)))
        jpegs.append(str(path))
    model, flops = matmul_chain(folder, size=64, depth=2)
    (folder / "out").mkdir()
    script = folder / "app.py"
    script.write_text(SCRIPT)
    return script, jpegs, model, flops, folder / "out"


def test_a_plain_script_gets_stages_bounds_and_a_hint(plain_app):
    script, jpegs, model, flops, out = plain_app
    imread, run = cv2.imread, onnxruntime.InferenceSession.run
    before = list(sys.meta_path)
    result = profile_script([str(script), *jpegs, model, str(out)], Session(), perf=False)
    assert result.code == 0, result.traceback
    session = result.session
    calls = len(jpegs) * ROUNDS
    summary = session.stage_summary()
    assert {name: summary[name]["calls"] for name in ("image decode", "model: chain", "image encode")} == {
        "image decode": calls, "model: chain": calls, "image encode": calls}
    # their work: the JPEGs' bytes and pixels, the model's FLOPs at the shape it ran (counted after the run)
    assert summary["image decode"]["work"]["jpeg_pixels"] == calls * 800 * 600
    assert summary["image encode"]["work"]["jpeg_encode_pixels"] == calls * 800 * 600
    assert summary["model: chain"]["work"]["flops"] == pytest.approx(calls * flops)
    reports = {r.name: r for r in analyse(session)}  # no ceilings in this session: bounds from the CPU alone
    assert reports["model: chain"].work["flops"] and reports["image decode"].work["jpeg_pixels"]
    assert session.config["implicit"]["stages"] == {"image decode": "image decode", "model: chain": "model",
                                                    "image encode": "image encode"}
    # the float64 line is among the top lines outside any stage, doing array work, and the hint names it
    line = next(k for k, text in enumerate(SCRIPT.splitlines(), 1) if FLOAT64_LINE in text)
    top = {row["line"]: row for row in session.lines["(script)"][:3]}
    assert line in top and top[line]["category"] == "numpy/OpenCV", session.lines["(script)"]
    assert any(row["line"] == line for row in wrap_hints(session))
    assert f"app.py:{line}" in hint_text(session) and FLOAT64_LINE in hint_text(session)
    # the breakdown: the implicit stages by category (from their spans), the rest sampled
    assert {"image decode", "image encode", "model", "numpy/OpenCV"} <= set(session.breakdown)
    assert session.breakdown["model"]["stages"] == ["model: chain"]
    assert sum(e["share"] for e in session.breakdown.values()) == pytest.approx(1.0)
    console = Console(record=True, width=220)
    render(console, session)
    text = console.export_text()
    for shown in ("image decode", "model: chain", "where the time went", "hint:", FLOAT64_LINE):
        assert shown in text, shown
    again = Session.from_dict(json.loads(json.dumps(session.to_dict())))
    assert again.breakdown == session.breakdown and again.config["implicit"] == session.config["implicit"]
    # nothing stays wrapped
    assert cv2.imread is imread and onnxruntime.InferenceSession.run is run
    assert "run" not in vars(onnxruntime.InferenceSession)  # the shadowing attribute is gone, not just reset
    assert sys.meta_path == before


def test_modules_imported_by_the_script_are_wrapped_then_restored(plain_app):
    """In a fresh process, cv2 and onnxruntime are first imported by the script: the import hook wraps them as
    their imports finish, and afterwards both are as they were, their loaders too."""
    script, jpegs, model, flops, out = plain_app
    check = textwrap.dedent(f'''
        import sys
        from sightspeed.profiler import profile_script
        from sightspeed.profiling.session import Session
        assert "cv2" not in sys.modules and "onnxruntime" not in sys.modules
        hooks = list(sys.meta_path)
        result = profile_script({[str(script), *jpegs, model, str(out)]!r}, Session(), perf=False)
        import cv2, onnxruntime
        calls = {{k: v["calls"] for k, v in result.session.stage_summary().items()}}
        print(calls["image decode"], calls["model: chain"], calls["image encode"])
        print(type(cv2.imread).__name__, "run" in vars(onnxruntime.InferenceSession), sys.meta_path == hooks)
        print(type(cv2.__spec__.loader).__module__, type(cv2.__loader__).__module__)
    ''')
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts, state, loaders = proc.stdout.split("\n")[:3]
    calls = len(jpegs) * ROUNDS
    assert counts.split() == [str(calls)] * 3
    assert state.split() == ["builtin_function_or_method", "False", "True"]
    assert "sightspeed" not in loaders


def test_calls_inside_a_stage_are_left_to_it(tmp_path, photos):
    """Inside the user's own stage an entry point is not a stage of its own and adds no work: the user's
    annotation stands (work it declares itself is never counted twice)."""
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), photos[0])
    script = tmp_path / "annotated.py"
    script.write_text(textwrap.dedent(f'''
        import cv2, sightspeed
        for _ in range(3):
            with sightspeed.stage("decode"):
                image = cv2.imread({str(path)!r})
        image = cv2.imread({str(path)!r})
    '''))
    session = profile_script([str(script)], Session(), perf=False).session
    summary = session.stage_summary()
    assert summary["decode"]["calls"] == 3 and summary["decode"]["work"] == {}
    assert summary["image decode"]["calls"] == 1  # the call outside the stage


def test_install_and_uninstall_leave_nothing_behind():
    pil = pytest.importorskip("PIL.Image")
    from PIL import ImageFile

    originals = (cv2.imread, cv2.imencode, pil.open, pil.Image.save, ImageFile.ImageFile.load,
                 onnxruntime.InferenceSession.run)
    wrapper = implicit.Implicit().install()
    assert cv2.imread is not originals[0] and cv2.imread.__sightspeed_original__ is originals[0]
    assert {"cv2.imread", "PIL.Image.open", "PIL.ImageFile.ImageFile.load"} <= set(wrapper.wrapped)
    assert cv2.imread(str(__file__)) is None  # outside a profile a wrapped call is the plain call
    wrapper.uninstall()
    assert (cv2.imread, cv2.imencode, pil.open, pil.Image.save, ImageFile.ImageFile.load,
            onnxruntime.InferenceSession.run) == originals


ENTRY_POINTS = textwrap.dedent('''
    import sys

    import cv2
    import numpy as np
    import openvino as ov
    import simplejpeg
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    folder, onnx_model, tflite_model = sys.argv[1:]


    def picture(side):
        return np.random.default_rng(side).integers(0, 255, (side, side, 3), dtype=np.uint8)


    small, medium, large = picture(16), picture(32), picture(48)
    jpeg = simplejpeg.encode_jpeg(small, 90, "BGR")  # 1 encode, 1 decode: 256 pixels
    simplejpeg.decode_jpeg(jpeg, "BGR")
    for _ in range(2):
        ok, buf = cv2.imencode(".jpg", medium)  # 2 encodes, 2 decodes: 1024 pixels
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        ok, png = cv2.imencode(".png", medium)  # 2 encodes to PNG: no JPEG pixels
    for k in range(3):
        Image.fromarray(large).save(f"{folder}/pil{k}.jpg")  # 3 encodes: 2304 pixels
        with Image.open(f"{folder}/pil{k}.jpg") as im:  # 3 opens (the header), 3 decodes (PIL's deferred load)
            np.asarray(im)
    compiled = ov.Core().compile_model(onnx_model, "CPU")
    for _ in range(4):
        compiled(np.ones((32, 32), np.float32))  # CompiledModel.__call__ -> InferRequest.infer
    interpreter = Interpreter(model_path=tflite_model)
    interpreter.allocate_tensors()
    first = interpreter.get_input_details()[0]
    for _ in range(2):
        interpreter.set_tensor(first["index"], np.zeros(first["shape"], np.float32))
        interpreter.invoke()
''')


def test_each_entry_point_is_a_stage_with_its_work(tmp_path):
    """simplejpeg, cv2.imdecode/imencode, PIL open/save/load, an OpenVINO CompiledModel call and a LiteRT
    Interpreter.invoke: each call a span of its stage, with the work it did (told apart here by image size)."""
    ov = pytest.importorskip("openvino")
    from ai_edge_litert.interpreter import Interpreter

    from sightspeed.models.zoo import fetch
    from sightspeed.profiling.flops import tflite_flops

    onnx_model, flops = matmul_chain(tmp_path, size=32, depth=2)
    tflite_model = str(fetch("blazeface-short", quiet=True))
    script = tmp_path / "entry_points.py"
    script.write_text(ENTRY_POINTS)
    originals = (ov.Core.compile_model, ov.Core.read_model, ov.CompiledModel.create_infer_request,
                 ov.InferRequest.infer, Interpreter.__init__, Interpreter.invoke)
    result = profile_script([str(script), str(tmp_path), onnx_model, tflite_model], Session(), perf=False)
    assert result.code == 0, result.traceback
    session = result.session
    summary = session.stage_summary()
    tflite_name = f"model: {Path(tflite_model).stem}"
    assert {name: st["calls"] for name, st in summary.items()} == {
        "image encode": 1 + 2 + 2 + 3, "image decode": 1 + 2 + 3, "image open": 3, "model: chain": 4,
        tflite_name: 2}
    spans = {name: [s.work for s in session.spans if s.stage == name] for name in summary}
    assert sorted(w.get("jpeg_pixels", 0) for w in spans["image decode"]) == [256, 1024, 1024] + [2304] * 3
    assert sorted(w.get("jpeg_encode_pixels", 0) for w in spans["image encode"]) == [0, 0, 256, 1024, 1024] + \
        [2304] * 3  # the PNGs declare no JPEG pixels
    assert sorted(w["disk_bytes"] for w in spans["image open"]) == sorted(
        (tmp_path / f"pil{k}.jpg").stat().st_size for k in range(3))
    # the models' FLOPs, counted after the run: the ONNX file OpenVINO compiled, at the shape it ran; the .tflite
    assert summary["model: chain"]["work"]["flops"] == pytest.approx(4 * flops)
    per_invoke = tflite_flops(tflite_model)
    assert per_invoke > 0 and summary[tflite_name]["work"]["flops"] == pytest.approx(2 * per_invoke)
    assert session.config["implicit"]["stages"] == {"image encode": "image encode", "image decode": "image decode",
                                                    "image open": "image decode", "model: chain": "model",
                                                    tflite_name: "model"}
    assert (ov.Core.compile_model, ov.Core.read_model, ov.CompiledModel.create_infer_request, ov.InferRequest.infer,
            Interpreter.__init__, Interpreter.invoke) == originals
