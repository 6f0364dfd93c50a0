"""Input checks that fail loudly with the argument's name (never a silent NaN).

Every core module checks its arguments with these functions, so every bad argument gets the
same kind of message: a ``ValueError`` (wrong value, wrong shape) or a ``TypeError`` (wrong
kind of object) that starts with the argument's name and ends with what it got, e.g.
``max_kl must be a finite number > 0, got 0.0``. Each check returns the value converted
(float, int, array), so a caller writes ``delta = check_positive(delta, "delta")``.
"""
from __future__ import annotations

from numbers import Integral

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


def _is_number(x):
    """A real scalar (Python or NumPy number; not a bool, not a string, not an array)."""
    return np.isscalar(x) and not isinstance(x, (bool, np.bool_, str, bytes)) and np.isrealobj(x)


def check_finite(x, name):
    """``x`` must be a finite number; returns it as a float."""
    if not _is_number(x) or not np.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return float(x)


def check_positive(x, name):
    """``x`` must be a finite number > 0."""
    if not _is_number(x) or not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def check_nonnegative(x, name):
    """``x`` must be a finite number >= 0."""
    if not _is_number(x) or not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return float(x)


def check_open_unit(x, name):
    """``x`` must lie strictly between 0 and 1 (a shrink factor, a clip range...)."""
    if not _is_number(x) or not np.isfinite(x) or not 0 < x < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {x!r}")
    return float(x)


def check_unit_interval(x, name):
    """``x`` must lie in [0, 1] (GAE's lambda: 0 = one-step TD error, 1 = Monte Carlo)."""
    if not _is_number(x) or not np.isfinite(x) or not 0 <= x <= 1:
        raise ValueError(f"{name} must lie in [0, 1], got {x!r}")
    return float(x)


def check_discount(x, name="gamma"):
    """A discount factor: ``x`` must lie in [0, 1).

    The one convention for gamma everywhere: 0 (only the next reward counts) is allowed, 1 is
    not (the discounted sums of an infinite horizon, and (1 - gamma)^-1, must stay finite).
    """
    if not _is_number(x) or not np.isfinite(x) or not 0 <= x < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {x!r}")
    return float(x)


def check_integer(x, name, minimum=None):
    """``x`` must be an integer (Python or NumPy; not a bool, not a float) >= ``minimum``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, Integral):
        raise ValueError(f"{name} must be an integer{'' if minimum is None else f' >= {minimum}'}, "
                         f"got {x!r}")
    if minimum is not None and x < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


def check_choice(x, name, choices):
    """``x`` must be one of ``choices``."""
    if x not in tuple(choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {x!r}")
    return x


def check_callable(f, name, signature):
    """``f`` must be callable; ``signature`` says what it should compute, e.g. ``"theta -> float"``."""
    if not callable(f):
        raise TypeError(f"{name} must be a callable {signature}, got {type(f).__name__}")
    return f


def check_rng(rng, name="rng"):
    """``rng`` must be a ``numpy.random.Generator`` (every random draw takes one)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng
