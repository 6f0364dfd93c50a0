"""Notebook 06 (TRPO): its figures, its line-search table and the line-search explorer.

The line search attempt by attempt as a text table (sections 2, 5 and 8); the KL / delta
of the steps two rules take (section 6) and the stored multi-seed runs of data/ as curves, KL
ratios and backtracking counts (sections 7 and 8); and the explorer (section 3): every
attempt of one TRPO line search on the running example's map, coloured by its outcome.
The exercises' checks are in ``ch06_checks``.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from .. import experiments
from .explorer import Explorer, delta_slider, theta_old_menu
from .figures import (
    ALGO_COLORS,
    draw_J_contours,
    draw_solve_line,
    kl_contour_artist,
    kl_contour_legend,
    kl_ellipse,
    kl_level_set,
    nice_ceil,
    running_example_map,
)
from .running_example import running_example, trpo_step

# -------------------------------------------------------- the line search as a table
# reason -> (colour, marker, legend label) for line-search attempts (notebook 06)
LINE_SEARCH_STYLE = {
    "accepted": ("limegreen", "o", "accepted"),
    "kl_violation": ("red", "X", r"rejected: KL > $\delta$"),
    "no_improvement": ("orange", "v", "rejected: no improvement"),
    "kl_violation_and_no_improvement": ("magenta", "P", "rejected: both"),
    "ratio_too_small": ("orange", "v", "rejected: ratio too small"),
    "non_finite": ("black", "x", "rejected: NaN or inf"),
}
_LINE_SEARCH_WHY = {
    "accepted": "accepted",
    "kl_violation": "rejected: KL > delta",
    "no_improvement": "rejected: surrogate did not improve",
    "kl_violation_and_no_improvement": "rejected: KL > delta and no improvement",
    "ratio_too_small": "rejected: actual/expected <= accept_ratio",
    "non_finite": "rejected: NaN or inf",
}


def line_search_table(result, max_kl):
    """The attempts of a ``LineSearchResult`` as a text table, one row per attempt.

    Columns: j, coef = backtrack_coef**j, measured mean KL, KL / delta, measured surrogate
    improvement, expected (linear) improvement coef * g^T full_step, their ratio, outcome.
    The last line is the line search's own message.
    """
    lines = [f"{'j':>3} {'coef':>7} {'KL':>9} {'KL/delta':>9} {'improvement':>12} "
             f"{'expected':>10} {'ratio':>7}  outcome"]
    for a in result.attempts:
        ratio = a.improvement / a.expected_improvement if np.isfinite(a.expected_improvement) else np.nan
        # 3 significant digits: what survives a change of machine (README, the numbers contract)
        lines.append(f"{a.j:>3d} {a.coef:>7.4f} {a.kl:>9.3g} {a.kl / max_kl:>9.3g} "
                     f"{a.improvement:>+12.3g} {a.expected_improvement:>+10.3g} {ratio:>+7.2f}  "
                     f"{_LINE_SEARCH_WHY[a.reason]}")
    kept = "" if result.accepted else " (theta_new = theta_old)"
    lines.append(f"-> {result.message}{kept}")
    return "\n".join(lines)


# ------------------------------- KL / delta of the steps taken; the runs stored in data/
CURVE_LINESTYLES = {"npg": "--"}     # NPG dashed: at small delta it can coincide with TRPO


def draw_curves_with_spread(ax, payload, algos, key="mean_return", labels=None, threshold=None):
    """Mean over seeds (line) and min-max over seeds (band) of ``key`` vs env steps.

    ``payload`` is ``experiments.load_experiment(name)``; curves are interpolated on a common
    env-step grid (``experiments.curves``), where every seed has a value.
    Returns {algo: (grid, mean, low, high)}.
    """
    drawn = {}
    for algo in algos:
        grid, values = experiments.curves(payload, algo, key)
        ok = np.all(np.isfinite(values), axis=0)
        grid, values = grid[ok], values[:, ok]
        mean, low, high = values.mean(axis=0), values.min(axis=0), values.max(axis=0)
        color = ALGO_COLORS.get(algo)
        label = (labels or {}).get(algo, algo.upper())
        ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
        ax.plot(grid, mean, color=color, lw=2, ls=CURVE_LINESTYLES.get(algo, "-"),
                label=f"{label} (mean, min-max of {len(values)} seeds)")
        drawn[algo] = (grid, mean, low, high)
    draw_solve_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (last 20 episodes)")
    ax.legend(fontsize=8, loc="upper left")
    return drawn


def per_update_values(payload, algo, key):
    """All seeds' per-update values of ``key`` for ``algo``, concatenated -> (n_updates,)."""
    runs = [r for r in payload["runs"] if r["algo"] == algo]
    return np.array([np.nan if v is None else v for r in runs for v in r[key]], dtype=float)


