"""Exact small MDPs: the theory of notebook 05 and the 2-parameter running example (01-03, 06).

Everything here is computed exactly by linear solves (``numpy.linalg.solve``, never an
inverse), with no sampling, so the course's identities can be checked to machine precision.

Conventions (stated once, used everywhere):

* Discounted, infinite horizon. ``eta(pi) = E[sum_t gamma^t r_t]`` with s_0 ~ mu0
  (Schulman et al. 2015, eq. 1), so ``eta = mu0 . V_pi``.
* ``rho_pi(s) = sum_t gamma^t P(s_t = s)`` is the *unnormalised* discounted
  visitation: ``sum_s rho_pi(s) = 1 / (1 - gamma)``. ``(1 - gamma) * rho_pi`` is a
  probability distribution; we call it ``rho_norm`` where it is used.
* A tabular policy is an (S, A) array ``pi[s, a] = pi(a | s)``; rows sum to 1.

With these conventions the TRPO paper's statements hold as written:

    eta(new) - eta(old) = sum_s rho_new(s) sum_a new(a|s) A_old(s, a)        (Kakade & Langford 2002)
    L_old(new)          = eta(old) + sum_s rho_old(s) sum_a new(a|s) A_old(s, a)   (TRPO eq. 3)
    eta(new) >= L_old(new) - C * max_s KL(old(.|s) || new(.|s)),
    C = 4 eps gamma / (1 - gamma)^2, eps = max_{s,a} |A_old(s, a)|              (TRPO Thm. 1 + TV^2 <= KL)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from .algos import Adam, natural_step
from .cg import conjugate_gradient
from .linesearch import backtracking_line_search
from .validate import check_array


# ----------------------------------------------------------------------------- MDPs
def _check_gamma(gamma):
    if not np.isscalar(gamma) or not np.isfinite(gamma) or not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}")
    return float(gamma)


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
        object.__setattr__(self, "gamma", _check_gamma(self.gamma))

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
def policy_evaluation(mdp, pi):
    """V_pi (S,) from the Bellman equation as one linear solve: (I - gamma P_pi) V = r_pi.

    ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a)`` and ``r_pi[s] = sum_a pi(a|s) r(s,a)``.
    """
    pi = _policy(mdp, pi)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    r_pi = np.sum(pi * mdp.R, axis=1)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi, r_pi)


def q_values(mdp, pi):
    """Q_pi (S, A): Q(s,a) = r(s,a) + gamma sum_s' P(s'|s,a) V_pi(s')."""
    return mdp.R + mdp.gamma * mdp.P @ policy_evaluation(mdp, pi)


def advantages(mdp, pi):
    """A_pi (S, A) = Q_pi(s,a) - V_pi(s); note sum_a pi(a|s) A_pi(s,a) = 0."""
    V = policy_evaluation(mdp, pi)
    return mdp.R + mdp.gamma * mdp.P @ V - V[:, None]


def eta(mdp, pi):
    """Expected discounted return eta(pi) = E[sum_t gamma^t r_t] = mu0 . V_pi."""
    return float(mdp.mu0 @ policy_evaluation(mdp, pi))


def discounted_visitation(mdp, pi):
    """Unnormalised discounted visitation rho_pi (S,) = sum_t gamma^t P(s_t = s).

    Solves rho = mu0 + gamma P_pi^T rho, i.e. (I - gamma P_pi)^T rho = mu0.
    ``rho.sum() == 1 / (1 - gamma)``; multiply by (1 - gamma) for a distribution.
    """
    pi = _policy(mdp, pi)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    return np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.mu0)


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


def kl_per_state(pi_old, pi_new):
    """KL(old(.|s) || new(.|s)) = sum_a old log(old / new) for every row s -> (S,)."""
    p = check_array(pi_old, "pi_old", ndim=2)
    q = check_array(pi_new, "pi_new", shape=p.shape)
    _check_distribution(p, "pi_old")
    _check_distribution(q, "pi_new")
    with np.errstate(divide="ignore"):
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


