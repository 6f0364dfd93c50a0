"""Figure helpers that several notebooks share. Only the course's figure modules import matplotlib.

The running example's map: the exact objective J(theta) of ``running_example()`` drawn as
filled contours over theta = (theta_0, theta_1), on which notebooks 01-03, 06 and 07 draw
their paths, trust regions and line-search attempts. Also: the true KL ball's edge and its
quadratic ellipse (the explorers of 02 and 06, the figures of 03), learning curves with the
solve line (01, 03, 06) and one colour per algorithm (06, 07). The ``Explorer`` widget is in
``explorer.py``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from contourpy import contour_generator
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from .running_example import running_example

AXIS_LABELS = (r"$\theta_0$  (common state $s_0$)", r"$\theta_1$  (rare state $s_1$)")

# one colour per algorithm, in every figure that compares them (notebooks 06 and 07)
ALGO_COLORS = {"vpg": "tab:gray", "npg": "tab:purple", "trpo": "tab:blue", "ppo": "tab:orange"}


# -------------------------------------------------------- the running example's map
def running_example_map(ax=None, example=None, box=None, n_grid=161, levels=25, title=None,
                        colorbar=True):
    """Filled contours of J(theta) with the start point and the optimum marked.

    Returns the Axes. ``box=(lo, hi)`` sets both axis ranges (default: the example's box).
    """
    example = example or running_example()
    lo, hi = box or example.box
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    cs = draw_J_contours(ax, example, (lo, hi), n_grid, levels)
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label=r"$J(\theta)$")
    start = np.asarray(example.theta_start)
    ax.plot(*start, "o", color="white", mec="black", ms=8, label="start", zorder=5)
    if example.tau > 0:
        opt = example.theta_opt()
        if lo <= opt.min() and opt.max() <= hi:
            ax.plot(*opt, "*", color="gold", mec="black", ms=15, label="optimum", zorder=5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    ax.set_title(title or r"Running example: exact $J(\theta)$")
    return ax


def draw_J_contours(ax, example, box, n_grid=161, levels=25):
    """Filled contours of the example's exact J over box = (lo, hi) on both axes; returns them."""
    t = np.linspace(*box, n_grid)
    return ax.contourf(t, t, example.J_grid(t, t), levels=levels, cmap="viridis", alpha=0.85)


def nice_ceil(x):
    """The smallest of 1, 2, 5 x 10**k that is >= x > 0: axis limits that change in steps."""
    k = np.floor(np.log10(x))
    return float(next(m * 10.0 ** k for m in (1, 2, 5, 10) if m * 10.0 ** k >= x * (1 - 1e-12)))


def draw_path(ax, path, label, color=None, marker=".", **kwargs):
    """A parameter path (n, 2) as a line with markers; returns the Line2D."""
    path = np.asarray(path)
    kwargs.setdefault("lw", 1.5)
    kwargs.setdefault("ms", 4)
    (line,) = ax.plot(path[:, 0], path[:, 1], marker=marker, color=color, label=label, **kwargs)
    return line


# ------------------------------------------------------------ the KL ball on the map
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


def kl_contour_artist(ax):
    """An empty red line collection on ax for the true KL ball's edge (see ``kl_level_set``)."""
    collection = LineCollection([], colors="red", linewidths=2, zorder=4)
    ax.add_collection(collection)
    return collection


def kl_level_set(example, theta_old, delta, box, n_grid, cache=None):
    """The true KL ball's edge {theta: example.kl(theta_old, theta) = delta}, found on an
    n_grid x n_grid grid over box = (lo, hi) on both axes: a list of (m, 2) arrays, empty when
    the whole box lies inside the ball. The KL on the grid does not depend on delta: pass a
    dict as ``cache`` to compute it once per (theta_old, box) while delta moves.
    """
    key = (tuple(np.asarray(theta_old, dtype=float)), tuple(box), int(n_grid))
    found = None if cache is None else cache.get(key)
    if found is None:
        t = np.linspace(*box, int(n_grid))
        kl_grid = example.kl_grid(theta_old, t, t)
        found = (contour_generator(t, t, kl_grid), float(kl_grid.max()))
        if cache is not None:
            cache[key] = found
    generator, kl_max = found
    if kl_max <= delta:                # the whole box lies inside the KL ball
        return []
    return [np.asarray(line) for line in generator.lines(delta) if len(line) > 1]


def kl_contour_legend():
    """The legend entry of ``kl_contour_artist``'s line."""
    return Line2D([], [], color="red", lw=2, label=r"true KL = $\delta$")


# ------------------------------------------------------------------ learning curves
def draw_solve_line(ax, threshold):
    """The dotted line at the return where an environment counts as solved (none if None).

    Pass ``rollout.SOLVE_THRESHOLDS[env_id]``.
    """
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")


def draw_return_vs_env_steps(ax, results, threshold=None):
    """Learning curves: mean return of the last 20 episodes against environment steps.

    ``results`` maps a label to a ``TrainResult`` or to its log (for a stored run,
    ``experiments.stored_log``); ``threshold`` draws the solve line.
    Returns {label: (env_steps, mean_return)}.
    """
    drawn = {}
    for label, result in results.items():
        log = getattr(result, "log", result)
        steps = np.array([row["env_steps"] for row in log])
        ret = np.array([row["mean_return"] for row in log])
        ax.plot(steps, ret, lw=1.8, label=label)
        drawn[label] = (steps, ret)
    draw_solve_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (last 20 episodes)")
    ax.legend(fontsize=8)
    return drawn
