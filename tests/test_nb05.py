"""Notebook 05 (monotonic improvement): its self-checks, its plot helpers and the claims it makes
beyond the tests of trpo_lite.mdp.

The theorems themselves (performance-difference identity, the bound, MM monotonicity) are
tested in tests/test_mdp.py.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from trpo_lite import mdp as tab
from trpo_lite import monotonic
from trpo_lite.course import ch05
from trpo_lite.course.checking import central_difference_hessian
from trpo_lite.linesearch import backtracking_line_search

CHECKS = [ch05.check_tabular_policy_evaluation, ch05.check_tabular_advantages,
          ch05.check_tabular_surrogate, ch05.check_penalty_coefficient]
REFERENCES = [tab.policy_evaluation, tab.advantages, tab.surrogate, tab.penalty_coefficient]


def random_case(seed, S=4, A=3, gamma=0.9):
    rng = np.random.default_rng(seed)
    mdp = tab.random_mdp(S, A, gamma, rng)
    return mdp, rng.standard_normal((S, A)), rng


# ------------------------------------------------------------------ self-checks
@pytest.mark.parametrize("check, reference", list(zip(CHECKS, REFERENCES)))
def test_self_check_accepts_the_library_reference(check, reference, capsys):
    check(reference)
    assert "checks passed" in capsys.readouterr().out


def test_self_checks_cover_one_state_one_action_and_gamma_zero():
    labels = [label for label, _ in ch05._tabular_cases(1)]
    assert any(label.startswith("S=1, A=1") for label in labels)
    assert any("gamma=0.0" in label for label in labels)
    assert len(labels) >= 5


def _P_pi(mdp, pi):
    return np.einsum("sa,sat->st", pi, mdp.P)


def test_policy_evaluation_check_names_a_transposed_P_pi():
    def transposed(mdp, pi):
        return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * _P_pi(mdp, pi).T,
                               np.sum(pi * mdp.R, axis=1))

    with pytest.raises(AssertionError, match="P_pi is transposed"):
        ch05.check_tabular_policy_evaluation(transposed)


def test_policy_evaluation_check_reports_a_wrong_shape():
    with pytest.raises(AssertionError, match="wrong shape"):
        ch05.check_tabular_policy_evaluation(lambda mdp, pi: tab.policy_evaluation(mdp, pi)[:, None])


def test_advantages_check_names_Q_instead_of_A():
    with pytest.raises(AssertionError, match="returned Q"):
        ch05.check_tabular_advantages(tab.q_values)


def test_advantages_check_names_a_missing_gamma():
    def no_gamma(mdp, pi):
        V = tab.policy_evaluation(mdp, pi)
        return mdp.R + mdp.P @ V - V[:, None]

    with pytest.raises(AssertionError, match="forgot gamma"):
        ch05.check_tabular_advantages(no_gamma)


def test_advantages_check_reports_a_sign_error():
    with pytest.raises(AssertionError, match="wrong sign"):
        ch05.check_tabular_advantages(lambda mdp, pi: -tab.advantages(mdp, pi))


def test_surrogate_check_names_rho_new_the_exact_return():
    with pytest.raises(AssertionError, match="used rho_new"):
        ch05.check_tabular_surrogate(lambda mdp, pi_old, pi_new: tab.eta(mdp, pi_new))


def test_surrogate_check_names_the_normalised_visitation():
    def normalised(mdp, pi_old, pi_new):
        rho = (1 - mdp.gamma) * tab.discounted_visitation(mdp, pi_old)
        return tab.eta(mdp, pi_old) + rho @ np.sum(pi_new * tab.advantages(mdp, pi_old), axis=1)

    with pytest.raises(AssertionError, match="normalised visitation"):
        ch05.check_tabular_surrogate(normalised)


def test_surrogate_check_names_a_missing_eta_old():
    def no_eta(mdp, pi_old, pi_new):
        rho = tab.discounted_visitation(mdp, pi_old)
        return rho @ np.sum(pi_new * tab.advantages(mdp, pi_old), axis=1)

    with pytest.raises(AssertionError, match="forgot the constant eta"):
        ch05.check_tabular_surrogate(no_eta)


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, p: 4 * np.max(np.abs(tab.advantages(m, p))) * m.gamma / (1 - m.gamma), "once"),
    (lambda m, p: np.max(np.abs(tab.advantages(m, p))) * m.gamma / (1 - m.gamma) ** 2, "factor 4"),
    (lambda m, p: 4 * np.max(tab.advantages(m, p)) * m.gamma / (1 - m.gamma) ** 2, "ABSOLUTE"),
])
def test_penalty_check_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ch05.check_penalty_coefficient(wrong)


def test_self_check_reports_an_exception_with_its_case():
    def crashes_on_one_state(mdp, pi):
        if mdp.n_states == 1:
            raise IndexError("boom")
        return tab.policy_evaluation(mdp, pi)

    with pytest.raises(AssertionError, match=r"\[S=1, A=1, gamma=0.9\] raised IndexError"):
        ch05.check_tabular_policy_evaluation(crashes_on_one_state)


# ------------------------------------------------------------------ plot helpers
def test_loglog_with_slope_recovers_the_exponent_and_draws_data_and_reference():
    fig, ax = plt.subplots()
    t = np.logspace(-3, 0, 10)
    slope = ch05.loglog_with_slope(ax, t, 3.0 * t**2 + 1e-3 * t**3, slope=2, fit_below=0.1)
    assert abs(slope - 2) < 1e-2
    assert len(ax.lines) == 2 and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[1].get_ydata()[0], ax.lines[0].get_ydata()[0])


def test_mm_line_picture_marks_old_policy_and_argmax_of_M():
    fig, ax = plt.subplots()
    t = np.linspace(-1, 2, 301)
    eta_t, L_t = t + 0.1 * t**2, t
    M_t = t - 5 * t**2                                # argmax at t = 0.1
    out = ch05.mm_line_picture(ax, t, eta_t, L_t, M_t)
    assert abs(out["t_star"] - 0.1) < 1e-9
    assert out["M_star"] == pytest.approx(0.05) and out["eta_star"] == pytest.approx(0.101)
    xy = {line.get_label(): line.get_xydata() for line in ax.lines}
    assert any("old policy" in k for k in xy) and any("argmax" in k for k in xy)
    star = next(v for k, v in xy.items() if "argmax" in k)
    np.testing.assert_allclose(star, [[0.1, 0.05]], atol=1e-12)
    lo, hi = ax.get_ylim()
    assert lo < min(eta_t.min(), L_t.min()) and hi > max(eta_t.max(), L_t.max())


def test_slack_histogram_uses_log_bins_spanning_all_slacks():
    fig, ax = plt.subplots()
    slack = np.array([1e-4, 1e-2, 1.0, 10.0, 1e3])
    edges = ch05.slack_histogram(ax, slack, np.array([0, 0, 1, 1, 2]), ["a", "b", "c"], n_bins=8)
    assert ax.get_xscale() == "log" and len(edges) == 9
    np.testing.assert_allclose(edges[[0, -1]], [1e-4, 1e3])
    assert np.allclose(np.diff(np.log10(edges)), np.log10(edges[1] / edges[0]))


def test_optimality_gap_curves_start_at_one_and_reach_zero_at_the_optimum():
    fig, ax = plt.subplots()
    gaps = ch05.optimality_gap_curves(ax, {"run": [0.0, 0.5, 0.9, 1.0]}, eta_opt=1.0)
    np.testing.assert_allclose(gaps["run"], [1.0, 0.5, 0.1, 0.0], atol=1e-15)
    assert len(ax.lines) >= 1 and ax.get_yscale() == "log"


# --------------------------------------------- claims the notebook makes beyond trpo_lite.mdp
def mean_kl_hessian_fd(pi_old, logits_old, rho, h=1e-4):
    """Central-difference Hessian of the rho-weighted mean KL(pi_old || softmax(z)) at z = logits_old."""
    def kl(z):
        return tab.mean_kl(pi_old, tab.softmax_policy(z.reshape(logits_old.shape)), rho)

    return central_difference_hessian(kl, logits_old.ravel(), eps=h)


@pytest.mark.parametrize("seed", range(3))
def test_tabular_natural_gradient_is_the_advantage_over_one_minus_gamma(seed):
    """F x = g with x = A / (1 - gamma), F the Hessian of the rho-weighted mean KL (Kakade 2001)."""
    mdp, logits, _ = random_case(seed, S=3, A=3, gamma=(0.5, 0.9, 0.95)[seed])
    pi = tab.softmax_policy(logits)
    rho = tab.discounted_visitation(mdp, pi)
    F = mean_kl_hessian_fd(pi, logits, rho)
    x = tab.advantages(mdp, pi) / (1 - mdp.gamma)
    g = monotonic.grad_eta_softmax(mdp, logits)
    np.testing.assert_allclose(F @ x.ravel(), g.ravel(), rtol=1e-5, atol=1e-6)
    # the block formula the notebook writes down is that same Hessian
    rho_norm = (1 - mdp.gamma) * rho
    blocks = rho_norm[:, None, None] * (pi[:, :, None] * np.eye(3) - pi[:, :, None] * pi[:, None, :])
    F_blocks = np.zeros_like(F)
    for s in range(3):
        F_blocks[3 * s:3 * s + 3, 3 * s:3 * s + 3] = blocks[s]
    np.testing.assert_allclose(F, F_blocks, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("delta", [0.01, 0.05])
def test_kl_constrained_natural_step_keeps_mean_kl_within_delta_and_improves_eta(seed, delta):
    mdp, logits, _ = random_case(10 + seed)
    S, A = logits.shape
    pi = tab.softmax_policy(logits)
    A_pi, rho = tab.advantages(mdp, pi), tab.discounted_visitation(mdp, pi)
    g = monotonic.grad_eta_softmax(mdp, logits)
    x = A_pi / (1 - mdp.gamma)
    full_step = np.sqrt(2 * delta / np.sum(x * g)) * x
    result = backtracking_line_search(
        logits.ravel(), full_step.ravel(),
        surrogate=lambda th: tab.surrogate(mdp, pi, tab.softmax_policy(th.reshape(S, A))),
        kl=lambda th: tab.mean_kl(pi, tab.softmax_policy(th.reshape(S, A)), rho), max_kl=delta)
    assert result.accepted
    pi_new = tab.softmax_policy(result.theta.reshape(S, A))
    assert tab.mean_kl(pi, pi_new, rho) <= delta
    assert tab.eta(mdp, pi_new) > tab.eta(mdp, pi)
    # the theorem's bound cannot certify such a step: its penalty exceeds the promised gain
    assert tab.lower_bound(mdp, pi, pi_new) < tab.eta(mdp, pi)


def test_constraint_multiplier_matches_the_quadratic_kl_step():
    """lambda = sqrt(g^T F^-1 g / (2 delta)) makes the penalised quadratic step have KL delta."""
    mdp, logits, _ = random_case(3)
    pi = tab.softmax_policy(logits)
    x = tab.advantages(mdp, pi) / (1 - mdp.gamma)
    g = monotonic.grad_eta_softmax(mdp, logits)
    delta = 0.02
    lam = np.sqrt(np.sum(x * g) / (2 * delta))
    step = x / lam                                    # argmax g.s - lam * 0.5 s^T F s
    assert 0.5 * np.sum(step * g) / lam == pytest.approx(delta)   # 0.5 s^T F s with F s = g / lam


def test_mm_with_the_theorem_C_is_much_slower_than_a_kl_constrained_step():
    """The notebook's conservativeness claim, on a second MDP, in 5 iterations of each."""
    mdp, logits, _ = random_case(21, S=3, A=2)
    eta0 = tab.eta(mdp, tab.softmax_policy(logits))
    mm = monotonic.mm_run(mdp, logits, 5)
    assert np.all(np.diff(mm.etas) >= 0)
    assert np.max(mm.kls) < 1e-2 * 0.01               # MM steps are far below delta = 0.01
    S, A = logits.shape
    z = logits
    for _ in range(5):
        pi = tab.softmax_policy(z)
        A_pi, rho = tab.advantages(mdp, pi), tab.discounted_visitation(mdp, pi)
        x = A_pi / (1 - mdp.gamma)
        g = monotonic.grad_eta_softmax(mdp, z)
        full_step = np.sqrt(2 * 0.01 / np.sum(x * g)) * x
        z = backtracking_line_search(
            z.ravel(), full_step.ravel(),
            surrogate=lambda th: tab.surrogate(mdp, pi, tab.softmax_policy(th.reshape(S, A))),
            kl=lambda th: tab.mean_kl(pi, tab.softmax_policy(th.reshape(S, A)), rho),
            max_kl=0.01).theta.reshape(S, A)
    assert tab.eta(mdp, tab.softmax_policy(z)) - eta0 > 3 * (mm.etas[-1] - eta0)


