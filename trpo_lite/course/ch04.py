"""Notebook 04 (conjugate gradient): the exercises' self-checks and the CG-vs-steepest-descent explorer.

Self-checks: conjugate gradient on SPD systems (04.1), the matrix-free Fisher-vector product
(04.2) and one steepest-descent step (04.3). Explorer: CG and steepest descent side by side on
a tilted 2-D quadratic for a number of iterations and a condition number (section 4).
``random_spd`` makes the SPD test matrices of the checks and of the notebook.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from contourpy import contour_generator
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator

from ..cg import conjugate_gradient, steepest_descent
from ..fisher import fisher_vector_product
from ..mlp import MLP
from ..policies import CategoricalPolicy, GaussianPolicy
from .checking import SelfCheckFailed, compare
from .explorer import Explorer


# ------------------------------------------------------------------ self-checks
def random_spd(n, kappa, rng, eigenvalues=None):
    """A random SPD matrix Q diag(lambda) Q^T (n, n): Q a random rotation, eigenvalues log-spaced
    in [1, kappa] (condition number kappa), or the given ``eigenvalues``. Used by the checks
    below and by notebook 04.
    """
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.logspace(0.0, np.log10(kappa), n) if eigenvalues is None else np.asarray(eigenvalues)
    return (Q * lam) @ Q.T


def _matvec_with_matrix(A):
    """``v -> A @ v`` that keeps A as an attribute, so a checker can also solve directly."""
    A = np.asarray(A, dtype=float)

    def Avp(v):
        return A @ v

    Avp.A = A
    return Avp


def check_cg(my_cg):
    """Check ``my_cg(Avp, b, n_iters) -> x`` against ``trpo_lite.cg.conjugate_gradient`` and
    ``numpy.linalg.solve`` on SPD systems (n = 1 to 30, condition numbers up to 100).

    After n iterations (or as many as A has distinct eigenvalues) x must equal A^-1 b;
    after fewer it must equal the library's CG iterate with the same number of iterations.
    """
    rng = np.random.default_rng(4)
    cases = []

    def add(label, A, n_iters, exact):
        Avp = _matvec_with_matrix(A)
        Avp.exact = exact
        cases.append((label, (Avp, rng.standard_normal(len(A)), n_iters)))

    add("n=1, 1 iteration, vs numpy.linalg.solve", np.array([[2.5]]), 1, True)
    add("n=2, 2 iterations, vs numpy.linalg.solve", random_spd(2, 10.0, rng), 2, True)
    add("n=5, 5 iterations, vs numpy.linalg.solve", random_spd(5, 30.0, rng), 5, True)
    add("n=20, kappa=10, 20 iterations, vs numpy.linalg.solve", random_spd(20, 10.0, rng), 20, True)
    add("n=30 with 3 distinct eigenvalues, 3 iterations, vs numpy.linalg.solve",
        random_spd(30, 0, rng, np.repeat([1.0, 4.0, 10.0], 10)), 3, True)
    add("n=10, 1 iteration, vs conjugate_gradient", random_spd(10, 50.0, rng), 1, False)
    add("n=20, 4 iterations, vs conjugate_gradient", random_spd(20, 100.0, rng), 4, False)

    def reference(Avp, b, n_iters):
        if Avp.exact:
            return np.linalg.solve(Avp.A, b)
        return conjugate_gradient(Avp, b, max_iter=n_iters, tol=1e-15).x

    try:
        compare("check_cg", my_cg, reference, cases, rtol=1e-6, atol=1e-9)
    except AssertionError as exc:
        Avp, b, _ = cases[-1][1]
        try:
            got = np.asarray(my_cg(Avp, b, 4), dtype=float)
        except Exception:
            raise exc from None
        sd = steepest_descent(Avp, b, max_iter=4, tol=1e-15).x
        if got.shape == sd.shape and np.allclose(got, sd, rtol=1e-6, atol=1e-9):
            raise SelfCheckFailed(f"{exc}\n  hint: your iterates are steepest descent's; the next "
                                 "direction is p = r_new + beta * p with beta = r_new.r_new / r.r") from None
        raise


def check_fisher_vector_product(my_fvp):
    """Check ``my_fvp(policy, theta, obs, v) -> F v`` against
    ``trpo_lite.fisher.fisher_vector_product`` (categorical and Gaussian policies, N = 1 to 50).
    """
    rng = np.random.default_rng(5)
    cases = []
    for label, policy, n in [("linear softmax policy, 2 actions, N=50", CategoricalPolicy(MLP((4, 2))), 50),
                             ("softmax MLP (4, 16, 2), N=30", CategoricalPolicy(MLP((4, 16, 2))), 30),
                             ("softmax MLP (3, 8, 3), 3 actions, N=20", CategoricalPolicy(MLP((3, 8, 3))), 20),
                             ("softmax MLP (4, 8, 2), batch size 1", CategoricalPolicy(MLP((4, 8, 2))), 1),
                             ("Gaussian MLP (3, 8, 2), N=25", GaussianPolicy(MLP((3, 8, 2))), 25)]:
        theta = 0.5 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n, policy.net.in_dim))
        cases.append((label, (policy, theta, obs, rng.standard_normal(policy.n_params))))
    try:
        compare("check_fisher_vector_product", my_fvp,
                lambda policy, theta, obs, v: fisher_vector_product(policy, theta, obs, v),
                cases, rtol=1e-5, atol=1e-9)
    except AssertionError as exc:
        policy, theta, obs, v = cases[0][1]
        try:
            got = np.asarray(my_fvp(policy, theta, obs, v), dtype=float)
        except Exception:
            raise exc from None
        ref = fisher_vector_product(policy, theta, obs, v)
        if got.shape == ref.shape and np.allclose(got, len(obs) * ref, rtol=1e-5, atol=1e-9):
            raise SelfCheckFailed(f"{exc}\n  hint: F is the MEAN over states of J^T M J: "
                                 "divide the sum over states by N") from None
        raise


def check_steepest_descent_step(my_step):
    """Check ``my_step(Avp, b, x) -> x_new`` (one steepest-descent step with exact line search
    on f(x) = 0.5 x^T A x - b^T x) against ``trpo_lite.cg.steepest_descent(max_iter=1)``."""
    rng = np.random.default_rng(6)
    cases = []
    for label, A, x in [("n=1", np.array([[3.0]]), np.array([2.0])),
                        ("n=2, kappa=10, from x = 0", random_spd(2, 10.0, rng), np.zeros(2)),
                        ("n=2, kappa=100", random_spd(2, 100.0, rng), rng.standard_normal(2)),
                        ("n=8, kappa=30", random_spd(8, 30.0, rng), rng.standard_normal(8))]:
        cases.append((label, (_matvec_with_matrix(A), rng.standard_normal(len(A)), x)))
    compare("check_steepest_descent_step", my_step,
            lambda Avp, b, x: steepest_descent(Avp, b, max_iter=1, x0=x, tol=1e-15).x,
            cases, rtol=1e-8, atol=1e-10)


# --------------------------------- explorer: CG vs steepest descent in 2-D (section 4)
CG_DEMO_ANGLE = np.pi / 6          # the ellipses' tilt (30 degrees)
CG_DEMO_X_STAR = np.array([1.0, 0.5])


def _rotation(angle):
    """The 2-D rotation by ``angle`` (radians), shape (2, 2)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def quadratic_2d(kappa=10.0, angle=CG_DEMO_ANGLE, x_star=CG_DEMO_X_STAR):
    """The 2-D quadratic of notebook 04: ``A = R diag(1, kappa) R^T``, ``b = A x_star``.

    f(x) = 0.5 x^T A x - b^T x has its minimum at x_star and condition number kappa;
    R rotates by ``angle`` so that the ellipses are tilted. Returns (A (2, 2), b (2,)).
    """
    if not np.isfinite(kappa) or kappa < 1:
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    R = _rotation(angle)
    A = R @ np.diag([1.0, float(kappa)]) @ R.T
    return A, A @ np.asarray(x_star, dtype=float)


