"""The engine behind every exercise's self-check: run a student's function on a list of cases,
compare it with the library's reference and say what is wrong (wrong shape, wrong sign, off by
a constant factor, NaN, fails for one sample, a known mistake).

A check prints one line, "<name>: all N checks passed", or raises ``SelfCheckFailed`` whose
message lists every failing case, "<name>: k of N checks failed" (an ``AssertionError`` that a
notebook shows as its message alone, without a traceback). A student's stub raises
``NotImplementedError``; every check turns it into "<name>: not implemented yet". The chapter
modules (``ch01`` ... ``ch07_checks``) build their cases and references on these functions.

Also here: the central differences notebook 01 writes by hand, for the later notebooks and the
tests to call.
"""
from __future__ import annotations

import numpy as np


# ------------------------------------------------------------ a student's function
class SelfCheckFailed(AssertionError):
    """What a self-check raises when a student's function is wrong (or not written yet).

    In a notebook, IPython shows it as its message alone (``_render_traceback_``): no traceback
    through this package, whose source holds the checks' hints and references.
    """

    def _render_traceback_(self):
        return [f"\x1b[1;31mself-check failed\x1b[0m -- {self}"]


def not_implemented(name):
    """The SelfCheckFailed a check raises for a stub that still raises NotImplementedError."""
    return SelfCheckFailed(f"{name}: not implemented yet -- fill in the function above")


def call_student(name, student_fn, *args, **kwargs):
    """``student_fn(*args, **kwargs)``; a stub's NotImplementedError becomes ``not_implemented``."""
    try:
        return student_fn(*args, **kwargs)
    except NotImplementedError:
        raise not_implemented(name) from None


def require_implemented(name, student_fn, args):
    """Call ``student_fn(*args)`` once, before a check that runs it through several compares:
    a stub stops here with one message; any other error is left to the case-by-case report."""
    try:
        student_fn(*args)
    except NotImplementedError:
        raise not_implemented(name) from None
    except Exception:  # a student's bug: reported case by case afterwards
        pass


def report(name, problems, n_checks, note=""):
    """Raise "<name>: k of N checks failed" listing ``problems`` (then ``note``), or print that all passed."""
    if problems:
        raise SelfCheckFailed(f"{name}: {len(problems)} of {n_checks} checks failed\n  "
                             + "\n  ".join(problems) + note)
    print(f"{name}: all {n_checks} checks passed")


def check_cases(name, student_fn, cases, judge, error_hint=""):
    """Run ``student_fn(*args)`` on every ``(label, args)`` case and ``report`` the verdicts.

    ``judge(got, *args)`` returns None when the answer is right, else what is wrong with it. A
    case whose call raises is reported with the exception (and ``error_hint``), not re-raised.
    """
    problems = []
    for label, args in cases:
        try:
            got = student_fn(*args)
        except NotImplementedError:
            raise not_implemented(name) from None
        except Exception as exc:  # a student's bug: report it, with the case
            problems.append(f"[{label}] raised {type(exc).__name__}: {exc}{error_hint}")
            continue
        why = judge(got, *args)
        if why:
            problems.append(f"[{label}] {why}")
    report(name, problems, len(cases))


# --------------------------------------------------------- compare with the reference
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
    err = np.max(np.abs(s - r)) / max(np.max(np.abs(r)), atol)
    return f"values differ: max relative error {err:.3g}"


def compare(name, student_fn, reference_fn, cases, rtol=1e-6, atol=1e-8):
    """Run ``student_fn(*args)`` and ``reference_fn(*args)`` on every ``(label, args)`` case.

    Prints "<name>: all N checks passed" or raises AssertionError listing each failing case.
    """
    check_cases(name, student_fn, cases,
                lambda got, *args: diagnose(got, reference_fn(*args), rtol, atol))


def compare_with_hints(name, student_fn, reference_fn, cases, mistakes, rtol=1e-6, atol=1e-8):
    """``compare``; on failure, also name every known mistake that reproduces the student's output.

    ``mistakes`` is a list of ``(explanation, wrong_fn)``; a mistake is reported when
    ``wrong_fn(*args)`` agrees with ``student_fn(*args)`` on every case.
    """
    try:
        compare(name, student_fn, reference_fn, cases, rtol, atol)
    except AssertionError as exc:
        hints = []
        for why, wrong_fn in mistakes:
            try:
                if all(diagnose(student_fn(*args), wrong_fn(*args), rtol, atol) is None
                       for _, args in cases):
                    hints.append(why)
            except Exception:  # the student's function or the mistake raises: no match
                continue
        if hints:
            raise SelfCheckFailed(f"{exc}\n  likely cause: " + "; ".join(hints)) from None
        raise


# ------------------------------------------------------------- central differences
def central_difference_gradient(f, theta, eps=1e-5):
    """Gradient of a scalar ``f`` at ``theta`` (any shape) by central differences, theta's shape.

    g[i] = (f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps): its error is O(eps^2) plus a
    round-off of about machine epsilon * |f| / eps. Notebook 01 derives and writes it.
    """
    theta = np.asarray(theta, dtype=float)
    g = np.zeros(theta.shape)
    for i in np.ndindex(theta.shape):
        e = np.zeros(theta.shape)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


def central_difference_hessian(f, x, eps=1e-4):
    """Hessian (n, n) of a scalar ``f`` at ``x`` (n,) by central differences of central differences:

    H[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 eps^2)
    with e_i = eps times the i-th unit vector.
    """
    x = np.asarray(x, dtype=float)
    E = np.eye(len(x)) * eps
    return np.array([[(f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j]))
                      / (4 * eps ** 2) for j in range(len(x))] for i in range(len(x))])
