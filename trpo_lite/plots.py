"""Matplotlib figures the notebooks share. Only this module and widgets.py import matplotlib.

The running example's map: the exact objective J(theta) of ``tabular.running_example()``
drawn as filled contours over theta = (theta_0, theta_1), on which every notebook draws its
paths, trust regions and line-search attempts.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .tabular import running_example

AXIS_LABELS = (r"$\theta_0$  (common state $s_0$)", r"$\theta_1$  (rare state $s_1$)")


def running_example_map(ax=None, example=None, box=None, n_grid=161, levels=25, title=None,
                        colorbar=True):
    """Filled contours of J(theta) with the start point and the optimum marked.

    Returns the Axes. ``box=(lo, hi)`` sets both axis ranges (default: the example's box).
    """
    example = example or running_example()
    lo, hi = box or example.box
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    t = np.linspace(lo, hi, n_grid)
    cs = ax.contourf(t, t, example.J_grid(t, t), levels=levels, cmap="viridis", alpha=0.85)
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


def draw_path(ax, path, label, color=None, marker=".", **kwargs):
    """A parameter path (n, 2) as a line with markers; returns the Line2D."""
    path = np.asarray(path)
    (line,) = ax.plot(path[:, 0], path[:, 1], marker=marker, color=color, label=label, lw=1.5,
                      ms=4, **kwargs)
    return line


# ---- 01 policy gradient ------------------------------------------------------------
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------
# ---- end 02 ----

# ---- 04 conjugate gradient ---------------------------------------------------------
# ---- end 04 ----

# ---- 06 TRPO -----------------------------------------------------------------------
# ---- end 06 ----

# ---- 07 beyond TRPO ----------------------------------------------------------------
# ---- end 07 ----
