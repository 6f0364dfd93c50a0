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
    # every message starts with the argument's name (trpo_lite/validate.py)
    z = np.zeros((3, 2))
    f = np.zeros((3, 2), bool)
    with pytest.raises(ValueError, match="^values "):
        gae(z, np.zeros((3, 1)), z, f, f, 0.9, 0.9)
    with pytest.raises(ValueError, match="^next_values "):       # (3, 1) would broadcast
        gae(z, z, np.zeros((3, 1)), f, f, 0.9, 0.9)
    with pytest.raises(ValueError, match="^rewards "):
        gae(np.zeros(3), np.zeros(3), np.zeros(3), f[:, 0], f[:, 0], 0.9, 0.9)
    with pytest.raises(ValueError, match="^terminated must have the shape of rewards"):
        gae(z, z, z, f[:, :1], f, 0.9, 0.9)
    with pytest.raises(ValueError, match="^truncated must have the shape of rewards"):
        gae(z, z, z, f, f[:2], 0.9, 0.9)
    with pytest.raises(ValueError, match="^gamma "):
        gae(z, z, z, f, f, 1.0, 0.9)
    with pytest.raises(ValueError, match="^lam "):
        gae(z, z, z, f, f, 0.9, 1.5)
    with pytest.raises(ValueError, match="^rewards .*NaN"):
        gae(np.full((3, 2), np.nan), z, z, f, f, 0.9, 0.9)
    with pytest.raises(ValueError, match="^rewards "):
        discounted_returns(np.zeros((3, 2)), 0.9)                # one episode: 1-D


# -- found by mutation testing (scripts/mutation.sh, scripts/MUTATION.md) ----------------------

def test_gae_reads_integer_done_flags_as_booleans():
    # 0/1 flags (e.g. from a saved float or int array) mean the same as False/True
    rng = np.random.default_rng(5)
    T, N = 12, 2
    r, v, nv = rng.standard_normal((3, T, N))
    term = rng.random((T, N)) < 0.2
    trunc = (rng.random((T, N)) < 0.2) & ~term
    expected = gae_brute_force(r, v, nv, term, trunc, 0.9, 0.8)
    for cast in (int, float):
        got = gae(r, v, nv, term.astype(cast), trunc.astype(cast), 0.9, 0.8)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_make_batch_keeps_the_finished_episodes_of_the_trajectory():
    pol = CategoricalPolicy(MLP((4, 2)))
    rng = np.random.default_rng(0)
    theta = pol.init(rng)
    traj = Sampler("CartPole-v1", 2, seed=0).run(pol, theta, 60, rng)
    assert len(traj.episode_returns) >= 2
    batch = make_batch(pol, theta, traj, None, 0.99, 0.95)
    assert batch.episode_returns == traj.episode_returns
    assert batch.episode_lengths == traj.episode_lengths


def test_value_fit_checks_its_arguments_naming_them():
    vf = ValueFunction.for_obs_dim(2, (4,))
    phi = vf.init(np.random.default_rng(0))
    obs, targets = np.zeros((5, 2)), np.arange(5.0)
    for kwargs, name in ((dict(iters=0), "iters"), (dict(l2=-1.0), "l2"),
                         (dict(obs=np.zeros((5, 3))), "obs"),
                         (dict(targets=np.zeros(1)), "targets"),     # (1,) would broadcast
                         (dict(params=phi[:-1]), "params")):
        args = {**dict(params=phi, obs=obs, targets=targets), **kwargs}
        with pytest.raises(ValueError, match=rf"^{name} "):
            vf.fit(args.pop("params"), args.pop("obs"), args.pop("targets"), **args)
    assert np.all(np.isfinite(vf.fit(phi, obs, targets, iters=1)))   # one L-BFGS step is allowed


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


