"""The exact quantities of notebook 05's sections 5 and 8, each against an independent computation:
the normalised and the average state distributions, total variation, the surrogate's gap with the
bounds of Schulman et al. (2015, Theorem 1) and Achiam et al. (2017, Theorem 1), and the Monte Carlo
ratio surrogate of ``trpo_lite.course.ch05`` against the exact L.
"""

import numpy as np
import pytest
from scipy.special import rel_entr

from trpo_lite import mdp as tab
from trpo_lite.course import ch05


def random_case(seed, S=4, A=3, gamma=0.9, spread=1.0):
    rng = np.random.default_rng(seed)
    mdp = tab.random_mdp(S, A, gamma, rng)
    logits = rng.standard_normal((S, A))
    pi_new = tab.softmax_policy(logits + spread * rng.standard_normal((S, A)))
    return mdp, tab.softmax_policy(logits), pi_new, rng


def state_distributions(mdp, pi, n_steps):
    """mu_t (n_steps, S) by pushing mu0 through P(s'|s,a) and pi one step at a time (no P_pi)."""
    mu, out = mdp.mu0.copy(), []
    for _ in range(n_steps):
        out.append(mu)
        mu = np.einsum("s,sa,sat->t", mu, pi, mdp.P)
    return np.array(out)


# ----------------------------------------------------------------- state distributions
@pytest.mark.parametrize("seed, gamma", [(0, 0.0), (1, 0.5), (2, 0.9), (3, 0.97)])
def test_visitation_distribution_is_the_geometric_mixture_of_the_state_distributions(seed, gamma):
    mdp, pi, _, _ = random_case(seed, gamma=gamma)
    mu = state_distributions(mdp, pi, 2000)
    series = (1 - gamma) * (gamma ** np.arange(len(mu))) @ mu
    d = tab.visitation_distribution(mdp, pi)
    np.testing.assert_allclose(d, series, atol=1e-12)
    assert abs(d.sum() - 1) < 1e-12


@pytest.mark.parametrize("horizon", [1, 2, 7, 150])
def test_average_state_distribution_is_the_mean_of_the_first_T_state_distributions(horizon):
    mdp, pi, _, _ = random_case(4)
    np.testing.assert_allclose(tab.average_state_distribution(mdp, pi, horizon),
                               state_distributions(mdp, pi, horizon).mean(axis=0), atol=1e-13)


def test_average_state_distribution_of_one_step_is_the_start_distribution():
    mdp, pi, _, _ = random_case(5)
    np.testing.assert_allclose(tab.average_state_distribution(mdp, pi, 1), mdp.mu0, atol=0)


def test_sampled_trajectories_visit_states_and_take_actions_with_the_right_frequencies():
    mdp, pi, _, rng = random_case(6, S=3, A=2)
    states, actions = ch05.sample_trajectories(mdp, pi, 20000, 6, rng)
    mu = state_distributions(mdp, pi, 6)
    n = states.shape[0]
    for t in (0, 1, 5):
        freq = np.bincount(states[:, t], minlength=3) / n
        assert np.all(np.abs(freq - mu[t]) < 5 * np.sqrt(mu[t] * (1 - mu[t]) / n) + 1e-12)
    in_s0 = states == 0
    p_hat = np.mean(actions[in_s0] == 1)
    assert abs(p_hat - pi[0, 1]) < 5 * np.sqrt(pi[0, 1] * pi[0, 0] / in_s0.sum())


# ----------------------------------------------------------------- TV and the gap
def test_tv_per_state_is_one_minus_the_overlap():
    _, pi_old, pi_new, _ = random_case(7)
    np.testing.assert_allclose(tab.tv_per_state(pi_old, pi_new),
                               1 - np.minimum(pi_old, pi_new).sum(axis=1), atol=1e-15)
    assert np.all(tab.tv_per_state(pi_old, pi_old) == 0)


