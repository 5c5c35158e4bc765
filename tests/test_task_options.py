"""Per-task options: declarations on the options dataclasses, the parser, and the registry's checks (no models)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from sightspeed.tasks.options import Option, OptionError, declared, from_signature, option, parse
from sightspeed.tasks.registry import RUN_SETTINGS, build, options_of


def letters(value: str) -> None:
    if not value.isalpha():
        raise ValueError(f"--tag {value!r}: letters only")


@dataclass(frozen=True)
class Opts:
    roi: bool = option(True, "whole frame")
    draw: bool = option(False, "boxes")
    runtime: str = option("onnxruntime", "runtime", choices=("onnxruntime", "openvino"))
    quality: int = option(90, "JPEG quality", minimum=1, maximum=100)
    scale: float = option(1.0, "scale")
    tag: str = option("x", "a tag", check=letters)
    model: str = "det-v4"  # not an option


OPTS = declared(Opts)


def test_declared_reads_type_default_and_flag_from_the_dataclass():
    assert [(o.name, o.type, o.default, o.flag) for o in OPTS] == [
        ("roi", bool, True, "--no-roi"), ("draw", bool, False, "--draw"), ("runtime", str, "onnxruntime", "--runtime"),
        ("quality", int, 90, "--quality"), ("scale", float, 1.0, "--scale"), ("tag", str, "x", "--tag")]
    assert Opts() == Opts(True, False, "onnxruntime", 90, 1.0, "x", "det-v4")  # still a plain dataclass


def test_parse_splits_options_from_inputs_in_any_order():
    values, rest = parse(["a.jpg", "--no-roi", "dir/", "--runtime", "openvino", "--quality=50", "--scale", "0.5",
                          "@list.txt", "--draw"], OPTS, "t")
    assert values == {"roi": False, "runtime": "openvino", "quality": 50, "scale": 0.5, "draw": True}
    assert rest == ["a.jpg", "dir/", "@list.txt"]
    assert parse([], OPTS, "t") == ({}, [])


@pytest.mark.parametrize("words, message", [
    (["--nope"], "t has no option --nope; its options: --no-roi, --draw, --runtime onnxruntime|openvino, "
                 "--quality N, --scale X, --tag TEXT"),
    (["--roi"], "t has no option --roi (did you mean --no-roi?)"),
    (["--runtime", "tensorrt"], "--runtime 'tensorrt': use one of onnxruntime, openvino"),
    (["--runtime"], "--runtime needs a value: --runtime onnxruntime|openvino"),
    (["--quality", "high"], "--quality takes an integer, not 'high'"),
    (["--quality", "0"], "--quality 0: must be at least 1 and at most 100"),
    (["--scale", "big"], "--scale takes a number, not 'big'"),
    (["--draw=yes"], "--draw is a switch: it takes no value"),
    (["--tag", "a1"], "--tag 'a1': letters only"),
    (["-x"], "t has no option -x"),
])
def test_parse_errors_are_one_line_and_say_what_is_right(words, message):
    with pytest.raises(OptionError) as info:
        parse(words, OPTS, "t")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_typo_of_a_common_option_is_suggested():
    with pytest.raises(OptionError, match=r"did you mean --workers\?"):
        parse(["--worker", "2"], OPTS, "t", common=["--workers", "--cores"])


def test_from_signature_types_and_required_parameters():
    def build(strength: float = 1.0, invert=False, label="x", count: int | None = None, *, mode, variant="fast",
              **kwargs): ...

    opts = from_signature(build, skip=RUN_SETTINGS)
    assert [o.usage for o in opts] == ["--strength X", "--invert", "--label TEXT", "--count N", "--mode TEXT"]
    assert parse(["--mode", "a", "--strength", "2", "--invert"], opts, "m:build")[0] == {
        "mode": "a", "strength": 2.0, "invert": True}
    with pytest.raises(OptionError, match="m:build needs --mode TEXT"):
        parse([], opts, "m:build")
    with pytest.raises(TypeError):  # a declaration the parser could not read is a bug, said at once
        Option("x", list, [])


def test_shipped_tasks_declare_their_user_facing_options():
    from sightspeed.tasks.ocr import OcrOptions
    from sightspeed.tasks.portrait import PortraitOptions

    assert [o.flag for o in options_of("portrait")] == ["--no-roi", "--background", "--save-mask", "--quality",
                                                        "--fuse-preprocess", "--edges"]
    assert [o.flag for o in options_of("ocr")] == ["--runtime", "--precision", "--rec-batch", "--draw",
                                                   "--fuse-preprocess"]
    for cls in (PortraitOptions, OcrOptions):  # run settings and model files are fields, never task options
        names = {o.name for o in declared(cls)}
        assert names.isdisjoint(RUN_SETTINGS) and {f.name for f in fields(cls)} > names
    with pytest.raises(OptionError, match="colour must be #RRGGBB"):  # checked while parsing: before models load
        parse(["--background", "color:purple"], options_of("portrait"), "portrait")


@pytest.mark.parametrize("task, options", [("portrait", {"draw": True}), ("ocr", {"roi": False})])
def test_build_refuses_an_option_the_task_does_not_take(task, options):
    """The Python API too: never dropped silently (raised before any model loads)."""
    with pytest.raises(ValueError, match=f"{task} has no option {next(iter(options))}"):
        build(task, {"variant": "fast", "batch_size": 2, **options})


def test_build_refuses_an_option_a_users_function_does_not_name(tmp_path, monkeypatch):
    (tmp_path / "opts_pipeline.py").write_text("def build(strength: float = 1.0):\n    return []\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="opts_pipeline:build has no option draw; it takes strength"):
        build("opts_pipeline:build", {"draw": True, "batch_size": 2})
