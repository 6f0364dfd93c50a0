"""Sampling from gymnasium environments, discounted returns and GAE.

A rollout runs ``n_envs`` copies of an environment side by side for ``n_steps`` steps,
asking the policy for all of them in one batched call. Episodes that end are reset at once.
``VectorSampler`` steps one NumPy-vectorised env that holds every copy, in one call per step
(``TrainConfig.vector_env``, the default where gymnasium has one: CartPole-v1); ``Sampler``
steps ``n_envs`` separate gymnasium envs (every other environment, or ``vector_env=False``).

Terminated vs truncated (gymnasium's two kinds of "done"):

* ``terminated``: the MDP really ended (the pole fell); the value after it is 0.
* ``truncated``: the time limit cut the episode; the state was not terminal, so the
  return continues and we *bootstrap* with V(s_{T}) of the true final observation.

GAE(gamma, lambda) (Schulman et al. 2016), with the TD error written e_t here (the GAE paper
calls it delta_t; in this library delta is only the trust-region radius):

    e_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
    A_t = e_t + gamma * lambda * (1 - done_t) * A_{t+1}        done = terminated or truncated

lambda = 1 gives the Monte-Carlo return minus the baseline (REINFORCE with baseline);
lambda = 0 gives the one-step TD error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DEFAULTS
from .validate import check_array, check_discount, check_integer, check_unit_interval

KNOWN_ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")

# Return at which an environment counts as solved (mean of the last 20 episodes).
SOLVE_THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0,
                    "Pendulum-v1": -200.0}


def make_env(env_id: str, max_episode_steps=None):
    """``gymnasium.make(env_id)`` with a clear error for an unknown id.

    ``max_episode_steps`` overrides the environment's time limit (truncation), if given.
    """
    import gymnasium as gym

    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string, got {type(env_id).__name__}")
    try:
        kwargs = {} if max_episode_steps is None else {"max_episode_steps": int(max_episode_steps)}
        return gym.make(env_id, disable_env_checker=True, **kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"unknown environment id {env_id!r}; the course uses "
                         f"{', '.join(KNOWN_ENVS)} ({exc})") from None


@dataclass(frozen=True)
class Batch:
    """One batch of experience, flattened over (time, env) to M = n_steps * n_envs samples.

    obs (M, obs_dim), actions (M,) or (M, k), log_prob_old (M,), advantages (M,),
    returns (M,) = advantages + values (the value-function targets), values (M,).
    episode_returns / episode_lengths: episodes that *finished* during this batch.
    """

    obs: np.ndarray
    actions: np.ndarray
    log_prob_old: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    values: np.ndarray
    episode_returns: tuple = ()
    episode_lengths: tuple = ()

    def __len__(self):
        return len(self.obs)


@dataclass(frozen=True)
class Trajectory:
    """Raw rollout arrays of shape (T, n_envs, ...) before advantages are computed."""

    obs: np.ndarray            # (T, N, obs_dim)   s_t
    actions: np.ndarray        # (T, N) or (T, N, k)
    rewards: np.ndarray        # (T, N)
    terminated: np.ndarray     # (T, N) bool
    truncated: np.ndarray      # (T, N) bool
    next_obs: np.ndarray       # (T, N, obs_dim)   s_{t+1}, the true final obs where done
    episode_returns: tuple
    episode_lengths: tuple
    episode_end_steps: tuple = ()   # sampler's total env steps when each episode ended
    valid: np.ndarray | None = None  # (T, N) bool: which slots are transitions (None: all);
    #                                  VectorSampler marks gymnasium's auto-reset steps False


def _start_counters(sampler, n_envs):
    """The return and length of each environment's running episode, the step count, and the
    action bounds that Box actions are clipped to (None for discrete actions)."""
    sampler._ep_ret = np.zeros(n_envs)
    sampler._ep_len = np.zeros(n_envs, dtype=int)
    sampler.total_steps = 0
    box = getattr(sampler.action_space, "low", None) is not None
    sampler._low = sampler.action_space.low if box else None
    sampler._high = sampler.action_space.high if box else None


class Sampler:
    """``n_envs`` environments stepped in lockstep; keeps episodes running across calls.

    Parameters
    ----------
    env_id : str
        A gymnasium id, e.g. "CartPole-v1".
    n_envs : int
        Parallel copies; one batched policy call serves all of them (default
        ``TrainConfig.n_envs``; typical 1-16).
    seed : int
        An integer >= 0. Environment i is reset with seed ``seed * 1000 + i`` once; later resets continue
        its own random stream, so the same seed gives the same episodes.
    max_episode_steps : int, optional
        Override the time limit (episodes longer than this are *truncated*).
    """

    def __init__(self, env_id: str, n_envs: int = DEFAULTS.n_envs, seed: int = 0,
                 max_episode_steps=None):
        n_envs = check_integer(n_envs, "n_envs", minimum=1)
        seed = check_integer(seed, "seed", minimum=0)
        if max_episode_steps is not None:
            max_episode_steps = check_integer(max_episode_steps, "max_episode_steps", minimum=1)
        self.env_id = env_id
        self.envs = [make_env(env_id, max_episode_steps) for _ in range(n_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.obs = np.stack([env.reset(seed=seed * 1000 + i)[0]
                             for i, env in enumerate(self.envs)]).astype(float)
        _start_counters(self, len(self.envs))

    def close(self):
        for env in self.envs:
            env.close()

    def run(self, policy, theta, n_steps: int, rng: np.random.Generator) -> Trajectory:
        """Step every environment ``n_steps`` times with a ~ pi_theta(.|s)."""
        T, N = check_integer(n_steps, "n_steps", minimum=1), len(self.envs)
        obs_buf = np.empty((T, N, self.obs.shape[1]))
        next_buf = np.empty_like(obs_buf)
        rew = np.empty((T, N))
        term = np.zeros((T, N), dtype=bool)
        trunc = np.zeros((T, N), dtype=bool)
        act_buf = None
        ep_returns, ep_lengths, ep_ends = [], [], []
        sample = policy.make_sampler(theta)                                 # theta checked once
        for t in range(T):
            obs_buf[t] = self.obs
            actions = sample(self.obs, rng)                                 # one batched call
            if act_buf is None:
                act_buf = np.empty((T, *actions.shape), dtype=actions.dtype)
            act_buf[t] = actions
            env_actions = actions if self._low is None else np.clip(actions, self._low, self._high)
            for i, env in enumerate(self.envs):
                o, r, te, tr, _ = env.step(env_actions[i])
                rew[t, i] = r
                next_buf[t, i] = o
                self._ep_ret[i] += r
                self._ep_len[i] += 1
                if te or tr:
                    term[t, i], trunc[t, i] = te, tr and not te
                    ep_returns.append(float(self._ep_ret[i]))
                    ep_lengths.append(int(self._ep_len[i]))
                    ep_ends.append(self.total_steps + (t + 1) * N)
                    self._ep_ret[i], self._ep_len[i] = 0.0, 0
                    o, _ = env.reset()
                self.obs[i] = o
        self.total_steps += T * N
        return Trajectory(obs_buf, act_buf, rew, term, trunc, next_buf,
                          tuple(ep_returns), tuple(ep_lengths), tuple(ep_ends))


def has_vector_env(env_id: str) -> bool:
    """Whether the installed gymnasium ships a NumPy-vectorised version of ``env_id``
    (``vector_entry_point`` in its registration; gymnasium 1.4: CartPole-v1 only)."""
    import gymnasium as gym

    try:
        return gym.spec(env_id).vector_entry_point is not None
    except gym.error.Error:
        return False


class VectorSampler:
    """``n_envs`` copies of an environment inside one gymnasium NumPy-vectorised env.

    ``gym.make_vec(env_id, n_envs, vectorization_mode="vector_entry_point")`` steps all copies
    with one call on arrays, so a rollout step costs one batched policy call and one vector
    step, whatever ``n_envs`` is. Same parameters as ``Sampler``; the whole vector env is
    reset once with ``seed * 1000`` (its one random stream serves every copy, so the episodes
    differ from ``Sampler``'s for the same seed).

    Auto-reset (gymnasium's ``NEXT_STEP`` mode): the step on which copy i ends returns the
    true final observation s_T with its terminated/truncated flags; the *next* step ignores
    copy i's action and returns a fresh reset observation with reward 0 and no flags. That
    step is not a transition of the MDP: ``run`` marks it ``valid[t, i] = False`` and
    ``make_batch`` leaves it out, so a batch holds at most ``n_steps * n_envs`` transitions
    and ``total_steps`` counts transitions only.
    """

    def __init__(self, env_id: str, n_envs: int = DEFAULTS.n_envs, seed: int = 0,
                 max_episode_steps=None):
        import gymnasium as gym

        n_envs = check_integer(n_envs, "n_envs", minimum=1)
        seed = check_integer(seed, "seed", minimum=0)
        if not has_vector_env(env_id):
            raise ValueError(f"env_id {env_id!r} has no NumPy-vectorised version in gymnasium "
                             f"{gym.__version__}; use Sampler (TrainConfig(vector_env=False))")
        kwargs = {}
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = check_integer(max_episode_steps, "max_episode_steps",
                                                        minimum=1)
        self.env_id = env_id
        self.env = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                                **kwargs)
        self.n_envs = n_envs
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self.obs = self.env.reset(seed=seed * 1000)[0].astype(float)
        self._resetting = np.zeros(n_envs, dtype=bool)   # ended on the last step: next one resets
        _start_counters(self, n_envs)

    def close(self):
        self.env.close()

    def run(self, policy, theta, n_steps: int, rng: np.random.Generator) -> Trajectory:
        """Step the vector env ``n_steps`` times with a ~ pi_theta(.|s) for every copy."""
        T, N = check_integer(n_steps, "n_steps", minimum=1), self.n_envs
        obs_buf = np.empty((T, N, self.obs.shape[1]))
        next_buf = np.empty_like(obs_buf)
        rew = np.empty((T, N))
        term = np.empty((T, N), dtype=bool)
        trunc = np.empty((T, N), dtype=bool)
        valid = np.empty((T, N), dtype=bool)
        box = self._low is not None                                         # () or (k,) per copy
        act_buf = np.empty((T, N, *self.action_space.shape), dtype=float if box else int)
        ep_returns, ep_lengths, ep_ends = [], [], []
        steps = self.total_steps
        sample = policy.make_sampler(theta)                                 # theta checked once
        for t in range(T):
            obs_buf[t] = self.obs
            act_buf[t] = sample(self.obs, rng)                              # one batched call
            env_actions = np.clip(act_buf[t], self._low, self._high) if box else act_buf[t]
            o, r, te, tr, _ = self.env.step(env_actions)                    # all copies at once
            valid[t] = ~self._resetting               # an auto-reset step is not a transition
            rew[t], next_buf[t] = r, o                # o: s_{t+1}, the true final obs if done
            term[t], trunc[t] = te, tr & ~te          # terminated wins: no bootstrap
            steps += int(valid[t].sum())
            self._ep_ret += r                         # r = 0 on an auto-reset step
            self._ep_len += valid[t]
            done = te | tr
            for i in np.flatnonzero(done):
                ep_returns.append(float(self._ep_ret[i]))
                ep_lengths.append(int(self._ep_len[i]))
                ep_ends.append(steps)
            self._ep_ret[done], self._ep_len[done] = 0.0, 0
            self._resetting = done
            self.obs = o.astype(float)
        self.total_steps = steps
        return Trajectory(obs_buf, act_buf, rew, term, trunc, next_buf,
                          tuple(ep_returns), tuple(ep_lengths), tuple(ep_ends), valid)


def make_sampler(env_id: str, n_envs: int = DEFAULTS.n_envs, seed: int = 0,
                 vector_env=DEFAULTS.vector_env, max_episode_steps=None):
    """``VectorSampler`` if ``vector_env`` and gymnasium vectorises ``env_id``, else ``Sampler``
    (``TrainConfig.vector_env``: the vectorised sampler by default, for CartPole-v1)."""
    if not isinstance(vector_env, bool):
        raise TypeError(f"vector_env must be True or False, got {vector_env!r}")
    cls = VectorSampler if vector_env and has_vector_env(env_id) else Sampler
    return cls(env_id, n_envs, seed, max_episode_steps)


def gae(rewards, values, next_values, terminated, truncated, gamma: float, lam: float):
    """Generalised advantage estimates over time-major arrays (T, N).

    Parameters
    ----------
    rewards, values, next_values : (T, N)
        r_t, V(s_t), V(s_{t+1}) (for a truncated step: V of the true final observation).
    terminated, truncated : (T, N) bool
    gamma : float in [0, 1);  lam : float in [0, 1]

    Returns
    -------
    advantages : (T, N)
    """
    rewards = check_array(rewards, "rewards", ndim=2)
    values = check_array(values, "values", shape=rewards.shape)
    next_values = check_array(next_values, "next_values", shape=rewards.shape)
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool)
    for flags, name in ((terminated, "terminated"), (truncated, "truncated")):
        if flags.shape != rewards.shape:
            raise ValueError(f"{name} must have the shape of rewards {rewards.shape}, got {flags.shape}")
    gamma = check_discount(gamma, "gamma")
    lam = check_unit_interval(lam, "lam")
    td_error = rewards + gamma * next_values * (~terminated) - values
    not_done = ~(terminated | truncated)
    adv = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = td_error[t] + gamma * lam * not_done[t] * running
        adv[t] = running
    return adv


def discounted_returns(rewards, gamma: float):
    """G_t = sum_k gamma^k r_{t+k} for one episode, rewards (T,) -> (T,)."""
    rewards = check_array(rewards, "rewards", ndim=1)
    gamma = check_discount(gamma, "gamma")
    out = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def make_batch(policy, theta, traj: Trajectory, value_fn, gamma: float, lam: float) -> Batch:
    """Advantages by GAE with the baseline ``value_fn(obs (M, obs_dim)) -> (M,)``.

    ``value_fn=None`` uses V = 0 (plain REINFORCE: the advantage is the discounted return).
    Slots with ``traj.valid`` False (VectorSampler's auto-reset steps) are left out after GAE:
    the step before one is done, so its ``(1 - done_t)`` already stops A_t from reaching it.
    """
    T, N = traj.rewards.shape
    obs = traj.obs.reshape(T * N, -1)
    if value_fn is None:
        values = np.zeros((T, N))
        next_values = np.zeros((T, N))
    else:
        both = value_fn(np.concatenate([obs, traj.next_obs.reshape(T * N, -1)]))
        values = both[:T * N].reshape(T, N)
        next_values = both[T * N:].reshape(T, N)
    adv = gae(traj.rewards, values, next_values, traj.terminated, traj.truncated, gamma, lam)
    actions = traj.actions.reshape(T * N, *traj.actions.shape[2:])
    adv, values = adv.ravel(), values.ravel()
    if traj.valid is not None:
        keep = traj.valid.ravel()
        obs, actions, adv, values = obs[keep], actions[keep], adv[keep], values[keep]
    return Batch(obs=obs, actions=actions,
                 log_prob_old=policy.log_prob(theta, obs, actions),
                 advantages=adv, returns=adv + values, values=values,
                 episode_returns=traj.episode_returns, episode_lengths=traj.episode_lengths)
