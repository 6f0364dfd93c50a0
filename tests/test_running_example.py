"""The running example of notebooks 01-03 and 06 (trpo_lite.course.running_example), exactly.

Every test name is the property it checks: J, its gradient, the Fisher matrix and the KL
against central differences; the grids against pointwise values; the vanilla and natural
paths of notebooks 01 and 03; its link to the tabular eta of trpo_lite.mdp.
"""
import numpy as np
import pytest

from trpo_lite import mdp as tab
from trpo_lite.course import running_example as rx
from trpo_lite.course.checking import central_difference_gradient, central_difference_hessian


def rel_error(a, b):
    """CS231n-style relative error ||a - b|| / (||a|| + ||b||)."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


EX = rx.running_example()
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
    fd = central_difference_gradient(EX.J, theta, 1e-5)
    assert rel_error(EX.grad_J(theta), fd) < 1e-6


def test_running_example_with_tau_zero_is_the_tabular_eta():
    ex0 = rx.TwoStateExample(mdp=EX.mdp, tau=0.0)
    for theta in THETAS:
        pi = ex0.pi(theta)
        assert ex0.J(theta) == pytest.approx(tab.eta(EX.mdp, pi), abs=1e-12)
        np.testing.assert_allclose(ex0.rho(theta), tab.discounted_visitation(EX.mdp, pi), atol=1e-12)
        fd = central_difference_gradient(ex0.J, theta, 1e-5)
        assert rel_error(ex0.grad_J(theta), fd) < 1e-6


@pytest.mark.parametrize("theta_old", THETAS)
def test_running_example_fisher_equals_hessian_of_kl_at_theta_old(theta_old):
    H = central_difference_hessian(lambda theta: EX.kl(theta_old, theta), theta_old, eps=1e-3)
    np.testing.assert_allclose(H, EX.fisher(theta_old), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("theta_old", THETAS)
def test_running_example_kl_and_its_gradient_are_zero_at_theta_old(theta_old):
    assert EX.kl(theta_old, theta_old) == 0.0
    g = central_difference_gradient(lambda t: EX.kl(theta_old, t), theta_old, 1e-5)
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


def test_running_example_J_grid_200_by_200_is_finite():
    t = np.linspace(-6, 6, 200)
    assert np.all(np.isfinite(EX.J_grid(t, t)))


def test_natural_path_is_invariant_to_rescaling_but_vanilla_is_not():
    theta0, c = np.array(EX.theta_start), 10.0
    nat = rx.natural_gradient_path(EX, theta0, 0.01, 20)
    nat_c = rx.natural_gradient_path(EX, theta0, 0.01, 20, scale=(1.0, c))
    np.testing.assert_allclose(nat_c, nat, atol=1e-6)
    van = rx.gradient_ascent_path(EX, theta0, 0.5, 50)
    van_c = rx.gradient_ascent_path(EX, theta0, 0.5, 50, scale=(1.0, c))
    assert np.max(np.abs(van_c - van)) > 1.0


def test_running_example_vanilla_stalls_overshoots_and_natural_heads_to_optimum():
    theta0, theta_star = np.array(EX.theta_start), EX.theta_opt()
    # a good learning rate fixes theta_0 within 20 steps but theta_1 is still far after 100
    good = rx.gradient_ascent_path(EX, theta0, 0.5, 100)
    assert abs(good[20, 0] - theta_star[0]) < 0.2
    assert theta_star[1] - good[100, 1] > 3.0
    # a large learning rate jumps back and forth across the ridge theta_0 = theta*_0
    large = rx.gradient_ascent_path(EX, theta0, 2.0, 100)
    side = np.sign(large[1:, 0] - theta_star[0])
    assert np.count_nonzero(np.diff(side)) >= 10
    # the natural path gets close to the optimum in 20 steps, along a nearly straight line
    nat = rx.natural_gradient_path(EX, theta0, 0.01, 20)
    assert np.linalg.norm(nat[-1] - theta_star) < 0.5
    u = (theta_star - theta0) / np.linalg.norm(theta_star - theta0)
    off_line = (nat[:12] - theta0) - np.outer((nat[:12] - theta0) @ u, u)
    assert np.max(np.linalg.norm(off_line, axis=1)) < 0.3


def test_running_example_rejects_bad_theta_and_delta():
    with pytest.raises(ValueError, match=r"^theta\b"):
        EX.J(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"^theta\b"):
        EX.grad_J(np.zeros(3))
    with pytest.raises(ValueError, match=r"^theta_new\b"):
        EX.kl(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"^delta\b"):
        rx.natural_gradient_path(EX, np.zeros(2), 0.0, 5)
    with pytest.raises(ValueError, match=r"^lr\b"):
        rx.gradient_ascent_path(EX, np.zeros(2), np.nan, 5)
    with pytest.raises(ValueError, match=r"^scale\b"):
        rx.gradient_ascent_path(EX, np.zeros(2), 0.1, 5, scale=(1.0, -1.0))


def test_running_example_surrogate_matches_J_to_first_order():
    ex = rx.running_example()
    rng = np.random.default_rng(7)
    for _ in range(5):
        theta_old = rng.uniform(-4, 4, 2)
        assert abs(ex.surrogate(theta_old, theta_old) - ex.J(theta_old)) < 1e-12
        g_L = central_difference_gradient(lambda theta: ex.surrogate(theta_old, theta), theta_old, eps=1e-6)
        assert np.allclose(g_L, ex.grad_J(theta_old), rtol=1e-6, atol=1e-8)
        # second order gap: |J - L| shrinks like t^2 along a direction
        d = rng.standard_normal(2)
        gaps = [abs(ex.J(theta_old + t * d) - ex.surrogate(theta_old, theta_old + t * d)) for t in (1e-2, 1e-3)]
        assert gaps[1] < gaps[0] / 50


def test_soft_values_give_J():
    for theta in (np.array(EX.theta_start), np.array([1.0, 2.0])):
        V = rx.soft_values(EX, theta)
        assert EX.mdp.mu0 @ V == pytest.approx(EX.J(theta), rel=1e-12)


def test_gradient_ascent_paths_agree_with_one_path_at_a_time():
    lrs = np.array([0.01, 0.5, 2.0, 10.0])
    paths, J = rx.gradient_ascent_paths(EX, EX.theta_start, lrs, 40)
    assert paths.shape == (4, 41, 2) and J.shape == (4, 41)
    for k, lr in enumerate(lrs):
        one = rx.gradient_ascent_path(EX, EX.theta_start, lr, 40)
        np.testing.assert_allclose(paths[k], one, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(J[k], [EX.J(t) for t in one], rtol=1e-12)
    with pytest.raises(ValueError, match="lrs"):
        rx.gradient_ascent_paths(EX, EX.theta_start, [0.5, -1.0], 5)
