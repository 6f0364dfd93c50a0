"""The two-state running example of notebooks 01-03, 06 and 07, computed exactly.

Two states, two actions and a sigmoid policy pi(a=1 | s_i) = sigmoid(theta_i): two parameters,
so every notebook can draw its objective as a map over theta = (theta_0, theta_1) and put on
it what the chapter builds -- gradient and natural-gradient paths (01, 03), the KL ball (02),
TRPO's line search (06), PPO's clip box (07). Every number is an exact linear solve on the
``trpo_lite.mdp.TabularMDP`` underneath; nothing is sampled.

Sections: the example (``TwoStateExample``, ``running_example``, its soft values and
advantages); paths on the map; one TRPO step. PPO's clipped objective on the example is in
``ppo_example``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from ..algos import natural_step
from ..cg import conjugate_gradient
from ..linesearch import backtracking_line_search
from ..mdp import TabularMDP, policy_evaluation, q_from_values
from ..validate import check_array


# ------------------------------------------------------------ the running example
def sigmoid_policy(theta):
    """Policy table (..., 2, 2) for theta (..., 2): pi[s, 1] = sigmoid(theta_s), pi[s, 0] = 1 - that."""
    return np.stack([expit(-theta), expit(theta)], axis=-1)


def _log_sigmoid_policy(theta):
    """log of ``sigmoid_policy(theta)``, without the 1 - sigma cancellation."""
    return np.stack([log_expit(-theta), log_expit(theta)], axis=-1)


def _kl_bernoulli(a, b):
    """KL(Bernoulli(sigma(a)) || Bernoulli(sigma(b))) from the logits a, b (no 1 - sigma cancellation)."""
    return (expit(a) * (log_expit(a) - log_expit(b))
            + expit(-a) * (log_expit(-a) - log_expit(-b)))


def theta_grid(t0, t1):
    """The grid theta[i, j] = (t0[j], t1[i]), shape (len(t1), len(t0), 2), for contour plots."""
    t0, t1 = check_array(t0, "t0", ndim=1), check_array(t1, "t1", ndim=1)
    return np.stack(np.meshgrid(t0, t1), axis=-1)


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
        pi, log_pi = sigmoid_policy(theta), _log_sigmoid_policy(theta)    # (..., 2, 2)
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
        return sigmoid_policy(self._theta(theta))

    def J(self, theta):
        """Entropy-regularised return J(theta) = mu0 . V (exact)."""
        return float(self.mdp.mu0 @ self._solve(self._theta(theta))[0])

    def J_grid(self, t0, t1):
        """J on the grid theta = (t0[j], t1[i]) -> (H, G) array, for contour plots."""
        return self._solve(theta_grid(t0, t1))[0] @ self.mdp.mu0

    def rho(self, theta):
        """Unnormalised discounted visitation (2,), sums to 1/(1 - gamma)."""
        return self._solve(self._theta(theta))[1]

    def rho_norm(self, theta):
        """(1 - gamma) rho (2,): the state distribution that weights ``fisher`` and ``kl``."""
        return (1 - self.mdp.gamma) * self.rho(theta)

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
        """F = diag(rho_norm(s_i) sigma_i (1 - sigma_i)): the Hessian of kl at theta_old = theta."""
        theta = self._theta(theta)
        return np.diag(self.rho_norm(theta) * expit(theta) * expit(-theta))

    def kl(self, theta_old, theta_new):
        """sum_s rho_norm_old(s) KL(Bern(sigma_old(s)) || Bern(sigma_new(s))), mean KL under old."""
        theta_old = self._theta(theta_old, "theta_old")
        return float(self.rho_norm(theta_old) @ _kl_bernoulli(theta_old, self._theta(theta_new, "theta_new")))

    def kl_grid(self, theta_old, t0, t1):
        """kl(theta_old, (t0[j], t1[i])) on a grid -> (H, G)."""
        theta_old = self._theta(theta_old, "theta_old")
        return _kl_bernoulli(theta_old, theta_grid(t0, t1)) @ self.rho_norm(theta_old)

    def _surrogate(self, theta_old, theta):
        """L_old(theta) for theta (..., 2): the state weights and Q are frozen at theta_old."""
        V, rho, _ = self._solve(theta_old)
        Q = q_from_values(self.mdp, V)                                          # (2, 2) Q_old(s, a)
        pi, log_pi = sigmoid_policy(theta), _log_sigmoid_policy(theta)
        inner = np.sum(pi * (Q - self.tau * log_pi), axis=-1) - V             # soft advantage of pi_theta
        return float(self.mdp.mu0 @ V) + inner @ rho

    def surrogate(self, theta_old, theta_new):
        """Surrogate L_old(theta_new) = J(old) + sum_s rho_old(s) [sum_a pi_new(a|s) (Q_old(s,a)
        - tau log pi_new(a|s)) - V_old(s)]  (Schulman et al. 2015, eq. 3, entropy-regularised).

        Equals J at theta_old with the same gradient; the line search of notebook 06 maximises it.
        """
        return float(self._surrogate(self._theta(theta_old, "theta_old"), self._theta(theta_new, "theta_new")))

    def along(self, theta_old, thetas):
        """(kl(theta_old, theta), surrogate(theta_old, theta)) for every row of thetas (n, 2)
        at once: the line search's two profiles along a step (notebook 06's explorer)."""
        theta_old = self._theta(theta_old, "theta_old")
        thetas = check_array(thetas, "thetas", ndim=2)
        kl = _kl_bernoulli(theta_old, thetas) @ self.rho_norm(theta_old)
        return kl, self._surrogate(theta_old, thetas)

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


def soft_values(example, theta):
    """Exact state values V (2,) of the entropy-regularised objective at ``theta``.

    The bonus -tau log pi(a|s) is folded into the reward, R'(s,a) = r(s,a) - tau log pi(a|s),
    and V = (I - gamma P_pi)^-1 r'_pi comes from ``mdp.policy_evaluation``: the best
    state-dependent baseline of notebook 01's REINFORCE check. ``mu0 . V == example.J(theta)``.
    """
    pi, mdp = example.pi(theta), example.mdp
    soft = TabularMDP(P=mdp.P, R=mdp.R - example.tau * np.log(pi), mu0=mdp.mu0, gamma=mdp.gamma)
    return policy_evaluation(soft, pi)


def soft_advantages(example, theta_old):
    """Soft advantages A_old(s, a) = Q_old(s, a) - tau log pi_old(a|s) - V_old(s), shape (2, 2).

    The per-step reward of the entropy-regularised objective is r(s, a) - tau log pi(a|s)
    (``TwoStateExample``'s docstring); freezing its log pi at pi_old gives the advantage a
    sampled PPO/TRPO batch estimates. V_old = ``soft_values(example, theta_old)`` and
    Q_old(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V_old(s').  sum_a pi_old A_old = 0.
    """
    V = soft_values(example, theta_old)
    return q_from_values(example.mdp, V) - example.tau * np.log(example.pi(theta_old)) - V[:, None]


# -------------------------------------------------------------- paths on the map
def _scale(scale):
    scale = check_array(scale, "scale", shape=(2,))
    if np.any(scale <= 0):
        raise ValueError(f"scale must be positive, got {scale}")
    return scale


def _path(theta0, n_steps, scale, step):
    """Iterate phi <- step(phi) in phi = theta / scale from theta0; the (n_steps + 1, 2) path in theta."""
    phi = check_array(theta0, "theta0", shape=(2,)) / scale
    path = [scale * phi]
    for _ in range(int(n_steps)):
        phi = step(phi)
        path.append(scale * phi)
    return np.array(path)


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
    return _path(theta0, n_steps, scale, lambda phi: phi + lr * scale * example.grad_J(scale * phi))


def gradient_ascent_paths(example, theta0, lrs, n_steps):
    """``gradient_ascent_path`` for many learning rates at once, and J along each path.

    The same update theta <- theta + lr grad J(theta) for every rate in ``lrs`` (K,), computed
    for all K paths together (one batched solve of the 2-state Bellman equations per step,
    instead of K), so that notebook 01's explorer can hold every slider value's path from the
    start. Returns (paths (K, n_steps + 1, 2), J (K, n_steps + 1)).
    """
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError(f"lrs must be a 1-D array of finite numbers > 0, got {lrs!r}")
    theta = np.tile(example._theta(theta0, "theta0"), (lrs.size, 1))
    paths = [theta]
    for _ in range(int(n_steps)):
        _, rho, dQ = example._solve(theta)        # grad J as in TwoStateExample.grad_J, per row
        theta = theta + lrs[:, None] * (rho * expit(theta) * expit(-theta) * (dQ - example.tau * theta))
        paths.append(theta)
    paths = np.stack(paths, axis=1)
    return paths, example._solve(paths)[0] @ example.mdp.mu0


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

    def step(phi):
        theta = scale * phi
        g = scale * example.grad_J(theta)
        F = scale[:, None] * example.fisher(theta) * scale[None, :]
        try:
            step_dir = np.linalg.solve(F, g)                   # F^-1 g
        except np.linalg.LinAlgError:
            raise ValueError(f"Fisher matrix is singular at theta={theta} (saturated sigmoid); "
                             "use fewer steps or a smaller delta") from None
        gFg = g @ step_dir
        return phi + np.sqrt(2 * delta / gFg) * step_dir if gFg > 0 else phi

    return _path(theta0, n_steps, scale, step)


# ------------------------------------------------------ one TRPO step (notebook 06)
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
        expected_improvement=float(g @ full_step), rule=rule)
    return full_step, result
