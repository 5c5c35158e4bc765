"""A quantile sketch of durations: log-spaced buckets (as DDSketch), so any quantile is within a set relative
error (1% by default) whatever the number of values, in memory that grows with the spread of the values, not
their count. Sketches merge by adding bucket counts: a Ray run's workers each keep one, the driver merges them.

>>> s = QuantileSketch()
>>> for x in range(1, 10001):
...     s.add(x / 1000)
>>> abs(s.quantile(0.5) - 5.0) / 5.0 < 0.01, abs(s.quantile(0.95) - 9.5) / 9.5 < 0.01, s.count
(True, True, 10000)
"""

from __future__ import annotations

import math
from typing import Any


class QuantileSketch:
    def __init__(self, accuracy: float = 0.01) -> None:
        self.accuracy = accuracy
        self._gamma = (1 + accuracy) / (1 - accuracy)
        self._log_gamma = math.log(self._gamma)
        self.bins: dict[int, int] = {}
        self.zeros = 0  # values <= 0 (a span shorter than the clock's resolution)
        self.count = 0

    def add(self, value: float, times: int = 1) -> None:
        self.count += times
        if value <= 0:
            self.zeros += times
            return
        key = math.ceil(math.log(value) / self._log_gamma)
        self.bins[key] = self.bins.get(key, 0) + times

    def quantile(self, q: float) -> float:
        """The value at quantile ``q`` (0..1), within the relative accuracy; 0.0 when empty."""
        if self.count == 0:
            return 0.0
        rank = q * (self.count - 1)
        seen = self.zeros
        if rank < seen:
            return 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if rank < seen:
                return 2 * self._gamma ** key / (self._gamma + 1)  # the bucket's centre, relative error <= accuracy
        return 2 * self._gamma ** max(self.bins) / (self._gamma + 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantileSketch) and self.to_dict() == other.to_dict()

    def merge(self, other: QuantileSketch) -> None:
        if other.accuracy != self.accuracy:
            raise ValueError("sketches of different accuracy do not merge")
        for key, n in other.bins.items():
            self.bins[key] = self.bins.get(key, 0) + n
        self.zeros += other.zeros
        self.count += other.count

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "zeros": self.zeros, "bins": {str(k): n for k, n in self.bins.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        sketch = cls(float(data["accuracy"]))
        sketch.zeros = int(data["zeros"])
        sketch.bins = {int(k): int(n) for k, n in data["bins"].items()}
        sketch.count = sketch.zeros + sum(sketch.bins.values())
        return sketch
