"""Notebook 03 (natural gradient): the exercises' self-checks and two one-off figures.

Self-checks: the natural step from g, F and delta without a matrix inverse (03.1), one
natural-gradient step on the running example (03.2), and the predicted vs measured KL of a
step (03.3). Figures: vanilla and natural paths under a rescaled theta_1 (section 3) and
NPG's predicted vs measured KL per update (section 4). Explorer: NPG's measured KL overshoot
on one CartPole batch for a delta and a damping, and where the step goes in F's eigenbasis
(section 4).
"""
from __future__ import annotations

import ast
import inspect
import textwrap

import ipywidgets as widgets
import numpy as np

from ..algos import natural_step, normalized, policy_gradient
from ..fisher import fisher_analytic
from ..mdp import random_mdp
from ..mlp import MLP
from ..policies import CategoricalPolicy, GaussianPolicy
from .checking import SelfCheckFailed, compare, compare_with_hints, require_implemented
from .explorer import Explorer, delta_slider
from .figures import draw_path, running_example_map
from .running_example import TwoStateExample, gradient_ascent_path, natural_gradient_path, running_example


# ------------------------------------------------------------------ self-checks
def _uses_matrix_inverse(fn):
    """True when the source of ``fn`` calls ``inv``/``pinv`` (docstrings and comments ignored)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):  # source unavailable: nothing to say
        return False
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if isinstance(node, (ast.Attribute, ast.Name)) and name in ("inv", "pinv"):
            return True
    return False


def natural_step_cases(seed=2001):
    """(label, (g, F, delta)) cases: 1-D, well and ill conditioned F, the running example."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, cond, delta in ((1, 1.0, 0.01), (2, 10.0, 0.05), (3, 1.0, 0.001), (5, 1e3, 0.01),
                           (8, 1e5, 0.1)):
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        eigenvalues = np.geomspace(1.0, 1.0 / cond, n) * rng.uniform(0.1, 3.0)
        F = (Q * eigenvalues) @ Q.T
        F = 0.5 * (F + F.T)
        cases.append((f"n={n}, cond(F)={cond:g}, delta={delta:g}", (rng.standard_normal(n), F, delta)))
    example = running_example()
    theta = np.asarray(example.theta_start, dtype=float)
    cases.append(("running example at the start, delta=0.01",
                  (example.grad_J(theta), example.fisher(theta), 0.01)))
    return cases


def natural_step_reference(g, F, delta):
    """s = sqrt(2 delta / (g^T F^-1 g)) F^-1 g through ``algos.natural_step`` and a direct solve."""
    x = np.linalg.solve(F, g)
    return natural_step(x, F @ x, delta)


def check_natural_step(student_fn):
    """Exercise 03.1: ``student_fn(g, F, delta)`` returns the natural step (n,).

    Checks the step against ``algos.natural_step`` on 6 cases (incl. n = 1 and an
    ill-conditioned F), that 0.5 s^T F s = delta, and that no matrix inverse is formed.
    """
    if _uses_matrix_inverse(student_fn):
        raise SelfCheckFailed("natural step: your function calls inv/pinv; solve F x = g with "
                             "np.linalg.solve instead (cheaper and more accurate)")
    cases = natural_step_cases()
    require_implemented("natural step", student_fn, cases[0][1])

    def x_of(g, F):
        return np.linalg.solve(F, g)

    mistakes = [
        ("the factor 2 is missing: s = sqrt(2 delta / (g^T F^-1 g)) F^-1 g",
         lambda g, F, d: np.sqrt(d / (g @ x_of(g, F))) * x_of(g, F)),
        ("the step is not rescaled: F^-1 g must be multiplied by sqrt(2 delta / (g^T F^-1 g))",
         lambda g, F, d: x_of(g, F)),
        ("no square root: the scale is sqrt(2 delta / (g^T F^-1 g)), not 2 delta / (g^T F^-1 g)",
         lambda g, F, d: 2 * d / (g @ x_of(g, F)) * x_of(g, F)),
        ("this is the vanilla direction g scaled to the KL ball; the natural direction is F^-1 g",
         lambda g, F, d: np.sqrt(2 * d / (g @ F @ g)) * g),
        ("the scale uses g^T g instead of g^T F^-1 g",
         lambda g, F, d: np.sqrt(2 * d / (g @ g)) * x_of(g, F)),
    ]
    problems = []
    try:
        compare_with_hints("natural step s", student_fn, natural_step_reference, cases, mistakes)
    except AssertionError as exc:
        problems.append(str(exc))

    def quadratic_kl(g, F, delta):
        s = np.asarray(student_fn(g, F, delta), dtype=float)
        return 0.5 * float(s @ F @ s)

    try:
        compare("quadratic KL 0.5 s^T F s = delta", quadratic_kl, lambda g, F, d: d, cases)
    except AssertionError as exc:
        problems.append(str(exc))
    if problems:
        raise SelfCheckFailed("\n".join(problems))


