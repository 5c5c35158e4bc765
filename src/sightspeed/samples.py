"""The built-in sample inputs: real portrait photos that PyPI wheels carry (matplotlib, scikit-image).

Used when ``sightspeed run`` is given no inputs. Each is a zoo entry: the installed package's copy when present,
else fetched once from its wheel and verified by sha256.
"""

from __future__ import annotations

from .models.zoo import ENTRIES, fetch


def sample_names() -> list[str]:
    return [name for name, entry in ENTRIES.items() if entry.kind == "sample"]


def sample_paths(quiet: bool = False) -> list[str]:
    """Local paths of the sample photos (fetching any that are missing)."""
    return [str(fetch(name, quiet=quiet)) for name in sample_names()]
