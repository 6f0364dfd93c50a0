"""The self-check engine (trpo_lite.course.checking) and what every chapter's check shares."""
import inspect
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from trpo_lite.course import ch01, ch02, ch03, ch04, ch05, ch06_checks, ch07_checks
from trpo_lite.course.checking import (
    central_difference_gradient,
    central_difference_hessian,
    check_cases,
    compare,
    diagnose,
    report,
)

CHAPTER_CHECKS = [fn for module in (ch01, ch02, ch03, ch04, ch05, ch06_checks, ch07_checks)
                  for name, fn in inspect.getmembers(module, inspect.isfunction)
                  if name.startswith("check_") and fn.__module__ == module.__name__]


def test_every_check_is_called_by_its_notebook():
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    for check in CHAPTER_CHECKS:
        module = check.__module__.rsplit(".", 1)[1]                      # ch01 ... ch07_checks
        (path,) = notebooks.glob(f"{module[2:4]}_*.ipynb")
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "code")
        assert f"{module}.{check.__name__}(" in code, (path.name, check.__name__)


@pytest.mark.parametrize("check", CHAPTER_CHECKS, ids=lambda fn: fn.__name__)
def test_every_check_says_not_implemented_for_the_student_stub(check):
    def stub(*args, **kwargs):
        raise NotImplementedError("your code here")

    with pytest.raises(AssertionError, match="not implemented yet -- fill in the function above"):
        check(stub)


def test_report_prints_all_passed_or_counts_and_lists_every_failure(capsys):
    report("demo", [], 3)
    assert capsys.readouterr().out == "demo: all 3 checks passed\n"
    with pytest.raises(AssertionError) as info:
        report("demo", ["[a] wrong", "[b] worse"], 3, note="\n  hint: look")
    assert str(info.value) == "demo: 2 of 3 checks failed\n  [a] wrong\n  [b] worse\n  hint: look"


def test_check_cases_reports_an_exception_with_its_case_and_checks_the_others():
    def student(x):
        if x == 0:
            raise ZeroDivisionError("boom")
        return x

    cases = [("zero", (0,)), ("one", (1,)), ("two", (2,))]
    with pytest.raises(AssertionError) as info:
        check_cases("demo", student, cases, lambda got, x: None if got == x else "differs",
                    error_hint=" (hint)")
    assert str(info.value) == "demo: 1 of 3 checks failed\n  [zero] raised ZeroDivisionError: boom (hint)"


def test_diagnose_names_shape_sign_factor_transpose_and_nan():
    r = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert diagnose(r, r) is None
    assert diagnose(r[0], r).startswith("wrong shape")
    assert diagnose(-r, r).startswith("wrong sign")
    assert diagnose(2.5 * r, r) == "off by a constant factor: your result is 2.5 x the reference"
    assert diagnose(r.T, r).startswith("transposed")
    assert diagnose(np.full((2, 2), np.nan), r) == "result contains NaN or inf"
    assert diagnose("text", r).startswith("returned str")


def test_compare_passes_the_reference_itself(capsys):
    compare("square", np.square, lambda x: x * x, [("a", (np.arange(3.0),)), ("b", (np.ones(2),))])
    assert capsys.readouterr().out == "square: all 2 checks passed\n"


def test_central_differences_match_the_analytic_gradient_and_hessian():
    def f(x):
        return float(np.sum(np.sin(x) * x ** 2))

    x = np.array([[0.3, -1.2], [2.0, 0.7]])                  # any shape for the gradient
    np.testing.assert_allclose(central_difference_gradient(f, x, eps=1e-5),
                               2 * x * np.sin(x) + x ** 2 * np.cos(x), rtol=1e-8)
    v = x.ravel()
    hessian = np.diag(2 * np.sin(v) + 4 * v * np.cos(v) - v ** 2 * np.sin(v))
    np.testing.assert_allclose(central_difference_hessian(f, v, eps=1e-4), hessian, atol=1e-6)


def test_a_failed_self_check_shows_one_message_and_no_traceback(capsys):
    """In a notebook (IPython), a failed check shows its message, not a traceback through the
    package (whose source holds the hints)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from trpo_lite.course.checking import SelfCheckFailed, compare

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.user_ns["compare"] = compare
    result = shell.run_cell("compare('double', lambda x: 3 * x, lambda x: 2 * x, [('x = 1', (1.0,))])")
    assert isinstance(result.error_in_exec, SelfCheckFailed)
    shown = capsys.readouterr().out
    assert "self-check failed" in shown and "double: 1 of 1 checks failed" in shown
    assert "off by a constant factor" in shown
    assert "checking.py" not in shown and "Traceback" not in shown and "compare(" not in shown
    InteractiveShell.clear_instance()