def draw_kl_ratio_per_update(ax, payload, algos, labels=None):
    """Measured KL / delta of every update of every seed vs env steps, one colour per algorithm.

    delta is each algorithm's configured trust-region radius (``payload["configs"]``); the line
    at 1 is the constraint. Returns {algo: fraction of updates with KL > delta}.
    """
    fractions = {}
    for k, algo in enumerate(algos):
        delta = payload["configs"][algo]["delta"]
        steps = per_update_values(payload, algo, "env_steps")
        ratio = per_update_values(payload, algo, "measured_kl") / delta
        ok = np.isfinite(ratio) & (ratio > 0)
        fractions[algo] = float(np.mean(ratio[ok] > 1.0))
        label = (labels or {}).get(algo, algo.upper())
        jitter = (k - (len(algos) - 1) / 2) * 0.01 * payload["total_steps"]
        ax.semilogy(steps[ok] + jitter, ratio[ok], ".", ms=4, alpha=0.6, color=ALGO_COLORS.get(algo),
                    label=f"{label}: {100 * fractions[algo]:.0f}% of updates above")
    ax.axhline(1.0, color="black", ls="--", lw=1.5, label=r"KL = $\delta$")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(r"measured KL / $\delta$")
    ax.legend(fontsize=8, loc="lower right")
    return fractions


def draw_backtrack_counts(ax, payload, algo="trpo", max_backtracks=10):
    """Histogram (bars) of line-search attempts per update over all seeds of ``algo``.

    Returns the counts (max_backtracks + 2,): index k = updates with k attempts (0 unused).
    """
    attempts = per_update_values(payload, algo, "line_search_attempts").astype(int)
    counts = np.bincount(attempts, minlength=max_backtracks + 2)
    k = np.arange(1, len(counts))
    ax.bar(k, counts[1:], color=ALGO_COLORS.get(algo, "tab:blue"))
    ax.set_yscale("log")
    ax.set_xlabel("line-search attempts in one update (1 = full step accepted)")
    ax.set_ylabel("number of updates (all seeds)")
    ax.set_xticks(k)
    ax.set_ylim(0.5, 2 * max(counts.max(), 1))
    return counts


def draw_kl_ratio_strips(ax, groups, colors=None):
    """One vertical strip of points per group: measured KL / delta of the steps a method took.

    ``groups`` maps a label to an array of KL / delta values (one per accepted step). The
    dashed line at 1 is the trust region's edge. Returns {label: fraction of values > 1}.
    """
    fractions = {}
    rng = np.random.default_rng(0)                      # horizontal jitter only
    for k, (label, ratios) in enumerate(groups.items()):
        ratios = np.asarray(ratios, dtype=float)
        ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
        fractions[label] = float(np.mean(ratios > 1.0)) if ratios.size else 0.0
        x = k + rng.uniform(-0.25, 0.25, ratios.size)
        color = None if colors is None else colors[k]
        ax.semilogy(x, ratios, ".", ms=4, alpha=0.5, color=color)
        ax.text(k, 0.97, f"{100 * fractions[label]:.0f}% above 1", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.axhline(1.0, color="black", ls="--", lw=1.5, label=r"KL = $\delta$")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 4)                         # room for the labels at the top
    ax.set_ylabel(r"measured KL / $\delta$ of the step taken")
    ax.legend(fontsize=8, loc="lower right")
    return fractions


