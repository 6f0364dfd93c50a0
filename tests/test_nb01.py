"""Notebook 01 (policy gradient): its claims, its learning-rate widget and its exercise ch01."""
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.special import expit, log_expit

from trpo_lite.course import ch01
from trpo_lite.course.checking import central_difference_gradient
from trpo_lite.course.running_example import gradient_ascent_path, running_example
from trpo_lite.policies import make_policy
from trpo_lite.rollout import Sampler, discounted_returns
from trpo_lite.train import TrainConfig, train

EX = running_example()
START = np.array(EX.theta_start)


# ---------------------------------------------------------------- the notebook's claims
def test_grad_J_equals_central_differences_of_J():
    for theta in [START, np.zeros(2), np.array([1.0, 2.0]), np.array([4.0, -1.0])]:
        fd = central_difference_gradient(EX.J, theta, eps=1e-5)
        np.testing.assert_allclose(EX.grad_J(theta), fd, rtol=1e-7, atol=1e-10)


def test_rare_state_gradient_is_scaled_by_its_visitation():
    rho = EX.rho(START)
    assert rho[1] / rho[0] < 0.05, "s1 should get under 5 % of the visits of s0 at the start"
    g = EX.grad_J(START)
    sigma = EX.pi(START)[:, 1]
    worth = g / (rho * sigma * (1 - sigma))
    assert worth[1] > worth[0], "the rare state's action is worth more ..."
    assert g[1] < 0.1 * g[0], "... yet its gradient component is much smaller"


def test_learning_rate_regimes_on_the_map():
    paths = {lr: gradient_ascent_path(EX, START, lr, 60) for lr in (0.1, 1.0, 2.0, 3.0)}
    final_J = {lr: EX.J(p[-1]) for lr, p in paths.items()}
    assert max(final_J, key=final_J.get) == 1.0
    assert paths[0.1][-1, 1] < -3.5                          # stalls on the plateau in theta_1
    steps = np.diff(paths[2.0][10:, 0])
    assert np.sum(steps[1:] * steps[:-1] < 0) > 10           # zigzags across the ridge
    assert paths[3.0][:, 0].max() > 8.0                      # overshoots into the saturated side


def test_score_has_zero_mean_under_the_policy():
    sampler = Sampler("CartPole-v1", n_envs=1, seed=0)
    policy = make_policy(sampler.observation_space, sampler.action_space, hidden=(8,))
    rng = np.random.default_rng(0)
    theta = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
    obs = sampler.run(policy, theta, 5, rng).obs[:, 0]
    sampler.close()
    probs = policy.probs(theta, obs)
    mean = sum(probs[:, [a]] * policy.score(theta, obs, np.full(len(obs), a)) for a in range(2))
    assert np.max(np.abs(mean)) < 1e-12


def test_cartpole_too_large_learning_rate_collapses_and_too_small_stalls():
    cfg = TrainConfig(lam=1.0, value_hidden=(32, 32), value_iters=10)     # as in the notebook
    sampler = Sampler("CartPole-v1", n_envs=1, seed=1)
    policy = make_policy(sampler.observation_space, sampler.action_space, cfg.hidden)
    large = train("vpg", "CartPole-v1", 0, 4000, replace(cfg, lr=100.0))
    obs = sampler.run(policy, large.theta, 100, np.random.default_rng(1)).obs[:, 0]
    sampler.close()
    assert policy.entropy(large.theta, obs).mean() < 0.01     # deterministic: the score vanishes
    small = train("vpg", "CartPole-v1", 0, 2000, replace(cfg, lr=0.01))
    assert max(row["measured_kl"] for row in small.log) < 1e-5


# ------------------------------------------------------------------------ the widget
def _path_line(fig):
    lines = [ln for ln in fig.axes[0].lines if ln.get_label() == "gradient-ascent path"]
    assert len(lines) == 1
    return lines[0]


