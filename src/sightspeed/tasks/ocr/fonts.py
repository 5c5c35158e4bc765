"""A TrueType font for rendering text (tests, benchmarks, samples): DejaVu Sans from matplotlib or the system."""

from __future__ import annotations

from pathlib import Path


def dejavu_sans() -> str:
    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    try:
        import matplotlib

        candidates.insert(0, Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return str(path)
    raise FileNotFoundError("DejaVuSans.ttf not found: pip install matplotlib (it ships the font)")
