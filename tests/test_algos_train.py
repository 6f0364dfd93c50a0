"""The policy updates and the training loop: the natural step meets the KL model exactly,
NPG's step has the promised KL under an independently built Fisher matrix, TRPO's accepted
step is inside the trust region and improves, PPO stays near the old policy, gradients match
finite differences, every default comes from TrainConfig, runs are deterministic, TRPO learns
CartPole. (The command line: tests/test_cli.py.)"""
import inspect

import numpy as np
import pytest

import trpo_lite
from trpo_lite import algos
from trpo_lite.config import DEFAULTS, config_from_dict, config_to_dict
from trpo_lite.fisher import fisher_analytic, fisher_expected_outer
from trpo_lite.linesearch import backtracking_line_search
from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy, GaussianPolicy, make_policy
from trpo_lite.rollout import Sampler, make_batch
from trpo_lite.train import LOG_COLUMNS, TrainConfig, solve_point, train
from trpo_lite.value import ValueFunction


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


@pytest.mark.parametrize("delta", [1e-5, 1e-2])
def test_npg_step_has_model_kl_delta_under_an_independent_fisher_and_measured_kl_near_it(setup, delta):
    """The step s NPG takes, judged without NPG's own F: 0.5 s^T (F + damping I) s = delta with
    F built by exact enumeration / quadrature (fisher_expected_outer, not the J^T M J that
    npg_update uses); and for a small delta the measured mean KL of the step is the quadratic
    model 0.5 s^T F s (the KL's second-order Taylor expansion; the damping's share of delta,
    0.5 damping |s|^2, is not KL)."""
    pol, theta, batch = setup
    damping = 1e-3
    info = algos.npg_update(pol, theta, batch, delta=delta, damping=damping)
    s = info.theta - theta
    F = fisher_expected_outer(pol, theta, batch.obs)
    quadratic_kl = 0.5 * s @ F @ s
    assert quadratic_kl + 0.5 * damping * s @ s == pytest.approx(delta, rel=1e-6)
    assert info.predicted_kl == pytest.approx(delta, rel=1e-6)
    measured = pol.kl(theta, info.theta, batch.obs)
    assert info.measured_kl == measured > 0
    if delta <= 1e-5:
        assert measured == pytest.approx(quadratic_kl, rel=0.05)
        assert measured == pytest.approx(delta, rel=0.2)


def test_natural_step_refuses_non_positive_curvature_and_a_bad_delta():
    with pytest.raises(ValueError, match="not positive definite"):
        algos.natural_step(np.array([1.0, 0.0]), np.array([-1.0, 0.0]), 0.01)
    for delta in (0.0, -0.01, np.nan):
        with pytest.raises(ValueError, match="delta"):
            algos.natural_step(np.array([1.0, 0.0]), np.array([1.0, 0.0]), delta)


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
    """With TrainConfig's PPO settings (Adam lr 3e-3, 10 epochs, clip 0.2): the clipped
    objective improves, the mean KL stays small, and the clip keeps the probability ratios
    near [1 - eps, 1 + eps] (Adam's momentum may carry a few past the edge, not far)."""
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    eps = DEFAULTS.ppo_clip
    info = algos.ppo_update(pol, theta, batch, algos.Adam(), epochs=DEFAULTS.ppo_epochs,
                            minibatch_size=100, rng=np.random.default_rng(0))
    assert algos.clipped_surrogate(pol, info.theta, batch, adv) > algos.clipped_surrogate(pol, theta, batch, adv)
    assert info.measured_kl == pol.kl(theta, info.theta, batch.obs)
    assert 0 < info.measured_kl < 0.015
    ratio = np.exp(pol.log_prob(info.theta, batch.obs, batch.actions) - batch.log_prob_old)
    far_outside = np.abs(ratio - 1) > 1.5 * eps
    assert far_outside.mean() <= 0.05, f"{far_outside.mean():.0%} of the ratios are beyond 1 +- {1.5 * eps}"


