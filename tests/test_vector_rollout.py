"""VectorSampler (gymnasium's NumPy-vectorised CartPole): gymnasium's next-step auto-reset is
handled exactly -- the reset step is not a transition, a truncated step bootstraps, a terminated
one does not -- and every transition and episode return agrees with a single gymnasium env."""
import gymnasium as gym
import numpy as np
import pytest

from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy
from trpo_lite.rollout import Sampler, VectorSampler, has_vector_env, make_batch, make_sampler
from trpo_lite.train import TrainConfig, train

ENV = "CartPole-v1"


def _policy(push=None):
    """A linear policy: near-uniform, or (push=1) always action 1 (episodes terminate fast)."""
    pol = CategoricalPolicy(MLP((4, 2)))
    theta = pol.init(np.random.default_rng(0))
    if push is not None:
        theta[-2:] = (-50.0, 50.0) if push == 1 else (50.0, -50.0)    # the output biases
    return pol, theta


def _episodes_per_env(traj):
    """Independent bookkeeping: (env, return, length) of every finished episode, in the
    order the rollout finishes them, rebuilt from the valid transitions alone."""
    T, N = traj.rewards.shape
    ret, length, out = np.zeros(N), np.zeros(N, int), []
    for t in range(T):
        for i in range(N):
            if not traj.valid[t, i]:
                continue
            ret[i] += traj.rewards[t, i]
            length[i] += 1
            if traj.terminated[t, i] or traj.truncated[t, i]:
                out.append((i, ret[i], length[i]))
                ret[i], length[i] = 0.0, 0
    return out


def test_this_gymnasium_vectorises_cartpole():
    assert has_vector_env(ENV)
    assert not has_vector_env("Pendulum-v1") and not has_vector_env("NoSuchEnv-v0")


def test_the_step_after_a_done_is_an_auto_reset_and_not_a_transition():
    pol, theta = _policy(push=1)
    traj = VectorSampler(ENV, 3, seed=0).run(pol, theta, 60, np.random.default_rng(0))
    done = traj.terminated | traj.truncated
    assert done.sum() >= 9, "always pushing right must end episodes within ~10 steps"
    t, i = np.nonzero(done[:-1])
    assert not traj.valid[t + 1, i].any(), "the step after a done must be marked invalid"
    assert traj.valid.sum() == traj.valid.size - done[:-1].sum()
    # the reset step starts from the final obs and lands on a fresh reset state (|s| <= 0.05)
    np.testing.assert_array_equal(traj.obs[t + 1, i], traj.next_obs[t, i])
    assert np.all(np.abs(traj.next_obs[t + 1, i]) <= 0.05)
    assert np.all(traj.rewards[~traj.valid] == 0) and np.all(traj.rewards[traj.valid] == 1)
    batch = make_batch(pol, theta, traj, lambda o: np.zeros(len(o)), 0.99, 0.97)
    assert len(batch) == traj.valid.sum() < traj.valid.size
    np.testing.assert_array_equal(batch.obs, traj.obs[traj.valid])


def test_every_transition_is_the_single_env_step_of_the_same_state_and_action():
    pol, theta = _policy()
    traj = VectorSampler(ENV, 4, seed=2, max_episode_steps=50).run(
        pol, theta, 120, np.random.default_rng(1))
    env = gym.make(ENV).unwrapped                      # the plain single env, no wrappers
    env.reset(seed=0)
    for t, i in np.argwhere(traj.valid):
        env.state, env.steps_beyond_terminated = traj.obs[t, i].astype(np.float64), None
        o, r, term, _, _ = env.step(int(traj.actions[t, i]))
        np.testing.assert_allclose(traj.next_obs[t, i], o, rtol=0, atol=1e-5)
        assert r == traj.rewards[t, i] and bool(term) == traj.terminated[t, i], (t, i)


def test_episode_returns_and_end_steps_agree_with_independent_bookkeeping():
    pol, theta = _policy()
    sampler = VectorSampler(ENV, 4, seed=1, max_episode_steps=30)
    trajs = [sampler.run(pol, theta, 40, np.random.default_rng(k)) for k in range(3)]
    before = 0                                   # transitions of the earlier runs
    for traj in trajs:
        episodes = _episodes_per_env(traj)
        if traj is trajs[0]:                     # later runs continue unfinished episodes
            assert [r for _, r, _ in episodes] == list(traj.episode_returns)
            assert [n for _, _, n in episodes] == list(traj.episode_lengths)
        # end steps: transitions (valid slots) counted up to and including that row
        counted = before + np.cumsum(traj.valid.sum(axis=1))
        ends = []
        for t, n in enumerate((traj.terminated | traj.truncated).sum(axis=1)):
            ends += [int(counted[t])] * int(n)
        assert list(traj.episode_end_steps) == ends
        before += int(traj.valid.sum())
    assert sampler.total_steps == sum(int(x.valid.sum()) for x in trajs)
    assert max(max(x.episode_lengths) for x in trajs) == 30       # the time limit holds
    # an episode ending on a run's last row resets on the next run's first row
    for prev, nxt in zip(trajs, trajs[1:]):
        ended = (prev.terminated | prev.truncated)[-1]
        np.testing.assert_array_equal(nxt.valid[0], ~ended)