def test_draw_gradient_ascent_draws_a_different_path_per_learning_rate():
    fig = plt.figure()
    small = ch01.draw_gradient_ascent(fig, lr=0.1, n_steps=60)
    xy_small = _path_line(fig).get_xydata().copy()
    J_line_small = fig.axes[1].lines[0].get_ydata().copy()
    large = ch01.draw_gradient_ascent(fig, lr=2.0, n_steps=60)
    xy_large = _path_line(fig).get_xydata()
    J_line_large = fig.axes[1].lines[0].get_ydata()

    assert len(fig.axes) == 2                                # redrawn, not stacked
    np.testing.assert_allclose(xy_small, small["path"])
    np.testing.assert_allclose(xy_large, large["path"])
    assert not np.allclose(xy_small, xy_large)
    assert not np.allclose(J_line_small, J_line_large)
    np.testing.assert_allclose(large["J"], [EX.J(t) for t in large["path"]])
    assert small["path"].shape == (61, 2) and small["J"].shape == (61,)
    assert small["J"][-1] < large["J_opt"] - 0.5                # stalled well below the optimum


def test_draw_gradient_ascent_reports_paths_that_leave_the_map():
    fig = plt.figure()
    out = ch01.draw_gradient_ascent(fig, lr=10.0, n_steps=60)
    assert out["max_theta0"] > ch01.GRADIENT_ASCENT_XLIM[1]
    assert "leaves the map" in fig.axes[0].get_title()


def test_gradient_ascent_explorer_sliders_change_the_result():
    w = ch01.gradient_ascent_explorer()
    lr_slider, steps_slider = w.children[0], w.children[1]
    first = w.result
    assert first["lr"] == pytest.approx(1.0) and first["n_steps"] == 60
    lr_slider.value = 0.1
    assert w.result["lr"] == pytest.approx(0.1)
    assert not np.allclose(w.result["path"], first["path"])
    steps_slider.value = 120
    assert w.result["path"].shape == (121, 2)


# ----------------------------------------------------------------- exercise checkers
def linear_softmax_score(theta, obs, actions):
    N, obs_dim = obs.shape
    A = len(theta) // (obs_dim + 1)
    z = obs @ theta[:obs_dim * A].reshape(obs_dim, A) + theta[obs_dim * A:]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    u = np.eye(A)[actions] - p
    return np.concatenate([(obs[:, :, None] * u[:, None, :]).reshape(N, -1), u], axis=1)


def test_check_linear_softmax_score_accepts_the_answer(capsys):
    ch01.check_linear_softmax_score(linear_softmax_score)
    assert "all 5 checks passed" in capsys.readouterr().out


def test_check_linear_softmax_score_names_the_mistakes():
    def one_hot_only(theta, obs, actions):
        A = len(theta) // (obs.shape[1] + 1)
        e = np.eye(A)[actions]
        return np.concatenate([(obs[:, :, None] * e[:, None, :]).reshape(len(obs), -1), e], axis=1)

    with pytest.raises(AssertionError, match="onehot"):
        ch01.check_linear_softmax_score(one_hot_only)
    with pytest.raises(AssertionError, match="wrong sign"):
        ch01.check_linear_softmax_score(lambda t, o, a: -linear_softmax_score(t, o, a))

    def not_yet(theta, obs, actions):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="not implemented"):
        ch01.check_linear_softmax_score(not_yet)


def test_check_returns_to_go(capsys):
    ch01.check_returns_to_go(discounted_returns)
    assert "all 5 checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="discount is missing"):
        ch01.check_returns_to_go(lambda r, g: np.cumsum(r[::-1])[::-1])
    with pytest.raises(AssertionError, match="reversed"):
        ch01.check_returns_to_go(lambda r, g: discounted_returns(r, g)[::-1])


