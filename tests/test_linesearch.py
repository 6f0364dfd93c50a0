"""TRPO's backtracking line search (trpo_lite.linesearch): the properties notebook 06 states."""
import numpy as np
import pytest

from trpo_lite.linesearch import Attempt, LineSearchResult, backtracking_line_search

MAX_KL = 0.01


def quadratic_kl(theta_old, F):
    """KL model 0.5 s^T F s with s = theta - theta_old."""
    return lambda theta: 0.5 * (theta - theta_old) @ F @ (theta - theta_old)


def linear_surrogate(g):
    return lambda theta: float(g @ theta)


def problem(n=3, kl_of_full_step=0.5 * MAX_KL, direction=+1.0):
    """Linear surrogate g^T theta, KL = 0.5 ||s||^2, full step along +-g with a chosen KL."""
    theta_old = np.arange(n, dtype=float)
    g = np.linspace(1.0, 2.0, n)
    full_step = direction * g * np.sqrt(2 * kl_of_full_step / (g @ g))
    return theta_old, full_step, linear_surrogate(g), quadratic_kl(theta_old, np.eye(n))


def test_full_step_is_accepted_when_its_kl_and_improvement_pass():
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=0.5 * MAX_KL)
    result = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL)
    assert isinstance(result, LineSearchResult)
    assert result.accepted and result.coef == 1.0 and len(result.attempts) == 1
    attempt = result.attempts[0]
    assert isinstance(attempt, Attempt)
    assert (attempt.j, attempt.coef, attempt.accepted, attempt.reason) == (0, 1.0, True, "accepted")
    assert attempt.kl == pytest.approx(0.5 * MAX_KL) and attempt.improvement > 0
    np.testing.assert_array_equal(result.theta, theta_old + full_step)
    assert result.message.startswith("accepted coef=1 after 0 backtracks")


def test_step_shrinks_by_backtrack_coef_until_the_measured_kl_is_within_max_kl():
    # 0.5 (c s)^T (c s) = 4 c^2 delta <= delta  <=>  c <= 0.5;  first 0.8**j <= 0.5 is j = 4
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=4 * MAX_KL)
    result = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                      backtrack_coef=0.8)
    assert result.accepted and result.coef == pytest.approx(0.8**4)
    assert [a.reason for a in result.attempts] == ["kl_violation"] * 4 + ["accepted"]
    assert [a.j for a in result.attempts] == [0, 1, 2, 3, 4]
    assert result.attempts[-1].kl <= MAX_KL < result.attempts[-2].kl
    np.testing.assert_allclose(result.theta, theta_old + 0.8**4 * full_step)


def test_step_that_does_not_improve_the_surrogate_is_rejected_and_theta_old_kept():
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=0.5 * MAX_KL, direction=-1.0)
    result = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                      max_backtracks=10)
    assert not result.accepted and result.coef == 0.0
    np.testing.assert_array_equal(result.theta, theta_old)
    assert len(result.attempts) == 11
    assert all(a.reason == "no_improvement" and not a.accepted for a in result.attempts)
    assert all(a.improvement < 0 for a in result.attempts)


def test_failed_search_keeps_theta_old_and_the_message_says_so_and_why():
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=100 * MAX_KL, direction=-1.0)
    result = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                      backtrack_coef=0.5, max_backtracks=4)
    np.testing.assert_array_equal(result.theta, theta_old)
    assert result.message == ("line search failed: kept theta_old "
                              "(5 attempts: 4 kl_violation_and_no_improvement, 1 no_improvement)")


def test_attempts_are_the_function_evaluations_and_stop_at_the_first_accepted():
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=4 * MAX_KL)
    calls = {"surrogate": 0, "kl": 0}

    def counted(f, name):
        def wrapper(theta):
            calls[name] += 1
            return f(theta)
        return wrapper

    result = backtracking_line_search(theta_old, full_step, counted(surrogate, "surrogate"),
                                      counted(kl, "kl"), MAX_KL, max_backtracks=50)
    # one surrogate call per attempt, plus one for L(theta_old)
    assert calls == {"surrogate": 1 + len(result.attempts), "kl": len(result.attempts)}
    assert len(result.attempts) == 5


def test_expected_improvement_is_recorded_per_attempt_and_nan_without_it():
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=4 * MAX_KL)
    with_it = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                       expected_improvement=2.0)
    assert [a.expected_improvement for a in with_it.attempts] == pytest.approx(
        [2.0 * a.coef for a in with_it.attempts])
    without = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL)
    assert all(np.isnan(a.expected_improvement) for a in without.attempts)


def test_non_finite_surrogate_or_kl_rejects_the_attempt_and_never_leaks_into_theta():
    theta_old, full_step, _, kl = problem(kl_of_full_step=0.5 * MAX_KL)
    g = np.linspace(1.0, 2.0, 3)

    def surrogate(theta):  # e.g. log of a probability that underflowed on a long step
        too_long = np.linalg.norm(theta - theta_old) > 0.7 * np.linalg.norm(full_step)
        return np.nan if too_long else g @ theta

    result = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL)
    assert [a.reason for a in result.attempts] == ["non_finite"] * 2 + ["accepted"]
    assert np.all(np.isfinite(result.theta))
    inf_kl = backtracking_line_search(theta_old, full_step, linear_surrogate(g),
                                      lambda theta: np.inf, MAX_KL)
    assert not inf_kl.accepted and {a.reason for a in inf_kl.attempts} == {"non_finite"}


