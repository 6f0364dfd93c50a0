"""Notebook 02 (KL and Fisher): the exercises' self-checks and the KL-ball explorer.

Self-checks: the categorical KL per state (02.1), the categorical Fisher diag(p) - p p^T
(02.2) and the empirical Fisher from scores (02.3), all against the library's policies on
any logits (``logit_table_policy``). Explorer: the true KL ball around theta_old on the
running example's map against its quadratic ellipse, for a delta and a centre (section 4).
"""
from __future__ import annotations

import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ..fisher import fisher_empirical
from ..mlp import MLP, linear
from ..policies import CategoricalPolicy, GaussianPolicy
from .checking import SelfCheckFailed, compare
from .explorer import Explorer, delta_slider, theta_old_menu
from .figures import kl_contour_artist, kl_contour_legend, kl_ellipse, kl_level_set, running_example_map
from .running_example import running_example


# ------------------------------------------------------------------ self-checks
def logit_table_policy(logits):
    """A policy whose logits in state i are exactly ``logits[i]``: (policy, theta, obs).

    A linear ``CategoricalPolicy`` on one-hot states: with obs = I (N, N) and zero biases,
    the logits x_i W + b are the i-th row of W = ``logits`` (N, A). Lets the checks below
    use the library's ``kl_per_state`` and ``dist_fisher`` as the reference on any logits.
    """
    logits = np.asarray(logits, dtype=float)
    n, A = logits.shape
    policy = CategoricalPolicy(linear(n, A))
    return policy, np.concatenate([logits.ravel(), np.zeros(A)]), np.eye(n)


def _logit_cases():
    """(label, logits_old, logits_new) pairs: general, one state, two actions, extreme, equal."""
    rng = np.random.default_rng(2)
    z = rng.standard_normal((6, 4))
    extreme = np.array([[800.0, 0.0, -800.0], [0.0, 50.0, -50.0]])
    return [("6 states, 4 actions", z, rng.standard_normal((6, 4))),
            ("a single state (batch size 1)", z[:1], 2.0 * rng.standard_normal((1, 4))),
            ("2 actions (Bernoulli)", z[:, :2], z[:, :2] + rng.standard_normal((6, 2))),
            ("extreme logits (+-800, +-50)", extreme, extreme[:, ::-1] * 0.01),
            ("new = old + a constant per state (same policy)", z, z + 3.0),
            ("new = old", z, z.copy())]


def _overflow_hint(err):
    """A hint when only the extreme-logits case broke (exp(800) overflows)."""
    lines = [ln for ln in str(err).splitlines() if ln.startswith("  [")]
    if lines and all("[extreme logits" in ln for ln in lines):
        return ("\n  hint: exp(800) overflows; subtract each row's largest logit first "
                "(log-softmax), which leaves the probabilities unchanged")
    return ""


def check_categorical_kl(categorical_kl):
    """Exercise 02.1: ``categorical_kl(logits_old, logits_new) -> (N,)`` = KL(pi_old || pi_new) per state.

    Compared with ``CategoricalPolicy.kl_per_state`` on 6 cases (incl. batch size 1 and
    extreme logits, where softmax without subtracting the maximum overflows).
    """
    def reference(z_old, z_new):
        policy, theta_old, obs = logit_table_policy(z_old)
        theta_new = logit_table_policy(z_new)[1]
        return policy.kl_per_state(theta_old, theta_new, obs)

    cases = [(label, (z_old, z_new)) for label, z_old, z_new in _logit_cases()]
    try:
        compare("categorical_kl", categorical_kl, reference, cases)
    except AssertionError as err:
        _, z_old, z_new = _logit_cases()[0]
        with np.errstate(all="ignore"):
            try:
                swapped = np.allclose(categorical_kl(z_old, z_new), reference(z_new, z_old))
            except Exception:
                swapped = False
        hint = ("\n  hint: you computed KL(new || old); the course's KL is KL(old || new) = "
                "sum_a p_old (log p_old - log p_new)") if swapped else ""
        raise SelfCheckFailed(f"{err}{hint}{_overflow_hint(err)}") from None