def worst_start_2d(kappa=10.0, angle=CG_DEMO_ANGLE, x_star=CG_DEMO_X_STAR):
    """Start x0 = x* + R (-3, 3 / kappa) of ``quadratic_2d``: the error has eigen-coordinates
    proportional to (1/lambda_1, 1/lambda_2), from which steepest descent shrinks the A-norm
    error by exactly (kappa - 1) / (kappa + 1) per step (its worst case); shape (2,)."""
    return np.asarray(x_star, dtype=float) + _rotation(angle) @ np.array([-3.0, 3.0 / kappa])


CG_EXPLORER_MAX_ITERS = 40                  # the "iterations" slider's maximum
_ITERATION_AXIS = (5, 10, 20, 40)           # the error panel's x-range steps through these
_ERROR_FLOOR = 1e-16                        # relative errors are drawn no lower (CG reaches 0)


def _build_cg_vs_steepest_descent(fig):
    """What the CG explorer never changes: the two panels, their labels and legends.

    Returns the artists ``_update_cg_vs_steepest_descent`` moves. Nothing a slider changes is
    part of the static picture but the error panel's x-range, so a move is blitted: the map has
    no tick labels (its range follows kappa, but only the shape of f matters), its contours are
    one line collection that moves, and the error panel shows errors relative to the first (a
    fixed y-range). Its x-range steps through ``_ITERATION_AXIS``: four views, each drawn in
    full once.
    """
    ax_map, ax_err = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    contours = LineCollection([], colors="gray", linewidths=0.8)
    ax_map.add_collection(contours)
    (sd_line,) = ax_map.plot([], [], "o-", color="tab:orange", ms=4, lw=1.5, label="steepest descent")
    (cg_line,) = ax_map.plot([], [], "s-", color="tab:blue", ms=6, lw=2.5, label="conjugate gradient")
    (star,) = ax_map.plot([], [], "*", color="gold", mec="black", ms=16, label=r"$x^* = A^{-1}b$", zorder=5)
    (start,) = ax_map.plot([], [], "o", color="white", mec="black", ms=8, label="$x_0$", zorder=5)
    ax_map.set_aspect("equal")
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    ax_map.set_xlabel("$x_1$")
    ax_map.set_ylabel("$x_2$")
    ax_map.set_title(" ")
    ax_map.legend(loc="lower left", fontsize=8)

    (sd_err,) = ax_err.semilogy([], [], "o-", color="tab:orange", label="steepest descent")
    (rate,) = ax_err.semilogy([], [], ":", color="black", label=r"$((\kappa-1)/(\kappa+1))^k$")
    (cg_err,) = ax_err.semilogy([], [], "s-", color="tab:blue", label="conjugate gradient")
    ax_err.set_ylim(_ERROR_FLOOR / 3, 3.0)
    ax_err.set_xlim(-0.3, _ITERATION_AXIS[-1] + 0.3)
    ax_err.set_xlabel("iteration k")
    ax_err.set_ylabel(r"relative error $\|x_k - x^*\|_A \,/\, \|x_0 - x^*\|_A$")
    ax_err.set_title(" \n ")
    ax_err.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_err.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return {"ax_map": ax_map, "ax_err": ax_err, "kappa": None, "contour_cache": {},
            "moving": [contours, sd_line, cg_line, star, start, sd_err, rate, cg_err, ax_map.title,
                       ax_err.title]}


