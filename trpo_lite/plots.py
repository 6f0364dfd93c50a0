"""Matplotlib figures the notebooks share. Only this module and widgets.py import matplotlib.

The running example's map: the exact objective J(theta) of ``tabular.running_example()``
drawn as filled contours over theta = (theta_0, theta_1), on which every notebook draws its
paths, trust regions and line-search attempts.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from .tabular import clip_box, ppo_objectives, running_example

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
    kwargs.setdefault("lw", 1.5)
    kwargs.setdefault("ms", 4)
    (line,) = ax.plot(path[:, 0], path[:, 1], marker=marker, color=color, label=label, **kwargs)
    return line


# ---- 01 policy gradient ------------------------------------------------------------
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------
# ---- end 02 ----

# ---- 04 conjugate gradient ---------------------------------------------------------
# ---- end 04 ----

# ---- 06 TRPO -----------------------------------------------------------------------

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


def draw_trpo_run(axes, log, delta, title=None):
    """A training log (``TrainResult.log``) of TRPO in three panels.

    ``axes[0]``: mean return of the last 20 episodes vs env steps; ``axes[1]``: measured mean KL
    of each update with the trust-region radius delta (log scale); ``axes[2]``: number of
    line-search attempts per update (1 = the full step was accepted). Returns the arrays drawn.
    """
    steps = np.array([row["env_steps"] for row in log])
    ret = np.array([row["mean_return"] for row in log])
    kl = np.array([row["measured_kl"] for row in log])
    attempts = np.array([row["line_search_attempts"] for row in log])
    accepted = np.array([row["accepted"] for row in log], dtype=bool)
    ax_ret, ax_kl, ax_ls = axes
    ax_ret.plot(steps, ret, color="tab:blue", lw=2, label="TRPO")
    ax_ret.axhline(475, color="gray", ls=":", lw=1, label="solved (475)")
    ax_ret.set_xlabel("environment steps")
    ax_ret.set_ylabel("mean return (last 20 episodes)")
    ax_ret.set_title(title or "learning curve")
    ax_ret.legend(fontsize=8, loc="lower right")
    it = np.arange(1, len(log) + 1)
    ax_kl.semilogy(it[accepted], kl[accepted], "o-", color="tab:blue", ms=4, lw=1,
                   label="measured KL of the accepted step")
    ax_kl.axhline(delta, color="black", ls="--", lw=1.5, label=rf"$\delta$ = {delta:g}")
    ax_kl.set_xlabel("update")
    ax_kl.set_ylabel(r"mean KL($\pi_{old} \| \pi_{new}$)")
    ax_kl.set_title(rf"KL per update (max {kl.max() / delta:.2f} $\delta$)")
    shown = kl[accepted & (kl > 0)]
    ax_kl.set_ylim((shown.min() if shown.size else delta) / 4, 2 * delta)   # legend below the points
    ax_kl.legend(fontsize=8, loc="lower right")
    ax_ls.bar(it, attempts, color=np.where(accepted, "tab:blue", "tab:red"), width=0.8)
    ax_ls.set_xlabel("update")
    ax_ls.set_ylabel("line-search attempts")
    ax_ls.set_title(f"backtracking: {int((attempts > 1).sum())} of {len(it)} updates shrank the step")
    ax_ls.set_ylim(0, max(3, attempts.max() + 1))
    ax_ls.yaxis.set_major_locator(MaxNLocator(integer=True))
    return {"env_steps": steps, "mean_return": ret, "measured_kl": kl, "attempts": attempts,
            "accepted": accepted}


# one colour per algorithm in notebook 06 (the same as notebook 07's figures)
CURVE_COLORS = {"vpg": "tab:gray", "npg": "tab:purple", "trpo": "tab:blue", "ppo": "tab:orange"}
CURVE_LINESTYLES = {"npg": "--"}     # NPG dashed: at small delta it can coincide with TRPO


def draw_curves_with_spread(ax, payload, algos, key="mean_return", labels=None, threshold=None):
    """Mean over seeds (line) and min-max over seeds (band) of ``key`` vs env steps.

    ``payload`` is ``experiments.load_experiment(name)``; curves are interpolated on a common
    env-step grid (``experiments.curves``), where every seed has a value.
    Returns {algo: (grid, mean, low, high)}.
    """
    from .experiments import curves

    drawn = {}
    for algo in algos:
        grid, values = curves(payload, algo, key)
        ok = np.all(np.isfinite(values), axis=0)
        grid, values = grid[ok], values[:, ok]
        mean, low, high = values.mean(axis=0), values.min(axis=0), values.max(axis=0)
        color = CURVE_COLORS.get(algo)
        label = (labels or {}).get(algo, algo.upper())
        ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
        ax.plot(grid, mean, color=color, lw=2, ls=CURVE_LINESTYLES.get(algo, "-"),
                label=f"{label} (mean, min-max of {len(values)} seeds)")
        drawn[algo] = (grid, mean, low, high)
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")
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
        ax.semilogy(steps[ok] + jitter, ratio[ok], ".", ms=4, alpha=0.6, color=CURVE_COLORS.get(algo),
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
    ax.bar(k, counts[1:], color=CURVE_COLORS.get(algo, "tab:blue"))
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
# ---- end 06 ----

# ---- 07 beyond TRPO ----------------------------------------------------------------


def draw_objectives_along_line(ax, t, curves, t_kl=None, t_clip=None):
    """Objectives along theta_old + t d: ``curves`` maps a label to values (len(t),).

    ``t_kl`` marks where the measured KL reaches delta; ``t_clip`` shades where every ratio is
    clipped (the flat part of L_clip). Returns the Line2D objects by label.
    """
    styles = {0: dict(color="C0", lw=2.5), 1: dict(color="C1", ls="--", lw=1.8),
              2: dict(color="C2", ls=":", lw=1.8, zorder=4), 3: dict(color="C3", lw=2.0)}
    lines = {}
    for k, (label, values) in enumerate(curves.items()):
        (lines[label],) = ax.plot(t, values, label=label, **styles[k % 4])
    ax.axvline(0.0, color="black", lw=0.8)
    if t_kl is not None:
        ax.axvline(t_kl, color="gray", ls="--", lw=1, label=r"measured KL $= \delta$")
    if t_clip is not None:
        ax.axvspan(t_clip, t[-1], color="C3", alpha=0.08, label=r"every ratio clipped")
    ax.set_xlabel(r"$t$ along $\theta_{old} + t\,d$  ($t = 1$: the natural step of size $\delta$)")
    ax.set_ylabel("objective")
    ax.legend(fontsize=8)
    return lines


PATH_COLORS_07 = ("magenta", "cyan", "black", "tab:blue")


def draw_clip_map(ax, example, theta_old, clip, delta, box, paths=None, corner=None, n_grid=161):
    """Contours of L_clip around theta_old, the clip box (dotted: r(s,a) = 1 -/+ eps), the KL ball
    KL(old || theta) = delta (white), optional ``paths`` {label: (n, 2)} and an optional
    ``corner`` (2,) marking where L_clip becomes flat.

    Returns {"L_clip": (n_grid, n_grid), "kl": (n_grid, n_grid), "box": clip box dict}.
    """
    (lo0, hi0), (lo1, hi1) = box
    t0, t1 = np.linspace(lo0, hi0, n_grid), np.linspace(lo1, hi1, n_grid)
    grid = np.stack(np.meshgrid(t0, t1), axis=-1)
    L_clip, _ = ppo_objectives(example, theta_old, grid, clip)
    kl = example.kl_grid(theta_old, t0, t1)
    cs = ax.contourf(t0, t1, L_clip, levels=20, cmap="viridis")
    ax.figure.colorbar(cs, ax=ax, label=r"$L^{clip}(\theta)$")
    ax.contour(t0, t1, kl, levels=[delta], colors="white", linewidths=2)
    ax.plot([], [], color="white", lw=2, label=rf"KL ball, $\delta$ = {delta:g} (TRPO)")
    box_lines = clip_box(example, theta_old, clip)
    for (s, a), bounds in box_lines.items():
        for b in bounds:
            if np.isfinite(b):
                (ax.axvline if s == 0 else ax.axhline)(b, color="tab:red" if a == 1 else "tab:orange",
                                                       ls=":", lw=1.3)
    ax.plot([], [], color="tab:red", ls=":", label=r"$r(s, 1) = 1 \pm \epsilon$")
    ax.plot([], [], color="tab:orange", ls=":", label=r"$r(s, 0) = 1 \pm \epsilon$")
    ax.plot(*theta_old, "o", color="white", mec="black", ms=8, label=r"$\theta_{old}$", zorder=5)
    if corner is not None:
        ax.plot(*corner, "X", color="tab:red", mec="white", ms=11, zorder=7,
                label=r"$L^{clip}$ flat beyond this corner")
    for k, (label, path) in enumerate((paths or {}).items()):
        draw_path(ax, path, label, color=PATH_COLORS_07[k % len(PATH_COLORS_07)], zorder=6)
    ax.set_xlim(lo0, hi0)
    ax.set_ylim(lo1, hi1)
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3,
              facecolor="lightgray")                     # grey: the KL ball's entry is white
    return {"L_clip": L_clip, "kl": kl, "box": box_lines}


def curves_vs_wall_seconds(payload, algo, grid, key="mean_return"):
    """Per-seed ``key`` of ``algo`` interpolated on a grid of wall-clock seconds (from data/).

    Returns (n_seeds, len(grid)), NaN outside a run's measured time span.
    """
    runs = [r for r in payload["runs"] if r["algo"] == algo]
    if not runs:
        raise ValueError(f"no runs for algo {algo!r} in this data file")
    grid = np.asarray(grid, dtype=float)
    out = np.full((len(runs), len(grid)), np.nan)
    for i, r in enumerate(runs):
        x = np.asarray(r["wall_seconds"], float)
        y = np.array([np.nan if v is None else v for v in r[key]], float)
        ok = np.isfinite(y)
        if ok.any():
            inside = (grid >= x[ok][0]) & (grid <= x[ok][-1])
            out[i, inside] = np.interp(grid[inside], x[ok], y[ok])
    return out


ALGO_COLORS = {"vpg": "tab:gray", "npg": "tab:purple", "trpo": "tab:blue", "ppo": "tab:orange"}


def draw_median_and_spread(ax, x, values, label, color=None):
    """Median over seeds (rows of ``values``) with the min-max band; returns the median (len(x),)."""
    import warnings

    with warnings.catch_warnings():                 # all-NaN columns (no run reached that x yet)
        warnings.simplefilter("ignore", RuntimeWarning)
        med, lo, hi = (np.nanmedian(values, 0), np.nanmin(values, 0), np.nanmax(values, 0))
    ax.plot(x, med, color=color, lw=2, label=f"{label} (median of {len(values)} seeds)")
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    return med


def draw_return_vs_steps_and_seconds(axes, payload, algos=("trpo", "ppo"), threshold=None,
                                     n_grid=101):
    """Left: mean return vs env steps; right: vs wall-clock seconds (both from data/).

    Median and min-max band over seeds per algorithm. The seconds axis stops where the first
    run ended, so every median is over all seeds. Returns {algo: {"steps": (grid, med),
    "seconds": (grid, med)}}.
    """
    from .experiments import curves

    ax_steps, ax_sec = axes
    t_max = min(r["wall_seconds"][-1] for r in payload["runs"] if r["algo"] in algos)
    sec_grid = np.linspace(0.0, t_max, n_grid)
    drawn = {}
    for algo in algos:
        color = ALGO_COLORS.get(algo)
        grid, values = curves(payload, algo)
        med_steps = draw_median_and_spread(ax_steps, grid, values, algo.upper(), color)
        med_sec = draw_median_and_spread(ax_sec, sec_grid, curves_vs_wall_seconds(payload, algo, sec_grid),
                                         algo.upper(), color)
        drawn[algo] = {"steps": (grid, med_steps), "seconds": (sec_grid, med_sec)}
    for ax, xlabel in ((ax_steps, "environment steps"), (ax_sec, "wall-clock seconds (measured when data/ was made)")):
        if threshold is not None:
            ax.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean return (last 20 episodes)")
        ax.legend(fontsize=8, loc="lower right")
    ax_steps.set_title(f"{payload['env_id']}: return vs samples")
    ax_sec.set_title(f"{payload['env_id']}: return vs wall-clock")
    return drawn


def draw_pendulum_trpo(axes, payload, delta, threshold=None):
    """Pendulum TRPO from data/: return vs env steps (each seed + median) and the measured KL
    of every update against delta. Returns {"steps": grid, "median": (G,), "kl": (n_seeds, n_iters)}."""
    from .experiments import curves

    ax_ret, ax_kl = axes
    grid, values = curves(payload, "trpo")
    runs = [r for r in payload["runs"] if r["algo"] == "trpo"]
    for r in runs:
        ax_ret.plot(r["env_steps"], [np.nan if v is None else v for v in r["mean_return"]], lw=0.8,
                    alpha=0.6, label=f"seed {r['seed']}")
    med = draw_median_and_spread(ax_ret, grid, values, "TRPO", "tab:blue")
    if threshold is not None:
        ax_ret.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")
    ax_ret.set_xlabel("environment steps")
    ax_ret.set_ylabel("mean return (last 20 episodes)")
    ax_ret.set_title(f"{payload['env_id']}: TRPO, diagonal-Gaussian policy")
    ax_ret.legend(fontsize=8, loc="lower right")
    kl = np.array([[np.nan if v is None else v for v in r["measured_kl"]] for r in runs], float)
    for r, row in zip(runs, kl):
        ax_kl.plot(np.arange(1, len(row) + 1), row, ".", ms=4, alpha=0.7, label=f"seed {r['seed']}")
    ax_kl.axhline(delta, color="black", ls="--", lw=1.2, label=rf"$\delta$ = {delta:g}")
    ax_kl.set_xlabel("update (iteration)")
    ax_kl.set_ylabel(r"measured mean KL($\pi_{old} \| \pi_{new}$)")
    ax_kl.set_title("every accepted step stays inside the trust region")
    ax_kl.legend(fontsize=8, loc="lower right")
    return {"steps": grid, "median": med, "kl": kl}


def draw_clipped_objective_per_sample(axes, clip=0.2, r_max=2.0):
    """One sample's PPO objective min(r A, clip(r, 1-eps, 1+eps) A) against the ratio r, for
    A = +1 (left) and A = -1 (right), computed with ``algos.clipped_surrogate`` (via
    ``checks.clipped_objective_per_sample_reference``). The shaded part has zero gradient.
    Returns {A: (r, objective)}."""
    from .checks import clipped_objective_per_sample_reference

    r = np.linspace(0.02, r_max, 197)
    drawn = {}
    for ax, A in zip(axes, (1.0, -1.0)):
        objective = clipped_objective_per_sample_reference(r, np.full_like(r, A), clip)
        ax.plot(r, r * A, color="gray", ls="--", lw=1.2, label=r"$r A$ (unclipped)")
        ax.plot(r, np.clip(r, 1 - clip, 1 + clip) * A, color="C1", ls=":", lw=1.5,
                label=r"clip$(r, 1-\epsilon, 1+\epsilon)\,A$")
        ax.plot(r, objective, color="C3", lw=2.5, label=r"$\min$ of the two (PPO)")
        flat = (r > 1 + clip) if A > 0 else (r < 1 - clip)
        ax.fill_between(r, objective.min() - 0.1, objective.max() + 0.1, where=flat, color="C3",
                        alpha=0.08, lw=0, label="zero gradient")
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xlabel(r"probability ratio $r = \pi_\theta(a|s) / \pi_{old}(a|s)$")
        ax.set_ylabel("objective of this sample")
        ax.set_title(rf"$A = {A:+g}$: {'more' if A > 0 else 'less'} probability helps, "
                     rf"up to $r = {1 + clip if A > 0 else 1 - clip:g}$")
        ax.legend(fontsize=8)
        drawn[A] = (r, objective)
    return drawn


def draw_seconds_per_iteration(ax, payload, algos=("npg", "trpo", "ppo")):
    """Box plot of the measured seconds per training iteration (rollout + update + value fit)
    of every run in a data/ file. Returns {algo: per-iteration seconds (all seeds)}."""
    per_algo = {}
    for algo in algos:
        runs = [r for r in payload["runs"] if r["algo"] == algo]
        per_algo[algo] = np.concatenate([np.diff(np.concatenate([[0.0], r["wall_seconds"]]))
                                         for r in runs])
    box = ax.boxplot(list(per_algo.values()), patch_artist=True, showfliers=False)
    for patch, algo in zip(box["boxes"], algos):
        patch.set_facecolor(ALGO_COLORS.get(algo, "white"))
        patch.set_alpha(0.6)
    ax.set_xticks(range(1, len(algos) + 1), [a.upper() for a in algos])
    ax.set_xlabel("policy update (same rollout and value fit)")
    ax.set_ylabel("seconds per iteration")
    ax.set_title("wall-clock per iteration, from data/ (rollout + update + value fit)")
    return per_algo
# ---- end 07 ----

# ---- 05 monotonic improvement ------------------------------------------------------
def loglog_with_slope(ax, t, err, slope=2.0, label=None, fit_below=None):
    """``err(t)`` on log-log axes with a reference line ``c t**slope`` through its first point.

    Returns the least-squares slope of log(err) against log(t) over ``t <= fit_below``
    (all points if None); it should be close to ``slope``.
    """
    t, err = np.asarray(t, dtype=float), np.asarray(err, dtype=float)
    ax.loglog(t, err, "o-", ms=4, label=label)
    ax.loglog(t, err[0] * (t / t[0]) ** slope, "k--", lw=1, label=f"reference slope {slope:g}")
    keep = np.ones_like(t, dtype=bool) if fit_below is None else t <= fit_below
    return float(np.polyfit(np.log(t[keep]), np.log(err[keep]), 1)[0])


def mm_line_picture(ax, t, eta_t, L_t, M_t, ylim=None, legend=True):
    """eta, L and the bound M = L - C max KL along theta_old + t d (the minorise-maximise picture).

    Marks the old policy (t = 0, where all three touch) and the maximiser of M on the line.
    ``ylim`` defaults to the range of eta and L plus a margin (M plunges far below).
    Returns ``{"t_star": argmax_t M, "M_star": M(t_star), "eta_star": eta(t_star)}``.
    """
    t, eta_t, L_t, M_t = (np.asarray(a, dtype=float) for a in (t, eta_t, L_t, M_t))
    ax.plot(t, eta_t, color="C0", lw=2.5, label=r"$\eta(\pi_t)$  (true return)")
    ax.plot(t, L_t, color="C1", lw=1.5, ls="--", label=r"$L_{old}(\pi_t)$  (surrogate)")
    ax.plot(t, M_t, color="C2", lw=1.5, label=r"$M_{old} = L - C\,\max_s KL$  (bound)")
    k0, k = int(np.argmin(np.abs(t))), int(np.argmax(M_t))
    ax.plot(t[k0], eta_t[k0], "o", color="black", ms=7, label=r"old policy ($t=0$)", zorder=5)
    ax.plot(t[k], M_t[k], "*", color="C3", mec="black", ms=14, label=r"argmax$_t\,M$", zorder=6)
    ax.axvline(t[k], color="C3", lw=0.8, ls=":")
    if ylim is None:
        lo, hi = min(eta_t.min(), L_t.min()), max(eta_t.max(), L_t.max())
        ylim = (lo - 0.15 * (hi - lo), hi + 0.1 * (hi - lo))
    ax.set_ylim(*ylim)
    ax.set_xlabel(r"step length $t$ along $\theta_{old} + t\,d$")
    ax.set_ylabel("value")
    if legend:
        ax.legend(fontsize=8)
    return {"t_star": float(t[k]), "M_star": float(M_t[k]), "eta_star": float(eta_t[k])}


def slack_histogram(ax, slack, groups, group_labels, n_bins=40):
    """Histogram of the slack eta(new) - M_old(new) on log-spaced bins, one colour per group.

    ``slack`` (N,) must be > 0 to be drawn on the log axis; ``groups`` (N,) ints index
    ``group_labels``. Returns the bin edges.
    """
    slack, groups = np.asarray(slack, dtype=float), np.asarray(groups)
    edges = np.logspace(np.log10(slack.min()), np.log10(slack.max()), n_bins + 1)
    ax.hist([slack[groups == g] for g in range(len(group_labels))], bins=edges, stacked=True,
            label=list(group_labels))
    ax.set_xscale("log")
    ax.set_xlabel(r"slack $\eta(\pi_{new}) - M_{old}(\pi_{new})$  (log scale)")
    ax.set_ylabel("number of new policies")
    ax.legend(fontsize=8)
    return edges


def optimality_gap_curves(ax, curves, eta_opt, levels=(0.1, 0.01)):
    """Relative gap (eta* - eta_k) / (eta* - eta_0) per iteration on a log axis, one line per run.

    ``curves`` maps a label to an eta array (n+1,). Horizontal lines mark ``levels``.
    Returns ``{label: gap array}``.
    """
    gaps = {}
    for label, etas in curves.items():
        etas = np.asarray(etas, dtype=float)
        gap = (eta_opt - etas) / (eta_opt - etas[0])
        gaps[label] = gap
        ax.semilogy(np.arange(len(gap)), np.maximum(gap, 1e-16), lw=2, label=label)
    for level in levels:
        ax.axhline(level, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"relative gap $(\eta^* - \eta_k) / (\eta^* - \eta_0)$")
    ax.legend(fontsize=8)
    return gaps
# ---- end 05 ----

# ---- 03 natural gradient -----------------------------------------------------------
PATH_COLORS_BY_SCALE = ("tab:orange", "white", "tab:red", "tab:cyan")


def draw_reparametrisation_paths(axes, example, lr, delta, n_steps, scales):
    """Vanilla (left) and natural (right) paths on the map for theta_1 = c * phi_1, c in ``scales``.

    Both optimisers work in phi = theta / (1, c); the paths are drawn in theta. Uses
    ``tabular.gradient_ascent_path`` and ``tabular.natural_gradient_path`` with
    ``scale=(1, c)``. Returns {"vanilla": {c: path (n_steps+1, 2)}, "natural": {c: path}}.
    """
    from .tabular import gradient_ascent_path, natural_gradient_path

    ax_vanilla, ax_natural = axes
    start = np.asarray(example.theta_start, dtype=float)
    drawn = {"vanilla": {}, "natural": {}}
    for ax, kind in ((ax_vanilla, "vanilla"), (ax_natural, "natural")):
        title = (f"vanilla gradient ascent, lr = {lr:g}" if kind == "vanilla"
                 else rf"natural gradient, $\delta$ = {delta:g}")
        running_example_map(ax=ax, example=example, colorbar=False, title=title)
        for k, c in enumerate(scales):
            scale = (1.0, float(c))
            path = (gradient_ascent_path(example, start, lr, n_steps, scale=scale) if kind == "vanilla"
                    else natural_gradient_path(example, start, delta, n_steps, scale=scale))
            drawn[kind][c] = path
            draw_path(ax, path, label=rf"$\theta_1 = {c:g}\,\phi_1$",
                      color=PATH_COLORS_BY_SCALE[k % len(PATH_COLORS_BY_SCALE)],
                      ls=("-", "--", ":", "-.")[k % 4], marker="o" if k == 0 else ".")
        ax.legend(loc="lower right", fontsize=8, facecolor="lightgray")
    return drawn


def draw_kl_per_update(ax, log, delta, title=None):
    """Measured mean KL of every update against the predicted KL (= delta), log scale.

    ``log`` is ``TrainResult.log`` (rows with ``iteration``, ``predicted_kl``, ``measured_kl``,
    ``surrogate_improvement``). Red dots: KL exceeded delta (problem 3a); black crosses: the
    surrogate got worse (problem 3c). Returns the arrays drawn and the two boolean masks.
    """
    it = np.array([row["iteration"] for row in log])
    predicted = np.array([row["predicted_kl"] for row in log])
    measured = np.array([row["measured_kl"] for row in log])
    improvement = np.array([row["surrogate_improvement"] for row in log])
    exceeded, worse = measured > delta, improvement < 0
    n = len(it)
    ax.semilogy(it, predicted, "--", color="black", lw=1.5,
                label=r"predicted KL $\frac{1}{2}s^T F s = \delta$")
    ax.semilogy(it, measured, "o-", color="tab:blue", ms=4, lw=1, label="measured mean KL")
    ax.semilogy(it[exceeded], measured[exceeded], "o", color="tab:red", ms=7,
                label=rf"KL > $\delta$ ({exceeded.sum()} of {n}; problem 3a)")
    ax.semilogy(it[worse], measured[worse], "x", color="black", ms=11, mew=2,
                label=f"surrogate got worse ({worse.sum()} of {n}; problem 3c)")
    ax.set_xlabel("update (iteration)")
    ax.set_ylabel(r"mean KL($\pi_{old} \| \pi_{new}$) on the batch")
    ax.set_title(title or rf"NPG: predicted vs measured KL, $\delta$ = {delta:g}")
    low, high = min(measured.min(), delta), max(measured.max(), delta)
    ax.set_ylim(low / 2, high * 40)            # head room for the legend above the data
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    return {"iteration": it, "predicted_kl": predicted, "measured_kl": measured,
            "kl_exceeded": exceeded, "surrogate_worse": worse}


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
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (last 20 episodes)")
    ax.legend(fontsize=8)
    return drawn
# ---- end 03 ----
