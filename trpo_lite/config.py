"""``TrainConfig``: every hyperparameter of the library, with its default, in one place.

The update functions (``algos``), the line search, the value fit and the training loop take
their defaults from ``DEFAULTS = TrainConfig()``, so a default is written once, here, next to
the range it usually takes. (This module imports nothing else from trpo_lite but
``validate``, so every other module can import it.) ``trpo_lite.train`` re-exports
``TrainConfig``, ``config_from_dict`` and ``config_to_dict``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .validate import (
    check_choice,
    check_discount,
    check_integer,
    check_nonnegative,
    check_open_unit,
    check_positive,
    check_unit_interval,
)

LINE_SEARCH_RULES = ("kl_and_improvement", "improvement_ratio")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training loop (defaults: TRPO on small classic-control tasks).

    Each comment gives the typical range. ``delta`` is the one worth tuning for NPG/TRPO;
    ``lr`` for VPG; ``ppo_lr`` and ``ppo_clip`` for PPO.
    """

    # networks
    hidden: tuple = (32, 32)          # policy hidden sizes: () (linear) to (64, 64); tanh units
    value_hidden: tuple = (32, 32)    # value-network hidden sizes: (16,) to (64, 64)
    # sampling and advantages
    n_envs: int = 16                  # environments per iteration: 8-64 (vector_env=False: 1-16)
    vector_env: bool = True           # True: gymnasium's NumPy-vectorised env where it has one
    #                                   (CartPole-v1), all n_envs in one step call; False (and
    #                                   envs without one, e.g. Pendulum-v1): n_envs separate envs
    steps_per_env: int = 64           # steps per environment per iteration, 32-2000 (batch = n_envs * this)
    gamma: float = 0.99               # discount, in [0, 1): 0.95-0.999 (effective horizon 1 / (1 - gamma))
    lam: float = 0.97                 # GAE lambda, in [0, 1]: 0.9-0.99 (lower: less variance, more bias)
    normalize_advantages: bool = True  # (A - mean) / std per batch: True (False: retune lr; notebook 06)
    value_iters: int = 10             # L-BFGS iterations of the warm-started value fit per iteration: 5-50
    # NPG and TRPO
    delta: float = 0.02               # trust-region radius, the mean KL per update: 0.005-0.05
    damping: float = 0.1              # F + damping I in CG (TRPO) and in the direct solve (NPG): 1e-3-0.1
    cg_iters: int = 10                # conjugate-gradient iterations: 5-20 (10 is the usual choice)
    backtrack_coef: float = 0.8       # line-search shrink factor, in (0, 1): 0.5-0.8
    max_backtracks: int = 10          # line-search shrinks before giving up (keeping theta_old): 5-15
    ls_rule: str = "kl_and_improvement"  # line-search acceptance rule: one of LINE_SEARCH_RULES
    fisher_subsample: int = 1         # every k-th state in Fisher-vector products: 1-5 (speed vs accuracy)
    # VPG
    lr: float = 1.0                   # ascent rate on normalised advantages: 1-3 (measured: experiments.py)
    # PPO
    ppo_lr: float = 3e-3              # Adam learning rate: 3e-4 (large nets) to 3e-3 (these small ones)
    ppo_clip: float = 0.2             # clip range epsilon of the ratio: 0.1-0.3
    ppo_epochs: int = 10              # passes over the batch per iteration: 3-10
    ppo_minibatch: int = 256          # minibatch size: 64-512 (a batch: n_envs * steps_per_env, <= 1024)
    ppo_target_kl: float | None = None  # stop epochs once mean KL > 1.5 x this: None (off) or 0.01-0.05

    def __post_init__(self):
        for name in ("n_envs", "steps_per_env", "value_iters", "cg_iters", "fisher_subsample",
                     "ppo_epochs", "ppo_minibatch"):
            check_integer(getattr(self, name), name, minimum=1)
        check_integer(self.max_backtracks, "max_backtracks", minimum=0)
        for name in ("hidden", "value_hidden"):
            sizes = getattr(self, name)
            if not isinstance(sizes, (tuple, list)):
                raise TypeError(f"{name} must be a tuple of layer sizes, got {type(sizes).__name__}")
            for size in sizes:
                check_integer(size, f"{name} entries", minimum=1)
        for name in ("delta", "lr", "ppo_lr", "ppo_clip"):
            check_positive(getattr(self, name), name)
        if self.ppo_target_kl is not None:
            check_positive(self.ppo_target_kl, "ppo_target_kl")
        check_nonnegative(self.damping, "damping")
        check_discount(self.gamma, "gamma")
        check_unit_interval(self.lam, "lam")
        check_open_unit(self.backtrack_coef, "backtrack_coef")
        check_choice(self.ls_rule, "ls_rule", LINE_SEARCH_RULES)
        if not isinstance(self.vector_env, bool):
            raise TypeError(f"vector_env must be True or False, got {self.vector_env!r}")


DEFAULTS = TrainConfig()


def config_from_dict(d):
    """A TrainConfig from a dict (e.g. JSON); unknown keys raise ValueError."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return replace(TrainConfig(), **d)


def config_to_dict(cfg):
    """The TrainConfig as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
