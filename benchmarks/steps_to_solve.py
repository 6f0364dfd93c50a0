"""Steps and seconds to solve CartPole-v1 for several TrainConfigs, seeds 0-9 (issue 13).

    .venv/bin/python benchmarks/steps_to_solve.py                       # every config below
    .venv/bin/python benchmarks/steps_to_solve.py --configs default vector --seeds 0-1   # smoke

Solved = the mean return of the last 20 episodes first reaches 475 (``TrainResult.solved_at_step``)
within ``--steps`` (100k) env steps; a run stops at its solve point. Each run is its own fresh
process (one at a time, one BLAS thread), so a run's wall and CPU seconds are its own. Medians:
a run that never solved counts as the step budget (a lower bound) and as infinite seconds.
Writes benchmarks/results/steps_to_solve.json.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LOCKSTEP, RESULTS, VECTOR_FAST, machine_info, parse_seeds, single_thread, write_json_atomic

single_thread()

import argparse
import json
import os
import statistics
import subprocess

ENV_ID = "CartPole-v1"
CONFIGS = {                                   # TrainConfig overrides of each measured config
    "default": {},
    "default_fs4": {"fisher_subsample": 4},
    "default_vi5": {"value_iters": 5},
    "lockstep": LOCKSTEP,                     # the defaults before 2026-12-03
    "vector_fs4_vi5": VECTOR_FAST,
}


def worker(name, seed, steps):
    """One run in this process: solve step, seconds (wall and CPU), env steps done."""
    import time

    from trpo_lite.train import config_from_dict, train

    c0, t0 = time.process_time(), time.perf_counter()
    res = train("trpo", ENV_ID, seed, steps, config_from_dict(CONFIGS[name]), stop_when_solved=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps(dict(config=name, seed=seed, solved_at_step=res.solved_at_step,
                          solved_at_seconds=res.solved_at_seconds, wall_seconds=wall,
                          cpu_seconds=cpu, env_steps=res.log[-1]["env_steps"],
                          loadavg=os.getloadavg()[0])))


def run(name, seed, steps):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(seed), str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_or_none(values):
    return statistics.median(values) if values else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--out", default=str(RESULTS / "steps_to_solve.json"))
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
    seeds = parse_seeds(args.seeds)
    meta = dict(machine_info(), env_id=ENV_ID, steps=args.steps, seeds=seeds, configs=CONFIGS)
    print(f"{ENV_ID}, TRPO, seeds {args.seeds}, budget {args.steps:,} steps; load average at "
          f"start {[round(x, 2) for x in meta.get('loadavg', [])]}")
    print(f"{'config':<16} {'solved':>6} {'median steps':>12} {'median s':>9} {'median CPU s':>12} "
          f"{'ms/1k (CPU)':>11}   steps per seed")
    results = {}
    for name in args.configs:                     # seeds interleaved per config, one at a time
        runs = [run(name, seed, args.steps) for seed in seeds]
        solved = [r for r in runs if r["solved_at_step"] is not None]
        steps = [r["solved_at_step"] if r["solved_at_step"] is not None else args.steps for r in runs]
        secs = [r["solved_at_seconds"] if r["solved_at_seconds"] is not None else float("inf")
                for r in runs]
        cpu_rate = sum(r["cpu_seconds"] for r in runs) / sum(r["env_steps"] for r in runs) * 1e6
        cpu_solve = [r["cpu_seconds"] for r in solved]
        results[name] = dict(runs=runs, n_solved=len(solved), median_steps=statistics.median(steps),
                             median_seconds=statistics.median(secs),
                             median_cpu_seconds_solved=median_or_none(cpu_solve),
                             cpu_ms_per_1k_steps=cpu_rate)
        print(f"{name:<16} {len(solved):>3}/{len(runs):<2} {statistics.median(steps):>12,.0f} "
              f"{statistics.median(secs):>9.2f} {median_or_none(cpu_solve) or float('nan'):>12.2f} "
              f"{cpu_rate:>11.1f}   " + " ".join(str(s) if s is not None else "-" for s in
                                                 (r["solved_at_step"] for r in runs)), flush=True)
    meta["loadavg_end"] = list(os.getloadavg())
    print(f"load average at end {[round(x, 2) for x in meta['loadavg_end']]}")
    print(f"wrote {write_json_atomic(args.out, dict(meta=meta, results=results))}")


if __name__ == "__main__":
    main()