def _set_quadratic(artists, kappa, A, b, x0, x_star):
    """Contours of f and the map's range for kappa: what a kappa move changes besides the paths.
    The range holds x0, x* and steepest descent's longest path, so that the iteration slider
    never moves it; both are computed once per (kappa, x0) and kept."""
    cache = artists["contour_cache"]
    if kappa not in cache:
        longest = steepest_descent(lambda v: A @ v, b, max_iter=CG_EXPLORER_MAX_ITERS, x0=x0, tol=1e-12)
        pts = np.vstack([longest.iterates, x_star, x0])
        centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
        half = 0.6 * (pts.max(axis=0) - pts.min(axis=0)).max() + 0.1
        t0 = np.linspace(centre[0] - half, centre[0] + half, 201)
        t1 = np.linspace(centre[1] - half, centre[1] + half, 201)
        X = np.stack(np.meshgrid(t0, t1), axis=-1)
        f = 0.5 * np.einsum("...i,ij,...j->...", X, A, X) - X @ b
        f_star = -0.5 * b @ x_star
        generator = contour_generator(t0, t1, f)
        lines = [np.asarray(line) for level in f_star + np.geomspace(1e-3, 1.0, 12) * (f.max() - f_star)
                 for line in generator.lines(level) if len(line) > 1]
        cache[kappa] = lines, ((t0[0], t0[-1]), (t1[0], t1[-1]))
    lines, artists["range"] = cache[kappa]
    artists["moving"][0].set_segments(lines)
    artists["ax_map"].set_xlim(*artists["range"][0])
    artists["ax_map"].set_ylim(*artists["range"][1])
    artists["kappa"] = kappa


def _relative(error):
    """The last error over the first, for a title: a bound below round-off (1e-12), not its digits."""
    ratio = error[-1] / error[0]
    return "< 1e-12" if ratio < 1e-12 else f"{ratio:.0e}"


