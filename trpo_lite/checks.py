"""Self-checks for the exercises: compare a student's function with the reference and say
what is wrong (wrong shape, wrong sign, off by a constant factor, NaN, fails for one sample).

Each ``check_*`` function prints a one-line success message, or raises ``AssertionError``
whose message lists every problem found. Notebook sections add their own checks below;
they all go through ``compare``.
"""
from __future__ import annotations

import numpy as np

from .tabular import trpo_step


def diagnose(student, reference, rtol=1e-6, atol=1e-8):
    """Explain how ``student`` differs from ``reference`` (None when they agree)."""
    try:
        s = np.asarray(student, dtype=float)
    except (TypeError, ValueError):
        return f"returned {type(student).__name__}, expected an array of numbers"
    r = np.asarray(reference, dtype=float)
    if s.shape != r.shape:
        return f"wrong shape: got {s.shape}, expected {r.shape}"
    if not np.all(np.isfinite(s)):
        return "result contains NaN or inf"
    if np.allclose(s, r, rtol=rtol, atol=atol):
        return None
    if np.allclose(s, -r, rtol=rtol, atol=atol):
        return "wrong sign: your result is minus the reference"
    denom = float(r.ravel() @ r.ravel())
    if denom > 0:
        c = float(s.ravel() @ r.ravel()) / denom
        if abs(c) > 1e-12 and np.allclose(s, c * r, rtol=rtol, atol=atol):
            return f"off by a constant factor: your result is {c:.4g} x the reference"
    if s.ndim == 2 and r.ndim == 2 and s.shape == s.T.shape and np.allclose(s, r.T, rtol=rtol, atol=atol):
        return "transposed: your result is the transpose of the reference"
    err = np.max(np.abs(s - r)) / max(np.max(np.abs(r)), atol)
    return f"values differ: max relative error {err:.3g}"


def compare(name, student_fn, reference_fn, cases, rtol=1e-6, atol=1e-8):
    """Run ``student_fn(*args)`` and ``reference_fn(*args)`` on every ``(label, args)`` case.

    Prints "<name>: all N checks passed" or raises AssertionError listing each failing case.
    """
    problems = []
    for label, args in cases:
        try:
            got = student_fn(*args)
        except NotImplementedError:
            raise AssertionError(f"{name}: not implemented yet -- fill in the function above") from None
        except Exception as exc:  # a student's bug: report it, with the case
            problems.append(f"[{label}] raised {type(exc).__name__}: {exc}")
            continue
        why = diagnose(got, reference_fn(*args), rtol, atol)
        if why:
            problems.append(f"[{label}] {why}")
    if problems:
        raise AssertionError(f"{name}: {len(problems)} of {len(cases)} checks failed\n  "
                             + "\n  ".join(problems))
    print(f"{name}: all {len(cases)} checks passed")


def compare_with_hints(name, student_fn, reference_fn, cases, mistakes, rtol=1e-6, atol=1e-8):
    """``compare``; on failure, also name every known mistake that reproduces the student's output.

    ``mistakes`` is a list of ``(explanation, wrong_fn)``; a mistake is reported when
    ``wrong_fn(*args)`` agrees with ``student_fn(*args)`` on every case.
    """
    try:
        compare(name, student_fn, reference_fn, cases, rtol, atol)
    except AssertionError as exc:
        hints = []
        for why, wrong_fn in mistakes:
            try:
                if all(diagnose(student_fn(*args), wrong_fn(*args), rtol, atol) is None
                       for _, args in cases):
                    hints.append(why)
            except Exception:  # the student's function or the mistake raises: no match
                continue
        if hints:
            raise AssertionError(f"{exc}\n  likely cause: " + "; ".join(hints)) from None
        raise


# ---- 01 policy gradient ------------------------------------------------------------
def check_linear_softmax_score(linear_softmax_score):
    """Exercise 01.1: ``linear_softmax_score(theta, obs, actions) -> (N, n_params)``.

    The per-sample score grad_theta log pi(a_i|s_i) of the linear softmax policy
    logits = s W + b with theta = [W.ravel() (obs_dim * A), b (A)], compared with
    ``CategoricalPolicy(linear(obs_dim, A)).score`` on 5 cases (batch size 1, 2-4 actions,
    large logits where an unstabilised softmax overflows).
    """
    from .mlp import linear
    from .policies import CategoricalPolicy

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
    from .rollout import discounted_returns

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


