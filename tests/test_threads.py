"""The BLAS thread limit: train, run_one and the CLI run with one BLAS thread whatever the
process had (OPENBLAS_NUM_THREADS unset, an outer threadpool_limits), restore the outer limit
afterwards (also after an exception), honour TRPO_LITE_THREADS (a number, or ``all`` to leave
the pools alone), reject bad values by name, and change speed only, never the numbers."""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from trpo_lite import __main__ as cli
from trpo_lite.experiments import EXPERIMENTS, run_one
from trpo_lite.threads import ENV_VAR, limited_threads, thread_limit
from trpo_lite.train import TrainConfig, train

TINY = TrainConfig(hidden=(8,), value_hidden=(8,), n_envs=2, steps_per_env=125, value_iters=2,
                   vector_env=False)
STEPS = 500                                  # two iterations


def blas_threads():
    """num_threads of every loaded BLAS pool (numpy's and scipy's OpenBLAS, ...)."""
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def threads_seen_by_train(**kwargs):
    """BLAS thread counts read in train's callback, one list per iteration."""
    seen = []
    train("trpo", "CartPole-v1", 0, STEPS, TINY, callback=lambda row: seen.append(blas_threads()),
          **kwargs)
    return seen


@pytest.fixture(autouse=True)
def default_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def two_threads():
    """An outer process-level limit of 2 BLAS threads (skips on one core)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs >= 2 cores for a 2-thread BLAS pool")
    with threadpool_limits(2):
        if blas_threads() != [2] * len(blas_threads()):
            pytest.skip("this BLAS cannot be given 2 threads")
        yield


def test_blas_is_loaded():
    assert blas_threads(), "no BLAS pool found: the other tests would prove nothing"


def test_train_uses_one_thread_inside_a_wider_limit_and_restores_it(two_threads):
    seen = threads_seen_by_train()
    assert len(seen) == 2
    assert all(counts and set(counts) == {1} for counts in seen), seen
    assert set(blas_threads()) == {2}                  # the outer limit is back


def test_limit_is_restored_after_an_exception(two_threads):
    def fail(row):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        train("trpo", "CartPole-v1", 0, STEPS, TINY, callback=fail)
    assert set(blas_threads()) == {2}


def test_env_var_gives_that_many_threads(monkeypatch, two_threads):
    monkeypatch.setenv(ENV_VAR, "2")
    with threadpool_limits(1):                         # outer 1, so 2 must come from the variable
        seen = threads_seen_by_train()
        assert set(blas_threads()) == {1}
    assert all(set(counts) == {2} for counts in seen), seen


def test_all_leaves_the_outer_setting(monkeypatch, two_threads):
    monkeypatch.setenv(ENV_VAR, "all")
    seen = threads_seen_by_train()
    assert all(set(counts) == {2} for counts in seen), seen
    with limited_threads() as n:
        assert n is None and set(blas_threads()) == {2}


def test_nested_limits_are_harmless(two_threads):
    seen = []
    with limited_threads() as n:
        assert n == 1 and set(blas_threads()) == {1}
        rec = run_one(EXPERIMENTS["cartpole_curves"], "trpo", 0, total_steps=STEPS,
                      callback=lambda row: seen.append(blas_threads()))
        assert set(blas_threads()) == {1}              # run_one and train restored the block's 1
    assert set(blas_threads()) == {2}
    assert rec["env_steps"] and seen and all(set(counts) == {1} for counts in seen), seen


def test_run_one_uses_one_thread(two_threads):
    seen = []
    run_one(EXPERIMENTS["cartpole_curves"], "trpo", 0, total_steps=STEPS,
            callback=lambda row: seen.append(blas_threads()))
    assert seen and all(set(counts) == {1} for counts in seen), seen
    assert set(blas_threads()) == {2}


def test_cli_runs_the_command_with_one_thread(monkeypatch, tmp_path, two_threads):
    seen_by_cli = []

    def fake_train(*args, callback=None, **kwargs):
        seen_by_cli.append(blas_threads())
        return train(*args, callback=callback, **kwargs)

    monkeypatch.setattr(cli, "train", fake_train)
    assert cli.main(["train", "--steps", str(STEPS), "--steps-per-env", "125", "--n-envs", "2",
                     "--hidden", "8", "--quiet", "--csv", str(tmp_path / "log.csv")]) == 0
    assert seen_by_cli and set(seen_by_cli[0]) == {1}
    assert set(blas_threads()) == {2}


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "all2"])
def test_bad_values_raise_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError, match=f"{ENV_VAR}.*positive integer.*'all'"):
        thread_limit()
    with pytest.raises(ValueError, match=ENV_VAR):
        train("trpo", "CartPole-v1", 0, STEPS, TINY)


def test_cli_reports_a_bad_value(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(ENV_VAR, "abc")
    assert cli.main(["train", "--steps", str(STEPS), "--quiet",
                     "--csv", str(tmp_path / "log.csv")]) == 2
    assert ENV_VAR in capsys.readouterr().err
    assert not (tmp_path / "log.csv").exists()


@pytest.mark.parametrize("value, expected", [(None, 1), ("", 1), ("3", 3), (" 2 ", 2),
                                             ("all", None), ("ALL", None)])
def test_thread_limit_parses_the_variable(monkeypatch, value, expected):
    if value is not None:
        monkeypatch.setenv(ENV_VAR, value)
    assert thread_limit() == expected


def test_thread_count_changes_speed_only(monkeypatch):
    limited = train("trpo", "CartPole-v1", 3, STEPS, TINY)
    monkeypatch.setenv(ENV_VAR, "all")
    with threadpool_limits(1):                         # the old path: OPENBLAS_NUM_THREADS=1
        unlimited = train("trpo", "CartPole-v1", 3, STEPS, TINY)
    np.testing.assert_array_equal(limited.theta, unlimited.theta)
    strip = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in limited.log]
    assert strip == [{k: v for k, v in row.items() if k != "wall_seconds"} for row in unlimited.log]


def test_train_keeps_freed_memory_itself_and_its_numbers_do_not_depend_on_it(monkeypatch):
    """train() asks glibc for M_TOP_PAD itself (a plain shell exports no MALLOC_TOP_PAD_), and a
    run in a fresh process gives the same theta with the heap setting as without it."""
    import subprocess
    import sys

    import trpo_lite.train as train_module
    calls = []
    monkeypatch.setattr(train_module, "keep_freed_memory", lambda: calls.append(1))
    train("trpo", "CartPole-v1", 0, 1000, TrainConfig(hidden=(8,)))
    assert calls == [1], "train() must call threads.keep_freed_memory once per run"
    code = ("import sys, hashlib; from trpo_lite import threads; from trpo_lite.train import train, TrainConfig\n"
            "threads._KEPT = sys.argv[1] == 'off'\n"    # 'off': pretend it was done, so mallopt is skipped
            "r = train('trpo', 'CartPole-v1', 0, 3000, TrainConfig(hidden=(8,)))\n"
            "print(hashlib.sha256(r.theta.tobytes()).hexdigest())")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TOP_PAD_"}
    digests = {mode: subprocess.run([sys.executable, "-c", code, mode], env=env, capture_output=True,
                                    text=True, check=True).stdout for mode in ("on", "off")}
    assert digests["on"] == digests["off"] and len(digests["on"].strip()) == 64