# --------------------------------- explorer: one TRPO line search on the map (section 3)
LINE_SEARCH_STARTS = (("saturated start (-4, -4)", (-4.0, -4.0)),
                      ("below the optimum (0.5, 3.5)", (0.5, 3.5)),
                      ("next to the optimum (1, 4)", (1.0, 4.0)))


MAX_BACKTRACKS_SLIDER = 15                   # the "max backtr." slider's maximum


def _square_box(points, margin=0.12, min_width=2.0):
    """A (lo, hi) range that contains every row of ``points`` on both axes, with a margin."""
    lo, hi = float(np.min(points)), float(np.max(points))
    pad = margin * max(hi - lo, min_width) + 0.5 * max(min_width - (hi - lo), 0.0)
    return lo - pad, hi + pad


def _map_box(theta_old, full_step):
    """The map's (lo, hi) around theta_old and the full step, in steps: its half-width is a power
    of sqrt(2) and its centre a multiple of an eighth of it, so that most delta moves keep the
    map (and its picture) of the move before."""
    lo, hi = _square_box(np.vstack([theta_old, theta_old + full_step]), min_width=3.0)
    half = 2.0 ** (np.ceil(2.0 * np.log2(0.58 * (hi - lo))) / 2.0)
    unit = half / 8.0
    centre = unit * np.round(0.5 * (lo + hi) / unit)
    return round(centre - half, 9), round(centre + half, 9)


def _build_line_search(fig, example=None, rule="kl_and_improvement", n_grid=201):
    """What the line-search explorer never changes: three panels, their labels, pools of markers.

    Returns the artists ``_update_line_search`` moves. The map of J and the KL grid are kept per
    map range (``_map_box``), so that going back to a range costs nothing.
    """
    example = example or running_example()
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1])
    ax_map = fig.add_subplot(grid[:, 0])
    ax_kl, ax_imp = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])
    running_example_map(ax=ax_map, example=example, colorbar=False, title=" ")
    contour = kl_contour_artist(ax_map)
    (ellipse,) = ax_map.plot([], [], ":", color="white", lw=1.5)
    (step,) = ax_map.plot([], [], "--", color="white", lw=1.2)
    (centre,) = ax_map.plot([], [], "s", color="white", mec="black", ms=8, zorder=6)
    reasons = (("accepted", "kl_violation", "no_improvement", "kl_violation_and_no_improvement")
               if rule == "kl_and_improvement" else ("accepted", "ratio_too_small"))
    handles = [Line2D([], [], color="white", marker="s", mec="black", ls="", label=r"$\theta_{old}$"),
               Line2D([], [], color="white", ls="--", label="full step (coef = 1)"),
               kl_contour_legend(),
               Line2D([], [], color="white", ls=":", label=r"$\frac{1}{2}s^TFs = \delta$")]
    handles += [Line2D([], [], color=LINE_SEARCH_STYLE[r][0], marker=LINE_SEARCH_STYLE[r][1],
                       mec="black", ls="", ms=9, label=LINE_SEARCH_STYLE[r][2]) for r in reasons]
    ax_map.legend(handles=handles, loc="lower right", fontsize=7, facecolor="lightgray")
    n_pool = MAX_BACKTRACKS_SLIDER + 1
    pools = {ax: [ax.plot([], [], "o", mec="black", zorder=7)[0] for _ in range(n_pool)]
             for ax in (ax_map, ax_kl, ax_imp)}

    c = np.linspace(0.0, 1.0, 101)[1:]
    (kl_curve,) = ax_kl.plot([], [], color="tab:blue", lw=1.5, label="measured KL / $\\delta$")
    ax_kl.axhline(1.0, color="red", ls="--", lw=1, label="KL = $\\delta$")
    budget = LineCollection([], colors="gray", linewidths=1, alpha=0.5, zorder=1)
    ax_kl.add_collection(budget)
    ax_kl.set_ylabel(r"KL / $\delta$")
    ax_kl.set_title("along the full step: attempts at coef = backtrack_coef$^j$\n"
                    "(gray: the coefs max_backtracks allows)", fontsize=9)
    ax_kl.legend(fontsize=7, loc="upper left")
    (imp_curve,) = ax_imp.plot([], [], color="tab:blue", lw=1.5, label="surrogate improvement")
    (expected,) = ax_imp.plot([], [], color="gray", ls=":", lw=1, label=r"expected: coef $g^T s$")
    ax_imp.axhline(0.0, color="black", lw=0.8)
    ax_imp.set_xlabel(r"coef  (step = coef $\times$ full step)")
    ax_imp.set_ylabel(r"$L(\theta) - L(\theta_{old})$")
    ax_imp.legend(fontsize=7, loc="lower left")
    for ax in (ax_kl, ax_imp):
        ax.set_xlim(0, 1.03)
    fig.tight_layout()
    return {"example": example, "rule": rule, "n_grid": n_grid, "c": c, "ax_map": ax_map,
            "ax_kl": ax_kl, "ax_imp": ax_imp, "pools": pools, "J_maps": {}, "kl_grids": {},
            "box": None, "J_map": ax_map.collections[0],
            "moving": [contour, ellipse, step, centre, kl_curve, budget, imp_curve, expected,
                       ax_map.title, *(m for pool in pools.values() for m in pool)]}


