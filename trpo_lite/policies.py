"""Stochastic policies pi_theta(a | s) on a flat parameter vector ``theta``.

A policy is a network that maps a state to the parameters of a distribution, the
*distribution parameters* ``dist_params`` (written psi(s) in notebooks 02, 04 and 07; eta is
kept for the expected return eta(pi) of notebook 05):

* ``CategoricalPolicy``: dist_params = logits (A,), pi(a|s) = softmax(logits)_a.
* ``GaussianPolicy``: dist_params = [mu (k,), log_std (k,)], a ~ N(mu(s), diag(exp(log_std))^2);
  ``theta = [network parameters, log_std]`` (log_std is state-independent).

Everything the course needs follows from two ingredients, the chain rule through the
distribution parameters and the distribution's own Fisher matrix M:

    score(s, a) = grad_theta log pi(a|s) = J(s)^T u(s, a),   u = d log p(a | dist_params) / d dist_params
                                                             J = d dist_params / d theta
    F = E_s[ J(s)^T M(s) J(s) ],  M = diag(p) - p p^T (categorical),
                                  M = diag(1/sigma^2, 2) (Gaussian in mu, log_std)

``dist_score`` is u and ``dist_fisher_at`` is M, both as functions of the distribution
parameters, so ``fisher.py`` can reuse one forward pass (notebook 02 derives both and checks F
against the Hessian of the KL).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DEFAULTS
from .mlp import MLP
from .validate import check_array

LOG_2PI = np.log(2.0 * np.pi)


def log_softmax(logits):
    """Numerically stable log softmax along the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class _Policy:
    """Shared chain-rule code; subclasses define the distribution."""

    net: MLP

    def init(self, rng: np.random.Generator):
        """Fresh parameters: small last layer so the first policy is near-uniform / zero-mean."""
        return self.net.init(rng)

    def _obs(self, obs):
        return check_array(obs, "obs", shape=(None, self.net.in_dim))

    def _theta(self, theta, name="theta"):
        return check_array(theta, name, shape=(self.n_params,))

    def _weights(self, weights, n):
        return check_array(weights, "weights", shape=(n,))

    def score(self, theta, obs, actions):
        """Per-sample score grad_theta log pi(a_i|s_i) = J_i^T u_i, shape (N, n_params).

        u_i = d log p(a_i | dist_params) / d dist_params (``dist_score``), J_i = d dist_params / d theta.
        """
        theta, obs = self._theta(theta), self._obs(obs)
        actions = self._actions(actions, obs.shape[0])
        u = self.dist_score(self.dist_params(theta, obs), actions)         # (N, d)
        return np.einsum("nd,ndp->np", u, self.dist_jacobian(theta, obs))

    def grad_log_prob(self, theta, obs, actions, weights):
        """g = mean_i w_i grad_theta log pi(a_i|s_i), shape (n_params,), by one backward pass.

        With w_i = advantages this is the policy-gradient estimate (REINFORCE / GAE);
        with w_i = ratio_i * A_i it is the gradient of the importance-sampled surrogate.
        """
        theta, obs = self._theta(theta), self._obs(obs)
        n = obs.shape[0]
        actions = self._actions(actions, n)
        w = self._weights(weights, n)
        u = self.dist_score(self.dist_params(theta, obs), actions)
        return self.dist_vjp(theta, obs, u * (w / n)[:, None])

    def log_prob(self, theta, obs, actions):
        """log pi(a_i | s_i), shape (N,)."""
        theta, obs = self._theta(theta), self._obs(obs)
        return self._log_prob_at(self.dist_params(theta, obs), self._actions(actions, obs.shape[0]))

    def kl(self, theta_old, theta_new, obs):
        """Mean over states of KL(pi_old(.|s) || pi_new(.|s)) -- the TRPO constraint."""
        return float(self.kl_per_state(theta_old, theta_new, obs).mean())

    def kl_per_state(self, theta_old, theta_new, obs):
        """KL(pi_old(.|s_i) || pi_new(.|s_i)) for every state, shape (N,)."""
        obs = self._obs(obs)
        old = self.dist_params(self._theta(theta_old, "theta_old"), obs)
        new = self.dist_params(self._theta(theta_new, "theta_new"), obs)
        return self._kl_at(old, new)

    def log_prob_and_kl(self, theta, obs, actions, old_params):
        """log pi_theta(a_i|s_i) and KL(pi_old(.|s_i) || pi_theta(.|s_i)), shape (N,) each, from
        one forward pass; ``old_params = dist_params(theta_old, obs)``, computed once by a
        caller that asks at many theta (the line search). Same numbers as ``log_prob`` and
        ``kl_per_state``."""
        theta, obs = self._theta(theta), self._obs(obs)
        new = self.dist_params(theta, obs)
        return self._log_prob_at(new, self._actions(actions, obs.shape[0])), self._kl_at(old_params, new)

    def dist_fisher(self, theta, obs):
        """The distribution's own Fisher M at the distribution parameters of every state,
        shape (N, d, d): ``dist_fisher_at(dist_params(theta, obs))``."""
        return self.dist_fisher_at(self.dist_params(self._theta(theta), self._obs(obs)))