def running_example_values(example, theta):
    """Exact state values V(s) (2,) of the entropy-regularised running example at ``theta``.

    The bonus -tau log pi(a|s) is folded into the reward, R'(s,a) = r(s,a) - tau log pi(a|s),
    and V comes from ``tabular.policy_evaluation``: the best state-dependent baseline's
    usual stand-in, used by ``check_reinforce_gradient``. ``mu0 . V == example.J(theta)``.
    """
    from .tabular import TabularMDP, policy_evaluation

    pi = example.pi(theta)
    mdp = example.mdp
    bonus = TabularMDP(P=mdp.P, R=mdp.R - example.tau * np.log(pi), mu0=mdp.mu0, gamma=mdp.gamma)
    return policy_evaluation(bonus, pi)


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
    from .tabular import running_example

    example = running_example()
    rng = np.random.default_rng(seed)

    def call(theta, n, baseline):
        try:
            return np.asarray(reinforce_gradient(example, np.array(theta), n, rng, baseline=baseline),
                              dtype=float)
        except NotImplementedError:
            raise AssertionError("reinforce_gradient: not implemented yet -- fill in the function above") from None

    problems = []
    one = call(REINFORCE_THETAS[0], 1, None)
    if one.shape != (2,) or not np.all(np.isfinite(one)):
        raise AssertionError(f"reinforce_gradient: one episode gave shape {one.shape} / non-finite "
                             "values; expected a finite array of shape (2,)")
    n_cases, spread = 1, {}
    for theta in REINFORCE_THETAS:
        exact = example.grad_J(np.array(theta))
        V = running_example_values(example, np.array(theta))
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
    if problems:
        raise AssertionError(
            f"reinforce_gradient: {len(problems)} of {n_cases} checks failed\n  " + "\n  ".join(problems)
            + "\n  common causes: the weight gamma^t of step t, the entropy bonus -tau log pi(a_t|s_t) "
              "in every reward, the return-to-go G_t (not G_0) with the gamma^t weight, "
              "the score of the state actually visited")
    print(f"reinforce_gradient: all {n_cases} checks passed")

    theta = np.array(table_theta)
    exact = example.grad_J(theta)
    V = running_example_values(example, theta)
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
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------
def logit_table_policy(logits):
    """A policy whose logits in state i are exactly ``logits[i]``: (policy, theta, obs).

    A linear ``CategoricalPolicy`` on one-hot states: with obs = I (N, N) and zero biases,
    the logits x_i W + b are the i-th row of W = ``logits`` (N, A). Lets the checks below
    use the library's ``kl_per_state`` and ``dist_fisher`` as the reference on any logits.
    """
    from .mlp import linear
    from .policies import CategoricalPolicy

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
            except Exception:  # noqa: BLE001  (any student error was already reported)
                swapped = False
        hint = ("\n  hint: you computed KL(new || old); the course's KL is KL(old || new) = "
                "sum_a p_old (log p_old - log p_new)") if swapped else ""
        raise AssertionError(f"{err}{hint}{_overflow_hint(err)}") from None


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
        raise AssertionError(f"{err}{_overflow_hint(err)}") from None


def check_empirical_fisher(empirical_fisher):
    """Exercise 02.3: ``empirical_fisher(scores (N, P)) -> (P, P)`` = (1/N) sum_i s_i s_i^T.

    The scores come from a categorical and a Gaussian policy (``policy.score``) and the
    answer is compared with ``fisher.fisher_empirical`` on the same samples (incl. N = 1).
    """
    from .fisher import fisher_empirical
    from .mlp import MLP
    from .policies import CategoricalPolicy, GaussianPolicy

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
# ---- end 02 ----

# ---- 03 natural gradient -----------------------------------------------------------
def _uses_matrix_inverse(fn):
    """True when the source of ``fn`` calls ``inv``/``pinv`` (docstrings and comments ignored)."""
    import ast
    import inspect
    import textwrap

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
    from .tabular import running_example

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
    from .algos import natural_step

    x = np.linalg.solve(F, g)
    return natural_step(x, F @ x, delta)


def check_natural_step(student_fn):
    """Exercise 03.1: ``student_fn(g, F, delta)`` returns the natural step (n,).

    Checks the step against ``algos.natural_step`` on 6 cases (incl. n = 1 and an
    ill-conditioned F), that 0.5 s^T F s = delta, and that no matrix inverse is formed.
    """
    if _uses_matrix_inverse(student_fn):
        raise AssertionError("natural step: your function calls inv/pinv; solve F x = g with "
                             "np.linalg.solve instead (cheaper and more accurate)")
    cases = natural_step_cases()
    try:
        student_fn(*cases[0][1])
    except NotImplementedError:
        raise AssertionError("natural step: not implemented yet -- fill in the function above") from None
    except Exception:  # reported case by case below
        pass

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
        raise AssertionError("\n".join(problems))


def natural_gradient_step_toy_reference(example, theta, delta):
    """One step of ``tabular.natural_gradient_path`` from ``theta``: theta_new (2,)."""
    from .tabular import natural_gradient_path

    return natural_gradient_path(example, theta, delta, 1)[1]


def natural_gradient_step_toy_cases(seed=2002):
    """(label, (example, theta, delta)): the running example and a random two-state example."""
    from .tabular import TwoStateExample, random_mdp, running_example

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

    Compared with ``tabular.natural_gradient_path(example, theta, delta, 1)[1]`` on 7 cases
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
    from .fisher import fisher_analytic

    F = fisher_analytic(policy, theta, obs)
    return np.array([0.5 * float(step @ F @ step), policy.kl(theta, theta + step, obs)])


def predicted_and_measured_kl_cases(seed=2003):
    """(label, (policy, theta, obs, step)): categorical MLP and linear Gaussian, 1 or many states."""
    from .mlp import MLP
    from .policies import CategoricalPolicy, GaussianPolicy

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
# ---- end 03 ----

# ---- 04 conjugate gradient ---------------------------------------------------------
def _matvec_with_matrix(A):
    """``v -> A @ v`` that keeps A as an attribute, so a checker can also solve directly."""
    A = np.asarray(A, dtype=float)

    def Avp(v):
        return A @ v

    Avp.A = A
    return Avp


def random_spd(n, kappa, rng, eigenvalues=None):
    """A random SPD matrix Q diag(lambda) Q^T (n, n): Q a random rotation, eigenvalues log-spaced
    in [1, kappa] (condition number kappa), or the given ``eigenvalues``. Used by the checkers
    and by notebook 04.
    """
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.logspace(0.0, np.log10(kappa), n) if eigenvalues is None else np.asarray(eigenvalues)
    return (Q * lam) @ Q.T