def _update_cg_vs_steepest_descent(artists, n_iters=5, kappa=10.0, x0=None):
    """Run both methods for n_iters from x0 (default ``worst_start_2d(kappa)``); move their paths
    and error curves."""
    n_iters = int(n_iters)
    A, b = quadratic_2d(kappa)
    x0 = worst_start_2d(kappa) if x0 is None else np.asarray(x0, dtype=float)
    x_star = np.linalg.solve(A, b)
    Avp = lambda v: A @ v
    cg = conjugate_gradient(Avp, b, max_iter=n_iters, tol=1e-12, x0=x0, keep_iterates=True)
    sd = steepest_descent(Avp, b, max_iter=n_iters, x0=x0, tol=1e-12)

    def a_norm_error(path):
        e = path - x_star
        return np.sqrt(np.einsum("ki,ij,kj->k", e, A, e))

    cg_error, sd_error = a_norm_error(cg.iterates), a_norm_error(sd.iterates)
    if artists["kappa"] != (kappa, tuple(x0)):
        _set_quadratic(artists, (kappa, tuple(x0)), A, b, x0, x_star)
    sd_line, cg_line, star, start, sd_err, rate_line, cg_err, map_title, err_title = artists["moving"][1:10]
    sd_line.set_data(*sd.iterates.T)
    cg_line.set_data(*cg.iterates.T)
    star.set_data([x_star[0]], [x_star[1]])
    start.set_data([x0[0]], [x0[1]])
    map_title.set_text(rf"$f(x) = \frac{{1}}{{2}}x^TAx - b^Tx$, $\kappa(A)$ = {kappa:.3g}")

    k = np.arange(n_iters + 1)
    rate = (kappa - 1.0) / (kappa + 1.0)
    sd_err.set_data(np.arange(len(sd_error)), np.maximum(sd_error / sd_error[0], _ERROR_FLOOR))
    rate_line.set_data(k, np.maximum(rate ** k, _ERROR_FLOOR))
    cg_err.set_data(np.arange(len(cg_error)), np.maximum(cg_error / cg_error[0], _ERROR_FLOOR))
    x_max = next(m for m in _ITERATION_AXIS if m >= max(n_iters, 2))
    artists["ax_err"].set_xlim(-0.3, x_max + 0.3)
    artists["view"] = x_max
    its = "iteration" if n_iters == 1 else "iterations"
    err_title.set_text(f"after {n_iters} {its} (CG stops after {cg.iterations}): error / initial error\n"
                       f"CG {_relative(cg_error)},  steepest descent {_relative(sd_error)}")
    return {"A": A, "b": b, "x0": x0, "x_star": x_star, "cg_path": cg.iterates, "sd_path": sd.iterates,
            "cg_error": cg_error, "sd_error": sd_error}


def draw_cg_vs_steepest_descent(fig, n_iters=5, kappa=10.0, x0=None):
    """CG and steepest descent on ``quadratic_2d(kappa)``, both started at ``x0``
    (default ``worst_start_2d(kappa)``).

    Left: contours of f(x) = 0.5 x^T A x - b^T x with the first ``n_iters`` iterates of each
    method (CG stops after at most 2 = n steps). Right: the A-norm error
    ||x_k - x*||_A = sqrt(2 (f(x_k) - f(x*))) per iteration over the first, log scale. Returns
    the drawn data: ``A``, ``b``, ``x_star``, ``cg_path`` (k+1, 2), ``sd_path`` (n_iters+1, 2),
    ``cg_error``, ``sd_error`` (the A-norm errors along each path, not divided).
    """
    fig.clear()
    return _update_cg_vs_steepest_descent(_build_cg_vs_steepest_descent(fig), n_iters, kappa, x0)


def cg_vs_steepest_descent_explorer():
    """Explorer: number of iterations and condition number -> both methods' paths and errors."""
    return Explorer(
        _build_cg_vs_steepest_descent, _update_cg_vs_steepest_descent, figsize=(11, 4.6),
        name="CG vs steepest descent on a 2-D quadratic",
        controls={"n_iters": widgets.IntSlider(value=3, min=1, max=CG_EXPLORER_MAX_ITERS,
                                               description="iterations"),
                  "kappa": widgets.FloatLogSlider(value=10.0, base=10, min=0, max=2, step=0.1,
                                                  description="kappa(A)", readout_format=".1f")})