def _show_map_box(artists, box):
    """Show the map of J for ``box`` (drawn once per range and kept) and hide the others."""
    if artists["box"] == box:
        return
    ax_map, maps = artists["ax_map"], artists["J_maps"]
    if artists["box"] is None:                 # the map running_example_map drew
        artists["J_map"].set_visible(False)
    else:
        maps[artists["box"]].set_visible(False)
    if box not in maps:
        maps[box] = draw_J_contours(ax_map, artists["example"], box)
    maps[box].set_visible(True)
    ax_map.set_xlim(*box)
    ax_map.set_ylim(*box)
    artists["box"] = box


def _set_markers(pool, xs, ys, outcomes):
    """The first len(outcomes) markers of pool at (xs, ys) in their outcome's style; the rest empty."""
    for k, marker in enumerate(pool):
        if k < len(outcomes):
            color, symbol, _ = LINE_SEARCH_STYLE[outcomes[k]]
            marker.set_data([xs[k]], [ys[k]])
            marker.set(marker=symbol, color=color, markeredgecolor="black",
                       markersize=12 if outcomes[k] == "accepted" else 9)
        else:
            marker.set_data([], [])


def _update_line_search(artists, delta=0.5, backtrack_coef=0.8, max_backtracks=10,
                        theta_old=(-4.0, -4.0)):
    """Run one TRPO line search from theta_old and move every attempt, curve and text."""
    example = artists["example"]
    theta_old = np.asarray(theta_old, dtype=float)
    full_step, result = trpo_step(example, theta_old, delta, backtrack_coef, int(max_backtracks),
                                  artists["rule"])
    coefs = np.array([a.coef for a in result.attempts])
    points = theta_old + coefs[:, None] * full_step
    outcomes = [a.reason for a in result.attempts]
    kls = np.array([a.kl for a in result.attempts])
    improvements = np.array([a.improvement for a in result.attempts])
    ellipse = kl_ellipse(example.fisher(theta_old), theta_old, delta)       # notebook 02
    (contour_lines, ellipse_line, step_line, centre, kl_curve, budget, imp_curve, expected,
     map_title) = artists["moving"][:9]

    # map: J for this range, the KL ball, the ellipse, the full step and the attempts
    box = _map_box(theta_old, full_step)
    _show_map_box(artists, box)
    contour = kl_level_set(example, theta_old, delta, box, artists["n_grid"], cache=artists["kl_grids"])
    contour_lines.set_segments(contour)
    ellipse_line.set_data(ellipse[:, 0], ellipse[:, 1])
    step_line.set_data(*np.vstack([theta_old, theta_old + full_step]).T)
    centre.set_data([theta_old[0]], [theta_old[1]])
    rejected = sum(reason != "accepted" for reason in outcomes)
    verdict = (f"accepted coef = {result.coef:.3g} after {rejected} rejected" if result.accepted
               else f"{rejected} rejected: kept $\\theta_{{old}}$ (line search failed)")
    map_title.set_text(rf"$\delta$ = {delta:.3g}, backtrack_coef = {backtrack_coef:.2g}: {verdict}")
    pools = artists["pools"]
    _set_markers(pools[artists["ax_map"]], points[:, 0], points[:, 1], outcomes)

    # profiles along the full step, and the coefs the budget allows
    c = artists["c"]
    kl_c, L_c = example.along(theta_old, theta_old + c[:, None] * full_step)
    imp_c = L_c - example.surrogate(theta_old, theta_old)
    kl_curve.set_data(c, kl_c / delta)
    imp_curve.set_data(c, imp_c)
    expected.set_data(c, c * result.attempts[0].expected_improvement)
    _set_markers(pools[artists["ax_kl"]], coefs, kls / delta, outcomes)
    _set_markers(pools[artists["ax_imp"]], coefs, improvements, outcomes)
    kl_top = nice_ceil(1.15 * max(kl_c.max() / delta, 1.2))
    budget.set_segments([[(backtrack_coef ** j, 0.0), (backtrack_coef ** j, kl_top)]
                         for j in range(int(max_backtracks) + 1)])
    lim = max(np.abs(imp_c).max(), 1e-12)
    imp_range = (-nice_ceil(max(0.1 * lim, -1.1 * imp_c.min())), nice_ceil(1.1 * max(imp_c.max(), 0.1 * lim)))
    artists["ax_kl"].set_ylim(0.0, kl_top)
    artists["ax_imp"].set_ylim(*imp_range)
    artists["view"] = (box, kl_top, imp_range)
    return {"points": points, "outcomes": outcomes, "colors": [LINE_SEARCH_STYLE[r][0] for r in outcomes],
            "coefs": coefs, "kls": kls, "improvements": improvements, "accepted": bool(result.accepted),
            "theta_new": np.asarray(result.theta), "full_step": full_step, "contour": contour,
            "message": result.message}