def test_truncation_bootstraps_and_termination_does_not_in_the_vector_batch():
    gamma = 0.9
    for push, limit, flag in ((None, 5, "truncated"), (1, 500, "terminated")):
        pol, theta = _policy(push)
        traj = VectorSampler(ENV, 2, seed=0, max_episode_steps=limit).run(
            pol, theta, 30, np.random.default_rng(0))
        ends = getattr(traj, flag) & traj.valid
        assert ends.any() and not (traj.terminated & traj.truncated).any()
        # V = 1 everywhere, lam = 0: A = r + gamma * 1 - 1 unless terminated (then r - 1)
        batch = make_batch(pol, theta, traj, lambda o: np.ones(len(o)), gamma, 0.0)
        adv = np.full(traj.rewards.shape, np.nan)
        adv[traj.valid] = batch.advantages
        expected = 1.0 + (0.0 if flag == "terminated" else gamma) - 1.0
        np.testing.assert_allclose(adv[ends], expected, rtol=0, atol=1e-12)
        if flag == "truncated":
            assert np.all(traj.episode_lengths == np.full(len(traj.episode_lengths), 5))


def test_gae_never_crosses_an_auto_reset_step():
    """lam = 1, V = 0: each valid step's advantage is the discounted reward-to-go of its own
    episode (the reset step's zero reward and the next episode's rewards never enter)."""
    pol, theta = _policy()
    traj = VectorSampler(ENV, 2, seed=4, max_episode_steps=7).run(
        pol, theta, 40, np.random.default_rng(0))
    batch = make_batch(pol, theta, traj, None, 0.5, 1.0)
    adv = np.full(traj.rewards.shape, np.nan)
    adv[traj.valid] = batch.advantages
    for i in range(2):
        t_valid = [t for t in range(40) if traj.valid[t, i]]
        for k, t in enumerate(t_valid):
            total, coef = 0.0, 1.0
            for t2 in t_valid[k:]:
                total += coef * traj.rewards[t2, i]
                if traj.terminated[t2, i] or traj.truncated[t2, i]:
                    break
                coef *= 0.5
            else:
                continue                  # the episode runs past the batch end: bootstrapped
            assert adv[t, i] == pytest.approx(total, abs=1e-12), (t, i)


def test_make_sampler_uses_the_vector_env_only_where_gymnasium_has_one():
    assert isinstance(make_sampler(ENV, 2, 0, vector_env=True), VectorSampler)
    assert isinstance(make_sampler(ENV, 2, 0), VectorSampler)            # the default (TrainConfig)
    assert isinstance(make_sampler(ENV, 2, 0, vector_env=False), Sampler)
    assert isinstance(make_sampler("Pendulum-v1", 2, 0, vector_env=True), Sampler)
    with pytest.raises(ValueError, match="^env_id 'Pendulum-v1' has no NumPy-vectorised version"):
        VectorSampler("Pendulum-v1", 2)
    with pytest.raises(TypeError, match="^vector_env must be True or False"):
        make_sampler(ENV, 2, 0, vector_env="yes")
    with pytest.raises(TypeError, match="^vector_env must be True or False"):
        TrainConfig(vector_env=1)
    with pytest.raises(ValueError, match="n_envs must be an integer >= 1"):
        VectorSampler(ENV, 0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        VectorSampler(ENV, 2, seed=-1)


def test_training_on_the_vector_env_is_deterministic_and_counts_transitions():
    cfg = TrainConfig(hidden=(8,), value_hidden=(8,), vector_env=True, n_envs=8, steps_per_env=32)
    a = train("trpo", ENV, 3, 1500, cfg)
    b = train("trpo", ENV, 3, 1500, cfg)
    np.testing.assert_array_equal(a.theta, b.theta)
    steps = [row["env_steps"] for row in a.log]
    assert steps[-1] >= 1500 and all(0 < d <= 8 * 32 for d in np.diff([0, *steps]))
    assert a.episode_end_steps[-1] <= steps[-1]
