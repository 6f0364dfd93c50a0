"""TabularMDP's stored arrays and the minorise-maximise step, each against an independent
computation: a hand-solved two-state MDP, and the maximiser of the bound M_old found from its
optimality conditions by one-dimensional root finding (no SLSQP). Written against the survivors
of scripts/mutation.sh mdp monotonic (scripts/MUTATION.md)."""
import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult, brentq

from trpo_lite import mdp as tab
from trpo_lite import monotonic


# ---- TabularMDP keeps private read-only float copies ---------------------------------------------
def _stay_or_switch():
    """Action 0 stays, action 1 switches state; r = [[1, 0], [0, 2]]; the walk starts in state 0.

    Under the uniform policy P_pi is 1/2 everywhere and r_pi = (1/2, 1), so with gamma = 1/2:
    V_s = r_pi(s) + m / 2 with m = (V_0 + V_1) / 2 = 3/4 + m / 2, i.e. m = 3/2, V = (5/4, 7/4),
    eta = V_0 = 5/4.
    """
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = P[0, 1, 1] = P[1, 1, 0] = 1.0
    return P, np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 0.0])


def test_tabular_mdp_copies_its_arrays_read_only():
    P, R, mu0 = _stay_or_switch()
    mdp = tab.TabularMDP(P=P, R=R, mu0=mu0, gamma=0.5)
    uniform = np.full((2, 2), 0.5)
    np.testing.assert_allclose(tab.policy_evaluation(mdp, uniform), [1.25, 1.75], rtol=1e-14)
    P[:] = 0.5                                  # the caller's arrays change afterwards ...
    R[:] = 0.0
    mu0[:] = [0.0, 1.0]
    assert tab.eta(mdp, uniform) == pytest.approx(1.25, rel=1e-14)   # ... the MDP does not
    for name in ("P", "R", "mu0"):
        value = getattr(mdp, name)
        assert isinstance(value, np.ndarray) and value.dtype == np.float64, name
        with pytest.raises(ValueError, match="read-only"):
            value[(0,) * value.ndim] = 0.25


def test_tabular_mdp_converts_lists_and_a_numpy_gamma():
    P, R, mu0 = _stay_or_switch()
    mdp = tab.TabularMDP(P=P.tolist(), R=R.tolist(), mu0=[1, 0], gamma=np.float32(0.5))
    for name, want in (("P", P), ("R", R), ("mu0", mu0)):
        value = getattr(mdp, name)
        assert isinstance(value, np.ndarray) and value.dtype == np.float64, name
        np.testing.assert_array_equal(value, want)
    assert type(mdp.gamma) is float and mdp.gamma == 0.5
    assert tab.eta(mdp, np.full((2, 2), 0.5)) == pytest.approx(1.25, rel=1e-14)


# ---- the maximiser of M_old, independently ------------------------------------------------------
_ROOT = dict(xtol=1e-300, rtol=1e-15, maxiter=500)


def _decreasing_root(f, x0):
    """The root of a decreasing function f, bracketed by steps of 1, 2, 4, ... from x0."""
    lo, hi, step = x0, x0, 1.0
    while f(lo) < 0:
        lo, step = lo - step, 2 * step
    step = 1.0
    while f(hi) > 0:
        hi, step = hi + step, 2 * step
    return lo if lo == hi else brentq(f, lo, hi, **_ROOT)


def _penalised_row(p, b, lam):
    """argmax over the simplex of b.q - lam KL(p || q).

    Stationarity b_a + lam p_a / q_a = nu gives q_a = p_a / (x + d_a), d_a = (max b - b_a) / lam,
    with x in [p_k, 1] (k = argmax b) fixed by sum_a q_a = 1.
    """
    d = (b.max() - b) / lam
    x = brentq(lambda x: np.sum(p / (x + d)) - 1.0, p[np.argmax(b)], 1.0, **_ROOT)
    q = p / (x + d)
    return q / q.sum()


def _kl(p, q):
    return float(np.sum(p * np.log(p / q)))


