"""ipywidgets explorers for the notebooks. Only this module and plots.py import matplotlib.

Pattern (so tests can drive a widget without a browser): each explorer has a pure
``draw_*(fig, **slider_values)`` that clears and redraws ``fig`` and returns the data it drew
(a small dict), and a ``*_explorer()`` that wraps it in ``ipywidgets.interactive``. In the
notebook the explorer's cell is tagged ``nbval-ignore-output``; tests/test_nbNN.py call the
draw functions and the explorers' sliders directly.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from . import plots
from .cg import conjugate_gradient, steepest_descent
from .tabular import gradient_ascent_path, running_example, trpo_step


def interactive_figure(draw, figsize=(9, 4.5), **sliders):
    """``ipywidgets.interactive`` around ``draw(fig, **values)`` that shows a fresh figure per change.

    Returns the ``interactive`` widget; ``widget.result`` holds the last dict ``draw`` returned.
    """
    def update(**values):
        fig = plt.figure(figsize=figsize)
        out = draw(fig, **values)
        plt.show()
        return out

    return widgets.interactive(update, **sliders)


# ---- 01 policy gradient ------------------------------------------------------------


# theta_0 up to 10, so that a too-large learning rate that overshoots into the saturated
# far side of s0 stays in view; theta_1 keeps the shared map's range.
GRADIENT_ASCENT_XLIM = (-6.0, 10.0)
GRADIENT_ASCENT_YLIM = (-6.0, 6.0)


def draw_gradient_ascent(fig, lr=1.0, n_steps=60, example=None):
    """Vanilla gradient ascent theta <- theta + lr grad J(theta) from the start corner.

    Left: the running example's map with the path (``tabular.gradient_ascent_path``).
    Right: J along the path against the update number, with the optimum J(theta*) dashed.
    Returns the drawn data: ``lr``, ``n_steps``, ``path`` (n_steps+1, 2), ``J`` (n_steps+1,),
    ``J_opt`` and ``max_theta0`` (the path may leave the map when lr is large).
    """
    example = example or running_example()
    fig.clear()
    ax_map, ax_J = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    path = gradient_ascent_path(example, example.theta_start, lr, int(n_steps))
    J = np.array([example.J(theta) for theta in path])
    J_opt = example.J(example.theta_opt())
    max_theta0 = float(path[:, 0].max())

    lo, hi = GRADIENT_ASCENT_XLIM
    off_map = "" if max_theta0 <= hi else rf" (leaves the map: max $\theta_0$ = {max_theta0:.3g})"
    plots.running_example_map(ax=ax_map, example=example, box=(lo, hi), colorbar=False,
                              title=f"gradient ascent, lr = {lr:.3g}{off_map}")
    ax_map.set_ylim(*GRADIENT_ASCENT_YLIM)
    plots.draw_path(ax_map, path, label=f"lr = {lr:.3g}, {int(n_steps)} steps", color="red")
    ax_map.plot(*path[-1], "X", color="red", mec="white", ms=10, label="last iterate", zorder=6)
    ax_map.legend(loc="lower right", fontsize=8, facecolor="lightgray")

    ax_J.plot(np.arange(len(J)), J, color="red", lw=2, label=r"$J(\theta_k)$")
    ax_J.axhline(J_opt, color="black", ls="--", lw=1, label=rf"optimum $J^*$ = {J_opt:.3f}")
    ax_J.set_ylim(0.0, 1.08 * J_opt)
    ax_J.set_xlabel("update k")
    ax_J.set_ylabel(r"$J(\theta_k)$")
    ax_J.set_title(f"J after {int(n_steps)} updates: {J[-1]:.3f}")
    ax_J.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return {"lr": float(lr), "n_steps": int(n_steps), "path": path, "J": J, "J_opt": J_opt,
            "max_theta0": max_theta0}


def gradient_ascent_explorer(example=None):
    """Widget: learning rate (log slider, 0.01 to 10) and number of updates -> ``draw_gradient_ascent``."""
    example = example or running_example()

    def draw(fig, lr, n_steps):
        return draw_gradient_ascent(fig, lr=lr, n_steps=n_steps, example=example)

    return interactive_figure(
        draw, figsize=(11, 4.6),
        lr=widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05, description="lr",
                                  readout_format=".3g", continuous_update=False),
        n_steps=widgets.IntSlider(value=60, min=10, max=200, step=10, description="updates",
                                  continuous_update=False))
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------


KL_BALL_CENTRES = (("start (-4, -4), saturated", (-4.0, -4.0)),
                   ("centre (0, 0)", (0.0, 0.0)),
                   ("near the optimum (1, 4)", (1.0, 4.0)))
_OUTLINE = [patheffects.Stroke(linewidth=3.5, foreground="black"), patheffects.Normal()]


def kl_ellipse(F, theta_old, delta, n_points=181):
    """Boundary of the quadratic trust region 0.5 dtheta^T F dtheta = delta, shape (n_points, 2).

    With F = L L^T (Cholesky) and a unit vector u = (cos a, sin a), the point
    dtheta = sqrt(2 delta) L^-T u gives 0.5 dtheta^T F dtheta = delta u^T u = delta.
    Row k belongs to the angle a_k = 2 pi k / (n_points - 1) (first and last rows coincide).
    """
    F = np.asarray(F, dtype=float)
    if F.shape != (2, 2):
        raise ValueError(f"F must have shape (2, 2), got {F.shape}")
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
    angle = np.linspace(0.0, 2.0 * np.pi, int(n_points))
    u = np.stack([np.cos(angle), np.sin(angle)])                       # (2, n)
    L = np.linalg.cholesky(F)
    return np.asarray(theta_old, dtype=float) + np.sqrt(2.0 * delta) * np.linalg.solve(L.T, u).T


def true_kl_at(example, theta_old, points):
    """The running example's exact mean KL(pi_old || pi_theta) at each row of ``points`` (n, 2)."""
    return np.array([example.kl(theta_old, p) for p in np.asarray(points, dtype=float)])


