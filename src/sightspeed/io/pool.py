"""A pool of reusable arrays. A fresh full-HD frame costs ~7 ms of page faults on first touch; a reused one none."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np


class BufferPool:
    """Hand out arrays of a shape and dtype, take them back, hand them out again.

    >>> pool = BufferPool()
    >>> a = pool.take((4, 4, 3)); pool.give(a)
    >>> pool.take((4, 4, 3)) is a
    True
    """

    def __init__(self, per_shape: int = 16) -> None:
        self._free: dict[tuple, list[np.ndarray]] = defaultdict(list)
        self._lock = threading.Lock()
        self._per_shape = per_shape
        self.created = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint8) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype).str)
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
            self.created += 1
        return np.empty(shape, dtype)

    def give(self, array: np.ndarray) -> None:
        key = (array.shape, array.dtype.str)
        with self._lock:
            free = self._free[key]
            if len(free) < self._per_shape and not any(a is array for a in free):
                free.append(array)