def natural_gradient_step_toy_reference(example, theta, delta):
    """One step of ``running_example.natural_gradient_path`` from ``theta``: theta_new (2,)."""
    return natural_gradient_path(example, theta, delta, 1)[1]


def natural_gradient_step_toy_cases(seed=2002):
    """(label, (example, theta, delta)): the running example and a random two-state example."""
    rng = np.random.default_rng(seed)
    example = running_example()
    other = TwoStateExample(mdp=random_mdp(2, 2, 0.8, rng), tau=0.5)
    cases = []
    for theta, delta in (((-4.0, -4.0), 0.01), ((0.0, 0.0), 0.05), ((1.5, 3.0), 0.001),
                         ((3.0, -2.0), 0.1), ((-5.5, 5.0), 0.02)):
        cases.append((f"running example, theta={theta}, delta={delta:g}",
                      (example, np.array(theta), delta)))
    for theta, delta in (((0.5, -1.0), 0.01), ((-2.0, 2.0), 0.05)):
        cases.append((f"another two-state MDP, theta={theta}, delta={delta:g}",
                      (other, np.array(theta), delta)))
    return cases


def check_natural_gradient_step_toy(student_fn):
    """Exercise 03.2: ``student_fn(example, theta, delta)`` returns theta after one natural step.

    Compared with ``natural_gradient_path(example, theta, delta, 1)[1]`` on 7 cases
    (two different MDPs), with hints for the usual mistakes.
    """
    def vanilla_in_ball(example, theta, delta):
        g, F = example.grad_J(theta), example.fisher(theta)
        return theta + np.sqrt(2 * delta / (g @ F @ g)) * g

    def unscaled(example, theta, delta):
        return theta + np.linalg.solve(example.fisher(theta), example.grad_J(theta))

    def descent(example, theta, delta):
        return 2 * theta - natural_gradient_step_toy_reference(example, theta, delta)

    def step_only(example, theta, delta):
        return natural_gradient_step_toy_reference(example, theta, delta) - theta

    mistakes = [("you used the vanilla direction g; the natural one is F^-1 g", vanilla_in_ball),
                ("F^-1 g is not rescaled to the KL budget delta", unscaled),
                ("the step is subtracted: we maximise J, so theta_new = theta + s", descent),
                ("you returned the step s; return theta + s", step_only)]
    compare_with_hints("natural gradient step on the running example", student_fn,
                           natural_gradient_step_toy_reference, natural_gradient_step_toy_cases(),
                           mistakes)


def predicted_and_measured_kl_reference(policy, theta, obs, step):
    """[0.5 s^T F s, mean_s KL(pi_theta || pi_{theta+s})] with F = ``fisher_analytic``."""
    F = fisher_analytic(policy, theta, obs)
    return np.array([0.5 * float(step @ F @ step), policy.kl(theta, theta + step, obs)])


def predicted_and_measured_kl_cases(seed=2003):
    """(label, (policy, theta, obs, step)): categorical MLP and linear Gaussian, 1 or many states."""
    rng = np.random.default_rng(seed)
    cases = []
    for policy, obs_dim in ((CategoricalPolicy(MLP((4, 8, 2))), 4),
                            (GaussianPolicy(MLP((3, 2))), 3)):
        kind = type(policy).__name__
        theta = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        direction = rng.standard_normal(policy.n_params)
        direction /= np.linalg.norm(direction)
        for n_states, length in ((64, 0.05), (64, 1.0), (1, 0.5)):
            obs = rng.standard_normal((n_states, obs_dim))
            cases.append((f"{kind}, {n_states} state(s), |step| = {length:g}",
                          (policy, theta, obs, length * direction)))
    return cases


