"""The policy updates and the training loop: the natural step meets the KL model exactly,
TRPO's accepted step is inside the trust region and improves, gradients match finite
differences, runs are deterministic, TRPO learns CartPole, the CLI writes its log."""
import csv

import numpy as np
import pytest

from trpo_lite import algos
from trpo_lite.__main__ import main
from trpo_lite.fisher import fisher_analytic
from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy, GaussianPolicy
from trpo_lite.rollout import Sampler, make_batch
from trpo_lite.train import LOG_COLUMNS, TrainConfig, solve_point, train


@pytest.fixture(scope="module", params=["categorical", "gaussian"])
def setup(request):
    rng = np.random.default_rng(0)
    if request.param == "categorical":
        env, pol = "CartPole-v1", CategoricalPolicy(MLP((4, 8, 2)))
    else:
        env, pol = "Pendulum-v1", GaussianPolicy(MLP((3, 8, 1)))
    theta = pol.init(rng)
    traj = Sampler(env, 2, seed=0).run(pol, theta, 200, rng)
    batch = make_batch(pol, theta, traj, None, 0.99, 0.95)
    return pol, theta, batch


def fd_grad(f, x, eps=1e-6):
    return np.array([(f(x + e) - f(x - e)) / (2 * eps) for e in np.eye(len(x)) * eps])


def test_policy_gradient_is_the_gradient_of_the_surrogate_at_theta_old(setup):
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    g = algos.policy_gradient(pol, theta, batch, adv)
    g_fd = fd_grad(lambda t: algos.surrogate(pol, t, batch, adv), theta)
    assert np.allclose(g, g_fd, atol=1e-7)


def test_clipped_surrogate_gradient_matches_finite_differences(setup):
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    theta_new = theta + 0.05 * np.random.default_rng(1).standard_normal(len(theta))
    g = algos.clipped_surrogate_gradient(pol, theta_new, batch.obs, batch.actions,
                                         batch.log_prob_old, adv, 0.2)
    g_fd = fd_grad(lambda t: algos.clipped_surrogate(pol, t, batch, adv, 0.2), theta_new)
    assert np.allclose(g, g_fd, atol=1e-5)


def test_full_natural_step_satisfies_half_sFs_equals_delta(setup):
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    g = algos.policy_gradient(pol, theta, batch, adv)
    F = fisher_analytic(pol, theta, batch.obs) + 1e-3 * np.eye(len(theta))
    s = algos.natural_step(np.linalg.solve(F, g), F @ np.linalg.solve(F, g), 0.01)
    assert 0.5 * s @ F @ s == pytest.approx(0.01, rel=1e-10)
    info = algos.npg_update(pol, theta, batch, delta=0.01)
    assert info.predicted_kl == pytest.approx(0.01, rel=1e-8)


def test_natural_step_refuses_non_positive_curvature():
    with pytest.raises(ValueError, match="not positive definite"):
        algos.natural_step(np.array([1.0, 0.0]), np.array([-1.0, 0.0]), 0.01)


@pytest.mark.parametrize("delta", [0.001, 0.01, 0.05])
def test_trpo_accepted_step_is_inside_trust_region_and_improves(setup, delta):
    pol, theta, batch = setup
    info = algos.trpo_update(pol, theta, batch, delta=delta)
    assert info.accepted
    assert pol.kl(theta, info.theta, batch.obs) <= delta
    assert info.surrogate_improvement > 0
    assert info.line_search.attempts[-1].reason == "accepted"


def test_trpo_with_cg_matches_npg_direction_when_cg_converges(setup):
    pol, theta, batch = setup
    npg = algos.npg_update(pol, theta, batch, delta=0.001, damping=0.1)
    trpo = algos.trpo_update(pol, theta, batch, delta=0.001, damping=0.1, cg_iters=len(theta) * 3)
    a, b = npg.theta - theta, trpo.theta - theta
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.999


def test_delta_must_be_positive(setup):
    pol, theta, batch = setup
    for fn in (algos.trpo_update, algos.npg_update):
        with pytest.raises(ValueError, match="delta"):
            fn(pol, theta, batch, delta=0.0)
    with pytest.raises(ValueError, match="damping"):
        algos.npg_update(pol, theta, batch, damping=-1.0)


def test_adam_ascends():
    opt = algos.Adam(lr=0.1)
    x = np.array([3.0, -2.0])
    for _ in range(300):
        x = opt.step(x, -2 * (x - 1.0))      # maximise -(x-1)^2
    assert np.allclose(x, 1.0, atol=1e-2)


def test_ppo_update_stays_near_old_policy_and_improves_clipped_objective(setup):
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    info = algos.ppo_update(pol, theta, batch, algos.Adam(lr=1e-3), epochs=4, minibatch_size=100,
                            rng=np.random.default_rng(0))
    assert algos.clipped_surrogate(pol, info.theta, batch, adv) > algos.clipped_surrogate(pol, theta, batch, adv)


def test_solve_point_finds_first_window_reaching_threshold():
    r = [0] * 10 + [500] * 25
    # the first window of 20 whose mean reaches 475 holds one 0 and nineteen 500s: episodes 9..28
    assert solve_point(r, range(35), 475, window=20) == 28
    assert solve_point([1, 2], [1, 2], 475) is None


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig(n_envs=2, steps_per_env=100, value_iters=5)
    a = train("trpo", "CartPole-v1", 3, 800, cfg)
    b = train("trpo", "CartPole-v1", 3, 800, cfg)
    strip = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in a.log]
    assert strip == [{k: v for k, v in row.items() if k != "wall_seconds"} for row in b.log]
    assert np.array_equal(a.theta, b.theta)


@pytest.mark.parametrize("algo", ["vpg", "npg", "ppo"])
def test_every_algorithm_runs_through_the_training_loop(algo):
    res = train(algo, "CartPole-v1", 0, 1000, TrainConfig(hidden=(8,), n_envs=2, steps_per_env=250))
    assert len(res.log) == 2 and set(res.log[0]) == set(LOG_COLUMNS)
    assert np.all(np.isfinite(res.theta))


def test_trpo_learning_smoke_cartpole_return_rises():
    res = train("trpo", "CartPole-v1", 0, 12_000)
    first, last = res.log[0]["mean_return"], res.log[-1]["mean_return"]
    assert last > 2 * first and last > 80, (first, last)


def test_trpo_runs_on_pendulum_with_a_gaussian_policy():
    res = train("trpo", "Pendulum-v1", 0, 2000, TrainConfig(n_envs=2, steps_per_env=500))
    assert all(row["measured_kl"] <= 0.02 for row in res.log)


def test_cli_trains_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "log.csv"
    assert main(["train", "--algo", "trpo", "--env", "CartPole-v1", "--steps", "2000",
                 "--csv", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and list(rows[0]) == list(LOG_COLUMNS)
    text = capsys.readouterr().out
    assert "summary" in text and "solved" in text


def test_cli_unknown_environment_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--env", "NoSuchEnv-v0", "--steps", "10", "--csv",
                 str(tmp_path / "x.csv"), "--quiet"]) == 2
    assert "unknown environment id 'NoSuchEnv-v0'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