def draw_kl_ball(fig, delta=0.01, theta_old=(0.0, 0.0), example=None, n_grid=241):
    """The true KL ball {theta: KL(theta_old, theta) = delta} vs its quadratic ellipse.

    Left: the running example's map with the exact contour KL = delta (solid) and the
    ellipse 0.5 dtheta^T F(theta_old) dtheta = delta (dashed). Right: the true KL measured
    on the ellipse, divided by delta, against the angle around theta_old (1 where the
    quadratic model is exact). Returns the drawn data: ``theta_old``, ``delta``,
    ``ellipse`` (n, 2), ``angle_deg`` (n,), ``kl_on_ellipse`` (n,), ``contour`` (list of (m, 2)
    arrays, the KL = delta level set inside the box).
    """
    example = example or running_example()
    theta_old = np.asarray(theta_old, dtype=float)
    fig.clear()
    ax_map, ax_ratio = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    plots.running_example_map(ax=ax_map, example=example, colorbar=False,
                              title=rf"KL ball vs ellipse, $\delta$ = {delta:.4g}")
    lo, hi = example.box
    t = np.linspace(lo, hi, n_grid)
    kl_grid = example.kl_grid(theta_old, t, t)
    contour = []
    if kl_grid.max() > delta:          # else the whole box lies inside the KL ball
        cs = ax_map.contour(t, t, kl_grid, levels=[delta], colors="red", linewidths=2)
        contour = [np.asarray(seg) for seg in cs.allsegs[0]]
    ellipse = kl_ellipse(example.fisher(theta_old), theta_old, delta)
    ax_map.plot(*ellipse.T, "--", color="white", lw=2, path_effects=_OUTLINE)
    ax_map.plot(*theta_old, "s", color="red", mec="black", ms=7, zorder=6)
    ax_map.legend(handles=[Line2D([], [], color="red", lw=2, label=r"true KL = $\delta$"),
                           Line2D([], [], color="white", ls="--", lw=2, path_effects=_OUTLINE,
                                  label=r"$\frac{1}{2}\Delta\theta^T F \Delta\theta = \delta$"),
                           Line2D([], [], color="red", marker="s", mec="black", ls="",
                                  label=r"$\theta_{old}$")],
                  loc="upper left", fontsize=8, facecolor="lightgray")

    kl_on_ellipse = true_kl_at(example, theta_old, ellipse)
    angle_deg = np.linspace(0.0, 360.0, len(ellipse))
    ratio = kl_on_ellipse / delta
    ax_ratio.semilogy(angle_deg, ratio, color="tab:blue", label="true KL on the ellipse / $\\delta$")
    ax_ratio.axhline(1.0, color="black", ls="--", lw=1, label="quadratic model (= 1)")
    ax_ratio.set_ylim(min(0.5, 0.8 * ratio.min()), max(2.0, 1.25 * ratio.max()))
    ax_ratio.yaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
                                                    20, 50, 100]))
    ax_ratio.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax_ratio.yaxis.set_minor_formatter(NullFormatter())
    ax_ratio.set_xlim(0, 360)
    ax_ratio.set_xticks([0, 90, 180, 270, 360])
    ax_ratio.set_xlabel(r"angle around $\theta_{old}$ (degrees; 0 = $+\theta_0$, 90 = $+\theta_1$)")
    ax_ratio.set_ylabel(r"KL$(\theta_{old}, \theta)\ /\ \delta$")
    ax_ratio.set_title(f"on the ellipse: true KL in [{ratio.min():.2f}, {ratio.max():.2f}] x delta")
    ax_ratio.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return {"theta_old": theta_old, "delta": float(delta), "ellipse": ellipse,
            "angle_deg": angle_deg, "kl_on_ellipse": kl_on_ellipse, "contour": contour}