def check_cg(my_cg):
    """Check ``my_cg(Avp, b, n_iters) -> x`` against ``trpo_lite.cg.conjugate_gradient`` and
    ``numpy.linalg.solve`` on SPD systems (n = 1 to 30, condition numbers up to 100).

    After n iterations (or as many as A has distinct eigenvalues) x must equal A^-1 b;
    after fewer it must equal the library's CG iterate with the same number of iterations.
    """
    from .cg import conjugate_gradient, steepest_descent

    rng = np.random.default_rng(4)
    cases = []

    def add(label, A, n_iters, exact):
        Avp = _matvec_with_matrix(A)
        Avp.exact = exact
        cases.append((label, (Avp, rng.standard_normal(len(A)), n_iters)))

    add("n=1, 1 iteration, vs numpy.linalg.solve", np.array([[2.5]]), 1, True)
    add("n=2, 2 iterations, vs numpy.linalg.solve", random_spd(2, 10.0, rng), 2, True)
    add("n=5, 5 iterations, vs numpy.linalg.solve", random_spd(5, 30.0, rng), 5, True)
    add("n=20, kappa=10, 20 iterations, vs numpy.linalg.solve", random_spd(20, 10.0, rng), 20, True)
    add("n=30 with 3 distinct eigenvalues, 3 iterations, vs numpy.linalg.solve",
        random_spd(30, 0, rng, np.repeat([1.0, 4.0, 10.0], 10)), 3, True)
    add("n=10, 1 iteration, vs conjugate_gradient", random_spd(10, 50.0, rng), 1, False)
    add("n=20, 4 iterations, vs conjugate_gradient", random_spd(20, 100.0, rng), 4, False)

    def reference(Avp, b, n_iters):
        if Avp.exact:
            return np.linalg.solve(Avp.A, b)
        return conjugate_gradient(Avp, b, max_iter=n_iters, tol=1e-15).x

    try:
        compare("check_cg", my_cg, reference, cases, rtol=1e-6, atol=1e-9)
    except AssertionError as exc:
        Avp, b, _ = cases[-1][1]
        try:
            got = np.asarray(my_cg(Avp, b, 4), dtype=float)
        except Exception:  # noqa: BLE001  (already reported above)
            raise exc from None
        sd = steepest_descent(Avp, b, max_iter=4, tol=1e-15).x
        if got.shape == sd.shape and np.allclose(got, sd, rtol=1e-6, atol=1e-9):
            raise AssertionError(f"{exc}\n  hint: your iterates are steepest descent's; the next "
                                 "direction is p = r_new + beta * p with beta = r_new.r_new / r.r")
        raise


def check_fisher_vector_product(my_fvp):
    """Check ``my_fvp(policy, theta, obs, v) -> F v`` against
    ``trpo_lite.fisher.fisher_vector_product`` (categorical and Gaussian policies, N = 1 to 50).
    """
    from .fisher import fisher_vector_product
    from .mlp import MLP
    from .policies import CategoricalPolicy, GaussianPolicy

    rng = np.random.default_rng(5)
    cases = []
    for label, policy, n in [("linear softmax policy, 2 actions, N=50", CategoricalPolicy(MLP((4, 2))), 50),
                             ("softmax MLP (4, 16, 2), N=30", CategoricalPolicy(MLP((4, 16, 2))), 30),
                             ("softmax MLP (3, 8, 3), 3 actions, N=20", CategoricalPolicy(MLP((3, 8, 3))), 20),
                             ("softmax MLP (4, 8, 2), batch size 1", CategoricalPolicy(MLP((4, 8, 2))), 1),
                             ("Gaussian MLP (3, 8, 2), N=25", GaussianPolicy(MLP((3, 8, 2))), 25)]:
        theta = 0.5 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n, policy.net.in_dim))
        cases.append((label, (policy, theta, obs, rng.standard_normal(policy.n_params))))
    try:
        compare("check_fisher_vector_product", my_fvp,
                lambda policy, theta, obs, v: fisher_vector_product(policy, theta, obs, v),
                cases, rtol=1e-5, atol=1e-9)
    except AssertionError as exc:
        policy, theta, obs, v = cases[0][1]
        try:
            got = np.asarray(my_fvp(policy, theta, obs, v), dtype=float)
        except Exception:  # noqa: BLE001  (already reported above)
            raise exc from None
        ref = fisher_vector_product(policy, theta, obs, v)
        if got.shape == ref.shape and np.allclose(got, len(obs) * ref, rtol=1e-5, atol=1e-9):
            raise AssertionError(f"{exc}\n  hint: F is the MEAN over states of J^T M J: "
                                 "divide the sum over states by N") from None
        raise


def check_steepest_descent_step(my_step):
    """Check ``my_step(Avp, b, x) -> x_new`` (one steepest-descent step with exact line search
    on f(x) = 0.5 x^T A x - b^T x) against ``trpo_lite.cg.steepest_descent(max_iter=1)``."""
    from .cg import steepest_descent

    rng = np.random.default_rng(6)
    cases = []
    for label, A, x in [("n=1", np.array([[3.0]]), np.array([2.0])),
                        ("n=2, kappa=10, from x = 0", random_spd(2, 10.0, rng), np.zeros(2)),
                        ("n=2, kappa=100", random_spd(2, 100.0, rng), rng.standard_normal(2)),
                        ("n=8, kappa=30", random_spd(8, 30.0, rng), rng.standard_normal(8))]:
        cases.append((label, (_matvec_with_matrix(A), rng.standard_normal(len(A)), x)))
    compare("check_steepest_descent_step", my_step,
            lambda Avp, b, x: steepest_descent(Avp, b, max_iter=1, x0=x, tol=1e-15).x,
            cases, rtol=1e-8, atol=1e-10)
