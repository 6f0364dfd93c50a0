"""Monotonic improvement on an exact tabular MDP (notebook 05): softmax-policy gradients of eta
and of the surrogate L, and the minorise-maximise (MM) algorithm of Schulman et al. (2015),
Algorithm 1, built on the lower bound of ``trpo_lite.mdp``:

    M_old(new) = L_old(new) - C max_s KL(old(.|s) || new(.|s)) <= eta(new),   M_old(old) = eta(old),

so a step that maximises M_old cannot lower eta. Policies are softmax tables: logits z of shape
(S, A), pi(a|s) = softmax(z_s)_a.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .mdp import (
    advantages,
    discounted_visitation,
    eta,
    kl_per_state,
    lower_bound,
    max_kl,
    penalty_coefficient,
    softmax_policy,
    surrogate,
)
from .validate import check_array, check_integer


# -------------------------------------------------------------- softmax-policy gradients
def grad_eta_softmax(mdp, logits):
    """d eta / d logits (S, A) = rho(s) pi(a|s) A(s,a)  (policy gradient theorem, softmax)."""
    pi = softmax_policy(logits)
    return discounted_visitation(mdp, pi)[:, None] * pi * advantages(mdp, pi)


def grad_surrogate_softmax(mdp, logits_old, logits):
    """d L_old / d logits (S, A) = rho_old(s) pi(a|s) (A_old(s,a) - sum_b pi(b|s) A_old(s,b)).

    At logits == logits_old this equals grad_eta_softmax (L matches eta to first order).
    """
    pi_old, pi = softmax_policy(logits_old), softmax_policy(logits)
    A_old = advantages(mdp, pi_old)
    A_bar = np.sum(pi * A_old, axis=1, keepdims=True)
    return discounted_visitation(mdp, pi_old)[:, None] * pi * (A_old - A_bar)


# ----------------------------------------------------------------------- minorise-maximise
@dataclass(frozen=True)
class MMStep:
    """One minorise-maximise step: new logits and the exact numbers around it."""

    logits: np.ndarray      # (S, A) maximiser of M_old
    eta_old: float
    eta_new: float
    surrogate: float        # L_old(new)
    bound: float            # M_old(new) = L - C max_kl  (<= eta_new)
    max_kl: float
    C: float


def mm_step(mdp, logits_old, C=None, max_iter=200):
    """Maximise M_old(z) = L_old(z) - C max_s KL_s(z) over softmax logits z.

    The non-smooth max is removed by the epigraph trick: maximise L(z) - C t subject to
    KL_s(z) <= t for all s, solved by SLSQP with exact gradients
    (d KL(p || softmax(z_s)) / d z_s = softmax(z_s) - p). If the optimiser fails to beat
    M_old(old) = eta(old), the old logits are returned, so eta never decreases.

    Parameters
    ----------
    C : penalty; default ``penalty_coefficient`` (the theorem's value, which is
        very conservative). A smaller C takes larger steps and loses the guarantee.
    """
    z_old = check_array(logits_old, "logits_old", shape=(mdp.n_states, mdp.n_actions))
    pi_old = softmax_policy(z_old)
    C = penalty_coefficient(mdp, pi_old) if C is None else float(C)
    if not np.isfinite(C) or C < 0:
        raise ValueError(f"C must be a finite number >= 0, got {C!r}")
    S, A = z_old.shape
    A_old, rho_old = advantages(mdp, pi_old), discounted_visitation(mdp, pi_old)
    eta_old = eta(mdp, pi_old)

    # SLSQP minimises -(L - C t) / C. Dividing by C (hundreds for the theorem's value) gives the
    # objective gradients of order one: unscaled, SLSQP stopped early ("positive directional
    # derivative") up to 1e-3 short of the maximum, at a point that depended on the machine.
    scale = 1.0 / max(C, 1.0)

    def objective(x):                     # minimise -(L - C t) / C
        pi = softmax_policy(x[:-1].reshape(S, A))
        L = eta_old + rho_old @ np.sum(pi * A_old, axis=1)
        g = rho_old[:, None] * pi * (A_old - np.sum(pi * A_old, axis=1, keepdims=True))
        return -scale * (L - C * x[-1]), scale * np.append(-g.ravel(), C)

    def kl_slack(x):                      # t - KL_s(z) >= 0
        return x[-1] - kl_per_state(pi_old, softmax_policy(x[:-1].reshape(S, A)))

    def kl_slack_jac(x):
        pi = softmax_policy(x[:-1].reshape(S, A))
        J = np.zeros((S, S * A + 1))
        for s in range(S):
            J[s, s * A:(s + 1) * A] = -(pi[s] - pi_old[s])
        J[:, -1] = 1.0
        return J

    res = minimize(objective, np.append(z_old.ravel(), 0.0), jac=True, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": kl_slack, "jac": kl_slack_jac}],
                   options={"maxiter": max_iter, "ftol": 1e-14})
    z_new = res.x[:-1].reshape(S, A)
    pi_new = softmax_policy(z_new)
    M_new = lower_bound(mdp, pi_old, pi_new, C)
    if not np.isfinite(M_new) or M_new < eta_old:   # keep the old policy: M_old(old) = eta(old)
        z_new, pi_new = z_old.copy(), pi_old
    kl = max_kl(pi_old, pi_new)
    L_new = surrogate(mdp, pi_old, pi_new)
    return MMStep(z_new, eta_old, eta(mdp, pi_new), L_new, L_new - C * kl, kl, C)


@dataclass(frozen=True)
class MMRun:
    """An MM run: etas (n+1,) non-decreasing when C is the theorem's; kls (n,) step max-KLs."""

    etas: np.ndarray
    kls: np.ndarray
    bounds: np.ndarray      # (n,) M_old(new) of each step
    logits: np.ndarray      # (n+1, S, A)


def mm_run(mdp, logits0, n_iters, C=None):
    """Iterate mm_step n_iters times from logits0 (Schulman et al. 2015, Algorithm 1).

    With the theorem's C the run is monotone, because each step gives
    eta(new) >= M_old(new) >= M_old(old) = eta(old)  (notebook 05).
    """
    logits = [check_array(logits0, "logits0", shape=(mdp.n_states, mdp.n_actions))]
    etas, kls, bounds = [eta(mdp, softmax_policy(logits[0]))], [], []
    for _ in range(check_integer(n_iters, "n_iters", minimum=0)):
        step = mm_step(mdp, logits[-1], C=C)
        logits.append(step.logits)
        etas.append(step.eta_new)
        kls.append(step.max_kl)
        bounds.append(step.bound)
    return MMRun(np.array(etas), np.array(kls), np.array(bounds), np.array(logits))
