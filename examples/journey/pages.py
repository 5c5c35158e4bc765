"""Inputs for the journey: document-like JPEG pages (1024x768, lines of mixed size), rendered with DejaVu Sans.

    python examples/journey/pages.py pages/ 24
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _pages import document_pages  # noqa: E402

if __name__ == "__main__":
    folder, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 24
    print("\n".join(document_pages(folder, count, suffix=".jpg")))
