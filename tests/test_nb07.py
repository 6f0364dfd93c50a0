"""Notebook 07 (beyond TRPO): PPO's exact clipped objective on the running example, the plot
helpers, the self-checks of its exercises, and the stored notebook's shape.

The library's PPO pieces themselves (clipped surrogate gradient vs finite differences, the
updates) are tested in tests/test_algos_train.py.
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from trpo_lite import algos as _algos
from trpo_lite.course import ch07_capstone, ch07_checks, ch07_figures
from trpo_lite.course import ppo_example as ppo
from trpo_lite.course.checking import central_difference_gradient
from trpo_lite.course.running_example import running_example, soft_advantages
from trpo_lite.fisher import make_fisher_vector_product

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "07_beyond_trpo.ipynb"
EXAMPLE = running_example()
THETA_OLDS = [np.array([0.0, -1.0]), np.array([-4.0, -4.0]), np.array([1.5, 2.0]),
              np.array([-1.0, 3.0])]


# ------------------------------------------------- the exact PPO objective on the running example
@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_soft_advantages_average_to_zero_under_the_old_policy(theta_old):
    A = soft_advantages(EXAMPLE, theta_old)
    assert np.allclose(np.sum(EXAMPLE.pi(theta_old) * A, axis=1), 0.0, atol=1e-12)


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_ratio_objective_matches_J_in_value_and_gradient_at_theta_old(theta_old):
    L_clip, L = ppo.ppo_objectives(EXAMPLE, theta_old, theta_old)
    assert float(L) == pytest.approx(EXAMPLE.J(theta_old), abs=1e-10)
    assert float(L_clip) == pytest.approx(float(L), abs=1e-12)
    g = central_difference_gradient(lambda t: float(ppo.ppo_objectives(EXAMPLE, theta_old, t)[1]),
                                    theta_old, eps=1e-6)
    assert np.allclose(g, EXAMPLE.grad_J(theta_old), rtol=1e-6, atol=1e-8)
    # and L_clip has the same gradient there: at r = 1 no sample is clipped
    assert np.allclose(ppo.clipped_objective_gradient(EXAMPLE, theta_old, theta_old),
                       EXAMPLE.grad_J(theta_old), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_clipped_objective_is_pessimistic_and_equals_L_inside_the_clip_range(theta_old):
    rng = np.random.default_rng(0)
    theta = theta_old + rng.normal(size=(400, 2)) * np.repeat([0.1, 1.5], 200)[:, None]
    L_clip, L = ppo.ppo_objectives(EXAMPLE, theta_old, theta, clip=0.2)
    assert np.all(L_clip <= L + 1e-12)
    r, _ = ppo.ppo_ratios(EXAMPLE, theta_old, theta)
    inside = np.all((r >= 0.8) & (r <= 1.2), axis=(1, 2))
    assert inside.any()
    assert np.allclose(L_clip[inside], L[inside], atol=1e-12)


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_exact_clipped_objective_is_the_rho_pi_old_average_of_the_library_per_sample_objective(theta_old):
    theta = theta_old + np.array([0.7, -0.4])
    r, weight = ppo.ppo_ratios(EXAMPLE, theta_old, theta)
    A = soft_advantages(EXAMPLE, theta_old)
    per_sample = ppo.clipped_objective_per_sample(r.ravel(), A.ravel(), 0.2)  # algos.clipped_surrogate
    state_action_weights = (EXAMPLE.rho(theta_old)[:, None] * EXAMPLE.pi(theta_old)).ravel()
    L_clip, _ = ppo.ppo_objectives(EXAMPLE, theta_old, theta, 0.2)
    assert float(L_clip) == pytest.approx(EXAMPLE.J(theta_old) + state_action_weights @ per_sample, abs=1e-10)


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_clipped_gradient_matches_finite_differences_away_from_the_kinks(theta_old):
    rng = np.random.default_rng(1)
    checked = 0
    for theta in theta_old + rng.normal(scale=1.0, size=(30, 2)):
        r, _ = ppo.ppo_ratios(EXAMPLE, theta_old, theta)
        if np.min(np.abs(np.abs(r - 1) - 0.2)) < 1e-3:       # too close to a clip boundary
            continue
        g_fd = central_difference_gradient(lambda t: float(ppo.ppo_objectives(EXAMPLE, theta_old, t)[0]),
                                           theta, eps=1e-6)
        assert np.allclose(ppo.clipped_objective_gradient(EXAMPLE, theta_old, theta), g_fd,
                           rtol=1e-5, atol=1e-7)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_clip_box_bounds_put_the_ratios_at_one_plus_minus_eps(theta_old):
    box = ppo.clip_box(EXAMPLE, theta_old, clip=0.2)
    for (s, a), bounds in box.items():
        for target, theta_s in zip((0.8, 1.2), bounds):
            if np.isfinite(theta_s):
                theta = np.array(theta_old, dtype=float)
                theta[s] = theta_s
                r, _ = ppo.ppo_ratios(EXAMPLE, theta_old, theta)
                assert r[s, a] == pytest.approx(target, rel=1e-10)
            else:   # unreachable: the new probability would exceed 1
                assert target * EXAMPLE.pi(theta_old)[s, a] >= 1


@pytest.mark.parametrize("theta_old", THETA_OLDS)
def test_clipped_objective_is_flat_beyond_the_corner(theta_old):
    corner = ppo.flat_corner(EXAMPLE, theta_old, clip=0.2)
    if not np.all(np.isfinite(corner)):
        # a ratio that cannot reach its bound: L_clip keeps a gradient however far theta goes
        s = int(np.flatnonzero(~np.isfinite(corner))[0])
        far = np.array(theta_old, dtype=float)
        far[s] += np.sign(corner[s]) * 5.0
        assert ppo.clipped_objective_gradient(EXAMPLE, theta_old, far)[s] != 0
        return
    outward = np.sign(corner - theta_old)
    for extra in (1e-6, 0.3, 2.0):
        theta = corner + extra * outward
        assert np.allclose(ppo.clipped_objective_gradient(EXAMPLE, theta_old, theta), 0.0)
    # just inside the corner some sample still pushes
    assert np.any(ppo.clipped_objective_gradient(EXAMPLE, theta_old, corner - 1e-3 * outward) != 0)


def test_gradient_ascent_on_L_clip_stops_near_the_corner_but_adam_and_large_steps_overshoot():
    theta_old = np.array([0.0, -1.0])
    corner = ppo.flat_corner(EXAMPLE, theta_old)
    sgd = ppo.ppo_path(EXAMPLE, theta_old, lr=0.2, n_steps=40, optimizer="sgd")
    adam = ppo.ppo_path(EXAMPLE, theta_old, lr=0.05, n_steps=40, optimizer="adam")
    big = ppo.ppo_path(EXAMPLE, theta_old, lr=0.5, n_steps=40, optimizer="sgd")
    assert sgd.shape == (41, 2) and np.array_equal(sgd[0], theta_old)
    assert np.allclose(sgd[-1], sgd[-2])                         # stopped: zero gradient
    assert np.linalg.norm(sgd[-1] - corner) < 0.1
    kl = {name: EXAMPLE.kl(theta_old, path[-1]) for name, path in
          (("sgd", sgd), ("adam", adam), ("big", big))}
    corner_kl = EXAMPLE.kl(theta_old, corner)
    assert kl["sgd"] < 1.5 * corner_kl < kl["adam"] and kl["sgd"] < kl["big"]
    with pytest.raises(ValueError, match="optimizer"):
        ppo.ppo_path(EXAMPLE, theta_old, optimizer="rmsprop")


# ------------------------------------------------------------------ data helpers and figures
def synthetic_payload():
    """Two algorithms x two seeds with hand-made logs (the data/ layout)."""
    runs = []
    for algo, speed in (("trpo", 1.0), ("ppo", 2.0)):
        for seed in (0, 1):
            steps = [1000 * (i + 1) for i in range(10)]
            runs.append({"algo": algo, "seed": seed, "env_steps": steps,
                         "mean_return": [None] + [10.0 * i + seed for i in range(1, 10)],
                         "wall_seconds": [speed * 0.5 * (i + 1) + 0.1 * seed for i in range(10)],
                         "measured_kl": [0.01] * 9 + [None], "accepted": [True] * 10,
                         "line_search_attempts": [1] * 10,
                         "solved_at_step": None, "solved_at_seconds": None})
    return {"env_id": "CartPole-v1", "total_steps": 10_000, "algos": ["trpo", "ppo"],
            "configs": {"trpo": {"delta": 0.02}, "ppo": {}}, "runs": runs}


def test_curves_vs_wall_seconds_interpolates_inside_each_run_and_is_nan_outside():
    payload = synthetic_payload()
    grid = np.array([0.0, 1.5, 3.0, 5.0, 50.0])
    values = ch07_figures.curves_vs_wall_seconds(payload, "trpo", grid)
    assert values.shape == (2, 5)
    assert np.isnan(values[:, 0]).all() and np.isnan(values[:, -1]).all()
    # seed 0: wall 1.0 -> return 10, 1.5 -> 20, 3.0 -> 50, 5.0 -> 90
    assert np.allclose(values[0, 1:4], [20.0, 50.0, 90.0])
    with pytest.raises(ValueError, match="no runs"):
        ch07_figures.curves_vs_wall_seconds(payload, "npg", grid)


def test_draw_return_vs_steps_and_seconds_draws_a_median_per_algorithm_on_the_common_time_span():
    payload = synthetic_payload()
    fig, axes = plt.subplots(1, 2)
    drawn = ch07_figures.draw_return_vs_steps_and_seconds(axes, payload, ("trpo", "ppo"), threshold=475)
    assert set(drawn) == {"trpo", "ppo"}
    sec_grid, med = drawn["trpo"]["seconds"]
    assert sec_grid[-1] == pytest.approx(5.0)                    # the shortest run ended at 5 s
    assert np.isfinite(med[sec_grid >= 1.1]).all()
    assert len(axes[0].lines) == 3 and len(axes[1].lines) == 3  # two medians + the solve line


def test_draw_pendulum_trpo_plots_every_seed_and_the_delta_line():
    payload = synthetic_payload()
    fig, axes = plt.subplots(1, 2)
    out = ch07_figures.draw_pendulum_trpo(axes, payload, delta=0.02, threshold=-200)
    assert out["kl"].shape == (2, 10) and np.isnan(out["kl"][:, -1]).all()
    assert len(axes[1].lines) == 3                               # two seeds + delta
    assert axes[1].lines[-1].get_ydata()[0] == pytest.approx(0.02)


def test_draw_seconds_per_iteration_uses_the_differences_of_the_wall_clock():
    fig, ax = plt.subplots()
    per_algo = ch07_figures.draw_seconds_per_iteration(ax, synthetic_payload(), algos=("trpo", "ppo"))
    assert np.allclose(per_algo["trpo"][1:10], 0.5) and np.allclose(per_algo["ppo"][1:10], 1.0)
    assert len(per_algo["trpo"]) == 20


def test_draw_clipped_objective_per_sample_is_flat_only_on_the_helpful_side():
    fig, axes = plt.subplots(1, 2)
    drawn = ch07_figures.draw_clipped_objective_per_sample(axes, clip=0.2)
    r, obj = drawn[1.0]
    assert np.allclose(obj[r > 1.2], 1.2) and np.allclose(obj[r < 1], r[r < 1])
    r, obj = drawn[-1.0]
    assert np.allclose(obj[r < 0.8], -0.8) and np.allclose(obj[r > 1], -r[r > 1])


def test_draw_clip_map_and_objectives_along_line_draw_what_they_return():
    theta_old = np.array([0.0, -1.0])
    fig, ax = plt.subplots()
    path = ppo.ppo_path(EXAMPLE, theta_old, n_steps=5)
    out = ch07_figures.draw_clip_map(ax, EXAMPLE, theta_old, 0.2, 0.02, box=((-1, 1.5), (-2, 0.5)),
                              paths={"ppo": path}, corner=ppo.flat_corner(EXAMPLE, theta_old),
                              n_grid=41)
    assert out["L_clip"].shape == (41, 41) and out["kl"].shape == (41, 41)
    assert np.allclose(ax.lines[-1].get_xydata(), path)
    fig, ax = plt.subplots()
    t = np.linspace(-1, 2, 7)
    lines = ch07_figures.draw_objectives_along_line(ax, t, {"a": t, "b": t ** 2}, t_kl=1.0, t_clip=1.5)
    assert np.allclose(lines["b"].get_ydata(), t ** 2)


# ------------------------------------------------------------------ self-checks
def clipped_objective(r, A, eps):
    return np.minimum(r * A, np.clip(r, 1 - eps, 1 + eps) * A)


def clipped_gradient_weights(r, A, eps):
    return r * A * np.where(A >= 0, r < 1 + eps, r > 1 - eps)


def gaussian_kl(mo, lo, mn, ln):
    return np.sum(ln - lo + (np.exp(2 * lo) + (mo - mn) ** 2) / (2 * np.exp(2 * ln)) - 0.5, axis=1)


CHECKS = [(ch07_checks.check_clipped_objective, clipped_objective),
          (ch07_checks.check_clipped_gradient_weights, clipped_gradient_weights),
          (ch07_checks.check_gaussian_kl, gaussian_kl)]


@pytest.mark.parametrize("check, solution", CHECKS)
def test_self_check_accepts_a_correct_solution(check, solution, capsys):
    check(solution)
    assert "checks passed" in capsys.readouterr().out


def test_per_sample_reference_is_algos_clipped_surrogate_one_sample_at_a_time():
    from trpo_lite import algos

    ratio, adv = np.array([0.5, 0.9, 1.1, 1.6]), np.array([1.0, -2.0, 0.5, -1.0])
    ref = ppo.clipped_objective_per_sample(ratio, adv, 0.2)
    assert np.allclose(ref, clipped_objective(ratio, adv, 0.2))
    policy, theta, batch = ppo.ratio_batch(ratio, adv)
    assert algos.clipped_surrogate(policy, theta, batch, adv, 0.2) == pytest.approx(ref.mean())


def test_check_cases_cover_batch_size_one_and_both_signs_on_both_sides():
    labels = [label for label, _ in ch07_checks._clip_ratio_cases()]
    for needle in ("A > 0, r > 1 + eps", "A > 0, r < 1 - eps", "A < 0, r < 1 - eps", "A < 0, r > 1 + eps"):
        assert any("batch size 1" in label and needle in label for label in labels), needle
    grad_labels = [label for label, _ in ch07_checks._clip_gradient_cases()]
    assert sum("batch size 1" in label for label in grad_labels) == 4
    assert any("Gaussian" in label for label in grad_labels)
    kl_cases = ch07_checks._gaussian_kl_cases()
    assert any(args[0].shape[0] == 1 for _, args in kl_cases)


@pytest.mark.parametrize("check, wrong, hint", [
    (ch07_checks.check_clipped_objective, lambda r, A, e: np.clip(r, 1 - e, 1 + e) * A, "only the clipped term"),
    (ch07_checks.check_clipped_objective, lambda r, A, e: np.maximum(r * A, np.clip(r, 1 - e, 1 + e) * A),
     "max instead of min"),
    (ch07_checks.check_clipped_objective, lambda r, A, e: np.minimum(r, np.clip(r, 1 - e, 1 + e)) * A,
     "over the ratios"),
    (ch07_checks.check_clipped_gradient_weights, lambda r, A, e: r * A, "no sample is ever switched off"),
    (ch07_checks.check_clipped_gradient_weights, lambda r, A, e: r * A * (np.abs(r - 1) <= e),
     "only the side that would help"),
    (ch07_checks.check_clipped_gradient_weights, lambda r, A, e: A * np.where(A >= 0, r < 1 + e, r > 1 - e),
     "the ratio is missing"),
    (ch07_checks.check_gaussian_kl, lambda mo, lo, mn, ln: gaussian_kl(mn, ln, mo, lo), "direction is reversed"),
    (ch07_checks.check_gaussian_kl, lambda mo, lo, mn, ln: np.sum(
        ln - lo + (np.exp(lo) + (mo - mn) ** 2) / (2 * np.exp(ln)) - 0.5, axis=1), "sigma^2"),
])
def test_self_check_names_the_mistake(check, wrong, hint):
    with pytest.raises(AssertionError, match="likely cause") as info:
        check(wrong)
    assert hint in str(info.value)


def test_gaussian_kl_check_reports_a_missing_sum_over_action_dimensions():
    with pytest.raises(AssertionError, match="wrong shape"):
        ch07_checks.check_gaussian_kl(lambda mo, lo, mn, ln: ln - lo + (np.exp(2 * lo) + (mo - mn) ** 2)
                                 / (2 * np.exp(2 * ln)) - 0.5)


# ------------------------------------------------------------------ the stored notebook
@pytest.fixture(scope="module")
def notebook():
    if not NOTEBOOK.exists():
        pytest.skip("notebook 07 not written yet")
    return json.loads(NOTEBOOK.read_text())


def test_notebook_loads_precomputed_results_from_data_and_names_the_command(notebook):
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    assert 'load_experiment("cartpole_curves")' in code and 'load_experiment("pendulum_trpo")' in code
    assert "data_dir" not in code, "the notebook must read the committed data/, not a stand-in"
    assert "python -m trpo_lite make-data" in text


# ------------------------------------------------------------------ the capstone (ch07_capstone)
def _my_cg(Avp, b, n_iters):
    x, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for _ in range(n_iters):
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr_new = r @ r
        p, rr = r + (rr_new / rr) * p, rr_new
    return x


def _line_search(theta_old, full_step, surrogate, kl, delta, backtrack_coef=0.8, max_backtracks=10):
    L_old, attempts = surrogate(theta_old), []
    for j in range(max_backtracks + 1):
        theta = theta_old + backtrack_coef ** j * full_step
        attempts.append((backtrack_coef ** j, kl(theta), surrogate(theta) - L_old))
        if attempts[-1][1] <= delta and attempts[-1][2] > 0:
            return theta, attempts
    return theta_old, attempts


def my_trpo_update(policy, theta, batch, delta, cg_iters, damping):
    adv = _algos.normalized(batch.advantages)
    g = _algos.policy_gradient(policy, theta, batch, adv)
    fvp = make_fisher_vector_product(policy, theta, batch.obs, damping)
    x = _my_cg(fvp, g, cg_iters)
    full_step = np.sqrt(2 * delta / (x @ fvp(x))) * x
    return _line_search(theta, full_step, lambda t: _algos.surrogate(policy, t, batch, adv),
                        lambda t: policy.kl(theta, t, batch.obs), delta)


def test_capstone_check_accepts_an_update_assembled_from_hand_written_cg_and_line_search(capsys):
    ch07_capstone.check_trpo_update(my_trpo_update)
    out = capsys.readouterr().out
    assert "TRPO update (theta_new): all 4 checks passed" in out and "attempts): all 4 checks passed" in out


def test_capstone_cases_backtrack_and_keep_their_decisions_away_from_round_off():
    n_backtracking = 0
    for _, (policy, theta, batch, delta, cg_iters, damping) in ch07_capstone.update_cases():
        info = _algos.trpo_update(policy, theta, batch, delta=delta, cg_iters=cg_iters, damping=damping)
        n_backtracking += len(info.line_search.attempts) > 1
        for a in info.line_search.attempts:       # no decision within round-off of its threshold
            assert abs(a.kl - delta) > 1e-6 * delta and abs(a.improvement) > 1e-9
    assert n_backtracking >= 2


@pytest.mark.parametrize("k", range(len(ch07_capstone.MISTAKES)))
def test_capstone_check_names_each_known_mistake(k):
    why, wrong = ch07_capstone.MISTAKES[k]
    with pytest.raises(AssertionError, match="likely cause") as info:
        ch07_capstone.check_trpo_update(lambda *args: (wrong(*args), [None]))
    assert why in str(info.value)


def test_capstone_check_reports_a_stub_as_not_implemented():
    def stub(*args):
        raise NotImplementedError
    with pytest.raises(AssertionError, match="not implemented"):
        ch07_capstone.check_trpo_update(stub)


def test_capstone_training_run_check_accepts_the_library_log_and_rejects_a_changed_one(capsys):
    from trpo_lite.train import TrainConfig, train

    config = TrainConfig(hidden=(16,))
    rows = list(train("trpo", "CartPole-v1", seed=0, total_steps=12_000, config=config).log)
    ch07_capstone.check_training_run(rows, 0, config)
    assert "capstone training run: all 2 checks passed" in capsys.readouterr().out
    changed = [dict(r, mean_return=r["mean_return"] * (1.01 if i == 3 else 1.0)) for i, r in enumerate(rows)]
    with pytest.raises(AssertionError, match="iteration 4"):
        ch07_capstone.check_training_run(changed, 0, config)


def test_committed_update_cost_data_covers_1e2_to_1e5_parameters_for_trpo_and_ppo():
    from trpo_lite.data import load_json

    payload, meta = load_json("update_cost.json", "python benchmarks/update_cost.py",
                              required=("n_params", "trpo_s", "ppo_s", "npg_s", "fvp_s", "cg_iterations"))
    n = np.array(payload["n_params"])
    assert n.min() < 1e3 and n.max() > 1e5 and np.all(np.diff(n) > 0)
    assert all(t > 0 for t in payload["trpo_s"] + payload["ppo_s"] + payload["fvp_s"])
    assert payload["npg_s"][0] is not None and payload["npg_s"][-1] is None   # explicit F skipped when too big
    assert meta["command"] == "python benchmarks/update_cost.py"


def test_capstone_loop_with_the_library_update_reproduces_train_trpo_and_refuses_other_line_searches():
    from trpo_lite.train import TrainConfig, train

    def library_update(policy, theta, batch, delta, cg_iters, damping):
        info = _algos.trpo_update(policy, theta, batch, delta=delta, cg_iters=cg_iters, damping=damping)
        return info.theta, info.line_search.attempts

    config = TrainConfig(hidden=(8,))
    rows = ch07_capstone.train_with_update(library_update, seed=3, total_steps=3000, config=config)
    log = train("trpo", "CartPole-v1", seed=3, total_steps=3000, config=config).log
    assert [r["env_steps"] for r in rows] == [r["env_steps"] for r in log]
    assert [r["mean_return"] for r in rows] == [r["mean_return"] for r in log]
    assert [r["line_search_attempts"] for r in rows] == [r["line_search_attempts"] for r in log]
    with pytest.raises(ValueError, match="backtrack_coef"):
        ch07_capstone.train_with_update(library_update, config=TrainConfig(backtrack_coef=0.5))
    with pytest.raises(TypeError, match="update_fn"):
        ch07_capstone.train_with_update(None)

    def stub(*args):
        raise NotImplementedError
    with pytest.raises(AssertionError, match="not implemented"):
        ch07_capstone.train_with_update(stub, total_steps=1000)


# ------------------------------------------------------------------ the cost of an update (section 1e)
PAYLOAD = dict(n_params=[10, 100, 1000], gradient_s=[1.0, 2.0, 4.0], fvp_s=[0.5, 1.0, 2.0],
               cg_iterations=[3, 4, 5], ppo_epochs=10, trpo_s=[3.0, 7.0, 17.0], ppo_s=[10.0, 20.0, 40.0],
               npg_s=[1.0, 100.0, None], ppo_adam_steps=[40, 40, 40], fisher_megabytes=[8e-4, 0.08, 8.0])


def test_update_cost_model_is_one_gradient_plus_cg_plus_one_fvps_and_ppo_epochs_gradients():
    model = ch07_figures.update_cost_model(PAYLOAD)
    assert np.allclose(model["trpo"], [1.0 + 4 * 0.5, 2.0 + 5 * 1.0, 4.0 + 6 * 2.0])
    assert np.allclose(model["ppo"], [10.0, 20.0, 40.0])


def test_draw_update_cost_plots_every_measured_series_and_the_models():
    fig, axes = plt.subplots(1, 2)
    ch07_figures.draw_update_cost(axes, PAYLOAD)
    lines = {line.get_label(): line for line in axes[0].lines}
    assert np.allclose(lines["TRPO (CG on Fisher-vector products), measured"].get_ydata(), PAYLOAD["trpo_s"])
    npg = lines["NPG with the explicit F and a direct solve, measured"].get_ydata()
    assert np.allclose(npg[:2], [1.0, 100.0]) and np.isnan(npg[2])
    assert np.allclose(lines["TRPO cost model from unit costs"].get_ydata(), [3.0, 7.0, 16.0])
    assert axes[0].get_xscale() == axes[0].get_yscale() == "log"
    assert np.allclose(axes[1].lines[0].get_ydata(), PAYLOAD["fisher_megabytes"])


def test_clip_map_labels_each_clip_line_on_the_map_with_the_ratio_it_marks():
    theta_old = np.array([0.0, -1.0])
    fig, ax = plt.subplots()
    box = ((-1.0, 1.6), (-2.0, 0.5))
    out = ch07_figures.draw_clip_map(ax, EXAMPLE, theta_old, 0.2, 0.02, box=box, n_grid=21)
    labels = [t.get_label() for t in ax.get_legend().get_texts()] + [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any("epsilon" in s or "r(s" in s for s in labels), "the clip lines are labelled on the map"
    assert len(ax.get_legend().get_texts()) == 1                        # the KL ball; no paths given
    texts = {t.get_text(): t.get_position() for t in ax.texts if t.get_text().startswith("$r(")}
    expected = {}
    for (s, a), bounds in out["box"].items():
        for r, b in zip((0.8, 1.2), bounds):
            if np.isfinite(b) and box[s][0] < b < box[s][1]:
                expected[rf"$r(s_{s}, a_{a}) = {r:g}$"] = (s, b)
    assert set(texts) == set(expected) and len(expected) >= 4
    for text, (s, b) in expected.items():
        assert texts[text][s] == pytest.approx(b)        # x of a vertical (state 0), y of a horizontal line


def test_notebook_has_the_cost_section_the_capstone_and_no_assert_quoting_the_prose(notebook):
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    assert 'load_json("update_cost.json", "python benchmarks/update_cost.py"' in code
    assert "python benchmarks/update_cost.py" in text
    assert "### 1f. Convolutional and recurrent policies" in text and "Exercise 4 (capstone)" in text
    assert "ch07_capstone.check_trpo_update(my_trpo_update)" in code
    assert "ch07_capstone.check_training_run(" in code
    assert "text says" not in code and "text states" not in code, "assert messages must not quote the prose"
    solutions = [c for c in notebook["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) == 4
