"""Notebook 01 (policy gradient): the exercises' self-checks and the learning-rate explorer.

Self-checks: the score of a linear softmax policy (01.1), returns-to-go (01.2) and a
REINFORCE estimate of grad J on the running example, checked statistically (01.3), and GAE
advantages of one trajectory with termination vs truncation (01.4).
Explorer: gradient ascent on the running example's map for a learning rate and a number of
updates (section 5).
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..mlp import linear
from ..policies import CategoricalPolicy
from ..rollout import discounted_returns, gae
from .checking import SelfCheckFailed, call_student, compare_with_hints, report
from .explorer import Explorer
from .figures import draw_path, running_example_map
from .running_example import gradient_ascent_path, gradient_ascent_paths, running_example, soft_values


# ------------------------------------------------------------------ self-checks
def check_linear_softmax_score(linear_softmax_score):
    """Exercise 01.1: ``linear_softmax_score(theta, obs, actions) -> (N, n_params)``.

    The per-sample score grad_theta log pi(a_i|s_i) of the linear softmax policy
    logits = s W + b with theta = [W.ravel() (obs_dim * A), b (A)], compared with
    ``CategoricalPolicy(linear(obs_dim, A)).score`` on 5 cases (batch size 1, 2-4 actions,
    large logits where an unstabilised softmax overflows).
    """
    def policy_for(theta, obs):
        obs_dim = obs.shape[1]
        return CategoricalPolicy(linear(obs_dim, len(theta) // (obs_dim + 1)))

    def reference(theta, obs, actions):
        return policy_for(theta, obs).score(theta, obs, actions)

    def one_hot_only(theta, obs, actions):          # forgot "- pi(.|s)"
        A = len(theta) // (obs.shape[1] + 1)
        e = np.eye(A)[actions]
        return np.concatenate([np.einsum("ni,na->nia", obs, e).reshape(len(obs), -1), e], axis=1)

    def bias_first(theta, obs, actions):            # [b, W] instead of [W, b]
        A = len(theta) // (obs.shape[1] + 1)
        s = reference(theta, obs, actions)
        return np.concatenate([s[:, -A:], s[:, :-A]], axis=1)

    def w_transposed(theta, obs, actions):          # W flattened as (A, obs_dim)
        obs_dim, A = obs.shape[1], len(theta) // (obs.shape[1] + 1)
        s = reference(theta, obs, actions)
        W = s[:, :-A].reshape(len(obs), obs_dim, A).transpose(0, 2, 1).reshape(len(obs), -1)
        return np.concatenate([W, s[:, -A:]], axis=1)

    rng = np.random.default_rng(1)
    cases = []
    for label, obs_dim, A, n, scale in [("CartPole-sized: 4 inputs, 2 actions, 8 samples", 4, 2, 8, 1.0),
                                        ("a single sample (batch size 1)", 4, 2, 1, 1.0),
                                        ("3 inputs, 3 actions, 5 samples", 3, 3, 5, 1.0),
                                        ("one sample, 4 actions", 2, 4, 1, 1.0),
                                        ("large logits (|logit| ~ 1000)", 3, 3, 6, 300.0)]:
        theta = scale * rng.standard_normal((obs_dim + 1) * A)
        obs = rng.standard_normal((n, obs_dim))
        actions = rng.integers(0, A, size=n)
        cases.append((label, (theta, obs, actions)))
    compare_with_hints("linear_softmax_score", linear_softmax_score, reference, cases,
            [("the score of a softmax is onehot(a) - pi(.|s), not onehot(a) alone", one_hot_only),
             ("theta is [W.ravel(), b]: the weights come first, the biases last", bias_first),
             ("W has shape (obs_dim, A); flatten the outer product s (onehot(a) - p)^T of that "
              "shape in row-major order", w_transposed)])


def check_returns_to_go(returns_to_go):
    """Exercise 01.2: ``returns_to_go(rewards (T,), gamma) -> G (T,)``, G_t = sum_k gamma^k r_{t+k}.

    Compared with ``rollout.discounted_returns`` on 5 episodes (incl. length 1 and a
    CartPole-like episode of 200 rewards of 1).
    """
    rng = np.random.default_rng(2)
    cases = [("7 random rewards, gamma = 0.9", (rng.standard_normal(7), 0.9)),
             ("an episode of length 1", (np.array([2.5]), 0.99)),
             ("CartPole-like: 200 rewards of 1, gamma = 0.99", (np.ones(200), 0.99)),
             ("sparse reward at the end, gamma = 0.5", (np.array([0.0, 0.0, 0.0, 1.0]), 0.5)),
             ("negative rewards, gamma = 0.97", (-rng.random(12), 0.97))]
    compare_with_hints("returns_to_go", returns_to_go, discounted_returns, cases,
            [("the discount is missing (gamma^k)",
              lambda r, g: np.cumsum(r[::-1])[::-1]),
             ("you summed from the start of the episode: G_t looks at rewards *after* t",
              lambda r, g: np.array([sum(g ** (t - k) * r[k] for k in range(t + 1))
                                     for t in range(len(r))])),
             ("the result is reversed in time",
              lambda r, g: discounted_returns(r, g)[::-1])])


REINFORCE_THETAS = ((-4.0, -4.0), (0.0, 0.0), (1.0, 2.0))


def check_reinforce_gradient(reinforce_gradient, n_repeats=20, n_episodes=200, z_max=5.0,
                             seed=3, table_theta=(0.0, 0.0), table_sizes=(10, 100, 1000, 10000)):
    """Exercise 01.3: ``reinforce_gradient(example, theta, n_episodes, rng, baseline=None) -> (2,)``.

    A Monte-Carlo estimate is random, so it is checked statistically: at three theta
    (incl. the saturated start corner) and with and without the baseline V(s), the mean of
    ``n_repeats`` estimates of ``n_episodes`` episodes each must lie within ``z_max``
    standard errors of the exact ``example.grad_J(theta)`` (a correct estimator fails this
    with probability ~1e-3). Also checks the shape (2,) and a batch of one episode.
    Then prints the estimate's error against the number of episodes (1/sqrt(N)) and the
    spread of a one-episode estimate with and without the baseline.
    """
    example = running_example()
    rng = np.random.default_rng(seed)

    def call(theta, n, baseline):
        return np.asarray(call_student("reinforce_gradient", reinforce_gradient, example, np.array(theta),
                                       n, rng, baseline=baseline), dtype=float)

    problems = []
    one = call(REINFORCE_THETAS[0], 1, None)
    if one.shape != (2,) or not np.all(np.isfinite(one)):
        raise SelfCheckFailed(f"reinforce_gradient: one episode gave shape {one.shape} / non-finite "
                             "values; expected a finite array of shape (2,)")
    n_cases, spread = 1, {}
    for theta in REINFORCE_THETAS:
        exact = example.grad_J(np.array(theta))
        V = soft_values(example, np.array(theta))
        for label, baseline in (("no baseline", None), ("baseline V(s)", V)):
            n_cases += 1
            est = np.array([call(theta, n_episodes, baseline) for _ in range(n_repeats)])
            if est.shape != (n_repeats, 2) or not np.all(np.isfinite(est)):
                problems.append(f"[theta={theta}, {label}] wrong shape or NaN: {est.shape}")
                continue
            mean, se = est.mean(axis=0), est.std(axis=0, ddof=1) / np.sqrt(n_repeats)
            spread[theta, label] = est.std(axis=0, ddof=1) * np.sqrt(n_episodes)  # one episode's
            z = (mean - exact) / np.maximum(se, 1e-12)
            if np.any(np.abs(z) > z_max):
                hint = ""
                if np.all(np.abs((mean + exact) / np.maximum(se, 1e-12)) < z_max):
                    hint = " -- wrong sign: check the score a - sigma(theta_s)"
                elif np.all(np.abs(mean / exact - 1 / (1 - example.mdp.gamma)) < 0.5 / (1 - example.mdp.gamma)):
                    hint = " -- about 1/(1-gamma) too large: weight step t by gamma^t"
                problems.append(f"[theta={theta}, {label}] mean estimate {np.round(mean, 4)} +- "
                                f"{np.round(se, 4)} (1 s.e.) but exact grad J = {np.round(exact, 4)} "
                                f"(|z| = {np.round(np.abs(z), 1)} > {z_max:g}){hint}")
    report("reinforce_gradient", problems, n_cases,
           note="\n  common causes: the weight gamma^t of step t, the entropy bonus -tau log pi(a_t|s_t) "
                "in every reward, the return-to-go G_t (not G_0) with the gamma^t weight, "
                "the score of the state actually visited")

    theta = np.array(table_theta)
    exact = example.grad_J(theta)
    V = soft_values(example, theta)
    print(f"\nconvergence at theta = {tuple(table_theta)}, exact grad J = {np.round(exact, 4)}")
    print(f"{'episodes':>9} {'no baseline':>20} {'error':>8} {'baseline V(s)':>20} {'error':>8}")
    for n in table_sizes:
        plain, based = call(theta, n, None), call(theta, n, V)
        print(f"{n:>9d} {str(np.round(plain, 3)):>20} {np.linalg.norm(plain - exact):>8.4f} "
              f"{str(np.round(based, 3)):>20} {np.linalg.norm(based - exact):>8.4f}")
    key = tuple(float(x) for x in table_theta)
    if (key, "no baseline") in spread:
        print(f"std of a one-episode estimate: no baseline {np.round(spread[key, 'no baseline'], 3)}, "
              f"baseline V(s) {np.round(spread[key, 'baseline V(s)'], 3)}")


# ---------------------------------------------- explorer: the learning rate (section 5)
# theta_0 up to 10, so that a too-large learning rate that overshoots into the saturated
# far side of s0 stays in view; theta_1 keeps the shared map's range.
GRADIENT_ASCENT_XLIM = (-6.0, 10.0)
GRADIENT_ASCENT_YLIM = (-6.0, 6.0)
GRADIENT_ASCENT_MAX_UPDATES = 200           # the "updates" slider's maximum


def _build_gradient_ascent(fig, example=None):
    """What the learning-rate explorer never changes: the map of J, the axes, J* and the legends.

    Returns the artists ``_update_gradient_ascent`` moves (and the example they belong to).
    """
    example = example or running_example()
    ax_map, ax_J = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    lo, hi = GRADIENT_ASCENT_XLIM
    running_example_map(ax=ax_map, example=example, box=(lo, hi), colorbar=False)
    ax_map.set_ylim(*GRADIENT_ASCENT_YLIM)
    path = draw_path(ax_map, np.zeros((1, 2)), label="gradient-ascent path", color="red")
    (last,) = ax_map.plot([], [], "X", color="red", mec="white", ms=10, label="last iterate", zorder=6)
    ax_map.legend(loc="lower right", fontsize=8, facecolor="lightgray")

    J_opt = example.J(example.theta_opt())
    (curve,) = ax_J.plot([], [], color="red", lw=2, label=r"$J(\theta_k)$")
    ax_J.axhline(J_opt, color="black", ls="--", lw=1, label=rf"optimum $J^*$ = {J_opt:.3f}")
    ax_J.set_ylim(0.0, 1.08 * J_opt)
    ax_J.set_xlim(0, GRADIENT_ASCENT_MAX_UPDATES)     # fixed, so that a slider move redraws no axis
    ax_J.set_xlabel("update k")
    ax_J.set_ylabel(r"$J(\theta_k)$")
    ax_J.legend(loc="lower right", fontsize=8)
    ax_map.set_title(" ")
    ax_J.set_title(" ")
    fig.tight_layout()
    # every value of the lr slider (10^-2 .. 10^1, steps of 0.05 in log10), precomputed at once
    # (about 0.07 s), so that no slider move waits for a new path (18 ms each before)
    lrs = 10.0 ** np.linspace(-2.0, 1.0, 61)
    paths, Js = gradient_ascent_paths(example, example.theta_start, lrs, GRADIENT_ASCENT_MAX_UPDATES)
    return {"example": example, "J_opt": J_opt, "ax_map": ax_map, "ax_J": ax_J,
            "slider_paths": (lrs, paths, Js),
            "moving": [path, last, curve, ax_map.title, ax_J.title]}


def _ascent_path_and_J(artists, lr, n_steps):
    """The first n_steps updates of gradient ascent at rate lr and J along them. One path of
    the slider's longest length is computed per rate and kept, so that moving "updates" only
    shows more or less of it."""
    lrs, paths, Js = artists.get("slider_paths", (np.zeros(0), None, None))
    k = np.flatnonzero(np.abs(lrs - lr) <= 1e-12 * lr)       # a slider value (up to the last bits)
    if k.size and n_steps <= GRADIENT_ASCENT_MAX_UPDATES:
        return paths[k[0], :n_steps + 1], Js[k[0], :n_steps + 1]
    cache = artists.setdefault("paths", {})
    longest = max(n_steps, GRADIENT_ASCENT_MAX_UPDATES)
    if lr not in cache or len(cache[lr][0]) < longest + 1:
        example = artists["example"]
        path = gradient_ascent_path(example, example.theta_start, lr, longest)
        cache[lr] = path, np.array([example.J(theta) for theta in path])
    path, J = cache[lr]
    return path[:n_steps + 1], J[:n_steps + 1]


def _update_gradient_ascent(artists, lr=1.0, n_steps=60):
    """Run gradient ascent for (lr, n_steps) and move the path, the last iterate and J's curve."""
    n_steps = int(n_steps)
    path, J = _ascent_path_and_J(artists, float(lr), n_steps)
    max_theta0 = float(path[:, 0].max())

    off_map = "" if max_theta0 <= GRADIENT_ASCENT_XLIM[1] else \
        rf" (leaves the map: max $\theta_0$ = {max_theta0:.3g})"
    artists["ax_map"].set_title(f"gradient ascent, lr = {lr:.3g}, {n_steps} updates{off_map}")
    path_line, last, curve = artists["moving"][:3]
    path_line.set_data(path[:, 0], path[:, 1])
    last.set_data([path[-1, 0]], [path[-1, 1]])
    curve.set_data(np.arange(len(J)), J)
    artists["ax_J"].set_title(f"J after {n_steps} updates: {J[-1]:.3f}")
    return {"lr": float(lr), "n_steps": n_steps, "path": path, "J": J, "J_opt": artists["J_opt"],
            "max_theta0": max_theta0}