# -------------------------------------------------- softmax-policy gradients and MM
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

    def objective(x):                     # minimise -(L - C t)
        pi = softmax_policy(x[:-1].reshape(S, A))
        L = eta_old + rho_old @ np.sum(pi * A_old, axis=1)
        g = rho_old[:, None] * pi * (A_old - np.sum(pi * A_old, axis=1, keepdims=True))
        return -(L - C * x[-1]), np.append(-g.ravel(), C)

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
    for _ in range(int(n_iters)):
        step = mm_step(mdp, logits[-1], C=C)
        logits.append(step.logits)
        etas.append(step.eta_new)
        kls.append(step.max_kl)
        bounds.append(step.bound)
    return MMRun(np.array(etas), np.array(kls), np.array(bounds), np.array(logits))


# ------------------------------------------------------------ the running example
def _kl_bernoulli(a, b):
    """KL(Bernoulli(sigma(a)) || Bernoulli(sigma(b))) from the logits a, b (no 1 - sigma cancellation)."""
    return (expit(a) * (log_expit(a) - log_expit(b))
            + expit(-a) * (log_expit(-a) - log_expit(-b)))


@dataclass(frozen=True, eq=False)
class TwoStateExample:
    """Two states, two actions, pi(a=1 | s_i) = sigmoid(theta_i), theta = (theta_0, theta_1).

    The objective is the entropy-regularised return

        J(theta) = E[sum_t gamma^t (r_t + tau H(pi(.|s_t)))] = mu0 . V,
        (I - gamma P_pi) V = r_pi + tau H_pi        (a 2x2 linear solve),

    whose maximiser is finite: theta_i* = (Q(s_i,1) - Q(s_i,0)) / tau. The bonus tau > 0
    is what keeps the optimum off infinity; with tau = 0, J = eta(mdp, pi). For a sampled
    (REINFORCE) estimate of grad J use the per-step reward r_t - tau log pi(a_t|s_t).

    rho is the unnormalised visitation (sums to 1/(1-gamma)). The Fisher matrix and the
    mean KL both weight states by the distribution rho_norm = (1 - gamma) rho(theta_old),
    so ``fisher`` is exactly the Hessian of ``kl(theta_old, .)`` at theta_old.
    ``theta_start`` and ``box`` are the start point and plotting box every notebook uses.
    """

    mdp: TabularMDP
    tau: float = 0.0
    theta_start: tuple = (-4.0, -4.0)
    box: tuple = (-6.0, 6.0)

    def __post_init__(self):
        if not isinstance(self.mdp, TabularMDP):
            raise TypeError(f"mdp must be a TabularMDP, got {type(self.mdp).__name__}")
        if self.mdp.P.shape != (2, 2, 2):
            raise ValueError(f"mdp must have 2 states and 2 actions, got P of shape {self.mdp.P.shape}")
        if not np.isfinite(self.tau) or self.tau < 0:
            raise ValueError(f"tau must be a finite number >= 0, got {self.tau!r}")

    # ---- batched exact solve: theta (..., 2) -> V (..., 2), rho (..., 2), dQ (..., 2)
    def _solve(self, theta):
        pi = np.stack([expit(-theta), expit(theta)], axis=-1)            # (..., 2, 2)
        log_pi = np.stack([log_expit(-theta), log_expit(theta)], axis=-1)
        P_pi = np.einsum("...sa,sat->...st", pi, self.mdp.P)
        r_pi = np.sum(pi * (self.mdp.R - self.tau * log_pi), axis=-1)    # r_pi + tau H_pi
        I_minus = np.eye(2) - self.mdp.gamma * P_pi
        V = np.linalg.solve(I_minus, r_pi[..., None])[..., 0]
        mu0 = np.broadcast_to(self.mdp.mu0, V.shape)[..., None]
        rho = np.linalg.solve(np.swapaxes(I_minus, -1, -2), mu0)[..., 0]
        Q = self.mdp.R + self.mdp.gamma * np.einsum("sat,...t->...sa", self.mdp.P, V)
        return V, rho, Q[..., 1] - Q[..., 0]

    def _theta(self, theta, name="theta"):
        return check_array(theta, name, shape=(2,))

    def pi(self, theta):
        """Policy table (2, 2): pi[s, a] = pi(a | s), pi[s, 1] = sigmoid(theta_s)."""
        theta = self._theta(theta)
        return np.stack([expit(-theta), expit(theta)], axis=-1)

    def J(self, theta):
        """Entropy-regularised return J(theta) = mu0 . V (exact)."""
        return float(self.mdp.mu0 @ self._solve(self._theta(theta))[0])

    def J_grid(self, t0, t1):
        """J on the grid theta = (t0[j], t1[i]) -> (H, G) array, for contour plots."""
        t0, t1 = check_array(t0, "t0", ndim=1), check_array(t1, "t1", ndim=1)
        T0, T1 = np.meshgrid(t0, t1)
        return self._solve(np.stack([T0, T1], axis=-1))[0] @ self.mdp.mu0

    def rho(self, theta):
        """Unnormalised discounted visitation (2,), sums to 1/(1 - gamma)."""
        return self._solve(self._theta(theta))[1]

    def grad_J(self, theta):
        """dJ/dtheta_i = rho(s_i) sigma_i (1 - sigma_i) (Q(s_i,1) - Q(s_i,0) - tau theta_i).

        Policy gradient theorem sum_s rho(s) sum_a dpi(a|s) (Q(s,a) - tau log pi(a|s)), with
        Q(s,a) = r(s,a) + gamma E[V(s')] (V includes the entropy bonus),
        dpi(1|s_i)/dtheta_i = sigma_i (1 - sigma_i) and log(pi(1|s_i)/pi(0|s_i)) = theta_i.
        """
        theta = self._theta(theta)
        _, rho, dQ = self._solve(theta)
        return rho * expit(theta) * expit(-theta) * (dQ - self.tau * theta)

    def fisher(self, theta):
        """F = diag(rho_norm(s_i) sigma_i (1 - sigma_i)), rho_norm = (1 - gamma) rho: the Hessian of kl."""
        theta = self._theta(theta)
        return np.diag((1 - self.mdp.gamma) * self.rho(theta) * expit(theta) * expit(-theta))

    def kl(self, theta_old, theta_new):
        """sum_s rho_norm_old(s) KL(Bern(sigma_old(s)) || Bern(sigma_new(s))), mean KL under old."""
        theta_old = self._theta(theta_old, "theta_old")
        rho_norm = (1 - self.mdp.gamma) * self.rho(theta_old)
        return float(rho_norm @ _kl_bernoulli(theta_old, self._theta(theta_new, "theta_new")))

    def kl_grid(self, theta_old, t0, t1):
        """kl(theta_old, (t0[j], t1[i])) on a grid -> (H, G)."""
        theta_old = self._theta(theta_old, "theta_old")
        t0, t1 = check_array(t0, "t0", ndim=1), check_array(t1, "t1", ndim=1)
        T = np.stack(np.meshgrid(t0, t1), axis=-1)
        return _kl_bernoulli(theta_old, T) @ ((1 - self.mdp.gamma) * self.rho(theta_old))

    def kl_max(self, theta_old, theta_new):
        """max_s KL(Bern(sigma_old(s)) || Bern(sigma_new(s))), the KL of the TRPO bound."""
        return float(np.max(_kl_bernoulli(self._theta(theta_old, "theta_old"),
                                          self._theta(theta_new, "theta_new"))))

    def _surrogate(self, theta_old, theta):
        """L_old(theta) for theta (..., 2): the state weights and Q are frozen at theta_old."""
        V, rho, _ = self._solve(theta_old)
        Q = self.mdp.R + self.mdp.gamma * self.mdp.P @ V                       # (2, 2) Q_old(s, a)
        pi = np.stack([expit(-theta), expit(theta)], axis=-1)
        log_pi = np.stack([log_expit(-theta), log_expit(theta)], axis=-1)
        inner = np.sum(pi * (Q - self.tau * log_pi), axis=-1) - V             # soft advantage of pi_theta
        return float(self.mdp.mu0 @ V) + inner @ rho

    def surrogate(self, theta_old, theta_new):
        """Surrogate L_old(theta_new) = J(old) + sum_s rho_old(s) [sum_a pi_new(a|s) (Q_old(s,a)
        - tau log pi_new(a|s)) - V_old(s)]  (Schulman et al. 2015, eq. 3, entropy-regularised).

        Equals J at theta_old with the same gradient; the line search of notebook 06 maximises it.
        """
        return float(self._surrogate(self._theta(theta_old, "theta_old"), self._theta(theta_new, "theta_new")))

    def surrogate_grid(self, theta_old, t0, t1):
        """L_old on the grid theta = (t0[j], t1[i]) -> (H, G)."""
        t0, t1 = check_array(t0, "t0", ndim=1), check_array(t1, "t1", ndim=1)
        return self._surrogate(self._theta(theta_old, "theta_old"), np.stack(np.meshgrid(t0, t1), axis=-1))

    def theta_opt(self, tol=1e-12, max_iter=10_000):
        """The maximiser of J by soft policy iteration theta_i <- dQ_i(theta) / tau (needs tau > 0)."""
        if self.tau <= 0:
            raise ValueError("tau must be > 0 for a finite optimum")
        theta = np.zeros(2)
        for _ in range(max_iter):
            theta_next = self._solve(theta)[2] / self.tau
            if np.max(np.abs(theta_next - theta)) < tol:
                return theta_next
            theta = theta_next
        return theta


