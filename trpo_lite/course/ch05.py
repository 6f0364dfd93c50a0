"""Notebook 05 (monotonic improvement): the exercises' self-checks and its figures.

Self-checks on random tabular MDPs (one state and one action up to 6 states, gamma = 0 up to
0.99): policy evaluation by one linear solve (05.1), advantages (05.2), the surrogate L_old
(05.3) and the bound's penalty coefficient C (05.4), against ``trpo_lite.mdp``. Figures: a
log-log error with its slope, the minorise-maximise picture along a line, the bound's slack
and the distance to the optimum per iteration. The sampling demo of section 5 (trajectories on a
tabular MDP and the Monte Carlo ratio surrogate, with and without the gamma^t weight) and the
figures of the state-distribution shift (section 8).
"""
from __future__ import annotations

import numpy as np

from ..mdp import (
    TabularMDP,
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
from ..validate import check_integer, check_rng
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


# ------------------------------------------------- sampling: the ratio surrogate (section 5)
def sample_trajectories(mdp, pi, n_episodes, horizon, rng):
    """Run ``pi`` on ``mdp`` from s_0 ~ mu0 for ``horizon`` steps, ``n_episodes`` times at once.

    Returns ``(states, actions)``, two int arrays of shape (n_episodes, horizon): s_t and a_t.
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a trpo_lite.mdp.TabularMDP, got {type(mdp).__name__}")
    n_episodes = check_integer(n_episodes, "n_episodes", minimum=1)
    horizon = check_integer(horizon, "horizon", minimum=1)
    rng = check_rng(rng)
    pi = np.asarray(pi, dtype=float)
    if pi.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"pi must have shape {(mdp.n_states, mdp.n_actions)}, got {pi.shape}")

    def draw(probs):                     # one categorical draw per row of probs (n, k)
        u = rng.random((probs.shape[0], 1))
        return np.minimum((u > np.cumsum(probs, axis=1)).sum(axis=1), probs.shape[1] - 1)

    states = np.empty((n_episodes, horizon), dtype=int)
    actions = np.empty((n_episodes, horizon), dtype=int)
    s = draw(np.broadcast_to(mdp.mu0, (n_episodes, mdp.n_states)))
    for t in range(horizon):
        a = draw(pi[s])
        states[:, t], actions[:, t] = s, a
        s = draw(mdp.P[s, a])
    return states, actions


def ratio_surrogate_estimate(mdp, pi_old, pi_new, states, actions, discounted=True):
    """Monte Carlo estimate of L_old(new) - eta(old) from trajectories of pi_old, and its standard error.

    With ``discounted=True`` (the unbiased importance-sampling estimator of notebook 05, section 5):
        X_i = sum_t gamma^t  pi_new(a_t|s_t) / pi_old(a_t|s_t)  A_old(s_t, a_t),
    whose mean over episodes estimates sum_s rho_old(s) sum_a pi_new(a|s) A_old(s,a) (up to the
    truncation gamma^T). With ``discounted=False`` (what ``trpo_lite.algos.surrogate`` does): the
    plain average of ratio * A over every visited (s_t, a_t), multiplied by 1 / (1 - gamma) so
    that it would estimate the same number if the states came from d_old; they come from the
    average state distribution instead (``mdp.average_state_distribution``). The advantages are
    the exact A_old, so the only noise is the sampling of states and actions.
    Returns ``(estimate, standard_error)``, the error from the spread over independent episodes.
    """
    ratio_A = (pi_new[states, actions] / pi_old[states, actions]
               * advantages(mdp, pi_old)[states, actions])            # (N, T)
    if discounted:
        per_episode = ratio_A @ (mdp.gamma ** np.arange(states.shape[1]))
    else:
        per_episode = ratio_A.mean(axis=1) / (1.0 - mdp.gamma)
    return float(per_episode.mean()), float(per_episode.std(ddof=1) / np.sqrt(len(per_episode)))


def effective_sample_fraction(gamma, horizon):
    """(sum_t w_t)^2 / (T sum_t w_t^2) for w_t = gamma^t, t < T: the share of a trajectory's T
    samples that a gamma^t-weighted average effectively uses (Kish's effective sample size over T).

    1/T for gamma = 0 (only s_0 counts); about (1 + gamma) / ((1 - gamma) T) once gamma^T is small.
    """
    w = float(gamma) ** np.arange(check_integer(horizon, "horizon", minimum=1))
    return float(w.sum() ** 2 / (len(w) * np.sum(w ** 2)))


def sampled_surrogate_figure(ax, labels, exact, estimates, undiscounted_target):
    """Exact L - eta_old per target policy, with the two Monte Carlo estimates and 4-SE error bars.

    ``estimates`` maps a legend label to ``(values, standard_errors)`` arrays (one per target);
    ``undiscounted_target`` is what the estimator without gamma^t converges to.
    """
    x = np.arange(len(labels))
    ax.plot(x, exact, "D", color="black", ms=8, label=r"exact $L_{old}(\pi) - \eta(\pi_{old})$", zorder=5)
    ax.plot(x, undiscounted_target, "_", color="C3", ms=22, mew=2,
            label=r"exact target without $\gamma^t$ ($\bar d_T$ in place of $d_{old}$)", zorder=4)
    for k, (label, (values, se)) in enumerate(estimates.items()):
        ax.errorbar(x + 0.15 * (k + 1), values, yerr=4 * np.asarray(se), fmt="o", capsize=4,
                    color=f"C{k}", label=label + r"  ($\pm 4$ SE)")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(x + 0.15, labels)
    ax.set_xlabel("target policy")
    ax.set_ylabel(r"$L_{old}(\pi) - \eta(\pi_{old})$")
    ax.legend(fontsize=8)


# -------------------------------------------------- the state-distribution shift (section 8)
def shift_figure(axes, t, gaps):
    """Three panels for a list of ``mdp.SurrogateGap`` along theta_old + t d.

    (a) eta - eta_old and L - eta_old against t; (b) |eta - L| against max-KL and mean-KL
    (log-log); (c) |eta - L| against t with the max-KL bound of TRPO and the mean bound of
    Achiam et al. (2017). Returns the least-squares slopes of log|gap| against log t, log max-KL
    and log mean-KL, fitted on the ``t <= 0.1`` points.
    """
    t = np.asarray(t, dtype=float)
    field = {name: np.array([getattr(g, name) for g in gaps])
             for name in ("eta_gain", "L_gain", "gap", "max_kl", "mean_kl", "trpo_kl_bound",
                          "trpo_tv_bound", "cpo_tv_bound", "cpo_kl_bound")}
    gap = np.abs(field["gap"])
    ax0, ax1, ax2 = axes
    ax0.plot(t, field["eta_gain"], lw=2.5, label=r"$\eta(\pi_t) - \eta(\pi_{old})$  (true)")
    ax0.plot(t, field["L_gain"], "--", lw=1.5, label=r"$L_{old}(\pi_t) - \eta(\pi_{old})$  (surrogate)")
    ax0.set_xscale("log")
    ax0.set_xlabel(r"step length $t$")
    ax0.set_ylabel("improvement over the old policy")
    ax0.set_title("The surrogate's promise and the truth")
    ax0.legend(fontsize=8)
    ax1.loglog(field["max_kl"], gap, "o-", ms=3, label=r"against $\max_s$ KL")
    ax1.loglog(field["mean_kl"], gap, "s-", ms=3, label=r"against $\mathbb{E}_{s\sim d_{old}}$ KL")
    ax1.set_xlabel("KL(old || new) of the step")
    ax1.set_ylabel(r"$|\eta(\pi_t) - L_{old}(\pi_t)|$")
    ax1.set_title("The gap grows like the KL (slope 1)")
    ax1.legend(fontsize=8)
    ax2.loglog(t, gap, "k-", lw=2.5, label=r"gap $|\eta - L|$")
    ax2.loglog(t, field["trpo_kl_bound"], color="C2", label=r"TRPO: $C \max_s \mathrm{KL}$")
    ax2.loglog(t, field["trpo_tv_bound"], ":", color="C2", label=r"TRPO: $C \max_s \mathrm{TV}^2$")
    ax2.loglog(t, field["cpo_kl_bound"], color="C4",
               label=r"Achiam: $\frac{2\gamma\epsilon'}{(1-\gamma)^2}\sqrt{\mathbb{E}_{d}\mathrm{KL}/2}$")
    ax2.loglog(t, field["cpo_tv_bound"], ":", color="C4",
               label=r"Achiam: $\frac{2\gamma\epsilon'}{(1-\gamma)^2}\mathbb{E}_{d}\mathrm{TV}$")
    ax2.set_xlabel(r"step length $t$")
    ax2.set_ylabel("gap and its upper bounds")
    ax2.set_title("Both bounds hold; the mean-KL bound is below C max KL")
    ax2.legend(fontsize=7)
    keep = t <= 0.1

    def slope(x):
        return float(np.polyfit(np.log(x[keep]), np.log(gap[keep]), 1)[0])

    return {"t": slope(t), "max_kl": slope(field["max_kl"]), "mean_kl": slope(field["mean_kl"])}


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
