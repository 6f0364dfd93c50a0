"""TRPO's backtracking line search: shrink the step until it is safe and useful.

The natural-gradient step ``full_step = sqrt(2 delta / x^T F x) * x`` (x ~ F^-1 g) is
sized with a *quadratic model* of the KL and a *linear model* of the surrogate. Both
models can be wrong. The line search measures the real values at

    theta_j = theta_old + backtrack_coef**j * full_step,    j = 0, 1, ..., max_backtracks

and accepts the first theta_j with

    mean KL(pi_old || pi_theta_j) <= max_kl        (fixes: the real KL can exceed delta)
    L(theta_j) - L(theta_old) > 0                  (fixes: the step may not improve)

This is the rule of the TRPO paper's practical algorithm (Schulman et al. 2015,
Sec. 6 and Appendix C) and of OpenAI Spinning Up's TRPO pseudocode. If no
coefficient passes, the update is skipped: "line search failed: kept theta_old".
Notebook 06 traces it attempt by attempt.

Sign convention: the surrogate L is *maximised* and updates are ``theta + step``.

``rule="improvement_ratio"`` is the variant in some well-known code (e.g. the
original modular_rl TRPO): accept when the measured improvement is more than
``accept_ratio`` times the linear prediction ``coef * g^T full_step``. It never
checks the KL; the measured KL is still recorded so the course can show violations.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .config import DEFAULTS, LINE_SEARCH_RULES
from .validate import (
    check_array,
    check_callable,
    check_choice,
    check_finite,
    check_integer,
    check_nonnegative,
    check_open_unit,
    check_positive,
)

RULES = LINE_SEARCH_RULES      # ("kl_and_improvement", "improvement_ratio")


@dataclass(frozen=True)
class Attempt:
    """One evaluated step ``theta_old + coef * full_step`` (``coef = backtrack_coef**j``).

    ``reason`` is one of "accepted", "kl_violation", "no_improvement",
    "kl_violation_and_no_improvement", "ratio_too_small", "non_finite".
    ``expected_improvement`` is the linear model's promise for this attempt: coef times the
    full step's ``g^T full_step`` given to the line search (nan if not given).
    """

    j: int
    coef: float
    kl: float
    improvement: float
    expected_improvement: float
    accepted: bool
    reason: str


@dataclass(frozen=True)
class LineSearchResult:
    """Outcome of ``backtracking_line_search``.

    ``theta`` is the accepted parameter vector (a copy of theta_old if none was
    accepted, then ``coef == 0``); ``attempts`` holds every evaluated step in order,
    one per evaluation of ``surrogate`` and ``kl``, ending at the first accepted one.
    """

    theta: np.ndarray
    accepted: bool
    coef: float
    attempts: tuple[Attempt, ...]
    message: str


def _scalar(value, name):
    """``value`` as a float; it must be a single number (it may be non-finite)."""
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"{name} must return a single number, got shape {arr.shape}")
    return float(arr.reshape(()))


def _judge(rule, kl, improvement, expected_improvement, max_kl, accept_ratio):
    """Return the reason an attempt is accepted or rejected under ``rule``."""
    if not (np.isfinite(kl) and np.isfinite(improvement)):
        return "non_finite"
    if rule == "improvement_ratio":  # ratio > accept_ratio >= 0 implies improvement > 0
        ratio = improvement / expected_improvement
        return "accepted" if ratio > accept_ratio else "ratio_too_small"
    kl_ok, improves = kl <= max_kl, improvement > 0
    if kl_ok and improves:
        return "accepted"
    if improves:
        return "kl_violation"
    return "no_improvement" if kl_ok else "kl_violation_and_no_improvement"


def backtracking_line_search(theta_old, full_step, surrogate, kl, max_kl,
                             backtrack_coef=DEFAULTS.backtrack_coef,
                             max_backtracks=DEFAULTS.max_backtracks, expected_improvement=None,
                             rule=DEFAULTS.ls_rule, accept_ratio=0.1):
    """Accept the first ``theta_old + backtrack_coef**j * full_step`` that is safe and improves.

    Parameters
    ----------
    theta_old : array_like, shape (n,)
        Current policy parameters.
    full_step : array_like, shape (n,)
        The proposed step, usually ``sqrt(2 * max_kl / (x^T F x)) * x`` with x from CG.
    surrogate : callable
        ``surrogate(theta) -> float``, the surrogate advantage L(theta) (maximised).
    kl : callable
        ``kl(theta) -> float``, the mean KL(pi_theta_old || pi_theta) over the batch states.
    max_kl : float
        The trust-region radius delta > 0 (``TrainConfig.delta``). Typical 0.005-0.05
        (Spinning Up: 0.01).
    backtrack_coef : float
        Shrink factor in (0, 1) (default ``TrainConfig.backtrack_coef``). Typical 0.5-0.8;
        rarely worth touching.
    max_backtracks : int
        Shrink at most this many times (so at most ``max_backtracks + 1`` attempts); default
        ``TrainConfig.max_backtracks``, typical 5-15.
    expected_improvement : float, optional
        The linear prediction of the improvement of the full step, ``g^T full_step`` (each
        attempt records coef times it as its own ``expected_improvement``).
        Required (and > 0) for ``rule="improvement_ratio"``; otherwise only recorded.
    rule : {"kl_and_improvement", "improvement_ratio"}
        "kl_and_improvement" (default, ``TrainConfig.ls_rule``, the course's rule): KL <= max_kl
        and improvement > 0. "improvement_ratio": ``improvement / (coef * expected_improvement) >
        accept_ratio``; the KL is *not* checked.
    accept_ratio : float
        Threshold >= 0 of the ratio rule (typical 0.1); unused by the default rule. The one
        line-search default outside ``TrainConfig``: ``trpo_update`` never passes it.

    Returns
    -------
    LineSearchResult
        With every attempt and why it was accepted or rejected. Non-finite surrogate
        or KL values reject an attempt ("non_finite") and never leak into theta.
    """
    theta_old = check_array(theta_old, "theta_old", ndim=1).copy()
    full_step = check_array(full_step, "full_step", shape=theta_old.shape)
    check_callable(surrogate, "surrogate", "theta -> float")
    check_callable(kl, "kl", "theta -> float")
    max_kl = check_positive(max_kl, "max_kl")
    backtrack_coef = check_open_unit(backtrack_coef, "backtrack_coef")
    max_backtracks = check_integer(max_backtracks, "max_backtracks", minimum=0)
    check_choice(rule, "rule", RULES)
    accept_ratio = check_nonnegative(accept_ratio, "accept_ratio")
    if expected_improvement is not None:
        expected_improvement = check_finite(expected_improvement, "expected_improvement")
    if rule == "improvement_ratio":
        if expected_improvement is None:
            raise ValueError(f"expected_improvement (g^T full_step) is required for rule={rule!r}")
        check_positive(expected_improvement, "expected_improvement")
    surrogate_old = _scalar(surrogate(theta_old.copy()), "surrogate")
    if not np.isfinite(surrogate_old):
        raise ValueError(f"surrogate(theta_old) must be finite, got {surrogate_old}")

    attempts = []
    for j in range(int(max_backtracks) + 1):
        coef = backtrack_coef**j
        theta = theta_old + coef * full_step
        attempt_kl = _scalar(kl(theta.copy()), "kl")
        improvement = _scalar(surrogate(theta.copy()), "surrogate") - surrogate_old
        expected = np.nan if expected_improvement is None else coef * expected_improvement
        reason = _judge(rule, attempt_kl, improvement, expected, max_kl, accept_ratio)
        accepted = reason == "accepted"
        attempts.append(Attempt(j, coef, attempt_kl, improvement, expected, accepted, reason))
        if accepted:
            message = (f"accepted coef={coef:.4g} after {j} backtracks "
                       f"(kl={attempt_kl:.4g}, improvement={improvement:.4g})")
            return LineSearchResult(theta, True, coef, tuple(attempts), message)

    counts = Counter(a.reason for a in attempts)
    why = ", ".join(f"{counts[r]} {r}" for r in sorted(counts))
    message = f"line search failed: kept theta_old ({len(attempts)} attempts: {why})"
    return LineSearchResult(theta_old, False, 0.0, tuple(attempts), message)
