"""Fixtures for the browser tests: a real JupyterLab driven through Debian's chromium.

Needs /usr/bin/chromium (or $CHROMIUM) and the `playwright` Python package only -- never
`playwright install` (it downloads a browser). The server listens on 127.0.0.1 on a free
port with a random token, serves a throw-away copy of notebooks/ with outputs cleared, keeps
its settings, workspaces and every Jupyter/IPython/matplotlib side file in a temporary
folder, and is stopped by PID at the end of the session (its kernels stop with it).

Screenshots go to $SHOTS_DIR (default: a temporary folder); their paths and the timings
are printed at the end of the run.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync",
]
VENV_BIN = Path(sys.executable).parent        # jupyter of the interpreter running pytest

# what the terminal summary prints: (label, text) rows
REPORT = []
_T0 = time.perf_counter()


def pytest_sessionstart(session):
    global _T0
    _T0 = time.perf_counter()


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    terminalreporter.section("browser tests: timings and screenshots")
    for line in REPORT:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"browser stage wall time: {time.perf_counter() - _T0:.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(home: Path) -> dict:
    """The server's (and so its kernels') environment: side files under `home`, and the
    variables the outputs were recorded with (see scripts/course_env.sh)."""
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl"), ("XDG_CONFIG_HOME", "xdg-config"),
                     ("XDG_CACHE_HOME", "xdg-cache")]:
        env[var] = str(home / sub)
    for var in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_PLATFORM_DIRS"):
        env.pop(var, None)            # MPLBACKEND=Agg would make inline figures disappear
    env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def write_lab_settings(settings_dir: Path):
    """User settings that make JupyterLab deterministic for tests."""
    files = {
        # no "get notified about official Jupyter news?" toast, no update check
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        # attach every cell to the DOM (the default windowing may skip off-screen cells)
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none"},
    }
    for rel, content in files.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))


class LabServer:
    def __init__(self, root: Path, home: Path, timeout=120):
        write_lab_settings(home / "settings")
        self.root = root
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "lab.log"
        cmd = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={root}",
               "--allow-root",                  # as root (CI, containers) Lab exits without it
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}"]
        self.log = open(self.log_path, "w")
        # own session/process group: stop() signals this server and its helpers, nothing else
        self.proc = subprocess.Popen(cmd, env=isolated_env(home), cwd=root, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                self.api("GET", "status")
                return
            except Exception:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"jupyter lab not ready after {timeout} s:\n{self.tail()}")
                time.sleep(0.25)

    def api(self, method, path):
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def url(self, path):
        return f"{self.base}/{path}?token={self.token}"

    def shutdown_kernels(self):
        """Stop every session's kernel (frees the CPU before the next notebook)."""
        for s in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{s['id']}")

    def tail(self, n=40):
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)     # pgid == pid of the server we started
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory):
    """Throw-away copy of notebooks/ with outputs and widget state cleared, as a student gets
    them: what the browser shows can only come from the run in the test, and autosave never
    writes into the repo. data/ is not copied: trpo_lite.data.DATA_DIR is the repo's data/,
    found through the installed package."""
    import nbformat
    d = tmp_path_factory.mktemp("notebooks")
    for src in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, d / src.name)
    return d


@pytest.fixture(scope="session")
def lab(work_dir, tmp_path_factory):
    t0 = time.perf_counter()
    srv = LabServer(work_dir, tmp_path_factory.mktemp("labhome"))
    REPORT.append(f"jupyter lab ready in {time.perf_counter() - t0:.1f} s (log: {srv.log_path})")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Folder for screenshots: $SHOTS_DIR if set, else a temporary folder."""
    d = Path(os.environ["SHOTS_DIR"]) if os.environ.get("SHOTS_DIR") else tmp_path_factory.mktemp("shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def report():
    """Lines for the terminal summary at the end of the run."""
    return REPORT


@pytest.fixture(scope="session")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=60_000)         # the machine is shared: be generous
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def bpage(chromium, lab, shots, request):
    """A fresh browser tab (not named `page`, to stay clear of pytest-playwright). Afterwards:
    a screenshot if the test failed, and the notebook's kernel is shut down."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.js_errors = []
    pg.on("pageerror", lambda exc: pg.js_errors.append(str(exc)))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        path = shots / f"FAILED_{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.png"
        try:
            pg.screenshot(path=str(path), full_page=True)
            REPORT.append(f"FAILED {request.node.name}: screenshot {path}")
        except Exception as exc:       # the screenshot must not hide the real failure
            REPORT.append(f"FAILED {request.node.name}: no screenshot ({exc})")
    context.close()
    lab.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
