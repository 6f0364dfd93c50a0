"""Input checks that fail loudly with the argument's name (never a silent NaN)."""
from __future__ import annotations

import numpy as np


def check_array(x, name, ndim=None, shape=None, finite=True, dtype=float):
    """Return ``x`` as an array of ``dtype``; raise ValueError naming ``name`` if it is wrong.

    ``shape`` may contain ``None`` for "any length" in that axis.
    """
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of {np.dtype(dtype).name}, got {type(x).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def check_positive(x, name):
    """``x`` must be a finite number > 0."""
    if not np.isscalar(x) or not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def check_nonnegative(x, name):
    """``x`` must be a finite number >= 0."""
    if not np.isscalar(x) or not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return float(x)


def check_open_unit(x, name):
    """``x`` must lie strictly between 0 and 1."""
    if not np.isscalar(x) or not np.isfinite(x) or not 0 < x < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {x!r}")
    return float(x)
