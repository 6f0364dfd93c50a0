"""data/: files carry their metadata, writes are atomic, a bad file names the command to rerun,
the committed results are what the command produces (first iterations of one run), and the
files are found from a checkout, from an installed wheel and from TRPO_LITE_DATA_DIR."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trpo_lite
from trpo_lite import data
from trpo_lite.experiments import COMMAND, EXPERIMENTS, curves, load_experiment, run_one

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def test_save_and_load_roundtrip_with_metadata(tmp_path):
    path = data.save_json("x.json", {"a": [1, 2]}, "make it", seeds=(0, 1), data_dir=tmp_path)
    payload, meta = data.load_json("x.json", "make it", data_dir=tmp_path, required=("a",))
    assert payload == {"a": [1, 2]}
    assert meta["command"] == "make it" and meta["seeds"] == [0, 1] and "date" in meta
    assert meta["trpo_lite_version"]
    assert path.stat().st_mode & 0o044, "data files must be world-readable"


def test_missing_file_names_the_command(tmp_path):
    with pytest.raises(data.DataFileError, match="missing from .*; regenerate it with: make it"):
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


# (name, run, iterations compared): lightly damped TRPO amplifies round-off from its 2nd update on
# (CG on F + 1e-3 I: another BLAS kernel moves its KL by 1e-3 relative), so only its 1st is compared
@pytest.mark.parametrize("name,algo,n", [("cartpole_curves", "trpo", 3), ("cartpole_curves", "vpg", 3),
                                         ("npg_trpo_light_damping", "npg", 3),
                                         ("npg_trpo_light_damping", "trpo", 1),
                                         ("npg_trpo_defaults", "npg", 3), ("vpg_lr_sweep", "vpg_lr_10", 3)])
def test_committed_data_matches_what_the_command_produces(name, algo, n):
    """Re-run the first n iterations of seed 0 and compare with the committed file."""
    exp = EXPERIMENTS[name]
    committed = next(r for r in load_experiment(name)["runs"] if r["algo"] == algo and r["seed"] == 0)
    steps = committed["env_steps"][n - 1]
    fresh = run_one(exp, algo, 0, total_steps=steps)
    # counts and decisions exactly; floats to a relative 1e-9, since their last bits depend on
    # the machine's BLAS kernel and SIMD paths (README, "The numbers contract")
    for key in ("env_steps", "line_search_attempts", "accepted"):
        assert fresh[key] == committed[key][:n], key
    for key in ("mean_return", "measured_kl", "surrogate_improvement"):
        np.testing.assert_allclose(fresh[key], committed[key][:n], rtol=1e-9, atol=0, err_msg=key)


def test_npg_trpo_files_differ_only_in_the_damping_and_share_one_setting():
    """Notebook 06's headline: NPG and TRPO with the same settings; the two files differ only in
    the damping (1e-3, notebook 03's, against the default 0.1)."""
    light, defaults = load_experiment("npg_trpo_light_damping"), load_experiment("npg_trpo_defaults")
    for payload in (light, defaults):
        assert payload["configs"]["npg"] == payload["configs"]["trpo"]
        assert payload["total_steps"] == 100_000 and payload["configs"]["trpo"]["hidden"] == [16]
    assert light["configs"]["trpo"]["damping"] == 1e-3 and defaults["configs"]["trpo"]["damping"] == 0.1
    assert ({k: v for k, v in light["configs"]["trpo"].items() if k != "damping"}
            == {k: v for k, v in defaults["configs"]["trpo"].items() if k != "damping"})


def test_vpg_sweep_labels_name_their_learning_rate_and_algorithm():
    sweep = load_experiment("vpg_lr_sweep")
    assert sweep["algos"] == ["vpg_lr_1", "vpg_lr_3", "vpg_lr_10", "vpg_lr_30"]
    assert sweep["algorithm"] == {label: "vpg" for label in sweep["algos"]}
    for label in sweep["algos"]:
        assert sweep["configs"][label]["lr"] == float(label.rsplit("_", 1)[1])
        assert sweep["configs"][label]["hidden"] == [16]


@pytest.mark.parametrize("name", [n for n, e in sorted(EXPERIMENTS.items())
                                  if any(e.algo_of(a) == "trpo" for a in e.algos)])
def test_stored_trpo_runs_never_accept_a_step_above_delta(name):
    """The line search accepts a step only if its measured KL <= delta (no tolerance) and the
    surrogate improved; a rejected update keeps theta_old (KL 0, improvement 0)."""
    exp, payload = EXPERIMENTS[name], load_experiment(name)
    for run in payload["runs"]:
        if exp.algo_of(run["algo"]) != "trpo":
            continue
        delta = payload["configs"][run["algo"]]["delta"]
        for kl, gain, ok in zip(run["measured_kl"], run["surrogate_improvement"], run["accepted"]):
            assert (kl <= delta and gain > 0) if ok else (kl == 0.0 and gain == 0.0), (run["algo"], run["seed"])


def test_curves_interpolates_on_a_common_grid():
    payload = {"total_steps": 10, "runs": [
        {"algo": "a", "env_steps": [5, 10], "mean_return": [1.0, 3.0]},
        {"algo": "a", "env_steps": [5, 10], "mean_return": [None, 5.0]}]}
    grid, y = curves(payload, "a", grid=np.array([0, 5, 7.5, 10]))
    assert np.isnan(y[0, 0]) and y[0, 1] == 1.0 and y[0, 2] == 2.0 and y[1, 3] == 5.0
    with pytest.raises(ValueError, match="algo 'b'"):
        curves(payload, "b")


def test_a_checkout_reads_and_writes_the_repositorys_data_folder(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert data.find_data_dir() == ROOT / "data" == data.DATA_DIR


def test_trpo_lite_data_dir_overrides_where_files_are_read_and_written(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.find_data_dir() == tmp_path
    data.save_json("x.json", {"a": 1}, "cmd")
    assert data.load_json("x.json", "cmd")[0] == {"a": 1} and (tmp_path / "x.json").exists()
    with pytest.raises(data.DataFileError, match=f"missing from {tmp_path}"):
        load_experiment("cartpole_curves")


def test_pyproject_ships_data_as_package_data_where_data_py_looks():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package = f"trpo_lite.{data.PACKAGE_DATA}"
    assert package in setuptools["packages"] and "trpo_lite" in setuptools["packages"]
    assert setuptools["package-dir"][package] == "data"
    assert "*.json" in setuptools["package-data"][package]
    subpackages = {p.parent.name for p in (ROOT / "trpo_lite").glob("*/__init__.py")}
    assert {f"trpo_lite.{name}" for name in subpackages} <= set(setuptools["packages"])


def test_an_installed_layout_finds_its_data_without_the_checkout(tmp_path):
    """The wheel's layout (pyproject.toml maps data/ to trpo_lite/data_files/), imported from
    a folder outside the repository: load_experiment reads the shipped copy."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "trpo_lite", site / "trpo_lite",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data", site / "trpo_lite" / data.PACKAGE_DATA)
    code = ("import trpo_lite, trpo_lite.data as d; from trpo_lite import load_experiment; "
            "p = load_experiment('cartpole_curves'); "
            "print(trpo_lite.__file__); print(d.find_data_dir()); print(p['env_id'], len(p['runs']))")
    env = {k: v for k, v in os.environ.items() if k != data.ENV_VAR}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == str(site / "trpo_lite" / "__init__.py")
    assert out[1] == str(site / "trpo_lite" / data.PACKAGE_DATA)
    assert out[2] == f"CartPole-v1 {len(load_experiment('cartpole_curves')['runs'])}"
    assert trpo_lite.__file__.startswith(str(ROOT))          # this process: the checkout