def reinforce_gradient(example, theta, n_episodes, rng, baseline=None, horizon=100, discount_steps=True):
    mdp, N = example.mdp, int(n_episodes)
    s = (rng.random(N) < mdp.mu0[1]).astype(int)
    states, rewards, scores = np.zeros((horizon, N), int), np.zeros((horizon, N)), np.zeros((horizon, N, 2))
    for t in range(horizon):
        p1 = expit(theta[s])
        a = (rng.random(N) < p1).astype(int)
        log_pi = np.where(a == 1, log_expit(theta[s]), log_expit(-theta[s]))
        states[t], rewards[t] = s, mdp.R[s, a] - example.tau * log_pi
        scores[t, np.arange(N), s] = a - p1
        s = (rng.random(N) < mdp.P[s, a, 1]).astype(int)
    G = np.stack([discounted_returns(rewards[:, n], mdp.gamma) for n in range(N)], axis=1)
    weights = G if baseline is None else G - np.asarray(baseline)[states]
    discount = mdp.gamma ** np.arange(horizon) if discount_steps else np.ones(horizon)
    return np.einsum("t,tn,tnk->k", discount, weights, scores) / N


def test_check_reinforce_gradient_accepts_an_unbiased_estimator(capsys):
    ch01.check_reinforce_gradient(reinforce_gradient, table_sizes=(10, 1000))
    out = capsys.readouterr().out
    assert "all 7 checks passed" in out and "std of a one-episode estimate" in out


def test_check_reinforce_gradient_rejects_biased_estimators():
    fast = dict(n_repeats=10, n_episodes=100)
    with pytest.raises(AssertionError, match="wrong sign"):
        ch01.check_reinforce_gradient(lambda *a, **k: -reinforce_gradient(*a, **k), **fast)
    with pytest.raises(AssertionError, match="gamma"):
        ch01.check_reinforce_gradient(
            lambda *a, **k: reinforce_gradient(*a, discount_steps=False, **k), **fast)
    with pytest.raises(AssertionError, match=r"shape \(2,\)"):
        ch01.check_reinforce_gradient(lambda *a, **k: np.zeros(3), **fast)


# ------------------------------------------------------------- exercise 4: GAE
def gae_one_trajectory(r, v, nv, te, tr, gamma, lam):
    """An independent loop over one trajectory (the exercise's solution)."""
    adv, running = np.zeros(len(r)), 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * nv[t] * (not te[t]) - v[t]
        running = delta + gamma * lam * (not (te[t] or tr[t])) * running
        adv[t] = running
    return adv


def test_check_gae_accepts_the_answer(capsys):
    ch01.check_gae(gae_one_trajectory)
    assert "all 7 checks passed" in capsys.readouterr().out


def test_check_gae_names_the_truncation_and_termination_mistakes():
    with pytest.raises(AssertionError, match="terminal state has value 0"):
        ch01.check_gae(lambda r, v, nv, te, tr, g, lam: gae_one_trajectory(r, v, nv, 0 * te, te | tr, g, lam))
    with pytest.raises(AssertionError, match="not terminal: bootstrap"):
        ch01.check_gae(lambda r, v, nv, te, tr, g, lam: gae_one_trajectory(r, v, nv, te | tr, 0 * tr, g, lam))
    with pytest.raises(AssertionError, match="lambda is missing"):
        ch01.check_gae(lambda r, v, nv, te, tr, g, lam: gae_one_trajectory(r, v, nv, te, tr, g, 1.0))

    def not_yet(*args):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="not implemented"):
        ch01.check_gae(not_yet)


def test_gae_truncation_bootstraps_and_termination_does_not():
    from trpo_lite.rollout import gae
    ones, end = np.ones((4, 1)), np.array([[False], [False], [False], [True]])
    cut = gae(ones, 2 * ones, 2 * ones, ~end & end, end, 0.5, 0.5)[:, 0]
    done = gae(ones, 2 * ones, 2 * ones, end, ~end & end, 0.5, 0.5)[:, 0]
    np.testing.assert_allclose(cut, 0.0, atol=1e-15)          # V = 2 is exact for rewards 1, gamma 0.5
    np.testing.assert_allclose(done, [-1 / 64, -1 / 16, -1 / 4, -1.0], rtol=1e-15)