def _ends_every_3_steps():
    """A 1-D environment whose episodes last 3 steps and end *terminated and truncated* at
    once; the reward is the action it received, so a test sees what the sampler sent it."""
    import gymnasium as gym

    class EndsEvery3Steps(gym.Env):
        def __init__(self):
            from gymnasium import spaces
            self.observation_space = spaces.Box(-np.inf, np.inf, (1,))
            self.action_space = spaces.Box(-1.0, 1.0, (1,))
            self.t = 0

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(1), {}

        def step(self, action):
            self.t += 1
            done = self.t == 3
            return np.array([float(self.t)]), float(action[0]), done, done, {}

    return EndsEvery3Steps()


def _recording_env_id():
    import gymnasium as gym
    env_id = "TrpoLiteEndsEvery3Steps-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=lambda **_: _ends_every_3_steps(), disable_env_checker=True)
    return env_id


def test_sampler_clips_box_actions_for_the_env_but_keeps_the_sampled_ones():
    env_id = _recording_env_id()
    pol = GaussianPolicy(MLP((1, 1)), init_log_std=np.log(5.0))      # N(0, 5^2): most |a| > 1
    theta = np.r_[0.0, 0.0, np.log(5.0)]
    traj = Sampler(env_id, 2, seed=0).run(pol, theta, 9, np.random.default_rng(0))
    sent = traj.rewards                                     # what the environment received
    assert (traj.actions[..., 0] > 1).any() and (traj.actions[..., 0] < -1).any()
    np.testing.assert_array_equal(sent, np.clip(traj.actions[..., 0], -1.0, 1.0))


def test_sampler_flags_terminated_over_truncated_and_counts_episode_end_steps():
    env_id = _recording_env_id()
    pol = GaussianPolicy(MLP((1, 1)))
    theta = pol.init(np.random.default_rng(0))
    sampler = Sampler(env_id, 2, seed=0)
    first = sampler.run(pol, theta, 7, np.random.default_rng(0))
    ends = np.zeros((7, 2), bool)
    ends[[2, 5]] = True                                     # steps 3 and 6 of both envs
    np.testing.assert_array_equal(first.terminated, ends)
    assert not first.truncated.any()                        # terminated wins: no bootstrap
    assert first.episode_lengths == (3, 3, 3, 3)
    # total env steps (2 envs) when each episode ended: (t + 1) * 2 for t = 2, 5
    assert first.episode_end_steps == (6, 6, 12, 12)
    second = sampler.run(pol, theta, 3, np.random.default_rng(1))   # episodes run on
    assert sampler.total_steps == 20
    assert second.episode_end_steps == (14 + 4, 14 + 4)     # local step 2 after 14 steps


def test_sampler_seeding_time_limit_and_arguments():
    import gymnasium as gym
    pol = CategoricalPolicy(MLP((4, 2)))
    theta = pol.init(np.random.default_rng(0))
    default, seeded = Sampler("CartPole-v1", 2), Sampler("CartPole-v1", 2, seed=3)
    assert default.env_id == "CartPole-v1"
    for sampler, seed in ((default, 0), (seeded, 3)):       # env i starts from seed * 1000 + i
        for i in range(2):
            expected, _ = gym.make("CartPole-v1").reset(seed=seed * 1000 + i)
            np.testing.assert_array_equal(sampler.obs[i], expected)
    one = Sampler("CartPole-v1", 1, max_episode_steps=1).run(pol, theta, 4, np.random.default_rng(0))
    assert one.episode_lengths == (1, 1, 1, 1) and one.truncated.all()
    with pytest.raises(ValueError, match="^max_episode_steps must be an integer >= 1"):
        Sampler("CartPole-v1", 1, max_episode_steps=0)
    with pytest.raises(TypeError, match="^env_id must be a string, got int"):
        make_env(3)
    with pytest.raises(ValueError, match="the course uses CartPole-v1, Acrobot-v1, MountainCar-v0, Pendulum-v1"):
        make_env("NoSuchEnv-v0")