# ------------------------------------- sections 5 and 8: the sampled surrogate and the shift
def test_sampled_surrogate_figure_draws_the_exact_values_and_four_se_error_bars():
    fig, ax = plt.subplots()
    exact, target = np.array([0.1, 0.5]), np.array([0.12, 0.55])
    ch05.sampled_surrogate_figure(ax, ["a", "b"], exact, {"with": (exact + 0.01, np.array([0.01, 0.02]))},
                                  target)
    xy = {line.get_label(): line.get_xydata() for line in ax.lines}
    np.testing.assert_allclose(next(v for k, v in xy.items() if k.startswith("exact $L"))[:, 1], exact)
    np.testing.assert_allclose(next(v for k, v in xy.items() if "without" in k)[:, 1], target)
    bars = ax.containers[0]
    segments = bars.lines[2][0].get_segments()          # the vertical error bars
    np.testing.assert_allclose([seg[1, 1] - seg[0, 1] for seg in segments], [0.08, 0.16])
    assert len(ax.get_legend().get_texts()) == 3


def test_shift_figure_fits_the_slopes_and_draws_the_gap_under_both_bounds():
    mdp, logits, rng = random_case(4)
    pi_old = tab.softmax_policy(logits)
    d = rng.standard_normal(logits.shape)
    t = np.logspace(-3, 0, 13)
    gaps = [tab.surrogate_gap(mdp, pi_old, tab.softmax_policy(logits + s * d)) for s in t]
    fig, axes = plt.subplots(1, 3)
    slopes = ch05.shift_figure(axes, t, gaps)
    assert abs(slopes["t"] - 2) < 0.05 and abs(slopes["max_kl"] - 1) < 0.05
    assert abs(slopes["mean_kl"] - 1) < 0.05
    assert [len(ax.lines) for ax in axes] == [2, 2, 5]
    right = {line.get_label(): line.get_ydata() for line in axes[2].lines}
    gap = next(v for k, v in right.items() if k.startswith("gap"))
    np.testing.assert_allclose(gap, [abs(g.gap) for g in gaps])
    assert all(np.all(v >= gap) for k, v in right.items() if not k.startswith("gap"))
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in axes)