# ---- end 04 ----

# ---- 05 monotonic improvement ------------------------------------------------------
def _tabular_cases(n_policies, seed=2002):
    """(label, (mdp, pi_1, ..., pi_n)) on random MDPs, incl. one state, one action and gamma = 0."""
    from .tabular import random_mdp, softmax_policy

    rng = np.random.default_rng(seed)
    cases = []
    for S, A, gamma in ((1, 1, 0.9), (1, 3, 0.5), (2, 2, 0.0), (3, 2, 0.9), (5, 4, 0.95),
                        (6, 3, 0.99)):
        mdp = random_mdp(S, A, gamma, rng)
        pis = [softmax_policy(2.0 * rng.standard_normal((S, A))) for _ in range(n_policies)]
        cases.append((f"S={S}, A={A}, gamma={gamma}", (mdp, *pis)))
    return cases


def _P_pi(mdp, pi):
    return np.einsum("sa,sat->st", pi, mdp.P)


def check_tabular_policy_evaluation(student_fn):
    """Exercise 05.1: ``student_fn(mdp, pi) -> V (S,)`` against ``tabular.policy_evaluation``.

    Six random MDPs, from one state and one action (V = r / (1 - gamma)) to 6 states.
    """
    from .tabular import policy_evaluation

    def transposed(mdp, pi):
        return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * _P_pi(mdp, pi).T,
                               np.sum(pi * mdp.R, axis=1))

    mistakes = [
        ("P_pi is transposed: P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a) has the NEXT state s' in "
         "the columns (the transpose belongs to the visitation rho, not to V)", transposed),
        ("returned r_pi only: the Bellman equation adds gamma P_pi V (solve the linear system)",
         lambda mdp, pi: np.sum(pi * mdp.R, axis=1)),
        ("returned the unweighted r(s, a) summed over actions: r_pi(s) = sum_a pi(a|s) r(s, a)",
         lambda mdp, pi: np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * _P_pi(mdp, pi),
                                         mdp.R.sum(axis=1))),
    ]
    compare_with_hints("policy evaluation (I - gamma P_pi) V = r_pi", student_fn,
                        policy_evaluation, _tabular_cases(1), mistakes)


def check_tabular_advantages(student_fn):
    """Exercise 05.2: ``student_fn(mdp, pi) -> A (S, A)`` against ``tabular.advantages``."""
    from .tabular import advantages, policy_evaluation, q_values

    mistakes = [
        ("returned Q(s, a): the advantage subtracts the baseline V(s)", q_values),
        ("forgot gamma in Q(s, a) = r(s, a) + gamma sum_s' P(s'|s,a) V(s')",
         lambda mdp, pi: mdp.R + mdp.P @ policy_evaluation(mdp, pi)
         - policy_evaluation(mdp, pi)[:, None]),
    ]
    compare_with_hints("advantages A = Q - V", student_fn, advantages, _tabular_cases(1),
                        mistakes)


def check_tabular_surrogate(student_fn):
    """Exercise 05.3: ``student_fn(mdp, pi_old, pi_new) -> float`` against ``tabular.surrogate``.

    The cases include pi_new = pi_old, where L_old(old) must equal eta(old).
    """
    from .tabular import (advantages, discounted_visitation, eta, performance_difference,
                          surrogate)

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
    """Exercise 05.4: ``student_fn(mdp, pi_old) -> C`` against ``tabular.penalty_coefficient``."""
    from .tabular import advantages, penalty_coefficient

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
# ---- end 05 ----

# ---- 06 TRPO -----------------------------------------------------------------------

LINE_SEARCH_OUTCOMES = ("accepted", "kl_violation", "no_improvement",
                        "kl_violation_and_no_improvement", "non_finite")


def line_search_cases():
    """(label, theta_old, delta, backtrack_coef, max_backtracks) on the running example:
    accepted at once, after KL violations, after no-improvement rejections, never."""
    return [("accepted at once: theta_old=(0, 0), delta=0.01", (0.0, 0.0), 0.01, 0.8, 10),
            ("KL violations first: theta_old=(-4, -4), delta=0.5", (-4.0, -4.0), 0.5, 0.8, 10),
            ("KL violations, backtrack_coef=0.5", (-4.0, -4.0), 1.0, 0.5, 10),
            ("no-improvement rejections: theta_old=(0.5, 3.5), delta=0.3", (0.5, 3.5), 0.3, 0.8, 10),
            ("every attempt rejected: theta_old=(1, 4), delta=0.3", (1.0, 4.0), 0.3, 0.8, 10),
            ("max_backtracks=0 (a single attempt), rejected", (-4.0, -4.0), 0.5, 0.8, 0),
            ("max_backtracks=2, all rejected", (-4.0, -4.0), 1.0, 0.8, 2)]