def random_kl(rng, theta_old, F, kind):
    """A mean-KL-like function of theta, zero at theta_old, from one of four families."""
    if kind == 0:  # quadratic: the model TRPO's full step is sized with
        return quadratic_kl(theta_old, F)
    if kind == 1:  # quadratic + quartic: the quadratic model underestimates the KL
        q, c = quadratic_kl(theta_old, F), rng.uniform(0, 50)
        return lambda theta: q(theta) + c * q(theta) ** 2
    if kind == 2:  # categorical: KL(softmax(theta_old) || softmax(theta))
        log_p = theta_old - np.logaddexp.reduce(theta_old)
        return lambda theta: float(np.exp(log_p) @ (log_p - theta + np.logaddexp.reduce(theta)))
    # Gaussian log-std a -> b: KL(N(0, e^{2a}) || N(0, e^{2b})) summed over dimensions
    def gaussian_kl(theta):
        d = theta_old - theta
        return float(np.sum(-d + 0.5 * np.exp(2 * d) - 0.5))
    return gaussian_kl


def random_surrogate(rng, theta_old, g, F, kind):
    """A surrogate L(theta) with gradient about g at theta_old, from one of three families."""
    if kind == 0:  # linear: the model the expected improvement assumes
        return linear_surrogate(g)
    if kind == 1:  # concave quadratic: long steps overshoot and get worse
        H = F * rng.uniform(0, 5)
        return lambda theta: float(g @ theta - 0.5 * (theta - theta_old) @ H @ (theta - theta_old))
    w, amp = rng.normal(size=len(g)) * rng.uniform(0, 10), rng.uniform(0, 1)  # wiggly
    return lambda theta: float(g @ theta + amp * np.sin(w @ theta))


def test_accepted_step_always_satisfies_the_kl_constraint_and_improves_over_random_problems():
    rng = np.random.default_rng(2015)
    n_trials, n_accepted = 3000, 0
    for trial in range(n_trials):
        n = int(rng.integers(1, 7))
        theta_old, g = rng.normal(size=n), rng.normal(size=n)
        M = rng.normal(size=(n, n)) * rng.uniform(0.1, 3.0)
        F = M @ M.T  # positive semi-definite, sometimes singular
        kl = random_kl(rng, theta_old, F, kind=trial % 4)
        surrogate = random_surrogate(rng, theta_old, g, F, kind=rng.integers(3))
        direction = g if rng.uniform() < 0.8 else rng.normal(size=n)  # sometimes not ascent
        full_step = direction / np.linalg.norm(direction) * 10 ** rng.uniform(-3, 1)
        max_kl = 10 ** rng.uniform(-4, -1)

        result = backtracking_line_search(theta_old, full_step, surrogate, kl, max_kl,
                                          backtrack_coef=rng.uniform(0.3, 0.95),
                                          max_backtracks=int(rng.integers(0, 16)))

        if result.accepted:
            n_accepted += 1
            assert kl(result.theta) <= max_kl, trial
            assert surrogate(result.theta) - surrogate(theta_old) > 0, trial
            np.testing.assert_allclose(result.theta, theta_old + result.coef * full_step)
        else:
            np.testing.assert_array_equal(result.theta, theta_old)
        assert not any(a.accepted for a in result.attempts[:-1])  # stops at the first accepted
        for a in result.attempts:  # each rejection is justified by the measured numbers
            if not a.accepted:
                assert a.kl > max_kl or a.improvement <= 0 or a.reason == "non_finite", trial
    assert 0.2 < n_accepted / n_trials < 0.95  # both outcomes exercised


def test_improvement_ratio_rule_accepts_a_step_that_violates_the_kl_constraint():
    # The linear surrogate improves exactly as predicted (ratio 1 > 0.1); the step's KL is 10 delta.
    theta_old, full_step, surrogate, kl = problem(kl_of_full_step=10 * MAX_KL)
    expected_improvement = surrogate(theta_old + full_step) - surrogate(theta_old)  # g^T full_step
    ratio = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                     expected_improvement=expected_improvement, rule="improvement_ratio")
    assert ratio.accepted and ratio.coef == 1.0
    assert ratio.attempts[0].kl == pytest.approx(10 * MAX_KL)  # consequence: 10x outside the region
    course = backtracking_line_search(theta_old, full_step, surrogate, kl, MAX_KL,
                                      expected_improvement=expected_improvement)
    assert course.accepted and course.attempts[-1].kl <= MAX_KL