@pytest.mark.parametrize("seed", range(4))
def test_surrogate_gap_fields_match_an_independent_computation(seed):
    gamma = (0.5, 0.9, 0.95, 0.99)[seed]
    mdp, pi_old, pi_new, _ = random_case(10 + seed, gamma=gamma)
    out = tab.surrogate_gap(mdp, pi_old, pi_new)
    # states by the series, advantages by Q - V from the Bellman equations, KL by scipy
    d = (1 - gamma) * (gamma ** np.arange(3000)) @ state_distributions(mdp, pi_old, 3000)
    V = tab.policy_evaluation(mdp, pi_old)
    A_old = mdp.R + gamma * np.einsum("sat,t->sa", mdp.P, V) - V[:, None]
    kl = rel_entr(pi_old, pi_new).sum(axis=1)
    tv = 1 - np.minimum(pi_old, pi_new).sum(axis=1)
    eta_old, eta_new = mdp.mu0 @ V, mdp.mu0 @ tab.policy_evaluation(mdp, pi_new)
    L_gain = d @ np.sum(pi_new * A_old, axis=1) / (1 - gamma)
    eps, eps_new = np.max(np.abs(A_old)), np.max(np.abs(np.sum(pi_new * A_old, axis=1)))
    expected = dict(eta_gain=eta_new - eta_old, L_gain=L_gain, gap=eta_new - eta_old - L_gain,
                    max_kl=kl.max(), mean_kl=d @ kl, max_tv=tv.max(), mean_tv=d @ tv,
                    trpo_tv_bound=4 * eps * gamma / (1 - gamma) ** 2 * tv.max() ** 2,
                    trpo_kl_bound=4 * eps * gamma / (1 - gamma) ** 2 * kl.max(),
                    cpo_tv_bound=2 * gamma * eps_new / (1 - gamma) ** 2 * (d @ tv),
                    cpo_kl_bound=2 * gamma * eps_new / (1 - gamma) ** 2 * np.sqrt(d @ kl / 2))
    for name, value in expected.items():
        assert getattr(out, name) == pytest.approx(value, rel=1e-8, abs=1e-11), name


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99])
def test_both_bounds_hold_for_random_mdps_and_policies_near_and_far(gamma):
    rng = np.random.default_rng(int(100 * gamma))
    for _ in range(40):
        S, A = rng.integers(1, 7), rng.integers(1, 5)
        mdp = tab.random_mdp(S, A, gamma, rng)
        logits = rng.standard_normal((S, A))
        for sigma in 10.0 ** rng.uniform(-3, 1, 8):
            out = tab.surrogate_gap(mdp, tab.softmax_policy(logits),
                                    tab.softmax_policy(logits + sigma * rng.standard_normal((S, A))))
            gap = abs(out.gap) - 1e-12                          # round-off of eta - L
            assert gap <= out.trpo_tv_bound <= out.trpo_kl_bound + 1e-15
            assert gap <= out.cpo_tv_bound <= out.cpo_kl_bound + 1e-15
            assert out.mean_kl <= out.max_kl + 1e-15 and out.mean_tv <= out.max_tv + 1e-15


def test_the_gap_is_second_order_and_L_first_order_along_a_line():
    mdp, pi_old, _, rng = random_case(20)
    logits = np.log(pi_old)
    direction = rng.standard_normal(pi_old.shape)

    def at(t):
        return tab.surrogate_gap(mdp, pi_old, tab.softmax_policy(logits + t * direction))

    assert at(1e-3).gap / at(5e-4).gap == pytest.approx(4.0, rel=0.01)          # O(t^2)
    assert at(1e-3).L_gain / at(5e-4).L_gain == pytest.approx(2.0, rel=0.01)    # O(t)
    # central differences in t: d eta / dt = d L / dt at t = 0 (L matches eta to first order)
    h = 1e-5
    eta_slope = (at(h).eta_gain - at(-h).eta_gain) / (2 * h)
    L_slope = (at(h).L_gain - at(-h).L_gain) / (2 * h)
    assert eta_slope == pytest.approx(L_slope, rel=1e-6)


