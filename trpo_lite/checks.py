"""Self-checks for the exercises: compare a student's function with the reference and say
what is wrong (wrong shape, wrong sign, off by a constant factor, NaN, fails for one sample).

Each ``check_*`` function prints a one-line success message, or raises ``AssertionError``
whose message lists every problem found. Notebook sections add their own checks below;
they all go through ``compare``.
"""
from __future__ import annotations

import numpy as np


def diagnose(student, reference, rtol=1e-6, atol=1e-8):
    """Explain how ``student`` differs from ``reference`` (None when they agree)."""
    try:
        s = np.asarray(student, dtype=float)
    except (TypeError, ValueError):
        return f"returned {type(student).__name__}, expected an array of numbers"
    r = np.asarray(reference, dtype=float)
    if s.shape != r.shape:
        return f"wrong shape: got {s.shape}, expected {r.shape}"
    if not np.all(np.isfinite(s)):
        return "result contains NaN or inf"
    if np.allclose(s, r, rtol=rtol, atol=atol):
        return None
    if np.allclose(s, -r, rtol=rtol, atol=atol):
        return "wrong sign: your result is minus the reference"
    denom = float(r.ravel() @ r.ravel())
    if denom > 0:
        c = float(s.ravel() @ r.ravel()) / denom
        if abs(c) > 1e-12 and np.allclose(s, c * r, rtol=rtol, atol=atol):
            return f"off by a constant factor: your result is {c:.4g} x the reference"
    if s.ndim == 2 and r.ndim == 2 and s.shape == s.T.shape and np.allclose(s, r.T, rtol=rtol, atol=atol):
        return "transposed: your result is the transpose of the reference"
    err = np.max(np.abs(s - r)) / max(np.max(np.abs(r)), 1e-12)
    return f"values differ: max relative error {err:.3g}"


def compare(name, student_fn, reference_fn, cases, rtol=1e-6, atol=1e-8):
    """Run ``student_fn(*args)`` and ``reference_fn(*args)`` on every ``(label, args)`` case.

    Prints "<name>: all N checks passed" or raises AssertionError listing each failing case.
    """
    problems = []
    for label, args in cases:
        try:
            got = student_fn(*args)
        except NotImplementedError:
            raise AssertionError(f"{name}: not implemented yet -- fill in the function above") from None
        except Exception as exc:  # a student's bug: report it, with the case
            problems.append(f"[{label}] raised {type(exc).__name__}: {exc}")
            continue
        why = diagnose(got, reference_fn(*args), rtol, atol)
        if why:
            problems.append(f"[{label}] {why}")
    if problems:
        raise AssertionError(f"{name}: {len(problems)} of {len(cases)} checks failed\n  "
                             + "\n  ".join(problems))
    print(f"{name}: all {len(cases)} checks passed")


# ---- 01 policy gradient ------------------------------------------------------------
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------
# ---- end 02 ----

# ---- 03 natural gradient -----------------------------------------------------------
# ---- end 03 ----

# ---- 04 conjugate gradient ---------------------------------------------------------
# ---- end 04 ----

# ---- 05 monotonic improvement ------------------------------------------------------
# ---- end 05 ----

# ---- 06 TRPO -----------------------------------------------------------------------
# ---- end 06 ----

# ---- 07 beyond TRPO ----------------------------------------------------------------
# ---- end 07 ----
