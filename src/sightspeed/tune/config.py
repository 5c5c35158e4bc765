"""tuned.toml: what tune chose, written for people and read back by ``run --config`` / ``profile --config``.

A tuned config is also saved in the cache for its task and this machine's fingerprint; ``run`` without
``--config`` applies that one and says so (``--no-tuned`` ignores it).

    [tuned]                      # what it is, where it was measured
    task = "ocr"
    machine = "AMD EPYC ...|2|23GiB|numpy 2.4.6"
    [run]                        # the run's settings
    executor = "pipelined"
    split = "recognize=2x1"
    batch_size = 1
    [options]                    # the task's options
    runtime = "det=onnxruntime,cls=onnxruntime,rec=openvino"
    precision = "det=f32,cls=f32,rec=bf16"
    [backends]                   # kernel op -> backend
    box_scores = "opencv"
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .space import Candidate

RUN_KEYS = ("executor", "split", "batch_size")


@dataclass
class TunedConfig:
    task: str
    candidate: Candidate
    about: dict[str, Any] = field(default_factory=dict)  # machine, objective, speed-up, fidelity, tool version
    path: str = ""  # where it was read from

    def to_toml(self) -> str:
        lines = ["# written by `sightspeed tune`; `sightspeed run --config THIS_FILE` applies it", "[tuned]",
                 f"task = {_value(self.task)}"]
        lines += [f"{k} = {_value(v)}" for k, v in self.about.items() if v is not None]
        c = self.candidate
        lines += ["", "[run]", f"executor = {_value(c.executor)}", f"split = {_value(c.split)}",
                  f"batch_size = {c.batch_size}", "", "[options]"]
        lines += [f"{k} = {_value(v)}" for k, v in c.options]
        lines += ["", "[backends]"] + [f"{op} = {_value(b)}" for op, b in c.backends]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_toml())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TunedConfig:
        """Read a tuned.toml; a file that is not one is a ValueError naming it and what is wrong."""
        import tomllib

        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: not a readable tuned config ({exc})") from None
        tuned, run = data.get("tuned", {}), data.get("run", {})
        if "task" not in tuned:
            raise ValueError(f"{path}: not a tuned config (no [tuned] task = ...)")
        if run.get("executor", "pipelined") not in ("serial", "pipelined"):
            raise ValueError(f"{path}: [run] executor must be serial or pipelined")
        candidate = Candidate(options=tuple(sorted(data.get("options", {}).items())),
                              executor=run.get("executor", "pipelined"), split=str(run.get("split", "")),
                              batch_size=int(run.get("batch_size", 1)),
                              backends=tuple(sorted(data.get("backends", {}).items())))
        about = {k: v for k, v in tuned.items() if k != "task"}
        return cls(tuned["task"], candidate, about, str(path))

    def describe(self) -> dict[str, Any]:
        """What a Session records of it (``session.config["tuned"]``)."""
        return {"path": self.path, **self.candidate.as_dict(), **{k: v for k, v in self.about.items()
                                                                   if k in ("machine", "objective", "speedup")}}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string is a JSON string


def saved_path(task: str) -> Path:
    """Where the tuned config of ``task`` on this machine lives in the cache."""
    from ..host import cache_dir, fingerprint

    key = hashlib.sha256(fingerprint().encode()).hexdigest()[:12]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in task)
    return cache_dir() / "tuned" / f"{safe}.{key}.toml"


def saved(task: str) -> TunedConfig | None:
    """The tuned config saved for ``task`` on this machine, if any (a damaged one counts as none)."""
    path = saved_path(task)
    if not path.is_file():
        return None
    try:
        return TunedConfig.load(path)
    except ValueError:
        return None
