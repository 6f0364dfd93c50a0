"""Exact small MDPs: the theory of notebook 05 (and of the running example's MDP).

Everything here is computed exactly by linear solves (``numpy.linalg.solve``, never an
inverse), with no sampling, so the course's identities can be checked to machine precision.

Conventions (stated once, used everywhere):

* Discounted, infinite horizon. ``eta(pi) = E[sum_t gamma^t r_t]`` with s_0 ~ mu0
  (Schulman et al. 2015, eq. 1), so ``eta = mu0 . V_pi``.
* ``rho_pi(s) = sum_t gamma^t P(s_t = s)`` is the *unnormalised* discounted
  visitation: ``sum_s rho_pi(s) = 1 / (1 - gamma)``. ``d_pi = (1 - gamma) * rho_pi`` is a
  probability distribution (``visitation_distribution``; notebook 05's ``rho_norm``).
* A tabular policy is an (S, A) array ``pi[s, a] = pi(a | s)``; rows sum to 1.

With these conventions the TRPO paper's statements hold as written:

    eta(new) - eta(old) = sum_s rho_new(s) sum_a new(a|s) A_old(s, a)        (Kakade & Langford 2002)
    L_old(new)          = eta(old) + sum_s rho_old(s) sum_a new(a|s) A_old(s, a)   (TRPO eq. 3)
    eta(new) >= L_old(new) - C * max_s KL(old(.|s) || new(.|s)),
    C = 4 eps gamma / (1 - gamma)^2, eps = max_{s,a} |A_old(s, a)|              (TRPO Thm. 1 + TV^2 <= KL)
    |eta(new) - L_old(new)| <= 2 gamma eps' / (1 - gamma)^2 E_{s ~ d_old}[TV_s],
    eps' = max_s |sum_a new(a|s) A_old(s, a)|                                  (Achiam et al. 2017, Thm. 1)

The two-state running example of notebooks 01-03, 06 and 07 is built on ``TabularMDP`` in
``trpo_lite.course.running_example``; the minorise-maximise algorithm built on the bound is in
``trpo_lite.monotonic``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import check_array, check_discount, check_integer


# ----------------------------------------------------------------------------- MDPs
def _check_distribution(p, name, axis=-1):
    if np.any(p < 0.0) or not np.allclose(p.sum(axis=axis), 1.0, atol=1e-8):
        raise ValueError(f"{name} must be non-negative and sum to 1 along its last axis")
    return p


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite discounted MDP.

    Attributes
    ----------
    P : (S, A, S) array, ``P[s, a, s'] = P(s' | s, a)``; each ``P[s, a]`` sums to 1.
    R : (S, A) array, expected reward r(s, a).
    mu0 : (S,) start-state distribution.
    gamma : discount factor in [0, 1).
    """

    P: np.ndarray
    R: np.ndarray
    mu0: np.ndarray
    gamma: float

    def __post_init__(self):
        P = check_array(self.P, "P", ndim=3)
        S, A = P.shape[:2]
        if P.shape[2] != S:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        arrays = {"P": _check_distribution(P, "P"),
                  "R": check_array(self.R, "R", shape=(S, A)),
                  "mu0": _check_distribution(check_array(self.mu0, "mu0", shape=(S,)), "mu0")}
        for name, value in arrays.items():          # private read-only copies: truly frozen
            value = value.copy()
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "gamma", check_discount(self.gamma))

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]


def random_mdp(n_states, n_actions, gamma, rng):
    """A random MDP: P(.|s,a) ~ Dirichlet(1), r(s,a) ~ N(0,1), mu0 ~ Dirichlet(1)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    for name, n in (("n_states", n_states), ("n_actions", n_actions)):
        if int(n) != n or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    P = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    R = rng.standard_normal((n_states, n_actions))
    mu0 = rng.dirichlet(np.ones(n_states))
    return TabularMDP(P=P, R=R, mu0=mu0, gamma=gamma)


def softmax_policy(logits):
    """pi(a|s) = exp(z[s,a]) / sum_b exp(z[s,b]); logits (S, A) -> pi (S, A)."""
    z = check_array(logits, "logits", ndim=2)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _policy(mdp, pi, name="pi"):
    pi = check_array(pi, name, shape=(mdp.n_states, mdp.n_actions))
    return _check_distribution(pi, name)


# ------------------------------------------------------------- exact policy evaluation
def transition_matrix(mdp, pi):
    """P_pi (S, S): the state chain under pi, ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a)``."""
    return np.einsum("sa,sat->st", _policy(mdp, pi), mdp.P)


def policy_evaluation(mdp, pi):
    """V_pi (S,) from the Bellman equation as one linear solve: (I - gamma P_pi) V = r_pi.

    ``P_pi = transition_matrix(mdp, pi)`` and ``r_pi[s] = sum_a pi(a|s) r(s,a)``.
    """
    pi = _policy(mdp, pi)
    r_pi = np.sum(pi * mdp.R, axis=1)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * transition_matrix(mdp, pi), r_pi)


def q_from_values(mdp, V):
    """Q (S, A) from state values V (S,): Q(s,a) = r(s,a) + gamma sum_s' P(s'|s,a) V(s')."""
    return mdp.R + mdp.gamma * mdp.P @ V


def q_values(mdp, pi):
    """Q_pi (S, A) = ``q_from_values(mdp, V_pi)``."""
    return q_from_values(mdp, policy_evaluation(mdp, pi))


def advantages(mdp, pi):
    """A_pi (S, A) = Q_pi(s,a) - V_pi(s); note sum_a pi(a|s) A_pi(s,a) = 0."""
    V = policy_evaluation(mdp, pi)
    return q_from_values(mdp, V) - V[:, None]


def eta(mdp, pi):
    """Expected discounted return eta(pi) = E[sum_t gamma^t r_t] = mu0 . V_pi."""
    return float(mdp.mu0 @ policy_evaluation(mdp, pi))


def discounted_visitation(mdp, pi):
    """Unnormalised discounted visitation rho_pi (S,) = sum_t gamma^t P(s_t = s).

    Solves rho = mu0 + gamma P_pi^T rho, i.e. (I - gamma P_pi)^T rho = mu0.
    ``rho.sum() == 1 / (1 - gamma)``; multiply by (1 - gamma) for a distribution.
    """
    P_pi = transition_matrix(mdp, pi)
    return np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.mu0)


