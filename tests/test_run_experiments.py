"""experiments.run_experiments (make-data): the runs of several experiments in one pool of
processes give the same files as one process, each file is written when its last run ends, the
longest experiments start first, and a failed run leaves only complete files behind."""
import json
from dataclasses import replace

import pytest

from trpo_lite import experiments
from trpo_lite.experiments import EXPERIMENTS, MACHINE_DEPENDENT, run_experiments

STEPS = 1000          # one iteration of the default batch per run


def _tiny(name, seeds=(0, 1), steps=STEPS):
    return replace(EXPERIMENTS[name], seeds=seeds, total_steps=steps)


def _stored(path):
    return json.loads(path.read_text())


def _without_seconds(doc):
    """The payload of a data file with the machine-dependent wall seconds left out."""
    runs = [{k: v for k, v in r.items() if k not in MACHINE_DEPENDENT}
            for r in doc["payload"]["runs"]]
    return {**doc["payload"], "runs": runs}


def test_a_pool_writes_the_same_files_as_one_process(tmp_path):
    exps = [_tiny("npg_cartpole", seeds=(0,)), _tiny("cartpole_curves", steps=2 * STEPS)]
    one = run_experiments(exps, data_dir=tmp_path / "one", workers=1)
    pool = run_experiments(exps, data_dir=tmp_path / "pool", workers=2)
    assert [p.name for p in one] == [p.name for p in pool] == ["npg_cartpole.json", "cartpole_curves.json"]
    for a, b in zip(one, pool):
        assert _without_seconds(_stored(a)) == _without_seconds(_stored(b))
    doc = _stored(pool[1])
    assert [(r["algo"], r["seed"]) for r in doc["payload"]["runs"]] == [
        (a, s) for a in EXPERIMENTS["cartpole_curves"].algos for s in (0, 1)]      # stored order
    assert doc["meta"]["command"] == "python -m trpo_lite make-data --only cartpole_curves"
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == ["cartpole_curves.json",
                                                                     "npg_cartpole.json"]


def test_the_longest_experiment_starts_first_and_each_file_is_written_when_complete(tmp_path):
    short = _tiny("npg_cartpole", seeds=(0,))
    long = _tiny("cartpole_trpo_trained", seeds=(0,), steps=2 * STEPS)
    seen = []

    def progress(exp, algo, seed, record):
        seen.append((exp.name, algo, sorted(p.name for p in tmp_path.iterdir())))

    run_experiments([short, long], progress=progress, data_dir=tmp_path, workers=1)
    assert seen[0] == ("cartpole_trpo_trained", "trpo", [])         # its one run, before writing
    assert [name for name, _, _ in seen[1:]] == ["npg_cartpole"] * len(short.algos)
    assert all(files == ["cartpole_trpo_trained.json"] for _, _, files in seen[1:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cartpole_trpo_trained.json",
                                                          "npg_cartpole.json"]


def test_a_failed_run_leaves_only_the_complete_files(tmp_path, monkeypatch):
    real = experiments.run_one

    def fail_on_npg_cartpole(exp, algo, seed, **kwargs):
        if exp.name == "npg_cartpole":
            raise RuntimeError(f"run {algo} of {exp.name} failed")
        return real(exp, algo, seed, **kwargs)

    monkeypatch.setattr(experiments, "run_one", fail_on_npg_cartpole)
    exps = [_tiny("cartpole_trpo_trained", steps=2 * STEPS), _tiny("npg_cartpole", seeds=(0,))]
    with pytest.raises(RuntimeError, match="of npg_cartpole failed"):
        run_experiments(exps, data_dir=tmp_path, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cartpole_trpo_trained.json"]


@pytest.mark.parametrize("workers", [0, 1.5, "2"])
def test_a_bad_worker_count_is_named_before_anything_runs(workers, tmp_path):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        run_experiments([_tiny("npg_cartpole", seeds=(0,))], data_dir=tmp_path, workers=workers)
    assert list(tmp_path.iterdir()) == []