def test_ppo_target_kl_stops_after_the_first_epoch_that_exceeds_it(setup):
    pol, theta, batch = setup
    target_kl, steps_per_epoch = 1e-4, int(np.ceil(len(batch) / 100))

    def run(epochs, target_kl=None):
        adam = algos.Adam(lr=1e-2)
        info = algos.ppo_update(pol, theta, batch, adam, epochs=epochs, minibatch_size=100,
                                rng=np.random.default_rng(0), target_kl=target_kl)
        return info, adam.t // steps_per_epoch

    stopped, epochs_run = run(10, target_kl)
    assert 1 <= epochs_run < 10
    assert stopped.measured_kl > 1.5 * target_kl
    before, _ = run(epochs_run - 1) if epochs_run > 1 else (None, 0)
    assert before is None or before.measured_kl <= 1.5 * target_kl
    np.testing.assert_array_equal(stopped.theta, run(epochs_run)[0].theta)


def test_solve_point_is_the_env_step_of_the_first_window_reaching_threshold():
    r = [0] * 10 + [500] * 25
    end_steps = [100 * (k + 1) for k in range(35)]
    # the first window of 20 whose mean reaches 475 holds one 0 and nineteen 500s: episodes 9..28,
    # and episode 28 ended at env step 2900
    assert solve_point(r, end_steps, 475, window=20) == 2900
    assert solve_point([1, 2], [1, 2], 475) is None
    with pytest.raises(ValueError, match="episode_end_steps"):
        solve_point(r, end_steps[:-1], 475)


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig(n_envs=2, steps_per_env=100, value_iters=5)
    a = train("trpo", "CartPole-v1", 3, 800, cfg)
    b = train("trpo", "CartPole-v1", 3, 800, cfg)
    strip = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in a.log]
    assert strip == [{k: v for k, v in row.items() if k != "wall_seconds"} for row in b.log]
    assert np.array_equal(a.theta, b.theta)


@pytest.mark.parametrize("algo", ["vpg", "npg", "ppo"])
def test_every_algorithm_runs_through_the_training_loop(algo):
    res = train(algo, "CartPole-v1", 0, 1000, TrainConfig(hidden=(8,), n_envs=2, steps_per_env=250,
                                                                vector_env=False))
    assert len(res.log) == 2 and set(res.log[0]) == set(LOG_COLUMNS)
    assert np.all(np.isfinite(res.theta))


def test_trpo_learning_smoke_cartpole_return_rises():
    res = train("trpo", "CartPole-v1", 0, 12_000)
    first, last = res.log[0]["mean_return"], res.log[-1]["mean_return"]
    assert last > 2 * first and last > 80, (first, last)


def test_trpo_runs_on_pendulum_with_a_gaussian_policy():
    """TRPO takes steps on Pendulum (a Gaussian policy): its line search accepts, each accepted
    step lies inside the trust region with a real (non-zero) KL and improves the surrogate, and
    the policy moves. (A line search that never accepts logs KL 0 and must fail here.)"""
    cfg = TrainConfig(n_envs=2, steps_per_env=500)
    res = train("trpo", "Pendulum-v1", 0, 3000, cfg)
    accepted = [row for row in res.log if row["accepted"]]
    assert len(accepted) >= 2, [row["line_search_attempts"] for row in res.log]
    assert all(0 < row["measured_kl"] <= cfg.delta for row in accepted)
    assert all(row["surrogate_improvement"] > 0 for row in accepted)
    assert all(row["measured_kl"] == 0 and row["surrogate_improvement"] == 0
               for row in res.log if not row["accepted"])
    spaces = Sampler("Pendulum-v1", 1, seed=0)
    theta_init = make_policy(spaces.observation_space, spaces.action_space, cfg.hidden).init(
        np.random.default_rng(0))                                  # train's first draw
    spaces.close()
    assert np.linalg.norm(res.theta - theta_init) > 1e-3


def test_train_checks_its_arguments_before_training():
    for kwargs, name in ((dict(total_steps=0), "total_steps"), (dict(total_steps=-5), "total_steps"),
                         (dict(total_steps=10.5), "total_steps"), (dict(seed=-1), "seed"),
                         (dict(algo="sac"), "algo"), (dict(env_id="NoSuchEnv-v0"), "environment id")):
        with pytest.raises(ValueError, match=name):
            train(**kwargs)
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train(config={"delta": 0.01})
    with pytest.raises(TypeError, match="callback"):
        train(total_steps=10, callback="print")


