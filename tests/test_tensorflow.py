"""The tensorflow runtime on a tiny real Keras model (Conv2D + Dense), saved as .keras and exported as a SavedModel:
outputs equal Keras' own, batches equal single runs, one trace, the thread budget, FLOPs against a hand count, a
user pipeline through ``sightspeed.run``, and the error that names the extra when TensorFlow is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow",
                         reason="the tensorflow extra is not installed: pip install 'sightspeed[tensorflow]'")

import sightspeed  # noqa: E402
from sightspeed.errors import MissingDependency, ModelError  # noqa: E402
from sightspeed.profiling.flops import model_flops  # noqa: E402
from sightspeed.runtimes import load  # noqa: E402
from sightspeed.runtimes.tensorflow import apply_threads  # noqa: E402

H, W, C, K, CLASSES = 8, 8, 3, 4, 5
# hand count: Conv2D 3x3 'same' -> 8x8x4 outputs of 3*3*3 MACs each; Dense 8*8*4 -> 5
MACS_PER_IMAGE = H * W * K * (3 * 3 * C) + (H * W * K) * CLASSES
THREADS = 2  # the pools this module asks for (the first load of a process sizes them)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    import keras

    apply_threads(tf, THREADS)  # before the model below runs TensorFlow's first op
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((H, W, C)),
        keras.layers.Conv2D(K, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES),
    ])
    folder = tmp_path_factory.mktemp("tf")
    model.save(folder / "tiny.keras")
    model.export(str(folder / "tiny_saved"), verbose=False)
    x = np.random.default_rng(0).random((4, H, W, C), np.float32)
    return {"keras": folder / "tiny.keras", "saved": folder / "tiny_saved", "x": x,
            "expected": model.predict(x, verbose=0)}


@pytest.mark.parametrize("kind", ["keras", "saved"])
def test_outputs_equal_keras_own_predict_and_a_batch_equals_single_runs(models, kind):
    rt = load(models[kind], threads=THREADS)
    assert rt.name == "tensorflow" and rt.thread_safe
    assert [s.shape for s in rt.inputs] == [(None, H, W, C)] and rt.inputs[0].dtype == "float32"
    assert [s.shape for s in rt.outputs] == [(None, CLASSES)]
    x = models["x"]
    before = x.copy()
    (y,) = rt.run(x)
    assert isinstance(y, np.ndarray) and y.shape == (4, CLASSES)
    assert np.abs(y - models["expected"]).max() <= 1e-5
    singles = np.concatenate([rt.run(x[i:i + 1])[0] for i in range(4)])
    assert np.abs(singles - y).max() <= 1e-5
    assert np.array_equal(x, before)  # the input is not modified


@pytest.mark.parametrize("kind", ["keras", "saved"])
def test_repeated_calls_of_any_batch_reuse_one_trace(models, kind):
    rt = load(models[kind], threads=THREADS)
    for batch in (1, 1, 3, 3, 4, 1):
        rt.run(np.zeros((batch, H, W, C), np.float32))
    assert rt.traces == 1


def test_load_picks_tensorflow_by_path_and_by_name(models, tmp_path):
    assert load(models["saved"], runtime="tensorflow", threads=THREADS).name == "tensorflow"
    assert load(str(models["keras"]), threads=THREADS).name == "tensorflow"
    with pytest.raises(ModelError, match="does not take SavedModel folders"):
        load(models["saved"], runtime="onnxruntime")
    with pytest.raises(ModelError, match="does not take .keras files"):
        load(models["keras"], runtime="litert")
    with pytest.raises(ModelError, match="no saved_model.pb"):
        load(tmp_path)


def test_flops_equal_the_hand_count(models):
    assert model_flops(models["keras"]) == 2.0 * MACS_PER_IMAGE  # declared shape, batch 1
    name = load(models["saved"], threads=THREADS).inputs[0].name
    assert model_flops(models["saved"], {name: (4, H, W, C)}) == 2.0 * 4 * MACS_PER_IMAGE


THREAD_CHECK = '''
import json, sys, warnings
import tensorflow as tf
from sightspeed.runtimes import load
first = load(sys.argv[1], threads=3)
applied = tf.config.threading.get_intra_op_parallelism_threads()
inter = tf.config.threading.get_inter_op_parallelism_threads()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    second = load(sys.argv[2], threads=1)
print(json.dumps({"applied": applied, "inter": inter, "first": first.threads, "first_notes": first.notes,
                  "second": second.threads, "second_notes": second.notes,
                  "warned": [str(w.message) for w in caught]}))
'''


def test_the_first_load_sizes_the_pools_and_a_later_one_says_it_cannot(models):
    # a fresh process: TensorFlow sizes its pools once, before its first op
    proc = subprocess.run([sys.executable, "-c", THREAD_CHECK, str(models["saved"]), str(models["keras"])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["applied"] == 3 and got["inter"] == 1 and got["first"] == 3 and got["first_notes"] == []
    assert got["second"] == 3  # the count really in use, not the one asked for
    assert "asked for 1 threads, runs with 3 intra-op threads" in got["second_notes"][0]
    assert got["warned"] == got["second_notes"]


USER_PIPELINE = '''
import numpy as np
from sightspeed import Pipeline, Stage
from sightspeed.runtimes import load

def build(model: str = ""):
    rt = load(model)

    def classify(item):
        x = item.image[:8, :8].astype(np.float32)[None] / 255.0
        (scores,) = rt.run(x)
        item.results["class"] = int(scores[0].argmax())
        item.output = item.image

    return Pipeline([Stage("classify", classify)])
'''


def test_a_user_pipeline_runs_the_saved_model_through_sightspeed_run(models, tmp_path, monkeypatch):
    import simplejpeg

    from sightspeed.tasks import build

    (tmp_path / "tfclassify.py").write_text(textwrap.dedent(USER_PIPELINE))
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(1)
    for k in range(3):
        (inputs / f"img_{k}.jpg").write_bytes(simplejpeg.encode_jpeg(rng.integers(0, 255, (24, 32, 3), np.uint8),
                                                                     90, "BGR"))
    monkeypatch.chdir(tmp_path)
    pipeline = build("tfclassify:build", {"model": str(models["saved"])})
    result = sightspeed.run(pipeline, [str(inputs)], tmp_path / "out")
    assert (result.ok, result.failed) == (3, 0)
    assert all(row.get("error") in (None, "") for row in result.rows)
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 3


def test_without_tensorflow_the_error_names_the_extra(models):
    # a real import failure: None in sys.modules makes ``import tensorflow`` raise ImportError
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from sightspeed.runtimes import load\n"
            "try:\n    load(sys.argv[1])\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(models["saved"])], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MissingDependency tensorflow is not installed: pip install 'sightspeed[tensorflow]'")
    assert issubclass(MissingDependency, ImportError)  # model_flops reads it as "no counter here": None


def test_model_flops_is_none_for_files_it_cannot_count(tmp_path):
    assert model_flops(Path(tmp_path) / "x.bin") is None


def test_opencl_is_not_started_after_tensorflow_and_doctor_says_why():
    # PoCL's OpenCL platform enumerated after TensorFlow's import crashed the process (a segmentation fault in
    # cv2.ocl.haveOpenCL(), and in OpenVINO's device list, which starts its GPU plugin): every run calls doctor
    code = textwrap.dedent("""
        import json, tensorflow
        from sightspeed.profiling.doctor import report
        from sightspeed.kernels._backends import status
        info = report()
        print(json.dumps([info["opencv"]["opencl_available"], info["runtimes"]["openvino"]["devices"],
                          status("opencl")]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    opencl, devices, backend = json.loads(done.stdout.strip().splitlines()[-1])
    assert "TensorFlow is loaded in this process" in opencl and devices == ["CPU"]
    assert backend[0] is False and "TensorFlow" in backend[1]


UNANNOTATED = '''
import sys
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
name = list(serve.structured_input_signature[1])[0]
for batch in (2, 2, 3):
    serve(**{name: tf.constant(np.zeros((batch, 8, 8, 3), np.float32))})
'''


def test_a_script_calling_a_saved_model_gets_a_model_stage_with_its_flops(models, tmp_path):
    script = tmp_path / "plain_tf.py"
    script.write_text(UNANNOTATED)
    env = {**os.environ, "SIGHTSPEED_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "sightspeed", "profile", "-o", str(tmp_path / "prof"), "--",
                           "python", str(script), str(models["saved"])], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    session = json.loads((tmp_path / "prof" / "session.json").read_text())
    totals = session["totals"]["model: tensorflow"]
    assert totals["calls"] == 3 and totals["items"] == 0  # a script's stages count calls, not items
    assert totals["work"]["flops"] == pytest.approx(2 * MACS_PER_IMAGE * (2 + 2 + 3), rel=0.05)
    # the import of TensorFlow is most of this run: the verdict says it is start-up, not work to put in a stage
    verdict = done.stdout[done.stdout.index("verdict:"):]
    assert "an import, paid once per process" in " ".join(verdict.split())


KERAS_SCRIPT = '''
import sys
import numpy as np
import keras

model = keras.saving.load_model(sys.argv[1], compile=False)
x = np.zeros((2, 8, 8, 3), np.float32)
model(x, training=False)
model(x)
model.predict(np.zeros((3, 8, 8, 3), np.float32), verbose=0)
'''


def test_a_scripts_keras_calls_are_a_model_stage_with_their_flops(models, tmp_path):
    from sightspeed.profiler import profile_script

    script = tmp_path / "plain_keras.py"
    script.write_text(KERAS_SCRIPT)
    result = profile_script([str(script), str(models["keras"])])
    assert result.code == 0, result.traceback
    (name,) = [n for n in result.session.totals if n.startswith("model: ")]
    totals = result.session.totals[name]
    assert totals.calls == 3  # predict's own model calls inside it pass through: one stage call each
    assert totals.work["flops"] == pytest.approx(2 * MACS_PER_IMAGE * (2 + 2 + 3), rel=0.05)
