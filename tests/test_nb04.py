"""Notebook 04 (conjugate gradient): the CG-vs-steepest-descent widget, the exercise
self-checks, the Fisher-scaling benchmark and the data file it wrote."""
import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from trpo_lite.cg import conjugate_gradient, steepest_descent
from trpo_lite.course import ch04
from trpo_lite.data import load_json
from trpo_lite.fisher import fisher_vector_product

REPO = Path(__file__).resolve().parent.parent
BENCHMARK = REPO / "benchmarks" / "fisher_scaling.py"


# ---- the 2-D quadratic ------------------------------------------------------------------
@pytest.mark.parametrize("kappa", [1.0, 3.0, 100.0])
def test_quadratic_2d_has_condition_number_kappa_and_minimum_at_x_star(kappa):
    A, b = ch04.quadratic_2d(kappa)
    eigenvalues = np.linalg.eigvalsh(A)
    np.testing.assert_allclose(eigenvalues, [1.0, kappa], rtol=1e-12)
    np.testing.assert_allclose(np.linalg.solve(A, b), ch04.CG_DEMO_X_STAR, rtol=1e-10)


def test_quadratic_2d_rejects_kappa_below_one():
    with pytest.raises(ValueError, match="kappa"):
        ch04.quadratic_2d(0.5)


@pytest.mark.parametrize("kappa", [3.0, 10.0, 100.0])
def test_steepest_descent_from_the_worst_start_shrinks_the_a_norm_error_by_kappa_rate(kappa):
    A, b = ch04.quadratic_2d(kappa)
    x_star = np.linalg.solve(A, b)
    sd = steepest_descent(lambda v: A @ v, b, max_iter=8, x0=ch04.worst_start_2d(kappa), tol=1e-14)
    e = sd.iterates - x_star
    err = np.sqrt(np.einsum("ki,ij,kj->k", e, A, e))
    np.testing.assert_allclose(err[1:] / err[:-1], (kappa - 1) / (kappa + 1), rtol=1e-8)


# ---- the widget's draw function -----------------------------------------------------------
def test_draw_returns_cg_exact_in_two_steps_and_the_requested_steepest_descent_steps(fig):
    drawn = ch04.draw_cg_vs_steepest_descent(fig, n_iters=6, kappa=10.0)
    assert drawn["cg_path"].shape == (3, 2) and drawn["sd_path"].shape == (7, 2)
    np.testing.assert_allclose(drawn["cg_path"][-1], drawn["x_star"], atol=1e-10)
    assert drawn["cg_error"][-1] < 1e-10 * drawn["cg_error"][0]
    assert drawn["sd_error"][-1] > 1e-2 * drawn["sd_error"][0]
    np.testing.assert_allclose(drawn["cg_path"][0], drawn["x0"])
    np.testing.assert_allclose(drawn["sd_path"][0], drawn["x0"])
    assert len(fig.axes) == 2 and fig.axes[0].get_title() and fig.axes[1].get_xlabel()


def _line(fig, ax_index, label_start):
    """The Line2D on axes ``ax_index`` whose label starts with ``label_start``."""
    lines = [ln for ln in fig.axes[ax_index].lines if ln.get_label().startswith(label_start)]
    assert len(lines) == 1, [ln.get_label() for ln in fig.axes[ax_index].lines]
    return lines[0]


def test_iteration_slider_changes_the_drawn_steepest_descent_path(fig):
    few = ch04.draw_cg_vs_steepest_descent(fig, n_iters=2, kappa=10.0)
    path_few = _line(fig, 0, "steepest descent").get_xydata().copy()
    many = ch04.draw_cg_vs_steepest_descent(fig, n_iters=12, kappa=10.0)
    path_many = _line(fig, 0, "steepest descent").get_xydata()
    assert few["sd_path"].shape == (3, 2) and many["sd_path"].shape == (13, 2)
    assert path_few.shape == (3, 2) and path_many.shape == (13, 2)
    np.testing.assert_allclose(path_many, many["sd_path"])
    np.testing.assert_allclose(path_many[:3], path_few)       # same path, continued


def test_kappa_slider_changes_the_quadratic_and_both_paths(fig):
    low = ch04.draw_cg_vs_steepest_descent(fig, n_iters=5, kappa=2.0)
    cg_low = _line(fig, 0, "conjugate gradient").get_xydata().copy()
    high = ch04.draw_cg_vs_steepest_descent(fig, n_iters=5, kappa=50.0)
    cg_high = _line(fig, 0, "conjugate gradient").get_xydata()
    assert not np.allclose(low["A"], high["A"])
    assert not np.allclose(low["sd_path"], high["sd_path"])
    assert cg_low.shape == cg_high.shape == (3, 2) and not np.allclose(cg_low, cg_high)
    # worse conditioning: steepest descent makes less progress in the same number of steps
    assert high["sd_error"][-1] / high["sd_error"][0] > low["sd_error"][-1] / low["sd_error"][0]