def check_categorical_fisher(categorical_fisher):
    """Exercise 02.2: ``categorical_fisher(logits) -> (N, A, A)`` = diag(p) - p p^T per state.

    Compared with ``CategoricalPolicy.dist_fisher`` (incl. batch size 1 and extreme logits).
    """
    def reference(z):
        policy, theta, obs = logit_table_policy(z)
        return policy.dist_fisher(theta, obs)

    cases = [(label, (z_old,)) for label, z_old, _ in _logit_cases()[:4]]
    cases.append(("uniform policy, 3 actions", (np.zeros((2, 3)),)))
    try:
        compare("categorical_fisher", categorical_fisher, reference, cases)
    except AssertionError as err:
        raise SelfCheckFailed(f"{err}{_overflow_hint(err)}") from None


def check_empirical_fisher(empirical_fisher):
    """Exercise 02.3: ``empirical_fisher(scores (N, P)) -> (P, P)`` = (1/N) sum_i s_i s_i^T.

    The scores come from a categorical and a Gaussian policy (``policy.score``) and the
    answer is compared with ``fisher.fisher_empirical`` on the same samples (incl. N = 1).
    """
    rng = np.random.default_rng(3)
    cases = []
    for label, policy, n in [("categorical, 50 samples", CategoricalPolicy(MLP((4, 3, 2))), 50),
                             ("categorical, a single sample", CategoricalPolicy(MLP((4, 3, 2))), 1),
                             ("Gaussian, 40 samples", GaussianPolicy(MLP((3, 3, 2))), 40)]:
        theta = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n, policy.net.in_dim))
        actions = policy.sample(theta, obs, rng)
        scores = policy.score(theta, obs, actions)
        cases.append((label, (scores, fisher_empirical(policy, theta, obs, actions))))
    compare("empirical_fisher", lambda scores, _: empirical_fisher(scores),
            lambda _, reference: reference, cases)


# ------------------------------------------------ explorer: the KL ball (section 4)
KL_BALL_CENTRES = (("start (-4, -4), saturated", (-4.0, -4.0)),
                   ("centre (0, 0)", (0.0, 0.0)),
                   ("near the optimum (1, 4)", (1.0, 4.0)))
_OUTLINE = [patheffects.Stroke(linewidth=3.5, foreground="black"), patheffects.Normal()]


def true_kl_at(example, theta_old, points):
    """The running example's exact mean KL(pi_old || pi_theta) at each row of ``points`` (n, 2)."""
    return example.along(theta_old, np.asarray(points, dtype=float))[0]


# the ratio panel's y-range steps through these values, so that most delta moves keep the axis
_RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _build_kl_ball(fig, example=None, n_grid=241):
    """What the KL-ball explorer never changes: the map of J, the axes, labels and legends.

    Returns the artists ``_update_kl_ball`` moves, the example and a cache of KL grids.
    """
    example = example or running_example()
    ax_map, ax_ratio = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    running_example_map(ax=ax_map, example=example, colorbar=False, title=" ")
    contour = kl_contour_artist(ax_map)
    (ellipse,) = ax_map.plot([], [], "--", color="white", lw=2, path_effects=_OUTLINE)
    (centre,) = ax_map.plot([], [], "s", color="red", mec="black", ms=7, zorder=6)
    ax_map.legend(handles=[kl_contour_legend(),
                           Line2D([], [], color="white", ls="--", lw=2, path_effects=_OUTLINE,
                                  label=r"$\frac{1}{2}\Delta\theta^T F \Delta\theta = \delta$"),
                           Line2D([], [], color="red", marker="s", mec="black", ls="",
                                  label=r"$\theta_{old}$")],
                  loc="upper left", fontsize=8, facecolor="lightgray")

    (ratio,) = ax_ratio.semilogy([], [], color="tab:blue", label="true KL on the ellipse / $\\delta$")
    ax_ratio.axhline(1.0, color="black", ls="--", lw=1, label="quadratic model (= 1)")
    ax_ratio.yaxis.set_major_locator(FixedLocator(_RATIO_TICKS))
    ax_ratio.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax_ratio.yaxis.set_minor_formatter(NullFormatter())
    ax_ratio.set_xlim(0, 360)
    ax_ratio.set_ylim(0.5, 2.0)
    ax_ratio.set_xticks([0, 90, 180, 270, 360])
    ax_ratio.set_xlabel(r"angle around $\theta_{old}$ (degrees; 0 = $+\theta_0$, 90 = $+\theta_1$)")
    ax_ratio.set_ylabel(r"KL$(\theta_{old}, \theta)\ /\ \delta$")
    ax_ratio.set_title(" ")
    ax_ratio.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return {"example": example, "n_grid": n_grid, "kl_grids": {}, "ax_ratio": ax_ratio,
            "moving": [contour, ellipse, centre, ratio, ax_map.title, ax_ratio.title]}