# ------------------------------------------- the penalty-scale explorer (section 11, ch05_explorer)
from trpo_lite.course import ch05_explorer  # noqa: E402


def notebook_mdp():
    """Section 0's MDP and old logits (seed 1), as the notebook draws them."""
    rng = np.random.default_rng(1)
    mdp = tab.random_mdp(4, 2, 0.9, rng)
    return mdp, 0.5 * rng.standard_normal((4, 2))


@pytest.fixture(scope="module")
def penalty_runs():
    mdp, logits_old = notebook_mdp()
    return ch05_explorer.PenaltyScaleRuns(mdp, logits_old, n_iters=30, p0=0.1)


@pytest.mark.parametrize("p_old, C", [(0.5, 0.3), (0.1, 5.0), (0.9, 1.0), (0.6, 300.0), (0.02, 0.05)])
def test_blind_mm_step_is_the_maximiser_of_the_bound_over_state_blind_policies(p_old, C):
    mdp, _ = notebook_mdp()
    p_new = ch05_explorer.blind_mm_step(mdp, p_old, C)
    pi_old = ch05_explorer.blind_policy(p_old, mdp.n_states)
    grid = np.linspace(1e-4, 1 - 1e-4, 2001)
    M = np.array([tab.lower_bound(mdp, pi_old, ch05_explorer.blind_policy(p, mdp.n_states), C)
                  for p in grid])
    assert abs(p_new - grid[np.argmax(M)]) < 1e-3
    M_new = tab.lower_bound(mdp, pi_old, ch05_explorer.blind_policy(p_new, mdp.n_states), C)
    assert M_new >= M.max() - 1e-12


