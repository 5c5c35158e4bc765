"""Per-thread scratch memory for kernels' temporaries.

A fresh multi-megabyte temporary costs page faults on first touch (~1 ms per 3 MB here), often more than the
arithmetic done in it. Scratch hands out views of one growing buffer per (thread, slot), so a kernel's temporaries
are touched once per thread, not once per frame.
"""

from __future__ import annotations

import threading

import numpy as np


class Scratch(threading.local):
    """``scratch.array(slot, shape, dtype)``: a contiguous array view of this thread's buffer for ``slot``.

    >>> s = Scratch()
    >>> a = s.array("tmp", (2, 3)); b = s.array("tmp", (3, 2))
    >>> np.shares_memory(a, b)
    True
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, slot: str, shape: tuple[int, ...], dtype: np.dtype | type = np.uint8) -> np.ndarray:
        dtype = np.dtype(dtype)
        need = int(np.prod(shape)) * dtype.itemsize
        buf = self._buffers.get(slot)
        if buf is None or buf.nbytes < need:
            buf = self._buffers[slot] = np.empty(int(need * 1.25) + 64, np.uint8)
        return buf[:need].view(dtype).reshape(shape)


SCRATCH = Scratch()