@dataclass(frozen=True)
class CategoricalPolicy(_Policy):
    """pi(a|s) = softmax(f_theta(s))_a over ``net.out_dim`` discrete actions."""

    net: MLP

    @property
    def n_params(self) -> int:
        return self.net.n_params

    @property
    def n_actions(self) -> int:
        return self.net.out_dim

    def _actions(self, actions, n):
        a = np.asarray(actions)
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({n},), got {a.dtype} {a.shape}")
        if n and (a.min() < 0 or a.max() >= self.n_actions):
            raise ValueError(f"actions must lie in [0, {self.n_actions}), got range [{a.min()}, {a.max()}]")
        return a

    # dist_params = logits -------------------------------------------------------
    def dist_params(self, theta, obs):
        return self.net.forward(theta, obs)

    def dist_jvp(self, theta, obs, v):
        return self.net.jvp(theta, obs, v)

    def dist_vjp(self, theta, obs, u):
        return self.net.vjp(theta, obs, u)

    def dist_jacobian(self, theta, obs):
        return self.net.jacobian(theta, obs)

    def dist_linearize(self, theta, obs):
        """(dist_params, jvp, vjp) at fixed (theta, obs), sharing one forward pass (see MLP.linearize)."""
        return self.net.linearize(theta, obs)

    def probs(self, theta, obs):
        """pi(.|s_i) for every state, shape (N, A)."""
        return np.exp(log_softmax(self.dist_params(self._theta(theta), self._obs(obs))))

    def sample(self, theta, obs, rng: np.random.Generator):
        """a_i ~ pi(.|s_i) by inverting the cumulative distribution, shape (N,) int."""
        return self.make_sampler(theta)(self._obs(obs), rng)

    def make_sampler(self, theta):
        """``sample(obs, rng)`` at a fixed theta, validated once: the rollout's per-step call."""
        logits_of = self.net.bind(self._theta(theta))

        def sample(obs, rng):
            p = np.exp(log_softmax(logits_of(obs)))
            u = rng.random((p.shape[0], 1))
            return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), self.n_actions - 1)

        return sample

    def entropy(self, theta, obs):
        logp = log_softmax(self.dist_params(self._theta(theta), self._obs(obs)))
        return -(np.exp(logp) * logp).sum(axis=1)

    def _log_prob_at(self, logits, actions):
        return log_softmax(logits)[np.arange(len(actions)), actions]

    def dist_score(self, logits, actions):
        """u = d log softmax(logits)_a / d logits = onehot(a) - p, shape (N, A).

        ``logits`` (N, A) are distribution parameters (``dist_params``), not theta.
        """
        u = -np.exp(log_softmax(logits))
        u[np.arange(len(actions)), actions] += 1.0
        return u

    def _kl_at(self, logits_old, logits_new):
        lp_old, lp_new = log_softmax(logits_old), log_softmax(logits_new)
        return (np.exp(lp_old) * (lp_old - lp_new)).sum(axis=1)

    def dist_fisher_at(self, logits):
        """M = diag(p) - p p^T for every row of ``logits`` (N, A), shape (N, A, A)."""
        p = np.exp(log_softmax(logits))
        return np.einsum("na,ab->nab", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]