def test_surrogate_gap_is_zero_at_the_old_policy():
    mdp, pi_old, _, _ = random_case(21)
    out = tab.surrogate_gap(mdp, pi_old, pi_old)
    assert abs(out.gap) < 1e-12 and out.max_kl == 0 and out.cpo_tv_bound == 0


# ----------------------------------------------------------------- the sampled surrogate
@pytest.mark.parametrize("seed", range(3))
def test_gamma_weighted_ratio_estimate_lands_within_four_standard_errors_of_L(seed):
    mdp, pi_old, pi_new, rng = random_case(30 + seed, S=3, A=2, gamma=0.8, spread=0.5)
    states, actions = ch05.sample_trajectories(mdp, pi_old, 3000, 120, rng)
    est, se = ch05.ratio_surrogate_estimate(mdp, pi_old, pi_new, states, actions)
    exact = tab.surrogate(mdp, pi_old, pi_new) - tab.eta(mdp, pi_old)
    assert abs(est - exact) < 4 * se
    plain, se_plain = ch05.ratio_surrogate_estimate(mdp, pi_old, pi_new, states, actions,
                                                    discounted=False)
    d_bar = tab.average_state_distribution(mdp, pi_old, 120)
    target = d_bar @ np.sum(pi_new * tab.advantages(mdp, pi_old), axis=1) / (1 - mdp.gamma)
    assert abs(plain - target) < 4 * se_plain


def test_ratio_estimate_without_gamma_t_misses_L_when_the_start_is_far_from_the_chain():
    mdp, pi_old, pi_new, rng = random_case(40, S=3, A=2, gamma=0.5, spread=1.0)
    mdp = tab.TabularMDP(P=mdp.P, R=mdp.R, mu0=np.eye(3)[0], gamma=0.5)
    states, actions = ch05.sample_trajectories(mdp, pi_old, 3000, 100, rng)
    exact = tab.surrogate(mdp, pi_old, pi_new) - tab.eta(mdp, pi_old)
    est, se = ch05.ratio_surrogate_estimate(mdp, pi_old, pi_new, states, actions)
    plain, se_plain = ch05.ratio_surrogate_estimate(mdp, pi_old, pi_new, states, actions,
                                                    discounted=False)
    assert abs(est - exact) < 4 * se
    assert abs(plain - exact) > 4 * se_plain


@pytest.mark.parametrize("gamma, horizon", [(0.0, 10), (0.9, 1000), (0.99, 5000)])
def test_effective_sample_fraction(gamma, horizon):
    expected = 1 / horizon if gamma == 0 else (1 + gamma) / ((1 - gamma) * horizon)
    assert ch05.effective_sample_fraction(gamma, horizon) == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------- bad input
def test_new_functions_reject_bad_input_naming_the_argument():
    mdp, pi, _, rng = random_case(50)
    with pytest.raises(ValueError, match="horizon"):
        tab.average_state_distribution(mdp, pi, 0)
    with pytest.raises(ValueError, match="pi_new"):
        tab.tv_per_state(pi, pi[:2])
    with pytest.raises(ValueError, match="pi_new"):
        tab.surrogate_gap(mdp, pi, pi * 2)
    with pytest.raises(ValueError, match="pi must have shape"):
        ch05.sample_trajectories(mdp, pi.T, 2, 3, rng)
    with pytest.raises(ValueError, match="n_episodes"):
        ch05.sample_trajectories(mdp, pi, 0, 3, rng)
    with pytest.raises(TypeError, match="rng"):
        ch05.sample_trajectories(mdp, pi, 2, 3, 0)
    with pytest.raises(TypeError, match="TabularMDP"):
        ch05.sample_trajectories("mdp", pi, 2, 3, rng)
