"""One configuration for every way the notebooks run: the root conftest.py (plain
`pytest --nbval`, `make test`) and scripts/course_env.sh (`make record`, `make lab` via the
Makefile) set the same variables, and pytest's configuration collects the notebooks."""
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def root_conftest(pytestconfig):
    """The root conftest.py module pytest loaded (not a second import: it sets variables)."""
    for plugin in pytestconfig.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "") == ROOT / "conftest.py":
            return plugin
    raise AssertionError("pytest did not load the root conftest.py")


def shell_exports(text):
    """NAME=value pairs of every `export` line (continuations joined) of a shell file."""
    text = text.replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("export "):
            for name, value in re.findall(r"(\w+)=(\S+)", line):
                out[name] = value
    return out


def test_kernels_get_the_recorded_settings_from_conftest_and_from_course_env_sh(pytestconfig):
    conf = root_conftest(pytestconfig)
    sh = shell_exports((ROOT / "scripts" / "course_env.sh").read_text())
    for name, value in conf.COURSE_ENV.items():
        assert sh.get(name) == value, f"{name}: conftest.py sets {value!r}, course_env.sh {sh.get(name)!r}"
        assert os.environ[name] == value, f"pytest's own environment lacks {name}={value}"
    assert set(conf._SIDE_DIRS) <= set(sh), "course_env.sh must redirect the same config folders"
    for name in conf._UNSET:
        assert name not in os.environ, f"{name} must be unset for the kernels"


def test_plain_pytest_collects_the_notebooks_with_the_sanitize_file(pytestconfig):
    assert pytestconfig.getini("testpaths") == ["tests", "notebooks"]
    if pytestconfig.option.nbval:
        assert Path(pytestconfig.option.nbval_sanitize_with) == ROOT / "nbval_sanitize.cfg"
        assert pytestconfig.option.nbval_current_env
