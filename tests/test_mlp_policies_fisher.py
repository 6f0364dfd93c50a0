"""The derivatives of the network and policies, and the Fisher matrix, against independent
computations (central finite differences, exact enumeration, the Hessian of the KL)."""
import numpy as np
import pytest

from trpo_lite.fisher import (fisher_analytic, fisher_empirical, fisher_expected_outer,
                              fisher_vector_product, kl_hessian_fd, make_fisher_vector_product)
from trpo_lite.mlp import MLP, linear
from trpo_lite.policies import CategoricalPolicy, GaussianPolicy, make_policy


def central_diff(f, x, eps=1e-6):
    """d f / d x by central differences; f returns an array, result (f.size, x.size)."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((np.ravel(f(x + e)) - np.ravel(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=1)


def rel_err(a, b):
    return np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a)) + np.max(np.abs(b)))


NETS = [MLP((3, 5, 4, 2)), linear(3, 2), MLP((3, 6, 1))]


@pytest.fixture(params=["categorical", "gaussian"])
def policy_setup(request):
    rng = np.random.default_rng(0)
    if request.param == "categorical":
        pol = CategoricalPolicy(MLP((3, 4, 3)))
    else:
        pol = GaussianPolicy(MLP((3, 4, 2)))
    theta = pol.init(rng) + 0.3 * rng.standard_normal(pol.n_params)
    obs = rng.standard_normal((7, 3))
    return pol, theta, obs, rng


@pytest.mark.parametrize("net", NETS, ids=str)
def test_mlp_jacobian_vjp_jvp_match_finite_differences(net):
    rng = np.random.default_rng(1)
    theta = net.init(rng, out_scale=1.0) + 0.1 * rng.standard_normal(net.n_params)
    x = rng.standard_normal((4, net.in_dim))
    J_fd = central_diff(lambda t: net.forward(t, x), theta).reshape(4, net.out_dim, -1)
    J = net.jacobian(theta, x)
    assert rel_err(J, J_fd) < 1e-7
    v = rng.standard_normal(net.n_params)
    u = rng.standard_normal((4, net.out_dim))
    assert np.allclose(net.jvp(theta, x, v), np.einsum("nop,p->no", J_fd, v), atol=1e-7)
    assert np.allclose(net.vjp(theta, x, u), np.einsum("nop,no->p", J_fd, u), atol=1e-7)


def test_mlp_unflatten_is_a_view_and_init_is_seeded():
    net = MLP((2, 3, 1))
    theta = net.init(np.random.default_rng(0))
    assert np.array_equal(theta, net.init(np.random.default_rng(0)))
    W1, b1 = net.unflatten(theta)[0]
    assert W1.shape == (2, 3) and b1.shape == (3,) and theta.size == net.n_params == 13


def test_score_matches_finite_difference_of_log_prob(policy_setup):
    pol, theta, obs, rng = policy_setup
    actions = pol.sample(theta, obs, rng)
    S_fd = central_diff(lambda t: pol.log_prob(t, obs, actions), theta)
    assert rel_err(pol.score(theta, obs, actions), S_fd) < 1e-7


def test_grad_log_prob_is_weighted_mean_of_scores(policy_setup):
    pol, theta, obs, rng = policy_setup
    actions = pol.sample(theta, obs, rng)
    w = rng.standard_normal(len(obs))
    expected = (pol.score(theta, obs, actions) * w[:, None]).mean(axis=0)
    assert np.allclose(pol.grad_log_prob(theta, obs, actions, w), expected, atol=1e-12)


def test_log_prob_is_normalised():
    pol = CategoricalPolicy(MLP((2, 3, 4)))
    theta = pol.init(np.random.default_rng(0)) * 50
    obs = np.random.default_rng(1).standard_normal((5, 2))
    assert np.allclose(pol.probs(theta, obs).sum(axis=1), 1.0)
    gpol = GaussianPolicy(MLP((2, 1)))
    gtheta = gpol.init(np.random.default_rng(0))
    grid = np.linspace(-8, 8, 4001)[:, None]
    dens = np.exp(gpol.log_prob(gtheta, np.zeros((len(grid), 2)), grid))
    assert abs(np.trapezoid(dens, grid[:, 0]) - 1.0) < 1e-6


def test_kl_is_zero_with_zero_gradient_at_theta_old(policy_setup):
    pol, theta, obs, _ = policy_setup
    assert pol.kl(theta, theta, obs) == pytest.approx(0.0, abs=1e-14)
    grad = central_diff(lambda t: np.array([pol.kl(theta, t, obs)]), theta, eps=1e-5)
    assert np.max(np.abs(grad)) < 1e-8


def test_kl_matches_monte_carlo(policy_setup):
    pol, theta, obs, rng = policy_setup
    theta_new = theta + 0.2 * rng.standard_normal(pol.n_params)
    obs_rep = np.repeat(obs, 20000, axis=0)
    a = pol.sample(theta, obs_rep, rng)
    mc = np.mean(pol.log_prob(theta, obs_rep, a) - pol.log_prob(theta_new, obs_rep, a))
    assert pol.kl(theta, theta_new, obs) == pytest.approx(mc, abs=0.02 + 0.05 * abs(mc))


def test_fisher_equals_hessian_of_kl_at_theta_old(policy_setup):
    pol, theta, obs, _ = policy_setup
    H = kl_hessian_fd(pol, theta, obs)
    F1 = fisher_expected_outer(pol, theta, obs)
    F2 = fisher_analytic(pol, theta, obs)
    assert rel_err(F1, F2) < 1e-10
    assert rel_err(F2, H) < 1e-5


def test_reverse_kl_has_the_same_hessian(policy_setup):
    pol, theta, obs, _ = policy_setup
    H_rev = kl_hessian_fd(pol, theta, obs, direction="new_old")
    assert rel_err(fisher_analytic(pol, theta, obs), H_rev) < 1e-5


def test_sampled_fisher_converges_to_fisher(policy_setup):
    pol, theta, obs, rng = policy_setup
    F = fisher_analytic(pol, theta, obs)
    errs = []
    for reps in (50, 5000):
        obs_rep = np.repeat(obs, reps, axis=0)
        F_hat = fisher_empirical(pol, theta, obs_rep, pol.sample(theta, obs_rep, rng))
        errs.append(np.linalg.norm(F_hat - F) / np.linalg.norm(F))
    assert errs[1] < 0.05 and errs[1] < errs[0] / 3


def test_fisher_vector_product_equals_F_times_v(policy_setup):
    pol, theta, obs, rng = policy_setup
    F = fisher_analytic(pol, theta, obs)
    v = rng.standard_normal(pol.n_params)
    assert np.allclose(fisher_vector_product(pol, theta, obs, v), F @ v, atol=1e-12)
    fvp = make_fisher_vector_product(pol, theta, obs, damping=0.1)
    assert np.allclose(fvp(v), F @ v + 0.1 * v, atol=1e-12)


def test_fisher_is_symmetric_positive_semidefinite(policy_setup):
    pol, theta, obs, _ = policy_setup
    F = fisher_analytic(pol, theta, obs)
    assert np.allclose(F, F.T)
    assert np.linalg.eigvalsh(F).min() > -1e-12


def test_make_policy_picks_distribution_from_spaces():
    from gymnasium import spaces
    box = spaces.Box(-1, 1, (4,))
    assert isinstance(make_policy(box, spaces.Discrete(2)), CategoricalPolicy)
    assert isinstance(make_policy(box, spaces.Box(-2, 2, (1,))), GaussianPolicy)
    with pytest.raises(ValueError, match="action_space"):
        make_policy(box, spaces.MultiBinary(3))


def test_bad_input_names_the_argument():
    pol = CategoricalPolicy(MLP((3, 2)))
    theta = pol.init(np.random.default_rng(0))
    obs = np.zeros((4, 3))
    with pytest.raises(ValueError, match="theta"):
        pol.log_prob(theta[:-1], obs, np.zeros(4, int))
    with pytest.raises(ValueError, match="obs"):
        pol.log_prob(theta, np.zeros((4, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="obs.*NaN"):
        pol.log_prob(theta, np.full((4, 3), np.nan), np.zeros(4, int))
    with pytest.raises(ValueError, match="actions"):
        pol.log_prob(theta, obs, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="damping"):
        fisher_vector_product(pol, theta, obs, np.zeros(pol.n_params), damping=-1.0)
    with pytest.raises(ValueError, match="sizes"):
        MLP((3,))


def test_linearize_matches_separate_products(policy_setup):
    pol, theta, obs, rng = policy_setup
    eta, jvp, vjp = pol.dist_linearize(theta, obs)
    v = rng.standard_normal(pol.n_params)
    u = rng.standard_normal(eta.shape)
    assert np.array_equal(eta, pol.dist_params(theta, obs))
    assert np.allclose(jvp(v), pol.dist_jvp(theta, obs, v), atol=1e-14)
    assert np.allclose(vjp(u), pol.dist_vjp(theta, obs, u), atol=1e-14)
    J = pol.dist_jacobian(theta, obs)
    assert np.allclose(jvp(v), np.einsum("ndp,p->nd", J, v), atol=1e-12)


def test_dist_score_and_dist_fisher_at_are_the_distributions_own_derivatives(policy_setup):
    """The public methods fisher.py uses: u = d log p(a | params) / d params matches central
    differences of the log-probability in the distribution parameters, and M = E_a[u u^T]."""
    pol, theta, obs, rng = policy_setup
    params = pol.dist_params(theta, obs)
    actions = pol.sample(theta, obs, rng)
    u = pol.dist_score(params, actions)
    for i in range(len(obs)):
        def logp(p, i=i):
            rows = params.copy()
            rows[i] = p
            return pol._log_prob_at(rows, actions)[i:i + 1]
        assert np.allclose(u[i], central_diff(logp, params[i].copy())[0], atol=1e-7)
    M = pol.dist_fisher_at(params)
    assert np.array_equal(M, pol.dist_fisher(theta, obs))
    obs_rep = np.repeat(obs, 20000, axis=0)
    u_rep = pol.dist_score(np.repeat(params, 20000, axis=0), pol.sample(theta, obs_rep, rng))
    M_mc = np.einsum("nd,ne->nde", u_rep, u_rep).reshape(len(obs), 20000, *M.shape[1:]).mean(axis=1)
    assert np.max(np.abs(M_mc - M)) < 0.1 * np.max(np.abs(M))


def test_mlp_is_tanh_only_and_checks_its_sizes():
    from dataclasses import fields
    assert [f.name for f in fields(MLP)] == ["sizes"]
    with pytest.raises(ValueError, match="sizes"):
        MLP((3, 0, 2))
    with pytest.raises(ValueError, match="sizes"):
        MLP((3, 2.5, 2))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        MLP((3, 2)).init(0)
    assert MLP((np.int64(3), 2)).sizes == (3, 2)