def visitation_distribution(mdp, pi):
    """Normalised discounted visitation d_pi (S,) = (1 - gamma) rho_pi = sum_t (1 - gamma) gamma^t P(s_t = s).

    A distribution: the d^pi of Achiam et al. (2017), the ``s ~ d_old`` of notebook 05, section 5.
    """
    return (1.0 - mdp.gamma) * discounted_visitation(mdp, pi)


def average_state_distribution(mdp, pi, horizon):
    """Average state distribution (S,) = (1/T) sum_{t<T} P(s_t = s), T = ``horizon``: what a batch
    of length-T trajectories samples when every state counts the same (no gamma^t; 05, section 5)."""
    horizon = check_integer(horizon, "horizon", minimum=1)
    P_pi = transition_matrix(mdp, pi)
    mu_t, total = mdp.mu0.copy(), np.zeros(mdp.n_states)
    for _ in range(horizon):
        total += mu_t
        mu_t = mu_t @ P_pi
    return total / horizon


# -------------------------------------------------- surrogate, KL and the lower bound
def surrogate(mdp, pi_old, pi_new):
    """L_old(new) = eta(old) + sum_s rho_old(s) sum_a new(a|s) A_old(s,a)  (TRPO eq. 3).

    Equals eta(new) to first order around pi_old, and exactly at pi_new = pi_old.
    """
    pi_old, pi_new = _policy(mdp, pi_old, "pi_old"), _policy(mdp, pi_new, "pi_new")
    A_old = advantages(mdp, pi_old)
    rho_old = discounted_visitation(mdp, pi_old)
    return eta(mdp, pi_old) + float(rho_old @ np.sum(pi_new * A_old, axis=1))


def performance_difference(mdp, pi_old, pi_new):
    """eta(new) - eta(old) via the identity sum_s rho_new(s) sum_a new(a|s) A_old(s,a).

    Kakade & Langford (2002), Lemma 6.1; TRPO eq. 2. Same as L but with rho_new.
    """
    pi_old, pi_new = _policy(mdp, pi_old, "pi_old"), _policy(mdp, pi_new, "pi_new")
    A_old = advantages(mdp, pi_old)
    rho_new = discounted_visitation(mdp, pi_new)
    return float(rho_new @ np.sum(pi_new * A_old, axis=1))


def _two_policies(pi_old, pi_new):
    """pi_old and pi_new as checked (S, A) arrays of the same shape."""
    p = check_array(pi_old, "pi_old", ndim=2)
    q = check_array(pi_new, "pi_new", shape=p.shape)
    _check_distribution(p, "pi_old")
    _check_distribution(q, "pi_new")
    return p, q


def kl_per_state(pi_old, pi_new):
    """KL(old(.|s) || new(.|s)) = sum_a old log(old / new) for every row s -> (S,)."""
    p, q = _two_policies(pi_old, pi_new)
    with np.errstate(divide="ignore", invalid="ignore"):   # 0 * log(0) where old never acts
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def max_kl(pi_old, pi_new):
    """max_s KL(old(.|s) || new(.|s)), the divergence in the TRPO bound."""
    return float(np.max(kl_per_state(pi_old, pi_new)))


def mean_kl(pi_old, pi_new, weights):
    """Weighted mean sum_s w(s) KL_s / sum_s w(s); use w = rho_old for the practical TRPO KL."""
    kl = kl_per_state(pi_old, pi_new)
    w = check_array(weights, "weights", shape=kl.shape)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return float(w @ kl / w.sum())


