"""Notebook 06 (TRPO): the exercises' self-checks.

The backtracking line search, attempt by attempt, on the running example (06.1); the full
step from a CG direction (06.2); the verdict on one attempt (06.3). Each is compared with the
library's ``linesearch.backtracking_line_search`` or ``algos.natural_step``. The notebook's
figures and its line-search explorer are in ``ch06_figures``.
"""
from __future__ import annotations

import numpy as np

from ..algos import natural_step
from ..cg import conjugate_gradient
from ..fisher import make_fisher_vector_product
from ..linesearch import backtracking_line_search
from ..mlp import MLP
from ..policies import CategoricalPolicy, GaussianPolicy
from .checking import check_cases, compare_with_hints, diagnose
from .running_example import running_example, trpo_step

LINE_SEARCH_OUTCOMES = ("accepted", "kl_violation", "no_improvement",
                        "kl_violation_and_no_improvement", "non_finite")


def line_search_cases():
    """(label, theta_old, delta, backtrack_coef, max_backtracks) on the running example:
    accepted at once, after KL violations, after no-improvement rejections, never."""
    return [("accepted at once: theta_old=(0, 0), delta=0.01", (0.0, 0.0), 0.01, 0.8, 10),
            ("KL violations first: theta_old=(-4, -4), delta=0.5", (-4.0, -4.0), 0.5, 0.8, 10),
            ("KL violations, backtrack_coef=0.5", (-4.0, -4.0), 1.0, 0.5, 10),
            ("no-improvement rejections: theta_old=(0.5, 3.5), delta=0.3", (0.5, 3.5), 0.3, 0.8, 10),
            ("every attempt rejected: theta_old=(1, 4), delta=0.3", (1.0, 4.0), 0.3, 0.8, 10),
            ("max_backtracks=0 (a single attempt), rejected", (-4.0, -4.0), 0.5, 0.8, 0),
            ("max_backtracks=2, all rejected", (-4.0, -4.0), 1.0, 0.8, 2)]


def _line_search_judge(got, theta_old, full_step, surrogate, kl, delta, backtrack_coef,
                       max_backtracks, ref):
    """What is wrong with a student's (theta_new, attempts (k, 3)) against the library's ``ref``."""
    theta_new, attempts = got
    expected = np.array([[a.coef, a.kl, a.improvement] for a in ref.attempts])
    n, n_ref = len(attempts), len(expected)
    m = min(n, n_ref)
    if not np.allclose(attempts[:m, 0], expected[:m, 0], rtol=1e-9):
        return (f"coefficients {np.round(attempts[:, 0], 4).tolist()} should be backtrack_coef**j "
                f"for j = 0, 1, ...: {np.round(expected[:, 0], 4).tolist()}")
    if n != n_ref:
        why = f"you evaluated {n} steps, the reference {n_ref}"
        reason = ref.attempts[n - 1].reason if 0 < n < n_ref else None
        if reason in ("no_improvement", "kl_violation_and_no_improvement"):
            why += (f": you accepted coef={expected[n - 1, 0]:.4g} although its surrogate "
                    f"improvement {expected[n - 1, 2]:.3g} is not > 0")
        elif reason == "kl_violation":
            why += (f": you accepted coef={expected[n - 1, 0]:.4g} although its KL "
                    f"{expected[n - 1, 1]:.3g} > delta = {delta:g}")
        elif n > n_ref and ref.accepted:
            why += "; stop at the first accepted step"
        elif n < n_ref and not ref.accepted:
            why += (f"; when nothing is accepted there are max_backtracks + 1 = "
                    f"{max_backtracks + 1} attempts, j = 0, ..., max_backtracks")
        return why
    if not np.allclose(attempts[:, 1], expected[:, 1], rtol=1e-6, atol=1e-12):
        return "the measured KL of the attempts differs: use kl(theta_old + coef * full_step)"
    if not np.allclose(attempts[:, 2], expected[:, 2], rtol=1e-6, atol=1e-12):
        return ("the improvements differ: improvement = surrogate(theta_old + coef * full_step)"
                " - surrogate(theta_old)")
    why = diagnose(theta_new, ref.theta, rtol=1e-9, atol=1e-12)
    if why is not None:
        why = f"theta_new: {why}"
        if not ref.accepted:
            why += "; when every attempt is rejected, return theta_old unchanged"
    return why


def check_line_search(student_fn, example=None):
    """Exercise 06.1: ``student_fn(theta_old, full_step, surrogate, kl, delta, backtrack_coef,
    max_backtracks) -> (theta_new, attempts)`` with ``attempts`` a list of (coef, kl, improvement).

    Compared with ``linesearch.backtracking_line_search`` on the running example (7 cases:
    accepted at once, KL violations, no-improvement rejections, every attempt rejected,
    a single attempt): the number of attempts, their coefficients, KLs, improvements and theta.
    """
    example = example or running_example()
    cases = []
    for label, theta_old, delta, backtrack_coef, max_backtracks in line_search_cases():
        theta_old = np.asarray(theta_old, dtype=float)
        full_step, ref = trpo_step(example, theta_old, delta, backtrack_coef, max_backtracks)
        surrogate = lambda theta, t0=theta_old: example.surrogate(t0, theta)
        kl = lambda theta, t0=theta_old: example.kl(t0, theta)
        cases.append((label, (theta_old, full_step, surrogate, kl, delta, backtrack_coef,
                              max_backtracks, ref)))

    def run(theta_old, full_step, surrogate, kl, delta, backtrack_coef, max_backtracks, ref):
        theta_new, attempts = student_fn(theta_old.copy(), full_step.copy(), surrogate, kl, delta,
                                         backtrack_coef, max_backtracks)
        return theta_new, np.asarray(attempts, dtype=float).reshape(-1, 3)

    check_cases("line search", run, cases, _line_search_judge,
                error_hint=" (return (theta_new, attempts) with attempts a list of (coef, kl, improvement))")


