"""Notebook 05, section 11: the penalty-scale explorer -- how small can the bound's C be?

MM with the penalty scaled, C_used = s * C (C = 4 eps gamma / (1 - gamma)^2 of the current
policy, recomputed every iteration as in ``monotonic.mm_run``), for s from 1 down to 1e-4, in two
policy classes on the same MDP:

* the tabular softmax of section 10 (one logit per state and action), stepped by
  ``monotonic.mm_step``. It never loses return, whatever s: the maximiser of M keeps
  sum_a new(a|s) A_old(s,a) >= 0 in every state (resetting a state to the old policy would
  raise L and not raise max_s KL), and the performance-difference identity then gives
  eta(new) - eta(old) = sum_s rho_new(s) sum_a new(a|s) A_old(s,a) >= 0 (policy improvement);
* a state-blind policy for two actions: action 1 with the same probability p in every state,
  one parameter shared by all states (the extreme of function approximation). Its KL is the
  same in every state, L is linear in p, and M has one maximiser, in closed form
  (``blind_mm_step``). A step that pays off under rho_old can lose where the new policy goes:
  below some s, eta drops.

Every slider value's runs are computed at build (``PenaltyScaleRuns``), so a move only sets
line data. ``draw_penalty_scale`` is the explorer's picture without a browser.
"""
from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np

from ..mdp import (
    TabularMDP,
    advantages,
    discounted_visitation,
    eta,
    kl_per_state,
    lower_bound,
    penalty_coefficient,
    softmax_policy,
)
from ..monotonic import mm_step
from ..validate import check_array, check_integer
from .explorer import Explorer

SCALE_EXPONENTS = np.round(np.arange(-4.0, 0.01, 0.2), 1)    # the slider's log10(s) grid
SCALES = 10.0 ** SCALE_EXPONENTS                              # s = 1e-4 ... 1, 21 values
DROP_TOL = 1e-9          # a drop is eta(pi_i) < eta(pi_{i-1}) - DROP_TOL: larger than round-off
P_GRID = np.linspace(0.002, 0.998, 250)                       # the right panel's p axis