def check_predicted_and_measured_kl(student_fn):
    """Exercise 03.3: ``student_fn(policy, theta, obs, step)`` returns [predicted KL, measured KL].

    Compared with ``0.5 s^T F s`` (F = ``fisher_analytic``) and ``policy.kl(theta, theta + s, obs)``
    on 6 cases: a categorical MLP and a linear Gaussian policy, 64 states or a single state,
    small and large steps.
    """
    def no_half(policy, theta, obs, step):
        ref = predicted_and_measured_kl_reference(policy, theta, obs, step)
        return np.array([2 * ref[0], ref[1]])

    def reversed_kl(policy, theta, obs, step):
        ref = predicted_and_measured_kl_reference(policy, theta, obs, step)
        return np.array([ref[0], policy.kl(theta + step, theta, obs)])

    def swapped(policy, theta, obs, step):
        return predicted_and_measured_kl_reference(policy, theta, obs, step)[::-1]

    mistakes = [("the predicted KL is 0.5 s^T F s (the half is missing)", no_half),
                ("the measured KL is in the wrong direction: use KL(pi_old || pi_new) = "
                 "policy.kl(theta, theta + step, obs)", reversed_kl),
                ("the two numbers are swapped: return [predicted, measured]", swapped)]
    compare_with_hints("predicted vs measured KL", student_fn,
                           predicted_and_measured_kl_reference, predicted_and_measured_kl_cases(),
                           mistakes, rtol=1e-6, atol=1e-10)


# ------------------------------------------------------------------ figures
PATH_COLORS_BY_SCALE = ("tab:orange", "white", "tab:red", "tab:cyan")


def draw_reparametrisation_paths(axes, example, lr, delta, n_steps, scales):
    """Vanilla (left) and natural (right) paths on the map for theta_1 = c * phi_1, c in ``scales``.

    Both optimisers work in phi = theta / (1, c); the paths are drawn in theta. Uses
    ``running_example.gradient_ascent_path`` and ``natural_gradient_path`` with
    ``scale=(1, c)``. Returns {"vanilla": {c: path (n_steps+1, 2)}, "natural": {c: path}}.
    """
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


# ------------------------------- explorer: NPG's KL overshoot on one CartPole batch (section 4)
OVERSHOOT_DELTAS = np.geomspace(1e-4, 1.0, 41)     # the curve's deltas (the slider's range)
OVERSHOOT_DAMPINGS = (1e-4, 1.0)                    # the damping slider's range


class NaturalSteps:
    """NPG's step s(delta, damping) = sqrt(2 delta / x^T (F + damping I) x) x with
    x = (F + damping I)^-1 g, for one batch, for any delta and damping (``algos.npg_update``).

    F = U diag(mu) U^T is decomposed once, so x = U (U^T g / (mu + damping)) costs O(n^2):
    the explorer can recompute it as a slider moves. ``along(s)`` are s's coordinates on the
    eigenvectors, ordered as ``mu`` (ascending).
    """

    def __init__(self, policy, theta, batch):
        self.policy, self.theta, self.obs = policy, np.asarray(theta, dtype=float), batch.obs
        self.g = policy_gradient(policy, self.theta, batch, normalized(batch.advantages))
        self.mu, self.U = np.linalg.eigh(fisher_analytic(policy, self.theta, batch.obs))
        self.g_eig = self.U.T @ self.g

    def along(self, delta, damping):
        """The step's coordinates on F's eigenvectors (n,): sqrt(2 delta / q) g_eig / (mu + damping),
        with q = sum g_eig^2 / (mu + damping) = x^T (F + damping I) x."""
        x_eig = self.g_eig / (self.mu + damping)
        return np.sqrt(2.0 * delta / float(x_eig @ self.g_eig)) * x_eig

    def step(self, delta, damping):
        return self.U @ self.along(delta, damping)

    def measured_kl(self, delta, damping):
        return self.policy.kl(self.theta, self.theta + self.step(delta, damping), self.obs)


