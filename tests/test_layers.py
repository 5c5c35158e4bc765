"""The package's layering (DESIGN.md): which part may import which, read from the source with ``ast``.

Every ``import`` counts, the lazy ones inside functions too: a cycle there is still a cycle, only deferred.
A new subpackage or top-level module fails :func:`test_every_part_has_a_place` until it is given a layer below.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sightspeed"

BOTTOM = {"_version", "errors", "cores", "host", "equivalence", "files"}  # standard library (and numpy) only
# part -> the parts it may import. The application layer (ANY) may import everything.
ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "errors": set(),
    "files": set(),
    "cores": set(),
    "host": {"cores"},
    "equivalence": set(),
    "kernels": BOTTOM,  # leaves: no pipeline, profiling, report, tasks, runtimes
    "io": BOTTOM,
    "models": BOTTOM | {"kernels"},  # a fused model does in its graph what a kernel op does on the host
    "runtimes": BOTTOM | {"models"},
    "profiling": BOTTOM,  # clocks, spans, Session, machine probes, analysis: never what it profiles or renders
    "pipeline": BOTTOM | {"io", "kernels", "profiling"},
    "tasks": BOTTOM | {"io", "kernels", "models", "runtimes", "profiling", "pipeline"},
    "tune": BOTTOM | {"io", "kernels", "models", "runtimes", "profiling", "pipeline", "tasks"},
    "engines": BOTTOM | {"io", "kernels", "models", "runtimes", "profiling", "pipeline", "tasks"},
    "report": {"profiling", "kernels", "_version", "errors"},  # renderers: a Session (and bench rows), nothing of this machine
}
ANY = {"__init__", "__main__", "cli", "cli_tasks", "cli_tune", "cli_report", "cli_machine", "profiler", "magic", "samples", "testing",
       "gpu_paths"}
# the only modules of profiling a renderer may read: the Session and what is computed from it alone
REPORT_READS = {"profiling.session", "profiling.analysis", "profiling.whatif", "profiling.verdict", "profiling.trust",
                "profiling.sketch", "profiling", "kernels.bench", "_version", "errors"}


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(path: Path) -> list[tuple[str, int]]:
    """The sightspeed modules ``path`` imports (dotted, without the ``sightspeed.`` prefix), with line numbers."""
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "sightspeed"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "sightspeed":
                target = node.module.split(".")
            else:
                continue
            if len(target) == 1:  # `from . import x` at the top: each name is a module of its own
                found += [(f"sightspeed.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((".".join(target), node.lineno))
    return [(name.split(".", 1)[1] if "." in name else "__init__", line) for name, line in found]


def part_of(module: str) -> str:
    return module.split(".")[0]


def edges() -> list[tuple[str, str, str, str, int]]:
    """(from part, to part, from file, to module, line) for every import that crosses parts."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module, line in imports(path):
            target = part_of(module)
            if target != source:
                out.append((source, target, str(rel), module, line))
    return out


def test_imports_are_resolved():
    """The resolver itself: relative imports one and two levels up, ``from .. import x``, lazy ones."""
    assert {"cores", "host"} <= {m for m, _ in imports(SRC / "profiling" / "machine.py")}
    assert "host" in {m for m, _ in imports(SRC / "profiling" / "doctor.py")}  # from .. import host
    assert "report.profile_console" in {m for m, _ in imports(SRC / "magic.py")}  # inside a function
    assert "profiling.session" in {m for m, _ in imports(SRC / "report" / "console.py")}


def test_every_part_has_a_place():
    parts = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in SRC.glob("*.py")}
    unplaced = sorted(parts - set(ALLOWED) - ANY)
    assert not unplaced, f"give {unplaced} a layer in tests/test_layers.py (ALLOWED or ANY)"


def test_each_part_imports_only_the_layers_below_it():
    wrong = [f"{file}:{line} ({src} -> {module})" for src, dst, file, module, line in edges()
             if src in ALLOWED and dst not in ALLOWED[src]]
    assert not wrong, "imports across the layers:\n" + "\n".join(wrong)


def test_renderers_read_only_the_session():
    wrong = [f"{file}:{line} imports {module}" for src, _, file, module, line in edges()
             if src == "report" and module not in REPORT_READS]
    assert not wrong, "a renderer reads past the Session:\n" + "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (part -> parts it imports) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst, *_ in edges():
        graph.setdefault(src, set()).add(dst)
    return graph


def test_no_import_cycles_between_parts():
    cycle = find_cycle(part_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_lazy_import_that_closes_a_cycle_is_caught(tmp_path, monkeypatch):
    """The checks on a copy of the package with profiling importing the report layer inside a function."""
    import shutil

    copy = tmp_path / "sightspeed"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    with open(copy / "profiling" / "whatif.py", "a") as f:
        f.write("\n\ndef _render():\n    from ..report import console\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", copy)
    assert find_cycle(part_graph()) == ["profiling", "report", "profiling"]
    with pytest.raises(AssertionError, match="whatif.py:.*profiling -> report"):
        test_each_part_imports_only_the_layers_below_it()


@pytest.mark.parametrize("bottom", sorted(BOTTOM))
def test_the_bottom_imports_no_heavy_library(bottom):
    """cores, host, errors, equivalence: anything may import them, so they pull in nothing big at import time."""
    path = SRC / f"{bottom}.py"
    heavy = {"cv2", "onnxruntime", "openvino", "tensorflow", "ray", "numba", "cupy", "cpuinfo", "psutil"}
    tree = ast.parse(path.read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top_level if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in top_level if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & heavy, f"{bottom}.py imports {names & heavy} at import time"
