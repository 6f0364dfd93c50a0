"""Notebook 07 (beyond TRPO): its figures.

PPO's objective of one sample against the ratio (section 2); the objectives along a line and
the clip box vs the KL ball on the running example's map (section 2a); the stored CartPole and
Pendulum runs of data/: seconds per iteration (section 1a), return against env steps and
wall-clock seconds (section 3), Pendulum's TRPO runs and their KL (section 4); the wall time
of one update against the network size from data/update_cost.json, with its cost model
(section 1e). The exercises' checks are in ``ch07_checks``, the capstone's in ``ch07_capstone``.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import experiments
from .figures import ALGO_COLORS, AXIS_LABELS, draw_path, draw_solve_line
from .ppo_example import clip_box, clipped_objective_per_sample, ppo_objectives
from .running_example import theta_grid


# ------------------------------------------------- PPO's objective of one sample (section 2)
def draw_clipped_objective_per_sample(axes, clip=0.2, r_max=2.0):
    """One sample's PPO objective min(r A, clip(r, 1-eps, 1+eps) A) against the ratio r, for
    A = +1 (left) and A = -1 (right), computed with ``algos.clipped_surrogate`` (via
    ``ppo_example.clipped_objective_per_sample``). The shaded part has zero gradient.
    Returns {A: (r, objective)}."""
    r = np.linspace(0.02, r_max, 197)
    drawn = {}
    for ax, A in zip(axes, (1.0, -1.0)):
        objective = clipped_objective_per_sample(r, np.full_like(r, A), clip)
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


# ----------------------------------------------------- on the running example (section 2a)
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
    """Contours of L_clip around theta_old, the clip box (dotted lines, each labelled on the map with
    the ratio it marks, r(s_k, a_j) = 1 - eps or 1 + eps: a vertical line for state 0, whose ratios
    depend on theta_0 only, a horizontal one for state 1), the KL ball
    KL(old || theta) = delta (white), optional ``paths`` {label: (n, 2)} and an optional
    ``corner`` (2,) marking where L_clip becomes flat. theta_old and the corner are annotated on the
    map; the legend holds only the KL ball and the paths.

    Returns {"L_clip": (n_grid, n_grid), "kl": (n_grid, n_grid), "box": clip box dict}.
    """
    (lo0, hi0), (lo1, hi1) = box
    t0, t1 = np.linspace(lo0, hi0, n_grid), np.linspace(lo1, hi1, n_grid)
    L_clip, _ = ppo_objectives(example, theta_old, theta_grid(t0, t1), clip)
    kl = example.kl_grid(theta_old, t0, t1)
    cs = ax.contourf(t0, t1, L_clip, levels=20, cmap="viridis")
    ax.figure.colorbar(cs, ax=ax, label=r"$L^{clip}(\theta)$")
    ax.contour(t0, t1, kl, levels=[delta], colors="white", linewidths=2)
    ax.plot([], [], color="white", lw=2, label=rf"KL ball, $\delta$ = {delta:g} (TRPO)")
    box_lines = clip_box(example, theta_old, clip)
    for (s, a), bounds in box_lines.items():       # each line is labelled on the map, not in the legend
        for r, b in zip((1 - clip, 1 + clip), bounds):
            inside = (lo0 < b < hi0) if s == 0 else (lo1 < b < hi1)
            if not (np.isfinite(b) and inside):
                continue
            color = "tab:red" if a == 1 else "tab:orange"
            text = rf"$r(s_{s}, a_{a}) = {r:g}$"
            if s == 0:
                ax.axvline(b, color=color, ls=":", lw=1.3)
                ax.text(b, hi1 - 0.02 * (hi1 - lo1), text, color=color, rotation=90, ha="right", va="top",
                        fontsize=8, bbox=dict(fc="white", ec="none", alpha=0.7, pad=1))
            else:
                ax.axhline(b, color=color, ls=":", lw=1.3)
                ax.text(hi0 - 0.02 * (hi0 - lo0), b, text, color=color, ha="right", va="bottom",
                        fontsize=8, bbox=dict(fc="white", ec="none", alpha=0.7, pad=1))
    ax.plot(*theta_old, "o", color="white", mec="black", ms=8, zorder=5)      # annotated, not in the legend
    note = dict(fontsize=8, textcoords="offset points", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
    ax.annotate(r"$\theta_{old}$", theta_old, xytext=(-8, -14), ha="right", zorder=8, **note)
    if corner is not None and np.all(np.isfinite(corner)):
        ax.plot(*corner, "X", color="tab:red", mec="white", ms=11, zorder=7)
        ax.annotate(r"corner: $L^{clip}$ flat beyond", corner, xytext=(-10, 8), ha="right", zorder=8, **note)
    for k, (label, path) in enumerate((paths or {}).items()):
        draw_path(ax, path, label, color=PATH_COLORS_07[k % len(PATH_COLORS_07)], zorder=6)
    ax.set_xlim(lo0, hi0)
    ax.set_ylim(lo1, hi1)
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
              facecolor="lightgray")                     # grey: the KL ball's entry is white
    return {"L_clip": L_clip, "kl": kl, "box": box_lines}


# ------------------------------------------------ the runs stored in data/ (sections 1, 3, 4)
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


def curves_vs_wall_seconds(payload, algo, grid, key="mean_return"):
    """Per-seed ``key`` of ``algo`` interpolated on a grid of wall-clock seconds (from data/).

    ``experiments.curves`` with each run's ``wall_seconds`` in place of its env steps.
    Returns (n_seeds, len(grid)), NaN outside a run's measured time span.
    """
    by_seconds = [dict(run, env_steps=run["wall_seconds"]) for run in payload["runs"]]
    return experiments.curves(dict(payload, runs=by_seconds), algo, key, np.asarray(grid, dtype=float))[1]


def draw_median_and_spread(ax, x, values, label, color=None):
    """Median over seeds (rows of ``values``) with the min-max band; returns the median (len(x),)."""
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
    ax_steps, ax_sec = axes
    t_max = min(r["wall_seconds"][-1] for r in payload["runs"] if r["algo"] in algos)
    sec_grid = np.linspace(0.0, t_max, n_grid)
    drawn = {}
    for algo in algos:
        color = ALGO_COLORS.get(algo)
        grid, values = experiments.curves(payload, algo)
        med_steps = draw_median_and_spread(ax_steps, grid, values, algo.upper(), color)
        med_sec = draw_median_and_spread(ax_sec, sec_grid, curves_vs_wall_seconds(payload, algo, sec_grid),
                                         algo.upper(), color)
        drawn[algo] = {"steps": (grid, med_steps), "seconds": (sec_grid, med_sec)}
    for ax, xlabel in ((ax_steps, "environment steps"), (ax_sec, "wall-clock seconds (measured when data/ was made)")):
        draw_solve_line(ax, threshold)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean return (last 20 episodes)")
        ax.legend(fontsize=8, loc="lower right")
    ax_steps.set_title(f"{payload['env_id']}: return vs samples")
    ax_sec.set_title(f"{payload['env_id']}: return vs wall-clock")
    return drawn


def draw_pendulum_trpo(axes, payload, delta, threshold=None):
    """Pendulum TRPO from data/: return vs env steps (each seed + median) and the measured KL
    of every update against delta. Returns {"steps": grid, "median": (G,), "kl": (n_seeds, n_iters)}."""
    ax_ret, ax_kl = axes
    grid, values = experiments.curves(payload, "trpo")
    runs = [r for r in payload["runs"] if r["algo"] == "trpo"]
    for r in runs:
        ax_ret.plot(r["env_steps"], [np.nan if v is None else v for v in r["mean_return"]], lw=0.8,
                    alpha=0.6, label=f"seed {r['seed']}")
    med = draw_median_and_spread(ax_ret, grid, values, "TRPO", "tab:blue")
    draw_solve_line(ax_ret, threshold)
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


# ------------------------------------------------ the cost of one update as the network grows (section 1a)
def update_cost_model(payload):
    """Seconds per update predicted from the measured unit costs of data/update_cost.json.

    TRPO: one gradient + (CG iterations + 1) Fisher-vector products (the +1 is x^T F x for the
    step size); the line search's forward passes are left out. PPO: ``ppo_epochs`` gradients
    over the whole batch (each epoch is 4 minibatch gradients of 256 samples = one pass of
    N = 1000); Adam's own arithmetic is left out. Returns {"trpo": (S,), "ppo": (S,)}.
    """
    grad, fvp = np.asarray(payload["gradient_s"]), np.asarray(payload["fvp_s"])
    cg = np.asarray(payload["cg_iterations"])
    return {"trpo": grad + (cg + 1) * fvp, "ppo": payload["ppo_epochs"] * grad}


def draw_update_cost(axes, payload):
    """Left: measured seconds per update against n_params (log-log) for TRPO, PPO and NPG with
    the explicit F, with ``update_cost_model`` dashed. Right: the memory of the explicit F
    (n^2 float64) against that of the n-vectors CG keeps. Returns the model's curves."""
    ax_t, ax_m = axes
    n = np.asarray(payload["n_params"], dtype=float)
    model = update_cost_model(payload)
    npg = np.array([np.nan if v is None else v for v in payload["npg_s"]], dtype=float)
    measured = {"trpo": ("TRPO (CG on Fisher-vector products)", payload["trpo_s"]),
                "ppo": (f"PPO ({payload['ppo_adam_steps'][0]} minibatch Adam steps)", payload["ppo_s"]),
                "npg": ("NPG with the explicit F and a direct solve", npg)}
    for algo, (label, seconds) in measured.items():
        ax_t.loglog(n, seconds, "o-", color=ALGO_COLORS.get(algo), label=f"{label}, measured")
        if algo in model:
            ax_t.loglog(n, model[algo], "--", color=ALGO_COLORS.get(algo), lw=1,
                        label=f"{algo.upper()} cost model from unit costs")
    ax_t.set_xlabel("policy parameters n")
    ax_t.set_ylabel("seconds per update (one thread, N = 1000)")
    ax_t.set_title("Wall time of one update as the network grows")
    ax_t.legend(fontsize=7)
    ax_m.loglog(n, np.asarray(payload["fisher_megabytes"]), "o-", color=ALGO_COLORS.get("npg"),
                label=r"explicit $F$: $n^2$ float64")
    ax_m.loglog(n, 5 * 8 * n / 1e6, "o-", color=ALGO_COLORS.get("trpo"),
                label=r"CG: a few $n$-vectors ($5 n$ float64)")
    ax_m.set_xlabel("policy parameters n")
    ax_m.set_ylabel("megabytes")
    ax_m.set_title("Memory of the curvature")
    ax_m.legend(fontsize=8)
    return model
