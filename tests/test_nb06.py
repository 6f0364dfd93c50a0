"""Notebook 06 (TRPO): the line search it traces, its widget, its self-checks and its figures."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from trpo_lite.algos import natural_step
from trpo_lite.course import ch06_checks, ch06_comparison, ch06_figures
from trpo_lite.course.running_example import natural_gradient_path, running_example, trpo_step
from trpo_lite.linesearch import backtracking_line_search


@pytest.fixture(scope="module")
def example():
    return running_example()


# ------------------------------------------------------------ the TRPO step on the running example
def test_two_state_trpo_full_step_is_the_natural_gradient_step(example):
    for theta, delta in (((-4.0, -4.0), 0.01), ((0.5, 3.5), 0.3), ((2.0, -1.0), 0.05)):
        full_step, _ = trpo_step(example, theta, delta)
        natural = natural_gradient_path(example, theta, delta, 1)[1] - np.array(theta)
        np.testing.assert_allclose(full_step, natural, rtol=1e-8)
        F = example.fisher(np.array(theta))
        assert 0.5 * full_step @ F @ full_step == pytest.approx(delta, rel=1e-10)


def test_accepted_step_is_inside_the_trust_region_and_improves_the_surrogate(example):
    for start in ((-4.0, -4.0), (0.0, 0.0), (0.5, 3.5), (3.0, -3.0), (-5.0, 5.0)):
        for delta in (0.01, 0.1, 0.5):
            _, result = trpo_step(example, start, delta)
            if result.accepted:
                assert example.kl(start, result.theta) <= delta
                assert example.surrogate(start, result.theta) > example.surrogate(start, start)
                assert all(not a.accepted for a in result.attempts[:-1])
            else:
                np.testing.assert_array_equal(result.theta, start)


def test_notebook_cases_show_every_outcome(example):
    """The three traces of section 2: KL violations, no improvement, failure."""
    _, kl_case = trpo_step(example, (-4.0, -4.0), 0.5)
    assert [a.reason for a in kl_case.attempts] == ["kl_violation"] * 4 + ["accepted"]
    _, near = trpo_step(example, (0.5, 3.5), 0.3)
    assert [a.reason for a in near.attempts] == ["no_improvement"] * 3 + ["accepted"]
    _, fail = trpo_step(example, (1.0, 4.0), 0.3)
    assert not fail.accepted and len(fail.attempts) == 11
    assert fail.message.startswith("line search failed: kept theta_old")


def test_ratio_rule_accepts_steps_outside_the_trust_region(example):
    _, ratio = trpo_step(example, (-4.0, -4.0), 0.5, rule="improvement_ratio")
    assert ratio.accepted and ratio.coef == 1.0 and ratio.attempts[0].kl > 0.5


def test_line_search_table_lists_every_attempt(example):
    _, result = trpo_step(example, (1.0, 4.0), 0.3)
    table = ch06_figures.line_search_table(result, 0.3).splitlines()
    assert len(table) == len(result.attempts) + 2
    assert "rejected: KL > delta and no improvement" in table[1]
    assert table[-1].startswith("-> line search failed: kept theta_old")


# ------------------------------------------------------------------------------ the widget
def map_markers(fig):
    """(x, y) of every single-point marker on the map (the attempts and theta_old)."""
    return sorted(tuple(np.round(line.get_xydata()[0], 9)) for line in fig.axes[0].lines
                  if len(line.get_xydata()) == 1)


def test_draw_line_search_points_and_colours_follow_delta(example):
    fig1, fig2 = plt.figure(), plt.figure()
    big = ch06_figures.draw_line_search(fig1, delta=0.5, example=example)
    small = ch06_figures.draw_line_search(fig2, delta=0.01, example=example)
    assert big["outcomes"] == ["kl_violation"] * 4 + ["accepted"]
    assert small["outcomes"] == ["kl_violation", "accepted"]
    assert big["colors"][0] == ch06_figures.LINE_SEARCH_STYLE["kl_violation"][0]
    assert big["colors"][-1] == ch06_figures.LINE_SEARCH_STYLE["accepted"][0]
    assert big["points"].shape == (5, 2) and small["points"].shape == (2, 2)
    at_centre = ch06_figures.draw_line_search(plt.figure(), delta=0.01, theta_old=(0.0, 0.0),
                                         example=example)
    assert at_centre["outcomes"] == ["accepted"] and at_centre["colors"] == ["limegreen"]
    np.testing.assert_allclose(big["points"],
                               np.array([-4.0, -4.0]) + big["coefs"][:, None] * big["full_step"])
    assert map_markers(fig1) != map_markers(fig2)
    # the marker colours drawn on the map are the outcomes' colours
    drawn = [line.get_color() for line in fig1.axes[0].lines if len(line.get_xydata()) == 1]
    for color in big["colors"]:
        assert color in drawn
    # the true KL = delta contour surrounds theta_old and lies on KL = delta
    assert big["contour"]
    seg = big["contour"][0]
    kls = [example.kl((-4.0, -4.0), p) for p in seg[:: max(1, len(seg) // 10)]]
    np.testing.assert_allclose(kls, 0.5, rtol=0.05)


def test_draw_line_search_backtrack_coef_and_max_backtracks(example):
    fig = plt.figure()
    coarse = ch06_figures.draw_line_search(fig, delta=1.0, backtrack_coef=0.5, example=example)
    np.testing.assert_allclose(coarse["coefs"], 0.5 ** np.arange(len(coarse["coefs"])))
    assert coarse["accepted"]
    cut = ch06_figures.draw_line_search(fig, delta=1.0, backtrack_coef=0.5, max_backtracks=1,
                                   example=example)
    assert not cut["accepted"] and len(cut["points"]) == 2
    np.testing.assert_array_equal(cut["theta_new"], [-4.0, -4.0])
    assert "line search failed" in fig.axes[0].get_title()


def test_draw_line_search_shows_no_improvement_near_the_optimum(example):
    fig = plt.figure()
    out = ch06_figures.draw_line_search(fig, delta=0.3, theta_old=(0.5, 3.5), example=example)
    assert out["colors"][0] == ch06_figures.LINE_SEARCH_STYLE["no_improvement"][0]
    assert np.all(out["improvements"][:-1] <= 0) and out["improvements"][-1] > 0


def test_line_search_explorer_sliders_change_the_result():
    w = ch06_figures.line_search_explorer()
    delta, backtrack_coef, max_backtracks, theta_old = w.children[:4]
    first = w.result
    assert first["outcomes"] == ["kl_violation"] * 4 + ["accepted"]
    delta.value = 0.01
    assert w.result["outcomes"] == ["kl_violation", "accepted"]
    assert not np.allclose(w.result["full_step"], first["full_step"])
    delta.value = 0.5
    backtrack_coef.value = 0.5
    np.testing.assert_allclose(w.result["coefs"], 0.5 ** np.arange(len(w.result["coefs"])))
    max_backtracks.value = 0
    assert len(w.result["points"]) == 1 and not w.result["accepted"]
    theta_old.value = (1.0, 4.0)
    max_backtracks.value = 10
    backtrack_coef.value = 0.8
    delta.value = 0.3
    assert not w.result["accepted"] and "no_improvement" in w.result["outcomes"]


# ------------------------------------------------------------------------------ self-checks
def reference_line_search(theta_old, full_step, surrogate, kl, delta, backtrack_coef=0.8,
                          max_backtracks=10):
    result = backtracking_line_search(theta_old, full_step, surrogate, kl, delta, backtrack_coef,
                                      max_backtracks)
    return result.theta, [(a.coef, a.kl, a.improvement) for a in result.attempts]


def kl_only_line_search(theta_old, full_step, surrogate, kl, delta, backtrack_coef=0.8,
                        max_backtracks=10):
    attempts, L_old = [], surrogate(theta_old)
    for j in range(max_backtracks + 1):
        theta = theta_old + backtrack_coef**j * full_step
        attempts.append((backtrack_coef**j, kl(theta), surrogate(theta) - L_old))
        if attempts[-1][1] <= delta:
            return theta, attempts
    return theta_old, attempts


def test_check_line_search_passes_the_reference(capsys):
    ch06_checks.check_line_search(reference_line_search)
    assert "all 7 checks passed" in capsys.readouterr().out


def test_check_line_search_explains_a_missing_improvement_test():
    with pytest.raises(AssertionError, match="is not > 0"):
        ch06_checks.check_line_search(kl_only_line_search)


def test_check_line_search_explains_a_wrong_failure_result():
    def returns_last_attempt(*args):
        theta, attempts = reference_line_search(*args)
        theta_old, full_step = args[0], args[1]
        if np.array_equal(theta, theta_old):
            theta = theta_old + attempts[-1][0] * full_step
        return theta, attempts

    with pytest.raises(AssertionError, match="return theta_old unchanged"):
        ch06_checks.check_line_search(returns_last_attempt)


def test_check_full_step_passes_and_explains_the_missing_two(capsys):
    def good(x, fvp, g, delta):
        step = natural_step(x, fvp(x), delta)
        return step, g @ step

    ch06_checks.check_full_step(good)
    assert "all 4 checks passed" in capsys.readouterr().out

    def no_two(x, fvp, g, delta):
        step = np.sqrt(delta / (x @ fvp(x))) * x
        return step, g @ step

    with pytest.raises(AssertionError, match="factor 2 is missing"):
        ch06_checks.check_full_step(no_two)


def test_cg_iterates_satisfy_x_F_x_equals_g_x():
    """The hint of exercise 2: CG from 0 keeps x_k^T A x_k = b^T x_k at every iteration."""
    for label, (x, fvp, g, _delta) in ch06_checks.full_step_cases():
        assert x @ fvp(x) == pytest.approx(g @ x, rel=1e-6), label


def test_check_judge_attempt(capsys):
    ch06_checks.check_judge_attempt(ch06_checks.judge_reference)
    assert "all 10 checks passed" in capsys.readouterr().out

    def strict_kl(kl, improvement, delta):
        return ch06_checks.judge_reference(kl, improvement, delta) if kl != delta else "kl_violation"

    with pytest.raises(AssertionError, match="KL exactly delta"):
        ch06_checks.check_judge_attempt(strict_kl)


# ------------------------------------------------------------------------------ figures from data
def fake_payload():
    """A two-seed payload in the format of data/cartpole_curves.json."""
    runs = []
    for algo, kl_scale in (("npg", 1.5), ("trpo", 0.8)):
        for seed in (0, 1):
            steps = [1000 * (i + 1) for i in range(10)]
            runs.append({"algo": algo, "seed": seed, "env_steps": steps,
                         "mean_return": [None] + [10.0 * i + seed for i in range(1, 10)],
                         "measured_kl": [0.02 * kl_scale * (1 if i % 2 else 0.5) for i in range(10)],
                         "line_search_attempts": [1] * 8 + [3, 11] if algo == "trpo" else [0] * 10,
                         "accepted": [True] * 9 + [algo == "npg"]})
    configs = {a: {"delta": 0.02, "max_backtracks": 10} for a in ("npg", "trpo")}
    return {"env_id": "CartPole-v1", "total_steps": 10_000, "algos": ["npg", "trpo"],
            "configs": configs, "runs": runs}


def test_data_figures_compute_what_they_draw():
    payload = fake_payload()
    fig, axes = plt.subplots(1, 3)
    spread = ch06_figures.draw_curves_with_spread(axes[0], payload, ("npg", "trpo"), threshold=475)
    grid, mean, low, high = spread["trpo"]
    assert np.all(low <= mean) and np.all(mean <= high) and np.all(high - low <= 1.0 + 1e-12)
    fractions = ch06_figures.draw_kl_ratio_per_update(axes[1], payload, ("npg", "trpo"))
    assert fractions == {"npg": 0.5, "trpo": 0.0}
    counts = ch06_figures.draw_backtrack_counts(axes[2], payload, "trpo", 10)
    assert counts[1] == 16 and counts[3] == 2 and counts[11] == 2 and counts.sum() == 20
    strips = ch06_figures.draw_kl_ratio_strips(axes[0], {"a": [0.5, 2.0], "b": [0.1]})
    assert strips == {"a": 0.5, "b": 0.0}


# ------------------------------------------- sections 4 and 7: ch06_comparison, on made-up runs
def comparison_payload():
    """Two seeds of NPG (a collapse on seed 1, one step that made L worse) and TRPO (one
    backtrack, one rejection), in the format of data/npg_trpo_light_damping.json."""
    runs = []
    for seed in (0, 1):
        ret = [100.0, 300.0, 450.0, 480.0] + ([150.0, 420.0] if seed else [490.0, 500.0])
        runs.append({"algo": "npg", "seed": seed, "env_steps": [1000 * (i + 1) for i in range(6)],
                     "mean_return": ret, "measured_kl": [0.01, 0.03, 0.05, 0.01, 0.02, 0.04],
                     "line_search_attempts": [0] * 6, "accepted": [True] * 6,
                     "surrogate_improvement": [0.1, 0.1, -0.01 if seed else 0.1, 0.1, 0.1, 0.1],
                     "solved_at_step": None if seed else 3000})
        runs.append({"algo": "trpo", "seed": seed, "env_steps": [1000 * (i + 1) for i in range(6)],
                     "mean_return": [100.0, 300.0, 480.0, 490.0, 500.0, 500.0],
                     "measured_kl": [0.01, 0.019, 0.0 if seed else 0.012, 0.015, 0.02, 0.01],
                     "line_search_attempts": [1, 3, 11, 1, 1, 1] if seed else [1] * 6,
                     "accepted": [True, True, not seed, True, True, True],
                     "surrogate_improvement": [0.1, 0.1, 0.0 if seed else 0.1, 0.1, 0.1, 0.1],
                     "solved_at_step": 3000})
    configs = {a: {"delta": 0.02, "damping": 1e-3, "hidden": [16]} for a in ("npg", "trpo")}
    return {"env_id": "CartPole-v1", "total_steps": 6000, "algos": ["npg", "trpo"],
            "configs": configs, "runs": runs}


def test_a_collapse_is_a_fall_from_400_to_below_200_counted_once():
    assert ch06_comparison.count_collapses([100, 450, 150, 100, 180]) == 1, "one fall, counted once"
    assert ch06_comparison.count_collapses([450, 150, 420, 190]) == 2, "back at 400, then a second fall"
    assert ch06_comparison.count_collapses([100, 390, 150, 399, 10]) == 0, "never reached 400"
    assert ch06_comparison.count_collapses([450, 250, 300, 201]) == 0, "never fell below 200"
    assert ch06_comparison.count_collapses([np.nan, 450, np.nan, 100]) == 1, "missing values are skipped"
    with pytest.raises(ValueError, match="low < high"):
        ch06_comparison.count_collapses([1.0], high=100, low=200)


def test_update_stats_count_overshoots_backtracks_rejections_and_collapses():
    payload = comparison_payload()
    npg, trpo = (ch06_comparison.update_stats(payload, a) for a in ("npg", "trpo"))
    assert npg["updates"] == 12 and npg["kl_above"] == 6 and npg["max_kl_ratio"] == pytest.approx(2.5)
    assert npg["worse"] == 1 and npg["collapses"] == 1 and npg["collapses_per_seed"] == [0, 1]
    assert npg["backtracked"] == 0 and npg["rejected"] == 0
    assert trpo["backtracked"] == 2 and trpo["rejected"] == 1, "attempts > 1 and accepted == False"
    assert trpo["kl_above"] == 0 and trpo["max_kl_ratio"] == pytest.approx(1.0)
    assert trpo["worse"] == 0, "the rejected update (improvement 0, theta_old kept) moved nothing"
    ratios = ch06_comparison.kl_ratios(payload, "trpo")
    assert ratios.size == 11 and np.all(ratios > 0), "the rejected update is left out of the KL ratios"
    with pytest.raises(ValueError, match="no runs for algo 'vpg'"):
        ch06_comparison.update_stats(payload, "vpg")


def test_backtracks_before_solve_count_only_the_updates_before_the_solve_step():
    payload = comparison_payload()
    assert ch06_comparison.backtracks_before_solve(payload, "trpo") == {0: 0, 1: 1}, \
        "seed 1 backtracked at 2000 (before its solve at 3000) and at 3000 (not before)"
    assert ch06_comparison.backtracks_before_solve(payload, "npg") == {0: 0, 1: 0}
    next(r for r in payload["runs"] if (r["algo"], r["seed"]) == ("trpo", 1))["solved_at_step"] = None
    assert ch06_comparison.backtracks_before_solve(payload, "trpo") == {0: 0, 1: 2}, "never solved: all count"


def test_solve_table_lists_every_seed_and_the_median():
    table = ch06_comparison.solve_table({"A": {0: 3000, 1: None}, "B": {0: 1000, 1: 3000}})
    lines = table.splitlines()
    assert lines[0].split() == ["seed", "A", "B"]
    assert lines[1].split() == ["0", "3000", "1000"] and lines[2].split() == ["1", "never", "3000"]
    assert lines[3].split() == ["solved", "1", "of", "2", "2", "of", "2"]
    assert lines[4].split() == ["median", "3000", "2000"]
    with pytest.raises(ValueError, match="column 'B' has seeds"):
        ch06_comparison.solve_table({"A": {0: 1}, "B": {1: 1}})


def test_selection_rule_most_seeds_solved_then_smallest_median_solve_step():
    rows = [{"lr": 1, "solved": 3, "median_solve": 50_000}, {"lr": 3, "solved": 7, "median_solve": 60_000},
            {"lr": 10, "solved": 7, "median_solve": 40_000}, {"lr": 30, "solved": 0, "median_solve": None}]
    assert ch06_comparison.select_best(rows)["lr"] == 10
    assert ch06_comparison.select_best(rows[:2])["lr"] == 3, "more seeds solved beats a faster median"
    assert ch06_comparison.select_best(rows[3:])["lr"] == 30, "no seed solved anywhere: still a choice"
    with pytest.raises(ValueError):
        ch06_comparison.select_best([])


def test_sweep_rows_and_table_read_a_labelled_sweep():
    payload = comparison_payload()
    payload = {**payload, "algos": ["vpg_lr_1", "vpg_lr_10"],
               "configs": {"vpg_lr_1": {"lr": 1.0}, "vpg_lr_10": {"lr": 10.0}},
               "runs": [{**r, "algo": "vpg_lr_1" if r["algo"] == "npg" else "vpg_lr_10"} for r in payload["runs"]]}
    rows = ch06_comparison.sweep_rows(payload)
    assert [(r["lr"], r["solved"], r["median_solve"], r["collapses"]) for r in rows] == \
        [(1.0, 1, 3000.0, 1), (10.0, 2, 3000.0, 0)]
    assert rows[0]["final_median"] == pytest.approx(460.0)
    table = ch06_comparison.sweep_table(rows).splitlines()
    assert len(table) == 3 and table[1].split()[:4] == ["1", "1", "of", "2"]
    assert ch06_comparison.select_best(rows)["label"] == "vpg_lr_10"


def test_comparison_figures_draw_what_they_return():
    payload = comparison_payload()
    fig, axes = plt.subplots(1, 2)
    grid, median = ch06_comparison.draw_seed_curves(axes[0], payload, "npg", threshold=475)
    np.testing.assert_allclose(median[-1], (500.0 + 420.0) / 2)
    assert len(axes[0].lines) == 2 + 1 + 1, "one thin line per seed, the median, the solve line"
    shares = ch06_comparison.draw_kl_histograms(
        axes[1], {"NPG": ch06_comparison.kl_ratios(payload, "npg"),
                  "TRPO": ch06_comparison.kl_ratios(payload, "trpo")})
    assert shares == {"NPG": 0.5, "TRPO": 0.0}
    plt.close(fig)


def test_draw_live_run_marks_the_updates_the_line_search_changed():
    log = [dict(iteration=i, env_steps=1000 * i, mean_return=20.0 * i, measured_kl=0.01 * (i != 4),
                line_search_attempts=1 + (i == 3) + 10 * (i == 4), accepted=i != 4) for i in range(1, 6)]
    fig, axes = plt.subplots(1, 2)
    drawn = ch06_comparison.draw_live_run(axes, log, 0.02)
    np.testing.assert_array_equal(drawn["attempts"], [1, 1, 2, 11, 1])
    np.testing.assert_allclose(drawn["kl_ratio"], [0.5, 0.5, 0.5, 0.0, 0.5])
    assert "2 of 5 backtracked" in axes[1].get_title()
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "full step accepted (3 updates)" in labels and "rejected, theta_old kept (1)" in labels
    plt.close(fig)
