"""Notebook 06 (TRPO): the comparisons it draws from the stored multi-seed runs of data/.

Sections 7 and 8: NPG against TRPO at the same delta and damping, where NPG's quadratic
model fails (``npg_trpo_light_damping``) and at the course's defaults (``npg_trpo_defaults``);
per update, the measured KL / delta, the collapses of the return, TRPO's backtracks and
rejections; the solve step of every seed; VPG's learning-rate sweep (``vpg_lr_sweep``) and the
rule that picks its best rate. Also the live TRPO run of section 4 in two panels. Every
``draw_*`` returns the numbers it drew, so tests/test_nb06.py can check the picture.
"""
from __future__ import annotations

import numpy as np

from .. import experiments
from ..rollout import SOLVE_THRESHOLDS
from .figures import ALGO_COLORS, draw_return_vs_env_steps, draw_solve_line

# A collapse, fixed before looking at the runs: the mean return of the last 20 episodes, having
# reached COLLAPSE_FROM, falls below COLLAPSE_TO (less than half of it). One fall counts once: the
# next one is counted only after the curve has climbed back to COLLAPSE_FROM.
COLLAPSE_FROM, COLLAPSE_TO = 400.0, 200.0


# ------------------------------------------------------------------ numbers from the stored runs
def runs_of(payload, algo):
    """The stored runs of ``algo`` (a run name of the file), sorted by seed."""
    runs = sorted((r for r in payload["runs"] if r["algo"] == algo), key=lambda r: r["seed"])
    if not runs:
        raise ValueError(f"no runs for algo {algo!r} in this data file (it has {payload['algos']})")
    return runs


def _column(run, key):
    return np.array([np.nan if v is None else v for v in run[key]], dtype=float)


def kl_ratios(payload, algo):
    """Measured KL / delta of every update that moved the policy, all seeds -> (n,).

    An update TRPO rejected (line search failed, theta_old kept) moved nothing and is left out.
    """
    delta = payload["configs"][algo]["delta"]
    out = [_column(r, "measured_kl")[np.array(r["accepted"], dtype=bool)] / delta
           for r in runs_of(payload, algo)]
    return np.concatenate(out)


def count_collapses(mean_return, high=COLLAPSE_FROM, low=COLLAPSE_TO):
    """Number of falls of ``mean_return`` from >= ``high`` to < ``low`` (see COLLAPSE_FROM)."""
    if not low < high:
        raise ValueError(f"a collapse needs low < high, got low={low}, high={high}")
    count, armed = 0, False
    for value in np.asarray(mean_return, dtype=float):
        if not np.isfinite(value):
            continue
        if value >= high:
            armed = True
        elif armed and value < low:
            count, armed = count + 1, False
    return count


def update_stats(payload, algo):
    """Per-update counts over all seeds of ``algo`` as a dict.

    ``updates``; ``kl_above`` (updates whose step had KL > delta); ``max_kl_ratio``;
    ``worse`` (moved the policy although the measured surrogate got worse or stayed equal);
    ``backtracked`` (line search shrank the step at least once, including rejections);
    ``rejected`` (line search failed, theta_old kept); ``collapses`` (summed over seeds) and
    ``collapses_per_seed``.
    """
    runs = runs_of(payload, algo)
    ratios = kl_ratios(payload, algo)
    attempts = np.concatenate([np.array(r["line_search_attempts"]) for r in runs])
    accepted = np.concatenate([np.array(r["accepted"], dtype=bool) for r in runs])
    gain = np.concatenate([_column(r, "surrogate_improvement") for r in runs])
    per_seed = [count_collapses(_column(r, "mean_return")) for r in runs]
    return {"updates": int(accepted.size), "kl_above": int(np.sum(ratios > 1.0)),
            "max_kl_ratio": float(np.max(ratios)), "worse": int(np.sum(accepted & (gain <= 0))),
            "backtracked": int(np.sum(attempts > 1)), "rejected": int(np.sum(~accepted)),
            "collapses": int(sum(per_seed)), "collapses_per_seed": per_seed}


