"""The conversion job that :mod:`sightspeed.models.convert` runs in a child process, in its own working folder:

    python -m sightspeed.models._onnx2tf_job SOURCE.onnx WORK H W SAVED

It writes SAVED (the NCHW-signature SavedModel, an existing empty folder) and ``WORK/report.json`` (shape, max abs
difference from ONNX Runtime on the check input, versions)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # the file onnx2tf would fetch from GitHub


def fixed_copy(source: Path, dest: Path, h: int, w: int) -> tuple[str, list[int]]:
    """``source`` with its first input's dynamic dims fixed (batch 1, spatial h, w), saved as ``dest``."""
    import onnx

    model = onnx.load(str(source))
    (first,) = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}][:1]
    dims = first.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise SystemExit(f"{source}: the input {first.name} has {len(dims)} dimensions; only NCHW images convert")
    for dim, value in zip(dims, (1, None, h, w)):
        if value is not None and not dim.HasField("dim_value"):
            dim.ClearField("dim_param")
            dim.dim_value = value
    onnx.save(model, str(dest))
    return first.name, [d.dim_value for d in dims]


def photos(h: int, w: int) -> list[np.ndarray]:
    """The zoo's sample photos (BGR uint8), when they are here; a gradient otherwise."""
    import cv2

    from .zoo import resolve

    found = []
    for name in ("grace-hopper", "astronaut"):
        try:
            found.append(cv2.imread(str(resolve(name, download=False, quiet=True))))
        except Exception:
            pass
    found = [p for p in found if p is not None]
    if not found:
        ramp = np.linspace(0, 255, h * w * 3).reshape(h, w, 3).astype(np.uint8)
        found = [ramp]
    return [cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in found]


def convert(source: Path, work: Path, h: int, w: int, saved: Path) -> dict:
    import onnx2tf
    import onnxruntime as ort
    import tensorflow as tf

    fixed = work / "model.onnx"
    name, shape = fixed_copy(source, fixed, h, w)
    small = [p[:128, :128] if p.shape[0] >= 128 and p.shape[1] >= 128 else np.resize(p, (128, 128, 3))
             for p in photos(max(h, 128), max(w, 128))]
    np.save(work / SAMPLE, np.stack([small[k % len(small)] for k in range(20)]).astype(np.float32) / 255)
    onnx2tf.convert(input_onnx_file_path=str(fixed), output_folder_path=str(work / "onnx2tf"), non_verbose=True,
                    disable_strict_mode=True)  # strict mode's per-op probes fail under tf-keras 2.21

    x = (photos(h, w)[0][None].transpose(0, 3, 1, 2).astype(np.float32) / 255 - 0.5) / 0.5
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected = session.run(None, {name: x})

    inner = tf.saved_model.load(str(work / "onnx2tf"))
    signature = inner.signatures["serving_default"]
    inner_in = list(signature.structured_input_signature[1])[0]
    inner_out = sorted(signature.structured_outputs, key=lambda k: [int(t) if t.isdigit() else t
                                                                  for t in re.split(r"(\d+)", k)])
    got = signature(**{inner_in: tf.constant(x.transpose(0, 2, 3, 1))})
    back = []  # per output: transpose NHWC back to NCHW?
    for key, want in zip(inner_out, expected):
        have = tuple(got[key].shape)
        nhwc = (want.shape[0], *want.shape[2:], want.shape[1]) if want.ndim == 4 else None
        if have == want.shape:
            back.append(False)
        elif have == nhwc:
            back.append(True)
        else:
            raise SystemExit(f"output {key}: shape {have}, ONNX gives {want.shape}")
    keys = [re.sub(r"\W", "_", n) for n in names]

    class Wrapped(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=re.sub(r"\W", "_", name))])
        def serve(self, x):
            out = self.inner.signatures["serving_default"](**{inner_in: tf.transpose(x, [0, 2, 3, 1])})
            return {k: tf.transpose(out[i], [0, 3, 1, 2]) if t else out[i]
                    for k, i, t in zip(keys, inner_out, back)}

    module = Wrapped()
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    reloaded = tf.saved_model.load(str(saved)).signatures["serving_default"]
    result = reloaded(tf.constant(x))
    diff = max(float(np.abs(result[k].numpy() - e).max()) for k, e in zip(keys, expected))
    return {"input": name, "shape": shape, "layout": "NCHW in (as the ONNX model); onnx2tf's NHWC graph inside",
            "outputs": keys, "max_abs_diff": diff, "check_input": "a sample photo scaled to [-1, 1]",
            "versions": {"onnx2tf": onnx2tf.__version__, "tensorflow": tf.__version__,
                         "onnxruntime": ort.__version__}}


def main(argv: list[str]) -> None:
    source, work, h, w, saved = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3]), Path(argv[4])
    record = convert(source, work, h, w, saved)
    (work / "report.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
