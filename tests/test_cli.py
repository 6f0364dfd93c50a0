"""The command line (python -m trpo_lite): every bad flag is refused before any training with one
line on stderr that names the flag and exit status 2, and nothing is written; a good run writes
the CSV log and a JSON summary (solved flag, solve step) atomically; --help shows every flag's
meaning and default."""
import csv
import dataclasses
import json
import os

import pytest

from trpo_lite import __main__ as cli
from trpo_lite import experiments
from trpo_lite.train import LOG_COLUMNS, TrainConfig, train

TINY = ["--steps", "1000", "--n-envs", "2", "--steps-per-env", "250", "--no-vector-env", "--hidden", "8",
        "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a command gets as far as training."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started although an argument was bad")

    monkeypatch.setattr(cli, "train", refuse)
    monkeypatch.setattr(experiments, "run_experiment", refuse)
    monkeypatch.setattr(experiments, "run_experiments", refuse)
    monkeypatch.setattr(cli, "run_experiments", refuse, raising=False)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current folder (the default CSV goes there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def run_bad(argv, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.err.strip()


BAD_TRAIN = [
    (["--steps", "0"], "--steps", "must be an integer >= 1, got '0'"),
    (["--steps", "-5"], "--steps", "must be an integer >= 1, got '-5'"),
    (["--steps", "1e5"], "--steps", "must be an integer >= 1"),
    (["--seed", "-1"], "--seed", "must be an integer >= 0, got '-1'"),
    (["--seed", "x"], "--seed", "must be an integer >= 0, got 'x'"),
    (["--hidden", "abc"], "--hidden", "comma-separated layer sizes"),
    (["--hidden", "32,0"], "--hidden", "comma-separated layer sizes"),
    (["--algo", "sac"], "--algo", "invalid choice: 'sac'"),
    (["--delta", "0"], "--delta", "must be a finite number > 0"),
    (["--delta", "inf"], "--delta", "must be a finite number > 0"),
    (["--lr", "-1"], "--lr", "must be a finite number > 0"),
    (["--n-envs", "0"], "--n-envs", "must be an integer >= 1"),
    (["--steps-per-env", "2.5"], "--steps-per-env", "must be an integer >= 1"),
    (["--fisher-subsample", "0"], "--fisher-subsample", "must be an integer >= 1"),
    (["--value-iters", "x"], "--value-iters", "must be an integer >= 1"),
    (["--env", "NoSuchEnv-v0"], "--env", "unknown environment id 'NoSuchEnv-v0'"),
    (["--env", "Blackjack-v1"], "--env", "observation_space must be a 1-D Box"),
]


@pytest.mark.parametrize("argv, flag, message", BAD_TRAIN, ids=[" ".join(a) for a, _, _ in BAD_TRAIN])
def test_bad_train_flag_is_one_line_naming_the_flag_and_nothing_is_written(
        argv, flag, message, workdir, capsys, no_training):
    status, err = run_bad(["train", *argv, "--quiet"], capsys)
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m trpo_lite train: error: ")
    assert f"argument {flag}: " in err and message in err
    assert listing(workdir) == []


def test_csv_that_is_a_folder_or_in_a_missing_or_unwritable_folder_is_refused_before_training(
        workdir, capsys, no_training):
    (workdir / "runs").mkdir()
    (workdir / "notes.txt").write_text("x")
    cases = [(str(workdir / "runs"), "is a folder; give a file name"),
             (str(workdir / "missing" / "log.csv"), "does not exist"),
             (str(workdir / "notes.txt" / "log.csv"), "is a file, not a folder")]
    if os.geteuid() != 0:                        # root may write anywhere: no unwritable folder
        locked = workdir / "locked"
        locked.mkdir(mode=0o500)
        cases.append((str(locked / "log.csv"), "cannot write in"))
    (workdir / "runs" / "log.summary.json").mkdir()
    cases.append((str(workdir / "runs" / "log.csv"), "would replace a folder"))
    before = listing(workdir)
    for path, message in cases:
        status, err = run_bad(["train", "--csv", path, "--quiet"], capsys)
        assert status == 2 and len(err.splitlines()) == 1, err
        assert "argument --csv: " in err and message in err, err
    assert listing(workdir) == before


BAD_MAKE_DATA = [
    (["--only", "nope"], "--only", "invalid choice: 'nope'"),
    (["--only", "cartpole_curves", "--only", "nope"], "--only", "invalid choice: 'nope'"),
    (["--seeds", "0,a", "--data-dir", "out"], "--seeds", "distinct integers >= 0"),
    (["--seeds", "", "--data-dir", "out"], "--seeds", "distinct integers >= 0"),
    (["--seeds", "-1", "--data-dir", "out"], "--seeds", "distinct integers >= 0"),
    (["--seeds", "0,0", "--data-dir", "out"], "--seeds", "distinct integers >= 0"),
    (["--steps", "0", "--data-dir", "out"], "--steps", "must be an integer >= 1"),
    (["--seeds", "0"], "--seeds", "needs --data-dir"),
    (["--steps", "500"], "--steps", "needs --data-dir"),
    (["--data-dir", "afile"], "--data-dir", "is a file, not a folder"),
    (["--workers", "0"], "--workers", "must be an integer >= 1, got '0'"),
    (["--workers", "two"], "--workers", "must be an integer >= 1, got 'two'"),
]


@pytest.mark.parametrize("argv, flag, message", BAD_MAKE_DATA,
                         ids=[" ".join(a) for a, _, _ in BAD_MAKE_DATA])
def test_bad_make_data_flag_is_one_line_naming_the_flag_and_nothing_is_written(
        argv, flag, message, workdir, capsys, no_training, monkeypatch):
    monkeypatch.delenv("TRPO_LITE_DATA_DIR", raising=False)
    (workdir / "afile").write_text("x")
    status, err = run_bad(["make-data", *argv, "--quiet"], capsys)
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m trpo_lite make-data: error: ")
    assert f"argument {flag}: " in err and message in err
    assert listing(workdir) == ["afile"]


def test_missing_or_unknown_command_is_a_one_line_usage_error(capsys):
    for argv in ([], ["bogus"]):
        status, err = run_bad(argv, capsys)
        assert status == 2 and len(err.splitlines()) == 1 and "error:" in err


def test_help_describes_every_flag_and_shows_the_defaults(capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"train", "make-data"}
    for name, subparser in sub.choices.items():
        assert subparser.description
        for action in subparser._actions:
            assert action.help, (name, action.dest)
    assert cli.main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: trpo)", "(default: CartPole-v1)", "(default: 100000)",
                  "(default: 0.02)", "(default: 32,32)", "(default: 16)", "(default: 64)", "(default: True)"):
        assert shown in text
    assert cli.main(["--help"]) == 0 and "train one algorithm" in capsys.readouterr().out


def test_a_good_run_writes_the_csv_and_a_json_summary_with_the_solve_step(workdir, capsys):
    out = workdir / "runs" / "trpo.csv"
    out.parent.mkdir()
    assert cli.main(["train", "--algo", "trpo", "--seed", "3", "--csv", str(out), *TINY]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and list(rows[0]) == list(LOG_COLUMNS)
    assert [int(r["env_steps"]) for r in rows] == [500, 1000]
    summary = json.loads((workdir / "runs" / "trpo.summary.json").read_text())
    assert summary["solved"] is False and summary["solved_at_step"] is None
    assert (summary["algo"], summary["seed"], summary["env_steps"], summary["iterations"]) == ("trpo", 3, 1000, 2)
    assert summary["solve_threshold"] == 475.0 and summary["csv"] == "trpo.csv"
    assert summary["config"]["hidden"] == [8] and summary["config"]["n_envs"] == 2
    assert summary["config"]["vector_env"] is False          # --no-vector-env: two separate envs
    assert summary["final_mean_return"] == pytest.approx(float(rows[-1]["mean_return"]))
    assert listing(workdir) == ["runs", "runs/trpo.csv", "runs/trpo.summary.json"]   # no temp files
    text = capsys.readouterr().out
    assert "summary" in text and "solved               no" in text


def test_the_speed_flags_reach_the_config_and_give_the_run_train_gives(workdir):
    flags = ["--vector-env", "--fisher-subsample", "4", "--value-iters", "5"]
    assert cli.main(["train", "--seed", "1", "--csv", "fast.csv", *TINY, *flags]) == 0
    summary = json.loads((workdir / "fast.summary.json").read_text())
    config = summary["config"]
    assert (config["vector_env"], config["fisher_subsample"], config["value_iters"]) == (True, 4, 5)
    rows = list(csv.DictReader((workdir / "fast.csv").open()))
    cfg = TrainConfig(hidden=(8,), n_envs=2, steps_per_env=250, vector_env=True, fisher_subsample=4,
                      value_iters=5)
    res = train("trpo", "CartPole-v1", 1, 1000, cfg)
    assert [float(r["mean_return"]) for r in rows] == pytest.approx([r["mean_return"] for r in res.log],
                                                                     rel=1e-12)


def test_the_summary_carries_the_solve_step_of_a_solved_run(workdir, monkeypatch, capsys):
    def solved_train(*args, **kwargs):          # a short real run, marked as solved at step 750
        res = train(*args, **kwargs)
        return dataclasses.replace(res, solved_at_step=750, solved_at_seconds=0.5)

    monkeypatch.setattr(cli, "train", solved_train)
    assert cli.main(["train", *TINY]) == 0
    summary = json.loads((workdir / "trpo_CartPole-v1_seed0.summary.json").read_text())
    assert summary["solved"] is True and summary["solved_at_step"] == 750
    assert (workdir / "trpo_CartPole-v1_seed0.csv").exists()
    assert "solved at env step   750" in capsys.readouterr().out


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_or_failed_run_leaves_no_file(failure, workdir, monkeypatch, capsys):
    def broken_train(*args, callback=None, **kwargs):
        raise failure("stop")

    monkeypatch.setattr(cli, "train", broken_train)
    (workdir / "old.csv").write_text("previous log\n")
    if failure is KeyboardInterrupt:
        assert cli.main(["train", "--csv", "old.csv", *TINY]) == 130
        assert "interrupted" in capsys.readouterr().err
    else:
        with pytest.raises(RuntimeError):
            cli.main(["train", "--csv", "old.csv", *TINY])
    assert listing(workdir) == ["old.csv"] and (workdir / "old.csv").read_text() == "previous log\n"


def test_write_csv_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "log.csv"
    cli.write_csv_atomic(path, [{"a": 1}], ["a"])
    with pytest.raises(ValueError):
        cli.write_csv_atomic(path, [{"a": 2, "not_a_column": 3}], ["a"])
    assert path.read_text().splitlines() == ["a", "1"] and listing(tmp_path) == ["log.csv"]


def test_make_data_with_overrides_writes_into_data_dir_and_records_the_command(workdir, capsys):
    assert cli.main(["make-data", "--only", "npg_cartpole", "--seeds", "1", "--steps", "500",
                     "--data-dir", "out", "--quiet"]) == 0
    doc = json.loads((workdir / "out" / "npg_cartpole.json").read_text())
    assert doc["meta"]["command"] == ("python -m trpo_lite make-data --only npg_cartpole "
                                      "--seeds 1 --steps 500")
    runs = doc["payload"]["runs"]
    assert {r["seed"] for r in runs} == {1} and len(runs) == len(experiments.EXPERIMENTS["npg_cartpole"].algos)
    # one iteration: 16 x 64 vectorised steps, less the auto-reset steps (not transitions)
    assert all(len(r["env_steps"]) == 1 and 500 <= r["env_steps"][0] <= 16 * 64 for r in runs)
    assert listing(workdir) == ["out", "out/npg_cartpole.json"]
    assert "wrote" in capsys.readouterr().out
