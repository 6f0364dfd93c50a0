"""The Fisher information matrix of a policy, four ways, and the matrix-free product.

    F(theta) = E_{s ~ data} E_{a ~ pi_theta(.|s)} [ score(s,a) score(s,a)^T ]       (1)
             = E_s [ J(s)^T M(s) J(s) ]                                            (2)
             ~ (1/N) sum_i score(s_i,a_i) score(s_i,a_i)^T,  a_i sampled            (3)
             = Hessian of  theta -> mean_s KL(pi_old(.|s) || pi_theta(.|s))  at theta_old   (4)

J(s) = d dist_params(s) / d theta is the Jacobian of the distribution parameters (logits, or
mean and log-std; psi(s) in notebooks 02 and 04) and M(s) the distribution's own Fisher
matrix at them (``policy.dist_fisher_at``). (1) enumerates the actions (categorical) or uses
Gauss-Hermite quadrature (Gaussian), so it is exact and independent of (2). (4) is computed
by finite differences for the checks. TRPO never forms F: it only needs
F v = E_s[J^T M (J v)], one forward-mode and one reverse-mode pass (``fisher_vector_product``).
Notebook 02 derives (1)-(4); notebook 04 times the explicit matrix against the product.
"""
from __future__ import annotations

import itertools

import numpy as np

from .policies import CategoricalPolicy, GaussianPolicy, log_softmax
from .validate import check_array, check_choice, check_nonnegative, check_positive


def _inputs(policy, theta, obs):
    theta = check_array(theta, "theta", shape=(policy.n_params,))
    obs = check_array(obs, "obs", shape=(None, policy.net.in_dim))
    if obs.shape[0] == 0:
        raise ValueError("obs must contain at least one state, got shape (0, ...)")
    return theta, obs


def fisher_expected_outer(policy, theta, obs):
    """(1) F = mean_s sum_a pi(a|s) score score^T, exact; shape (n_params, n_params)."""
    theta, obs = _inputs(policy, theta, obs)
    dist_params = policy.dist_params(theta, obs)
    J = policy.dist_jacobian(theta, obs)                                   # (N, d, P)
    if isinstance(policy, CategoricalPolicy):
        n, A = dist_params.shape
        actions = [np.full(n, a) for a in range(A)]
        weights = np.exp(log_softmax(dist_params)).T                       # (A, N) = pi(a|s)
    elif isinstance(policy, GaussianPolicy):
        k = policy.act_dim
        z1, w1 = np.polynomial.hermite_e.hermegauss(5)                     # exact to degree 9
        w1 = w1 / w1.sum()
        mu, std = dist_params[:, :k], np.exp(dist_params[:, k:])
        actions, weights = [], []
        for idx in itertools.product(range(len(z1)), repeat=k):
            actions.append(mu + std * z1[list(idx)])
            weights.append(np.full(len(obs), np.prod(w1[list(idx)])))
    else:
        raise TypeError(f"unsupported policy type {type(policy).__name__}")
    F = np.zeros((policy.n_params, policy.n_params))
    for a, w in zip(actions, weights):
        scores = np.einsum("nd,ndp->np", policy.dist_score(dist_params, a), J)
        F += (scores * w[:, None]).T @ scores
    return F / len(obs)


def fisher_analytic(policy, theta, obs):
    """(2) F = mean_s J(s)^T M(s) J(s); shape (n_params, n_params)."""
    theta, obs = _inputs(policy, theta, obs)
    J = policy.dist_jacobian(theta, obs)                                   # (N, d, P)
    MJ = np.einsum("nde,nep->ndp", policy.dist_fisher(theta, obs), J)
    P = policy.n_params
    return J.reshape(-1, P).T @ MJ.reshape(-1, P) / len(obs)               # sum_n J_n^T M_n J_n


def fisher_empirical(policy, theta, obs, actions):
    """(3) Sampled estimate (1/N) sum_i score_i score_i^T with a_i ~ pi(.|s_i)."""
    theta, obs = _inputs(policy, theta, obs)
    scores = policy.score(theta, obs, actions)
    return scores.T @ scores / len(obs)


def fisher_vector_product(policy, theta, obs, v, damping=0.0):
    """(F + damping I) v without forming F: mean_s J^T M (J v) + damping v; shape (n_params,).

    Cost: one Jacobian-vector and one vector-Jacobian product, O(N * n_params), against
    O(N * n_params^2) to build F and O(n_params^3) to solve with it.
    """
    return make_fisher_vector_product(policy, theta, obs, damping)(v)


def make_fisher_vector_product(policy, theta, obs, damping=0.0):
    """A callable v -> (F + damping I) v at fixed theta, obs (M computed once)."""
    theta, obs = _inputs(policy, theta, obs)
    damping = check_nonnegative(damping, "damping")
    dist_params, jvp, vjp = policy.dist_linearize(theta, obs)              # one forward pass
    M = policy.dist_fisher_at(dist_params)                                 # (N, d, d)
    n = len(obs)

    def fvp(v):
        v = check_array(v, "v", shape=(policy.n_params,))
        MJv = np.einsum("nde,ne->nd", M, jvp(v))                           # M (J v), (N, d)
        return vjp(MJv) / n + damping * v

    return fvp


def kl_hessian_fd(policy, theta_old, obs, eps=1e-4, direction="old_new"):
    """(4) Central-difference Hessian of f(theta) = mean KL at theta = theta_old.

    ``direction="old_new"``: f = KL(pi_old || pi_theta) (the TRPO constraint);
    ``"new_old"``: f = KL(pi_theta || pi_old). Both have the same Hessian, F.
    Costs 4 n^2 KL evaluations: for checks on small policies only.
    """
    theta_old, obs = _inputs(policy, theta_old, obs)
    eps = check_positive(eps, "eps")
    check_choice(direction, "direction", ("old_new", "new_old"))
    if direction == "old_new":
        def f(t):
            return policy.kl(theta_old, t, obs)
    else:
        def f(t):
            return policy.kl(t, theta_old, obs)
    n = len(theta_old)
    E = np.eye(n) * eps
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (f(theta_old + E[i] + E[j]) - f(theta_old + E[i] - E[j])
                                 - f(theta_old - E[i] + E[j]) + f(theta_old - E[i] - E[j])) / (4 * eps ** 2)
    return H