def _build_npg_overshoot(fig, steps):
    """The overshoot explorer's two panels: measured KL / delta against delta, and the step's
    size along each eigenvector of F against its eigenvalue. Axis ranges cover both ends of
    the damping slider, so that no move changes them."""
    ax_kl, ax_eig = fig.subplots(1, 2)
    ends = [np.array([steps.measured_kl(d, lam) / d for d in OVERSHOOT_DELTAS]) for lam in OVERSHOOT_DAMPINGS]
    ax_kl.axhline(1.0, color="black", ls="--", lw=1, label=r"the quadratic model: KL = $\delta$")
    (curve,) = ax_kl.loglog([], [], color="tab:purple", lw=2, label="NPG's measured KL / $\\delta$")
    (point,) = ax_kl.loglog([], [], "o", color="tab:red", mec="black", ms=9, zorder=5,
                            label=r"the slider's $\delta$")
    low, high = min(e.min() for e in ends), max(e.max() for e in ends)
    ax_kl.set_xlim(OVERSHOOT_DELTAS[0], OVERSHOOT_DELTAS[-1])
    ax_kl.set_ylim(min(low, 1.0) / 1.5, max(high, 1.0) * 1.5)
    ax_kl.set_xlabel(r"$\delta$ (the step's predicted KL)")
    ax_kl.set_ylabel(r"measured mean KL on the batch / $\delta$")
    ax_kl.set_title(" \n ", fontsize=10)
    ax_kl.legend(loc="upper left", fontsize=8)

    mu = np.maximum(steps.mu, 1e-12 * steps.mu.max())
    (bars,) = ax_eig.loglog([], [], ".", color="tab:purple", ms=6, label=r"$|u_i^T s|$ of NPG's step")
    (damp,) = ax_eig.loglog([], [], ":", color="gray", lw=1.5, label="damping (eigenvalue scale)")
    sizes = [np.abs(steps.along(d, lam)) for d in OVERSHOOT_DELTAS[[0, -1]] for lam in OVERSHOOT_DAMPINGS]
    top = max(s.max() for s in sizes)
    ax_eig.set_xlim(mu.min() / 2, max(mu.max(), OVERSHOOT_DAMPINGS[1]) * 2)
    ax_eig.set_ylim(top * 1e-8, top * 3)
    ax_eig.set_xlabel(r"eigenvalue $\mu_i$ of the Fisher matrix $F$")
    ax_eig.set_ylabel(r"step along eigenvector $u_i$: $|u_i^T s|$")
    ax_eig.set_title(" \n ", fontsize=10)
    ax_eig.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return {"steps": steps, "mu": mu, "ax_eig": ax_eig,
            "moving": [curve, point, bars, damp, ax_kl.title, ax_eig.title]}


def _update_npg_overshoot(artists, delta=0.02, damping=1e-3):
    """NPG's step for (delta, damping) on the batch: its measured KL, the curve over every delta,
    and where the step goes in F's eigenbasis."""
    steps = artists["steps"]
    curve, point, bars, damp, kl_title, eig_title = artists["moving"]
    curves = artists.setdefault("curves", {})         # the curve depends on the damping only
    if damping not in curves:
        curves[damping] = np.array([steps.measured_kl(d, damping) / d for d in OVERSHOOT_DELTAS])
    ratios = curves[damping]
    ratio = steps.measured_kl(delta, damping) / delta
    curve.set_data(OVERSHOOT_DELTAS, ratios)
    point.set_data([delta], [ratio])
    kl_title.set_text(rf"damping {damping:.2g}, $\delta$ = {delta:.2g}:" "\n"
                      rf"measured KL = {ratio:.3g} $\times\,\delta$")
    along = np.abs(steps.along(delta, damping))
    bars.set_data(artists["mu"], np.maximum(along, artists["ax_eig"].get_ylim()[0]))
    damp.set_data([damping, damping], artists["ax_eig"].get_ylim())
    small = artists["mu"] < damping
    share = float(np.sum(along[small] ** 2) / np.sum(along ** 2))
    norm = float(np.linalg.norm(along))
    eig_title.set_text(f"NPG's step in F's eigenbasis: |s| = {norm:.3g}\n"
                       f"{100 * share:.0f}% of |s|$^2$ along eigenvalues below the damping")
    return {"delta": float(delta), "damping": float(damping), "kl_ratio": float(ratio),
            "kl_ratios": ratios, "along": along, "step_norm": norm, "share_below_damping": share}


def draw_npg_overshoot(fig, policy, theta, batch, delta=0.02, damping=1e-3):
    """NPG's measured KL / delta on one batch for a delta and a damping (``NaturalSteps``).

    Left: measured KL / delta against delta for this damping (1 = what the quadratic model
    promises), the chosen delta marked. Right: |u_i^T s| against F's eigenvalues mu_i, with
    the damping marked: light damping puts the step into directions F barely measures, and
    there the quadratic model is worst. Returns ``delta``, ``damping``, ``kl_ratio``,
    ``kl_ratios`` (over ``OVERSHOOT_DELTAS``), ``along``, ``step_norm`` and
    ``share_below_damping``.
    """
    fig.clear()
    return _update_npg_overshoot(_build_npg_overshoot(fig, NaturalSteps(policy, theta, batch)),
                                 delta, damping)


def npg_overshoot_explorer(policy, theta, batch):
    """Explorer: delta and damping (log sliders) -> NPG's measured KL overshoot on the batch."""
    return Explorer(
        _build_npg_overshoot, _update_npg_overshoot, figsize=(11, 4.6),
        steps=NaturalSteps(policy, theta, batch), name="NPG's KL overshoot on one CartPole batch",
        controls={"delta": delta_slider(0.02, -4, ".2g"),
                  "damping": widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=0, step=0.25,
                                                    description="damping", readout_format=".2g")})