def draw_gradient_ascent(fig, lr=1.0, n_steps=60, example=None):
    """Vanilla gradient ascent theta <- theta + lr grad J(theta) from the start corner.

    Left: the running example's map with the path (``running_example.gradient_ascent_path``).
    Right: J along the path against the update number, with the optimum J(theta*) dashed.
    Returns the drawn data: ``lr``, ``n_steps``, ``path`` (n_steps+1, 2), ``J`` (n_steps+1,),
    ``J_opt`` and ``max_theta0`` (the path may leave the map when lr is large).
    """
    fig.clear()
    return _update_gradient_ascent(_build_gradient_ascent(fig, example), lr, n_steps)


def gradient_ascent_explorer(example=None):
    """Explorer: learning rate (log slider, 0.01 to 10) and number of updates -> the path and J."""
    return Explorer(
        _build_gradient_ascent, _update_gradient_ascent, figsize=(11, 4.6), example=example,
        name="Gradient ascent on the running example",
        controls={"lr": widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05,
                                               description="lr", readout_format=".3g"),
                  "n_steps": widgets.IntSlider(value=60, min=10, max=GRADIENT_ASCENT_MAX_UPDATES, step=10,
                                               description="updates")})


# ------------------------------------------------------------ exercise 01.4: GAE
def check_gae(gae_advantages):
    """Exercise 01.4: ``gae_advantages(rewards, values, next_values, terminated, truncated, gamma, lam)``.

    One trajectory, every argument of shape (T,): A_t = sum_l (gamma lam)^l delta_{t+l} with
    delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t), the sum cut where an episode
    ends (terminated or truncated). Compared with ``rollout.gae`` on 7 cases: truncation vs
    termination, an episode boundary inside the trajectory, lambda = 0 and 1, length 1.
    """
    def reference(r, v, nv, te, tr, gamma, lam):
        return gae(r[:, None], v[:, None], nv[:, None], te[:, None], tr[:, None], gamma, lam)[:, 0]

    rng = np.random.default_rng(4)
    ones, no = np.ones(4), np.zeros(4, dtype=bool)
    end = np.array([False, False, False, True])
    mid = np.zeros(10, dtype=bool)
    mid_te, mid_tr = mid.copy(), mid.copy()
    mid_te[3], mid_tr[7] = True, True
    r10, v10, nv10 = rng.standard_normal(10), rng.standard_normal(10), rng.standard_normal(10)
    cases = [("4 rewards of 1, truncated at the end", (ones, 2 * ones, 2 * ones, no, end, 0.5, 0.5)),
             ("4 rewards of 1, terminated at the end", (ones, 2 * ones, 2 * ones, end, no, 0.5, 0.5)),
             ("no episode end (the batch cuts it)", (r10, v10, nv10, mid, mid, 0.99, 0.95)),
             ("terminated at step 3, truncated at step 7", (r10, v10, nv10, mid_te, mid_tr, 0.9, 0.8)),
             ("lambda = 0 (one-step TD)", (r10, v10, nv10, mid_te, mid_tr, 0.9, 0.0)),
             ("lambda = 1 (return minus V)", (r10, v10, nv10, mid_te, mid_tr, 0.9, 1.0)),
             ("length 1, terminated", (np.array([1.5]), np.array([0.5]), np.array([3.0]),
                                       np.array([True]), np.array([False]), 0.99, 0.97))]

    def no_cut(r, v, nv, te, tr, gamma, lam):          # the sum runs across episode ends
        delta, adv, running = r + gamma * nv * ~te - v, np.zeros(len(r)), 0.0
        for t in reversed(range(len(r))):
            running = delta[t] + gamma * lam * running
            adv[t] = running
        return adv

    compare_with_hints("gae_advantages", gae_advantages, reference, cases, [
        ("a terminal state has value 0: do not bootstrap with V(s_{t+1}) where terminated",
         lambda r, v, nv, te, tr, g, lam: reference(r, v, nv, np.zeros_like(te), te | tr, g, lam)),
        ("a time-limit cut (truncated) is not terminal: bootstrap with V(s_{t+1}) there",
         lambda r, v, nv, te, tr, g, lam: reference(r, v, nv, te | tr, np.zeros_like(tr), g, lam)),
        ("the sum must stop where an episode ends (terminated or truncated)", no_cut),
        ("lambda is missing: the weights are (gamma lambda)^l, not gamma^l",
         lambda r, v, nv, te, tr, g, lam: reference(r, v, nv, te, tr, g, 1.0)),
        ("these are returns: the advantage subtracts V(s_t)",
         lambda r, v, nv, te, tr, g, lam: reference(r, v, nv, te, tr, g, lam) + v)])


