"""Notebook 07 (beyond TRPO): the exercises' self-checks.

PPO's clipped objective per sample (07.1) against ``algos.clipped_surrogate`` one sample at a
time, the weights of its gradient (07.2) against ``algos.clipped_surrogate_gradient``, and the
KL of diagonal Gaussians (07.3) against ``GaussianPolicy.kl_per_state``. The notebook's
figures are in ``ch07_figures``.
"""
from __future__ import annotations

import numpy as np

from ..algos import clipped_surrogate_gradient
from ..mlp import MLP, linear
from ..policies import CategoricalPolicy, GaussianPolicy
from .checking import compare_with_hints
from .ppo_example import clipped_objective_per_sample


def _clip_ratio_cases(seed=2007):
    """(label, (ratio, advantages, clip)): both signs of A, both sides of the clip range, N = 1."""
    rng = np.random.default_rng(seed)
    n = 64
    ratio = np.exp(rng.uniform(np.log(0.5), np.log(1.8), n))
    adv = rng.standard_normal(n)
    cases = [(f"{n} samples, ratios in [0.5, 1.8], A of both signs, eps = 0.2", (ratio, adv, 0.2)),
             (f"{n} samples, eps = 0.1", (ratio, adv, 0.1)),
             (f"{n} samples, eps = 0.3", (ratio, adv, 0.3)),
             ("r = 1 everywhere (theta = theta_old): L_clip = A", (np.ones(5), adv[:5], 0.2))]
    for r, a, why in ((1.5, 2.0, "A > 0, r > 1 + eps: clipped"),
                      (0.6, 2.0, "A > 0, r < 1 - eps: NOT clipped"),
                      (0.6, -2.0, "A < 0, r < 1 - eps: clipped"),
                      (1.5, -2.0, "A < 0, r > 1 + eps: NOT clipped"),
                      (1.1, -0.5, "A < 0, r inside the range")):
        cases.append((f"batch size 1, {why}", (np.array([r]), np.array([a]), 0.2)))
    return cases


def check_clipped_objective(student_fn):
    """Exercise 07.1: ``student_fn(ratio, advantages, clip) -> (N,)`` per-sample clipped objective.

    Compared with ``algos.clipped_surrogate`` evaluated one sample at a time, on 9 cases (both
    signs of the advantage, ratios on both sides of [1 - eps, 1 + eps], batch size 1).
    """
    def no_min(r, A, eps):
        return np.clip(r, 1 - eps, 1 + eps) * A

    def max_not_min(r, A, eps):
        return np.maximum(r * A, np.clip(r, 1 - eps, 1 + eps) * A)

    def min_of_ratios(r, A, eps):
        return np.minimum(r, np.clip(r, 1 - eps, 1 + eps)) * A

    def mean_only(r, A, eps):
        return np.full(len(r), np.mean(np.minimum(r * A, np.clip(r, 1 - eps, 1 + eps) * A)))

    mistakes = [
        ("only the clipped term clip(r) A: the min with the unclipped r A is what makes the "
         "objective pessimistic (a sample keeps its full penalty when it got worse)", no_min),
        ("max instead of min: PPO takes the smaller (pessimistic) of the two terms", max_not_min),
        ("the min is taken over the ratios, min(r, clip(r)) * A: take it over the products, which "
         "flips the choice when A < 0", min_of_ratios),
        ("returned the batch mean in every entry: return one value per sample", mean_only),
    ]
    compare_with_hints("clipped objective per sample", student_fn,
                        clipped_objective_per_sample, _clip_ratio_cases(), mistakes)


def _clip_gradient_cases(seed=2008):
    """(label, (policy, theta, obs, actions, log_prob_old, advantages, clip)): policies where
    theta != theta_old (ratios spread around 1), plus one-sample batches on each side of the range."""
    rng = np.random.default_rng(seed)
    cases = []
    for policy, n in ((CategoricalPolicy(MLP((4, 8, 3))), 64), (GaussianPolicy(MLP((3, 8, 2))), 64),
                      (CategoricalPolicy(MLP((4, 8, 3))), 1)):
        theta_old = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        theta = theta_old + 0.3 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n, policy.net.in_dim))
        actions = policy.sample(theta_old, obs, rng)
        adv = rng.standard_normal(n)
        kind = type(policy).__name__
        cases.append((f"{kind}, {n} sample(s), theta != theta_old",
                      (policy, theta, obs, actions, policy.log_prob(theta_old, obs, actions), adv, 0.2)))
    policy = CategoricalPolicy(MLP((4, 8, 3)))
    theta = policy.init(rng) + 0.5 * rng.standard_normal(policy.n_params)
    obs = rng.standard_normal((1, 4))
    actions = policy.sample(theta, obs, rng)
    for r, a, why in ((1.5, 1.0, "A > 0, r > 1 + eps (inactive)"), (0.6, 1.0, "A > 0, r < 1 - eps (active)"),
                      (0.6, -1.0, "A < 0, r < 1 - eps (inactive)"), (1.5, -1.0, "A < 0, r > 1 + eps (active)")):
        log_prob_old = policy.log_prob(theta, obs, actions) - np.log(r)
        cases.append((f"batch size 1, {why}",
                      (policy, theta, obs, actions, log_prob_old, np.array([a]), 0.2)))
    return cases


