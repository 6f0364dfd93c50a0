"""data/: files carry their metadata, writes are atomic, a bad file names the command to rerun,
and the committed results are what the command produces (first iterations of one run)."""
import json

import numpy as np
import pytest

from trpo_lite import data
from trpo_lite.experiments import EXPERIMENTS, COMMAND, curves, load_experiment, run_one


def test_save_and_load_roundtrip_with_metadata(tmp_path):
    path = data.save_json("x.json", {"a": [1, 2]}, "make it", seeds=(0, 1), data_dir=tmp_path)
    payload, meta = data.load_json("x.json", "make it", data_dir=tmp_path, required=("a",))
    assert payload == {"a": [1, 2]}
    assert meta["command"] == "make it" and meta["seeds"] == [0, 1] and "date" in meta
    assert meta["trpo_lite_version"]
    assert path.stat().st_mode & 0o044, "data files must be world-readable"


def test_missing_file_names_the_command(tmp_path):
    with pytest.raises(data.DataFileError, match="missing; regenerate it with: make it"):
        data.load_json("nope.json", "make it", data_dir=tmp_path)


def test_corrupt_file_names_the_command(tmp_path):
    (tmp_path / "bad.json").write_text('{"meta": {}, "payl')
    with pytest.raises(data.DataFileError, match="corrupt.*regenerate it with: make it"):
        data.load_json("bad.json", "make it", data_dir=tmp_path)
    (tmp_path / "short.json").write_text('{"meta": {}, "payload": {}}')
    with pytest.raises(data.DataFileError, match=r"lacks \['runs'\]"):
        data.load_json("short.json", "make it", data_dir=tmp_path, required=("runs",))


def test_interrupted_write_leaves_nothing_half_written(tmp_path):
    data.save_json("keep.json", {"v": 1}, "cmd", data_dir=tmp_path)

    class Boom:                       # json cannot serialise this: the write fails midway
        pass

    with pytest.raises(TypeError):
        data.save_json("keep.json", {"v": Boom()}, "cmd", data_dir=tmp_path)
    assert json.loads((tmp_path / "keep.json").read_text())["payload"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_non_finite_numbers_are_refused(tmp_path):
    with pytest.raises(ValueError):
        data.save_json("nan.json", {"v": float("nan")}, "cmd", data_dir=tmp_path)
    assert not (tmp_path / "nan.json").exists()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_committed_data_file_loads_and_names_its_command(name):
    payload = load_experiment(name)
    exp = EXPERIMENTS[name]
    assert payload["env_id"] == exp.env_id
    assert {(r["algo"], r["seed"]) for r in payload["runs"]} == {(a, s) for a in exp.algos for s in exp.seeds}
    _, meta = data.load_json(exp.filename, COMMAND)
    assert meta["command"].startswith(COMMAND)


@pytest.mark.parametrize("name,algo", [("cartpole_curves", "trpo"), ("cartpole_curves", "vpg")])
def test_committed_data_matches_what_the_command_produces(name, algo):
    """Re-run the first 3 iterations of seed 0 and compare with the committed file."""
    exp = EXPERIMENTS[name]
    committed = next(r for r in load_experiment(name)["runs"] if r["algo"] == algo and r["seed"] == 0)
    steps = committed["env_steps"][2]
    fresh = run_one(exp, algo, 0, total_steps=steps)
    # counts and decisions exactly; floats to a relative 1e-9, since their last bits depend on
    # the machine's BLAS kernel and SIMD paths (README, "The numbers contract")
    for key in ("env_steps", "line_search_attempts", "accepted"):
        assert fresh[key] == committed[key][:3], key
    for key in ("mean_return", "measured_kl", "surrogate_improvement"):
        np.testing.assert_allclose(fresh[key], committed[key][:3], rtol=1e-9, atol=0, err_msg=key)


def test_curves_interpolates_on_a_common_grid():
    payload = {"total_steps": 10, "runs": [
        {"algo": "a", "env_steps": [5, 10], "mean_return": [1.0, 3.0]},
        {"algo": "a", "env_steps": [5, 10], "mean_return": [None, 5.0]}]}
    grid, y = curves(payload, "a", grid=np.array([0, 5, 7.5, 10]))
    assert np.isnan(y[0, 0]) and y[0, 1] == 1.0 and y[0, 2] == 2.0 and y[1, 3] == 5.0
    with pytest.raises(ValueError, match="algo 'b'"):
        curves(payload, "b")