def backtracks_before_solve(payload, algo):
    """{seed: updates whose line search shrank the step (attempts > 1) before the run's solve
    step}; every update counts for a run that never solved. (An update logged at env step s
    follows the rollout that ended at s, so it is before the solve if s < solved_at_step.)"""
    out = {}
    for r in runs_of(payload, algo):
        steps, attempts = np.array(r["env_steps"]), np.array(r["line_search_attempts"])
        before = np.ones(steps.shape, bool) if r["solved_at_step"] is None else steps < r["solved_at_step"]
        out[r["seed"]] = int(np.sum((attempts > 1) & before))
    return out


def solve_steps(payload, algo):
    """{seed: env step at which the 20-episode mean first reached the threshold, or None}."""
    return {r["seed"]: r["solved_at_step"] for r in runs_of(payload, algo)}


def solve_table(columns):
    """Text table of solve steps per seed; ``columns`` maps a header to ``solve_steps(...)``.

    Seeds in rows (every column must have the same seeds), "never" for a seed that did not
    solve; the last rows give the number solved and the median solve step of those that did.
    """
    seeds = sorted(next(iter(columns.values())))
    for name, steps in columns.items():
        if sorted(steps) != seeds:
            raise ValueError(f"column {name!r} has seeds {sorted(steps)}, expected {seeds}")
    width = max(12, *(len(h) + 2 for h in columns))
    lines = ["seed" + "".join(f"{h:>{width}}" for h in columns)]
    for s in seeds:
        lines.append(f"{s:>4}" + "".join(f"{'never' if c[s] is None else c[s]:>{width}}"
                                         for c in columns.values()))
    hit = {h: [v for v in c.values() if v is not None] for h, c in columns.items()}
    lines.append("solved" + "".join(f"{f'{len(v)} of {len(seeds)}':>{width}}" for v in hit.values())[2:])
    lines.append("median" + "".join(f"{(f'{np.median(v):.0f}' if v else '-'):>{width}}"
                                    for v in hit.values())[2:])
    return "\n".join(lines)


# ------------------------------------------------------------------------- VPG's learning rate
def sweep_rows(payload):
    """One row per run name of a learning-rate sweep (``vpg_lr_sweep``), in the file's order.

    Each row: ``label``, ``lr``, ``solved`` (seeds that reached the threshold), ``seeds``,
    ``median_solve`` (of the solved seeds, None if none), ``final_median`` (median over seeds
    of the last 20-episode mean), ``collapses`` (summed over seeds).
    """
    rows = []
    for label in payload["algos"]:
        runs = runs_of(payload, label)
        hit = [r["solved_at_step"] for r in runs if r["solved_at_step"] is not None]
        finals = [_column(r, "mean_return")[-1] for r in runs]
        rows.append({"label": label, "lr": payload["configs"][label]["lr"], "solved": len(hit),
                     "seeds": len(runs), "median_solve": float(np.median(hit)) if hit else None,
                     "final_median": float(np.median(finals)),
                     "collapses": sum(count_collapses(_column(r, "mean_return")) for r in runs)})
    return rows


def select_best(rows):
    """The selection rule, stated before the sweep is read: most seeds solved; among those
    tied, the smallest median solve step. Returns the chosen row."""
    if not rows:
        raise ValueError("no rows to select from")
    return min(rows, key=lambda r: (-r["solved"], np.inf if r["median_solve"] is None else r["median_solve"]))


