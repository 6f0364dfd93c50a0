"""The three dependency lists agree: pyproject.toml (lower bounds), environment.yml
(conda / Binder) and requirements-lock.txt (exact pins used by `make`).

environment.yml is read with a tiny line parser, so PyYAML is not needed.
"""
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent

# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"playwright-python": "playwright"}
# tools rather than dependencies of the course
NOT_PACKAGES = {"python", "pip"}

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503-style name: lowercase, runs of '-', '_', '.' become one '-'."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def requirement_name(spec: str) -> str:
    """'numpy>=1.26' / 'numpy=2.4' / 'pytest-xdist [x] ; ...' -> normalised name."""
    m = _NAME.match(spec)
    if not m:
        raise ValueError(f"cannot read a package name from {spec!r}")
    return normalise(m.group(1))


def parse_environment_yml(text: str) -> dict:
    """Read the simple environment.yml used here.

    Returns {"name": str, "channels": [str], "conda": [spec], "pip": [spec]}.
    Understands top-level `key: value`, top-level `key:` followed by `- item` lists,
    and one nested `- pip:` list under dependencies. Comments are stripped.
    """
    out = {"name": None, "channels": [], "conda": [], "pip": []}
    section = None
    in_pip = False
    pip_indent = None
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw).rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if indent == 0:
            key, _, value = stripped.partition(":")
            section, in_pip = key.strip(), False
            if key.strip() == "name":
                out["name"] = value.strip()
            continue
        if not stripped.startswith("- "):
            raise ValueError(f"unexpected line in environment.yml: {raw!r}")
        item = stripped[2:].strip()
        if section == "channels":
            out["channels"].append(item)
        elif section == "dependencies":
            if in_pip and indent > pip_indent:
                out["pip"].append(item)
            elif item == "pip:":
                in_pip, pip_indent = True, indent
            else:
                in_pip = False
                out["conda"].append(item)
    return out


def env_yml():
    return parse_environment_yml((ROOT / "environment.yml").read_text())


def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def pyproject_packages():
    proj = pyproject()["project"]
    specs = list(proj["dependencies"]) + list(proj["optional-dependencies"]["test"])
    return {requirement_name(s) for s in specs}


def env_packages():
    env = env_yml()
    names = {CONDA_TO_PYPI.get(requirement_name(s), requirement_name(s)) for s in env["conda"]}
    names |= {requirement_name(s) for s in env["pip"] if not s.startswith("-")}
    return names - NOT_PACKAGES


def lock_pins():
    pins = {}
    for raw in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        assert m, f"requirements-lock.txt: not an exact pin: {raw!r}"
        pins[normalise(m.group(1))] = m.group(2)
    return pins


# --- the parser itself -------------------------------------------------------------

def test_parser_reads_a_small_file():
    text = (
        "name: demo  # comment\n"
        "channels:\n  - conda-forge\n"
        "dependencies:\n"
        "  - python=3.11\n  - numpy>=1.26\n  # a comment line\n"
        "  - pip\n  - pip:\n      - -e .\n      - foo_bar==1.0\n"
        "  - scipy\n"
    )
    env = parse_environment_yml(text)
    assert env["name"] == "demo"
    assert env["channels"] == ["conda-forge"]
    assert env["conda"] == ["python=3.11", "numpy>=1.26", "pip", "scipy"]
    assert env["pip"] == ["-e .", "foo_bar==1.0"]
    assert requirement_name("foo_bar==1.0") == "foo-bar"
    assert requirement_name("Pytest_XDist >=3") == "pytest-xdist"


# --- the real files ----------------------------------------------------------------

def test_environment_yml_basics():
    env = env_yml()
    assert env["name"] == "trpo-lite"
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["conda"]
    assert "-e ." in env["pip"], "environment.yml must install the package itself (Binder)"


def test_environment_yml_matches_pyproject():
    in_pyproject, in_env = pyproject_packages(), env_packages()
    assert in_env == in_pyproject, (
        f"only in pyproject.toml: {sorted(in_pyproject - in_env)}; "
        f"only in environment.yml: {sorted(in_env - in_pyproject)}")


def test_lower_bounds_agree():
    """Where both files give a lower bound, it is the same version."""
    def bounds(specs, conda=False):
        out = {}
        for s in specs:
            m = re.search(r">=\s*([0-9][^,\s]*)", s)
            if m:
                name = requirement_name(s)
                out[CONDA_TO_PYPI.get(name, name) if conda else name] = m.group(1)
        return out
    proj = pyproject()["project"]
    py_bounds = bounds(list(proj["dependencies"]) + list(proj["optional-dependencies"]["test"]))
    env_bounds = bounds(env_yml()["conda"], conda=True)
    shared = py_bounds.keys() & env_bounds.keys()
    assert {k: py_bounds[k] for k in shared} == {k: env_bounds[k] for k in shared}


def test_lock_pins_every_runtime_and_test_package():
    pins = lock_pins()
    missing = pyproject_packages() - pins.keys()
    assert not missing, f"requirements-lock.txt does not pin: {sorted(missing)}"


def test_lock_pins_satisfy_lower_bounds():
    Requirement = pytest.importorskip("packaging.requirements").Requirement

    proj = pyproject()["project"]
    pins = lock_pins()
    for spec in list(proj["dependencies"]) + list(proj["optional-dependencies"]["test"]):
        req = Requirement(spec)
        version = pins[normalise(req.name)]
        assert req.specifier.contains(version, prereleases=True), f"{version} violates {spec}"


def test_pyproject_package_discovery_and_bench_extra():
    data = pyproject()
    assert data["project"]["name"] == "trpo-lite"
    assert data["project"]["version"] == "0.1.0"
    assert data["tool"]["setuptools"]["packages"] == ["trpo_lite"]
    bench = {requirement_name(s): s for s in data["project"]["optional-dependencies"]["bench"]}
    assert bench.get("torch") == "torch==2.13.0"
    assert "torch" not in pyproject_packages() and "torch" not in env_packages()
