"""Notebook 03 (natural gradient): the properties it states, its self-checks and its figures."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import minimize

from trpo_lite import algos
from trpo_lite import mdp as tab
from trpo_lite.course import ch03, figures
from trpo_lite.course.ch04 import random_spd
from trpo_lite.course.running_example import gradient_ascent_path, natural_gradient_path, running_example
from trpo_lite.fisher import fisher_analytic
from trpo_lite.policies import make_policy


# ------------------------------------------------------------------ the math of the notebook
@pytest.mark.parametrize("n", [1, 2, 5])
def test_natural_step_maximises_linear_gain_inside_quadratic_kl_ellipse(n):
    rng = np.random.default_rng(n)
    F, g, delta = random_spd(n, 10.0, rng), rng.standard_normal(n), 0.02
    x = np.linalg.solve(F, g)
    s = algos.natural_step(x, F @ x, delta)
    oracle = minimize(lambda v: -g @ v, np.zeros(n), jac=lambda v: -g, method="SLSQP",
                      constraints=[{"type": "ineq", "fun": lambda v: delta - 0.5 * v @ F @ v,
                                    "jac": lambda v: -(F @ v)}],
                      options={"ftol": 1e-15, "maxiter": 500})
    np.testing.assert_allclose(s, oracle.x, atol=1e-6)
    lam = np.sqrt((g @ x) / (2 * delta))
    np.testing.assert_allclose(g, lam * F @ s, rtol=1e-10)          # Lagrangian stationarity
    assert g @ s == pytest.approx(np.sqrt(2 * delta * (g @ x)), rel=1e-12)


def test_natural_step_puts_any_direction_on_the_quadratic_kl_ellipse():
    rng = np.random.default_rng(3)
    F = random_spd(6, 10.0, rng)
    for _ in range(5):
        x = rng.standard_normal(6)
        for delta in (1e-3, 1e-2, 1e-1):
            s = algos.natural_step(x, F @ x, delta)
            assert 0.5 * s @ F @ s == pytest.approx(delta, rel=1e-12)


def test_running_example_natural_direction_cancels_visitation_and_sigmoid_slope():
    example = running_example()
    gamma, tau = example.mdp.gamma, example.tau
    for theta in ((-4.0, -4.0), (1.0, -4.0), (0.3, 2.0)):
        theta = np.array(theta)
        pi = example.pi(theta)
        entropy = -np.sum(pi * np.log(pi), axis=1)
        soft = tab.TabularMDP(P=example.mdp.P, R=example.mdp.R + tau * entropy[:, None],
                                  mu0=example.mdp.mu0, gamma=gamma)
        Q = tab.q_values(soft, pi)
        a = Q[:, 1] - Q[:, 0] - tau * theta
        g, F = example.grad_J(theta), example.fisher(theta)
        np.testing.assert_allclose(g, example.rho(theta) * pi[:, 0] * pi[:, 1] * a, rtol=1e-10)
        np.testing.assert_allclose(np.linalg.solve(F, g), a / (1 - gamma), rtol=1e-10)


def test_natural_path_is_invariant_to_rescaling_and_vanilla_path_is_not():
    example = running_example()
    start = np.array(example.theta_start)
    natural = {c: natural_gradient_path(example, start, 0.01, 20, scale=(1.0, c))
               for c in (0.2, 1.0, 5.0)}
    vanilla = {c: gradient_ascent_path(example, start, 1.0, 20, scale=(1.0, c))
               for c in (0.2, 1.0, 5.0)}
    for c in (0.2, 5.0):
        assert np.max(np.abs(natural[c] - natural[1.0])) < 1e-10
        assert np.max(np.abs(vanilla[c] - vanilla[1.0])) > 0.5


def test_natural_path_reaches_the_optimum_where_vanilla_crawls():
    example = running_example()
    start, opt = np.array(example.theta_start), example.theta_opt()
    natural = natural_gradient_path(example, start, 0.01, 20)
    vanilla = gradient_ascent_path(example, start, 1.0, 20)
    assert np.linalg.norm(natural[-1] - opt) < 0.5 < np.linalg.norm(vanilla[-1] - opt)


# (0.5 s^T F s = delta against an independently built F: tests/test_algos_train.py)


# ------------------------------------------------------------------ the self-checks
def good_natural_step(g, F, delta):
    x = np.linalg.solve(F, g)
    return np.sqrt(2 * delta / (g @ x)) * x


def test_check_natural_step_accepts_the_reference(capsys):
    ch03.check_natural_step(good_natural_step)
    out = capsys.readouterr().out
    assert "natural step s: all 6 checks passed" in out
    assert "0.5 s^T F s = delta: all 6 checks passed" in out


def test_check_natural_step_cases_include_one_dimension_and_ill_conditioning():
    cases = ch03.natural_step_cases()
    sizes = [len(args[0]) for _, args in cases]
    assert 1 in sizes
    assert max(np.linalg.cond(args[1]) for _, args in cases) > 1e4


def inverse_natural_step(g, F, delta):
    x = np.linalg.inv(F) @ g
    return np.sqrt(2 * delta / (g @ x)) * x


@pytest.mark.parametrize("wrong, hint", [
    (lambda g, F, d: np.sqrt(d / (g @ np.linalg.solve(F, g))) * np.linalg.solve(F, g), "factor 2"),
    (lambda g, F, d: np.sqrt(2 * d / (g @ F @ g)) * g, "vanilla direction"),
    (lambda g, F, d: np.linalg.solve(F, g), "not rescaled"),
    (inverse_natural_step, "np.linalg.solve"),
])
def test_check_natural_step_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ch03.check_natural_step(wrong)


def test_check_natural_step_reports_a_broken_ellipse_property():
    with pytest.raises(AssertionError, match=r"0.5 s\^T F s = delta: 6 of 6 checks failed"):
        ch03.check_natural_step(lambda g, F, d: 2 * good_natural_step(g, F, d))


def good_toy_step(example, theta, delta):
    g, F = example.grad_J(theta), example.fisher(theta)
    x = np.linalg.solve(F, g)
    return theta + np.sqrt(2 * delta / (g @ x)) * x


def test_check_natural_gradient_step_toy(capsys):
    ch03.check_natural_gradient_step_toy(good_toy_step)
    assert "all 7 checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="theta_new = theta \\+ s"):
        ch03.check_natural_gradient_step_toy(lambda e, t, d: 2 * t - good_toy_step(e, t, d))
    with pytest.raises(AssertionError, match="vanilla direction"):
        ch03.check_natural_gradient_step_toy(
            lambda e, t, d: t + algos.natural_step(e.grad_J(t), e.fisher(t) @ e.grad_J(t), d))
    with pytest.raises(AssertionError, match="not implemented"):
        ch03.check_natural_gradient_step_toy(lambda e, t, d: (_ for _ in ()).throw(NotImplementedError))


def good_kl_pair(policy, theta, obs, step):
    F = fisher_analytic(policy, theta, obs)
    return np.array([0.5 * step @ F @ step, policy.kl(theta, theta + step, obs)])


def test_check_predicted_and_measured_kl(capsys):
    ch03.check_predicted_and_measured_kl(good_kl_pair)
    assert "all 6 checks passed" in capsys.readouterr().out
    assert any(args[2].shape[0] == 1 for _, args in ch03.predicted_and_measured_kl_cases())
    with pytest.raises(AssertionError, match="wrong direction"):
        ch03.check_predicted_and_measured_kl(
            lambda p, t, o, s: np.array([good_kl_pair(p, t, o, s)[0], p.kl(t + s, t, o)]))
    with pytest.raises(AssertionError, match="half is missing"):
        ch03.check_predicted_and_measured_kl(
            lambda p, t, o, s: good_kl_pair(p, t, o, s) * np.array([2.0, 1.0]))


# ------------------------------------------------------------------ the figures
def test_draw_reparametrisation_paths_draws_every_scale():
    example = running_example()
    fig, axes = plt.subplots(1, 2)
    drawn = ch03.draw_reparametrisation_paths(axes, example, 1.0, 0.01, 5, (1.0, 5.0))
    assert set(drawn) == {"vanilla", "natural"} and set(drawn["natural"]) == {1.0, 5.0}
    assert drawn["vanilla"][5.0].shape == (6, 2)
    for ax in axes:
        xy = [line.get_xydata() for line in ax.lines if line.get_label().startswith("$\\theta_1")]
        assert len(xy) == 2
    np.testing.assert_allclose(axes[1].lines[-1].get_xydata(), drawn["natural"][5.0])
    plt.close(fig)


def fake_log(measured, improvement, delta):
    return [dict(iteration=i + 1, env_steps=1000 * (i + 1), mean_return=10.0 * i,
                 predicted_kl=delta, measured_kl=m, surrogate_improvement=u)
            for i, (m, u) in enumerate(zip(measured, improvement))]


def test_draw_kl_per_update_marks_violations_and_worse_surrogates():
    fig, ax = plt.subplots()
    log = fake_log([0.005, 0.02, 0.011, 0.009], [0.1, -0.2, 0.3, -0.01], 0.01)
    drawn = ch03.draw_kl_per_update(ax, log, 0.01)
    np.testing.assert_array_equal(drawn["kl_exceeded"], [False, True, True, False])
    np.testing.assert_array_equal(drawn["surrogate_worse"], [False, True, False, True])
    labels = [line.get_label() for line in ax.lines]
    assert any("2 of 4; problem 3a" in lab for lab in labels)
    assert any("2 of 4; problem 3c" in lab for lab in labels)
    plt.close(fig)


def test_draw_return_vs_env_steps():
    class Result:  # the only attribute the plot reads
        def __init__(self, log):
            self.log = log

    fig, ax = plt.subplots()
    log = fake_log([0.01] * 3, [0.1] * 3, 0.01)
    drawn = figures.draw_return_vs_env_steps(ax, {"a": Result(log)}, threshold=475)
    np.testing.assert_array_equal(drawn["a"][0], [1000, 2000, 3000])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.0, 10.0, 20.0])
    plt.close(fig)


# ------------------------------------------------------- the overshoot explorer (section 4)
@pytest.fixture(scope="module")
def cartpole_batch():
    from trpo_lite.rollout import Sampler, make_batch
    sampler = Sampler("CartPole-v1", n_envs=2, seed=11)
    policy = make_policy(sampler.observation_space, sampler.action_space, (16,))
    rng = np.random.default_rng(11)
    theta = policy.init(rng)
    batch = make_batch(policy, theta, sampler.run(policy, theta, 200, rng), None, 0.99, 0.97)
    sampler.close()
    return policy, theta, batch


@pytest.mark.parametrize("delta, damping", [(0.02, 1e-3), (0.1, 0.1), (1e-3, 1e-4)])
def test_natural_steps_are_npg_updates_steps(cartpole_batch, delta, damping):
    """The eigen-decomposed step equals algos.npg_update's direct solve, and so does its KL."""
    from trpo_lite.algos import npg_update
    policy, theta, batch = cartpole_batch
    steps = ch03.NaturalSteps(policy, theta, batch)
    info = npg_update(policy, theta, batch, delta=delta, damping=damping)
    np.testing.assert_allclose(steps.step(delta, damping), info.theta - theta, rtol=1e-6, atol=1e-10)
    assert steps.measured_kl(delta, damping) == pytest.approx(info.measured_kl, rel=1e-6)


def test_overshoot_explorer_moves_with_both_sliders(cartpole_batch):
    w = ch03.npg_overshoot_explorer(*cartpole_batch)
    delta, damping = w.children[0], w.children[1]
    first = w.result
    assert first["delta"] == pytest.approx(0.02) and first["damping"] == pytest.approx(1e-3)
    delta.value = 0.1
    assert w.result["kl_ratio"] != pytest.approx(first["kl_ratio"])
    np.testing.assert_allclose(w.result["kl_ratios"], first["kl_ratios"])     # same damping
    damping.value = 1.0
    # heavy damping: the step shrinks (a more conservative trust region) and so does its KL
    assert w.result["step_norm"] < first["step_norm"]
    assert w.result["kl_ratio"] < first["kl_ratio"]
    assert not np.allclose(w.result["kl_ratios"], first["kl_ratios"])
    # the curve is measured: every point is the KL of a real step on the batch
    steps = ch03.NaturalSteps(*cartpole_batch)
    d = ch03.OVERSHOOT_DELTAS[10]
    assert w.result["kl_ratios"][10] == pytest.approx(steps.measured_kl(d, 1.0) / d, rel=1e-9)
