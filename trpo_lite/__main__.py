"""Command line: ``python -m trpo_lite train --algo trpo --env CartPole-v1 --seed 0 --steps 100000``.

Shows a progress bar, prints a per-iteration table and a final summary (including the env
step at which the mean of the last 20 episodes first reached the solve threshold), and
writes the log as CSV (to a temporary file, then renamed). Every command runs with one
BLAS/OpenMP thread; set TRPO_LITE_THREADS to a number, or to ``all`` for the libraries'
own default (trpo_lite/threads.py).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile

from .rollout import SOLVE_THRESHOLDS, make_env
from .threads import limited_threads
from .train import ALGOS, LOG_COLUMNS, TrainConfig, train


def write_csv_atomic(path, rows, columns):
    """Write rows (dicts) to ``path`` via a temporary file in the same folder + rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _fmt(row):
    return (f"{row['iteration']:>5d} {row['env_steps']:>9d} {row['episodes']:>6d} "
            f"{row['mean_return']:>9.1f} {row['predicted_kl']:>8.4f} {row['measured_kl']:>8.4f} "
            f"{row['line_search_attempts']:>4d} {row['surrogate_improvement']:>9.4f} "
            f"{row['wall_seconds']:>7.1f}")


HEADER = (f"{'iter':>5} {'env_steps':>9} {'eps':>6} {'return20':>9} {'pred_kl':>8} "
          f"{'meas_kl':>8} {'ls':>4} {'improve':>9} {'wall_s':>7}")


def cmd_train(args):
    from tqdm import tqdm

    overrides = {k: getattr(args, k) for k in ("delta", "n_envs", "steps_per_env", "lr")
                 if getattr(args, k) is not None}
    if args.hidden is not None:
        overrides["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h)
    cfg = TrainConfig(**overrides)
    make_env(args.env).close()                       # fail fast on an unknown id
    print(f"training {args.algo} on {args.env}, seed {args.seed}, {args.steps} env steps")
    bar = tqdm(total=args.steps, unit="step", file=sys.stderr, disable=args.quiet)
    print(HEADER)

    def callback(row):
        bar.update(row["env_steps"] - bar.n)
        bar.clear()
        print(_fmt(row), flush=True)
        bar.refresh()

    result = train(args.algo, args.env, args.seed, args.steps, cfg, callback=callback)
    bar.close()
    threshold = SOLVE_THRESHOLDS.get(args.env)
    last = result.log[-1]
    print("\nsummary")
    print(f"  algorithm            {args.algo}")
    print(f"  environment          {args.env} (solve threshold {threshold})")
    print(f"  env steps            {last['env_steps']}")
    print(f"  episodes             {last['episodes']}")
    print(f"  final return (20)    {last['mean_return']:.1f}")
    if result.solved_at_step is None:
        print("  solved               no (mean of the last 20 episodes never reached the threshold)")
    else:
        print(f"  solved at env step   {result.solved_at_step} ({result.solved_at_seconds:.1f} s)")
    print(f"  wall seconds         {last['wall_seconds']:.1f}")
    csv_path = args.csv or f"{args.algo}_{args.env}_seed{args.seed}.csv"
    write_csv_atomic(csv_path, result.log, LOG_COLUMNS)
    print(f"  log written to       {csv_path}")
    return 0


def cmd_make_data(args):
    from dataclasses import replace

    from tqdm import tqdm

    from .experiments import EXPERIMENTS, run_experiment

    names = args.only or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {sorted(EXPERIMENTS)}")
    for name in names:
        exp = EXPERIMENTS[name]
        if args.seeds is not None:
            exp = replace(exp, seeds=tuple(int(s) for s in args.seeds.split(",")))
        if args.steps is not None:
            exp = replace(exp, total_steps=int(args.steps))
        bar = tqdm(total=len(exp.algos) * len(exp.seeds), desc=name, unit="run", file=sys.stderr,
                   disable=args.quiet)

        def progress(exp, algo, seed, record):
            solved = record["solved_at_step"]
            bar.write(f"{exp.name}: {algo} seed {seed}: solved at "
                      f"{solved if solved is not None else 'never'}, "
                      f"{record['wall_seconds'][-1]:.1f} s")
            bar.update(1)

        path = run_experiment(exp, progress=progress, data_dir=args.data_dir)
        bar.close()
        print(f"wrote {path}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="python -m trpo_lite", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one algorithm and write its log as CSV")
    t.add_argument("--algo", choices=ALGOS, default="trpo")
    t.add_argument("--env", default="CartPole-v1", help="gymnasium id, e.g. CartPole-v1, Acrobot-v1, Pendulum-v1")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=100_000, help="environment steps in total")
    t.add_argument("--delta", type=float, help="trust-region radius (npg, trpo)")
    t.add_argument("--lr", type=float, help="learning rate (vpg)")
    t.add_argument("--n-envs", dest="n_envs", type=int)
    t.add_argument("--steps-per-env", dest="steps_per_env", type=int)
    t.add_argument("--hidden", help="policy hidden sizes, e.g. 32,32 ('' for linear)")
    t.add_argument("--csv", help="where to write the log (default <algo>_<env>_seed<seed>.csv)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    d = sub.add_parser("make-data", help="regenerate the multi-seed results in data/")
    d.add_argument("--only", action="append", help="one experiment name (repeatable)")
    d.add_argument("--seeds", help="override the seeds, e.g. 0,1")
    d.add_argument("--steps", type=int, help="override the env steps per run")
    d.add_argument("--data-dir", dest="data_dir", help="write here instead of data/")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_make_data)
    return p


def keep_freed_memory():
    """Ask glibc to keep 64 MiB of freed heap (M_TOP_PAD) instead of handing it back to the OS.

    Every training iteration allocates the same large temporary arrays; returning their pages
    and faulting them in again cost about a third of the CPU time (benchmarks/README.md).
    Results are unchanged. A no-op where glibc is not the C library.
    """
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-2, 64 << 20)          # -2 = M_TOP_PAD
    except (OSError, AttributeError):
        pass


def main(argv=None):
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        with limited_threads():                 # a bad TRPO_LITE_THREADS is a ValueError too
            return args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
