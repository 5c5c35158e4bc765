"""A program nobody annotated: its image codec and model calls become stages of their own.

While a script runs under the profiler, a fixed list of entry points is wrapped; each call outside any stage is an
implicit span of a stage named by its category, with the work it did declared, so it gets a bound and a % SOL like
any stage (``stage("image decode")`` around ``cv2.imread``, with the file's bytes and the JPEG's pixels):

====================================================  ================  =====================================
entry point                                           stage             work declared
====================================================  ================  =====================================
cv2.imread, cv2.imdecode, simplejpeg.decode_jpeg,     image decode      disk_bytes (a file's size),
PIL ImageFile.load (the decode PIL defers)                              jpeg_pixels (a JPEG's, decoded)
PIL Image.open (reads the header)                     image open        disk_bytes
cv2.imwrite, cv2.imencode, simplejpeg.encode_jpeg,    image encode      jpeg_encode_pixels (to JPEG)
PIL Image.save
onnxruntime InferenceSession.run                      model: <file>     flops (profiling.flops, at the shapes
                                                                        run, counted after the run)
ai_edge_litert / tflite_runtime / tf.lite             model: <file>     flops (profiling.flops)
Interpreter.invoke
openvino InferRequest.infer (CompiledModel calls it)  model: <file>     flops (a model compiled from an ONNX file:
                                                                        that file at the shapes run; an IR: none)
keras Model.__call__ / Model.predict (TensorFlow)     model: <name>     flops (the model traced at the shapes
                                                                        run, after the run)
TensorFlow ConcreteFunction.__call__ (a SavedModel's  model: tensorflow  flops (its graph, frozen, counted
signatures), tf.function calls                                          after the run; concrete functions)
====================================================  ================  =====================================

Inside a stage (the user's ``sightspeed.stage`` or a pipeline's), a call is left alone: the user's annotation is the
truth, and adding work the stage may declare itself would count it twice. So are calls from sightspeed's own code
(its decoders and runtimes declare their work). A module imported before the profile is wrapped at once, one
imported later as its import finishes (a ``sys.meta_path`` hook); :meth:`Implicit.uninstall` puts every original
back and removes the hook. The TensorFlow calls nest (a keras call runs a tf.function, which runs a concrete
function): the outermost is the stage, the inner ones pass through.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import counters
from .frames import CALLS_THROUGH
from .scope import active, stage

DECODE, ENCODE, MODEL = "image decode", "image encode", "model"
_JPEG = (".jpg", ".jpeg", ".jpe", ".jfif")


@dataclass(frozen=True)
class Target:
    """One entry point: ``path`` (``Class.method`` or ``function``) in ``module``, the stage its calls are, and
    what work a call did, from its arguments and result (``work(args, kwargs, result) -> counters``)."""

    module: str
    path: str
    stage: str  # the stage name; "model" -> "model: <name>" from model_name(implicit, args)
    category: str
    work: Callable[[tuple, dict, Any], dict[str, float]] | None = None
    model_name: Callable[[Any, tuple], str] | None = None
    flops_key: Callable[[Any, tuple, dict], tuple | None] | None = None
    when: Callable[[tuple, dict], bool] | None = None  # False: not a real call of the kind (PIL's no-op loads)


def _path_of(value: Any) -> str | None:
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else None


def _pixels(image: Any) -> int:
    shape = getattr(image, "shape", None)
    return int(shape[0]) * int(shape[1]) if shape is not None and len(shape) >= 2 else 0


def _imread(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    path = _path_of(args[0] if args else kwargs.get("filename"))
    work: dict[str, float] = {}
    if path and os.path.isfile(path):
        work["disk_bytes"] = os.path.getsize(path)
    if path and path.lower().endswith(_JPEG) and _pixels(result):
        work["jpeg_pixels"] = _pixels(result)
    return work


def _imdecode(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    buf = args[0] if args else kwargs.get("buf")
    try:
        head = bytes(memoryview(buf).cast("B")[:2])
    except (TypeError, ValueError):
        return {}
    return {"jpeg_pixels": _pixels(result)} if head == b"\xff\xd8" and _pixels(result) else {}


def _imwrite(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    path = _path_of(args[0] if args else kwargs.get("filename")) or ""
    image = args[1] if len(args) > 1 else kwargs.get("img")
    return {"jpeg_encode_pixels": _pixels(image)} if path.lower().endswith(_JPEG) and _pixels(image) else {}


def _imencode(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    ext = str(args[0] if args else kwargs.get("ext", ""))
    image = args[1] if len(args) > 1 else kwargs.get("img")
    return {"jpeg_encode_pixels": _pixels(image)} if ext.lower() in _JPEG and _pixels(image) else {}


def _decoded(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    return {"jpeg_pixels": _pixels(result)} if _pixels(result) else {}


def _encoded(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    image = args[0] if args else kwargs.get("image")
    return {"jpeg_encode_pixels": _pixels(image)} if _pixels(image) else {}


def _pil_open(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    path = _path_of(args[0] if args else kwargs.get("fp"))
    return {"disk_bytes": os.path.getsize(path)} if path and os.path.isfile(path) else {}


def _pil_unloaded(args: tuple, kwargs: dict) -> bool:
    return bool(args and getattr(args[0], "tile", None))  # PIL calls load() on every pixel access: once decodes


def _pil_load(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    image = args[0]
    width, height = getattr(image, "size", (0, 0))
    return {"jpeg_pixels": width * height} if getattr(image, "format", None) == "JPEG" else {}


def _pil_save(args: tuple, kwargs: dict, result: Any) -> dict[str, float]:
    image = args[0]
    fmt = args[2] if len(args) > 2 else kwargs.get("format")
    path = _path_of(args[1] if len(args) > 1 else kwargs.get("fp")) or ""
    jpeg = (str(fmt).upper() in ("JPEG", "JPG")) if fmt else path.lower().endswith(_JPEG)
    width, height = getattr(image, "size", (0, 0))
    return {"jpeg_encode_pixels": width * height} if jpeg else {}


def _onnx_name(implicit: Any, args: tuple) -> str:
    path = getattr(args[0], "_model_path", None)
    return Path(path).stem if path else "onnx"


def _onnx_flops_key(implicit: Any, args: tuple, kwargs: dict) -> tuple | None:
    path = getattr(args[0], "_model_path", None)
    feed = args[2] if len(args) > 2 else kwargs.get("input_feed")
    if not path or not isinstance(feed, dict):
        return None
    shapes = tuple(sorted((name, tuple(getattr(v, "shape", ()))) for name, v in feed.items()))
    return ("onnx", path, shapes)


def _tflite_name(implicit: Any, args: tuple) -> str:
    path = implicit.model_paths.get(args[0])
    return Path(path).stem if path else "tflite"


def _tflite_flops_key(implicit: Any, args: tuple, kwargs: dict) -> tuple | None:
    path = implicit.model_paths.get(args[0])
    return ("tflite", path) if path else None


def _openvino_name(implicit: Any, args: tuple) -> str:
    path = implicit.model_paths.get(args[0])
    if path:
        return Path(path).stem
    try:
        return args[0].get_compiled_model().get_runtime_model().get_friendly_name() or "openvino"
    except Exception:  # noqa: BLE001 - a name is a nicety; the call itself must go on
        return "openvino"


def _openvino_flops_key(implicit: Any, args: tuple, kwargs: dict) -> tuple | None:
    """An infer request of a model compiled from an ONNX file: counted as that file at the shapes its inputs had
    (read from the request after the call, however they were passed). An IR (.xml) is not counted."""
    path = implicit.model_paths.get(args[0])
    if not path or not path.lower().endswith(".onnx"):
        return None
    request = args[0]
    shapes = tuple(sorted((port.get_any_name(), tuple(int(d) for d in tensor.shape))
                          for port, tensor in zip(request.model_inputs, request.input_tensors)))
    return ("onnx", path, shapes)


def _keras_name(implicit: Any, args: tuple) -> str:
    return str(getattr(args[0], "name", "") or "keras")


def _tf_name(implicit: Any, args: tuple) -> str:
    return "tensorflow"


def _tf_flops_key(implicit: Any, args: tuple, kwargs: dict) -> tuple | None:
    """(kind, the callable (a concrete function, or a keras model: ``predict`` counts as a call on the whole
    array), its array inputs' (position or name, shape, dtype)): counted after the run at the shapes it ran at.
    Other arguments (``training=``, ``verbose=``) are left out. The variables are kept alive until then (a script
    may drop the model they belong to)."""
    fn = args[0]
    inputs = [(k, v) for k, v in enumerate(args[1:])] + sorted(kwargs.items())
    shapes = tuple((k, tuple(v.shape), v.dtype.name if hasattr(v.dtype, "name") else str(v.dtype)) for k, v in inputs
                   if hasattr(v, "shape") and hasattr(v, "dtype"))
    if id(fn) not in implicit.keep:
        implicit.keep[id(fn)] = (fn, list(fn.variables))  # raises where they are gone already: no count
    return ("tensorflow", fn, shapes)


def _model(module: str, path: str, name: Callable, flops: Callable | None = None) -> Target:
    return Target(module, path, MODEL, MODEL, model_name=name, flops_key=flops)


_TF_CONCRETE = "tensorflow.python.eager.polymorphic_function.concrete_function"
TARGETS: tuple[Target, ...] = (
    Target("cv2", "imread", DECODE, DECODE, _imread),
    Target("cv2", "imdecode", DECODE, DECODE, _imdecode),
    Target("cv2", "imwrite", ENCODE, ENCODE, _imwrite),
    Target("cv2", "imencode", ENCODE, ENCODE, _imencode),
    Target("simplejpeg", "decode_jpeg", DECODE, DECODE, _decoded),
    Target("simplejpeg", "encode_jpeg", ENCODE, ENCODE, _encoded),
    Target("PIL.Image", "open", "image open", DECODE, _pil_open),
    Target("PIL.ImageFile", "ImageFile.load", DECODE, DECODE, _pil_load, when=_pil_unloaded),
    Target("PIL.Image", "Image.save", ENCODE, ENCODE, _pil_save),
    _model("onnxruntime", "InferenceSession.run", _onnx_name, _onnx_flops_key),
    _model("openvino", "InferRequest.infer", _openvino_name, _openvino_flops_key),
    _model("ai_edge_litert.interpreter", "Interpreter.invoke", _tflite_name, _tflite_flops_key),
    _model("tflite_runtime.interpreter", "Interpreter.invoke", _tflite_name, _tflite_flops_key),
    _model("tensorflow.lite.python.interpreter", "Interpreter.invoke", _tflite_name, _tflite_flops_key),
    _model("keras", "Model.__call__", _keras_name, _tf_flops_key),
    _model("keras", "Model.predict", _keras_name, _tf_flops_key),
    # a SavedModel's signatures (tf.saved_model.load(...).signatures[...]) and every traced function's calls
    _model(_TF_CONCRETE, "ConcreteFunction.__call__", _tf_name, _tf_flops_key),
    _model("tensorflow.python.eager.polymorphic_function.polymorphic_function", "Function.__call__", _tf_name),
)


def _interpreter_path(paths: Any, args: tuple, kwargs: dict, result: Any) -> tuple[Any, Any]:
    return args[0], kwargs.get("model_path", args[1] if len(args) > 1 else None)


def _read_path(paths: Any, args: tuple, kwargs: dict, result: Any) -> tuple[Any, Any]:
    return result, args[1] if len(args) > 1 else kwargs.get("model")


def _compiled_path(paths: Any, args: tuple, kwargs: dict, result: Any) -> tuple[Any, Any]:
    model = args[1] if len(args) > 1 else kwargs.get("model")
    return result, _path_of(model) or paths.get(model)


def _request_path(paths: Any, args: tuple, kwargs: dict, result: Any) -> tuple[Any, Any]:
    return result, paths.get(args[0])


# interpreters and OpenVINO's requests do not keep their model's path: the calls that make them are wrapped to
# remember it (module -> (the call, what object it made from which path))
_INTERPRETER = (("Interpreter.__init__", _interpreter_path),)
_REMEMBER_PATH: dict[str, tuple[tuple[str, Callable], ...]] = {
    "ai_edge_litert.interpreter": _INTERPRETER, "tflite_runtime.interpreter": _INTERPRETER,
    "tensorflow.lite.python.interpreter": _INTERPRETER,
    "openvino": (("Core.read_model", _read_path), ("Core.compile_model", _compiled_path),
                 ("CompiledModel.create_infer_request", _request_path)),
}


class Implicit:
    """Wraps :data:`TARGETS` (an instrument of the session too: it sees which threads are inside a stage).

    >>> implicit = Implicit().install()
    >>> implicit.uninstall()
    """

    def __init__(self, targets: tuple[Target, ...] = TARGETS) -> None:
        self.targets = targets
        self.stages: dict[str, str] = {}  # implicit stage -> its category
        self.wrapped: list[str] = []  # "cv2.imread", ...
        # interpreter, OpenVINO model / compiled model / infer request -> its model file
        self.model_paths: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.keep: dict[int, tuple] = {}  # what a FLOP count after the run needs alive
        self._local = threading.local()
        self._patches: list[tuple[Any, str, bool, Any]] = []  # (owner, attribute, owned it, value before)
        self._pending: set[str] = set()
        self._finder: _Finder | None = None
        self._flops: dict[tuple[str, tuple], int] = {}  # (stage, model key) -> calls
        self._lock = threading.Lock()

    # ----- the instrument ----------------------------------------------------------------------------------------
    def _depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def begin(self, stage: str) -> None:
        self._local.depth = self._depth() + 1

    def end(self, stage: str) -> None:
        self._local.depth = max(0, self._depth() - 1)

    def resume(self) -> None:
        pass

    # ----- wrapping ----------------------------------------------------------------------------------------------
    def install(self) -> Implicit:
        modules = {t.module for t in self.targets} | set(_REMEMBER_PATH)
        for module in sorted(modules):
            if module in sys.modules:
                self._patch(module)
            else:
                self._pending.add(module)
        if self._pending:
            self._finder = _Finder(self)
            sys.meta_path.insert(0, self._finder)
        return self

    def uninstall(self) -> None:
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        self._finder = None
        for owner, attr, owned, value in reversed(self._patches):
            if owned:
                setattr(owner, attr, value)
            else:
                delattr(owner, attr)
        self._patches.clear()
        self._pending.clear()

    def _patch(self, module_name: str) -> None:
        self._pending.discard(module_name)
        module = sys.modules.get(module_name)
        if module is None:
            return
        for path, made in _REMEMBER_PATH.get(module_name, ()):
            self._set(*_owner(module, path), lambda original, m=made: self._remember(original, m))
        for target in self.targets:
            if target.module == module_name and self._set(*_owner(module, target.path),
                                                          lambda original, t=target: self._wrap(t, original)):
                self.wrapped.append(f"{module_name}.{target.path}")

    def _set(self, owner: Any, attr: str, make: Callable[[Any], Any]) -> bool:
        original = getattr(owner, attr, None) if owner is not None else None
        if original is None:
            return False
        owned = attr in vars(owner)
        inner = getattr(original, "__sightspeed_original__", None)
        if inner is not None:  # our wrapper, copied here (cv2 copies its native module's functions): put it back
            self._patches.append((owner, attr, owned, inner))
            return False
        self._patches.append((owner, attr, owned, original))
        setattr(owner, attr, make(original))
        return True

    def _remember(self, original: Callable, made: Callable) -> Callable:
        """``original``, which makes an object from a model file, and then notes the file of what it made
        (``made(paths, args, kwargs, result) -> (object, path)``)."""
        paths = self.model_paths

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = _through(original, args, kwargs)
            obj, path = _safe(made, paths, args, kwargs, result) or (None, None)
            path = _path_of(path)
            if path:
                try:
                    paths[obj] = path
                except TypeError:  # not weakly referenceable: the model stays unnamed
                    pass
            return result

        wrapper.__sightspeed_original__ = original  # type: ignore[attr-defined]
        return wrapper

    def _wrap(self, target: Target, original: Callable) -> Callable:
        implicit = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if (active() is None or implicit._depth() or (target.when and not target.when(args, kwargs))
                    or str(sys._getframe(1).f_globals.get("__name__", "")).startswith("sightspeed.")):
                return _through(original, args, kwargs)
            name = target.stage
            if target.model_name is not None:
                name = f"model: {_safe(target.model_name, implicit, args) or 'model'}"
            implicit.stages.setdefault(name, target.category)
            with stage(name):
                result = _through(original, args, kwargs)
                work = _safe(target.work, args, kwargs, result) if target.work else None
                if work:
                    counters.add(**work)
            key = _safe(target.flops_key, implicit, args, kwargs) if target.flops_key else None  # (after: untimed)
            if key is not None:
                with implicit._lock:
                    implicit._flops[(name, key)] = implicit._flops.get((name, key), 0) + 1
            return result

        wrapper.__sightspeed_original__ = original  # type: ignore[attr-defined]
        return wrapper

    # ----- after the run -----------------------------------------------------------------------------------------
    def finish(self, session: Any) -> None:
        """Add the FLOPs of the models' calls to their stages (counted now, after the run: loading a graph and
        inferring its shapes is never inside a timed span), and note what was wrapped in the session's config."""
        from .flops import onnx_flops, tflite_flops

        counters_of = {"onnx": lambda key: onnx_flops(key[1], dict(key[2])), "tflite": lambda key: tflite_flops(key[1]),
                       "tensorflow": lambda key: _concrete_flops(key[1], key[2])}
        per_key: dict[tuple, float | None] = {}
        for (name, key), calls in self._flops.items():
            if key not in per_key:
                try:
                    per_key[key] = counters_of[key[0]](key)
                except Exception:  # noqa: BLE001 - no onnx, an odd graph: the stage keeps no FLOPs, never fails
                    per_key[key] = None
            totals = session.totals.get(name)
            if per_key[key] and totals is not None:
                totals.work["flops"] = totals.work.get("flops", 0.0) + per_key[key] * calls
        self.keep.clear()
        session.config["implicit"] = {"wrapped": list(self.wrapped), "stages": dict(self.stages)}