def kl_ball_explorer(example=None):
    """Widget: delta (log slider) and theta_old (menu) -> ``draw_kl_ball``."""
    example = example or running_example()

    def draw(fig, delta, theta_old):
        return draw_kl_ball(fig, delta=delta, theta_old=theta_old, example=example)

    return interactive_figure(
        draw, figsize=(11, 4.6),
        delta=widgets.FloatLogSlider(value=0.01, base=10, min=-4, max=0, step=0.1,
                                     description="delta", readout_format=".4f",
                                     continuous_update=False),
        theta_old=widgets.Dropdown(options=list(KL_BALL_CENTRES), value=(0.0, 0.0),
                                   description="theta_old"))
# ---- end 02 ----

# ---- 04 conjugate gradient ---------------------------------------------------------


CG_DEMO_ANGLE = np.pi / 6          # the ellipses' tilt (30 degrees)
CG_DEMO_X_STAR = np.array([1.0, 0.5])


def quadratic_2d(kappa=10.0, angle=CG_DEMO_ANGLE, x_star=CG_DEMO_X_STAR):
    """The 2-D quadratic of notebook 04: ``A = R diag(1, kappa) R^T``, ``b = A x_star``.

    f(x) = 0.5 x^T A x - b^T x has its minimum at x_star and condition number kappa;
    R rotates by ``angle`` so that the ellipses are tilted. Returns (A (2, 2), b (2,)).
    """
    if not np.isfinite(kappa) or kappa < 1:
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([1.0, float(kappa)]) @ R.T
    return A, A @ np.asarray(x_star, dtype=float)