def _line_search_problems(student_fn, example):
    """Run the student's line search on every case; return a list of problems (strings)."""
    from .tabular import running_example

    example = example or running_example()
    problems = []
    for label, theta_old, delta, backtrack_coef, max_backtracks in line_search_cases():
        theta_old = np.asarray(theta_old, dtype=float)
        full_step, ref = trpo_step(example, theta_old, delta, backtrack_coef,
                                             max_backtracks)
        surrogate = lambda theta, t0=theta_old: example.surrogate(t0, theta)  # noqa: E731
        kl = lambda theta, t0=theta_old: example.kl(t0, theta)  # noqa: E731
        try:
            theta_new, attempts = student_fn(theta_old.copy(), full_step.copy(), surrogate, kl,
                                             delta, backtrack_coef, max_backtracks)
            attempts = np.asarray(attempts, dtype=float).reshape(-1, 3)
        except NotImplementedError:
            raise AssertionError("line search: not implemented yet -- "
                                 "fill in the function above") from None
        except Exception as exc:  # a student's bug: report it with the case
            problems.append(f"[{label}] raised {type(exc).__name__}: {exc} (return (theta_new, "
                            "attempts) with attempts a list of (coef, kl, improvement))")
            continue
        expected = np.array([[a.coef, a.kl, a.improvement] for a in ref.attempts])
        n, n_ref = len(attempts), len(expected)
        m = min(n, n_ref)
        why = None
        if not np.allclose(attempts[:m, 0], expected[:m, 0], rtol=1e-9):
            why = (f"coefficients {np.round(attempts[:, 0], 4).tolist()} should be backtrack_coef**j "
                   f"for j = 0, 1, ...: {np.round(expected[:, 0], 4).tolist()}")
        elif n != n_ref:
            why = f"you evaluated {n} steps, the reference {n_ref}"
            reason = ref.attempts[n - 1].reason if 0 < n < n_ref else None
            if reason in ("no_improvement", "kl_violation_and_no_improvement"):
                why += (f": you accepted coef={expected[n - 1, 0]:.4g} although its surrogate "
                        f"improvement {expected[n - 1, 2]:.3g} is not > 0")
            elif reason == "kl_violation":
                why += (f": you accepted coef={expected[n - 1, 0]:.4g} although its KL "
                        f"{expected[n - 1, 1]:.3g} > delta = {delta:g}")
            elif n > n_ref and ref.accepted:
                why += "; stop at the first accepted step"
            elif n < n_ref and not ref.accepted:
                why += (f"; when nothing is accepted there are max_backtracks + 1 = "
                        f"{max_backtracks + 1} attempts, j = 0, ..., max_backtracks")
        elif not np.allclose(attempts[:, 1], expected[:, 1], rtol=1e-6, atol=1e-12):
            why = "the measured KL of the attempts differs: use kl(theta_old + coef * full_step)"
        elif not np.allclose(attempts[:, 2], expected[:, 2], rtol=1e-6, atol=1e-12):
            why = ("the improvements differ: improvement = surrogate(theta_old + coef * full_step)"
                   " - surrogate(theta_old)")
        else:
            why = diagnose(theta_new, ref.theta, rtol=1e-9, atol=1e-12)
            if why is not None:
                why = f"theta_new: {why}"
                if not ref.accepted:
                    why += "; when every attempt is rejected, return theta_old unchanged"
        if why:
            problems.append(f"[{label}] {why}")
    return problems


def check_line_search(student_fn, example=None):
    """Exercise 06.1: ``student_fn(theta_old, full_step, surrogate, kl, delta, backtrack_coef,
    max_backtracks) -> (theta_new, attempts)`` with ``attempts`` a list of (coef, kl, improvement).

    Compared with ``linesearch.backtracking_line_search`` on the running example (7 cases:
    accepted at once, KL violations, no-improvement rejections, every attempt rejected,
    a single attempt): the number of attempts, their coefficients, KLs, improvements and theta.
    """
    cases = line_search_cases()
    problems = _line_search_problems(student_fn, example)
    if problems:
        raise AssertionError(f"line search: {len(problems)} of {len(cases)} checks failed\n  "
                             + "\n  ".join(problems))
    print(f"line search: all {len(cases)} checks passed")


def full_step_cases(seed=2006):
    """(label, (x, fvp, g, delta)): x from a few CG iterations on Fisher-vector products of
    categorical and Gaussian MLP policies, incl. a single state and an unconverged CG."""
    from .cg import conjugate_gradient
    from .fisher import make_fisher_vector_product
    from .mlp import MLP
    from .policies import CategoricalPolicy, GaussianPolicy

    rng = np.random.default_rng(seed)
    cases = []
    softmax_16, softmax_8 = CategoricalPolicy(MLP((4, 16, 2))), CategoricalPolicy(MLP((4, 8, 3)))
    gaussian = GaussianPolicy(MLP((3, 8, 2)))
    for label, policy, n_states, cg_iters, damping, delta in (
            ("softmax MLP (4, 16, 2), 256 states, 10 CG iterations", softmax_16, 256, 10, 0.1, 0.01),
            ("softmax MLP (4, 16, 2), 256 states, 2 CG iterations", softmax_16, 256, 2, 1e-3, 0.05),
            ("softmax MLP (4, 8, 3), a single state", softmax_8, 1, 10, 0.1, 0.02),
            ("Gaussian MLP (3, 8, 2), 64 states, 3 CG iterations", gaussian, 64, 3, 0.01, 0.1)):
        theta = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n_states, policy.net.in_dim))
        actions = policy.sample(theta, obs, rng)
        g = policy.grad_log_prob(theta, obs, actions, rng.standard_normal(n_states))
        fvp = make_fisher_vector_product(policy, theta, obs, damping)
        x = conjugate_gradient(fvp, g, max_iter=cg_iters).x
        cases.append((label, (x, fvp, g, delta)))
    return cases


def full_step_reference(x, fvp, g, delta):
    """[full_step, expected_improve]: s = sqrt(2 delta / x^T F x) x and g^T s, shape (n + 1,)."""
    from .algos import natural_step

    step = natural_step(x, fvp(x), delta)
    return np.append(step, g @ step)