def test_package_exposes_train_and_the_train_module_still_works():
    import trpo_lite.train as train_module
    from trpo_lite import TrainConfig as TopLevelConfig
    from trpo_lite import train as train_entry
    from trpo_lite.train import TrainConfig as ModuleConfig
    from trpo_lite.train import make_batch as module_make_batch

    assert TopLevelConfig is ModuleConfig is TrainConfig
    assert train_entry is train_module is trpo_lite.train          # one object: module and callable
    assert train_module.train is train and module_make_batch is make_batch
    res = train_entry("trpo", "CartPole-v1", 0, 500, TrainConfig(hidden=(8,), n_envs=2, steps_per_env=250,
                                                                vector_env=False))
    assert res.log[-1]["env_steps"] == 500 and res.algo == "trpo"


def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


def test_every_hyperparameter_default_comes_from_train_config():
    pairs = [(algos.vpg_update, "lr", "lr"), (algos.npg_update, "delta", "delta"),
             (algos.npg_update, "damping", "damping"), (algos.trpo_update, "delta", "delta"),
             (algos.trpo_update, "cg_iters", "cg_iters"), (algos.trpo_update, "damping", "damping"),
             (algos.trpo_update, "backtrack_coef", "backtrack_coef"),
             (algos.trpo_update, "max_backtracks", "max_backtracks"),
             (algos.trpo_update, "rule", "ls_rule"),
             (algos.trpo_update, "fisher_subsample", "fisher_subsample"),
             (algos.ppo_update, "clip", "ppo_clip"), (algos.ppo_update, "epochs", "ppo_epochs"),
             (algos.ppo_update, "minibatch_size", "ppo_minibatch"),
             (algos.ppo_update, "target_kl", "ppo_target_kl"),
             (algos.clipped_surrogate, "clip", "ppo_clip"),
             (algos.clipped_surrogate_gradient, "clip", "ppo_clip"),
             (backtracking_line_search, "backtrack_coef", "backtrack_coef"),
             (backtracking_line_search, "max_backtracks", "max_backtracks"),
             (backtracking_line_search, "rule", "ls_rule"),
             (make_policy, "hidden", "hidden"), (ValueFunction.for_obs_dim, "hidden", "value_hidden"),
             (ValueFunction.fit, "iters", "value_iters"), (Sampler.__init__, "n_envs", "n_envs")]
    for fn in (algos.vpg_update, algos.npg_update, algos.trpo_update, algos.ppo_update):
        pairs.append((fn, "normalize_advantages", "normalize_advantages"))
    for fn, arg, field in pairs:
        assert _default(fn, arg) == getattr(DEFAULTS, field), (fn.__qualname__, arg)
    assert algos.Adam().lr == DEFAULTS.ppo_lr


def test_train_config_checks_every_field_and_round_trips_through_a_dict():
    cfg = TrainConfig(hidden=(16,), ppo_target_kl=0.02)
    assert config_from_dict(config_to_dict(cfg)) == cfg
    bad = [dict(n_envs=0), dict(steps_per_env=2.5), dict(value_iters=0), dict(cg_iters=0),
           dict(fisher_subsample=0), dict(ppo_epochs=0), dict(ppo_minibatch=0),
           dict(max_backtracks=-1), dict(hidden=(0,)), dict(value_hidden=("a",)), dict(delta=0.0),
           dict(lr=-1.0), dict(ppo_lr=np.inf), dict(ppo_clip=0.0), dict(ppo_target_kl=0.0),
           dict(damping=-0.1), dict(gamma=1.0), dict(gamma=-0.1), dict(lam=1.5),
           dict(backtrack_coef=1.0), dict(ls_rule="armijo")]
    for kwargs in bad:
        (name,) = kwargs
        with pytest.raises((ValueError, TypeError), match=name.split("_")[0]):
            TrainConfig(**kwargs)
    assert TrainConfig(gamma=0.0).gamma == 0.0       # one convention for gamma: [0, 1)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        config_from_dict({"deltaa": 0.01})