# ------------------------------------------------------------------ the state-blind policy
def blind_policy(p, n_states):
    """The state-blind policy (n_states, 2): action 1 with probability p in every state."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p!r}")
    return np.tile([1.0 - p, p], (int(n_states), 1))


def _blind_slope(mdp, pi_old):
    """b = dL_old/dp = sum_s rho_old(s) (A_old(s,1) - A_old(s,0)) for state-blind policies:
    L_old(p) = eta_old + b (p - p_old) is linear in the shared p."""
    A_old = advantages(mdp, pi_old)
    return float(discounted_visitation(mdp, pi_old) @ (A_old[:, 1] - A_old[:, 0]))


def blind_mm_step(mdp, p_old, C):
    """The maximiser of M_old(p) = L_old(p) - C KL(p_old || p) over state-blind policies.

    With pi_old(1|s) = p_old everywhere, L_old(p) = eta_old + b (p - p_old) with
    b = sum_s rho_old(s) (A_old(s,1) - A_old(s,0)), and every state has the same KL. For
    b > 0, dM/dp = 0 is b p (1 - p) = C (p - p_old), whose root in (p_old, 1) is
    p = 2 C p_old / ((C - b) + sqrt((C - b)^2 + 4 b C p_old)) (the form without cancellation);
    b < 0 is the mirror image (p -> 1 - p). Returns p_new (a float).
    """
    if mdp.n_actions != 2:
        raise ValueError(f"the state-blind policy needs 2 actions, the MDP has {mdp.n_actions}")
    C = float(C)
    if not np.isfinite(C) or C <= 0:
        raise ValueError(f"C must be a finite number > 0, got {C!r}")
    b = _blind_slope(mdp, blind_policy(p_old, mdp.n_states))
    if b == 0.0:
        return float(p_old)
    q_old = p_old if b > 0 else 1.0 - p_old          # the probability the step raises
    c = abs(b)
    q = 2.0 * C * q_old / ((C - c) + np.sqrt((C - c) ** 2 + 4.0 * c * C * q_old))
    return float(q if b > 0 else 1.0 - q)


# ------------------------------------------------------------------ the runs
@dataclass(frozen=True)
class ScaledRun:
    """MM with C_used = scale * C in one policy class: etas (n+1,), bounds (n,) = M_used of each
    step (L - C_used max_s KL at the new policy), Cs (n,) the C_used of each step, and the
    policies (n+1, S, A)."""

    scale: float
    etas: np.ndarray
    bounds: np.ndarray
    Cs: np.ndarray
    policies: np.ndarray

    def drops(self):
        """The iterations i (1-based) where eta(pi_i) < eta(pi_{i-1}) - DROP_TOL."""
        return np.flatnonzero(np.diff(self.etas) < -DROP_TOL) + 1


def tabular_scaled_run(mdp, logits0, n_iters, scale):
    """``monotonic.mm_run`` with the penalty scale * penalty_coefficient(mdp, pi_i) at every step.

    A step that keeps the old logits is repeated identically, so the run stops computing there
    and repeats it (mm_step is a deterministic function of the logits).
    """
    z = check_array(logits0, "logits0", shape=(mdp.n_states, mdp.n_actions))
    pis, etas, bounds, Cs = [softmax_policy(z)], [eta(mdp, softmax_policy(z))], [], []
    for _ in range(check_integer(n_iters, "n_iters", minimum=1)):
        if len(Cs) >= 2 and np.array_equal(pis[-1], pis[-2]):   # stuck: the same step again
            pis.append(pis[-1])
            etas.append(etas[-1])
            bounds.append(bounds[-1])
            Cs.append(Cs[-1])
            continue
        C = scale * penalty_coefficient(mdp, pis[-1])
        step = mm_step(mdp, z, C=C)
        z = step.logits
        pis.append(softmax_policy(z))
        etas.append(step.eta_new)
        bounds.append(step.bound)
        Cs.append(C)
    return ScaledRun(float(scale), np.array(etas), np.array(bounds), np.array(Cs), np.array(pis))


def blind_scaled_run(mdp, p0, n_iters, scale):
    """MM over state-blind policies from p0 with C_used = scale * penalty_coefficient(pi_i)."""
    pis = [blind_policy(p0, mdp.n_states)]
    etas, bounds, Cs = [eta(mdp, pis[0])], [], []
    for _ in range(check_integer(n_iters, "n_iters", minimum=1)):
        C = scale * penalty_coefficient(mdp, pis[-1])
        p_new = blind_mm_step(mdp, pis[-1][0, 1], C)
        pi_new = blind_policy(p_new, mdp.n_states)
        bounds.append(lower_bound(mdp, pis[-1], pi_new, C))
        pis.append(pi_new)
        etas.append(eta(mdp, pi_new))
        Cs.append(C)
    return ScaledRun(float(scale), np.array(etas), np.array(bounds), np.array(Cs), np.array(pis))


class PenaltyScaleRuns:
    """Both classes' MM runs for every s in ``SCALES`` on one MDP, and where monotonicity breaks.

    ``tabular[k]`` and ``blind[k]`` belong to ``SCALES[k]``; the tabular runs start from
    ``logits0`` (section 10's start), the state-blind runs from ``p0``.
    """

    def __init__(self, mdp, logits0, n_iters=30, p0=0.1):
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"mdp must be a trpo_lite.mdp.TabularMDP, got {type(mdp).__name__}")
        self.mdp, self.n_iters, self.p0 = mdp, check_integer(n_iters, "n_iters", minimum=1), p0
        self.C_start = penalty_coefficient(mdp, softmax_policy(np.asarray(logits0, dtype=float)))
        self.tabular = [tabular_scaled_run(mdp, logits0, n_iters, s) for s in SCALES]
        self.blind = [blind_scaled_run(mdp, p0, n_iters, s) for s in SCALES]
        self.eta_of_p = np.array([eta(mdp, blind_policy(p, mdp.n_states)) for p in P_GRID])
        # each class's best return on the grid (the tabular runs with small s reach eta*)
        self.best = {"tabular": max(float(r.etas.max()) for r in self.tabular),
                     "blind": max(float(self.eta_of_p.max()), max(float(r.etas.max()) for r in self.blind))}
        self.steps = []                      # per slider value: (step shown, L(p), M_used(p))
        for k in range(len(SCALES)):
            i = self.shown_step(k)
            self.steps.append((i, *self.along_p(k, i)))

    def progress(self, cls, values):
        """(values - eta_0) / (best - eta_0) for class ``cls`` ("tabular" or "blind"): 0 at the
        start, 1 at the best return the class reached, negative below the start."""
        start = (self.tabular if cls == "tabular" else self.blind)[0].etas[0]
        return (np.asarray(values, dtype=float) - start) / (self.best[cls] - start)

    def index(self, scale):
        """The grid index of the slider value ``scale`` (nearest in log10)."""
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        return int(np.argmin(np.abs(SCALE_EXPONENTS - np.log10(scale))))

    def breaking_point(self):
        """Where the state-blind class stops being monotone as s falls along the grid.

        Returns a dict: ``s_low`` < ``s_high``, neighbours on the grid, with every run from
        s_high up to s = 1 monotone and s_low's run dropping; ``drop_low``, s_low's largest fall
        of eta; ``fall_high``, the largest fall of eta in the runs from s_high up (round-off, if
        any); ``gain_high``, the first step's gain at s_high (how far that run is from a drop).
        None if even s = 1 drops, or no s drops.
        """
        dropping = [len(run.drops()) > 0 for run in self.blind]
        if dropping[-1] or not any(dropping):
            return None
        k = max(i for i, d in enumerate(dropping) if d)         # the largest s that drops
        high = self.blind[k + 1]
        return {"s_low": float(SCALES[k]), "s_high": float(SCALES[k + 1]),
                "drop_low": -float(np.diff(self.blind[k].etas).min()),
                "fall_high": max(0.0, max(-float(np.diff(r.etas).min()) for r in self.blind[k + 1:])),
                "gain_high": float(high.etas[1] - high.etas[0])}

    def shown_step(self, k):
        """The state-blind step the right panel draws for SCALES[k]: its first drop, else step 1."""
        drops = self.blind[k].drops()
        return int(drops[0]) if len(drops) else 1

    def along_p(self, k, i):
        """L_old(p) and M_used(p) over ``P_GRID`` for the state-blind step i of SCALES[k]:
        L_old(p) = eta_old + b (p - p_old) (see ``blind_mm_step``) and the KL of two actions."""
        run = self.blind[k]
        pi_old, C, q = run.policies[i - 1], run.Cs[i - 1], run.policies[i - 1][0, 1]
        L = run.etas[i - 1] + _blind_slope(self.mdp, pi_old) * (P_GRID - q)
        kl = kl_per_state(np.tile([1.0 - q, q], (len(P_GRID), 1)), np.column_stack([1.0 - P_GRID, P_GRID]))
        return L, L - C * kl


# ------------------------------------------------------------------ the explorer
def _build_penalty_scale(fig, runs):
    """Left: eta per iteration of both classes and M_used of the state-blind steps, drops in
    red. Right: eta, L and M_used over the state-blind p for one step. Axis ranges cover every
    slider value, so no move changes them."""
    ax_run, ax_p = fig.subplots(1, 2)
    n = runs.n_iters
    iters = np.arange(n + 1)
    (tab_line,) = ax_run.plot([], [], "-", color="C0", lw=3, label="tabular softmax: $\\eta(\\pi_i)$")
    (blind_line,) = ax_run.plot([], [], "-", color="C1", lw=1.5, label="state-blind: $\\eta(\\pi_i)$")
    (blind_M,) = ax_run.plot([], [], ".", color="C1", ms=6,
                             label="state-blind: $M_{used}$ its step promised")
    (drop_marks,) = ax_run.plot([], [], "v", color="red", mec="black", ms=9, zorder=5,
                                label="$\\eta$ dropped")
    lo = min(min(runs.progress("tabular", r.etas).min() for r in runs.tabular),
             min(runs.progress("blind", r.etas).min() for r in runs.blind))
    ax_run.axhline(0.0, color="gray", lw=0.8, ls=":")
    ax_run.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax_run.set_xlim(-0.5, n + 0.5)
    ax_run.set_ylim(lo - 0.1, 1.65)          # small s's promises M_used go far above: clipped
    ax_run.set_xlabel("MM iteration i")
    ax_run.set_ylabel("progress $(\\eta_i - \\eta_0) / (\\eta_{best} - \\eta_0)$")
    ax_run.set_title(" \n ", fontsize=10)
    ax_run.legend(loc="upper right", fontsize=8, ncol=2)

    ax_p.plot(P_GRID, runs.eta_of_p, color="C0", lw=2.5, label="$\\eta(p)$  (true return)")
    (L_line,) = ax_p.plot([], [], "--", color="C1", lw=1.5, label="$L_{old}(p)$")
    (M_line,) = ax_p.plot([], [], color="C2", lw=1.5, label="$M_{used} = L - sC\\,$KL")
    (old_mark,) = ax_p.plot([], [], "o", color="black", ms=7, zorder=5, label="old policy")
    (new_mark,) = ax_p.plot([], [], "*", color="C3", mec="black", ms=14, zorder=6,
                            label="argmax $M_{used}$")
    (new_eta,) = ax_p.plot([], [], "o", color="C3", mec="black", ms=7, zorder=6,
                           label="$\\eta$ there")
    e_lo, e_hi = runs.eta_of_p.min(), runs.eta_of_p.max()
    ax_p.set_xlim(0, 1)
    promised = max(float(run.bounds[i - 1]) for run, (i, _, _) in zip(runs.blind, runs.steps))
    top = max(e_hi, promised)                # every slider value's argmax M_used stays in view
    ax_p.set_ylim(e_lo - 0.3 * (top - e_lo), top + 0.3 * (top - e_lo))
    ax_p.set_xlabel("state-blind policy: $p = \\pi(a=1)$ in every state")
    ax_p.set_ylabel("value")
    ax_p.set_title(" \n ", fontsize=10)
    ax_p.legend(loc="upper left", fontsize=8, ncol=2)
    fig.tight_layout()
    return {"runs": runs, "iters": iters,
            "moving": [tab_line, blind_line, blind_M, drop_marks, L_line, M_line, old_mark,
                       new_mark, new_eta, ax_run.title, ax_p.title]}


def _update_penalty_scale(artists, scale=1.0):
    """The runs of the grid value nearest to ``scale``: set the lines, marks and titles."""
    runs, iters = artists["runs"], artists["iters"]
    (tab_line, blind_line, blind_M, drop_marks, L_line, M_line, old_mark, new_mark, new_eta,
     run_title, p_title) = artists["moving"]
    k = runs.index(scale)
    tab, blind = runs.tabular[k], runs.blind[k]
    tab_line.set_data(iters, runs.progress("tabular", tab.etas))
    blind_line.set_data(iters, runs.progress("blind", blind.etas))
    blind_M.set_data(iters[1:], runs.progress("blind", blind.bounds))
    tab_drops, blind_drops = tab.drops(), blind.drops()
    drop_i = np.concatenate([tab_drops, blind_drops])
    drop_eta = np.concatenate([runs.progress("tabular", tab.etas[tab_drops]),
                               runs.progress("blind", blind.etas[blind_drops])])
    drop_marks.set_data(drop_i, drop_eta)
    s = float(SCALES[k])
    run_title.set_text(f"s = {s:.2g}: C used = {s * runs.C_start:.3g} at the start\n"
                       f"$\\eta$ drops: state-blind {len(blind_drops)}, tabular {len(tab_drops)}"
                       f" of {runs.n_iters} iterations")
    i, L, M = runs.steps[k]
    p_old, p_new = blind.policies[i - 1][0, 1], blind.policies[i][0, 1]
    L_line.set_data(P_GRID, L)
    M_line.set_data(P_GRID, M)
    old_mark.set_data([p_old], [blind.etas[i - 1]])
    new_mark.set_data([p_new], [blind.bounds[i - 1]])
    new_eta.set_data([p_new], [blind.etas[i]])
    change = blind.etas[i] - blind.etas[i - 1]
    which = "its first drop" if len(blind_drops) else "no drop"
    p_title.set_text(f"state-blind step {i} ({which}): p {p_old:.2f} -> {p_new:.2f}\n"
                     f"$\\eta$ changed by {change:+.3g}")
    return {"scale": s, "index": k, "tabular_etas": tab.etas, "blind_etas": blind.etas,
            "blind_bounds": blind.bounds, "tabular_drops": tab_drops, "blind_drops": blind_drops,
            "step": i, "p_old": float(p_old), "p_new": float(p_new), "L": L, "M": M}


def draw_penalty_scale(fig, runs, scale=1.0):
    """The explorer's figure for one penalty scale s, from ``PenaltyScaleRuns``: both classes'
    eta per MM iteration with the drops marked, and the state-blind step on the p axis. Returns
    the drawn data (``_update_penalty_scale``)."""
    fig.clear()
    return _update_penalty_scale(_build_penalty_scale(fig, runs), scale)


def penalty_scale_explorer(runs):
    """Explorer: the penalty scale s (log slider, 1e-4 to 1) -> both classes' MM runs at s C."""
    if not isinstance(runs, PenaltyScaleRuns):
        raise TypeError(f"runs must be a PenaltyScaleRuns, got {type(runs).__name__}")
    return Explorer(
        _build_penalty_scale, _update_penalty_scale, figsize=(11, 4.6), runs=runs,
        name="MM with the penalty scaled, C used = s C",
        controls={"scale": widgets.FloatLogSlider(
            value=1.0, base=10, min=float(SCALE_EXPONENTS[0]), max=0, step=0.2,
            description="scale s", readout_format=".2g")})