def check_full_step(student_fn):
    """Exercise 06.2: ``student_fn(x, fvp, g, delta) -> (full_step, expected_improve)``.

    Compared with ``algos.natural_step(x, fvp(x), delta)`` and ``g @ full_step`` on 4 cases
    (categorical and Gaussian policies, a single state, CG stopped after 2 to 10 iterations).
    """
    def as_array(x, fvp, g, delta):
        step, expected = student_fn(x, fvp, g, delta)
        return np.append(np.asarray(step, dtype=float), float(expected))

    def scaled(factor):
        """The wrong answer that scales x by ``factor(x, fvp, g, delta)``."""
        def wrong(x, fvp, g, delta):
            step = factor(x, fvp, g, delta) * x
            return np.append(step, g @ step)
        return wrong

    mistakes = [
        ("the scale uses x^T x; it must be x^T F x = x @ fvp(x)",
         scaled(lambda x, fvp, g, d: np.sqrt(2 * d / (x @ x)))),
        ("the factor 2 is missing: sqrt(2 delta / x^T F x)",
         scaled(lambda x, fvp, g, d: np.sqrt(d / (x @ fvp(x))))),
        ("no square root: the scale is sqrt(2 delta / x^T F x)",
         scaled(lambda x, fvp, g, d: 2 * d / (x @ fvp(x)))),
        ("x is not rescaled at all", scaled(lambda x, fvp, g, d: 1.0)),
        ("the expected improvement is g^T x; it is g^T full_step (the step actually proposed)",
         lambda x, fvp, g, d: np.append(full_step_reference(x, fvp, g, d)[:-1], g @ x)),
    ]
    compare_with_hints("full step from CG", as_array, full_step_reference, full_step_cases(),
                        mistakes)


def judge_reference(kl, improvement, delta):
    """The library's verdict on one attempt: ``backtracking_line_search`` with a single attempt
    whose measured KL and surrogate improvement are the given numbers."""
    from .linesearch import backtracking_line_search

    result = backtracking_line_search(np.zeros(1), np.ones(1),
                                      surrogate=lambda theta: improvement if theta[0] else 0.0,
                                      kl=lambda theta: kl if theta[0] else 0.0, max_kl=delta,
                                      max_backtracks=0)
    return result.attempts[0].reason


def judge_cases():
    """(label, (kl, improvement, delta)) incl. the boundaries KL = delta and improvement = 0."""
    return [("inside the trust region and improving", (0.004, 0.02, 0.01)),
            ("KL too large", (0.03, 0.02, 0.01)),
            ("surrogate got worse", (0.004, -0.001, 0.01)),
            ("both fail", (0.05, -0.2, 0.01)),
            ("KL exactly delta (allowed: KL <= delta)", (0.01, 0.5, 0.01)),
            ("improvement exactly 0 (not an improvement)", (0.002, 0.0, 0.01)),
            ("a tiny improvement counts", (1e-6, 1e-12, 0.01)),
            ("KL is nan", (np.nan, 0.1, 0.01)),
            ("improvement is inf", (0.001, np.inf, 0.01)),
            ("large delta", (0.9, 0.3, 1.0))]


def check_judge_attempt(student_fn):
    """Exercise 06.3: ``student_fn(kl, improvement, delta) -> reason`` with reason one of
    ``LINE_SEARCH_OUTCOMES``, compared with the library's line search on 10 cases."""
    problems = []
    cases = judge_cases()
    for label, (kl, improvement, delta) in cases:
        try:
            got = student_fn(kl, improvement, delta)
        except NotImplementedError:
            raise AssertionError("judge attempt: not implemented yet -- "
                                 "fill in the function above") from None
        except Exception as exc:  # a student's bug: report it with the case
            problems.append(f"[{label}] raised {type(exc).__name__}: {exc}")
            continue
        expected = judge_reference(kl, improvement, delta)
        if got not in LINE_SEARCH_OUTCOMES:
            problems.append(f"[{label}] returned {got!r}; expected one of {LINE_SEARCH_OUTCOMES}")
        elif got != expected:
            problems.append(f"[{label}] kl={kl:g}, improvement={improvement:g}, delta={delta:g}: "
                            f"returned {got!r}, expected {expected!r}")
    if problems:
        raise AssertionError(f"judge attempt: {len(problems)} of {len(cases)} checks failed\n  "
                             + "\n  ".join(problems))
    print(f"judge attempt: all {len(cases)} checks passed")
# ---- end 06 ----

# ---- 07 beyond TRPO ----------------------------------------------------------------
def _ratio_batch(ratio, advantages=None):
    """(policy, theta, batch) whose probability ratios pi_theta / pi_old are exactly ``ratio``.

    A linear softmax policy on a constant observation with theta = 0 (pi = 1/2 for both actions),
    action 0 in every sample, and log pi_old = log(1/2) - log(ratio). The batch is a real
    ``rollout.Batch``, so the library's ``algos.clipped_surrogate`` can serve as the reference.
    """
    from .mlp import linear
    from .policies import CategoricalPolicy
    from .rollout import Batch

    ratio = np.asarray(ratio, dtype=float)
    n = len(ratio)
    policy = CategoricalPolicy(linear(1, 2))
    theta = np.zeros(policy.n_params)
    obs, actions = np.ones((n, 1)), np.zeros(n, dtype=int)
    adv = np.zeros(n) if advantages is None else np.asarray(advantages, dtype=float)
    batch = Batch(obs=obs, actions=actions,
                  log_prob_old=policy.log_prob(theta, obs, actions) - np.log(ratio),
                  advantages=adv, returns=np.zeros(n), values=np.zeros(n),
                  episode_returns=(), episode_lengths=())
    return policy, theta, batch


