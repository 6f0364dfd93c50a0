"""Command line: train one algorithm, or regenerate data/.

    python -m trpo_lite train --algo trpo --env CartPole-v1 --seed 0 --steps 100000
    python -m trpo_lite make-data [--only NAME ...] [--seeds 0,1] [--steps N] [--data-dir DIR] [--workers N]

``train`` shows a progress bar, prints a per-iteration table and a final summary (including the
env step at which the mean of the last 20 episodes first reached the solve threshold), and
writes the log as CSV plus a JSON summary beside it (``<name>.summary.json``: the solved flag,
the solve step, the final return, the config). Every flag is checked before training starts: a
bad value gets one line on stderr that names the flag and exit status 2, and nothing is
written. Output files are written to temporary files next to their destination and renamed,
so an interrupted or failed run leaves no partial file. Every command runs with one BLAS/OpenMP
thread; set TRPO_LITE_THREADS to a number, or to ``all`` for the libraries' own default
(trpo_lite/threads.py).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
from pathlib import Path

from . import __version__
from .config import DEFAULTS
from .data import write_atomic, write_json_atomic
from .rollout import SOLVE_THRESHOLDS, make_env
from .threads import keep_freed_memory, limited_threads
from .train import ALGOS, LOG_COLUMNS, RETURN_WINDOW, TrainConfig, config_to_dict, train

PROG = "python -m trpo_lite"


class FlagError(ValueError):
    """A command-line value that is well formed but unusable; ``flag`` names the option."""

    def __init__(self, flag, message):
        super().__init__(message)
        self.flag = flag


# -- argument types: argparse turns an ArgumentTypeError into "argument --flag: <message>" ----------

def _integer(text, minimum):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
    return value


def positive_int(text):
    return _integer(text, 1)


def nonnegative_int(text):
    return _integer(text, 0)


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def hidden_sizes(text):
    """'32,32' -> (32, 32); '' -> () (a linear policy)."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = None
    if sizes is None or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated layer sizes >= 1 such as 32,32 ('' for a linear policy), "
            f"got {text!r}")
    return sizes


