"""How long the course takes to run: every notebook executed, and `pytest --nbval` over notebooks/.

    .venv/bin/python benchmarks/course_time.py                 # all notebooks, then nbval
    .venv/bin/python benchmarks/course_time.py --no-nbval 01_policy_gradient.ipynb   # one notebook

Each notebook in notebooks/ is copied to a temporary folder and executed there with nbclient
(a fresh kernel per notebook, the kernel of the Python running this script), under the same
environment as ``make record`` / ``make test`` (scripts/course_env.sh): PYTHONHASHSEED=0, one
OpenBLAS/OMP/MKL thread, MPLBACKEND unset, Jupyter/IPython/matplotlib config in a throw-away
folder. notebooks/ itself is never written. Printed per notebook: wall seconds of the whole
execution (kernel start included) and the sum of the cells' own execution times.

Then ``pytest --nbval`` runs over notebooks/ as a whole, in a subprocess, with the arguments of
scripts/run_tests.sh, and its wall time and closing line are printed.

Writes benchmarks/results/course_time.json (atomically).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, machine_info, write_json_atomic

NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 600          # as `make record` (nbval uses 300 per cell, as `make test`)


def course_env(tmp):
    """os.environ as scripts/course_env.sh leaves it (applied to this process and children)."""
    env = dict(os.environ)
    env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)
    for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "matplotlib"), ("XDG_CONFIG_HOME", "xdg-config"),
                     ("XDG_CACHE_HOME", "xdg-cache")):
        env[var] = str(Path(tmp) / sub)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_PLATFORM_DIRS", None)
    return env


def _cell_seconds(cell):
    """A cell's own execution time from nbclient's record_timing metadata (None if missing)."""
    t = cell.get("metadata", {}).get("execution", {})
    a, b = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not a or not b:
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(b) - parse(a)).total_seconds()


def run_notebook(path, workdir):
    """Execute ``path`` (a copy in ``workdir``) in place there; returns a result dict."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(workdir)}})
    error = None
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    except Exception as exc:                      # timeouts, dead kernels
        error = f"{type(exc).__name__}: {exc}"[:300]
    wall = time.perf_counter() - t0
    nbformat.write(nb, path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    secs = [s for s in (_cell_seconds(c) for c in code) if s is not None]
    slowest = max(((s, i) for i, s in enumerate(_cell_seconds(c) or 0.0 for c in code)), default=(0.0, -1))
    return dict(notebook=path.name, wall_seconds=wall, cells_seconds=sum(secs), code_cells=len(code),
                slowest_cell_seconds=slowest[0], slowest_cell_index=slowest[1], error=error)


def run_nbval(env, extra_args):
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", "nbval_sanitize.cfg", "--nbval-cell-timeout", "300",
           *extra_args, "notebooks/"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [l for l in proc.stdout.strip().splitlines() if l.strip()]
    return dict(command=" ".join(cmd[1:]), wall_seconds=wall, returncode=proc.returncode,
                summary=lines[-1] if lines else "", output_tail="\n".join(lines[-30:]))


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="names in notebooks/ (default: all *.ipynb)")
    ap.add_argument("--no-nbval", action="store_true", help="skip the pytest --nbval timing")
    ap.add_argument("--nbval-args", default="", help="extra pytest arguments, e.g. '-n 2'")
    ap.add_argument("--keep", action="store_true", help="keep the executed copies (path printed)")
    ap.add_argument("--out", default=str(RESULTS / "course_time.json"))
    args = ap.parse_args(argv)

    names = args.notebooks or sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    if not names:
        ap.error(f"no notebooks in {NOTEBOOKS}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_course_"))
    (tmp / "cfg").mkdir()
    env = course_env(tmp / "cfg")
    os.environ.clear()
    os.environ.update(env)                       # the kernels inherit this environment
    import nbclient  # noqa: F401  (versions in the metadata)
    work = tmp / "notebooks"
    work.mkdir()
    for name in names:
        shutil.copy2(NOTEBOOKS / name, work / name)
    meta = machine_info()
    print(f"executing {len(names)} notebooks in {work} (python {sys.executable}); "
          f"load average at start {[round(x, 2) for x in meta.get('loadavg', [])]}", flush=True)

    results = []
    print(f"\n{'notebook':<36} {'wall s':>7} {'cells s':>7} {'cells':>5} {'slowest':>8}  status")
    for name in names:
        r = run_notebook(work / name, work)
        results.append(r)
        print(f"{name:<36} {r['wall_seconds']:>7.1f} {r['cells_seconds']:>7.1f} {r['code_cells']:>5} "
              f"{r['slowest_cell_seconds']:>7.1f}s  {'ok' if r['error'] is None else 'ERROR: ' + r['error']}",
              flush=True)
    total = sum(r["wall_seconds"] for r in results)
    print(f"{'total':<36} {total:>7.1f} {sum(r['cells_seconds'] for r in results):>7.1f}")
    print(f"slowest notebook: {max(results, key=lambda r: r['wall_seconds'])['notebook']}; "
          f"failures: {sum(r['error'] is not None for r in results)}")

    nbval = None
    if not args.no_nbval:
        print("\npytest --nbval notebooks/ ...", flush=True)
        nbval = run_nbval(env, args.nbval_args.split())
        print(f"pytest --nbval over notebooks/: {nbval['wall_seconds']:.1f} s, exit {nbval['returncode']}: "
              f"{nbval['summary']}")
        if nbval["returncode"] != 0:
            print(nbval["output_tail"])

    meta["loadavg_end"] = list(os.getloadavg())
    print(f"load average at end {[round(x, 2) for x in meta['loadavg_end']]}")
    if args.keep:
        print(f"executed copies kept in {work}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = dict(meta=meta, notebooks=results, total_seconds=total, nbval=nbval)
    print(f"wrote {write_json_atomic(args.out, doc)}")


if __name__ == "__main__":
    main()