def test_blind_mm_step_rejects_bad_input():
    mdp, _ = notebook_mdp()
    with pytest.raises(ValueError, match="C must be"):
        ch05_explorer.blind_mm_step(mdp, 0.5, 0.0)
    with pytest.raises(ValueError, match="p must lie"):
        ch05_explorer.blind_mm_step(mdp, 1.0, 1.0)
    with pytest.raises(ValueError, match="2 actions"):
        ch05_explorer.blind_mm_step(tab.random_mdp(3, 3, 0.9, np.random.default_rng(0)), 0.5, 1.0)
    with pytest.raises(TypeError, match="PenaltyScaleRuns"):
        ch05_explorer.penalty_scale_explorer(None)


def test_tabular_scaled_run_at_s_one_is_the_notebooks_mm_run(penalty_runs):
    mdp, logits_old = notebook_mdp()
    mm = monotonic.mm_run(mdp, logits_old, 30)
    run = penalty_runs.tabular[-1]
    assert ch05_explorer.SCALES[-1] == 1.0
    np.testing.assert_allclose(run.etas, mm.etas, atol=1e-12)
    np.testing.assert_allclose(run.bounds, mm.bounds, atol=1e-12)


@pytest.mark.parametrize("seed", range(2))
def test_tabular_mm_never_loses_return_even_with_a_tiny_penalty(seed):
    """Policy improvement: each state's advantage sum under the maximiser of M is >= 0."""
    mdp, logits, _ = random_case(40 + seed, S=4, A=3, gamma=0.9)
    for scale in (1e-4, 1e-2):
        run = ch05_explorer.tabular_scaled_run(mdp, logits, 8, scale)
        assert np.diff(run.etas).min() > -1e-9
        for pi_old, pi_new in zip(run.policies[:-1], run.policies[1:]):
            assert np.sum(pi_new * tab.advantages(mdp, pi_old), axis=1).min() > -1e-9