# ------------------------------------------------- GAE: bias and variance against lambda
def gae_bias_variance(mdp, pi, v_hat, lams):
    """Exact mean-squared action-dependent bias and mean variance of GAE(gamma, lambda) per lambda.

    For the infinite-horizon tabular ``mdp`` (deterministic rewards R(s, a)), policy ``pi`` (S, A)
    and a value estimate ``v_hat`` (S,), the advantage estimate at (s_t, a_t) =(s, a) has mean
    m = delta_bar + gamma lam P~ m and second moment M = b + (gamma lam)^2 P~ M, with
    P~[(s,a),(s',a')] = P(s'|s,a) pi(a'|s'). The bias is m - A_pi minus its pi-average in each
    state (an action-independent part does not bias the gradient). Both are averaged over the
    discounted visitation rho(s) pi(a|s). Returns (bias_rms, variance), arrays of len(lams).
    """
    from .. import mdp as tab
    S, A = mdp.n_states, mdp.n_actions
    v_hat = np.asarray(v_hat, dtype=float)
    if v_hat.shape != (S,):
        raise ValueError(f"v_hat must have shape ({S},), got {v_hat.shape}")
    g = mdp.gamma
    delta = mdp.R[:, :, None] + g * v_hat[None, None, :] - v_hat[:, None, None]     # (s, a, s')
    p_tilde = (mdp.P[:, :, :, None] * pi[None, None, :, :]).reshape(S * A, S * A)
    delta_bar = np.sum(mdp.P * delta, axis=2).reshape(-1)
    weight = (tab.visitation_distribution(mdp, pi)[:, None] * pi).reshape(-1)
    true_adv = tab.advantages(mdp, pi)
    bias, var = [], []
    for lam in lams:
        c = g * lam
        m = np.linalg.solve(np.eye(S * A) - c * p_tilde, delta_bar)
        m_next = m.reshape(S, A)
        cross = np.einsum("sat,tb,tb->sa", mdp.P * delta, pi, m_next).reshape(-1)
        b = np.sum(mdp.P * delta ** 2, axis=2).reshape(-1) + 2 * c * cross
        M = np.linalg.solve(np.eye(S * A) - c ** 2 * p_tilde, b)
        err = m_next - true_adv
        err = err - np.sum(pi * err, axis=1, keepdims=True)
        bias.append(np.sqrt(weight @ err.reshape(-1) ** 2))
        var.append(weight @ (M - m ** 2))
    return np.array(bias), np.array(var)
