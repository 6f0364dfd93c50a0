"""The theorems of notebooks 01-03 and 05, checked exactly on small MDPs.

Every test name is the property it checks. Random MDPs have S = 3..6 states,
A = 2..4 actions and several discount factors; all numbers come from linear solves.
"""
import time

import numpy as np
import pytest

from trpo_lite import tabular as tb

SEEDS = range(6)


def make_case(seed, gamma=None):
    """A random MDP, an old policy (softmax of logits) and its logits."""
    rng = np.random.default_rng(seed)
    S, A = int(rng.integers(3, 7)), int(rng.integers(2, 5))
    gamma = (0.5, 0.9, 0.95)[seed % 3] if gamma is None else gamma
    mdp = tb.random_mdp(S, A, gamma, rng)
    logits = rng.normal(size=(S, A))
    return mdp, logits, rng


def rel_error(a, b):
    """CS231n-style relative error ||a - b|| / (||a|| + ||b||)."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def central_difference(f, x, h):
    """Central-difference gradient of a scalar f at x (any shape)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# ----------------------------------------------------------------- exact evaluation
@pytest.mark.parametrize("seed", SEEDS)
def test_policy_evaluation_equals_iterated_bellman_backup(seed):
    mdp, logits, _ = make_case(seed)
    pi = tb.softmax_policy(logits)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    r_pi = (pi * mdp.R).sum(axis=1)
    V = np.zeros(mdp.n_states)
    for _ in range(2000):                       # V <- r_pi + gamma P_pi V  (a contraction)
        V = r_pi + mdp.gamma * P_pi @ V
    np.testing.assert_allclose(tb.policy_evaluation(mdp, pi), V, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_advantages_average_to_zero_under_the_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi = tb.softmax_policy(logits)
    A = tb.advantages(mdp, pi)
    np.testing.assert_allclose((pi * A).sum(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(tb.q_values(mdp, pi) - A, np.repeat(tb.policy_evaluation(mdp, pi)[:, None],
                                                                   mdp.n_actions, axis=1), atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_discounted_visitation_sums_to_one_over_one_minus_gamma(seed):
    mdp, logits, _ = make_case(seed)
    rho = tb.discounted_visitation(mdp, tb.softmax_policy(logits))
    assert np.all(rho >= 0)
    assert rho.sum() == pytest.approx(1.0 / (1.0 - mdp.gamma), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_discounted_visitation_equals_sum_of_discounted_state_distributions(seed):
    mdp, logits, _ = make_case(seed)
    pi = tb.softmax_policy(logits)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    p_t, rho = mdp.mu0.copy(), np.zeros(mdp.n_states)
    for t in range(2000):                        # rho = sum_t gamma^t P(s_t = s)
        rho += mdp.gamma ** t * p_t
        p_t = p_t @ P_pi
    np.testing.assert_allclose(tb.discounted_visitation(mdp, pi), rho, rtol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_eta_is_mu0_dot_V(seed):
    mdp, logits, _ = make_case(seed)
    pi = tb.softmax_policy(logits)
    assert tb.eta(mdp, pi) == pytest.approx(mdp.mu0 @ tb.policy_evaluation(mdp, pi), abs=1e-14)
    # and eta = sum_s rho(s) r_pi(s): the return counted by visits
    assert tb.eta(mdp, pi) == pytest.approx(tb.discounted_visitation(mdp, pi) @ (pi * mdp.R).sum(1), abs=1e-10)


# ------------------------------------------------ performance difference and surrogate
@pytest.mark.parametrize("seed", SEEDS)
def test_performance_difference_identity_holds_to_1e_9(seed):
    mdp, logits, rng = make_case(seed)
    pi_old = tb.softmax_policy(logits)
    for scale in (0.1, 1.0, 5.0):
        pi_new = tb.softmax_policy(logits + scale * rng.normal(size=logits.shape))
        exact = tb.eta(mdp, pi_new) - tb.eta(mdp, pi_old)
        assert tb.performance_difference(mdp, pi_old, pi_new) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_surrogate_equals_eta_at_the_old_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi_old = tb.softmax_policy(logits)
    assert tb.surrogate(mdp, pi_old, pi_old) == pytest.approx(tb.eta(mdp, pi_old), abs=1e-12)
    assert tb.lower_bound(mdp, pi_old, pi_old) == pytest.approx(tb.eta(mdp, pi_old), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_grad_eta_softmax_matches_central_differences(seed):
    mdp, logits, _ = make_case(seed)
    fd = central_difference(lambda z: tb.eta(mdp, tb.softmax_policy(z)), logits, 1e-5)
    assert rel_error(tb.grad_eta_softmax(mdp, logits), fd) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_grad_surrogate_softmax_matches_central_differences(seed):
    mdp, logits_old, rng = make_case(seed)
    logits = logits_old + rng.normal(size=logits_old.shape)
    pi_old = tb.softmax_policy(logits_old)
    fd = central_difference(lambda z: tb.surrogate(mdp, pi_old, tb.softmax_policy(z)), logits, 1e-5)
    assert rel_error(tb.grad_surrogate_softmax(mdp, logits_old, logits), fd) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_surrogate_gradient_equals_eta_gradient_at_the_old_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi_old = tb.softmax_policy(logits)
    fd_L = central_difference(lambda z: tb.surrogate(mdp, pi_old, tb.softmax_policy(z)), logits, 1e-5)
    fd_eta = central_difference(lambda z: tb.eta(mdp, tb.softmax_policy(z)), logits, 1e-5)
    assert rel_error(fd_L, fd_eta) < 1e-6
    np.testing.assert_allclose(tb.grad_surrogate_softmax(mdp, logits, logits),
                               tb.grad_eta_softmax(mdp, logits), atol=1e-12)


# ------------------------------------------------------------------ KL and the bound
def test_kl_is_zero_for_equal_policies_and_positive_otherwise():
    rng = np.random.default_rng(0)
    p, q = tb.softmax_policy(rng.normal(size=(4, 3))), tb.softmax_policy(rng.normal(size=(4, 3)))
    assert tb.max_kl(p, p) == 0.0
    assert np.all(tb.kl_per_state(p, q) > 0)
    assert tb.max_kl(p, q) == pytest.approx(tb.kl_per_state(p, q).max())
    w = np.array([1.0, 2.0, 3.0, 4.0])
    assert tb.mean_kl(p, q, w) == pytest.approx(w @ tb.kl_per_state(p, q) / w.sum())
    assert tb.mean_kl(p, q, w) <= tb.max_kl(p, q)


@pytest.mark.parametrize("gamma", (0.5, 0.9, 0.99))
def test_lower_bound_holds_for_500_random_new_policies_near_and_far(gamma):
    n_checked, n_surrogate_too_high = 0, 0
    for seed in range(3):
        mdp, logits, rng = make_case(seed, gamma=gamma)
        pi_old = tb.softmax_policy(logits)
        for scale in np.geomspace(1e-3, 10.0, 100):            # near ... far in logit space
            pi_new = tb.softmax_policy(logits + scale * rng.normal(size=logits.shape))
            assert tb.eta(mdp, pi_new) >= tb.lower_bound(mdp, pi_old, pi_new) - 1e-10
            n_surrogate_too_high += tb.surrogate(mdp, pi_old, pi_new) > tb.eta(mdp, pi_new)
            n_checked += 1
        for _ in range(100):                                     # arbitrary policies
            pi_new = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
            assert tb.eta(mdp, pi_new) >= tb.lower_bound(mdp, pi_old, pi_new) - 1e-10
            n_checked += 1
    assert n_checked >= 500
    assert n_surrogate_too_high > 0       # without the KL penalty, L alone is no lower bound


def test_penalty_coefficient_is_four_eps_gamma_over_one_minus_gamma_squared():
    mdp, logits, _ = make_case(1)
    pi = tb.softmax_policy(logits)
    eps = np.abs(tb.advantages(mdp, pi)).max()
    assert tb.penalty_coefficient(mdp, pi) == pytest.approx(4 * eps * mdp.gamma / (1 - mdp.gamma) ** 2)


# ------------------------------------------------------------------------ MM
@pytest.mark.parametrize("seed", SEEDS)
def test_mm_run_improves_eta_monotonically(seed):
    mdp, logits, _ = make_case(seed)
    run = tb.mm_run(mdp, logits, n_iters=8)
    assert run.etas.shape == (9,) and run.kls.shape == (8,) and run.logits.shape == (9,) + logits.shape
    assert np.all(np.diff(run.etas) >= -1e-12)
    assert run.etas[-1] > run.etas[0]                 # it actually moves
    assert np.all(run.etas[1:] >= run.bounds - 1e-10)  # each step lands above its bound


def test_mm_step_is_a_local_maximiser_of_the_bound():
    mdp, logits, rng = make_case(2)
    pi_old = tb.softmax_policy(logits)
    step = tb.mm_step(mdp, logits)
    M_star = tb.lower_bound(mdp, pi_old, tb.softmax_policy(step.logits))
    assert M_star == pytest.approx(step.bound, abs=1e-12)
    assert M_star > step.eta_old
    for _ in range(50):
        z = step.logits + 1e-3 * rng.normal(size=logits.shape)
        assert tb.lower_bound(mdp, pi_old, tb.softmax_policy(z)) <= M_star + 1e-9


# ---------------------------------------------------------- the running example
EX = tb.running_example()
THETAS = [np.array(t) for t in ((-4.0, -4.0), (0.5, -1.2), (0.92, 4.0), (2.0, 1.0))]


def test_running_example_has_a_finite_optimum_inside_the_box():
    theta_star = EX.theta_opt()
    lo, hi = EX.box
    assert np.all((lo < theta_star) & (theta_star < hi))
    np.testing.assert_allclose(EX.grad_J(theta_star), 0.0, atol=1e-10)
    t = np.linspace(lo, hi, 201)
    assert EX.J(theta_star) >= EX.J_grid(t, t).max()


@pytest.mark.parametrize("theta", THETAS)
def test_running_example_grad_J_matches_central_differences(theta):
    fd = central_difference(EX.J, theta, 1e-5)
    assert rel_error(EX.grad_J(theta), fd) < 1e-6


def test_running_example_with_tau_zero_is_the_tabular_eta():
    ex0 = tb.TwoStateExample(mdp=EX.mdp, tau=0.0)
    for theta in THETAS:
        pi = ex0.pi(theta)
        assert ex0.J(theta) == pytest.approx(tb.eta(EX.mdp, pi), abs=1e-12)
        np.testing.assert_allclose(ex0.rho(theta), tb.discounted_visitation(EX.mdp, pi), atol=1e-12)
        fd = central_difference(ex0.J, theta, 1e-5)
        assert rel_error(ex0.grad_J(theta), fd) < 1e-6


@pytest.mark.parametrize("theta_old", THETAS)
def test_running_example_fisher_equals_hessian_of_kl_at_theta_old(theta_old):
    h, H = 1e-3, np.zeros((2, 2))
    E = np.eye(2) * h
    for i in range(2):
        for j in range(2):
            f = lambda d: EX.kl(theta_old, theta_old + d)
            H[i, j] = (f(E[i] + E[j]) - f(E[i] - E[j]) - f(-E[i] + E[j]) + f(-E[i] - E[j])) / (4 * h * h)
    np.testing.assert_allclose(H, EX.fisher(theta_old), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("theta_old", THETAS)
def test_running_example_kl_and_its_gradient_are_zero_at_theta_old(theta_old):
    assert EX.kl(theta_old, theta_old) == 0.0
    assert EX.kl_max(theta_old, theta_old) == 0.0
    g = central_difference(lambda t: EX.kl(theta_old, t), theta_old, 1e-5)
    np.testing.assert_allclose(g, 0.0, atol=1e-10)
    assert EX.kl(theta_old, theta_old + np.array([0.3, -0.2])) > 0


def test_running_example_grids_match_pointwise_values():
    t0, t1 = np.linspace(-6, 6, 7), np.linspace(-5, 5, 5)
    Jg, Kg = EX.J_grid(t0, t1), EX.kl_grid(THETAS[1], t0, t1)
    assert Jg.shape == Kg.shape == (5, 7)
    for i, b in enumerate(t1):
        for j, a in enumerate(t0):
            assert Jg[i, j] == pytest.approx(EX.J([a, b]), abs=1e-12)
            assert Kg[i, j] == pytest.approx(EX.kl(THETAS[1], [a, b]), abs=1e-14)


def test_running_example_J_grid_200_by_200_is_fast():
    t = np.linspace(-6, 6, 200)
    start = time.perf_counter()
    assert np.all(np.isfinite(EX.J_grid(t, t)))
    assert time.perf_counter() - start < 1.0


def test_natural_path_is_invariant_to_rescaling_but_vanilla_is_not():
    theta0, c = np.array(EX.theta_start), 10.0
    nat = tb.natural_gradient_path(EX, theta0, 0.01, 20)
    nat_c = tb.natural_gradient_path(EX, theta0, 0.01, 20, scale=(1.0, c))
    np.testing.assert_allclose(nat_c, nat, atol=1e-6)
    van = tb.gradient_ascent_path(EX, theta0, 0.5, 50)
    van_c = tb.gradient_ascent_path(EX, theta0, 0.5, 50, scale=(1.0, c))
    assert np.max(np.abs(van_c - van)) > 1.0


def test_running_example_vanilla_stalls_overshoots_and_natural_heads_to_optimum():
    theta0, theta_star = np.array(EX.theta_start), EX.theta_opt()
    # a good learning rate fixes theta_0 within 20 steps but theta_1 is still far after 100
    good = tb.gradient_ascent_path(EX, theta0, 0.5, 100)
    assert abs(good[20, 0] - theta_star[0]) < 0.2
    assert theta_star[1] - good[100, 1] > 3.0
    # a large learning rate jumps back and forth across the ridge theta_0 = theta*_0
    large = tb.gradient_ascent_path(EX, theta0, 2.0, 100)
    side = np.sign(large[1:, 0] - theta_star[0])
    assert np.count_nonzero(np.diff(side)) >= 10
    # the natural path gets close to the optimum in 20 steps, along a nearly straight line
    nat = tb.natural_gradient_path(EX, theta0, 0.01, 20)
    assert np.linalg.norm(nat[-1] - theta_star) < 0.5
    u = (theta_star - theta0) / np.linalg.norm(theta_star - theta0)
    off_line = (nat[:12] - theta0) - np.outer((nat[:12] - theta0) @ u, u)
    assert np.max(np.linalg.norm(off_line, axis=1)) < 0.3


# ------------------------------------------------------------------- bad input
def _mdp_kwargs():
    return dict(P=np.full((2, 2, 2), 0.5), R=np.zeros((2, 2)), mu0=np.array([0.5, 0.5]), gamma=0.9)


@pytest.mark.parametrize("field, value", [
    ("P", np.full((2, 2, 3), 1 / 3)),                   # wrong shape
    ("P", np.full((2, 2, 2), 0.6)),                     # rows do not sum to 1
    ("R", np.array([[0.0, np.nan], [0.0, 0.0]])),       # NaN
    ("R", np.zeros(2)),                                 # wrong shape
    ("mu0", np.array([0.7, 0.7])),                      # not a distribution
    ("gamma", 1.0), ("gamma", -0.1), ("gamma", np.nan),
])
def test_tabular_mdp_rejects_bad_input_naming_the_field(field, value):
    kwargs = _mdp_kwargs()
    kwargs[field] = value
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        tb.TabularMDP(**kwargs)


def test_policy_functions_reject_bad_policies_naming_the_argument():
    mdp = tb.TabularMDP(**_mdp_kwargs())
    good = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match=r"^pi\b"):
        tb.policy_evaluation(mdp, np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"^pi\b"):
        tb.eta(mdp, np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"^pi_new\b"):
        tb.surrogate(mdp, good, np.array([[np.nan, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"^pi_new\b"):
        tb.max_kl(good, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"^pi_old\b"):
        tb.lower_bound(mdp, np.full((2, 2), 0.7), good)
    with pytest.raises(ValueError, match=r"^weights\b"):
        tb.mean_kl(good, good, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"^logits\b"):
        tb.softmax_policy(np.array([0.0, np.inf]))


def test_running_example_rejects_bad_theta_and_delta():
    with pytest.raises(ValueError, match=r"^theta\b"):
        EX.J(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"^theta\b"):
        EX.grad_J(np.zeros(3))
    with pytest.raises(ValueError, match=r"^theta_new\b"):
        EX.kl(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"^delta\b"):
        tb.natural_gradient_path(EX, np.zeros(2), 0.0, 5)
    with pytest.raises(ValueError, match=r"^lr\b"):
        tb.gradient_ascent_path(EX, np.zeros(2), np.nan, 5)
    with pytest.raises(ValueError, match=r"^scale\b"):
        tb.gradient_ascent_path(EX, np.zeros(2), 0.1, 5, scale=(1.0, -1.0))


def test_running_example_surrogate_matches_J_to_first_order():
    ex = tb.running_example()
    rng = np.random.default_rng(7)
    for _ in range(5):
        theta_old = rng.uniform(-4, 4, 2)
        assert abs(ex.surrogate(theta_old, theta_old) - ex.J(theta_old)) < 1e-12
        eps = 1e-6
        g_L = np.array([(ex.surrogate(theta_old, theta_old + e) - ex.surrogate(theta_old, theta_old - e)) / (2 * eps)
                        for e in np.eye(2) * eps])
        assert np.allclose(g_L, ex.grad_J(theta_old), rtol=1e-6, atol=1e-8)
        # second order gap: |J - L| shrinks like t^2 along a direction
        d = rng.standard_normal(2)
        gaps = [abs(ex.J(theta_old + t * d) - ex.surrogate(theta_old, theta_old + t * d)) for t in (1e-2, 1e-3)]
        assert gaps[1] < gaps[0] / 50
    t = np.linspace(-2, 2, 5)
    grid = ex.surrogate_grid(np.zeros(2), t, t)
    assert grid[1, 3] == pytest.approx(ex.surrogate(np.zeros(2), np.array([t[3], t[1]])))