def test_ppo_target_kl_reaches_ppo_update_through_train_config(monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["target_kl"])
        return real(*args, **kwargs)

    real = algos.ppo_update
    monkeypatch.setattr(algos, "ppo_update", spy)
    train("ppo", "CartPole-v1", 0, 1000, TrainConfig(hidden=(8,), n_envs=2, steps_per_env=250,
                                                     vector_env=False, ppo_target_kl=0.01))
    assert seen == [0.01, 0.01]


# -- found by mutation testing (scripts/mutation.sh, scripts/MUTATION.md) ----------------------

def with_advantages(batch, advantages):
    import dataclasses
    return dataclasses.replace(batch, advantages=np.asarray(advantages, dtype=float))


def run_update(name, pol, theta, batch, **kwargs):
    if name == "ppo":
        kwargs = dict(dict(epochs=2, minibatch_size=150, rng=np.random.default_rng(3)), **kwargs)
        return algos.ppo_update(pol, theta, batch, algos.Adam(), **kwargs)
    return getattr(algos, f"{name}_update")(pol, theta, batch, **kwargs)


@pytest.mark.parametrize("name", ["vpg", "npg", "trpo", "ppo"])
def test_normalize_advantages_switches_the_per_batch_standardisation_on_and_off(setup, name):
    # normalised advantages do not see a constant shift of A; raw advantages do (the shift
    # changes the sampled gradient mean_i c * grad log pi(a_i|s_i), which is not exactly 0)
    pol, theta, batch = setup
    shifted = with_advantages(batch, batch.advantages + 5.0)
    on = [run_update(name, pol, theta, b, normalize_advantages=True).theta for b in (batch, shifted)]
    off = [run_update(name, pol, theta, b, normalize_advantages=False).theta for b in (batch, shifted)]
    np.testing.assert_allclose(on[0], on[1], rtol=1e-6, atol=1e-9)
    assert np.max(np.abs(off[0] - off[1])) > 1e-4


@pytest.mark.parametrize("name", ["vpg", "npg", "trpo", "ppo"])
def test_surrogate_improvement_is_measured_between_the_old_and_the_new_theta(setup, name):
    # raw advantages with a mean far from 0: L(theta_old) = mean A is not 0
    pol, theta, batch = setup
    adv = batch.advantages
    kwargs = dict(lr=1e-4) if name == "vpg" else dict(delta=1e-3) if name in ("npg", "trpo") else {}
    info = run_update(name, pol, theta, batch, normalize_advantages=False, **kwargs)
    measured = algos.surrogate(pol, info.theta, batch, adv) - algos.surrogate(pol, theta, batch, adv)
    assert abs(adv.mean()) > 1.0
    assert info.surrogate_improvement == pytest.approx(measured, rel=1e-9, abs=1e-12)
    assert info.measured_kl == pytest.approx(pol.kl(theta, info.theta, batch.obs), rel=1e-12)
    if name != "ppo":
        # the linear model g^T s of the step actually taken (VPG, NPG; TRPO's full step s)
        g = algos.policy_gradient(pol, theta, batch, adv)
        coef = info.line_search.coef if name == "trpo" else 1.0
        assert info.expected_improvement == pytest.approx(g @ (info.theta - theta) / coef, rel=1e-9)
        # and for a small step the measured improvement is the linear one to first order
        assert info.surrogate_improvement == pytest.approx(coef * info.expected_improvement, rel=0.1)


def test_trpo_full_step_is_the_npg_step_of_the_damped_fisher(setup):
    """With CG run to convergence, TRPO's full step is s = sqrt(2 delta / x^T F x) x with
    x = (F + damping I)^-1 g for F built independently by enumeration/quadrature; its expected
    improvement is g^T s = sqrt(2 delta g^T x) and every attempt records coef * g^T s."""
    pol, theta, batch = setup
    delta, damping = 0.01, 0.05
    adv = algos.normalized(batch.advantages)
    g = algos.policy_gradient(pol, theta, batch, adv)
    F = fisher_expected_outer(pol, theta, batch.obs) + damping * np.eye(len(theta))
    x = np.linalg.solve(F, g)
    info = algos.trpo_update(pol, theta, batch, delta=delta, damping=damping,
                             cg_iters=3 * len(theta))
    assert info.predicted_kl == delta
    assert info.expected_improvement == pytest.approx(np.sqrt(2 * delta * (g @ x)), rel=1e-6)
    for attempt in info.line_search.attempts:
        assert attempt.expected_improvement == pytest.approx(
            attempt.coef * info.expected_improvement, rel=1e-12)


