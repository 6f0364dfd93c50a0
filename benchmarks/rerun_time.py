"""Seconds for a live re-run of notebook 06's multi-seed comparisons (issue 13: <= 30 s).

    .venv/bin/python benchmarks/rerun_time.py                 # every case, workers = cpu count
    .venv/bin/python benchmarks/rerun_time.py --cases curves --workers 1

Each case is one ``trpo_lite.experiments.rerun`` call, as a notebook cell makes it (progress
off), timed with perf_counter from the call to the returned payload (process start-up of the
workers included). With no overrides the re-run reproduces the stored data's solve steps (printed:
how many runs agree with data/). Writes benchmarks/results/rerun_time.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LOCKSTEP, RESULTS, machine_info, single_thread, write_json_atomic

single_thread()

import argparse
import os
import time

CASES = {   # name: (experiment, rerun keyword arguments)
    "curves": ("cartpole_curves", {"algos": ("npg", "trpo")}),
    "light_damping": ("npg_trpo_light_damping", {}),
    "light_damping_lockstep": ("npg_trpo_light_damping", LOCKSTEP),   # the defaults before 2026-12-03
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=str(RESULTS / "rerun_time.json"))
    args = ap.parse_args(argv)

    from trpo_lite.experiments import EXPERIMENTS, load_experiment, rerun

    meta = machine_info()
    print(f"live re-runs, workers={args.workers or os.cpu_count()}; load average at start "
          f"{[round(x, 2) for x in meta.get('loadavg', [])]}")
    results = {}
    for case in args.cases:
        name, kwargs = CASES[case]
        if name not in EXPERIMENTS:
            print(f"{case:<22} skipped: no experiment {name!r} in this checkout")
            continue
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        payload = rerun(name, workers=args.workers, progress=False, **kwargs)
        seconds = time.perf_counter() - t0
        agree = None
        try:
            stored = {(r["algo"], r["seed"]): r["solved_at_step"] for r in load_experiment(name)["runs"]}
            agree = sum(stored.get((r["algo"], r["seed"])) == r["solved_at_step"] for r in payload["runs"])
        except Exception as exc:            # a data file not written yet: timing still counts
            print(f"  ({name}: no stored data to compare: {exc})")
        overrides = {k: v for k, v in kwargs.items() if k != "algos"}
        results[case] = dict(experiment=name, kwargs=kwargs, seconds=seconds,
                             runs=len(payload["runs"]), agree_with_data=agree,
                             loadavg_1min_start=load0, loadavg_1min_end=os.getloadavg()[0])
        print(f"{case:<22} {name}: {len(payload['runs'])} runs in {seconds:.1f} s "
              f"(load {load0:.2f} -> {os.getloadavg()[0]:.2f})"
              + (f"; solve steps equal to data/ in {agree}/{len(payload['runs'])}"
                 if agree is not None and not overrides else ""), flush=True)
    meta["loadavg_end"] = list(os.getloadavg())
    print(f"wrote {write_json_atomic(args.out, dict(meta=meta, results=results))}")


if __name__ == "__main__":
    main()