def _concrete_flops(fn: Any, shapes: tuple) -> float:
    """FLOPs of one call of a TensorFlow concrete function at ``shapes`` (see :func:`_tf_flops_key`): traced again
    at those shapes, variables frozen, calls inlined."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from .flops import count_tf_graph

    keys = [k for k, _, _ in shapes]
    specs = [tf.TensorSpec(shape, dtype) for _, shape, dtype in shapes]

    def call(*xs: Any) -> Any:
        return fn(*[x for k, x in zip(keys, xs) if isinstance(k, int)],
                  **{k: x for k, x in zip(keys, xs) if not isinstance(k, int)})

    concrete = tf.function(call, input_signature=specs).get_concrete_function()
    return count_tf_graph(convert_variables_to_constants_v2(concrete).graph)


def _through(original: Callable, args: tuple, kwargs: dict) -> Any:
    """The wrapped function's call: the sampler charges the time inside it to the user's line, not to sightspeed."""
    return original(*args, **kwargs)


CALLS_THROUGH.add(_through.__code__)


def _owner(module: Any, path: str) -> tuple[Any, str]:
    """(the object holding ``path``'s last name, that name): ``(cv2, "imread")``, ``(Interpreter, "invoke")``."""
    *parents, attr = path.split(".")
    owner: Any = module
    for part in parents:
        owner = getattr(owner, part, None)
    return owner, attr


def _safe(fn: Callable, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - measuring must never break the user's call
        return None


class _Finder:
    """A ``sys.meta_path`` entry that lets the other finders find a module to wrap, then wraps it once its import
    finishes (the outermost import only: cv2's package imports its native module under the same name)."""

    def __init__(self, implicit: Implicit) -> None:
        self.implicit = implicit
        self._local = threading.local()

    def _busy(self) -> set[str]:
        busy = getattr(self._local, "busy", None)
        if busy is None:
            busy = self._local.busy = set()
        return busy

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        busy = self._busy()
        if name not in self.implicit._pending or name in busy:
            return None
        busy.add(name)
        spec = None
        try:
            for finder in sys.meta_path:
                if finder is not self and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(name, path, target)
                    if spec is not None:
                        break
        finally:
            if spec is None or not hasattr(spec.loader, "exec_module"):
                busy.discard(name)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, name, self)
        return spec


class _Loader:
    """The module's own loader, and the wrapping once it has run. Gives the module its own loader back."""

    def __init__(self, loader: Any, name: str, finder: _Finder) -> None:
        self._loader, self._name, self._finder = loader, name, finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            if getattr(module, "__spec__", None) is not None and module.__spec__.loader is self:
                module.__spec__.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
            self._finder._busy().discard(self._name)
        if self._finder.implicit._finder is self._finder:  # still installed
            self._finder.implicit._patch(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)