@pytest.mark.parametrize("cg_iters", [1, 2])
def test_trpo_runs_exactly_cg_iters_conjugate_gradient_iterations(setup, cg_iters):
    pol, theta, batch = setup
    info = algos.trpo_update(pol, theta, batch, cg_iters=cg_iters)
    assert info.cg_iterations == cg_iters


def test_trpo_keeps_theta_old_and_reports_no_step_when_the_line_search_rejects_every_attempt(setup):
    # a huge delta under the ratio rule: every shrunk step's improvement is far below its
    # linear prediction, so all max_backtracks + 1 attempts are rejected
    pol, theta, batch = setup
    info = algos.trpo_update(pol, theta, batch, delta=1e5, backtrack_coef=0.5, max_backtracks=3,
                             rule="improvement_ratio")
    ls = info.line_search
    assert not info.accepted and not ls.accepted
    np.testing.assert_array_equal(info.theta, theta)
    assert [a.coef for a in ls.attempts] == [1.0, 0.5, 0.25, 0.125]
    assert {a.reason for a in ls.attempts} == {"ratio_too_small"}
    assert info.measured_kl == 0.0 and info.surrogate_improvement == 0.0
    assert 1 <= info.cg_iterations <= DEFAULTS.cg_iters and info.predicted_kl == 1e5


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(fisher_subsample=0), "fisher_subsample"), (dict(cg_iters=0), "cg_iters"),
     (dict(delta=-1.0), "delta"), (dict(damping=-1.0), "damping")],
)
def test_trpo_rejects_bad_hyperparameters_naming_them(setup, kwargs, name):
    pol, theta, batch = setup
    with pytest.raises(ValueError, match=rf"^{name} "):
        algos.trpo_update(pol, theta, batch, **kwargs)


def test_update_arguments_are_checked_naming_them(setup):
    pol, theta, batch = setup
    for fn, kwargs, name in ((algos.vpg_update, dict(lr=0.0), "lr"),
                             (algos.npg_update, dict(delta=0.0), "delta"),
                             (algos.npg_update, dict(damping=-1.0), "damping")):
        with pytest.raises(ValueError, match=rf"^{name} "):
            fn(pol, theta, batch, **kwargs)
    with pytest.raises(ValueError, match="^delta "):
        algos.natural_step(np.ones(2), np.ones(2), 0.0)
    with pytest.raises(ValueError, match="not positive definite"):   # x^T F x = 0: no step
        algos.natural_step(np.array([1.0, 0.0]), np.array([0.0, 3.0]), 0.01)


def test_adam_steps_are_lr_times_g_over_abs_g_plus_eps_for_a_constant_gradient():
    # bias correction makes m_hat = g and v_hat = g^2 exactly at every step when g is constant
    g = np.array([2.0, -0.5, 1e-9, 0.0])
    opt = algos.Adam(lr=0.1)
    theta = np.zeros(4)
    for t in range(1, 4):
        theta = opt.step(theta, g)
        np.testing.assert_allclose(theta, t * 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=0)
    assert opt.t == 3


def test_ppo_default_rng_is_seed_0_and_a_given_rng_shuffles_the_minibatches(setup):
    pol, theta, batch = setup

    def run(rng):
        return algos.ppo_update(pol, theta, batch, algos.Adam(), epochs=2, minibatch_size=150,
                                rng=rng).theta

    np.testing.assert_array_equal(run(None), run(np.random.default_rng(0)))
    assert np.max(np.abs(run(np.random.default_rng(1)) - run(np.random.default_rng(2)))) > 1e-6


def test_ppo_first_full_batch_step_is_adam_on_the_policy_gradient(setup):
    # at theta_old every ratio is 1, inside the clip range, so the clipped surrogate's gradient
    # is the policy gradient g; Adam's first step is lr * g / (|g| + eps)
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    g = algos.policy_gradient(pol, theta, batch, adv)
    info = algos.ppo_update(pol, theta, batch, algos.Adam(lr=1e-3), epochs=1,
                            minibatch_size=len(batch), rng=np.random.default_rng(0))
    np.testing.assert_allclose(info.theta - theta, 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-7,
                               atol=1e-15)


