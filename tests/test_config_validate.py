"""validate.py's promises, one by one (mutation testing found them unchecked: scripts/MUTATION.md).

Every check returns the converted value and raises with a message that starts with the
argument's name and ends with what it got.
"""
import numpy as np
import pytest

from trpo_lite import validate as v
from trpo_lite.config import TrainConfig


def test_check_array_converts_to_the_requested_dtype():
    out = v.check_array([1, 2], "x")
    assert out.dtype == np.float64                     # integers become floats by default
    assert v.check_array([1.7, 2.2], "x", dtype=int).dtype.kind == "i"


def test_check_array_shape_message_shows_the_wanted_shape_with_n_for_any_length():
    with pytest.raises(ValueError, match=r"^x must have shape \(N, 3\), got \(2, 2\)$"):
        v.check_array(np.zeros((2, 2)), "x", shape=(None, 3))


def test_a_complex_number_is_not_a_real_number():
    with pytest.raises(ValueError, match="^z must be a finite number"):
        v.check_finite(1 + 0j, "z")


@pytest.mark.parametrize("check", [v.check_nonnegative, v.check_open_unit, v.check_unit_interval,
                                   v.check_positive, v.check_discount])
@pytest.mark.parametrize("bad", [np.nan, np.inf, "0.5"])
def test_range_checks_refuse_nan_inf_and_strings(check, bad):
    with pytest.raises(ValueError, match="^c must "):
        check(bad, "c")


def test_check_integer_message_names_the_minimum_only_when_there_is_one():
    with pytest.raises(ValueError, match=r"^n must be an integer, got 'a'$"):
        v.check_integer("a", "n")
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 0.5$"):
        v.check_integer(0.5, "n", minimum=1)


def test_type_errors_end_with_the_type_that_was_given():
    with pytest.raises(TypeError, match=r"^f must be a callable v -> v, got int$"):
        v.check_callable(3, "f", "v -> v")
    with pytest.raises(TypeError, match=r"^rng must be a numpy.random.Generator, got int$"):
        v.check_rng(3)


def test_check_array_type_error_names_the_dtype_wanted_and_the_type_given():
    with pytest.raises(TypeError, match=r"^x must be array-like of float64, got str$"):
        v.check_array("abc", "x")
    with pytest.raises(TypeError, match=r"^x must be array-like of int64, got list$"):
        v.check_array(["a"], "x", dtype=np.int64)


# -- TrainConfig: every field's check names that field (scripts/MUTATION.md) -------------------

BAD_FIELDS = [("n_envs", 0), ("steps_per_env", 2.5), ("value_iters", 0), ("cg_iters", 0),
              ("fisher_subsample", 0), ("ppo_epochs", 0), ("ppo_minibatch", 0),
              ("max_backtracks", -1), ("delta", 0.0), ("lr", -1.0), ("ppo_lr", np.inf),
              ("ppo_clip", 0.0), ("ppo_target_kl", 0.0), ("damping", -0.1), ("gamma", 1.0),
              ("lam", 1.5), ("backtrack_coef", 1.0), ("ls_rule", "armijo"),
              ("vector_env", 1)]


@pytest.mark.parametrize(("field", "bad"), BAD_FIELDS)
def test_train_config_message_starts_with_the_bad_fields_name(field, bad):
    with pytest.raises((ValueError, TypeError), match=rf"^{field} must "):
        TrainConfig(**{field: bad})


@pytest.mark.parametrize("field", ["hidden", "value_hidden"])
def test_train_config_layer_sizes_are_a_tuple_of_positive_integers(field):
    with pytest.raises(TypeError, match=rf"^{field} must be a tuple of layer sizes, got int$"):
        TrainConfig(**{field: 32})
    with pytest.raises(ValueError, match=rf"^{field} entries must be an integer >= 1, got 0$"):
        TrainConfig(**{field: (8, 0)})
    # the smallest valid sizes: one unit per layer, or no hidden layer (linear)
    assert getattr(TrainConfig(**{field: (1, 1)}), field) == (1, 1)
    assert getattr(TrainConfig(**{field: ()}), field) == ()


def test_train_config_allows_no_backtracking_a_single_full_step():
    assert TrainConfig(max_backtracks=0).max_backtracks == 0     # one attempt: the full step