def running_example():
    """The course's default two-state example; its numbers are explained inline.

    s0 is common, s1 is rare (about 2 % of the discounted visits). The greedy action in
    s0 (reward 1) makes s1 even rarer; the good action in s1 is worth 4. With tau = 1 the
    optimum is theta* = (0.92, 4.0); the start corner (-4, -4) is saturated. The
    curvature of J at theta* is about 2.0 along theta_0 and 0.004 along theta_1, so
    gradient ascent needs lr < ~1 for theta_0 and then crawls along theta_1.
    """
    P = np.array([[[0.96, 0.04],      # s0, a=0: 4 % to the rare state
                   [0.99, 0.01]],     # s0, a=1: 1 % to the rare state
                  [[0.90, 0.10],      # s1 (either action): mostly back to s0
                   [0.90, 0.10]]])
    R = np.array([[0.0, 1.0],         # s0: a=1 is worth 1
                  [0.0, 4.0]])        # s1: a=1 is worth 4 (the rare state's action matters more)
    mdp = TabularMDP(P=P, R=R, mu0=np.array([0.98, 0.02]), gamma=0.9)
    return TwoStateExample(mdp=mdp, tau=1.0, theta_start=(-4.0, -4.0), box=(-6.0, 6.0))


# -------------------------------------------------------------- paths on the map
def _scale(scale):
    scale = check_array(scale, "scale", shape=(2,))
    if np.any(scale <= 0):
        raise ValueError(f"scale must be positive, got {scale}")
    return scale


