"""One training loop for VPG, NPG, TRPO and PPO.

Each iteration: rollout -> advantages (GAE with the value baseline) -> policy update ->
value fit -> one row of the log. The loop is a plain function of a ``TrainConfig`` and a
seed; the same seed gives the same numbers (with one BLAS thread, which ``train`` sets
itself: see trpo_lite/threads.py).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from . import algos
from .policies import make_policy
from .rollout import SOLVE_THRESHOLDS, Sampler, make_batch
from .threads import limited_threads
from .value import ValueFunction

ALGOS = ("vpg", "npg", "trpo", "ppo")

LOG_COLUMNS = ("iteration", "env_steps", "episodes", "mean_return", "predicted_kl", "measured_kl",
               "line_search_attempts", "accepted", "surrogate_improvement", "wall_seconds")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training loop (defaults: TRPO on small classic-control tasks)."""

    hidden: tuple = (32, 32)          # policy network hidden sizes; () gives a linear policy
    value_hidden: tuple = (32, 32)    # value network hidden sizes
    n_envs: int = 4                   # environments stepped in lockstep
    steps_per_env: int = 250          # steps per environment per iteration (batch = n_envs * this)
    gamma: float = 0.99               # discount
    lam: float = 0.97                 # GAE lambda: 0.9-0.99 trades bias for variance
    normalize_advantages: bool = True
    value_iters: int = 10             # L-BFGS iterations of the value fit per iteration (warm-started)
    delta: float = 0.02               # NPG/TRPO trust-region radius (mean KL)
    damping: float = 0.1              # F + damping I in CG / the direct solve
    cg_iters: int = 10                # conjugate-gradient iterations
    backtrack_coef: float = 0.8       # line-search shrink factor
    max_backtracks: int = 10
    ls_rule: str = "kl_and_improvement"
    fisher_subsample: int = 1         # use every k-th state in Fisher-vector products
    lr: float = 1.0                   # VPG ascent rate on normalised advantages (CartPole: 0.5-3; >= 10 collapses)
    ppo_lr: float = 3e-3              # PPO Adam learning rate
    ppo_clip: float = 0.2
    ppo_epochs: int = 10
    ppo_minibatch: int = 256

    def __post_init__(self):
        for name in ("n_envs", "steps_per_env", "cg_iters", "ppo_epochs", "ppo_minibatch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("delta", "lr", "ppo_lr", "ppo_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.damping < 0:
            raise ValueError(f"damping must be >= 0, got {self.damping!r}")
        if not 0 < self.gamma < 1 or not 0 <= self.lam <= 1:
            raise ValueError("gamma must lie in (0, 1) and lam in [0, 1]")


@dataclass(frozen=True)
class TrainResult:
    """The log (one dict per iteration, keys LOG_COLUMNS), all episode returns with the env step
    at which each finished, the final parameters and the solve step (None if never solved)."""

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


def solve_point(episode_returns, episode_end_steps, threshold, window=20):
    """Index of the first episode at which the mean of the last ``window`` returns >= threshold."""
    r = np.asarray(episode_returns, dtype=float)
    if len(r) < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")
    hit = np.flatnonzero(means >= threshold)
    return None if hit.size == 0 else int(hit[0] + window - 1)


@limited_threads()
def train(algo="trpo", env_id="CartPole-v1", seed=0, total_steps=100_000, config=None,
          callback=None, stop_when_solved=False):
    """Train ``algo`` on ``env_id`` for ``total_steps`` environment steps.

    ``callback(row)`` is called after every iteration (progress bars, printing). The whole
    call, set-up included, runs with one BLAS/OpenMP thread (``TRPO_LITE_THREADS`` changes
    that; trpo_lite/threads.py); the previous limit is restored on return.
    """
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, got {algo!r}")
    cfg = config or TrainConfig()
    rng = np.random.default_rng(seed)
    sampler = Sampler(env_id, cfg.n_envs, seed)
    policy = make_policy(sampler.observation_space, sampler.action_space, cfg.hidden)
    theta = policy.init(rng)
    vf = ValueFunction.for_obs_dim(sampler.observation_space.shape[0], cfg.value_hidden)
    phi = vf.init(rng)
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
                   mean_return=float(np.mean(returns[-20:])) if returns else float("nan"),
                   predicted_kl=info.predicted_kl, measured_kl=info.measured_kl,
                   line_search_attempts=len(ls.attempts) if ls is not None else 0,
                   accepted=bool(info.accepted), surrogate_improvement=info.surrogate_improvement,
                   wall_seconds=time.perf_counter() - t0)
        log.append(row)
        if solved_step is None:
            k = solve_point(returns, end_steps, threshold)
            if k is not None:      # the env step of the episode that completed the window
                solved_step, solved_sec = int(end_steps[k]), row["wall_seconds"]
        if callback is not None:
            callback(row)
        if stop_when_solved and solved_step is not None:
            break
    sampler.close()
    return TrainResult(algo, env_id, int(seed), cfg, tuple(log), np.array(returns),
                       np.array(end_steps, dtype=int), theta, solved_step, solved_sec)


def _update(algo, policy, theta, batch, cfg, adam, rng):
    norm = cfg.normalize_advantages
    if algo == "vpg":
        return algos.vpg_update(policy, theta, batch, cfg.lr, norm)
    if algo == "npg":
        return algos.npg_update(policy, theta, batch, cfg.delta, cfg.damping, norm)
    if algo == "trpo":
        return algos.trpo_update(policy, theta, batch, cfg.delta, cfg.cg_iters, cfg.damping,
                                 cfg.backtrack_coef, cfg.max_backtracks, cfg.ls_rule,
                                 cfg.fisher_subsample, norm)
    return algos.ppo_update(policy, theta, batch, adam, cfg.ppo_clip, cfg.ppo_epochs,
                            cfg.ppo_minibatch, rng, normalize_advantages=norm)


def config_from_dict(d):
    """A TrainConfig from a dict (e.g. JSON); unknown keys raise ValueError."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return replace(TrainConfig(), **d)


def config_to_dict(cfg):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