def draw_line_search(fig, delta=0.5, backtrack_coef=0.8, max_backtracks=10,
                     theta_old=(-4.0, -4.0), example=None, rule="kl_and_improvement", n_grid=201):
    """Every attempt of one TRPO line search on the running example, coloured by its outcome.

    The step is ``running_example.trpo_step``: full_step = sqrt(2 delta / x^T F x) x with
    x = F^-1 g, then ``backtracking_line_search``. Left: the map of J (zoomed on the step) with
    theta_old, the full step (dashed), the true KL = delta contour around theta_old, the
    quadratic ellipse 0.5 s^T F s = delta, and the attempts theta_old + coef_j * full_step
    (red X: KL > delta, orange triangle: no improvement, magenta: both, green: accepted).
    Right: the measured KL / delta and the surrogate improvement along the full step as
    functions of coef, with the attempts marked and the coefs backtrack_coef**j,
    j <= max_backtracks, that the line search may try (gray).

    Returns the drawn data: ``points`` (k, 2), ``outcomes`` (k reasons), ``colors`` (k),
    ``coefs``, ``kls``, ``improvements`` (k,), ``accepted``, ``theta_new``, ``full_step``,
    ``contour`` (list of (m, 2) arrays of the KL = delta level set), ``message``.
    """
    fig.clear()
    return _update_line_search(_build_line_search(fig, example, rule, n_grid), delta,
                               backtrack_coef, max_backtracks, theta_old)


def line_search_explorer(example=None):
    """Explorer: delta (log), backtrack_coef, max_backtracks and theta_old -> one line search."""
    return Explorer(
        _build_line_search, _update_line_search, figsize=(12, 5.2), example=example,
        name="One TRPO line search on the running example",
        controls={"delta": delta_slider(0.5, -3, ".3f"),
                  "backtrack_coef": widgets.FloatSlider(value=0.8, min=0.3, max=0.95, step=0.05,
                                                        description="backtrack", readout_format=".2f"),
                  "max_backtracks": widgets.IntSlider(value=10, min=0, max=MAX_BACKTRACKS_SLIDER,
                                                      description="max backtr."),
                  "theta_old": theta_old_menu(LINE_SEARCH_STARTS, (-4.0, -4.0))})