def gradient_ascent_path(example, theta0, lr, n_steps, scale=(1.0, 1.0)):
    """Vanilla gradient ascent phi <- phi + lr grad_phi J(phi), reported in theta (notebooks 01, 03).

    Parameters
    ----------
    example : TwoStateExample
    theta0 : (2,) start point in theta coordinates.
    lr : learning rate > 0. On ``running_example()``: 0.1 stalls, 0.5 is good but still
        crawls along theta_1, 2.0 zigzags across the ridge, >= 3 collapses (saturates s0).
    n_steps : number of updates.
    scale : (2,) positive; the optimiser works in phi = theta / scale. Since
        grad_phi J = scale * grad_theta J, the theta step is lr * scale**2 * g, so the
        vanilla path depends on the parametrisation.

    Returns
    -------
    path : (n_steps + 1, 2) iterates in theta coordinates, path[0] = theta0.
    """
    scale = _scale(scale)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    phi = check_array(theta0, "theta0", shape=(2,)) / scale
    path = [scale * phi]
    for _ in range(int(n_steps)):
        phi = phi + lr * scale * example.grad_J(scale * phi)
        path.append(scale * phi)
    return np.array(path)


def natural_gradient_path(example, theta0, delta, n_steps, scale=(1.0, 1.0)):
    """Natural gradient ascent phi <- phi + sqrt(2 delta / (g^T F^-1 g)) F^-1 g (notebook 03).

    The step maximises g^T s subject to the quadratic KL model 0.5 s^T F s = delta
    (Kakade 2001); the measured ``example.kl`` of a step is close to delta only for small
    delta. g and F are taken in phi = theta / scale coordinates (g_phi = scale * g,
    F_phi = diag(scale) F diag(scale)); the theta step F^-1 g is then the same for every
    scale (Amari 1998). Stays put where g^T F^-1 g = 0.

    Parameters
    ----------
    delta : KL step size > 0; 0.01 reaches the optimum of ``running_example()`` in ~20 steps.
    Other parameters and the returned (n_steps + 1, 2) path are as in gradient_ascent_path.
    """
    scale = _scale(scale)
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
    phi = check_array(theta0, "theta0", shape=(2,)) / scale
    path = [scale * phi]
    for _ in range(int(n_steps)):
        theta = scale * phi
        g = scale * example.grad_J(theta)
        F = scale[:, None] * example.fisher(theta) * scale[None, :]
        try:
            step_dir = np.linalg.solve(F, g)                   # F^-1 g
        except np.linalg.LinAlgError:
            raise ValueError(f"Fisher matrix is singular at theta={theta} (saturated sigmoid); "
                             "use fewer steps or a smaller delta") from None
        gFg = g @ step_dir
        if gFg > 0:
            phi = phi + np.sqrt(2 * delta / gFg) * step_dir
        path.append(scale * phi)
    return np.array(path)