def test_improvement_ratio_rule_shrinks_until_actual_over_expected_exceeds_accept_ratio():
    # L(theta_old + c s) - L(theta_old) = c g^T s - 0.5 c^2 k, ratio = 1 - 0.5 c k / g^T s
    n, k = 2, 3.0
    theta_old, g, s = np.zeros(n), np.ones(n), np.ones(n)
    surrogate = lambda theta: float(g @ theta - 0.5 * k * (theta @ theta) / (s @ s))
    result = backtracking_line_search(theta_old, s, surrogate, lambda theta: 0.0, MAX_KL,
                                      expected_improvement=float(g @ s), rule="improvement_ratio",
                                      accept_ratio=0.5, backtrack_coef=0.5)
    ratios = [a.improvement / a.expected_improvement for a in result.attempts]
    assert [a.reason for a in result.attempts] == ["ratio_too_small", "accepted"]
    assert ratios == pytest.approx([1 - 0.5 * c * k / 2 for c in (1.0, 0.5)])


GOOD = dict(theta_old=np.zeros(2), full_step=np.ones(2), surrogate=lambda t: float(t.sum()),
            kl=lambda t: 0.0, max_kl=0.01)


@pytest.mark.parametrize(
    "change, error, name",
    [
        (dict(max_kl=0.0), ValueError, r"max_kl must be a finite number > 0"),
        (dict(max_kl=-0.01), ValueError, "max_kl"),
        (dict(max_kl=np.nan), ValueError, "max_kl"),
        (dict(backtrack_coef=0.0), ValueError, "backtrack_coef"),
        (dict(backtrack_coef=1.0), ValueError, "backtrack_coef"),
        (dict(max_backtracks=-1), ValueError, "max_backtracks"),
        (dict(max_backtracks=2.5), ValueError, "max_backtracks"),
        (dict(theta_old=np.zeros((2, 1))), ValueError, "theta_old"),
        (dict(theta_old=np.array([0.0, np.inf])), ValueError, "theta_old"),
        (dict(full_step=np.ones(3)), ValueError, "full_step"),
        (dict(full_step=np.array([1.0, np.nan])), ValueError, "full_step"),
        (dict(surrogate=None), TypeError, "surrogate"),
        (dict(kl=1.0), TypeError, "kl"),
        (dict(surrogate=lambda t: t), ValueError, "surrogate"),
        (dict(surrogate=lambda t: np.nan), ValueError, "surrogate"),
        (dict(rule="armijo"), ValueError, "rule"),
        (dict(accept_ratio=-0.1), ValueError, "accept_ratio"),
        (dict(rule="improvement_ratio"), ValueError, "expected_improvement"),
        (dict(rule="improvement_ratio", expected_improvement=-1.0), ValueError, "expected_improvement"),
        (dict(expected_improvement=np.inf), ValueError, "expected_improvement"),
    ],
)
def test_invalid_input_raises_naming_the_argument(change, error, name):
    with pytest.raises(error, match=rf"^{name}"):       # the message starts with the name
        backtracking_line_search(**{**GOOD, **change})


def test_inputs_are_not_mutated():
    theta_old, full_step = np.zeros(2), np.ones(2)

    def mutating_kl(theta):
        theta += 100.0  # a careless closure must not change the search
        return 0.0

    result = backtracking_line_search(theta_old, full_step, GOOD["surrogate"], mutating_kl, 0.01)
    np.testing.assert_array_equal(theta_old, np.zeros(2))
    np.testing.assert_array_equal(result.theta, full_step)


# -- found by mutation testing (scripts/mutation.sh, scripts/MUTATION.md) ----------------------

def test_kl_exactly_at_max_kl_is_inside_the_trust_region():
    result = backtracking_line_search(np.zeros(2), np.ones(2), lambda t: float(t.sum()),
                                      lambda t: 0.01, max_kl=0.01)
    assert result.accepted and result.attempts[0].reason == "accepted"


@pytest.mark.parametrize("rule, extra, reason", [
    ("kl_and_improvement", {}, "no_improvement"),
    ("improvement_ratio", dict(expected_improvement=1.0, accept_ratio=0.0), "ratio_too_small"),
])
def test_zero_improvement_is_never_accepted(rule, extra, reason):
    # a flat surrogate: no attempt improves, even with accept_ratio = 0
    result = backtracking_line_search(np.zeros(2), np.ones(2), lambda t: 1.0, lambda t: 0.0,
                                      max_kl=0.01, max_backtracks=2, rule=rule, **extra)
    assert result.accepted is False and result.coef == 0.0
    assert [a.reason for a in result.attempts] == [reason] * 3


def test_callables_may_return_a_size_1_array_but_not_more():
    import warnings
    one = lambda t: np.array([float(t.sum())])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no "array to scalar" deprecation
        result = backtracking_line_search(np.zeros(2), np.ones(2), one, lambda t: np.array([0.0]), 0.01)
    assert result.accepted and result.attempts[0].improvement == 2.0
    with pytest.raises(ValueError, match="^kl must return a single number"):
        backtracking_line_search(np.zeros(2), np.ones(2), one, lambda t: np.zeros(2), 0.01)
    with pytest.raises(ValueError, match="^surrogate must return a single number"):
        # fine at theta_old, an array at the first attempt
        backtracking_line_search(np.zeros(2), np.ones(2), lambda t: np.zeros(1 + int(t.any())),
                                 lambda t: 0.0, 0.01)
