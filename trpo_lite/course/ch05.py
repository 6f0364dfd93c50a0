"""Notebook 05 (monotonic improvement): the exercises' self-checks and its figures.

Self-checks on random tabular MDPs (one state and one action up to 6 states, gamma = 0 up to
0.99): policy evaluation by one linear solve (05.1), advantages (05.2), the surrogate L_old
(05.3) and the bound's penalty coefficient C (05.4), against ``trpo_lite.mdp``. Figures: a
log-log error with its slope, the minorise-maximise picture along a line, the bound's slack
and the distance to the optimum per iteration.
"""
from __future__ import annotations

import numpy as np

from ..mdp import (
    advantages,
    discounted_visitation,
    eta,
    penalty_coefficient,
    performance_difference,
    policy_evaluation,
    q_values,
    random_mdp,
    softmax_policy,
    surrogate,
    transition_matrix,
)
from .checking import compare_with_hints


# ------------------------------------------------------------------ self-checks
def _tabular_cases(n_policies, seed=2002):
    """(label, (mdp, pi_1, ..., pi_n)) on random MDPs, incl. one state, one action and gamma = 0."""
    rng = np.random.default_rng(seed)
    cases = []
    for S, A, gamma in ((1, 1, 0.9), (1, 3, 0.5), (2, 2, 0.0), (3, 2, 0.9), (5, 4, 0.95),
                        (6, 3, 0.99)):
        mdp = random_mdp(S, A, gamma, rng)
        pis = [softmax_policy(2.0 * rng.standard_normal((S, A))) for _ in range(n_policies)]
        cases.append((f"S={S}, A={A}, gamma={gamma}", (mdp, *pis)))
    return cases


def check_tabular_policy_evaluation(student_fn):
    """Exercise 05.1: ``student_fn(mdp, pi) -> V (S,)`` against ``trpo_lite.mdp.policy_evaluation``.

    Six random MDPs, from one state and one action (V = r / (1 - gamma)) to 6 states.
    """
    def transposed(mdp, pi):
        return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * transition_matrix(mdp, pi).T,
                               np.sum(pi * mdp.R, axis=1))

    mistakes = [
        ("P_pi is transposed: P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a) has the NEXT state s' in "
         "the columns (the transpose belongs to the visitation rho, not to V)", transposed),
        ("returned r_pi only: the Bellman equation adds gamma P_pi V (solve the linear system)",
         lambda mdp, pi: np.sum(pi * mdp.R, axis=1)),
        ("returned the unweighted r(s, a) summed over actions: r_pi(s) = sum_a pi(a|s) r(s, a)",
         lambda mdp, pi: np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * transition_matrix(mdp, pi),
                                         mdp.R.sum(axis=1))),
    ]
    compare_with_hints("policy evaluation (I - gamma P_pi) V = r_pi", student_fn,
                        policy_evaluation, _tabular_cases(1), mistakes)


def check_tabular_advantages(student_fn):
    """Exercise 05.2: ``student_fn(mdp, pi) -> A (S, A)`` against ``trpo_lite.mdp.advantages``."""
    mistakes = [
        ("returned Q(s, a): the advantage subtracts the baseline V(s)", q_values),
        ("forgot gamma in Q(s, a) = r(s, a) + gamma sum_s' P(s'|s,a) V(s')",
         lambda mdp, pi: mdp.R + mdp.P @ policy_evaluation(mdp, pi)
         - policy_evaluation(mdp, pi)[:, None]),
    ]
    compare_with_hints("advantages A = Q - V", student_fn, advantages, _tabular_cases(1),
                        mistakes)


def check_tabular_surrogate(student_fn):
    """Exercise 05.3: ``student_fn(mdp, pi_old, pi_new) -> float`` against ``trpo_lite.mdp.surrogate``.

    The cases include pi_new = pi_old, where L_old(old) must equal eta(old).
    """
    cases = _tabular_cases(2)
    cases += [(label + ", pi_new = pi_old", (mdp, pi, pi)) for label, (mdp, pi, _) in cases[:3]]

    def visit_sum(mdp, pi_old, pi_new, rho):
        return float(rho @ np.sum(pi_new * advantages(mdp, pi_old), axis=1))

    mistakes = [
        ("used rho_new: that is the exact performance difference, i.e. eta(new) itself, not L "
         "(L keeps the OLD policy's visitation rho_old)",
         lambda m, po, pn: eta(m, po) + performance_difference(m, po, pn)),
        ("forgot the constant eta(old): L = eta(old) + sum_s rho_old(s) sum_a new(a|s) A_old(s,a)",
         lambda m, po, pn: visit_sum(m, po, pn, discounted_visitation(m, po))),
        ("used the normalised visitation (1 - gamma) rho_old: the bound needs the unnormalised "
         "rho_old (sum_s rho_old(s) = 1 / (1 - gamma))",
         lambda m, po, pn: eta(m, po) + (1 - m.gamma) * visit_sum(m, po, pn,
                                                                 discounted_visitation(m, po))),
        ("weighted the advantages by pi_old instead of pi_new: sum_a pi_old A_old = 0, so this is "
         "always eta(old)", lambda m, po, pn: eta(m, po)),
    ]
    compare_with_hints("surrogate L_old(new)", student_fn, surrogate, cases, mistakes)


def check_penalty_coefficient(student_fn):
    """Exercise 05.4: ``student_fn(mdp, pi_old) -> C`` against ``trpo_lite.mdp.penalty_coefficient``."""
    def with_eps(eps_fn, power=2, factor=4.0):
        return lambda m, po: factor * eps_fn(advantages(m, po)) * m.gamma / (1 - m.gamma) ** power

    mistakes = [
        ("divided by (1 - gamma) once: C = 4 eps gamma / (1 - gamma)**2", with_eps(
            lambda A: np.max(np.abs(A)), power=1)),
        ("eps = max A, but it is the largest ABSOLUTE advantage max_{s,a} |A(s,a)|",
         with_eps(np.max)),
        ("forgot the factor 4", with_eps(lambda A: np.max(np.abs(A)), factor=1.0)),
        ("used the mean |A| for eps: the theorem needs the worst case max_{s,a} |A(s,a)|",
         with_eps(lambda A: np.mean(np.abs(A)))),
    ]
    compare_with_hints("penalty coefficient C", student_fn, penalty_coefficient,
                        _tabular_cases(1), mistakes)


# ------------------------------------------------------------------ figures
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