def test_state_blind_mm_is_monotone_at_the_theorems_C_and_breaks_for_a_small_one(penalty_runs):
    mdp, _ = notebook_mdp()
    blind = penalty_runs.blind
    assert np.diff(blind[-1].etas).min() > -1e-12            # s = 1: the theorem's guarantee
    brk = penalty_runs.breaking_point()
    assert (brk["s_low"], brk["s_high"]) == (ch05_explorer.SCALES[6], ch05_explorer.SCALES[7])
    # the drop is real: recompute eta of the run's policies from the library
    run = blind[penalty_runs.index(brk["s_low"])]
    i = run.drops()[0]
    eta_before, eta_after = (tab.eta(mdp, run.policies[j]) for j in (i - 1, i))
    assert eta_before - eta_after > 1e-3 and abs(eta_before - eta_after - (run.etas[i - 1] - run.etas[i])) < 1e-12
    assert brk["drop_low"] > 1e-3 and brk["fall_high"] < 1e-12 and brk["gain_high"] > 1e-3
    # every run from s_high up is monotone, every run below s_low drops
    k = penalty_runs.index(brk["s_high"])
    assert all(len(r.drops()) == 0 for r in blind[k:]) and all(len(r.drops()) > 0 for r in blind[:k])
    # a drop is a fall of eta beyond DROP_TOL, nothing else
    fake = ch05_explorer.ScaledRun(1.0, np.array([0.0, 1.0, 1.0 - 1e-12, 0.5, 0.7]), np.zeros(4),
                                   np.ones(4), np.zeros((5, 4, 2)))
    assert fake.drops().tolist() == [3]


def test_penalty_scale_explorer_moves_the_drawn_data(penalty_runs):
    w = ch05_explorer.penalty_scale_explorer(penalty_runs)
    (slider,) = [c for c in w.children if getattr(c, "description", "") == "scale s"]
    first = w.result
    assert first["scale"] == 1.0 and len(first["blind_drops"]) == 0
    assert "scale s = 1" in repr(w)
    tab_line, blind_line = w.artists["moving"][:2]
    y_before = np.array(blind_line.get_ydata()).copy()
    slider.value = 10 ** -2.8                                  # s = 0.0016: the state-blind run drops
    r = w.result
    assert r["index"] == 6 and len(r["blind_drops"]) >= 10 and len(r["tabular_drops"]) == 0
    assert not np.allclose(np.array(blind_line.get_ydata()), y_before)
    drop_marks = w.artists["moving"][3]
    assert len(drop_marks.get_xdata()) == len(r["blind_drops"])
    assert r["step"] == r["blind_drops"][0] and r["p_new"] != first["p_new"]
    np.testing.assert_allclose(r["M"][np.argmin(np.abs(ch05_explorer.P_GRID - r["p_old"]))],
                               r["L"][np.argmin(np.abs(ch05_explorer.P_GRID - r["p_old"]))], atol=0.05)
    # drawn without a browser, the same numbers
    fig = plt.figure()
    drawn = ch05_explorer.draw_penalty_scale(fig, penalty_runs, 10 ** -2.8)
    np.testing.assert_array_equal(drawn["blind_etas"], r["blind_etas"])