def _update_kl_ball(artists, delta=0.01, theta_old=(0.0, 0.0)):
    """Move the KL contour, the ellipse, the centre and the ratio curve to (delta, theta_old)."""
    example, theta_old = artists["example"], np.asarray(theta_old, dtype=float)
    contour_lines, ellipse_line, centre, ratio_line, map_title, ratio_title = artists["moving"]
    contour = kl_level_set(example, theta_old, delta, example.box, artists["n_grid"],
                           cache=artists["kl_grids"])
    contour_lines.set_segments(contour)
    ellipse = kl_ellipse(example.fisher(theta_old), theta_old, delta)
    ellipse_line.set_data(ellipse[:, 0], ellipse[:, 1])
    centre.set_data([theta_old[0]], [theta_old[1]])
    map_title.set_text(rf"KL ball vs ellipse, $\delta$ = {delta:.4g}")

    kl_on_ellipse = true_kl_at(example, theta_old, ellipse)
    angle_deg = np.linspace(0.0, 360.0, len(ellipse))
    ratio = kl_on_ellipse / delta
    ratio_line.set_data(angle_deg, ratio)
    lo = max([t for t in _RATIO_TICKS if t <= min(0.5, 0.8 * ratio.min())], default=_RATIO_TICKS[0])
    hi = min([t for t in _RATIO_TICKS if t >= max(2.0, 1.25 * ratio.max())], default=_RATIO_TICKS[-1])
    artists["ax_ratio"].set_ylim(lo, hi)
    artists["view"] = (lo, hi)                 # the panel's range: a new one is drawn in full
    ratio_title.set_text(f"on the ellipse: true KL in [{ratio.min():.2f}, {ratio.max():.2f}] x delta")
    return {"theta_old": theta_old, "delta": float(delta), "ellipse": ellipse,
            "angle_deg": angle_deg, "kl_on_ellipse": kl_on_ellipse, "contour": contour}


def draw_kl_ball(fig, delta=0.01, theta_old=(0.0, 0.0), example=None, n_grid=241):
    """The true KL ball {theta: KL(theta_old, theta) = delta} vs its quadratic ellipse.

    Left: the running example's map with the exact contour KL = delta (solid) and the
    ellipse 0.5 dtheta^T F(theta_old) dtheta = delta (dashed). Right: the true KL measured
    on the ellipse, divided by delta, against the angle around theta_old (1 where the
    quadratic model is exact). Returns the drawn data: ``theta_old``, ``delta``,
    ``ellipse`` (n, 2), ``angle_deg`` (n,), ``kl_on_ellipse`` (n,), ``contour`` (list of (m, 2)
    arrays, the KL = delta level set inside the box).
    """
    fig.clear()
    return _update_kl_ball(_build_kl_ball(fig, example, n_grid), delta, theta_old)


def kl_ball_explorer(example=None):
    """Explorer: delta (log slider, 1e-5 to 1) and theta_old (menu) -> the KL ball and the ratio."""
    return Explorer(
        _build_kl_ball, _update_kl_ball, figsize=(11, 4.6), example=example,
        name="The KL ball on the running example",
        controls={"delta": delta_slider(0.01, -5, ".3g"),
                  "theta_old": theta_old_menu(KL_BALL_CENTRES, (0.0, 0.0))})