def test_ppo_clip_reaches_the_gradient(setup):
    pol, theta, batch = setup

    def run(clip):
        return algos.ppo_update(pol, theta, batch, algos.Adam(lr=1e-2), clip=clip, epochs=4,
                                minibatch_size=100, rng=np.random.default_rng(0))

    tight, loose = run(0.01), run(0.3)
    assert np.max(np.abs(tight.theta - loose.theta)) > 1e-4
    assert tight.measured_kl < loose.measured_kl


def test_ppo_target_kl_threshold_is_exactly_1_5_times_target_kl(setup):
    pol, theta, batch = setup

    def run(epochs, target_kl=None):
        adam = algos.Adam(lr=1e-2)
        info = algos.ppo_update(pol, theta, batch, adam, epochs=epochs, minibatch_size=100,
                                rng=np.random.default_rng(0), target_kl=target_kl)
        return info, adam.t

    one, steps = run(1)
    kl1 = one.measured_kl
    stopped, t_stopped = run(5, target_kl=kl1 / 1.5 * 0.99)       # KL_1 just above 1.5 target
    assert t_stopped == steps
    np.testing.assert_array_equal(stopped.theta, one.theta)
    _, t_more = run(5, target_kl=kl1 / 1.5 * 1.01)                # KL_1 just below it
    assert t_more > steps


@pytest.mark.parametrize("delta", [0.02, 10.0])          # 10: Pendulum's line search backtracks
def test_trpo_line_search_sees_the_surrogate_and_kl_of_each_attempt(setup, delta):
    """The line search's shared-forward-pass objectives give, at every attempt, the KL and the
    improvement that ``policy.kl`` and ``surrogate`` compute on their own."""
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    info = algos.trpo_update(pol, theta, batch, delta=delta)
    attempts = info.line_search.attempts
    assert info.accepted
    full_step = (info.theta - theta) / attempts[-1].coef
    L_old = algos.surrogate(pol, theta, batch, adv)
    for attempt in attempts:
        t = theta + attempt.coef * full_step
        np.testing.assert_allclose(attempt.kl, pol.kl(theta, t, batch.obs), rtol=1e-9)
        np.testing.assert_allclose(attempt.improvement, algos.surrogate(pol, t, batch, adv) - L_old,
                                   rtol=1e-7, atol=1e-13)
    if isinstance(pol, GaussianPolicy) and delta == 10.0:
        assert len(attempts) > 1 and attempts[0].reason != "accepted"


def test_line_search_objectives_at_any_theta_in_any_order(setup):
    """The kept forward pass never serves a theta it was not computed at."""
    pol, theta, batch = setup
    adv = algos.normalized(batch.advantages)
    surrogate_at, kl_at = algos._line_search_objectives(pol, theta, batch, adv)
    rng = np.random.default_rng(3)
    thetas = [theta + 0.2 * rng.standard_normal(len(theta)) for _ in range(3)]
    for t in (thetas[0], thetas[1], thetas[1], thetas[0], theta, thetas[2]):
        for ask in ("kl", "surrogate", "kl"):
            if ask == "kl":
                assert kl_at(t.copy()) == pol.kl(theta, t, batch.obs)
            else:
                assert surrogate_at(t.copy()) == algos.surrogate(pol, t, batch, adv)


def test_log_prob_and_kl_are_log_prob_and_kl_per_state(setup):
    pol, theta, batch = setup
    other = theta + 0.1 * np.random.default_rng(2).standard_normal(len(theta))
    log_prob, kl = pol.log_prob_and_kl(other, batch.obs, batch.actions, pol.dist_params(theta, batch.obs))
    np.testing.assert_array_equal(log_prob, pol.log_prob(other, batch.obs, batch.actions))
    np.testing.assert_array_equal(kl, pol.kl_per_state(theta, other, batch.obs))
    assert kl.min() >= 0 and kl.max() > 0