def full_step_cases(seed=2006):
    """(label, (x, fvp, g, delta)): x from a few CG iterations on Fisher-vector products of
    categorical and Gaussian MLP policies, incl. a single state and an unconverged CG."""
    rng = np.random.default_rng(seed)
    cases = []
    softmax_16, softmax_8 = CategoricalPolicy(MLP((4, 16, 2))), CategoricalPolicy(MLP((4, 8, 3)))
    gaussian = GaussianPolicy(MLP((3, 8, 2)))
    for label, policy, n_states, cg_iters, damping, delta in (
            ("softmax MLP (4, 16, 2), 256 states, 10 CG iterations", softmax_16, 256, 10, 0.1, 0.01),
            ("softmax MLP (4, 16, 2), 256 states, 2 CG iterations", softmax_16, 256, 2, 1e-3, 0.05),
            ("softmax MLP (4, 8, 3), a single state", softmax_8, 1, 10, 0.1, 0.02),
            ("Gaussian MLP (3, 8, 2), 64 states, 3 CG iterations", gaussian, 64, 3, 0.01, 0.1)):
        theta = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n_states, policy.net.in_dim))
        actions = policy.sample(theta, obs, rng)
        g = policy.grad_log_prob(theta, obs, actions, rng.standard_normal(n_states))
        fvp = make_fisher_vector_product(policy, theta, obs, damping)
        x = conjugate_gradient(fvp, g, max_iter=cg_iters).x
        cases.append((label, (x, fvp, g, delta)))
    return cases


def full_step_reference(x, fvp, g, delta):
    """[full_step, expected_improvement]: s = sqrt(2 delta / x^T F x) x and g^T s, shape (n + 1,)."""
    step = natural_step(x, fvp(x), delta)
    return np.append(step, g @ step)


def check_full_step(student_fn):
    """Exercise 06.2: ``student_fn(x, fvp, g, delta) -> (full_step, expected_improvement)``.

    Compared with ``algos.natural_step(x, fvp(x), delta)`` and ``g @ full_step`` on 4 cases
    (categorical and Gaussian policies, a single state, CG stopped after 2 to 10 iterations).
    """
    def as_array(x, fvp, g, delta):
        step, expected = student_fn(x, fvp, g, delta)
        return np.append(np.asarray(step, dtype=float), float(expected))

    def scaled(factor):
        """The wrong answer that scales x by ``factor(x, fvp, g, delta)``."""
        def wrong(x, fvp, g, delta):
            step = factor(x, fvp, g, delta) * x
            return np.append(step, g @ step)
        return wrong

    mistakes = [
        ("the scale uses x^T x; it must be x^T F x = x @ fvp(x)",
         scaled(lambda x, fvp, g, d: np.sqrt(2 * d / (x @ x)))),
        ("the factor 2 is missing: sqrt(2 delta / x^T F x)",
         scaled(lambda x, fvp, g, d: np.sqrt(d / (x @ fvp(x))))),
        ("no square root: the scale is sqrt(2 delta / x^T F x)",
         scaled(lambda x, fvp, g, d: 2 * d / (x @ fvp(x)))),
        ("x is not rescaled at all", scaled(lambda x, fvp, g, d: 1.0)),
        ("the expected improvement is g^T x; it is g^T full_step (the step actually proposed)",
         lambda x, fvp, g, d: np.append(full_step_reference(x, fvp, g, d)[:-1], g @ x)),
    ]
    compare_with_hints("full step from CG", as_array, full_step_reference, full_step_cases(),
                        mistakes)


def judge_reference(kl, improvement, delta):
    """The library's verdict on one attempt: ``backtracking_line_search`` with a single attempt
    whose measured KL and surrogate improvement are the given numbers."""
    result = backtracking_line_search(np.zeros(1), np.ones(1),
                                      surrogate=lambda theta: improvement if theta[0] else 0.0,
                                      kl=lambda theta: kl if theta[0] else 0.0, max_kl=delta,
                                      max_backtracks=0)
    return result.attempts[0].reason


def judge_cases():
    """(label, (kl, improvement, delta)) incl. the boundaries KL = delta and improvement = 0."""
    return [("inside the trust region and improving", (0.004, 0.02, 0.01)),
            ("KL too large", (0.03, 0.02, 0.01)),
            ("surrogate got worse", (0.004, -0.001, 0.01)),
            ("both fail", (0.05, -0.2, 0.01)),
            ("KL exactly delta (allowed: KL <= delta)", (0.01, 0.5, 0.01)),
            ("improvement exactly 0 (not an improvement)", (0.002, 0.0, 0.01)),
            ("a tiny improvement counts", (1e-6, 1e-12, 0.01)),
            ("KL is nan", (np.nan, 0.1, 0.01)),
            ("improvement is inf", (0.001, np.inf, 0.01)),
            ("large delta", (0.9, 0.3, 1.0))]


def check_judge_attempt(student_fn):
    """Exercise 06.3: ``student_fn(kl, improvement, delta) -> reason`` with reason one of
    ``LINE_SEARCH_OUTCOMES``, compared with the library's line search on 10 cases."""
    def judge(got, kl, improvement, delta):
        expected = judge_reference(kl, improvement, delta)
        if got not in LINE_SEARCH_OUTCOMES:
            return f"returned {got!r}; expected one of {LINE_SEARCH_OUTCOMES}"
        if got != expected:
            return (f"kl={kl:g}, improvement={improvement:g}, delta={delta:g}: "
                    f"returned {got!r}, expected {expected!r}")
        return None

    check_cases("judge attempt", student_fn, judge_cases(), judge)