def clipped_objective_per_sample_reference(ratio, advantages, clip):
    """min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) for every sample, shape (N,), computed by
    ``algos.clipped_surrogate`` on one-sample batches (its mean over one sample is the sample)."""
    from dataclasses import replace

    from .algos import clipped_surrogate

    policy, theta, batch = _ratio_batch(ratio, advantages)
    adv = np.asarray(advantages, dtype=float)
    out = np.empty(len(adv))
    for i in range(len(adv)):
        one = replace(batch, obs=batch.obs[i:i + 1], actions=batch.actions[i:i + 1],
                      log_prob_old=batch.log_prob_old[i:i + 1], advantages=adv[i:i + 1])
        out[i] = clipped_surrogate(policy, theta, one, adv[i:i + 1], clip)
    return out


def _clip_ratio_cases(seed=2007):
    """(label, (ratio, advantages, clip)): both signs of A, both sides of the clip range, N = 1."""
    rng = np.random.default_rng(seed)
    n = 64
    ratio = np.exp(rng.uniform(np.log(0.5), np.log(1.8), n))
    adv = rng.standard_normal(n)
    cases = [(f"{n} samples, ratios in [0.5, 1.8], A of both signs, eps = 0.2", (ratio, adv, 0.2)),
             (f"{n} samples, eps = 0.1", (ratio, adv, 0.1)),
             (f"{n} samples, eps = 0.3", (ratio, adv, 0.3)),
             ("r = 1 everywhere (theta = theta_old): L_clip = A", (np.ones(5), adv[:5], 0.2))]
    for r, a, why in ((1.5, 2.0, "A > 0, r > 1 + eps: clipped"),
                      (0.6, 2.0, "A > 0, r < 1 - eps: NOT clipped"),
                      (0.6, -2.0, "A < 0, r < 1 - eps: clipped"),
                      (1.5, -2.0, "A < 0, r > 1 + eps: NOT clipped"),
                      (1.1, -0.5, "A < 0, r inside the range")):
        cases.append((f"batch size 1, {why}", (np.array([r]), np.array([a]), 0.2)))
    return cases


def check_clipped_objective(student_fn):
    """Exercise 07.1: ``student_fn(ratio, advantages, clip) -> (N,)`` per-sample clipped objective.

    Compared with ``algos.clipped_surrogate`` evaluated one sample at a time, on 9 cases (both
    signs of the advantage, ratios on both sides of [1 - eps, 1 + eps], batch size 1).
    """
    def no_min(r, A, eps):
        return np.clip(r, 1 - eps, 1 + eps) * A

    def max_not_min(r, A, eps):
        return np.maximum(r * A, np.clip(r, 1 - eps, 1 + eps) * A)

    def min_of_ratios(r, A, eps):
        return np.minimum(r, np.clip(r, 1 - eps, 1 + eps)) * A

    def mean_only(r, A, eps):
        return np.full(len(r), np.mean(np.minimum(r * A, np.clip(r, 1 - eps, 1 + eps) * A)))

    mistakes = [
        ("only the clipped term clip(r) A: the min with the unclipped r A is what makes the "
         "objective pessimistic (a sample keeps its full penalty when it got worse)", no_min),
        ("max instead of min: PPO takes the smaller (pessimistic) of the two terms", max_not_min),
        ("the min is taken over the ratios, min(r, clip(r)) * A: take it over the products, which "
         "flips the choice when A < 0", min_of_ratios),
        ("returned the batch mean in every entry: return one value per sample", mean_only),
    ]
    compare_with_hints("clipped objective per sample", student_fn,
                        clipped_objective_per_sample_reference, _clip_ratio_cases(), mistakes)


def _clip_gradient_cases(seed=2008):
    """(label, (policy, theta, obs, actions, log_prob_old, advantages, clip)): policies where
    theta != theta_old (ratios spread around 1), plus one-sample batches on each side of the range."""
    from .mlp import MLP
    from .policies import CategoricalPolicy, GaussianPolicy

    rng = np.random.default_rng(seed)
    cases = []
    for policy, n in ((CategoricalPolicy(MLP((4, 8, 3))), 64), (GaussianPolicy(MLP((3, 8, 2))), 64),
                      (CategoricalPolicy(MLP((4, 8, 3))), 1)):
        theta_old = policy.init(rng) + 0.3 * rng.standard_normal(policy.n_params)
        theta = theta_old + 0.3 * rng.standard_normal(policy.n_params)
        obs = rng.standard_normal((n, policy.net.in_dim))
        actions = policy.sample(theta_old, obs, rng)
        adv = rng.standard_normal(n)
        kind = type(policy).__name__
        cases.append((f"{kind}, {n} sample(s), theta != theta_old",
                      (policy, theta, obs, actions, policy.log_prob(theta_old, obs, actions), adv, 0.2)))
    policy = CategoricalPolicy(MLP((4, 8, 3)))
    theta = policy.init(rng) + 0.5 * rng.standard_normal(policy.n_params)
    obs = rng.standard_normal((1, 4))
    actions = policy.sample(theta, obs, rng)
    for r, a, why in ((1.5, 1.0, "A > 0, r > 1 + eps (inactive)"), (0.6, 1.0, "A > 0, r < 1 - eps (active)"),
                      (0.6, -1.0, "A < 0, r < 1 - eps (inactive)"), (1.5, -1.0, "A < 0, r > 1 + eps (active)")):
        log_prob_old = policy.log_prob(theta, obs, actions) - np.log(r)
        cases.append((f"batch size 1, {why}",
                      (policy, theta, obs, actions, log_prob_old, np.array([a]), 0.2)))
    return cases


