"""Bad input to the exact-MDP tools gets an error that names the argument, and the edge cases
of their checks (zero probabilities, zero and fractional weights, huge logits) give the right
numbers. Written against the survivors of scripts/mutation.sh mdp monotonic."""
import warnings

import numpy as np
import pytest

from trpo_lite import mdp as tab
from trpo_lite import monotonic

HALF = np.full((2, 2), 0.5)


@pytest.mark.parametrize("fn", [tab.kl_per_state, tab.tv_per_state])
def test_two_policy_functions_name_the_bad_policy(fn):
    with pytest.raises(ValueError, match=r"^pi_old must be 2-D"):
        fn(np.array([0.5, 0.5]), HALF)
    with pytest.raises(ValueError, match=r"^pi_new must have shape"):
        fn(HALF, np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"^pi_old must be non-negative and sum to 1"):
        fn(np.array([[0.7, 0.7], [0.5, 0.5]]), HALF)
    with pytest.raises(ValueError, match=r"^pi_new must be non-negative and sum to 1"):
        fn(HALF, np.array([[0.7, 0.7], [0.5, 0.5]]))


def test_kl_skips_the_actions_old_never_takes_without_a_warning():
    p = np.array([[1.0, 0.0], [0.25, 0.75]])
    q = np.array([[0.5, 0.5], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # log(0) must not warn
        kl = tab.kl_per_state(p, q)
        same = tab.kl_per_state(p, p)
    np.testing.assert_allclose(kl, [np.log(2.0), 0.25 * np.log(0.5) + 0.75 * np.log(1.5)], rtol=1e-14)
    np.testing.assert_array_equal(same, [0.0, 0.0])
    assert tab.kl_per_state(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))[0] == np.inf


def test_mean_kl_weights_checked_and_used_as_given():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    q = np.array([[0.6, 0.4], [0.2, 0.8]])
    kl = tab.kl_per_state(p, q)
    with pytest.raises(ValueError, match=r"^weights must have shape"):
        tab.mean_kl(p, q, np.ones(3))
    for bad in ([-0.5, 1.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="weights must be non-negative with a positive sum"):
            tab.mean_kl(p, q, np.array(bad))
    assert tab.mean_kl(p, q, np.array([0.0, 0.3])) == pytest.approx(kl[1], rel=1e-14)   # a zero weight
    assert tab.mean_kl(p, q, np.array([0.1, 0.3])) == pytest.approx((0.1 * kl[0] + 0.3 * kl[1]) / 0.4,
                                                                    rel=1e-14)   # a sum below 1


def test_random_mdp_names_its_bad_argument():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"^rng must be a numpy\.random\.Generator$"):
        tab.random_mdp(2, 2, 0.9, 0)
    with pytest.raises(ValueError, match=r"^n_states must be a positive integer, got 0$"):
        tab.random_mdp(0, 2, 0.9, rng)
    with pytest.raises(ValueError, match=r"^n_actions must be a positive integer, got 1\.5$"):
        tab.random_mdp(2, 1.5, 0.9, rng)


def test_softmax_policy_is_row_wise_and_stable_for_huge_logits():
    with pytest.raises(ValueError, match=r"^logits must be 2-D"):
        tab.softmax_policy(np.ones(3))
    pi = tab.softmax_policy(np.array([[1000.0, 1001.0], [0.0, 1.0]]))
    row = np.array([1.0, np.e]) / (1.0 + np.e)
    np.testing.assert_allclose(pi, [row, row], rtol=1e-14)


def test_mm_run_names_bad_logits_and_iterations():
    mdp = tab.random_mdp(2, 2, 0.9, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^logits0 must have shape \(2, 2\)"):
        monotonic.mm_run(mdp, np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match=r"^n_iters must be an integer >= 0"):
        monotonic.mm_run(mdp, np.zeros((2, 2)), 1.5)
    run = monotonic.mm_run(mdp, np.zeros((2, 2)), 0)
    assert run.etas.shape == (1,) and run.kls.shape == (0,) and run.logits.shape == (1, 2, 2)


# ---- monotonic.mm_step: the penalty it is given, and the numbers it reports -------------------
def _mm_case():
    rng = np.random.default_rng(4)
    return tab.random_mdp(4, 2, 0.9, rng), 0.5 * rng.standard_normal((4, 2))


def test_mm_step_checks_its_arguments():
    mdp, z = _mm_case()
    with pytest.raises(ValueError, match=r"^logits_old must have shape \(4, 2\)"):
        monotonic.mm_step(mdp, z[:3])
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"^C must be a finite number >= 0"):
            monotonic.mm_step(mdp, z, C=bad)
    for fine in (0.0, 0.5):
        assert monotonic.mm_step(mdp, z, C=fine).C == fine


def test_mm_step_uses_the_penalty_it_is_given_and_reports_its_numbers():
    mdp, z = _mm_case()
    pi_old = tab.softmax_policy(z)
    C_theorem = tab.penalty_coefficient(mdp, pi_old)
    strict, loose = monotonic.mm_step(mdp, z), monotonic.mm_step(mdp, z, C=0.01 * C_theorem)
    assert strict.C == pytest.approx(C_theorem) and loose.C == pytest.approx(0.01 * C_theorem)
    assert loose.max_kl > 3 * strict.max_kl, "a 100x smaller penalty should take a larger step"
    assert loose.eta_new > loose.eta_old, "the loose step on this MDP improves eta"
    for step in (strict, loose):
        pi_new = tab.softmax_policy(step.logits)
        assert step.eta_old == pytest.approx(tab.eta(mdp, pi_old), rel=1e-12)
        assert step.eta_new == pytest.approx(tab.eta(mdp, pi_new), rel=1e-12)
        assert step.surrogate == pytest.approx(tab.surrogate(mdp, pi_old, pi_new), rel=1e-12)
        assert step.max_kl == pytest.approx(tab.max_kl(pi_old, pi_new), rel=1e-12, abs=1e-15)
        assert step.bound == pytest.approx(tab.lower_bound(mdp, pi_old, pi_new, step.C), rel=1e-12)
        assert step.bound == pytest.approx(step.surrogate - step.C * step.max_kl, rel=1e-12)


def test_mm_run_records_every_step_of_mm_step():
    mdp, z = _mm_case()
    run = monotonic.mm_run(mdp, z, 3, C=5.0)
    assert run.etas.shape == (4,) and run.kls.shape == run.bounds.shape == (3,)
    assert run.logits.shape == (4, 4, 2)
    np.testing.assert_array_equal(run.logits[0], z)
    for i in range(3):
        step = monotonic.mm_step(mdp, run.logits[i], C=5.0)
        np.testing.assert_allclose(run.logits[i + 1], step.logits, rtol=1e-12)
        assert run.etas[i + 1] == pytest.approx(step.eta_new, rel=1e-12)
        assert run.kls[i] == pytest.approx(step.max_kl, rel=1e-9, abs=1e-15)
        assert run.bounds[i] == pytest.approx(step.bound, rel=1e-12)


# ---- the arguments of the two-policy functions and of TabularMDP, each named in its message ----
def _two_state_mdp(**changes):
    kwargs = dict(P=np.full((2, 2, 2), 0.5), R=np.zeros((2, 2)), mu0=np.array([0.5, 0.5]), gamma=0.9)
    kwargs.update(changes)
    return tab.TabularMDP(**kwargs)


@pytest.mark.parametrize("fn", [tab.surrogate, tab.performance_difference, tab.surrogate_gap])
def test_surrogate_functions_name_the_bad_policy(fn):
    mdp = _two_state_mdp()
    wide, negative = np.full((2, 3), 1 / 3), np.array([[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"^pi_old must have shape \(2, 2\), got \(2, 3\)$"):
        fn(mdp, wide, HALF)
    with pytest.raises(ValueError, match=r"^pi_new must have shape \(2, 2\), got \(2, 3\)$"):
        fn(mdp, HALF, wide)
    with pytest.raises(ValueError, match=r"^pi_old must be non-negative and sum to 1"):
        fn(mdp, negative, HALF)
    with pytest.raises(ValueError, match=r"^pi_new must be non-negative and sum to 1"):
        fn(mdp, HALF, negative)


def test_average_state_distribution_names_horizon():
    with pytest.raises(ValueError, match=r"^horizon must be an integer >= 1, got 0$"):
        tab.average_state_distribution(_two_state_mdp(), HALF, 0)


def test_tabular_mdp_names_a_P_that_is_not_3_d_and_a_mu0_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"^P must be 3-D, got shape \(2, 2\)$"):
        _two_state_mdp(P=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"^mu0 must have shape \(2\), got \(3,\)$"):
        _two_state_mdp(mu0=np.full(3, 1 / 3))          # a distribution, but over 3 states


def test_negative_probabilities_that_sum_to_one_are_rejected():
    P = np.full((2, 2, 2), 0.5)
    P[1, 0] = [1.5, -0.5]
    with pytest.raises(ValueError, match=r"^P must be non-negative and sum to 1"):
        _two_state_mdp(P=P)
    with pytest.raises(ValueError, match=r"^mu0 must be non-negative and sum to 1"):
        _two_state_mdp(mu0=np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match=r"^pi must be non-negative and sum to 1"):
        tab.eta(_two_state_mdp(), np.array([[0.5, 0.5], [-0.25, 1.25]]))
