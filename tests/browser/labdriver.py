"""A real JupyterLab driven through Debian's chromium: what the browser test
(tests/browser/) and benchmarks/widget_latency.py share.

* ``LabServer``: ``jupyter lab`` on 127.0.0.1, a free port, a random token, serving a
  throw-away folder; every Jupyter/IPython/matplotlib side file, the user settings and the
  workspaces in a temporary folder; the course's Lab settings (``lab/overrides.json`` in the
  repository, the same file ``make lab`` uses) as defaults; stopped by PID.
* ``cleared_copy``: the notebooks with outputs and widget state cleared, as a student gets them.
* ``launch_chromium``: /usr/bin/chromium (or $CHROMIUM) through the playwright Python package
  only -- never ``playwright install``.
* page helpers: open a notebook and Run All, check for errors, find a slider, its explorer
  and the explorer's figure (a PNG ``<img>`` in the explorer's output today, an ipympl
  ``<canvas>`` later), and a signature of the figure's pixels.

Playwright is imported inside the functions that need it, so importing this module (from the
conftest) works without it and the tests skip instead.
"""
from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
# the course's JupyterLab settings (defaults: the student's own settings still win)
LAB_SETTINGS = REPO / "lab"
# what lab/overrides.json must have made of these settings (checked through the server)
COURSE_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync",
]
VENV_BIN = Path(sys.executable).parent        # jupyter of the interpreter running us
KERNEL_TIMEOUT = 120_000                      # ms
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# an explorer's root widget: `interactive` today; phase 2 tags its own root with this class
EXPLORER = ".trpo-explorer, .widget-interact"
EXPLORER_CALL = re.compile(r"\w+_explorer\(")      # the source of a cell that displays an explorer


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
    for var in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_PLATFORM_DIRS", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR"):
        env.pop(var, None)            # MPLBACKEND=Agg would make inline figures disappear
    env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MALLOC_TOP_PAD_=str(64 << 20))
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


class LabServer:
    """``jupyter lab`` serving `root`; side files, user settings and workspaces under `home`
    (empty: so only the course's settings in `app_settings_dir` apply). `extra_env` is added
    to the server's (and kernels') environment, e.g. PYTHONPATH for another checkout."""

    def __init__(self, root: Path, home: Path, timeout=120, app_settings_dir=LAB_SETTINGS,
                 extra_env=None):
        home.mkdir(parents=True, exist_ok=True)
        self.root, self.home = Path(root), Path(home)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "lab.log"
        cmd = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={root}",
               "--allow-root",                  # as root (CI, containers) Lab exits without it
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}"]
        if app_settings_dir is not None:
            cmd.append(f"--LabApp.app_settings_dir={app_settings_dir}")
        self.log = open(self.log_path, "w")
        # own session/process group: stop() signals this server and its helpers, nothing else
        env = {**isolated_env(home), **(extra_env or {})}
        self.proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=self.log,
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
                    raise RuntimeError(f"jupyter lab not ready after {timeout} s:\n{self.tail()}") from None
                time.sleep(0.25)

    def get(self, path):
        req = urllib.request.Request(f"{self.base}/{path}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def api(self, method, path):
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def setting(self, plugin: str) -> dict:
        """The effective settings of one plugin: the schema's defaults (which the server has
        already replaced by the overrides of app_settings_dir) updated with the user's own
        settings -- what the browser composes (top-level keys only)."""
        doc = self.get(f"lab/api/settings/{plugin}")
        out = {k: v["default"] for k, v in doc["schema"].get("properties", {}).items()
               if "default" in v}
        out.update(doc.get("settings") or {})
        return out

    def check_course_settings(self):
        """Fail unless the course's settings (lab/overrides.json) are in effect."""
        wrong = {}
        for plugin, want in COURSE_SETTINGS.items():
            got = self.setting(plugin)
            for key, value in want.items():
                if got.get(key) != value:
                    wrong[f"{plugin}:{key}"] = (got.get(key), value)
        assert not wrong, f"course Lab settings not applied (got, want): {wrong}"

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


def cleared_copy(dest: Path, src: Path = NOTEBOOKS, names=None) -> Path:
    """Copy src/*.ipynb (or just `names`) to dest with outputs and widget state cleared: what
    the browser shows can only come from the run, and autosave never writes into the repo.
    data/ is not copied: trpo_lite.data.DATA_DIR is the repo's data/, found through the
    installed package."""
    import nbformat
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src).glob("*.ipynb")):
        if names is not None and path.name not in names:
            continue
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, dest / path.name)
    return dest