def check_clipped_gradient_weights(student_fn):
    """Exercise 07.2: ``student_fn(ratio, advantages, clip) -> w (N,)`` with
    grad L_clip = mean_i w_i grad log pi(a_i|s_i).

    The gradient ``policy.grad_log_prob(theta, obs, actions, w)`` built from your weights is
    compared with ``algos.clipped_surrogate_gradient`` on 7 cases (categorical and Gaussian
    policies, 64 samples or one, every sign/side combination).
    """
    from .algos import clipped_surrogate_gradient

    def as_gradient(weights_fn):
        def grad(policy, theta, obs, actions, log_prob_old, adv, clip):
            r = np.exp(policy.log_prob(theta, obs, actions) - log_prob_old)
            return policy.grad_log_prob(theta, obs, actions, weights_fn(r, adv, clip))
        return grad

    mistakes = [
        ("the ratio is missing: d r / d theta = r grad log pi, so the weight is r_i A_i",
         as_gradient(lambda r, A, eps: A * np.where(A >= 0, r < 1 + eps, r > 1 - eps))),
        ("no sample is ever switched off: samples whose clipped term is the smaller one have zero gradient",
         as_gradient(lambda r, A, eps: r * A)),
        ("every sample with |r - 1| > eps is switched off; only the side that would help is clipped "
         "(A > 0 and r < 1 - eps still gets its gradient, and so does A < 0 and r > 1 + eps)",
         as_gradient(lambda r, A, eps: r * A * (np.abs(r - 1) <= eps))),
    ]
    compare_with_hints("clipped-surrogate gradient weights", as_gradient(student_fn),
                        clipped_surrogate_gradient, _clip_gradient_cases(), mistakes,
                        rtol=1e-6, atol=1e-10)


def _gaussian_table_policy(mu, log_std):
    """(policy, theta, obs): a linear GaussianPolicy on one-hot states whose mean in state i is
    ``mu[i]`` (N, k) and whose log-std is ``log_std`` (k,)."""
    from .mlp import linear
    from .policies import GaussianPolicy

    mu = np.asarray(mu, dtype=float)
    n, k = mu.shape
    policy = GaussianPolicy(linear(n, k))
    return policy, np.concatenate([mu.ravel(), np.zeros(k), np.asarray(log_std, float)]), np.eye(n)


def gaussian_kl_reference(mu_old, log_std_old, mu_new, log_std_new):
    """KL(N(mu_old, sigma_old^2) || N(mu_new, sigma_new^2)) per state, summed over action
    dimensions, shape (N,): ``GaussianPolicy.kl_per_state`` on one-hot states."""
    policy, theta_old, obs = _gaussian_table_policy(mu_old, log_std_old)
    _, theta_new, _ = _gaussian_table_policy(mu_new, log_std_new)
    return policy.kl_per_state(theta_old, theta_new, obs)


def _gaussian_kl_cases(seed=2009):
    rng = np.random.default_rng(seed)
    cases = []
    for n, k, label in ((6, 1, "6 states, 1-D actions (Pendulum)"), (5, 3, "5 states, 3-D actions"),
                        (1, 2, "batch size 1, 2-D actions")):
        cases.append((label, (rng.standard_normal((n, k)), 0.5 * rng.standard_normal(k),
                              rng.standard_normal((n, k)), 0.5 * rng.standard_normal(k))))
    mu, ls = rng.standard_normal((4, 2)), np.array([-0.5, 0.3])
    cases += [("same distribution: KL = 0", (mu, ls, mu.copy(), ls.copy())),
              ("only the means move (sigma = 1)", (mu, np.zeros(2), mu + 1.0, np.zeros(2))),
              ("only the std moves", (mu, ls, mu.copy(), ls - 0.7)),
              ("a large mean shift, a small std", (mu, np.array([-2.0, -2.0]), mu + 3.0,
                                                   np.array([-2.0, -1.0])))]
    return cases


def check_gaussian_kl(student_fn):
    """Exercise 07.3: ``student_fn(mu_old (N, k), log_std_old (k,), mu_new, log_std_new) -> (N,)``,
    the KL of diagonal Gaussians per state, against ``GaussianPolicy.kl_per_state`` (7 cases)."""
    def reversed_kl(mo, lo, mn, ln):
        return gaussian_kl_reference(mn, ln, mo, lo)

    def std_not_var(mo, lo, mn, ln):
        so, sn = np.exp(lo), np.exp(ln)
        return np.sum(ln - lo + (so + (mo - mn) ** 2) / (2 * sn) - 0.5, axis=1)

    def no_half(mo, lo, mn, ln):
        return np.sum(ln - lo + (np.exp(2 * lo) + (mo - mn) ** 2) / np.exp(2 * ln) - 0.5, axis=1)

    mistakes = [
        ("the direction is reversed: TRPO's constraint is KL(old || new), the expectation is over "
         "the OLD policy's actions", reversed_kl),
        ("used sigma where the formula has sigma^2 (= exp(2 log_std))", std_not_var),
        ("the variance term is (sigma_old^2 + (mu_old - mu_new)^2) / (2 sigma_new^2): the 2 is missing",
         no_half),
    ]
    compare_with_hints("diagonal-Gaussian KL", student_fn, gaussian_kl_reference,
                        _gaussian_kl_cases(), mistakes)
# ---- end 07 ----
