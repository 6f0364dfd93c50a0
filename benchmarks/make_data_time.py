"""Seconds for ``python -m trpo_lite make-data`` with one run at a time and with a pool (issue 13).

    .venv/bin/python benchmarks/make_data_time.py                    # --workers 1 and 2, everything
    .venv/bin/python benchmarks/make_data_time.py --only npg_cartpole --workers 2 1   # a smoke run

Each count is one make-data command in a fresh process writing into its own temporary folder,
timed from start to exit (the pool's start-up included). The files of every count are then
compared with the first count's, run for run, every stored column but the wall seconds: a pool
must give the same runs as one process. Writes benchmarks/results/make_data_time.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argparse
import json
import os
import subprocess
import tempfile
import time

from _common import RESULTS, ROOT, SINGLE_THREAD_ENV, machine_info, write_json_atomic


def runs_without_seconds(folder):
    """{file name: [run records without the wall seconds]} of every data file in ``folder``."""
    from trpo_lite.experiments import MACHINE_DEPENDENT

    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        runs = json.loads(path.read_text())["payload"]["runs"]
        out[path.name] = [{k: v for k, v in r.items() if k not in MACHINE_DEPENDENT} for r in runs]
    return out


def make_data(workers, only, folder):
    cmd = [sys.executable, "-m", "trpo_lite", "make-data", "--quiet", "--data-dir", str(folder),
           "--workers", str(workers)] + [a for name in only for a in ("--only", name)]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, **SINGLE_THREAD_ENV},
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, load0


def main(argv=None):
    from trpo_lite.__main__ import positive_int

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", nargs="+", type=positive_int, default=[1, 2],
                    help="worker counts to time, in this order (the first is the reference)")
    ap.add_argument("--only", nargs="+", default=[], metavar="NAME",
                    help="experiments to run (default: all, as make-data)")
    ap.add_argument("--out", default=str(RESULTS / "make_data_time.json"))
    args = ap.parse_args(argv)

    meta = machine_info()
    print(f"make-data {' '.join(args.only) or '(every experiment)'}; load average at start "
          f"{[round(x, 2) for x in meta.get('loadavg', [])]}")
    results, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            folder = Path(tmp) / f"workers_{workers}"
            seconds, load0 = make_data(workers, args.only, folder)
            runs = runs_without_seconds(folder)
            if reference is None:
                reference = runs
            same = runs == reference
            n_runs = sum(len(r) for r in runs.values())
            results.append(dict(workers=workers, seconds=seconds, files=len(runs), runs=n_runs,
                                same_runs_as_first=same, loadavg_1min_start=load0))
            print(f"--workers {workers}: {len(runs)} files, {n_runs} runs in {seconds:.1f} s "
                  f"(load {load0:.2f} at start); runs equal to --workers {args.workers[0]}'s "
                  f"except the wall seconds: {same}", flush=True)
    first = results[0]["seconds"]
    for r in results[1:]:
        print(f"--workers {r['workers']}: {first / r['seconds']:.2f}x as fast as --workers "
              f"{args.workers[0]}")
    meta["loadavg_end"] = list(os.getloadavg())
    print(f"wrote {write_json_atomic(args.out, dict(meta=meta, results=results))}")
    if not all(r["same_runs_as_first"] for r in results):
        sys.exit("the worker counts gave different runs")


if __name__ == "__main__":
    main()
