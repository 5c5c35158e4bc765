"""Argument checks every op runs before a backend sees its arguments (``Op.check``; the compiled backends that
write with unchecked indexing run them too): a ValueError naming the op, the argument, what was expected and what
came, instead of a numba or C loop reading or writing past a buffer, or a blob made of stale scratch memory.

>>> array("nms", "scores", np.zeros((3, 2)), ndim=1)
Traceback (most recent call last):
ValueError: nms: scores must be 1-D, got a float64 array of shape (3, 2)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def self_checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a backend function that runs its op's check itself (the compiled ones, which index without bounds
    checks and may be called directly): the dispatcher then does not check the same call twice."""
    fn.checks_arguments = True  # type: ignore[attr-defined]
    return fn


def describe(a: Any) -> str:
    return f"a {a.dtype} array of shape {tuple(a.shape)}" if hasattr(a, "shape") else f"a {type(a).__name__}"


def array(op: str, name: str, a: Any, *, ndim: int | tuple[int, ...] | None = None, dtype: Any = None,
          channels: int | None = None) -> None:
    """``a`` is an array (numpy or CuPy) with ``ndim`` dimensions (one of them, when a tuple), no empty axis,
    of ``dtype`` (one of them, when a tuple), with ``channels`` on its last axis."""
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise ValueError(f"{op}: {name} must be an array, got {describe(a)}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    dtypes = dtype if isinstance(dtype, tuple) else (dtype,)
    wants = []
    if dims is not None and a.ndim not in dims:
        wants.append(" or ".join(f"{d}-D" for d in dims))
    if dtype is not None and not any(a.dtype == d for d in dtypes):
        wants.append(" or ".join(np.dtype(d).name for d in dtypes))
    if channels is not None and a.shape[-1:] != (channels,):
        wants.append(f"{channels} channels on the last axis")
    if 0 in a.shape and dims is not None and min(dims) >= 2:
        wants.append("no empty axis")
    if wants:
        raise ValueError(f"{op}: {name} must be {', '.join(wants)}, got {describe(a)}")


FLOATS = (np.float32, np.float64)  # a probability map: what a model outputs (float16 maps: cast first)


def finite(op: str, name: str, value: Any) -> None:
    """No NaN or infinity in ``value`` (a compiled loop would turn one into a wild index).

    >>> finite("crop_resize", "boxes", np.array([[0, 0, np.nan, 4]]))
    Traceback (most recent call last):
    ValueError: crop_resize: boxes must be finite numbers, got a NaN or an infinity
    """
    if not np.isfinite(np.asarray(value, np.float64)).all():
        raise ValueError(f"{op}: {name} must be finite numbers, got a NaN or an infinity")


def size(op: str, value: Sequence[int]) -> None:
    if len(value) != 2 or any(int(v) != v or v < 1 for v in value):
        raise ValueError(f"{op}: size must be (width, height), two positive integers, got {value!r}")


def out(op: str, value: Any, shape: tuple[int, ...], dtype: Any) -> None:
    """``out`` is None or an array of exactly ``shape`` and ``dtype`` (the kernels write it in place)."""
    if value is not None and (getattr(value, "dtype", None) != dtype or tuple(getattr(value, "shape", ())) != shape):
        raise ValueError(f"{op}: out must be {np.dtype(dtype).name} of shape {shape}, got {describe(value)}")


def boxes(op: str, value: Any, corners: int = 2) -> int:
    """``value`` reshapes to N boxes of 4 numbers (``corners`` = 2: x0, y0, x1, y1) or 4 points (``corners`` = 4:
    N x 4 x 2); returns N."""
    per_box = 4 if corners == 2 else 8
    n = int(np.size(value))
    if n % per_box:
        raise ValueError(f"{op}: boxes must be N x {'4' if corners == 2 else '4 x 2'} numbers, got "
                         f"{describe(np.asarray(value))}")
    return n // per_box
