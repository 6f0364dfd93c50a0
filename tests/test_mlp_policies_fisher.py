"""The derivatives of the network and policies, and the Fisher matrix, against independent
computations (central finite differences, exact enumeration, the Hessian of the KL)."""
import numpy as np
import pytest

from trpo_lite.fisher import (
    fisher_analytic,
    fisher_empirical,
    fisher_expected_outer,
    fisher_vector_product,
    kl_hessian_fd,
    make_fisher_vector_product,
)
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
    # every message starts with the argument's name (trpo_lite/validate.py)
    pol = CategoricalPolicy(MLP((3, 2)))
    theta = pol.init(np.random.default_rng(0))
    obs = np.zeros((4, 3))
    with pytest.raises(ValueError, match="^theta "):
        pol.log_prob(theta[:-1], obs, np.zeros(4, int))
    with pytest.raises(ValueError, match="^obs "):
        pol.log_prob(theta, np.zeros((4, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="^obs .*NaN"):
        pol.log_prob(theta, np.full((4, 3), np.nan), np.zeros(4, int))
    with pytest.raises(ValueError, match="^actions "):
        pol.log_prob(theta, obs, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="^damping "):
        fisher_vector_product(pol, theta, obs, np.zeros(pol.n_params), damping=-1.0)
    with pytest.raises(ValueError, match="^sizes "):
        MLP((3,))
    with pytest.raises(ValueError, match="^obs must contain at least one state"):
        fisher_analytic(pol, theta, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="^eps "):
        kl_hessian_fd(pol, theta, obs, eps=0.0)
    with pytest.raises(ValueError, match="^direction "):
        kl_hessian_fd(pol, theta, obs, direction="sideways")
    gauss = GaussianPolicy(MLP((3, 2)))
    g_theta = gauss.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match="^actions must have shape"):   # (N,) is not (N, k)
        gauss.log_prob(g_theta, obs, np.zeros(4))
    with pytest.raises(ValueError, match="^v must have shape"):
        make_fisher_vector_product(gauss, g_theta, obs)(np.zeros(gauss.n_params + 1))
    with pytest.raises(TypeError, match="^unsupported policy type Mystery"):
        fisher_expected_outer(Mystery(pol), theta, obs)


class Mystery:
    """A policy-like object of no supported type (fisher_expected_outer enumerates actions of
    CategoricalPolicy and integrates GaussianPolicy only)."""

    def __init__(self, pol):
        self.pol, self.n_params, self.net = pol, pol.n_params, pol.net

    def dist_params(self, theta, obs):
        return self.pol.dist_params(theta, obs)

    def dist_jacobian(self, theta, obs):
        return self.pol.dist_jacobian(theta, obs)


# -- found by mutation testing (scripts/mutation.sh, scripts/MUTATION.md) ----------------------

def test_linear_is_the_affine_map_x_w_plus_b():
    net = linear(3, 2)
    assert net.sizes == (3, 2) and net.n_params == 3 * 2 + 2
    theta = np.arange(8.0)
    x = np.array([[1.0, -1.0, 2.0]])
    W, b = theta[:6].reshape(3, 2), theta[6:]
    np.testing.assert_allclose(net.forward(theta, x), x @ W + b, rtol=0, atol=0)


def test_fisher_vector_product_default_damping_is_zero(policy_setup):
    pol, theta, obs, rng = policy_setup
    v = rng.standard_normal(pol.n_params)
    F = fisher_expected_outer(pol, theta, obs)          # enumeration / quadrature: independent
    np.testing.assert_allclose(make_fisher_vector_product(pol, theta, obs)(v), F @ v,
                               rtol=1e-8, atol=1e-12)


def test_entropy_matches_an_independent_computation(policy_setup):
    from scipy import stats
    pol, theta, obs, _ = policy_setup
    H = pol.entropy(theta, obs)
    assert H.shape == (len(obs),)
    if isinstance(pol, CategoricalPolicy):
        expected = stats.entropy(pol.probs(theta, obs), axis=1)
    else:
        mu, std = pol.mean_std(theta, obs)
        expected = [stats.multivariate_normal(m, np.diag(s ** 2)).entropy() for m, s in zip(mu, std)]
    np.testing.assert_allclose(H, expected, rtol=1e-12)


def test_gaussian_mean_std_are_the_mode_and_spread_of_the_density():
    from scipy import stats
    rng = np.random.default_rng(4)
    pol = GaussianPolicy(MLP((3, 4, 3)))                # k = 3 actions: sums over k matter
    theta = pol.init(rng) + 0.3 * rng.standard_normal(pol.n_params)
    obs = rng.standard_normal((5, 3))
    mu, std = pol.mean_std(theta, obs)
    assert mu.shape == std.shape == (5, 3)
    np.testing.assert_allclose(std, np.broadcast_to(np.exp(theta[-3:]), (5, 3)), rtol=1e-15)
    np.testing.assert_allclose(mu, pol.net.forward(theta[:-3], obs), rtol=1e-15)
    actions = pol.sample(theta, obs, rng)
    expected = [stats.multivariate_normal(m, np.diag(s ** 2)).logpdf(a)
                for m, s, a in zip(mu, std, actions)]
    np.testing.assert_allclose(pol.log_prob(theta, obs, actions), expected, rtol=1e-12)
    H = pol.entropy(theta, obs)
    np.testing.assert_allclose(H, np.sum(np.log(std) + 0.5 * np.log(2 * np.pi * np.e), axis=1),
                               rtol=1e-12)


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


def test_products_and_policy_inputs_reject_wrong_shapes_naming_them():
    net = MLP((3, 4, 2))
    theta = net.init(np.random.default_rng(0))
    x = np.zeros((5, 3))
    _, jvp, vjp = net.linearize(theta, x)
    with pytest.raises(ValueError, match="^v must have shape"):
        jvp(np.zeros(net.n_params + 1))
    with pytest.raises(ValueError, match="^u must have shape"):
        vjp(np.zeros((6, 2)))                            # one row per sample of x
    pol = CategoricalPolicy(MLP((3, 2)))
    p_theta = pol.init(np.random.default_rng(0))
    acts = np.zeros(5, int)
    with pytest.raises(ValueError, match="^weights must have shape"):
        pol.grad_log_prob(p_theta, x, acts, np.ones(6))
    with pytest.raises(ValueError, match="^weights must have shape"):
        pol.grad_log_prob(p_theta, x, acts, np.ones(1))   # would broadcast
    with pytest.raises(ValueError, match="^actions must be an integer array"):
        pol.log_prob(p_theta, x, np.zeros(5))            # float indices are no actions


def test_categorical_sampler_never_returns_an_action_out_of_range():
    # inverse-CDF sampling counts cumsum(p) < u; if rounding leaves cumsum(p)[-1] below u,
    # the count would be n_actions: the sampler clamps it to the last action
    class AlmostOne:
        def random(self, size):
            return np.full(size, 1.0 + 1e-12)

    pol = CategoricalPolicy(MLP((3, 4)))
    theta = pol.init(np.random.default_rng(0))
    actions = pol.make_sampler(theta)(np.zeros((6, 3)), AlmostOne())
    np.testing.assert_array_equal(actions, np.full(6, 3))


def test_every_entry_point_checks_theta_and_obs_naming_them():
    cat = CategoricalPolicy(MLP((3, 4, 2)))
    gauss = GaussianPolicy(MLP((3, 2)))                 # k = 2: a short theta would broadcast
    obs = np.zeros((4, 3))
    for pol in (cat, gauss):
        theta = pol.init(np.random.default_rng(0))
        for fn in (fisher_analytic, fisher_expected_outer, make_fisher_vector_product):
            with pytest.raises(ValueError, match="^theta must have shape"):
                fn(pol, theta[:-1], obs)
            with pytest.raises(ValueError, match="^obs must have shape"):
                fn(pol, theta, np.zeros((4, 2)))
        with pytest.raises(ValueError, match="^theta must have shape"):
            pol.entropy(theta[:-1], obs)
        with pytest.raises(ValueError, match="^theta_old must have shape"):
            pol.kl(theta[:-1], theta, obs)
        with pytest.raises(ValueError, match="^theta_new must have shape"):
            pol.kl(theta, theta[:-1], obs)
    net = cat.net
    theta = net.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match="^theta must have shape"):
        net.forward(theta[:-1], obs)
    with pytest.raises(ValueError, match="^x must have shape"):
        net.forward(theta, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="^sizes entries must be an integer >= 1"):
        MLP((3, 0, 2))
    sizes = MLP([np.int64(3), 2]).sizes                 # normalised to a tuple of ints
    assert sizes == (3, 2) and type(sizes) is tuple and all(type(s) is int for s in sizes)


def test_log_softmax_works_along_the_last_axis_of_any_array():
    from scipy.special import log_softmax as reference

    from trpo_lite.policies import log_softmax
    rng = np.random.default_rng(6)
    for shape in [(4,), (3, 4), (2, 3, 4)]:
        z = 30 * rng.standard_normal(shape)
        np.testing.assert_allclose(log_softmax(z), reference(z, axis=-1), rtol=1e-12, atol=1e-12)