def launch_chromium(playwright):
    """Debian's chromium through Playwright (raises if it is missing)."""
    if not os.access(CHROMIUM, os.X_OK):
        raise FileNotFoundError(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# ---- in the page ------------------------------------------------------------------------

# Installed in every page before Lab's own scripts (context.add_init_script), so that the
# canvas hook is in place before ipympl draws. window.__trpoFig:
#   container(el)  the explorer that holds element el (a slider): the closest EXPLORER, else
#                  the closest ancestor inside the cell's output that holds a figure
#   figure(c)      {kind: "canvas"|"png", el} of explorer c, or null: an ipympl canvas, else
#                  the <img> in the explorer's output widget
#   count(c)       how many figures explorer c shows
#   signature(c)   a string that changes when the figure's pixels change; null while the new
#                  image is not decoded yet (png: hash of the data URL; canvas: hash of the
#                  pixels)
#   watch(c)       start a requestAnimationFrame watcher: window.__trpoWatch.changes gets
#                  performance.now() of every frame at which the figure's pixels differ from
#                  the frame before; .inputs gets [type, event.timeStamp] of every keydown and
#                  pointer event. Both on the browser's clock. unwatch() stops it.
FIGURE_JS = r"""
(() => {
  if (window.__trpoFig) return;
  const EXPLORER = %(explorer)s;
  const drawn = new WeakMap();          // canvas -> sequence number of its last draw
  let seq = 0;
  for (const name of ['drawImage', 'putImageData']) {
    const orig = CanvasRenderingContext2D.prototype[name];
    CanvasRenderingContext2D.prototype[name] = function (...args) {
      const r = orig.apply(this, args);
      if (this.canvas) drawn.set(this.canvas, ++seq);
      return r;
    };
  }
  const fnv = (h, x) => Math.imul(h ^ x, 16777619) >>> 0;
  const strHash = s => {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = fnv(h, s.charCodeAt(i));
    return h;
  };
  function hasFigure(el) {
    return !!el.querySelector('.jupyter-matplotlib-canvas-div canvas, .widget-output img');
  }
  function container(el) {
    const c = el.closest(EXPLORER);
    if (c) return c;
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (hasFigure(p)) return p;
      if (p.matches('.jp-OutputArea-output, .jp-Cell')) break;
    }
    return null;
  }
  function figure(c) {
    const canvas = c.querySelector('.jupyter-matplotlib-canvas-div canvas');
    if (canvas) return {kind: 'canvas', el: canvas};
    const imgs = c.querySelectorAll('.widget-output img');
    if (imgs.length) return {kind: 'png', el: imgs[imgs.length - 1]};
    return null;
  }
  function count(c) {
    return c.querySelectorAll('.jupyter-matplotlib-canvas-div').length
         + c.querySelectorAll('.widget-output img').length;
  }
  function signature(c) {
    const f = figure(c);
    if (!f) return null;
    if (f.kind === 'png') {
      const img = f.el;
      if (!img.complete || !img.naturalWidth) return null;
      return 'png:' + img.src.length + ':' + strHash(img.src);
    }
    const cv = f.el;
    if (!cv.width || !cv.height) return null;
    const px = new Uint32Array(cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data.buffer);
    let h = 2166136261;
    for (let i = 0; i < px.length; i++) h = fnv(h, px[i]);
    return 'canvas:' + cv.width + 'x' + cv.height + ':' + h;
  }
  const INPUTS = ['keydown', 'pointerdown', 'pointermove', 'pointerup'];
  function onInput(e) {
    const w = window.__trpoWatch;
    if (w) w.inputs.push([e.type, e.timeStamp || performance.now()]);
  }
  function unwatch() {
    const w = window.__trpoWatch;
    if (!w) return;
    w.stopped = true;
    for (const t of INPUTS) window.removeEventListener(t, onInput, true);
    window.__trpoWatch = null;
  }
  function watch(c) {
    unwatch();
    const f0 = figure(c);
    const w = {container: c, kind: f0 && f0.kind, sig: signature(c), changes: [], inputs: [],
               frames: 0, el: f0 && f0.el, src: f0 && f0.kind === 'png' ? f0.el.src : null,
               draw: f0 ? (drawn.get(f0.el) || 0) : 0, stopped: false};
    window.__trpoWatch = w;
    for (const t of INPUTS) window.addEventListener(t, onInput, true);
    const tick = () => {
      if (w.stopped) return;
      w.frames++;
      const f = figure(c);
      let check = false;
      if (f && f.kind === 'png') {
        // cheap test first: a new <img> or a new src; then wait until it is decoded
        if ((f.el !== w.el || f.el.src !== w.src) && f.el.complete && f.el.naturalWidth) {
          w.el = f.el; w.src = f.el.src; check = true;
        }
      } else if (f) {
        const d = drawn.get(f.el) || 0;
        if (f.el !== w.el || d !== w.draw) { w.el = f.el; w.draw = d; check = true; }
      }
      if (check) {
        const s = signature(c);
        if (s !== null && s !== w.sig) { w.sig = s; w.kind = f.kind; w.changes.push(performance.now()); }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    return w.kind;
  }
  window.__trpoFig = {container, figure, count, signature, watch, unwatch};
})();
""".replace("%(explorer)s", json.dumps(EXPLORER))


def new_page(browser, viewport=(1400, 1000)):
    """A fresh context + tab with the figure helpers installed; page.js_errors collects
    uncaught errors."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.add_init_script(FIGURE_JS)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return context, page


def count_cells(path):
    """(code cells that run, cells that display an explorer) of a notebook."""
    import nbformat
    code = [c.source for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code" and c.source.strip()]
    return len(code), sum(bool(EXPLORER_CALL.search(src)) for src in code)


def open_and_run_all(page, lab, name, run_all_timeout=300_000):
    """Open notebook `name` of the served folder in a workspace of its own, wait for its
    kernel, Run > Run All Cells, wait until every code cell ran (or one shows an error).
    Returns (notebook panel locator, seconds from kernel idle to done)."""
    from playwright.sync_api import expect
    # a workspace of its own per notebook: only this notebook's panel is open
    page.goto(lab.url(f"lab/workspaces/t{name[:2]}/tree/{name}"))
    panel = page.locator(".jp-NotebookPanel")
    expect(panel).to_have_count(1, timeout=KERNEL_TIMEOUT)
    # the status says idle before any kernel exists: wait for the kernel name AND idle
    expect(panel.locator(".jp-NotebookPanel-toolbar .jp-KernelName")).to_have_text(
        "Python 3 (ipykernel)", timeout=KERNEL_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(
        timeout=KERNEL_TIMEOUT)
    t_kernel = time.perf_counter()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # done when every code cell has an execution count and none is queued/running, or as
    # soon as a cell shows an error (Run All stops there; check_no_errors says which).
    page.wait_for_function(
        """([n, errSel]) => {
            const panel = document.querySelector('.jp-NotebookPanel');
            if (!panel) return false;
            if (panel.querySelector(errSel)) return true;
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim());
            return prompts.filter(t => /^\\[\\d+\\]:$/.test(t)).length >= n
                && !prompts.some(t => t.includes('*'));
        }""",
        arg=[count_cells(lab.root / name)[0], ERROR_OUTPUT], timeout=run_all_timeout,
        polling=250)
    return panel, time.perf_counter() - t_kernel


def check_no_errors(where):
    """No cell output (under locator `where`) is an error/stderr, no widget failed."""
    errors = where.locator(ERROR_OUTPUT)
    texts = [errors.nth(i).inner_text()[:1500] for i in range(errors.count())]
    assert not texts, "cells wrote errors/stderr:\n" + "\n---\n".join(texts)
    assert where.get_by_text("Error displaying widget").count() == 0, "a widget failed to render"
    assert where.get_by_text("Traceback (most recent call last)").count() == 0


def find_slider(panel, description):
    """The slider (locator) whose description label is exactly `description`; exactly one."""
    from playwright.sync_api import expect
    label = panel.page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(description)}$"))
    s = panel.locator(".widget-slider").filter(has=label)
    expect(s).to_have_count(1)
    return s


def explorer_of(slider):
    """ElementHandle of the explorer (root widget with the figure) that holds `slider`."""
    handle = slider.evaluate_handle("el => window.__trpoFig.container(el)")
    el = handle.as_element()
    assert el is not None, "no explorer with a figure around this slider"
    return el


def figure_kind(explorer):
    """"png" (inline image, a new one per change), "canvas" (ipympl) or None."""
    return explorer.evaluate("c => { const f = window.__trpoFig.figure(c); return f && f.kind; }")


def figure_count(explorer):
    return explorer.evaluate("c => window.__trpoFig.count(c)")


def figure_signature(explorer):
    return explorer.evaluate("c => window.__trpoFig.signature(c)")


def wait_figure_changed(page, explorer, before, timeout=60_000):
    """Wait until the figure's pixel signature is no longer `before` (and is decoded)."""
    page.wait_for_function(
        "([c, before]) => { const s = window.__trpoFig.signature(c); return s !== null && s !== before; }",
        arg=[explorer, before], timeout=timeout, polling=100)
