"""One training loop for VPG, NPG, TRPO and PPO.

Each iteration: rollout -> advantages (GAE with the value baseline) -> policy update ->
value fit -> one row of the log. The loop is a plain function of a ``TrainConfig`` and a
seed; the same seed gives the same numbers (with one BLAS thread, which ``train`` sets
itself: see trpo_lite/threads.py).

``TrainConfig`` (every hyperparameter, its default and typical range) lives in
``trpo_lite.config`` and is re-exported here, with ``config_from_dict``/``config_to_dict``.

This module is also callable: ``from trpo_lite import train; train("trpo", ...)`` calls
``train.train`` (the package's ``train`` attribute is this module, so
``from trpo_lite.train import TrainConfig`` and ``trpo_lite.train.make_batch`` keep working).
"""
from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass

import numpy as np

from . import algos
from .config import TrainConfig, config_from_dict, config_to_dict
from .policies import make_policy
from .rollout import SOLVE_THRESHOLDS, make_batch, make_sampler
from .threads import keep_freed_memory, limited_threads
from .validate import check_callable, check_choice, check_integer
from .value import ValueFunction

__all__ = ["ALGOS", "LOG_COLUMNS", "RETURN_WINDOW", "TrainConfig", "TrainResult", "config_from_dict",
           "config_to_dict", "solve_point", "train"]

ALGOS = ("vpg", "npg", "trpo", "ppo")

# The log's "mean_return" and the solve test both average the last RETURN_WINDOW episodes.
RETURN_WINDOW = 20

# One row of the log per iteration: env_steps and episodes so far; mean_return of the last
# RETURN_WINDOW episodes; predicted_kl, measured_kl, surrogate_improvement as in
# algos.UpdateInfo (predicted: the quadratic model's KL of the full natural step, i.e. delta for
# NPG and TRPO, nan for VPG and PPO; measured and improvement: of the step taken, 0 when TRPO's
# line search keeps theta_old); line_search_attempts (0 without a line search); accepted
# (False only when TRPO keeps theta_old); wall_seconds since the start of train().
LOG_COLUMNS = ("iteration", "env_steps", "episodes", "mean_return", "predicted_kl", "measured_kl",
               "line_search_attempts", "accepted", "surrogate_improvement", "wall_seconds")


@dataclass(frozen=True)
class TrainResult:
    """The log (one dict per iteration, keys LOG_COLUMNS), all episode returns with the env step
    at which each finished, the final parameters and the solve step (None if never solved).

    ``solved_at_step`` is the env step at which the mean return of the last RETURN_WINDOW
    episodes first reached ``SOLVE_THRESHOLDS[env_id]`` (``solve_point``);
    ``solved_at_seconds`` the wall seconds of the log row of that iteration.
    """

    algo: str
    env_id: str
    seed: int
    config: TrainConfig
    log: tuple
    episode_returns: np.ndarray
    episode_end_steps: np.ndarray
    theta: np.ndarray
    solved_at_step: int | None
    solved_at_seconds: float | None


def solve_point(episode_returns, episode_end_steps, threshold, window=RETURN_WINDOW):
    """The env step at which the mean of the last ``window`` episode returns first reached
    ``threshold``: ``episode_end_steps[k]`` of the episode k that completed that window.

    ``episode_returns`` and ``episode_end_steps`` (the sampler's total env steps when each
    episode ended) run in parallel. Returns None if the mean never reaches the threshold.
    """
    r = np.asarray(episode_returns, dtype=float)
    ends = np.asarray(episode_end_steps)
    if ends.shape != r.shape:
        raise ValueError(f"episode_end_steps must have one entry per episode return {r.shape}, "
                         f"got shape {ends.shape}")
    window = check_integer(window, "window", minimum=1)
    if len(r) < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")
    hit = np.flatnonzero(means >= threshold)
    return None if hit.size == 0 else int(ends[hit[0] + window - 1])


def start_run(env_id, seed, cfg):
    """The start of every training run, in this order (the order fixes the random numbers):
    one generator from ``seed``, the sampler, the policy and its initial theta, the value
    function and its initial phi. Returns (rng, sampler, policy, theta, vf, phi); the caller
    closes the sampler."""
    rng = np.random.default_rng(seed)
    sampler = make_sampler(env_id, cfg.n_envs, seed, cfg.vector_env)
    policy = make_policy(sampler.observation_space, sampler.action_space, cfg.hidden)
    theta = policy.init(rng)
    vf = ValueFunction.for_obs_dim(sampler.observation_space.shape[0], cfg.value_hidden)
    return rng, sampler, policy, theta, vf, vf.init(rng)