def maximiser_of_the_bound(mdp, pi_old, C):
    """(pi*, M*) maximising M_old(pi) = L_old(pi) - C max_s KL_s(pi) (TRPO eq. 3 and Thm. 1).

    In epigraph form, maximise sum_s b_s . pi_s - C t subject to KL_s <= t, b_s = rho_old(s)
    A_old(s, .). Where b_s is not constant every constraint is active at the maximum, with a
    multiplier lam_s > 0: pi_s = _penalised_row(old_s, b_s, lam_s), lam_s(t) the one whose
    KL_s is t (KL_s falls from infinity to 0 as lam_s grows), and sum_s lam_s(t) = C fixes t.
    """
    A_old, rho = tab.advantages(mdp, pi_old), tab.discounted_visitation(mdp, pi_old)
    b = rho[:, None] * A_old

    def lam_for(s, t):
        def kl_excess(log_lam):
            return np.log(_kl(pi_old[s], _penalised_row(pi_old[s], b[s], np.exp(log_lam)))) - np.log(t)
        return np.exp(_decreasing_root(kl_excess, np.log(np.ptp(b[s]))))

    def lam_excess(log_t):
        return np.log(sum(lam_for(s, np.exp(log_t)) for s in range(len(b)))) - np.log(C)

    t = np.exp(_decreasing_root(lam_excess, np.log(0.01)))
    pi_star = np.array([_penalised_row(pi_old[s], b[s], lam_for(s, t)) for s in range(len(b))])
    return pi_star, tab.lower_bound(mdp, pi_old, pi_star, C)


def _mm_case(seed, S, A):
    rng = np.random.default_rng(seed)
    return tab.random_mdp(S, A, 0.9, rng), 0.5 * rng.standard_normal((S, A))


@pytest.mark.parametrize("seed, S, A, C_factor", [
    (0, 2, 2, None),    # the theorem's C, the default
    (0, 2, 2, 0.05),    # 20x smaller
    (1, 3, 3, None),
    (1, 3, 3, 0.05),
])
def test_mm_step_lands_on_the_maximiser_of_the_bound(seed, S, A, C_factor):
    mdp, z = _mm_case(seed, S, A)
    pi_old = tab.softmax_policy(z)
    C = tab.penalty_coefficient(mdp, pi_old) * (1.0 if C_factor is None else C_factor)
    pi_star, M_star = maximiser_of_the_bound(mdp, pi_old, C)
    kl_star = tab.kl_per_state(pi_old, pi_star)
    np.testing.assert_allclose(kl_star, kl_star.max(), rtol=1e-10)        # every state active
    assert M_star > tab.eta(mdp, pi_old) + 1e-3                         # a real step
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                   # no solver warnings
        step = monotonic.mm_step(mdp, z, C=None if C_factor is None else C)
    assert step.C == pytest.approx(C, rel=1e-14)
    assert step.bound == pytest.approx(M_star, abs=1e-9)                 # measured: < 1e-12
    np.testing.assert_allclose(tab.softmax_policy(step.logits), pi_star, atol=1e-6)   # < 2e-9
    assert step.max_kl == pytest.approx(kl_star.max(), rel=1e-5)


def test_mm_step_max_iter_caps_the_optimiser():
    """One SLSQP iteration gets part of the way (measured: 49 % of the gain); the default, all."""
    mdp, z = _mm_case(0, 2, 2)
    pi_old = tab.softmax_policy(z)
    eta_old = tab.eta(mdp, pi_old)
    _, M_star = maximiser_of_the_bound(mdp, pi_old, tab.penalty_coefficient(mdp, pi_old))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # e.g. an option SLSQP does not know
        one, full = monotonic.mm_step(mdp, z, max_iter=1), monotonic.mm_step(mdp, z, max_iter=200)
    assert eta_old <= one.bound < eta_old + 0.9 * (M_star - eta_old)
    assert full.bound == pytest.approx(M_star, abs=1e-9)


@pytest.mark.parametrize("bad_step", [
    np.array([[4.0, -4.0], [-4.0, 4.0]]),      # far from old: the bound falls below eta(old)
    np.array([[0.0, -1000.0], [0.0, 0.0]]),    # new gives an action old takes probability 0: KL inf
])
def test_mm_step_keeps_the_old_logits_when_the_optimiser_fails_to_beat_eta_old(monkeypatch, bad_step):
    mdp, z = _mm_case(0, 2, 2)
    pi_old = tab.softmax_policy(z)
    eta_old = tab.eta(mdp, pi_old)
    assert not tab.lower_bound(mdp, pi_old, tab.softmax_policy(z + bad_step)) >= eta_old
    calls = []

    def failing_optimiser(fun, x0, **kwargs):
        calls.append(x0)
        return OptimizeResult(x=np.append((z + bad_step).ravel(), 0.0), success=False)

    monkeypatch.setattr(monotonic, "minimize", failing_optimiser)
    step = monotonic.mm_step(mdp, z)
    assert len(calls) == 1
    np.testing.assert_array_equal(step.logits, z)
    assert step.eta_old == step.eta_new == pytest.approx(eta_old, rel=1e-14)
    assert step.max_kl == 0.0
    assert step.surrogate == pytest.approx(eta_old, abs=1e-12)          # L_old(old) = eta(old)
    assert step.bound == pytest.approx(eta_old, abs=1e-12)