@dataclass(frozen=True)
class GaussianPolicy(_Policy):
    """a ~ N(mu_theta(s), diag(sigma^2)) with a state-independent, learned log_std.

    theta = [network parameters (net.n_params,), log_std (k,)].
    """

    net: MLP
    init_log_std: float = -0.5

    @property
    def n_params(self) -> int:
        return self.net.n_params + self.act_dim

    @property
    def act_dim(self) -> int:
        return self.net.out_dim

    def init(self, rng: np.random.Generator):
        return np.concatenate([self.net.init(rng), np.full(self.act_dim, float(self.init_log_std))])

    def _split(self, theta):
        return theta[:self.net.n_params], theta[self.net.n_params:]

    def _actions(self, actions, n):
        return check_array(actions, "actions", shape=(n, self.act_dim))

    # dist_params = [mu, log_std] -------------------------------------------------------
    def dist_params(self, theta, obs):
        theta_net, log_std = self._split(theta)
        mu = self.net.forward(theta_net, obs)
        return np.concatenate([mu, np.broadcast_to(log_std, mu.shape)], axis=1)

    def dist_jvp(self, theta, obs, v):
        theta_net, _ = self._split(theta)
        v_net, v_std = self._split(v)
        dmu = self.net.jvp(theta_net, obs, v_net)
        return np.concatenate([dmu, np.broadcast_to(v_std, dmu.shape)], axis=1)

    def dist_vjp(self, theta, obs, u):
        theta_net, _ = self._split(theta)
        k = self.act_dim
        return np.concatenate([self.net.vjp(theta_net, obs, u[:, :k]), u[:, k:].sum(axis=0)])

    def dist_linearize(self, theta, obs):
        """(dist_params, jvp, vjp) at fixed (theta, obs), sharing one forward pass (see MLP.linearize)."""
        theta_net, log_std = self._split(theta)
        mu, jvp_mu, vjp_mu = self.net.linearize(theta_net, obs)
        k = self.act_dim

        def jvp(v):
            v_net, v_std = self._split(v)
            dmu = jvp_mu(v_net)
            return np.concatenate([dmu, np.broadcast_to(v_std, dmu.shape)], axis=1)

        def vjp(u):
            return np.concatenate([vjp_mu(u[:, :k]), u[:, k:].sum(axis=0)])

        return np.concatenate([mu, np.broadcast_to(log_std, mu.shape)], axis=1), jvp, vjp

    def dist_jacobian(self, theta, obs):
        theta_net, _ = self._split(theta)
        Jmu = self.net.jacobian(theta_net, obs)                       # (N, k, P)
        n, k = Jmu.shape[0], self.act_dim
        J = np.zeros((n, 2 * k, self.n_params))
        J[:, :k, :self.net.n_params] = Jmu
        J[:, k:, self.net.n_params:] = np.eye(k)
        return J

    def mean_std(self, theta, obs):
        dist_params = self.dist_params(self._theta(theta), self._obs(obs))
        k = self.act_dim
        return dist_params[:, :k], np.exp(dist_params[:, k:])

    def sample(self, theta, obs, rng: np.random.Generator):
        """a = mu + sigma * z, z ~ N(0, I), shape (N, k)."""
        return self.make_sampler(theta)(self._obs(obs), rng)

    def make_sampler(self, theta):
        """``sample(obs, rng)`` at a fixed theta, validated once: the rollout's per-step call."""
        theta_net, log_std = self._split(self._theta(theta))
        mean_of = self.net.bind(theta_net)

        def sample(obs, rng):
            mu = mean_of(obs)
            std = np.exp(np.broadcast_to(log_std, mu.shape))
            return mu + std * rng.standard_normal(mu.shape)

        return sample

    def entropy(self, theta, obs):
        _, log_std = self._split(self._theta(theta))
        n = self._obs(obs).shape[0]
        return np.full(n, float(np.sum(log_std + 0.5 * (LOG_2PI + 1.0))))

    def _log_prob_at(self, dist_params, actions):
        k = self.act_dim
        mu, log_std = dist_params[:, :k], dist_params[:, k:]
        z = (actions - mu) * np.exp(-log_std)
        return -0.5 * (z ** 2).sum(axis=1) - log_std.sum(axis=1) - 0.5 * k * LOG_2PI

    def dist_score(self, dist_params, actions):
        """u = d log N(a; mu, sigma) / d [mu, log_std] = [(a - mu)/sigma^2, z^2 - 1], shape (N, 2k).

        ``dist_params`` (N, 2k) = [mu, log_std] per state (``dist_params``), not theta.
        """
        k = self.act_dim
        mu, log_std = dist_params[:, :k], dist_params[:, k:]
        z = (actions - mu) * np.exp(-log_std)
        return np.concatenate([z * np.exp(-log_std), z ** 2 - 1.0], axis=1)

    def _kl_at(self, old, new):
        k = self.act_dim
        mu0, ls0 = old[:, :k], old[:, k:]
        mu1, ls1 = new[:, :k], new[:, k:]
        var0, var1 = np.exp(2 * ls0), np.exp(2 * ls1)
        return (ls1 - ls0 + (var0 + (mu0 - mu1) ** 2) / (2.0 * var1) - 0.5).sum(axis=1)

    def dist_fisher_at(self, dist_params):
        """M = diag(1/sigma^2, 2) in (mu, log_std) for every row of ``dist_params``, (N, 2k, 2k)."""
        k = self.act_dim
        diag = np.concatenate([np.exp(-2.0 * dist_params[:, k:]),
                               np.full((dist_params.shape[0], k), 2.0)], axis=1)
        return np.einsum("nd,de->nde", diag, np.eye(2 * k))


def make_policy(observation_space, action_space, hidden=DEFAULTS.hidden):
    """The policy that fits a gymnasium environment's spaces.

    ``Discrete(A)`` -> CategoricalPolicy with A logits; ``Box(k)`` -> GaussianPolicy.
    ``hidden`` (default ``TrainConfig.hidden``) are the hidden sizes; ``()`` gives a linear policy.
    """
    from gymnasium import spaces

    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"observation_space must be a 1-D Box, got {observation_space}")
    sizes = (observation_space.shape[0], *hidden)
    if isinstance(action_space, spaces.Discrete):
        return CategoricalPolicy(MLP((*sizes, int(action_space.n))))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return GaussianPolicy(MLP((*sizes, action_space.shape[0])))
    raise ValueError(f"action_space must be Discrete or a 1-D Box, got {action_space}")