@limited_threads()
def train(algo="trpo", env_id="CartPole-v1", seed=0, total_steps=100_000, config=None,
          callback=None, stop_when_solved=False):
    """Train ``algo`` (one of ALGOS) on ``env_id`` for at least ``total_steps`` environment steps.

    Every iteration collects ``config.n_envs * config.steps_per_env`` steps (with
    ``config.vector_env``, up to that many: gymnasium's auto-reset steps are not transitions;
    rollout.VectorSampler), so the run stops after the first iteration that reaches
    ``total_steps`` (an integer >= 1); ``seed`` is an
    integer >= 0; ``config`` a TrainConfig (None: the defaults). ``callback(row)`` is called
    after every iteration (progress bars, printing); ``stop_when_solved`` ends the run at the
    solve point. The whole call, set-up included, runs with one BLAS/OpenMP thread
    (``TRPO_LITE_THREADS`` changes that; trpo_lite/threads.py); the previous limit is
    restored on return.
    """
    check_choice(algo, "algo", ALGOS)
    seed = check_integer(seed, "seed", minimum=0)
    total_steps = check_integer(total_steps, "total_steps", minimum=1)
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__} "
                        "(a dict: use config_from_dict)")
    if callback is not None:
        check_callable(callback, "callback", "row (dict) -> None")
    cfg = config or TrainConfig()
    keep_freed_memory()           # as fast from a plain shell as under make (threads.py)
    rng, sampler, policy, theta, vf, phi = start_run(env_id, seed, cfg)
    adam = algos.Adam(lr=cfg.ppo_lr)
    threshold = SOLVE_THRESHOLDS.get(env_id, np.inf)

    log, returns, end_steps = [], [], []
    solved_step = solved_sec = None
    t0 = time.perf_counter()
    it = 0
    while sampler.total_steps < total_steps:
        it += 1
        # rollout
        traj = sampler.run(policy, theta, cfg.steps_per_env, rng)
        batch = make_batch(policy, theta, traj, lambda o: vf(phi, o), cfg.gamma, cfg.lam)
        returns += traj.episode_returns
        end_steps += traj.episode_end_steps
        # policy update
        info = _update(algo, policy, theta, batch, cfg, adam, rng)
        theta = info.theta
        # value fit on the GAE targets
        phi = vf.fit(phi, batch.obs, batch.returns, iters=cfg.value_iters)

        ls = info.line_search
        row = dict(iteration=it, env_steps=sampler.total_steps, episodes=len(returns),
                   mean_return=float(np.mean(returns[-RETURN_WINDOW:])) if returns else float("nan"),
                   predicted_kl=info.predicted_kl, measured_kl=info.measured_kl,
                   line_search_attempts=len(ls.attempts) if ls is not None else 0,
                   accepted=bool(info.accepted), surrogate_improvement=info.surrogate_improvement,
                   wall_seconds=time.perf_counter() - t0)
        log.append(row)
        if solved_step is None:
            solved_step = solve_point(returns, end_steps, threshold)
            if solved_step is not None:
                solved_sec = row["wall_seconds"]
        if callback is not None:
            callback(row)
        if stop_when_solved and solved_step is not None:
            break
    sampler.close()
    return TrainResult(algo, env_id, seed, cfg, tuple(log), np.array(returns),
                       np.array(end_steps, dtype=int), theta, solved_step, solved_sec)


def _update(algo, policy, theta, batch, cfg, adam, rng):
    """One policy update of ``algo`` with every hyperparameter taken from ``cfg``."""
    norm = cfg.normalize_advantages
    if algo == "vpg":
        return algos.vpg_update(policy, theta, batch, lr=cfg.lr, normalize_advantages=norm)
    if algo == "npg":
        return algos.npg_update(policy, theta, batch, delta=cfg.delta, damping=cfg.damping,
                                normalize_advantages=norm)
    if algo == "trpo":
        return algos.trpo_update(policy, theta, batch, delta=cfg.delta, cg_iters=cfg.cg_iters,
                                 damping=cfg.damping, backtrack_coef=cfg.backtrack_coef,
                                 max_backtracks=cfg.max_backtracks, rule=cfg.ls_rule,
                                 fisher_subsample=cfg.fisher_subsample, normalize_advantages=norm)
    return algos.ppo_update(policy, theta, batch, adam, clip=cfg.ppo_clip, epochs=cfg.ppo_epochs,
                            minibatch_size=cfg.ppo_minibatch, rng=rng,
                            target_kl=cfg.ppo_target_kl, normalize_advantages=norm)


class _CallableModule(types.ModuleType):
    """This module's type: calling the module calls ``train``, so ``from trpo_lite import train``
    gives one object that is both the module (``train.TrainConfig``) and the function."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
