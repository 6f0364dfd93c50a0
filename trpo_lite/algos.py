"""Policy updates -- VPG, NPG, TRPO, PPO -- over one ``Batch`` interface.

Every update maximises the importance-sampled surrogate advantage of Schulman et al. (2015)

    L(theta) = mean_i  pi_theta(a_i|s_i) / pi_old(a_i|s_i) * A_i,      g = grad L(theta_old)

and returns ``theta + step`` (sign convention: maximise, add the step). They differ only
in the step:

* VPG   step = lr * g                                     (first order; notebook 01)
* NPG   step = sqrt(2 delta / g^T F^-1 g) F^-1 g          explicit F, direct solve (03)
* TRPO  the NPG step with x = F^-1 g from conjugate gradient on Fisher-vector products,
        shrunk by a backtracking line search until the measured mean KL <= delta and the
        measured surrogate improvement > 0 (06; Spinning Up pseudocode, lines 7-9)
* PPO   a few epochs of Adam on the clipped surrogate (07; Schulman et al. 2017)

Every hyperparameter default is taken from ``config.DEFAULTS`` (a ``TrainConfig()``), so a
direct call and ``train`` use the same values; see ``TrainConfig`` for the typical ranges.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cg import conjugate_gradient
from .config import DEFAULTS
from .fisher import fisher_analytic, make_fisher_vector_product
from .linesearch import backtracking_line_search
from .validate import check_integer, check_nonnegative, check_positive


@dataclass(frozen=True)
class UpdateInfo:
    """What one policy update did (the per-iteration columns of the training log).

    predicted_kl: the quadratic model's KL 0.5 s^T (F + damping I) s of the *proposed* (full)
        natural step s, which ``natural_step`` scales to equal delta. NPG computes it from its
        explicit F (delta up to rounding); TRPO reports delta itself, since it never forms F
        (its accepted step ``coef * s`` has model KL ``coef**2 * delta``, coef in
        ``line_search``); nan for VPG and PPO, which have no KL model;
    measured_kl: mean KL(pi_old || pi_new) of the step actually taken (0.0 when TRPO's line
        search rejects every attempt and keeps theta_old: then no step is taken);
    expected_improvement: g^T s, the linear model's improvement of the surrogate for s;
    surrogate_improvement: measured L(theta_new) - L(theta_old) (0.0 when TRPO keeps theta_old);
    line_search: the LineSearchResult (TRPO) or None; cg_iterations; accepted.
    """

    theta: np.ndarray
    predicted_kl: float = float("nan")
    measured_kl: float = float("nan")
    expected_improvement: float = float("nan")
    surrogate_improvement: float = float("nan")
    line_search: object = None
    cg_iterations: int = 0
    accepted: bool = True


def normalized(advantages):
    """(A - mean A) / std A: a per-batch rescaling that keeps the direction of g (see 06's FAQ)."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def surrogate(policy, theta, batch, advantages):
    """L(theta) = mean_i exp(log pi_theta(a_i|s_i) - log pi_old(a_i|s_i)) A_i."""
    ratio = np.exp(policy.log_prob(theta, batch.obs, batch.actions) - batch.log_prob_old)
    return float(np.mean(ratio * advantages))


def policy_gradient(policy, theta, batch, advantages):
    """g = grad L(theta_old) = mean_i A_i grad log pi(a_i|s_i)  (the score-function estimator)."""
    return policy.grad_log_prob(theta, batch.obs, batch.actions, advantages)


def natural_step(x, Fx, delta):
    """Scale the direction x ~ F^-1 g so the quadratic KL model equals delta.

    max_s g^T s  s.t.  0.5 s^T F s <= delta   gives   s = sqrt(2 delta / (x^T F x)) x.
    Raises ValueError when x^T F x <= 0 (F not positive definite along x).
    """
    xFx = float(x @ Fx)
    if not np.isfinite(xFx) or xFx <= 0:
        raise ValueError(f"x^T F x = {xFx:.3g} <= 0: the Fisher matrix is not positive definite "
                         "along the search direction; add damping")
    return np.sqrt(2.0 * check_positive(delta, "delta") / xFx) * x


def vpg_update(policy, theta, batch, lr=DEFAULTS.lr,
               normalize_advantages=DEFAULTS.normalize_advantages):
    """Vanilla policy gradient: theta + lr * g (``lr``: see ``TrainConfig.lr``)."""
    lr = check_positive(lr, "lr")
    adv = normalized(batch.advantages) if normalize_advantages else batch.advantages
    g = policy_gradient(policy, theta, batch, adv)
    theta_new = theta + lr * g
    return UpdateInfo(theta=theta_new, measured_kl=policy.kl(theta, theta_new, batch.obs),
                      expected_improvement=lr * float(g @ g),
                      surrogate_improvement=surrogate(policy, theta_new, batch, adv) - float(adv.mean()))


def npg_update(policy, theta, batch, delta=DEFAULTS.delta, damping=DEFAULTS.damping,
               normalize_advantages=DEFAULTS.normalize_advantages):
    """Natural policy gradient with the explicit Fisher matrix and a direct solve (no checks).

    F = mean_s J^T M J on the batch states; x = solve(F + damping I, g);
    step = sqrt(2 delta / x^T F x) x.  O(n^3): for small policies (notebook 03).
    """
    delta = check_positive(delta, "delta")
    damping = check_nonnegative(damping, "damping")
    adv = normalized(batch.advantages) if normalize_advantages else batch.advantages
    g = policy_gradient(policy, theta, batch, adv)
    F = fisher_analytic(policy, theta, batch.obs) + damping * np.eye(len(theta))
    x = np.linalg.solve(F, g)
    step = natural_step(x, F @ x, delta)
    theta_new = theta + step
    return UpdateInfo(theta=theta_new, predicted_kl=0.5 * float(step @ F @ step),
                      measured_kl=policy.kl(theta, theta_new, batch.obs),
                      expected_improvement=float(g @ step),
                      surrogate_improvement=surrogate(policy, theta_new, batch, adv) - float(adv.mean()))


def trpo_update(policy, theta, batch, delta=DEFAULTS.delta, cg_iters=DEFAULTS.cg_iters,
                damping=DEFAULTS.damping, backtrack_coef=DEFAULTS.backtrack_coef,
                max_backtracks=DEFAULTS.max_backtracks, rule=DEFAULTS.ls_rule,
                fisher_subsample=DEFAULTS.fisher_subsample,
                normalize_advantages=DEFAULTS.normalize_advantages):
    """One TRPO update (Schulman et al. 2015; Spinning Up's pseudocode).

    1. g = grad L(theta_old)
    2. x ~ F^-1 g by ``cg_iters`` of conjugate gradient on (F + damping I) v products
    3. full_step = sqrt(2 delta / x^T F x) x      (predicted KL = delta)
    4. backtracking line search on coef = backtrack_coef**j: accept the first step with
       measured mean KL <= delta and measured surrogate improvement > 0; else keep theta_old.

    Hyperparameters (defaults and typical ranges: ``TrainConfig``): ``delta`` is the
    trust-region size, the one to tune; ``cg_iters`` (more buys little); ``damping``
    (stabilises CG when F is nearly singular); ``backtrack_coef``, ``max_backtracks`` and
    ``rule`` (``TrainConfig.ls_rule``) of the line search; ``fisher_subsample`` k uses every
    k-th state for the Fisher products (speed).
    """
    delta = check_positive(delta, "delta")
    adv = normalized(batch.advantages) if normalize_advantages else batch.advantages
    g = policy_gradient(policy, theta, batch, adv)
    fvp = make_fisher_vector_product(
        policy, theta, batch.obs[::check_integer(fisher_subsample, "fisher_subsample", 1)], damping)
    cg = conjugate_gradient(fvp, g, max_iter=check_integer(cg_iters, "cg_iters", 1))
    full_step = natural_step(cg.x, fvp(cg.x), delta)
    expected_improvement = float(g @ full_step)

    surrogate_at, kl_at = _line_search_objectives(policy, theta, batch, adv)
    ls = backtracking_line_search(
        theta, full_step, surrogate=surrogate_at, kl=kl_at,
        max_kl=delta, backtrack_coef=backtrack_coef, max_backtracks=max_backtracks,
        expected_improvement=expected_improvement, rule=rule)
    last = ls.attempts[-1]
    return UpdateInfo(theta=ls.theta, predicted_kl=delta,
                      measured_kl=last.kl if ls.accepted else 0.0,
                      expected_improvement=expected_improvement,
                      surrogate_improvement=last.improvement if ls.accepted else 0.0,
                      line_search=ls, cg_iterations=cg.iterations, accepted=ls.accepted)


def _line_search_objectives(policy, theta_old, batch, advantages):
    """The line search's ``surrogate(theta)`` and ``kl(theta)``, sharing one forward pass.

    Both depend on theta only through pi_theta(.|s_i): L(theta) = mean_i exp(log pi_theta(a_i|s_i)
    - log pi_old(a_i|s_i)) A_i (as ``surrogate``) and mean_i KL(pi_old(.|s_i) || pi_theta(.|s_i))
    (as ``policy.kl``). The line search asks for both at each attempt, so the values at the last
    theta are kept, and pi_old's distribution is computed once: one forward pass per attempt
    instead of three, with the same numbers bit for bit.
    """
    old = policy.dist_params(theta_old, batch.obs)
    last = {}

    def at(theta):
        key = theta.tobytes()
        if key not in last:
            log_prob, kl = policy.log_prob_and_kl(theta, batch.obs, batch.actions, old)
            ratio = np.exp(log_prob - batch.log_prob_old)
            last.clear()
            last[key] = float(np.mean(ratio * advantages)), float(kl.mean())
        return last[key]

    return (lambda theta: at(theta)[0]), (lambda theta: at(theta)[1])


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) for gradient *ascent* on a flat vector; PPO's optimiser.

    ``lr`` defaults to ``TrainConfig.ppo_lr``; beta1, beta2 and eps are Kingma & Ba's published
    values, which the course never tunes (so they live here, not in TrainConfig).
    """

    lr: float = DEFAULTS.ppo_lr
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: np.ndarray = field(default=None, repr=False)
    v: np.ndarray = field(default=None, repr=False)
    t: int = 0

    def step(self, theta, g):
        if self.m is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return theta + self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def clipped_surrogate(policy, theta, batch, advantages, clip=DEFAULTS.ppo_clip):
    """L_clip = mean_i min(r_i A_i, clip(r_i, 1-eps, 1+eps) A_i),  r_i = pi_theta/pi_old."""
    r = np.exp(policy.log_prob(theta, batch.obs, batch.actions) - batch.log_prob_old)
    return float(np.mean(np.minimum(r * advantages, np.clip(r, 1 - clip, 1 + clip) * advantages)))


def clipped_surrogate_gradient(policy, theta, obs, actions, log_prob_old, advantages,
                               clip=DEFAULTS.ppo_clip):
    """grad L_clip: samples whose clipped branch is active (r outside [1-eps, 1+eps] on the
    side that would help) contribute zero; the others contribute r_i A_i grad log pi."""
    r = np.exp(policy.log_prob(theta, obs, actions) - log_prob_old)
    active = np.where(advantages >= 0, r < 1 + clip, r > 1 - clip)
    return policy.grad_log_prob(theta, obs, actions, r * advantages * active)


def ppo_update(policy, theta, batch, optimizer: Adam, clip=DEFAULTS.ppo_clip,
               epochs=DEFAULTS.ppo_epochs, minibatch_size=DEFAULTS.ppo_minibatch, rng=None,
               target_kl=DEFAULTS.ppo_target_kl, normalize_advantages=DEFAULTS.normalize_advantages):
    """PPO-clip: ``epochs`` passes of minibatch Adam ascent on L_clip.

    ``clip`` 0.1-0.3; ``epochs`` 3-10; ``target_kl`` (optional, ``TrainConfig.ppo_target_kl``)
    stops the epochs early, after the first epoch whose end has mean KL from theta_old above
    1.5 * target_kl. ``rng`` shuffles the minibatches (None: ``default_rng(0)``).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    adv = normalized(batch.advantages) if normalize_advantages else batch.advantages
    theta_new = theta.copy()
    n = len(batch)
    for _ in range(int(epochs)):
        order = rng.permutation(n)
        for start in range(0, n, int(minibatch_size)):
            idx = order[start:start + int(minibatch_size)]
            g = clipped_surrogate_gradient(policy, theta_new, batch.obs[idx], batch.actions[idx],
                                           batch.log_prob_old[idx], adv[idx], clip)
            theta_new = optimizer.step(theta_new, g)
        if target_kl is not None and policy.kl(theta, theta_new, batch.obs) > 1.5 * target_kl:
            break
    return UpdateInfo(theta=theta_new, measured_kl=policy.kl(theta, theta_new, batch.obs),
                      surrogate_improvement=surrogate(policy, theta_new, batch, adv) - float(adv.mean()))
