"""PPO's clipped objective (notebook 07), per sample and exactly on the running example.

Per sample: ``clipped_objective_per_sample`` evaluates the library's ``algos.clipped_surrogate``
on one-sample batches whose probability ratios are given (the reference of exercise 07.1 and
of the per-sample figure). On the running example: the ratios r(s, a) of every state and
action, the clipped and unclipped objectives as exact expectations over the old policy's
visitation (no sampling), their gradient, PPO's inner loop on it, and where the clip box
makes the objective flat.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import expit

from ..algos import Adam, clipped_surrogate
from ..mlp import linear
from ..policies import CategoricalPolicy
from ..rollout import Batch
from .running_example import sigmoid_policy, soft_advantages


# ------------------------------------------------------------------ per sample
def ratio_batch(ratio, advantages=None):
    """(policy, theta, batch) whose probability ratios pi_theta / pi_old are exactly ``ratio``.

    A linear softmax policy on a constant observation with theta = 0 (pi = 1/2 for both actions),
    action 0 in every sample, and log pi_old = log(1/2) - log(ratio). The batch is a real
    ``rollout.Batch``, so the library's ``algos.clipped_surrogate`` can evaluate it.
    """
    ratio = np.asarray(ratio, dtype=float)
    n = len(ratio)
    policy = CategoricalPolicy(linear(1, 2))
    theta = np.zeros(policy.n_params)
    obs, actions = np.ones((n, 1)), np.zeros(n, dtype=int)
    adv = np.zeros(n) if advantages is None else np.asarray(advantages, dtype=float)
    batch = Batch(obs=obs, actions=actions,
                  log_prob_old=policy.log_prob(theta, obs, actions) - np.log(ratio),
                  advantages=adv, returns=np.zeros(n), values=np.zeros(n),
                  episode_returns=(), episode_lengths=())
    return policy, theta, batch


def clipped_objective_per_sample(ratio, advantages, clip):
    """min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) for every sample, shape (N,), computed by
    ``algos.clipped_surrogate`` on one-sample batches (its mean over one sample is the sample)."""
    policy, theta, batch = ratio_batch(ratio, advantages)
    adv = np.asarray(advantages, dtype=float)
    out = np.empty(len(adv))
    for i in range(len(adv)):
        one = replace(batch, obs=batch.obs[i:i + 1], actions=batch.actions[i:i + 1],
                      log_prob_old=batch.log_prob_old[i:i + 1], advantages=adv[i:i + 1])
        out[i] = clipped_surrogate(policy, theta, one, adv[i:i + 1], clip)
    return out


# ---------------------------------------------------------- on the running example
def ppo_ratios(example, theta_old, theta):
    """r(s, a) = pi_theta(a|s) / pi_old(a|s) (..., 2, 2) and the weights rho_old pi_old A_old (2, 2)."""
    pi_old = example.pi(theta_old)
    weight = example.rho(theta_old)[:, None] * pi_old * soft_advantages(example, theta_old)
    return sigmoid_policy(np.asarray(theta, dtype=float)) / pi_old, weight


def ppo_objectives(example, theta_old, theta, clip=0.2):
    """PPO's clipped objective and the unclipped ratio objective on the running example.

        L(theta)      = J(old) + sum_s rho_old(s) sum_a pi_old(a|s) r(s,a) A_old(s,a)
        L_clip(theta) = J(old) + sum_s rho_old(s) sum_a pi_old(a|s)
                                  min(r A_old, clip(r, 1 - eps, 1 + eps) A_old)

    with r(s,a) = pi_theta(a|s) / pi_old(a|s) and ``soft_advantages``: the exact
    expectation, over the old policy's (unnormalised) visitation, of what a PPO batch
    averages (``clipped_objective_per_sample``). L has J's value and gradient at theta_old.
    theta (..., 2) -> two (...) arrays.
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
