"""train.py's promises that mutation testing found unchecked (scripts/MUTATION.md): every
TrainConfig field reaches the function that uses it, ``start_run`` builds what the config asks
for, ``solve_point``'s edges and checks, and the callable module passes keyword arguments on."""
import numpy as np
import pytest

from trpo_lite import algos
from trpo_lite import train as train_module
from trpo_lite.rollout import VectorSampler
from trpo_lite.train import TrainConfig, solve_point, start_run, train

# every field that an update takes, away from its default (a dropped argument would fall back
# to TrainConfig's default and go unseen)
UNUSUAL = TrainConfig(hidden=(4,), value_hidden=(3,), n_envs=2, steps_per_env=40, value_iters=2,
                      normalize_advantages=False, lr=1.5, delta=0.013, damping=0.05, cg_iters=7,
                      backtrack_coef=0.6, max_backtracks=4, ls_rule="improvement_ratio",
                      fisher_subsample=2, ppo_clip=0.15, ppo_epochs=2, ppo_minibatch=32,
                      ppo_target_kl=0.03)

# update function: {its keyword argument: the TrainConfig field it must get}
REACHES = {
    "vpg": {"lr": "lr", "normalize_advantages": "normalize_advantages"},
    "npg": {"delta": "delta", "damping": "damping", "normalize_advantages": "normalize_advantages"},
    "trpo": {"delta": "delta", "cg_iters": "cg_iters", "damping": "damping",
             "backtrack_coef": "backtrack_coef", "max_backtracks": "max_backtracks",
             "rule": "ls_rule", "fisher_subsample": "fisher_subsample",
             "normalize_advantages": "normalize_advantages"},
    "ppo": {"clip": "ppo_clip", "epochs": "ppo_epochs", "minibatch_size": "ppo_minibatch",
            "target_kl": "ppo_target_kl", "normalize_advantages": "normalize_advantages"},
}


@pytest.mark.parametrize("algo", sorted(REACHES))
def test_every_update_hyperparameter_reaches_the_update_from_the_config(algo, monkeypatch):
    real = getattr(algos, f"{algo}_update")
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(algos, f"{algo}_update", spy)
    train(algo, "CartPole-v1", 0, 1, UNUSUAL)
    (kwargs,) = seen                                     # one iteration, one update
    for arg, field in REACHES[algo].items():
        assert arg in kwargs and kwargs[arg] == getattr(UNUSUAL, field), \
            f"{algo}_update's {arg} should be TrainConfig.{field} = {getattr(UNUSUAL, field)!r}"
    if algo == "ppo":                                    # minibatches drawn from the run's seed
        assert isinstance(kwargs["rng"], np.random.Generator)


def test_start_run_builds_the_sampler_and_value_network_the_config_asks_for():
    rng, sampler, policy, theta, vf, phi = start_run(
        "CartPole-v1", 0, TrainConfig(hidden=(4,), value_hidden=(3,), vector_env=True, n_envs=8))
    try:
        assert isinstance(sampler, VectorSampler)
        assert theta.size == 4 * 4 + 4 + 4 * 2 + 2       # 4 -> 4 -> 2 actions
        assert phi.size == 4 * 3 + 3 + 3 * 1 + 1 + 2     # 4 -> 3 -> 1 value, shift and scale
    finally:
        sampler.close()


def test_solve_point_counts_the_first_full_window_and_accepts_a_window_of_one():
    r = np.full(20, 500.0)
    ends = np.arange(1, 21) * 10
    assert solve_point(r, ends, 475) == 200              # exactly one window: solved at its end
    assert solve_point([1.0, 600.0], [3, 7], 475, window=1) == 7
    assert solve_point([1, 2], [3, 7], 1, window=1) == 3  # integer returns count as numbers


@pytest.mark.parametrize("window", [0, -3, 2.0])
def test_solve_point_refuses_a_window_that_is_not_a_positive_integer(window):
    with pytest.raises(ValueError, match=r"^window must be an integer >= 1, got "):
        solve_point([500.0], [1], 475, window=window)


def test_the_callable_module_passes_keyword_arguments_on():
    cfg = TrainConfig(hidden=(4,), value_hidden=(4,), n_envs=2, steps_per_env=20, value_iters=1,
                      vector_env=False)
    res = train_module("vpg", "CartPole-v1", 3, 1, config=cfg)
    assert res.config == cfg and res.seed == 3
    assert res.log[-1]["env_steps"] == 40                # one iteration of n_envs * steps_per_env
