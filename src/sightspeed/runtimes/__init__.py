"""Model runtimes behind one small protocol: load, input/output specs, run on a batch, warm-up."""

from __future__ import annotations

from .base import Runtime as Runtime
from .base import TensorSpec as TensorSpec
from .base import load as load
