"""experiments.rerun: a live re-run returns the stored payload's form, run for run what
run_one gives for the same (algo, seed), with overrides applied and bad input named."""
from dataclasses import replace

import numpy as np
import pytest

from trpo_lite.experiments import EXPERIMENTS, MACHINE_DEPENDENT, curves, load_experiment, rerun, run_one
from trpo_lite.train import config_to_dict

STEPS = 1500          # two iterations of the default batch: a re-run of seconds


def _same_runs(got, expected):
    """Records equal in every kept column except the machine-dependent wall seconds."""
    for key in set(got) | set(expected):
        if key not in MACHINE_DEPENDENT:
            assert got[key] == expected[key], key


def test_a_tiny_rerun_in_this_process_equals_run_one_and_has_the_stored_form():
    exp = EXPERIMENTS["cartpole_curves"]
    payload = rerun("cartpole_curves", algos=("npg", "trpo"), seeds=(0, 3), workers=1,
                    progress=False, total_steps=STEPS)
    stored = load_experiment("cartpole_curves")
    assert set(payload) <= set(stored) and {"env_id", "total_steps", "algos", "configs", "runs"} <= set(payload)
    assert payload["algos"] == ["npg", "trpo"] and payload["total_steps"] == STEPS
    assert [(r["algo"], r["seed"]) for r in payload["runs"]] == [
        ("npg", 0), ("npg", 3), ("trpo", 0), ("trpo", 3)]
    for record in payload["runs"]:
        _same_runs(record, run_one(exp, record["algo"], record["seed"], total_steps=STEPS))
        assert set(stored["runs"][0]) <= set(record)         # every column the figures read
    curves(payload, "trpo")                   # the notebook's figure helpers read it


def test_a_rerun_in_worker_processes_gives_the_same_records():
    one = rerun("cartpole_curves", algos="trpo", seeds=(1, 2), workers=1, progress=False,
                total_steps=STEPS)
    pool = rerun("cartpole_curves", algos="trpo", seeds=(1, 2), workers=2, progress=False,
                 total_steps=STEPS)
    for a, b in zip(one["runs"], pool["runs"]):
        _same_runs(a, b)


def test_overrides_reach_every_run_and_change_the_numbers():
    exp = EXPERIMENTS["cartpole_curves"]
    payload = rerun("cartpole_curves", algos=("trpo",), seeds=(0,), workers=1, progress=False,
                    total_steps=STEPS, delta=0.05, damping=1e-3)
    assert payload["configs"]["trpo"]["delta"] == 0.05
    assert payload["configs"]["trpo"]["damping"] == 1e-3
    assert payload["configs"]["trpo"]["hidden"] == [16]          # the experiment's own settings stay
    live = replace(exp, configs={"trpo": {**exp.configs["trpo"], "delta": 0.05, "damping": 1e-3}})
    _same_runs(payload["runs"][0], run_one(live, "trpo", 0, total_steps=STEPS))
    default = run_one(exp, "trpo", 0, total_steps=STEPS)
    assert payload["runs"][0]["measured_kl"] != default["measured_kl"]


def test_labelled_runs_keep_their_algorithm_map():
    payload = rerun("npg_cartpole", algos=("npg_damped",), workers=1, progress=False,
                    total_steps=STEPS)
    assert payload["algorithm"] == {"npg_damped": "npg"}
    assert payload["configs"]["npg_damped"] == config_to_dict(
        EXPERIMENTS["npg_cartpole"].config("npg_damped"))


def test_progress_is_one_line_of_text_outside_a_notebook(capsys):
    rerun("cartpole_curves", algos="trpo", seeds=0, workers=1, total_steps=STEPS)
    out = capsys.readouterr().out
    assert "cartpole_curves: 1 runs: 1 finished" in out and out.endswith("\n")
    rerun("cartpole_curves", algos="trpo", seeds=0, workers=1, progress=False, total_steps=STEPS)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(name="cartpole_nope"), ValueError, "^unknown experiment 'cartpole_nope'; choose one of"),
    (dict(algos=("trpo", "sac")), ValueError,
     r"^algos must be distinct run names of 'cartpole_curves' \(vpg, npg, trpo, ppo\), got \['trpo', 'sac'\]"),
    (dict(algos=("trpo", "trpo")), ValueError, "^algos must be distinct"),
    (dict(algos=()), ValueError, "^algos must be distinct"),
    (dict(seeds=(0, -1)), ValueError, "^seeds entries must be an integer >= 0"),
    (dict(seeds=(0, 0)), ValueError, "^seeds must be a non-empty sequence without repeats"),
    (dict(seeds="01"), TypeError, "^seeds must be an integer or a sequence of integers"),
    (dict(seeds=1.5), TypeError, "^seeds must be an integer or a sequence"),
    (dict(workers=0), ValueError, "^workers must be an integer >= 1"),
    (dict(total_steps=0), ValueError, "^total_steps must be an integer >= 1"),
    (dict(deltaa=0.1), ValueError, r"^unknown TrainConfig fields: \['deltaa'\]"),
    (dict(delta=-1.0), ValueError, "^delta must be"),
])
def test_bad_arguments_are_named_before_anything_runs(kwargs, error, match):
    args = {**dict(name="cartpole_curves", progress=False, workers=1, total_steps=STEPS), **kwargs}
    with pytest.raises(error, match=match):
        rerun(args.pop("name"), **args)


def test_every_experiment_can_be_rerun():
    for name, exp in EXPERIMENTS.items():
        payload = rerun(name, algos=exp.algos[:1], seeds=exp.seeds[:1], workers=1, progress=False,
                        total_steps=200)
        assert payload["env_id"] == exp.env_id and len(payload["runs"]) == 1
        assert np.isfinite(payload["runs"][0]["env_steps"][-1])
