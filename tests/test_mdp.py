"""The theorems of notebook 05, checked exactly on small random MDPs (trpo_lite.mdp).

Every test name is the property it checks. Random MDPs have S = 3..6 states,
A = 2..4 actions and several discount factors; all numbers come from linear solves.
"""
import numpy as np
import pytest

from trpo_lite import mdp as tab  # the exact tabular tools (``mdp`` is the MDP at hand)
from trpo_lite import monotonic
from trpo_lite.course.checking import central_difference_gradient

SEEDS = range(6)


def make_case(seed, gamma=None):
    """A random MDP, an old policy (softmax of logits) and its logits."""
    rng = np.random.default_rng(seed)
    S, A = int(rng.integers(3, 7)), int(rng.integers(2, 5))
    gamma = (0.5, 0.9, 0.95)[seed % 3] if gamma is None else gamma
    mdp = tab.random_mdp(S, A, gamma, rng)
    logits = rng.normal(size=(S, A))
    return mdp, logits, rng


def rel_error(a, b):
    """CS231n-style relative error ||a - b|| / (||a|| + ||b||)."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# ----------------------------------------------------------------- exact evaluation
@pytest.mark.parametrize("seed", SEEDS)
def test_policy_evaluation_equals_iterated_bellman_backup(seed):
    mdp, logits, _ = make_case(seed)
    pi = tab.softmax_policy(logits)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    r_pi = (pi * mdp.R).sum(axis=1)
    V = np.zeros(mdp.n_states)
    for _ in range(2000):                       # V <- r_pi + gamma P_pi V  (a contraction)
        V = r_pi + mdp.gamma * P_pi @ V
    np.testing.assert_allclose(tab.policy_evaluation(mdp, pi), V, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_advantages_average_to_zero_under_the_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi = tab.softmax_policy(logits)
    A = tab.advantages(mdp, pi)
    np.testing.assert_allclose((pi * A).sum(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(tab.q_values(mdp, pi) - A, np.repeat(tab.policy_evaluation(mdp, pi)[:, None],
                                                                   mdp.n_actions, axis=1), atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_discounted_visitation_sums_to_one_over_one_minus_gamma(seed):
    mdp, logits, _ = make_case(seed)
    rho = tab.discounted_visitation(mdp, tab.softmax_policy(logits))
    assert np.all(rho >= 0)
    assert rho.sum() == pytest.approx(1.0 / (1.0 - mdp.gamma), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_discounted_visitation_equals_sum_of_discounted_state_distributions(seed):
    mdp, logits, _ = make_case(seed)
    pi = tab.softmax_policy(logits)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    p_t, rho = mdp.mu0.copy(), np.zeros(mdp.n_states)
    for t in range(2000):                        # rho = sum_t gamma^t P(s_t = s)
        rho += mdp.gamma ** t * p_t
        p_t = p_t @ P_pi
    np.testing.assert_allclose(tab.discounted_visitation(mdp, pi), rho, rtol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_eta_is_mu0_dot_V(seed):
    mdp, logits, _ = make_case(seed)
    pi = tab.softmax_policy(logits)
    assert tab.eta(mdp, pi) == pytest.approx(mdp.mu0 @ tab.policy_evaluation(mdp, pi), abs=1e-14)
    # and eta = sum_s rho(s) r_pi(s): the return counted by visits
    assert tab.eta(mdp, pi) == pytest.approx(tab.discounted_visitation(mdp, pi) @ (pi * mdp.R).sum(1), abs=1e-10)


# ------------------------------------------------ performance difference and surrogate
@pytest.mark.parametrize("seed", SEEDS)
def test_performance_difference_identity_holds_to_1e_9(seed):
    mdp, logits, rng = make_case(seed)
    pi_old = tab.softmax_policy(logits)
    for scale in (0.1, 1.0, 5.0):
        pi_new = tab.softmax_policy(logits + scale * rng.normal(size=logits.shape))
        exact = tab.eta(mdp, pi_new) - tab.eta(mdp, pi_old)
        assert tab.performance_difference(mdp, pi_old, pi_new) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_surrogate_equals_eta_at_the_old_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi_old = tab.softmax_policy(logits)
    assert tab.surrogate(mdp, pi_old, pi_old) == pytest.approx(tab.eta(mdp, pi_old), abs=1e-12)
    assert tab.lower_bound(mdp, pi_old, pi_old) == pytest.approx(tab.eta(mdp, pi_old), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_grad_eta_softmax_matches_central_differences(seed):
    mdp, logits, _ = make_case(seed)
    fd = central_difference_gradient(lambda z: tab.eta(mdp, tab.softmax_policy(z)), logits, 1e-5)
    assert rel_error(monotonic.grad_eta_softmax(mdp, logits), fd) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_grad_surrogate_softmax_matches_central_differences(seed):
    mdp, logits_old, rng = make_case(seed)
    logits = logits_old + rng.normal(size=logits_old.shape)
    pi_old = tab.softmax_policy(logits_old)
    fd = central_difference_gradient(lambda z: tab.surrogate(mdp, pi_old, tab.softmax_policy(z)), logits, 1e-5)
    assert rel_error(monotonic.grad_surrogate_softmax(mdp, logits_old, logits), fd) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_surrogate_gradient_equals_eta_gradient_at_the_old_policy(seed):
    mdp, logits, _ = make_case(seed)
    pi_old = tab.softmax_policy(logits)
    fd_L = central_difference_gradient(lambda z: tab.surrogate(mdp, pi_old, tab.softmax_policy(z)), logits, 1e-5)
    fd_eta = central_difference_gradient(lambda z: tab.eta(mdp, tab.softmax_policy(z)), logits, 1e-5)
    assert rel_error(fd_L, fd_eta) < 1e-6
    np.testing.assert_allclose(monotonic.grad_surrogate_softmax(mdp, logits, logits),
                               monotonic.grad_eta_softmax(mdp, logits), atol=1e-12)


# ------------------------------------------------------------------ KL and the bound
def test_kl_is_zero_for_equal_policies_and_positive_otherwise():
    rng = np.random.default_rng(0)
    p, q = tab.softmax_policy(rng.normal(size=(4, 3))), tab.softmax_policy(rng.normal(size=(4, 3)))
    assert tab.max_kl(p, p) == 0.0
    assert np.all(tab.kl_per_state(p, q) > 0)
    assert tab.max_kl(p, q) == pytest.approx(tab.kl_per_state(p, q).max())
    w = np.array([1.0, 2.0, 3.0, 4.0])
    assert tab.mean_kl(p, q, w) == pytest.approx(w @ tab.kl_per_state(p, q) / w.sum())
    assert tab.mean_kl(p, q, w) <= tab.max_kl(p, q)


@pytest.mark.parametrize("gamma", (0.5, 0.9, 0.99))
def test_lower_bound_holds_for_500_random_new_policies_near_and_far(gamma):
    n_checked, n_surrogate_too_high = 0, 0
    for seed in range(3):
        mdp, logits, rng = make_case(seed, gamma=gamma)
        pi_old = tab.softmax_policy(logits)
        for scale in np.geomspace(1e-3, 10.0, 100):            # near ... far in logit space
            pi_new = tab.softmax_policy(logits + scale * rng.normal(size=logits.shape))
            assert tab.eta(mdp, pi_new) >= tab.lower_bound(mdp, pi_old, pi_new) - 1e-10
            n_surrogate_too_high += tab.surrogate(mdp, pi_old, pi_new) > tab.eta(mdp, pi_new)
            n_checked += 1
        for _ in range(100):                                     # arbitrary policies
            pi_new = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
            assert tab.eta(mdp, pi_new) >= tab.lower_bound(mdp, pi_old, pi_new) - 1e-10
            n_checked += 1
    assert n_checked >= 500
    assert n_surrogate_too_high > 0       # without the KL penalty, L alone is no lower bound


def test_penalty_coefficient_is_four_eps_gamma_over_one_minus_gamma_squared():
    mdp, logits, _ = make_case(1)
    pi = tab.softmax_policy(logits)
    eps = np.abs(tab.advantages(mdp, pi)).max()
    assert tab.penalty_coefficient(mdp, pi) == pytest.approx(4 * eps * mdp.gamma / (1 - mdp.gamma) ** 2)


# ------------------------------------------------------------------------ MM
@pytest.mark.parametrize("seed", SEEDS)
def test_mm_run_improves_eta_monotonically(seed):
    mdp, logits, _ = make_case(seed)
    run = monotonic.mm_run(mdp, logits, n_iters=8)
    assert run.etas.shape == (9,) and run.kls.shape == (8,) and run.logits.shape == (9,) + logits.shape
    assert np.all(np.diff(run.etas) >= -1e-12)
    assert run.etas[-1] > run.etas[0]                 # it actually moves
    assert np.all(run.etas[1:] >= run.bounds - 1e-10)  # each step lands above its bound


def test_mm_step_is_a_local_maximiser_of_the_bound():
    mdp, logits, rng = make_case(2)
    pi_old = tab.softmax_policy(logits)
    step = monotonic.mm_step(mdp, logits)
    M_star = tab.lower_bound(mdp, pi_old, tab.softmax_policy(step.logits))
    assert M_star == pytest.approx(step.bound, abs=1e-12)
    assert M_star > step.eta_old
    for _ in range(50):
        z = step.logits + 1e-3 * rng.normal(size=logits.shape)
        assert tab.lower_bound(mdp, pi_old, tab.softmax_policy(z)) <= M_star + 1e-9


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
        tab.TabularMDP(**kwargs)


def test_policy_functions_reject_bad_policies_naming_the_argument():
    mdp = tab.TabularMDP(**_mdp_kwargs())
    good = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match=r"^pi\b"):
        tab.policy_evaluation(mdp, np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"^pi\b"):
        tab.eta(mdp, np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"^pi_new\b"):
        tab.surrogate(mdp, good, np.array([[np.nan, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"^pi_new\b"):
        tab.max_kl(good, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"^pi_old\b"):
        tab.lower_bound(mdp, np.full((2, 2), 0.7), good)
    with pytest.raises(ValueError, match=r"^weights\b"):
        tab.mean_kl(good, good, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"^logits\b"):
        tab.softmax_policy(np.array([0.0, np.inf]))
