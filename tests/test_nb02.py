"""Notebook 02 (KL and Fisher): the KL-ball widget and the exercise self-ch02."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from trpo_lite.course import ch02
from trpo_lite.course.figures import kl_ellipse
from trpo_lite.course.running_example import running_example


# ---- the quadratic model of the KL on the running example --------------------------------
def test_kl_ellipse_has_quadratic_kl_equal_to_delta():
    example = running_example()
    theta_old = np.array([-1.0, 2.0])
    F = example.fisher(theta_old)
    ellipse = kl_ellipse(F, theta_old, 0.02)
    d = ellipse - theta_old
    assert np.allclose(0.5 * np.einsum("ni,ij,nj->n", d, F, d), 0.02, rtol=1e-12)


def test_true_kl_ball_matches_ellipse_for_small_delta_and_parts_for_large():
    example = running_example()
    theta_old = np.zeros(2)
    F = example.fisher(theta_old)
    small = ch02.true_kl_at(example, theta_old, kl_ellipse(F, theta_old, 1e-4)) / 1e-4
    large = ch02.true_kl_at(example, theta_old, kl_ellipse(F, theta_old, 0.3)) / 0.3
    assert np.all(np.abs(small - 1) < 0.01)
    assert large.min() < 0.5


def test_kl_ellipse_rejects_bad_delta():
    with pytest.raises(ValueError, match="delta"):
        kl_ellipse(np.eye(2), np.zeros(2), 0.0)


# ---- the widget's draw function ------------------------------------------------------------
def _map_lines(figure):
    return [line.get_xydata().copy() for line in figure.axes[0].lines]


def test_draw_kl_ball_returns_what_it_draws(fig):
    example = running_example()
    out = ch02.draw_kl_ball(fig, delta=0.01, theta_old=(0.0, 0.0), example=example)
    assert set(out) >= {"theta_old", "delta", "ellipse", "angle_deg", "kl_on_ellipse", "contour"}
    assert out["ellipse"].shape == (181, 2) and out["kl_on_ellipse"].shape == (181,)
    # the dashed ellipse on the map is the returned ellipse
    assert any(xy.shape == out["ellipse"].shape and np.allclose(xy, out["ellipse"])
               for xy in _map_lines(fig))
    # every contour point has true KL = delta (up to the grid's interpolation)
    points = np.concatenate(out["contour"])
    kl = ch02.true_kl_at(example, out["theta_old"], points)
    assert np.allclose(kl, 0.01, rtol=0.02)
    # the right panel plots kl_on_ellipse / delta
    ratio = fig.axes[1].lines[0].get_xydata()[:, 1]
    assert np.allclose(ratio, out["kl_on_ellipse"] / 0.01)


def test_draw_kl_ball_changes_with_delta(fig):
    first = ch02.draw_kl_ball(fig, delta=0.003, theta_old=(0.0, 0.0))
    lines_first = _map_lines(fig)
    second = ch02.draw_kl_ball(fig, delta=0.1, theta_old=(0.0, 0.0))
    lines_second = _map_lines(fig)
    span = lambda xy: np.ptp(xy, axis=0)
    assert np.all(span(second["ellipse"]) > 5 * span(first["ellipse"]))
    assert np.all(span(np.concatenate(second["contour"])) > 3 * span(np.concatenate(first["contour"])))
    assert not any(a.shape == b.shape and np.allclose(a, b) for a, b in zip(lines_first, lines_second)
                   if len(a) > 1)
    # the quadratic model is worse for the larger delta
    err = lambda out: np.max(np.abs(out["kl_on_ellipse"] / out["delta"] - 1))
    assert err(second) > 5 * err(first)


def test_draw_kl_ball_changes_with_theta_old(fig):
    centre = ch02.draw_kl_ball(fig, delta=0.01, theta_old=(0.0, 0.0))
    start = ch02.draw_kl_ball(fig, delta=0.01, theta_old=(-4.0, -4.0))
    assert np.allclose(start["ellipse"].mean(axis=0), [-4.0, -4.0], atol=1e-2)
    assert not np.allclose(start["ellipse"], centre["ellipse"])
    # at the saturated start the ellipse overestimates the KL ball in some directions by far more
    assert start["kl_on_ellipse"].max() / 0.01 > 1.5 > centre["kl_on_ellipse"].max() / 0.01


def test_draw_kl_ball_with_delta_beyond_the_box_draws_no_contour(fig):
    out = ch02.draw_kl_ball(fig, delta=1e3, theta_old=(0.0, 0.0))
    assert out["contour"] == []


def test_kl_ball_explorer_sliders_change_the_result():
    w = ch02.kl_ball_explorer()
    delta_slider, centre_menu = w.children[0], w.children[1]
    before = w.result
    assert before["delta"] == pytest.approx(0.01)
    delta_slider.value = 0.1
    after_delta = w.result
    assert after_delta["delta"] == pytest.approx(0.1, rel=1e-6)
    assert not np.allclose(after_delta["ellipse"], before["ellipse"])
    centre_menu.value = (-4.0, -4.0)
    after_centre = w.result
    assert np.allclose(after_centre["theta_old"], [-4.0, -4.0])
    assert not np.allclose(after_centre["kl_on_ellipse"], after_delta["kl_on_ellipse"])


# ---- self-checks of the exercises ------------------------------------------------------------
def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _kl(z_old, z_new):
    lp_old, lp_new = _log_softmax(z_old), _log_softmax(z_new)
    return np.sum(np.exp(lp_old) * (lp_old - lp_new), axis=1)


def _fisher(z):
    p = np.exp(_log_softmax(z))
    return np.einsum("na,ab->nab", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]


def test_logit_table_policy_has_the_given_logits():
    logits = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    policy, theta, obs = ch02.logit_table_policy(logits)
    assert np.array_equal(policy.dist_params(theta, obs), logits)


def test_check_categorical_kl_accepts_a_correct_answer(capsys):
    ch02.check_categorical_kl(_kl)
    assert "categorical_kl: all 6 checks passed" in capsys.readouterr().out


def test_check_categorical_kl_names_the_reversed_direction():
    with pytest.raises(AssertionError, match=r"KL\(new \|\| old\)"):
        ch02.check_categorical_kl(lambda z_old, z_new: _kl(z_new, z_old))


def test_check_categorical_kl_catches_overflow_and_the_mean():
    def naive(z_old, z_new):
        p, q = np.exp(z_old), np.exp(z_new)
        p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
        return np.sum(p * np.log(p / q), axis=1)

    with np.errstate(all="ignore"), pytest.raises(AssertionError, match="overflows"):
        ch02.check_categorical_kl(naive)
    with pytest.raises(AssertionError, match="wrong shape"):
        ch02.check_categorical_kl(lambda z_old, z_new: _kl(z_old, z_new).mean())


def test_check_categorical_fisher(capsys):
    ch02.check_categorical_fisher(_fisher)
    assert "categorical_fisher: all 5 checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="5 of 5 checks failed"):
        ch02.check_categorical_fisher(lambda z: np.exp(_log_softmax(z))[:, :, None] * np.eye(z.shape[1]))


def test_check_empirical_fisher(capsys):
    ch02.check_empirical_fisher(lambda s: s.T @ s / len(s))
    assert "empirical_fisher: all 3 checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="constant factor"):
        ch02.check_empirical_fisher(lambda s: s.T @ s)
    with pytest.raises(AssertionError, match="wrong shape"):
        ch02.check_empirical_fisher(lambda s: s @ s.T / len(s))
