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


def local_sample_paths() -> list[str]:
    """The sample photos already on this machine (installed with their package, or cached); never downloads."""
    from .errors import SightspeedError

    paths = []
    for name in sample_names():
        try:
            paths.append(str(fetch(name, download=False)))
        except SightspeedError:
            pass
    return paths