# ------------------------------------------- TRPO and PPO steps on the running example
# Notebooks 06 and 07: one exact TRPO step (CG + line search on the example's surrogate and
# KL) and PPO's clipped objective as an exact expectation over (s, a) (no sampling).


def trpo_step(example, theta_old, delta, backtrack_coef=0.8, max_backtracks=10,
                        rule="kl_and_improvement"):
    """One TRPO step on a two-state example (notebook 06), every quantity exact.

    g = grad J(theta_old); x = F^-1 g by conjugate gradient (2 iterations are exact for a
    2 x 2 F); full_step = sqrt(2 delta / x^T F x) x; then ``backtracking_line_search`` on the
    example's surrogate L_old(theta) and mean KL(pi_old || pi_theta).

    Returns (full_step (2,), LineSearchResult).
    """
    theta_old = np.asarray(theta_old, dtype=float)
    g, F = example.grad_J(theta_old), example.fisher(theta_old)
    x = conjugate_gradient(lambda v: F @ v, g, max_iter=2).x
    full_step = natural_step(x, F @ x, delta)
    result = backtracking_line_search(
        theta_old, full_step,
        surrogate=lambda theta: example.surrogate(theta_old, theta),
        kl=lambda theta: example.kl(theta_old, theta),
        max_kl=delta, backtrack_coef=backtrack_coef, max_backtracks=max_backtracks,
        expected_improve=float(g @ full_step), rule=rule)
    return full_step, result


def soft_advantages(example, theta_old):
    """Soft advantages A_old(s, a) = Q_old(s, a) - tau log pi_old(a|s) - V_old(s), shape (2, 2).

    The per-step reward of the entropy-regularised objective is r(s, a) - tau log pi(a|s)
    (``TwoStateExample``'s docstring); freezing its log pi at pi_old gives the advantage a
    sampled PPO/TRPO batch estimates. V_old = (I - gamma P_pi)^-1 r_soft is one linear solve
    (``tabular.policy_evaluation`` on the MDP with rewards R - tau log pi_old), and
    Q_old(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V_old(s').  sum_a pi_old A_old = 0.
    """
    mdp = example.mdp
    pi_old = example.pi(theta_old)
    log_pi_old = np.log(pi_old)
    soft = TabularMDP(P=mdp.P, R=mdp.R - example.tau * log_pi_old, mu0=mdp.mu0, gamma=mdp.gamma)
    V = policy_evaluation(soft, pi_old)
    Q = mdp.R + mdp.gamma * mdp.P @ V
    return Q - example.tau * log_pi_old - V[:, None]


def ppo_ratios(example, theta_old, theta):
    """r(s, a) = pi_theta(a|s) / pi_old(a|s) (..., 2, 2) and the weights rho_old pi_old A_old (2, 2)."""
    theta = np.asarray(theta, dtype=float)
    pi_old = example.pi(theta_old)
    pi = np.stack([expit(-theta), expit(theta)], axis=-1)
    weight = example.rho(theta_old)[:, None] * pi_old * soft_advantages(example, theta_old)
    return pi / pi_old, weight