def test_draw_with_one_iteration_and_kappa_one(fig):
    drawn = ch04.draw_cg_vs_steepest_descent(fig, n_iters=1, kappa=1.0)
    # round bowl: both methods are exact after one step
    np.testing.assert_allclose(drawn["cg_path"][-1], drawn["x_star"], atol=1e-10)
    np.testing.assert_allclose(drawn["sd_path"][-1], drawn["x_star"], atol=1e-10)


def test_explorer_sliders_change_the_result():
    w = ch04.cg_vs_steepest_descent_explorer()
    sliders = {child.description: child for child in w.children if hasattr(child, "description")}
    first = w.result
    assert first["sd_path"].shape == (sliders["iterations"].value + 1, 2)
    sliders["iterations"].value = 15
    assert w.result["sd_path"].shape == (16, 2)
    before = w.result["sd_path"].copy()
    sliders["kappa(A)"].value = 100.0
    assert w.result["A"][0, 0] != first["A"][0, 0]
    assert not np.allclose(w.result["sd_path"], before)


# ---- self-checks of the exercises ---------------------------------------------------------
def reference_cg(Avp, b, n_iters):
    return conjugate_gradient(Avp, b, max_iter=n_iters, tol=1e-15).x


def reference_fvp(policy, theta, obs, v):
    return fisher_vector_product(policy, theta, obs, v)


def reference_sd_step(Avp, b, x):
    r = b - Avp(x)
    return x + (r @ r) / (r @ Avp(r)) * r


def test_check_cg_accepts_the_reference(capsys):
    ch04.check_cg(reference_cg)
    assert "check_cg: all 7 checks passed" in capsys.readouterr().out


def test_check_cg_names_steepest_descent_and_a_sign_error():
    with pytest.raises(AssertionError, match="hint: your iterates are steepest descent's"):
        ch04.check_cg(lambda Avp, b, k: steepest_descent(Avp, b, max_iter=k, tol=1e-15).x)
    with pytest.raises(AssertionError, match="wrong sign"):
        ch04.check_cg(lambda Avp, b, k: -reference_cg(Avp, b, k))
    with pytest.raises(AssertionError, match="not implemented yet"):
        ch04.check_cg(lambda Avp, b, k: (_ for _ in ()).throw(NotImplementedError()))


def test_check_fisher_vector_product_accepts_the_reference(capsys):
    ch04.check_fisher_vector_product(reference_fvp)
    assert "all 5 checks passed" in capsys.readouterr().out


def test_check_fisher_vector_product_names_a_missing_mean_over_states():
    with pytest.raises(AssertionError, match="divide the sum over states by N"):
        ch04.check_fisher_vector_product(lambda p, t, o, v: len(o) * reference_fvp(p, t, o, v))


def test_check_steepest_descent_step_accepts_the_reference_and_rejects_a_unit_step(capsys):
    ch04.check_steepest_descent_step(reference_sd_step)
    assert "all 4 checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="check_steepest_descent_step"):
        ch04.check_steepest_descent_step(lambda Avp, b, x: x + (b - Avp(x)))


# ---- the benchmark script and its data file -----------------------------------------------
def load_benchmark():
    spec = importlib.util.spec_from_file_location("fisher_scaling", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_run_writes_a_complete_file(tmp_path, capsys):
    bench = load_benchmark()
    bench.main(["--quick", "--repeats", "1", "--states", "200", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "n_params" in out and "wrote" in out
    payload, meta = load_json(bench.FILENAME, bench.COMMAND, data_dir=tmp_path)
    assert meta["command"] == bench.COMMAND + " --quick"
    n = len(bench.QUICK_HIDDEN)
    assert payload["n_params"] == [bench.n_params(h) for h in bench.QUICK_HIDDEN]
    for key in ("cg_s", "explicit_s", "explicit_build_s", "explicit_extrapolated_s", "cg_rel_error"):
        assert len(payload[key]) == n and all(t is not None and t > 0 for t in payload[key]), key
    # 10 damped CG iterations are close to the direct solve
    assert max(payload["cg_rel_error"]) < 1e-3


def test_committed_fisher_scaling_data_covers_the_sizes_the_notebook_plots():
    bench = load_benchmark()
    payload, meta = load_json(bench.FILENAME, bench.COMMAND,
                              required=("n_params", "cg_s", "explicit_s", "explicit_extrapolated_s"))
    assert meta["command"] == bench.COMMAND
    n_params = np.array(payload["n_params"])
    measured = np.array([t is not None for t in payload["explicit_s"]])
    assert np.all(np.diff(n_params) > 0)
    assert n_params.max() >= 1e4, "CG must be timed up to at least 10^4 parameters"
    assert n_params[measured].max() >= 2000, "the explicit method must be timed to a few thousand"
    assert measured[0] and np.all(measured[:measured.sum()]), "explicit sizes are a prefix"
    cg_s, explicit_s = np.array(payload["cg_s"]), np.array(payload["explicit_s"], dtype=float)
    assert np.all(cg_s > 0)
    assert cg_s[measured][-1] < explicit_s[measured][-1] / 10, "CG wins clearly at the largest size"
