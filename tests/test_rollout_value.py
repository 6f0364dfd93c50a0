"""Rollouts, GAE and the value baseline: GAE equals a brute-force reference; truncation
bootstraps, termination does not; the value fit reduces the squared error."""
import numpy as np
import pytest

from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy, GaussianPolicy
from trpo_lite.rollout import Sampler, discounted_returns, gae, make_batch, make_env
from trpo_lite.value import ValueFunction


def gae_brute_force(rewards, values, next_values, terminated, truncated, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k}, summed explicitly until the episode ends."""
    T, N = rewards.shape
    delta = rewards + gamma * next_values * (1 - terminated) - values
    adv = np.zeros((T, N))
    for i in range(N):
        for t in range(T):
            total, coef = 0.0, 1.0
            for k in range(t, T):
                total += coef * delta[k, i]
                if terminated[k, i] or truncated[k, i]:
                    break
                coef *= gamma * lam
            adv[t, i] = total
    return adv


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_equals_brute_force_reference(lam):
    rng = np.random.default_rng(0)
    T, N = 30, 3
    r, v, nv = rng.standard_normal((3, T, N))
    term = rng.random((T, N)) < 0.1
    trunc = (rng.random((T, N)) < 0.1) & ~term
    got = gae(r, v, nv, term, trunc, 0.9, lam)
    assert np.allclose(got, gae_brute_force(r, v, nv, term, trunc, 0.9, lam), atol=1e-12)


def test_gae_with_lambda_one_and_zero_baseline_is_the_discounted_return():
    rng = np.random.default_rng(1)
    r = rng.standard_normal((12, 1))
    term = np.zeros((12, 1), bool)
    term[-1] = True
    adv = gae(r, np.zeros_like(r), np.zeros_like(r), term, np.zeros_like(term), 0.97, 1.0)
    assert np.allclose(adv[:, 0], discounted_returns(r[:, 0], 0.97))


def test_truncation_bootstraps_and_termination_does_not():
    r = np.array([[1.0]])
    v = np.array([[0.0]])
    nv = np.array([[10.0]])
    no = np.array([[False]])
    yes = np.array([[True]])
    assert gae(r, v, nv, yes, no, 0.9, 0.95)[0, 0] == pytest.approx(1.0)          # terminated
    assert gae(r, v, nv, no, yes, 0.9, 0.95)[0, 0] == pytest.approx(1.0 + 9.0)    # truncated


def test_gae_does_not_leak_across_episode_boundaries():
    r = np.array([[0.0], [100.0]])
    z = np.zeros((2, 1))
    trunc = np.array([[True], [False]])
    adv = gae(r, z, z, np.zeros((2, 1), bool), trunc, 0.9, 1.0)
    assert adv[0, 0] == 0.0


def test_sampler_is_seeded_and_records_true_final_observation_on_truncation():
    pol = CategoricalPolicy(MLP((4, 2)))
    theta = pol.init(np.random.default_rng(0))
    a = Sampler("CartPole-v1", 2, seed=3).run(pol, theta, 600, np.random.default_rng(1))
    b = Sampler("CartPole-v1", 2, seed=3).run(pol, theta, 600, np.random.default_rng(1))
    assert np.array_equal(a.obs, b.obs) and a.episode_returns == b.episode_returns
    assert a.obs.shape == (600, 2, 4) and a.rewards.shape == (600, 2)
    assert len(a.episode_returns) > 0 and sum(a.episode_lengths) <= 1200
    # after a termination the next stored obs is a fresh reset, not the final obs
    t, i = np.argwhere(a.terminated)[0]
    assert not np.allclose(a.next_obs[t, i], a.obs[t + 1, i])
    assert not np.any(a.terminated & a.truncated)


def test_time_limit_truncates_and_the_batch_bootstraps_only_there():
    pol = CategoricalPolicy(MLP((4, 2)))
    theta = pol.init(np.random.default_rng(0))
    traj = Sampler("CartPole-v1", 1, seed=0, max_episode_steps=5).run(
        pol, theta, 40, np.random.default_rng(0))
    assert traj.truncated.any(), "expected the 5-step time limit to truncate"
    assert max(traj.episode_lengths) == 5
    # with V = 1 everywhere and lam = 0: A = r + gamma * 1 on truncated/ordinary steps, r - 1 + 0 at termination
    batch = make_batch(pol, theta, traj, lambda o: np.ones(len(o)), 0.9, 0.0)
    adv = batch.advantages.reshape(traj.rewards.shape)
    assert np.allclose(adv[traj.truncated], traj.rewards[traj.truncated] + 0.9 - 1.0)
    assert np.allclose(adv[traj.terminated], traj.rewards[traj.terminated] - 1.0)


def test_make_batch_shapes_and_targets():
    pol = GaussianPolicy(MLP((3, 4, 1)))
    rng = np.random.default_rng(0)
    theta = pol.init(rng)
    traj = Sampler("Pendulum-v1", 2, seed=0).run(pol, theta, 50, rng)
    batch = make_batch(pol, theta, traj, lambda o: np.ones(len(o)), 0.99, 0.95)
    assert batch.obs.shape == (100, 3) and batch.actions.shape == (100, 1)
    assert np.allclose(batch.returns, batch.advantages + batch.values)
    assert np.allclose(batch.log_prob_old, pol.log_prob(theta, batch.obs, batch.actions))


def test_value_fit_reduces_error_and_is_deterministic():
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((500, 4))
    targets = 100 + 30 * np.sin(obs[:, 0]) + 10 * obs[:, 1]
    vf = ValueFunction.for_obs_dim(4, (32,))
    phi0 = vf.init(np.random.default_rng(1))
    phi = vf.fit(phi0, obs, targets, iters=60)
    mse0 = np.mean((vf(phi0, obs) - targets) ** 2)
    mse = np.mean((vf(phi, obs) - targets) ** 2)
    assert mse < 0.05 * mse0
    assert np.array_equal(phi, vf.fit(phi0, obs, targets, iters=60))


def test_value_fit_warm_start_keeps_predictions_when_rescaled():
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((200, 2))
    vf = ValueFunction.for_obs_dim(2, (8,))
    phi = vf.fit(vf.init(rng), obs, obs[:, 0] * 5 + 3, iters=30)
    rescaled = vf._rescale_last_layer(phi[:-2], 2.0, 1.0)
    assert np.allclose(vf.net.forward(rescaled, obs)[:, 0], 2.0 * vf.net.forward(phi[:-2], obs)[:, 0] + 1.0)


def test_unknown_environment_id_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'"):
        make_env("NoSuchEnv-v0")


def test_bad_gae_input_names_the_argument():
    z = np.zeros((3, 2))
    f = np.zeros((3, 2), bool)
    with pytest.raises(ValueError, match="values"):
        gae(z, np.zeros((3, 1)), z, f, f, 0.9, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        gae(z, z, z, f, f, 1.0, 0.9)
    with pytest.raises(ValueError, match="lam"):
        gae(z, z, z, f, f, 0.9, 1.5)
    with pytest.raises(ValueError, match="rewards.*NaN"):
        gae(np.full((3, 2), np.nan), z, z, f, f, 0.9, 0.9)


def test_one_convention_for_gamma_everywhere_zero_allowed_one_not():
    from trpo_lite.train import TrainConfig
    z = np.zeros((2, 1))
    f = np.zeros((2, 1), bool)
    r = np.array([1.0, 2.0])
    assert np.array_equal(discounted_returns(r, 0.0), r)          # gamma = 0: only r_t counts
    assert np.array_equal(gae(r[:, None], z, z, f, f, 0.0, 0.5)[:, 0], r)
    assert TrainConfig(gamma=0.0).gamma == 0.0
    for bad in (1.0, -0.1, np.nan, "0.9"):
        for check in (lambda g: discounted_returns(r, g), lambda g: gae(z, z, z, f, f, g, 0.9),
                      lambda g: TrainConfig(gamma=g)):
            with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\)"):
                check(bad)


def test_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        Sampler("CartPole-v1", 1, seed=-1)
    with pytest.raises(ValueError, match="n_envs must be an integer >= 1"):
        Sampler("CartPole-v1", 0)
    sampler = Sampler("CartPole-v1", 1)
    pol = CategoricalPolicy(MLP((4, 2)))
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        sampler.run(pol, pol.init(np.random.default_rng(0)), 0, np.random.default_rng(0))
    sampler.close()