def ppo_objectives(example, theta_old, theta, clip=0.2):
    """PPO's clipped objective and the unclipped ratio objective on the running example.

        L(theta)      = J(old) + sum_s rho_old(s) sum_a pi_old(a|s) r(s,a) A_old(s,a)
        L_clip(theta) = J(old) + sum_s rho_old(s) sum_a pi_old(a|s)
                                  min(r A_old, clip(r, 1 - eps, 1 + eps) A_old)

    with r(s,a) = pi_theta(a|s) / pi_old(a|s) and the soft advantages above: the exact
    expectation, over the old policy's (unnormalised) visitation, of what a PPO batch
    averages. L has J's value and gradient at theta_old. theta (..., 2) -> two (...) arrays.
    """
    r, weight = ppo_ratios(example, theta_old, theta)
    J_old = example.J(theta_old)
    L = J_old + np.sum(r * weight, axis=(-2, -1))
    L_clip = J_old + np.sum(np.minimum(r * weight, np.clip(r, 1 - clip, 1 + clip) * weight),
                            axis=(-2, -1))
    return L_clip, L


def clipped_objective_gradient(example, theta_old, theta, clip=0.2):
    """grad L_clip (2,): sum_a rho pi_old A dr/dtheta_s over the (s, a) whose ratio is not clipped.

    Active as in ``algos.clipped_surrogate_gradient``: A >= 0 and r < 1 + eps, or A < 0 and
    r > 1 - eps. dr(s,1)/dtheta_s = r (1 - sigma_s), dr(s,0)/dtheta_s = -r sigma_s.
    """
    theta = np.asarray(theta, dtype=float)
    r, weight = ppo_ratios(example, theta_old, theta)
    active = np.where(weight >= 0, r < 1 + clip, r > 1 - clip)
    sigma = expit(theta)
    dlogpi = np.stack([-sigma, 1 - sigma], axis=-1)                 # d log pi(a|s) / d theta_s
    return np.sum(weight * active * r * dlogpi, axis=-1)


def ppo_path(example, theta_old, clip=0.2, lr=0.1, n_steps=30, optimizer="adam"):
    """PPO's inner loop on the exact objective: ``n_steps`` ascent steps on L_clip from theta_old.

    ``optimizer="adam"``: ``algos.Adam`` with learning rate ``lr``, as ``ppo_update`` uses (its
    momentum keeps moving theta after the gradient has become zero); ``"sgd"``: plain
    gradient ascent theta + lr * grad L_clip (stops where the gradient vanishes).
    Returns the path (n_steps + 1, 2).
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    adam = Adam(lr=lr)
    theta = np.asarray(theta_old, dtype=float)
    path = [theta]
    for _ in range(int(n_steps)):
        g = clipped_objective_gradient(example, theta_old, theta, clip)
        theta = adam.step(theta, g) if optimizer == "adam" else theta + lr * g
        path.append(theta)
    return np.array(path)


def clip_box(example, theta_old, clip=0.2):
    """Where each ratio leaves [1 - eps, 1 + eps]: {(s, a): (theta_s at r = 1 - eps, at r = 1 + eps)}.

    r(s, a) depends on theta_s only, so each boundary is a vertical (s = 0) or horizontal
    (s = 1) line on the map; NaN where the ratio cannot reach the bound (pi would exceed 1).
    """
    pi_old = example.pi(theta_old)
    out = {}
    for s in range(2):
        for a in range(2):
            bounds = []
            for r in (1 - clip, 1 + clip):
                p = r * pi_old[s, a]                              # the new pi(a|s)
                p1 = p if a == 1 else 1 - p                       # the new pi(1|s) = sigmoid(theta_s)
                bounds.append(np.log(p1 / (1 - p1)) if 0 < p < 1 else np.nan)
            out[(s, a)] = tuple(bounds)
    return out


def flat_corner(example, theta_old, clip=0.2):
    """The theta (2,) from which L_clip is flat: in each state, the theta_s at which the LAST of
    its two ratios is clipped on its helpful side (r = 1 + eps where A_old > 0, r = 1 - eps where
    A_old < 0). Moving theta_s further away from theta_old leaves every gradient term zero.
    +-inf where a ratio can never reach its bound (e.g. r = 1.2 for an action already taken with
    probability > 1/1.2): there L_clip keeps rising forever along theta_s."""
    box = clip_box(example, theta_old, clip)
    A = soft_advantages(example, theta_old)
    corner = []
    for s in range(2):
        rising = A[s, 1] > 0                                            # theta_s rises iff A(s, 1) > 0
        edges = np.array([box[(s, a)][1] if A[s, a] > 0 else box[(s, a)][0] for a in range(2)])
        if np.isnan(edges).any():
            corner.append(np.inf if rising else -np.inf)
        else:
            corner.append(edges.max() if rising else edges.min())
    return np.array(corner)