def seed_list(text):
    """'0,1,2' -> (0, 1, 2): distinct integers >= 0."""
    try:
        seeds = tuple(int(p) for p in text.split(","))
    except ValueError:
        seeds = None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated distinct integers >= 0 such as 0,1,2, got {text!r}")
    return seeds


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` for every option that has a default value (not for None/False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- output files -----------------------------------------------------------------------------

def _reserve(path, flag):
    """Check that ``path`` can be written and create its temporary file beside it.

    Returns the temporary file's name (empty, 0644). Raises FlagError naming ``flag`` if the
    path is a folder, its folder does not exist, or the folder is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise FlagError(flag, f"{str(path)!r} is a folder; give a file name")
    if folder.exists() and not folder.is_dir():
        raise FlagError(flag, f"{str(folder)!r} is a file, not a folder")
    if not folder.is_dir():
        raise FlagError(flag, f"folder {str(folder)!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FlagError(flag, f"cannot write in {str(folder)!r} ({exc.strerror})") from None
    os.close(fd)
    os.chmod(tmp, 0o644)
    return tmp


def write_csv_atomic(path, rows, columns, tmp=None):
    """Write rows (dicts) to ``path`` atomically (``data.write_atomic``)."""
    def write(f):
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return write_atomic(path, write, tmp)


def summary_path(csv_path):
    """``runs/log.csv`` -> ``runs/log.summary.json``."""
    p = Path(csv_path)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(stem + ".summary.json")


def _finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None


# -- train ------------------------------------------------------------------------------------

def _fmt(row):
    return (f"{row['iteration']:>5d} {row['env_steps']:>9d} {row['episodes']:>6d} "
            f"{row['mean_return']:>9.1f} {row['predicted_kl']:>8.4f} {row['measured_kl']:>8.4f} "
            f"{row['line_search_attempts']:>4d} {row['surrogate_improvement']:>9.4f} "
            f"{row['wall_seconds']:>7.1f}")


HEADER = (f"{'iter':>5} {'env_steps':>9} {'eps':>6} {'return20':>9} {'pred_kl':>8} "
          f"{'meas_kl':>8} {'ls':>4} {'surr_imp':>9} {'wall_s':>7}")


def _checked_train_setup(args):
    """Everything ``train`` needs, checked before any training: (config, csv, summary, tmps)."""
    from .policies import make_policy

    cfg = TrainConfig(hidden=args.hidden, n_envs=args.n_envs, steps_per_env=args.steps_per_env,
                      delta=args.delta, lr=args.lr, vector_env=args.vector_env,
                      fisher_subsample=args.fisher_subsample, value_iters=args.value_iters)
    try:                                              # an unknown id, or spaces no policy fits
        env = make_env(args.env)
        try:
            make_policy(env.observation_space, env.action_space, cfg.hidden)
        finally:
            env.close()
    except ValueError as exc:
        raise FlagError("--env", str(exc)) from None
    csv_path = Path(args.csv or f"{args.algo}_{args.env.replace('/', '_')}_seed{args.seed}.csv")
    json_path = summary_path(csv_path)
    if json_path.is_dir():
        raise FlagError("--csv", f"the summary {str(json_path)!r} would replace a folder")
    tmp_csv = _reserve(csv_path, "--csv")
    try:
        tmp_json = _reserve(json_path, "--csv")
    except BaseException:
        os.unlink(tmp_csv)
        raise
    return cfg, csv_path, json_path, (tmp_csv, tmp_json)


def cmd_train(args):
    from tqdm import tqdm

    cfg, csv_path, json_path, (tmp_csv, tmp_json) = _checked_train_setup(args)
    try:
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
        solved = result.solved_at_step is not None
        print("\nsummary")
        print(f"  algorithm            {args.algo}")
        print(f"  environment          {args.env} (solve threshold {threshold})")
        print(f"  env steps            {last['env_steps']}")
        print(f"  episodes             {last['episodes']}")
        print(f"  final return ({RETURN_WINDOW})    {last['mean_return']:.1f}")
        if not solved:
            print(f"  solved               no (mean of the last {RETURN_WINDOW} episodes never "
                  "reached the threshold)")
        else:
            print(f"  solved at env step   {result.solved_at_step} ({result.solved_at_seconds:.1f} s)")
        print(f"  wall seconds         {last['wall_seconds']:.1f}")
        summary = {
            "algo": args.algo, "env_id": args.env, "seed": args.seed, "total_steps": args.steps,
            "iterations": len(result.log), "env_steps": last["env_steps"],
            "episodes": last["episodes"], "final_mean_return": _finite_or_none(last["mean_return"]),
            "return_window": RETURN_WINDOW, "solve_threshold": threshold, "solved": solved,
            "solved_at_step": result.solved_at_step,
            "solved_at_seconds": _finite_or_none(result.solved_at_seconds),
            "wall_seconds": last["wall_seconds"], "config": config_to_dict(cfg),
            "csv": csv_path.name, "trpo_lite_version": __version__}
        write_csv_atomic(csv_path, result.log, LOG_COLUMNS, tmp=tmp_csv)
        write_json_atomic(json_path, summary, tmp=tmp_json)
    finally:
        for tmp in (tmp_csv, tmp_json):
            if os.path.exists(tmp):
                os.unlink(tmp)
    print(f"  log written to       {csv_path}")
    print(f"  summary written to   {json_path}")
    return 0


# -- make-data --------------------------------------------------------------------------------

def _check_data_dir(folder):
    """``folder`` must be a folder files can be created in (it is created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FlagError("--data-dir", f"{str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):     # the real test: root passes os.access
            pass
    except OSError as exc:
        raise FlagError("--data-dir", f"cannot write in {str(folder)!r} ({exc.strerror})") from None
    return folder


def cmd_make_data(args):
    from dataclasses import replace

    from tqdm import tqdm

    from .data import ENV_VAR, find_data_dir
    from .experiments import COMMAND, EXPERIMENTS, run_experiments

    names = list(dict.fromkeys(args.only or EXPERIMENTS))           # in order, once each
    changed = [flag for flag, v in (("--seeds", args.seeds), ("--steps", args.steps)) if v is not None]
    if changed and args.data_dir is None and not os.environ.get(ENV_VAR, "").strip():
        raise FlagError(changed[0], "changes the experiments, so it needs --data-dir (or "
                        f"{ENV_VAR}): data/ keeps the results the notebooks were recorded with")
    folder = _check_data_dir(args.data_dir if args.data_dir is not None else find_data_dir())
    extra = "".join(f" --seeds {','.join(map(str, args.seeds))}" if flag == "--seeds"
                    else f" --steps {args.steps}" for flag in changed)
    exps = []
    for name in names:
        exp = EXPERIMENTS[name]
        if args.seeds is not None:
            exp = replace(exp, seeds=args.seeds)
        if args.steps is not None:
            exp = replace(exp, total_steps=args.steps)
        exps.append(exp)
    bar = tqdm(total=sum(len(e.algos) * len(e.seeds) for e in exps), desc="make-data", unit="run",
               file=sys.stderr, disable=args.quiet)

    def progress(exp, algo, seed, record):
        solved = record["solved_at_step"]
        bar.write(f"{exp.name}: {algo} seed {seed}: solved at "
                  f"{solved if solved is not None else 'never'}, "
                  f"{record['wall_seconds'][-1]:.1f} s")
        bar.update(1)

    try:
        paths = run_experiments(exps, progress=progress, data_dir=folder, workers=args.workers,
                                commands={e.name: f"{COMMAND} --only {e.name}{extra}" for e in exps})
    finally:
        bar.close()
    for path in paths:
        print(f"wrote {path}")
    return 0


# -- parser -----------------------------------------------------------------------------------

def build_parser():
    from .experiments import EXPERIMENTS

    p = _Parser(prog=PROG, formatter_class=_HelpFormatter,
                description="trpo_lite's command line: train one algorithm (train) or "
                            "regenerate the precomputed results in data/ (make-data).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,make-data}")
    t = sub.add_parser(
        "train", formatter_class=_HelpFormatter, help="train one algorithm and write its log",
        description="Train one algorithm on a gymnasium environment. Prints one row per iteration "
                    "and a summary, and writes the log as CSV with a JSON summary beside it "
                    "(<csv name>.summary.json: solved flag, solve step, final return, config). "
                    "Unlisted hyperparameters keep their TrainConfig defaults (trpo_lite/config.py).")
    t.add_argument("--algo", choices=ALGOS, default="trpo", help="the policy update")
    t.add_argument("--env", default="CartPole-v1",
                   help="gymnasium id, e.g. CartPole-v1, Acrobot-v1, Pendulum-v1")
    t.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the policy initialisation, the sampling and the environments")
    t.add_argument("--steps", type=positive_int, default=100_000,
                   help="environment steps in total (rounded up to whole iterations)")
    t.add_argument("--delta", type=positive_float, default=DEFAULTS.delta,
                   help="trust-region radius, the mean KL per update (npg, trpo)")
    t.add_argument("--lr", type=positive_float, default=DEFAULTS.lr,
                   help="ascent rate on normalised advantages (vpg)")
    t.add_argument("--n-envs", dest="n_envs", type=positive_int, default=DEFAULTS.n_envs,
                   help="environments per iteration (one vectorised env, or separate ones)")
    t.add_argument("--steps-per-env", dest="steps_per_env", type=positive_int,
                   default=DEFAULTS.steps_per_env,
                   help="steps per environment per iteration (batch = n-envs x this)")
    t.add_argument("--hidden", type=hidden_sizes, default=",".join(map(str, DEFAULTS.hidden)),
                   help="policy hidden sizes, e.g. 32,32 ('' for a linear policy)")
    t.add_argument("--vector-env", dest="vector_env", action=argparse.BooleanOptionalAction,
                   default=DEFAULTS.vector_env,
                   help="step gymnasium's NumPy-vectorised environment where it has one "
                        "(CartPole); --no-vector-env: n-envs separate environments")
    t.add_argument("--fisher-subsample", dest="fisher_subsample", type=positive_int,
                   default=DEFAULTS.fisher_subsample,
                   help="Fisher-vector products on every k-th state (npg, trpo; speed)")
    t.add_argument("--value-iters", dest="value_iters", type=positive_int,
                   default=DEFAULTS.value_iters,
                   help="L-BFGS iterations of the value fit per iteration")
    t.add_argument("--csv", help="where to write the log (default: <algo>_<env>_seed<seed>.csv "
                                 "here); the summary goes beside it as <name>.summary.json")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train, prog=t.prog)
    d = sub.add_parser(
        "make-data", formatter_class=_HelpFormatter,
        help="regenerate the multi-seed results in data/",
        description="Run the multi-seed experiments behind data/ and write each file atomically "
                    "as soon as its runs are done (all of them: about 12.6 million environment steps, "
                    "about 2.5 min on two cores with --workers 2).")
    d.add_argument("--only", action="append", choices=sorted(EXPERIMENTS), metavar="NAME",
                   help=f"one experiment (repeatable; default: all): {', '.join(sorted(EXPERIMENTS))}")
    d.add_argument("--seeds", type=seed_list,
                   help="override the seeds, e.g. 0,1 (needs --data-dir)")
    d.add_argument("--steps", type=positive_int,
                   help="override the env steps per run (needs --data-dir)")
    d.add_argument("--data-dir", dest="data_dir",
                   help="write here instead of data/ (or $TRPO_LITE_DATA_DIR)")
    d.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                   help="runs side by side, one process and one BLAS thread each (the numbers "
                        "are the same for any count; 1 gives the wall seconds of a run alone)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_make_data, prog=d.prog)
    return p


def main(argv=None):
    """Run the command line on ``argv`` (default sys.argv[1:]); returns the exit status:
    0 done, 2 a bad flag or value (one line on stderr, nothing written), 130 interrupted."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:                 # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    keep_freed_memory()
    try:
        with limited_threads():                 # a bad TRPO_LITE_THREADS is a ValueError too
            return args.func(args)
    except FlagError as exc:
        print(f"{args.prog}: error: argument {exc.flag}: {exc}", file=sys.stderr)
    except ValueError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted; no partial output file was left behind", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