def sweep_table(rows):
    """The sweep as text: lr, seeds solved, median solve step, median final return, collapses."""
    lines = [f"{'lr':>6} {'solved':>9} {'median solve step':>18} {'median final return':>20} {'collapses':>10}"]
    for r in rows:
        med = "-" if r["median_solve"] is None else f"{r['median_solve']:.0f}"
        solved = f"{r['solved']} of {r['seeds']}"
        lines.append(f"{r['lr']:>6g} {solved:>9} {med:>18} "
                     f"{r['final_median']:>20.0f} {r['collapses']:>10d}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- figures
def draw_seed_curves(ax, payload, algo, color=None, label=None, threshold=None):
    """Every seed's 20-episode mean return as a thin line, and the median over seeds thick.

    The median is taken on a common env-step grid (``experiments.curves``) where every seed has
    a value. Returns (grid, median).
    """
    color = color or ALGO_COLORS.get(payload.get("algorithm", {}).get(algo, algo), "tab:blue")
    runs = runs_of(payload, algo)
    for k, r in enumerate(runs):
        ax.plot(r["env_steps"], _column(r, "mean_return"), color=color, lw=0.7, alpha=0.45,
                label=f"{len(runs)} seeds, one line each" if k == 0 else None)
    grid, values = experiments.curves(payload, algo)
    ok = np.all(np.isfinite(values), axis=0)
    median = np.median(values[:, ok], axis=0)
    ax.plot(grid[ok], median, color=color, lw=2.5, label=f"{label or algo}: median over seeds")
    draw_solve_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (last 20 episodes)")
    ax.set_ylim(0, 520)
    ax.legend(fontsize=8, loc="lower right")
    return grid[ok], median


def draw_kl_histograms(ax, groups, colors=None):
    """Histograms of log10(measured KL / delta), one outlined histogram per group.

    ``groups`` maps a label to an array of KL / delta values (one per update that moved the
    policy). The dashed line is the trust region's edge. Returns {label: share above 1}.
    """
    ratios = {k: np.asarray(v, dtype=float) for k, v in groups.items()}
    ratios = {k: v[np.isfinite(v) & (v > 0)] for k, v in ratios.items()}
    logs = np.concatenate(list(ratios.values()))
    bins = np.linspace(np.floor(4 * logs.min()) / 4, np.ceil(4 * logs.max()) / 4 + 1e-9, 41)
    shares = {}
    for k, (label, v) in enumerate(ratios.items()):
        shares[label] = float(np.mean(v > 1.0))
        color = None if colors is None else colors[k]
        ax.hist(np.log10(v), bins=bins, histtype="step", lw=2, color=color,
                label=f"{label}: {100 * shares[label]:.0f}% of {v.size} updates above")
    ax.axvline(0.0, color="black", ls="--", lw=1.5, label=r"KL = $\delta$")
    ax.set_xlabel(r"$\log_{10}$(measured KL / $\delta$) of the step taken")
    ax.set_ylabel("number of updates (all seeds)")
    ax.legend(fontsize=8, loc="upper left")
    return shares


def draw_live_run(axes, log, delta, title=None, env_id="CartPole-v1"):
    """A TRPO training log (``TrainResult.log``) in two panels.

    ``axes[0]``: the 20-episode mean return vs env steps; ``axes[1]``: the measured KL / delta
    of each update, updates whose line search shrank the step marked in red (a rejected update,
    which kept theta_old, as a red cross at the bottom). Returns the arrays drawn.
    """
    ratio = np.array([row["measured_kl"] for row in log], dtype=float) / delta
    attempts = np.array([row["line_search_attempts"] for row in log])
    accepted = np.array([row["accepted"] for row in log], dtype=bool)
    ax_ret, ax_kl = axes
    steps, ret = draw_return_vs_env_steps(ax_ret, {"TRPO": log}, threshold=SOLVE_THRESHOLDS[env_id])["TRPO"]
    ax_ret.set_title(title or "learning curve")
    it = np.arange(1, len(log) + 1)
    full = accepted & (attempts <= 1)
    shrunk = accepted & (attempts > 1)
    ax_kl.plot(it[full], ratio[full], "o", color=ALGO_COLORS["trpo"], ms=4,
               label=f"full step accepted ({full.sum()} updates)")
    ax_kl.plot(it[shrunk], ratio[shrunk], "o", color="tab:red", ms=5,
               label=f"step shrunk by the line search ({shrunk.sum()})")
    ax_kl.plot(it[~accepted], np.zeros((~accepted).sum()), "x", color="tab:red", ms=7,
               label=f"rejected, theta_old kept ({(~accepted).sum()})")
    ax_kl.axhline(1.0, color="black", ls="--", lw=1.5, label=r"KL = $\delta$")
    ax_kl.set_ylim(0, 1.45)
    ax_kl.set_xlabel("update")
    ax_kl.set_ylabel(r"measured KL / $\delta$")
    ax_kl.set_title(rf"KL per update ($\delta$ = {delta:g}): {shrunk.sum() + (~accepted).sum()} of "
                    f"{len(it)} backtracked")
    ax_kl.legend(fontsize=8, loc="upper left", ncol=2)
    return {"env_steps": steps, "mean_return": ret, "kl_ratio": ratio, "attempts": attempts,
            "accepted": accepted}
