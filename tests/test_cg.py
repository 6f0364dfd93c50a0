"""Conjugate gradient (trpo_lite.cg): the properties notebook 04 states."""
import numpy as np
import pytest
from scipy.sparse.linalg import cg as scipy_cg

from trpo_lite.cg import CGResult, conjugate_gradient, steepest_descent


def random_spd(n, kappa, rng, eigenvalues=None):
    """A = Q diag(lambda) Q^T with eigenvalues log-spaced in [1, kappa] (condition number kappa)."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.logspace(0.0, np.log10(kappa), n) if eigenvalues is None else eigenvalues
    return (Q * lam) @ Q.T


def matvec(A):
    return lambda v: A @ v


def quadratic(A, b, x):
    """f(x) = 0.5 x^T A x - b^T x, the function CG minimises."""
    return 0.5 * x @ A @ x - b @ x


def rel_err(x, x_ref):
    return np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref)


@pytest.mark.parametrize("n", [2, 5, 50])
@pytest.mark.parametrize("kappa", [1.0, 1e2, 1e4])
def test_cg_solution_equals_numpy_solve_and_scipy_cg(n, kappa):
    rng = np.random.default_rng(n)
    A, b, tol = random_spd(n, kappa, rng), rng.standard_normal(n), 1e-12
    result = conjugate_gradient(matvec(A), b, max_iter=20 * n, tol=tol)
    x_scipy, info = scipy_cg(A, b, rtol=tol, atol=0.0, maxiter=20 * n)
    assert result.converged and info == 0
    # forward error <= kappa * relative residual
    assert rel_err(result.x, np.linalg.solve(A, b)) <= 10 * kappa * tol
    assert rel_err(result.x, x_scipy) <= 10 * kappa * tol


@pytest.mark.parametrize("n", [2, 5, 50])
def test_cg_converges_within_n_iterations_when_well_conditioned(n):
    rng = np.random.default_rng(100 + n)
    A, b = random_spd(n, 10.0, rng), rng.standard_normal(n)
    result = conjugate_gradient(matvec(A), b, tol=1e-8)  # max_iter defaults to n
    assert result.iterations <= n
    assert result.converged
    assert np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b)


def test_cg_needs_at_most_as_many_iterations_as_distinct_eigenvalues():
    rng = np.random.default_rng(1)
    A = random_spd(40, 0, rng, eigenvalues=np.repeat([1.0, 3.0, 10.0], [20, 15, 5]))
    b = rng.standard_normal(40)
    result = conjugate_gradient(matvec(A), b, tol=1e-10)
    assert result.converged and result.iterations <= 3


def test_cg_residual_history_starts_at_norm_b_and_is_recorded_every_iteration():
    rng = np.random.default_rng(2)
    A, b = random_spd(8, 1e3, rng), rng.standard_normal(8)
    result = conjugate_gradient(matvec(A), b, max_iter=5, tol=1e-14, keep_iterates=True)
    assert isinstance(result, CGResult)
    assert result.iterations == 5
    assert result.residual_norms.shape == (6,)
    assert result.residual_norms[0] == pytest.approx(np.linalg.norm(b), rel=1e-15)
    true_residuals = [np.linalg.norm(b - A @ x) for x in result.iterates]
    np.testing.assert_allclose(result.residual_norms, true_residuals, rtol=1e-8)


def test_cg_iterates_have_shape_k_plus_1_by_n_and_end_at_x():
    rng = np.random.default_rng(3)
    A, b = random_spd(6, 10.0, rng), rng.standard_normal(6)
    x0 = rng.standard_normal(6)
    result = conjugate_gradient(matvec(A), b, x0=x0, keep_iterates=True)
    assert result.iterates.shape == (result.iterations + 1, 6)
    np.testing.assert_array_equal(result.iterates[0], x0)
    np.testing.assert_array_equal(result.iterates[-1], result.x)
    assert conjugate_gradient(matvec(A), b).iterates is None


def test_cg_iterates_decrease_the_quadratic_monotonically():
    rng = np.random.default_rng(4)
    A, b = random_spd(20, 1e3, rng), rng.standard_normal(20)
    result = conjugate_gradient(matvec(A), b, keep_iterates=True)
    f = [quadratic(A, b, x) for x in result.iterates]
    assert np.all(np.diff(f) <= 1e-12 * abs(f[-1]))


def test_cg_started_at_the_solution_stops_at_once():
    rng = np.random.default_rng(5)
    A, b = random_spd(5, 10.0, rng), rng.standard_normal(5)
    result = conjugate_gradient(matvec(A), b, x0=np.linalg.solve(A, b), tol=1e-8)
    assert result.iterations == 0 and result.converged
    zero = conjugate_gradient(matvec(A), np.zeros(5))
    assert zero.converged and zero.iterations == 0 and np.all(zero.x == 0)
    assert zero.negative_curvature is False      # b = 0 (a zero gradient) is no curvature failure


def test_cg_detects_negative_curvature_of_an_indefinite_matrix():
    A = np.diag([1.0, -2.0])
    result = conjugate_gradient(matvec(A), np.array([1.0, 1.0]))
    assert result.negative_curvature and not result.converged
    assert np.all(np.isfinite(result.x))


def test_cg_detects_negative_curvature_found_after_some_good_steps():
    rng = np.random.default_rng(6)
    n = 10
    A = random_spd(n, 0, rng, eigenvalues=np.r_[np.linspace(1.0, 5.0, n - 1), -1e-3])
    b = rng.standard_normal(n)
    result = conjugate_gradient(matvec(A), b, max_iter=5 * n, keep_iterates=True)
    assert result.negative_curvature and result.iterations >= 1
    assert np.all(np.isfinite(result.x)) and np.all(np.isfinite(result.residual_norms))
    np.testing.assert_array_equal(result.x, result.iterates[-1])  # the last good x


def test_cg_detects_zero_curvature_of_a_singular_psd_matrix_along_its_null_space():
    # e.g. an undamped Fisher of a softmax over all logits
    A = np.diag([2.0, 1.0, 0.0])
    result = conjugate_gradient(matvec(A), np.array([0.0, 0.0, 1.0]))
    assert result.negative_curvature and result.iterations == 0
    np.testing.assert_array_equal(result.x, np.zeros(3))


def test_cg_is_exact_in_2_steps_where_steepest_descent_zigzags_on_an_ill_conditioned_2d_quadratic():
    c, s = np.cos(0.5), np.sin(0.5)
    R = np.array([[c, -s], [s, c]])
    A, b = R @ np.diag([1.0, 100.0]) @ R.T, np.array([1.0, 1.0])
    cg_result = conjugate_gradient(matvec(A), b, keep_iterates=True)
    sd_result = steepest_descent(matvec(A), b, max_iter=10_000)
    assert cg_result.converged and cg_result.iterations == 2
    assert sd_result.converged and sd_result.iterations > 50 * cg_result.iterations
    np.testing.assert_allclose(sd_result.x, cg_result.x, rtol=1e-8)
    # exact line search: successive steepest-descent steps are orthogonal (the zig-zag)
    steps = np.diff(sd_result.iterates[:21], axis=0)
    directions = steps / np.linalg.norm(steps, axis=1, keepdims=True)
    assert np.all(np.abs(np.sum(directions[1:] * directions[:-1], axis=1)) < 1e-8)


def test_steepest_descent_keeps_iterates_by_default_and_decreases_the_quadratic():
    rng = np.random.default_rng(7)
    A, b = random_spd(4, 30.0, rng), rng.standard_normal(4)
    result = steepest_descent(matvec(A), b, max_iter=15)
    assert result.iterates.shape == (16, 4) and result.residual_norms.shape == (16,)
    f = [quadratic(A, b, x) for x in result.iterates]
    assert np.all(np.diff(f) < 0)


def test_steepest_descent_detects_negative_curvature():
    result = steepest_descent(matvec(np.diag([1.0, -3.0])), np.array([1.0, 1.0]), max_iter=10)
    assert result.negative_curvature and np.all(np.isfinite(result.x))


A2 = np.eye(2)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(Avp="not callable", b=np.ones(2)), TypeError, "Avp"),
        (dict(Avp=matvec(A2), b=np.ones((2, 1))), ValueError, "b"),
        (dict(Avp=matvec(A2), b=np.array([1.0, np.nan])), ValueError, "b"),
        (dict(Avp=matvec(A2), b=np.ones(2), max_iter=0), ValueError, "max_iter"),
        (dict(Avp=matvec(A2), b=np.ones(2), max_iter=2.5), ValueError, "max_iter"),
        (dict(Avp=matvec(A2), b=np.ones(2), tol=0.0), ValueError, "tol"),
        (dict(Avp=matvec(A2), b=np.ones(2), tol=-1e-3), ValueError, "tol"),
        (dict(Avp=matvec(A2), b=np.ones(2), x0=np.ones(3)), ValueError, "x0"),
        (dict(Avp=lambda v: np.ones(3), b=np.ones(2)), ValueError, "Avp"),
        (dict(Avp=lambda v: v * np.inf, b=np.ones(2)), ValueError, "Avp"),
    ],
)
def test_conjugate_gradient_rejects_bad_input_naming_the_argument(kwargs, error, name):
    with pytest.raises(error, match=rf"^{name} "):     # the message starts with the name
        conjugate_gradient(**kwargs)


def test_steepest_descent_rejects_bad_input_naming_the_argument():
    with pytest.raises(ValueError, match="^max_iter "):
        steepest_descent(matvec(A2), np.ones(2), max_iter=-1)
    with pytest.raises(ValueError, match="^Avp "):
        steepest_descent(lambda v: np.full(2, np.nan), np.ones(2), max_iter=3)
    with pytest.raises(ValueError, match="^b must be non-empty"):
        steepest_descent(matvec(A2), np.ones(0), max_iter=3)


# Found by mutation testing (scripts/mutation.sh): exact small cases and edge cases.

def test_cg_on_a_well_posed_spd_system_reports_no_curvature_failure():
    rng = np.random.default_rng(11)
    A, b = random_spd(6, 10.0, rng), rng.standard_normal(6)
    for solver in (conjugate_gradient, lambda Avp, b: steepest_descent(Avp, b, max_iter=500)):
        result = solver(matvec(A), b)
        assert result.converged is True and result.negative_curvature is False


def test_cg_solves_a_1_by_1_system_in_one_step():
    result = conjugate_gradient(matvec(np.array([[4.0]])), np.array([2.0]))
    assert result.iterations == 1 and result.converged
    np.testing.assert_allclose(result.x, [0.5], rtol=1e-15)
    with pytest.raises(ValueError, match="^b must be non-empty"):
        conjugate_gradient(matvec(np.eye(0)), np.ones(0))


def test_cg_with_max_iter_1_takes_the_exact_steepest_descent_step():
    # the first CG step is the exact line search along r_0 = b: x_1 = (b.b / b.A.b) b
    rng = np.random.default_rng(12)
    A, b = random_spd(5, 50.0, rng), rng.standard_normal(5)
    result = conjugate_gradient(matvec(A), b, max_iter=1)
    assert result.iterations == 1
    np.testing.assert_allclose(result.x, (b @ b) / (b @ A @ b) * b, rtol=1e-13)
    sd = steepest_descent(matvec(A), b, max_iter=1)
    np.testing.assert_allclose(sd.x, result.x, rtol=1e-13)


@pytest.mark.parametrize("scale", [2.0**-20, 2.0**20])    # exact in binary floating point
def test_tol_is_relative_to_norm_b_and_both_solvers_stop_at_the_first_iterate_below_it(scale):
    # stop at the first k with ||b - A x_k|| <= tol ||b||: the same k whatever the scale of b
    rng = np.random.default_rng(13)
    A, b = random_spd(30, 1e3, rng), rng.standard_normal(30)
    tol = 1e-4
    solvers = (lambda b: conjugate_gradient(matvec(A), b, max_iter=300, tol=tol),
               lambda b: steepest_descent(matvec(A), b, max_iter=20_000, tol=tol))
    for solve in solvers:
        result, unscaled = solve(scale * b), solve(b)
        bound = tol * np.linalg.norm(scale * b)
        assert result.converged and result.residual_norms[-1] <= bound
        assert np.all(result.residual_norms[:-1] > bound)    # not one iteration more
        assert result.iterations == unscaled.iterations > 1


def test_cg_from_zero_costs_one_matrix_vector_product_per_iteration():
    rng = np.random.default_rng(14)
    A, b = random_spd(8, 10.0, rng), rng.standard_normal(8)
    calls = []
    result = conjugate_gradient(lambda v: calls.append(1) or A @ v, b, max_iter=5, tol=1e-14)
    assert result.iterations == 5 and len(calls) == 5          # x0 = 0: r_0 = b, no product


def test_steepest_descent_starts_from_x0():
    rng = np.random.default_rng(15)
    A, b, x0 = random_spd(4, 20.0, rng), rng.standard_normal(4), rng.standard_normal(4)
    result = steepest_descent(matvec(A), b, max_iter=3, x0=x0)
    np.testing.assert_array_equal(result.iterates[0], x0)
    assert result.residual_norms[0] == pytest.approx(np.linalg.norm(b - A @ x0), rel=1e-14)
    r = b - A @ x0                                            # one exact step by hand
    np.testing.assert_allclose(result.iterates[1], x0 + (r @ r) / (r @ A @ r) * r, rtol=1e-13)
    assert steepest_descent(matvec(A), b, max_iter=3, keep_iterates=False).iterates is None


def test_steepest_descent_stops_on_zero_curvature_along_the_residual():
    # A singular along b: r^T A r = 0, so no finite step exists
    result = steepest_descent(matvec(np.diag([1.0, 0.0])), np.array([0.0, 1.0]), max_iter=5)
    assert result.negative_curvature is True and result.iterations == 0
    np.testing.assert_array_equal(result.x, np.zeros(2))
    zero = steepest_descent(matvec(np.eye(3)), np.zeros(3), max_iter=5)
    assert zero.converged and zero.iterations == 0 and zero.negative_curvature is False