def test_gae_bias_variance_matches_independent_limits():
    from trpo_lite import mdp as tab
    rng = np.random.default_rng(3)
    m = tab.random_mdp(5, 3, 0.9, rng)
    pi = tab.softmax_policy(rng.standard_normal((5, 3)))
    V = tab.policy_evaluation(m, pi)
    v_hat = V + rng.standard_normal(5)
    bias, var = ch01.gae_bias_variance(m, pi, v_hat, [0.0, 1.0])
    assert bias[1] < 1e-10 and bias[0] > 1e-2                  # lambda = 1 is unbiased, lambda = 0 is not
    # lambda = 0: the estimate is delta = R + gamma v_hat(s') - v_hat(s): its variance is gamma^2 Var v_hat(s')
    w = tab.visitation_distribution(m, pi)[:, None] * pi
    var0 = m.gamma ** 2 * (m.P @ v_hat ** 2 - (m.P @ v_hat) ** 2)
    np.testing.assert_allclose(var[0], np.sum(w * var0), rtol=1e-10)
    # lambda = 1, V-hat exact: the estimate is G - V(s); its variance per (s, a) by vectorised Monte Carlo
    _, var_exact = ch01.gae_bias_variance(m, pi, V, [1.0])
    rng, n, horizon = np.random.default_rng(0), 4000, 200
    var_mc = np.zeros((5, 3))
    for s0 in range(5):
        for a0 in range(3):
            st, at, G, disc = np.full(n, s0), np.full(n, a0), np.zeros(n), 1.0
            for _ in range(horizon):
                G += disc * m.R[st, at]
                disc *= m.gamma
                st = (rng.random((n, 1)) > np.cumsum(m.P[st, at], axis=1)).sum(axis=1).clip(max=4)
                at = (rng.random((n, 1)) > np.cumsum(pi[st], axis=1)).sum(axis=1).clip(max=2)
            var_mc[s0, a0] = G.var()
    np.testing.assert_allclose(var_exact[0], np.sum(w * var_mc), rtol=0.1)


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_gae_variance_with_a_wrong_value_estimate_matches_monte_carlo(lam):
    """With V-hat != V the TD residuals have a non-zero mean, so the variance's cross term matters
    (a variance formula without it passes the V-hat = V check above, not this one)."""
    from trpo_lite import mdp as tab
    rng = np.random.default_rng(3)
    m = tab.random_mdp(5, 3, 0.9, rng)
    pi = tab.softmax_policy(rng.standard_normal((5, 3)))
    v_hat = tab.policy_evaluation(m, pi) + rng.standard_normal(5)
    _, var = ch01.gae_bias_variance(m, pi, v_hat, [lam])
    w = tab.visitation_distribution(m, pi)[:, None] * pi
    rng, n, horizon, c = np.random.default_rng(1), 4000, 150, m.gamma * lam
    var_mc = np.zeros((5, 3))
    for s0 in range(5):
        for a0 in range(3):          # A = sum_l (gamma lam)^l delta_l along sampled trajectories
            st, at, est, weight = np.full(n, s0), np.full(n, a0), np.zeros(n), 1.0
            for _ in range(horizon):
                nxt = (rng.random((n, 1)) > np.cumsum(m.P[st, at], axis=1)).sum(axis=1).clip(max=4)
                est += weight * (m.R[st, at] + m.gamma * v_hat[nxt] - v_hat[st])
                weight *= c
                st = nxt
                at = (rng.random((n, 1)) > np.cumsum(pi[st], axis=1)).sum(axis=1).clip(max=2)
            var_mc[s0, a0] = est.var()
    np.testing.assert_allclose(var[0], np.sum(w * var_mc), rtol=0.05)