def worst_start_2d(kappa=10.0, angle=CG_DEMO_ANGLE, x_star=CG_DEMO_X_STAR):
    """Start x0 = x* + R (-3, 3 / kappa) of ``quadratic_2d``: the error has eigen-coordinates
    proportional to (1/lambda_1, 1/lambda_2), from which steepest descent shrinks the A-norm
    error by exactly (kappa - 1) / (kappa + 1) per step (its worst case); shape (2,)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(x_star, dtype=float) + np.array([[c, -s], [s, c]]) @ np.array([-3.0, 3.0 / kappa])


def draw_cg_vs_steepest_descent(fig, n_iters=5, kappa=10.0, x0=None):
    """CG and steepest descent on ``quadratic_2d(kappa)``, both started at ``x0``
    (default ``worst_start_2d(kappa)``).

    Left: contours of f(x) = 0.5 x^T A x - b^T x with the first ``n_iters`` iterates of each
    method (CG stops after at most 2 = n steps). Right: the A-norm error
    ||x_k - x*||_A = sqrt(2 (f(x_k) - f(x*))) per iteration, log scale. Returns the drawn data:
    ``A``, ``b``, ``x_star``, ``cg_path`` (k+1, 2), ``sd_path`` (n_iters+1, 2), ``cg_error``,
    ``sd_error`` (the A-norm errors along each path).
    """
    n_iters = int(n_iters)
    A, b = quadratic_2d(kappa)
    x0 = worst_start_2d(kappa) if x0 is None else np.asarray(x0, dtype=float)
    x_star = np.linalg.solve(A, b)
    Avp = lambda v: A @ v  # noqa: E731
    cg = conjugate_gradient(Avp, b, max_iter=n_iters, tol=1e-12, x0=x0, keep_iterates=True)
    sd = steepest_descent(Avp, b, max_iter=n_iters, x0=x0, tol=1e-12)

    def a_norm_error(path):
        e = path - x_star
        return np.sqrt(np.einsum("ki,ij,kj->k", e, A, e))

    cg_error, sd_error = a_norm_error(cg.iterates), a_norm_error(sd.iterates)

    fig.clear()
    ax_map, ax_err = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    pts = np.vstack([cg.iterates, sd.iterates, x_star, x0])
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    half = 0.6 * (pts.max(axis=0) - pts.min(axis=0)).max() + 0.1
    t0 = np.linspace(centre[0] - half, centre[0] + half, 201)
    t1 = np.linspace(centre[1] - half, centre[1] + half, 201)
    X0, X1 = np.meshgrid(t0, t1)
    X = np.stack([X0, X1], axis=-1)
    f = 0.5 * np.einsum("...i,ij,...j->...", X, A, X) - X @ b
    f_star = -0.5 * b @ x_star
    levels = f_star + np.geomspace(1e-3, 1.0, 12) * (f.max() - f_star)
    ax_map.contour(t0, t1, f, levels=levels, colors="gray", linewidths=0.8, linestyles="solid")
    ax_map.plot(*sd.iterates.T, "o-", color="tab:orange", ms=4, lw=1.5,
                label=f"steepest descent ({sd.iterations} steps)")
    ax_map.plot(*cg.iterates.T, "s-", color="tab:blue", ms=6, lw=2.5,
                label=f"conjugate gradient ({cg.iterations} steps)")
    ax_map.plot(*x_star, "*", color="gold", mec="black", ms=16, label=r"$x^* = A^{-1}b$", zorder=5)
    ax_map.plot(*x0, "o", color="white", mec="black", ms=8, label="$x_0$", zorder=5)
    ax_map.set_xlim(t0[0], t0[-1])
    ax_map.set_ylim(t1[0], t1[-1])
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("$x_1$")
    ax_map.set_ylabel("$x_2$")
    ax_map.set_title(rf"$f(x) = \frac{{1}}{{2}}x^TAx - b^Tx$, $\kappa(A)$ = {kappa:.3g}")
    ax_map.legend(loc="lower left", fontsize=8)

    floor = 1e-16 * cg_error[0]
    ax_err.semilogy(np.arange(len(sd_error)), np.maximum(sd_error, floor), "o-",
                    color="tab:orange", label="steepest descent")
    k = np.arange(n_iters + 1)
    rate = (kappa - 1.0) / (kappa + 1.0)
    ax_err.semilogy(k, np.maximum(sd_error[0] * rate ** k, floor), ":", color="black",
                    label=r"$((\kappa-1)/(\kappa+1))^k$")
    ax_err.semilogy(np.arange(len(cg_error)), np.maximum(cg_error, floor), "s-",
                    color="tab:blue", label="conjugate gradient")
    ax_err.set_xlabel("iteration k")
    ax_err.set_ylabel(r"error $\|x_k - x^*\|_A$")
    ax_err.set_xlim(-0.3, max(n_iters, 2) + 0.3)
    ax_err.set_ylim(floor / 3, 3 * cg_error[0])
    ax_err.set_title(f"after {n_iters} iterations: error / initial error\n"
                     f"CG {cg_error[-1] / cg_error[0]:.0e},  steepest descent {sd_error[-1] / sd_error[0]:.0e}")
    ax_err.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_err.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return {"A": A, "b": b, "x0": x0, "x_star": x_star, "cg_path": cg.iterates, "sd_path": sd.iterates,
            "cg_error": cg_error, "sd_error": sd_error}


def cg_vs_steepest_descent_explorer():
    """Widget: number of iterations and condition number -> ``draw_cg_vs_steepest_descent``."""
    return interactive_figure(
        draw_cg_vs_steepest_descent, figsize=(11, 4.6),
        n_iters=widgets.IntSlider(value=3, min=1, max=40, description="iterations",
                                  continuous_update=False),
        kappa=widgets.FloatLogSlider(value=10.0, base=10, min=0, max=2, step=0.1,
                                     description="kappa(A)", readout_format=".1f",
                                     continuous_update=False))
# ---- end 04 ----

# ---- 06 TRPO -----------------------------------------------------------------------


LINE_SEARCH_STARTS = (("saturated start (-4, -4)", (-4.0, -4.0)),
                      ("below the optimum (0.5, 3.5)", (0.5, 3.5)),
                      ("next to the optimum (1, 4)", (1.0, 4.0)))


def _square_box(points, margin=0.12, min_width=2.0):
    """A (lo, hi) range that contains every row of ``points`` on both axes, with a margin."""
    lo, hi = float(np.min(points)), float(np.max(points))
    pad = margin * max(hi - lo, min_width) + 0.5 * max(min_width - (hi - lo), 0.0)
    return lo - pad, hi + pad


def draw_line_search(fig, delta=0.5, backtrack_coef=0.8, max_backtracks=10,
                     theta_old=(-4.0, -4.0), example=None, rule="kl_and_improvement", n_grid=201):
    """Every attempt of one TRPO line search on the running example, coloured by its outcome.

    The step is ``tabular.trpo_step``: full_step = sqrt(2 delta / x^T F x) x with
    x = F^-1 g, then ``backtracking_line_search``. Left: the map of J (zoomed on the step) with
    theta_old, the full step (dashed), the true KL = delta contour around theta_old, the
    quadratic ellipse 0.5 s^T F s = delta, and the attempts theta_old + coef_j * full_step
    (red X: KL > delta, orange triangle: no improvement, magenta: both, green star: accepted).
    Right: the measured KL / delta and the surrogate improvement along the full step as
    functions of coef, with the attempts marked.

    Returns the drawn data: ``points`` (k, 2), ``outcomes`` (k reasons), ``colors`` (k),
    ``coefs``, ``kls``, ``improvements`` (k,), ``accepted``, ``theta_new``, ``full_step``,
    ``contour`` (list of (m, 2) arrays of the KL = delta level set), ``message``.
    """
    from .plots import LINE_SEARCH_STYLE, running_example_map

    example = example or running_example()
    theta_old = np.asarray(theta_old, dtype=float)
    full_step, result = trpo_step(example, theta_old, delta, backtrack_coef,
                                            int(max_backtracks), rule)
    coefs = np.array([a.coef for a in result.attempts])
    points = theta_old + coefs[:, None] * full_step
    outcomes = [a.reason for a in result.attempts]
    colors = [LINE_SEARCH_STYLE[r][0] for r in outcomes]
    ellipse = kl_ellipse(example.fisher(theta_old), theta_old, delta)       # section 02

    fig.clear()
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1])
    ax_map = fig.add_subplot(grid[:, 0])
    ax_kl, ax_imp = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])

    # map: J, the KL ball, the ellipse, the full step and the attempts
    lo, hi = _square_box(np.vstack([theta_old, theta_old + full_step]), min_width=3.0)
    verdict = (f"accepted coef = {result.coef:.3g}" if result.accepted
               else "line search failed: kept $\\theta_{old}$")
    running_example_map(ax=ax_map, example=example, box=(lo, hi), colorbar=False,
                        title=rf"$\delta$ = {delta:.3g}, backtrack_coef = {backtrack_coef:.2g}: {verdict}")
    t = np.linspace(lo, hi, n_grid)
    kl_grid = example.kl_grid(theta_old, t, t)
    contour = []
    if kl_grid.max() > delta:
        cs = ax_map.contour(t, t, kl_grid, levels=[delta], colors="red", linewidths=2)
        contour = [np.asarray(seg) for seg in cs.allsegs[0]]
    ax_map.plot(*ellipse.T, ":", color="white", lw=1.5)
    ax_map.plot(*np.vstack([theta_old, theta_old + full_step]).T, "--", color="white", lw=1.2)
    ax_map.plot(*theta_old, "s", color="white", mec="black", ms=8, zorder=6)
    for point, reason in zip(points, outcomes):
        color, marker, _ = LINE_SEARCH_STYLE[reason]
        ax_map.plot(*point, marker, color=color, mec="black", ms=12 if reason == "accepted" else 9,
                    zorder=7)
    handles = [Line2D([], [], color="white", marker="s", mec="black", ls="", label=r"$\theta_{old}$"),
               Line2D([], [], color="white", ls="--", label="full step (coef = 1)"),
               Line2D([], [], color="red", lw=2, label=r"true KL = $\delta$"),
               Line2D([], [], color="white", ls=":", label=r"$\frac{1}{2}s^TFs = \delta$")]
    for reason in dict.fromkeys(outcomes):
        color, marker, label = LINE_SEARCH_STYLE[reason]
        handles.append(Line2D([], [], color=color, marker=marker, mec="black", ls="", ms=9,
                              label=f"{label} ({outcomes.count(reason)})"))
    ax_map.legend(handles=handles, loc="lower right", fontsize=7, facecolor="lightgray")

    # profiles along the full step
    c = np.linspace(0.0, 1.0, 101)[1:]
    kl_c = np.array([example.kl(theta_old, theta_old + ci * full_step) for ci in c])
    L_old = example.surrogate(theta_old, theta_old)
    imp_c = np.array([example.surrogate(theta_old, theta_old + ci * full_step) for ci in c]) - L_old
    kls = np.array([a.kl for a in result.attempts])
    improvements = np.array([a.improvement for a in result.attempts])
    ax_kl.plot(c, kl_c / delta, color="tab:blue", lw=1.5, label="measured KL / $\\delta$")
    ax_kl.axhline(1.0, color="red", ls="--", lw=1, label="KL = $\\delta$")
    ax_imp.plot(c, imp_c, color="tab:blue", lw=1.5, label="surrogate improvement")
    ax_imp.plot(c, c * result.attempts[0].expected_improvement, color="gray", ls=":", lw=1,
                label=r"expected: coef $g^T s$")
    ax_imp.axhline(0.0, color="black", lw=0.8)
    for coef, kl, imp, reason in zip(coefs, kls, improvements, outcomes):
        color, marker, _ = LINE_SEARCH_STYLE[reason]
        ax_kl.plot(coef, kl / delta, marker, color=color, mec="black", ms=9, zorder=5)
        ax_imp.plot(coef, imp, marker, color=color, mec="black", ms=9, zorder=5)
    ax_kl.set_ylabel(r"KL / $\delta$")
    ax_kl.set_title("along the full step: attempts at coef = backtrack_coef$^j$", fontsize=10)
    ax_kl.legend(fontsize=7, loc="upper left")
    ax_imp.set_xlabel(r"coef  (step = coef $\times$ full step)")
    ax_imp.set_ylabel(r"$L(\theta) - L(\theta_{old})$")
    lim = max(np.abs(imp_c).max(), 1e-12)
    ax_imp.set_ylim(min(-0.1 * lim, 1.1 * imp_c.min()), 1.1 * max(imp_c.max(), 0.1 * lim))
    ax_imp.legend(fontsize=7, loc="lower left")
    for ax in (ax_kl, ax_imp):
        ax.set_xlim(0, 1.03)
    fig.tight_layout()
    return {"points": points, "outcomes": outcomes, "colors": colors, "coefs": coefs, "kls": kls,
            "improvements": improvements, "accepted": bool(result.accepted),
            "theta_new": np.asarray(result.theta), "full_step": full_step, "contour": contour,
            "message": result.message}


def line_search_explorer(example=None):
    """Widget: delta (log), backtrack_coef, max_backtracks and theta_old -> ``draw_line_search``."""
    example = example or running_example()

    def draw(fig, delta, backtrack_coef, max_backtracks, theta_old):
        return draw_line_search(fig, delta=delta, backtrack_coef=backtrack_coef,
                                max_backtracks=max_backtracks, theta_old=theta_old, example=example)

    return interactive_figure(
        draw, figsize=(12, 5.2),
        delta=widgets.FloatLogSlider(value=0.5, base=10, min=-3, max=0, step=0.1,
                                     description="delta", readout_format=".3f",
                                     continuous_update=False),
        backtrack_coef=widgets.FloatSlider(value=0.8, min=0.3, max=0.95, step=0.05,
                                           description="backtrack", readout_format=".2f",
                                           continuous_update=False),
        max_backtracks=widgets.IntSlider(value=10, min=0, max=20, description="max backtr.",
                                         continuous_update=False),
        theta_old=widgets.Dropdown(options=list(LINE_SEARCH_STARTS), value=(-4.0, -4.0),
                                   description="theta_old"))
# ---- end 06 ----