def tv_per_state(pi_old, pi_new):
    """Total-variation distance TV_s = 0.5 sum_a |old(a|s) - new(a|s)| for every row s -> (S,)."""
    p, q = _two_policies(pi_old, pi_new)
    return 0.5 * np.abs(p - q).sum(axis=1)


def penalty_coefficient(mdp, pi_old):
    """C = 4 eps gamma / (1 - gamma)^2 with eps = max_{s,a} |A_old(s,a)|  (TRPO Thm. 1)."""
    eps = np.max(np.abs(advantages(mdp, _policy(mdp, pi_old, "pi_old"))))
    return float(4.0 * eps * mdp.gamma / (1.0 - mdp.gamma) ** 2)


def lower_bound(mdp, pi_old, pi_new, C=None):
    """M_old(new) = L_old(new) - C max_s KL(old||new); eta(new) >= M_old(new), with equality at old.

    TRPO Theorem 1 bounds with alpha^2 = (max_s TV)^2 and TV^2 <= KL (Pinsker, with
    TV = 0.5 * L1) gives this KL form. It needs the unnormalised rho inside L.
    ``C`` defaults to ``penalty_coefficient(mdp, pi_old)``; any other value is a heuristic.
    """
    C = penalty_coefficient(mdp, pi_old) if C is None else float(C)
    return surrogate(mdp, pi_old, pi_new) - C * max_kl(pi_old, pi_new)


@dataclass(frozen=True)
class SurrogateGap:
    """``gap = eta(new) - L_old(new)``, the state-distribution shift L ignores, and the bounds on
    ``|gap|`` (every ``*_bound``; notebook 05, section 8)."""

    eta_gain: float       # eta(new) - eta(old)
    L_gain: float         # L_old(new) - eta(old)
    gap: float            # eta(new) - L_old(new)
    max_kl: float         # max_s KL(old || new)
    mean_kl: float        # E_{s ~ d_old} KL(old || new)
    max_tv: float         # max_s TV_s  (alpha of TRPO's Theorem 1)
    mean_tv: float        # E_{s ~ d_old} TV_s
    trpo_tv_bound: float  # C max_tv^2,  C = 4 eps gamma / (1 - gamma)^2      (TRPO Thm. 1)
    trpo_kl_bound: float  # C max_kl    (TV^2 <= KL)
    cpo_tv_bound: float   # 2 gamma eps' / (1 - gamma)^2 mean_tv              (Achiam et al. Thm. 1)
    cpo_kl_bound: float   # 2 gamma eps' / (1 - gamma)^2 sqrt(mean_kl / 2)   (Pinsker + Jensen)


def surrogate_gap(mdp, pi_old, pi_new):
    """The gap eta(new) - L_old(new) and its max-KL and mean-KL bounds, computed exactly.

    TRPO's Theorem 1 (Schulman et al. 2015; its proof bounds the gap from both sides):
        |eta(new) - L_old(new)| <= C alpha^2 <= C max_s KL_s,   C = 4 eps gamma / (1 - gamma)^2,
        alpha = max_s TV_s,  eps = max_{s,a} |A_old(s,a)|.
    Achiam, Held, Tamar & Abbeel (2017), Theorem 1 with f = V_old (Corollary 1 is its lower half):
        |eta(new) - L_old(new)| <= 2 gamma eps' / (1 - gamma)^2  E_{s ~ d_old}[TV_s],
        eps' = max_s |sum_a new(a|s) A_old(s,a)|,   d_old = (1 - gamma) rho_old;
    and TV_s <= sqrt(KL_s / 2) (Pinsker) with E sqrt(x) <= sqrt(E x) (Jensen) turn its
    right-hand side into 2 gamma eps' / (1 - gamma)^2 sqrt(E_{d_old}[KL_s] / 2): a mean-KL bound.
    """
    pi_old, pi_new = _policy(mdp, pi_old, "pi_old"), _policy(mdp, pi_new, "pi_new")
    gamma = mdp.gamma
    A_old = advantages(mdp, pi_old)
    d_old = visitation_distribution(mdp, pi_old)
    eta_old, eta_new = eta(mdp, pi_old), eta(mdp, pi_new)
    L_new = surrogate(mdp, pi_old, pi_new)
    kl, tv = kl_per_state(pi_old, pi_new), tv_per_state(pi_old, pi_new)
    C = penalty_coefficient(mdp, pi_old)
    C_mean = 2.0 * gamma * np.max(np.abs(np.sum(pi_new * A_old, axis=1))) / (1.0 - gamma) ** 2
    mean_kl_old = float(d_old @ kl)
    return SurrogateGap(eta_new - eta_old, L_new - eta_old, eta_new - L_new, float(kl.max()),
                        mean_kl_old, float(tv.max()), float(d_old @ tv), float(C * tv.max() ** 2),
                        float(C * kl.max()), float(C_mean * (d_old @ tv)),
                        float(C_mean * np.sqrt(max(mean_kl_old, 0.0) / 2.0)))