def check_clipped_gradient_weights(student_fn):
    """Exercise 07.2: ``student_fn(ratio, advantages, clip) -> w (N,)`` with
    grad L_clip = mean_i w_i grad log pi(a_i|s_i).

    The gradient ``policy.grad_log_prob(theta, obs, actions, w)`` built from your weights is
    compared with ``algos.clipped_surrogate_gradient`` on 7 cases (categorical and Gaussian
    policies, 64 samples or one, every sign/side combination).
    """
    def as_gradient(weights_fn):
        def grad(policy, theta, obs, actions, log_prob_old, adv, clip):
            r = np.exp(policy.log_prob(theta, obs, actions) - log_prob_old)
            return policy.grad_log_prob(theta, obs, actions, weights_fn(r, adv, clip))
        return grad

    mistakes = [
        ("the ratio is missing: d r / d theta = r grad log pi, so the weight is r_i A_i",
         as_gradient(lambda r, A, eps: A * np.where(A >= 0, r < 1 + eps, r > 1 - eps))),
        ("no sample is ever switched off: samples whose clipped term is the smaller one have zero gradient",
         as_gradient(lambda r, A, eps: r * A)),
        ("every sample with |r - 1| > eps is switched off; only the side that would help is clipped "
         "(A > 0 and r < 1 - eps still gets its gradient, and so does A < 0 and r > 1 + eps)",
         as_gradient(lambda r, A, eps: r * A * (np.abs(r - 1) <= eps))),
    ]
    compare_with_hints("clipped-surrogate gradient weights", as_gradient(student_fn),
                        clipped_surrogate_gradient, _clip_gradient_cases(), mistakes,
                        rtol=1e-6, atol=1e-10)


def _gaussian_table_policy(mu, log_std):
    """(policy, theta, obs): a linear GaussianPolicy on one-hot states whose mean in state i is
    ``mu[i]`` (N, k) and whose log-std is ``log_std`` (k,)."""
    mu = np.asarray(mu, dtype=float)
    n, k = mu.shape
    policy = GaussianPolicy(linear(n, k))
    return policy, np.concatenate([mu.ravel(), np.zeros(k), np.asarray(log_std, float)]), np.eye(n)


def gaussian_kl_reference(mu_old, log_std_old, mu_new, log_std_new):
    """KL(N(mu_old, sigma_old^2) || N(mu_new, sigma_new^2)) per state, summed over action
    dimensions, shape (N,): ``GaussianPolicy.kl_per_state`` on one-hot states."""
    policy, theta_old, obs = _gaussian_table_policy(mu_old, log_std_old)
    _, theta_new, _ = _gaussian_table_policy(mu_new, log_std_new)
    return policy.kl_per_state(theta_old, theta_new, obs)


def _gaussian_kl_cases(seed=2009):
    rng = np.random.default_rng(seed)
    cases = []
    for n, k, label in ((6, 1, "6 states, 1-D actions (Pendulum)"), (5, 3, "5 states, 3-D actions"),
                        (1, 2, "batch size 1, 2-D actions")):
        cases.append((label, (rng.standard_normal((n, k)), 0.5 * rng.standard_normal(k),
                              rng.standard_normal((n, k)), 0.5 * rng.standard_normal(k))))
    mu, ls = rng.standard_normal((4, 2)), np.array([-0.5, 0.3])
    cases += [("same distribution: KL = 0", (mu, ls, mu.copy(), ls.copy())),
              ("only the means move (sigma = 1)", (mu, np.zeros(2), mu + 1.0, np.zeros(2))),
              ("only the std moves", (mu, ls, mu.copy(), ls - 0.7)),
              ("a large mean shift, a small std", (mu, np.array([-2.0, -2.0]), mu + 3.0,
                                                   np.array([-2.0, -1.0])))]
    return cases


def check_gaussian_kl(student_fn):
    """Exercise 07.3: ``student_fn(mu_old (N, k), log_std_old (k,), mu_new, log_std_new) -> (N,)``,
    the KL of diagonal Gaussians per state, against ``GaussianPolicy.kl_per_state`` (7 cases)."""
    def reversed_kl(mo, lo, mn, ln):
        return gaussian_kl_reference(mn, ln, mo, lo)

    def std_not_var(mo, lo, mn, ln):
        so, sn = np.exp(lo), np.exp(ln)
        return np.sum(ln - lo + (so + (mo - mn) ** 2) / (2 * sn) - 0.5, axis=1)

    def no_half(mo, lo, mn, ln):
        return np.sum(ln - lo + (np.exp(2 * lo) + (mo - mn) ** 2) / np.exp(2 * ln) - 0.5, axis=1)

    mistakes = [
        ("the direction is reversed: TRPO's constraint is KL(old || new), the expectation is over "
         "the OLD policy's actions", reversed_kl),
        ("used sigma where the formula has sigma^2 (= exp(2 log_std))", std_not_var),
        ("the variance term is (sigma_old^2 + (mu_old - mu_new)^2) / (2 sigma_new^2): the 2 is missing",
         no_half),
    ]
    compare_with_hints("diagonal-Gaussian KL", student_fn, gaussian_kl_reference,
                        _gaussian_kl_cases(), mistakes)
