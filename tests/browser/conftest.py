"""Fixtures for the browser tests: a real JupyterLab driven through Debian's chromium.

Needs /usr/bin/chromium (or $CHROMIUM) and the `playwright` Python package only -- never
`playwright install` (it downloads a browser). The server listens on 127.0.0.1 on a free
port with a random token, serves a throw-away copy of notebooks/ with outputs cleared, keeps
its user settings, workspaces and every Jupyter/IPython/matplotlib side file in a temporary
folder, takes the course's Lab settings from lab/overrides.json (as `make lab` does; checked
at start-up), and is stopped by PID at the end of the session (its kernels stop with it).
The start-up code is in labdriver.py, shared with benchmarks/widget_latency.py.

Screenshots go to $SHOTS_DIR (default: a temporary folder); their paths and the timings
are printed at the end of the run.
"""
import os
import re
import time
from pathlib import Path

import pytest
from labdriver import LabServer, cleared_copy, launch_chromium, new_page

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


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory):
    """Throw-away copy of notebooks/ with outputs and widget state cleared, as a student gets
    them: what the browser shows can only come from the run in the test, and autosave never
    writes into the repo."""
    return cleared_copy(tmp_path_factory.mktemp("notebooks"))


@pytest.fixture(scope="session")
def lab(work_dir, tmp_path_factory):
    t0 = time.perf_counter()
    srv = LabServer(work_dir, tmp_path_factory.mktemp("labhome"))
    try:
        srv.check_course_settings()      # news check off, windowing "none": lab/overrides.json
    except BaseException:
        srv.stop()
        raise
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
    from labdriver import CHROMIUM
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=60_000)         # the machine is shared: be generous
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def bpage(chromium, lab, shots, request):
    """A fresh browser tab (not named `page`, to stay clear of pytest-playwright), with the
    figure helpers of labdriver.FIGURE_JS. Afterwards: a screenshot if the test failed, and
    the notebook's kernel is shut down."""
    context, pg = new_page(chromium)
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
