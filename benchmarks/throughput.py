"""Environment transitions per second: raw gymnasium, trpo_lite's rollouts, trpo_lite's training.

    .venv-bench/bin/python benchmarks/throughput.py                     # (also runs with .venv)
    .venv-bench/bin/python benchmarks/throughput.py --raw-steps 20000 --rollout-steps 20000 \
        --train-steps 10000 --repeats 1                                   # smoke test

Measures, in one process, on CartPole-v1:

1. raw        ``gym.make`` + ``env.action_space.sample()`` + ``env.step`` (+ reset at episode end);
              and gymnasium's NumPy-vectorised CartPole (``gym.make_vec(..., "vector_entry_point")``)
              at N = 16 and 64 copies (transitions only: its auto-reset steps are not counted)
2. rollout    the default TrainConfig's sampler (the vectorised CartPole, 16 x 64 steps) and
              policy (no updates), and the same followed by ``make_batch`` (value predictions,
              GAE, log-probs)
3. training   ``train("trpo", ...)``, updates included, with the library defaults, with
              LOCKSTEP (the defaults before 2026-12-03: 4 separate envs x 250 steps), VECTOR_FS4
              (the defaults with ``fisher_subsample=4``) and VECTOR_FAST (and ``value_iters=5``);
              steps to solve for each: benchmarks/steps_to_solve.py

each as transitions/s and as a fraction of raw (median over ``--repeats``, interleaved), then
where the training time goes: the functions ``train()`` calls are wrapped with
``time.perf_counter`` timers (rollout: policy sampling vs the rest; advantages; TRPO update:
gradient, CG, line search; value fit; loop bookkeeping). ``--profile`` adds a cProfile listing.

Every measurement runs in a fresh Python process: glibc malloc's state (it returns freed heap
memory to the OS and page-faults it back on the next large temporary array) changes training
speed by up to 2x, so the training rate and the breakdown are also shown with glibc's
M_TOP_PAD set to 64 MiB (``mallopt``; same numbers, far fewer page faults).

One BLAS/OpenMP thread: the variables set below (inherited by the workers) and, in every
worker, trpo_lite's own limit (``limited_threads``, trpo_lite/threads.py) around the
measurement; ``TRPO_LITE_THREADS=2`` times two threads.

Writes benchmarks/results/throughput.json (atomically).
"""
from __future__ import annotations

import os

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
os.environ.setdefault("PYTHONHASHSEED", "0")

import argparse
import functools
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LOCKSTEP, RESULTS, VECTOR_FAST, VECTOR_FS4, machine_info, write_json_atomic

ENV_ID = "CartPole-v1"
CONFIGS = {"default": {}, "lockstep": LOCKSTEP, "vector_fs4": VECTOR_FS4, "vector_fast": VECTOR_FAST}


# ------------------------------------------------------------------------------ pieces
def raw_env(n_steps, seed=0, **make_kwargs):
    """Transitions/s of a bare gymnasium loop with random actions."""
    import gymnasium as gym

    env = gym.make(ENV_ID, **make_kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return n_steps / dt


def raw_vector_env(n_steps, n_envs, seed=0):
    """Transitions/s of gymnasium's NumPy-vectorised env with random actions; the steps after a
    done (next-step auto-reset: reward 0, not a transition) are not counted."""
    import gymnasium as gym

    env = gym.make_vec(ENV_ID, num_envs=n_envs, vectorization_mode="vector_entry_point")
    env.action_space.seed(seed)
    env.reset(seed=seed)
    resetting = np.zeros(n_envs, bool)
    transitions = 0
    t0 = time.perf_counter()
    while transitions < n_steps:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        transitions += n_envs - int(resetting.sum())
        resetting = terminated | truncated
    dt = time.perf_counter() - t0
    env.close()
    return transitions / dt


def rollout(n_steps, seed=0, with_batch=False):
    """Transitions/s of the default sampler's run (optionally + make_batch), a fresh default policy."""
    from trpo_lite.policies import make_policy
    from trpo_lite.rollout import make_batch, make_sampler
    from trpo_lite.train import TrainConfig
    from trpo_lite.value import ValueFunction

    cfg = TrainConfig()
    rng = np.random.default_rng(seed)
    sampler = make_sampler(ENV_ID, cfg.n_envs, seed, cfg.vector_env)
    policy = make_policy(sampler.observation_space, sampler.action_space, cfg.hidden)
    theta = policy.init(rng)
    vf = ValueFunction.for_obs_dim(sampler.observation_space.shape[0], cfg.value_hidden)
    phi = vf.init(rng)
    t0 = time.perf_counter()
    while sampler.total_steps < n_steps:
        traj = sampler.run(policy, theta, cfg.steps_per_env, rng)
        if with_batch:
            make_batch(policy, theta, traj, lambda o: vf(phi, o), cfg.gamma, cfg.lam)
    dt = time.perf_counter() - t0
    sampler.close()
    return sampler.total_steps / dt


def end_to_end(n_steps, seed=0, config="default"):
    """Transitions/s of train("trpo") (whole call, set-up included) and its result."""
    from trpo_lite.train import config_from_dict, train

    t0 = time.perf_counter()
    res = train("trpo", ENV_ID, seed, n_steps, config_from_dict(CONFIGS[config]))
    dt = time.perf_counter() - t0
    return res.log[-1]["env_steps"] / dt, res, dt


# --------------------------------------------------------------------------- breakdown
class Timers:
    """Accumulate perf_counter time and call counts per label, by wrapping functions."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self._undo = []

    def wrap(self, owner, name, label):
        orig = getattr(owner, name)

        @functools.wraps(orig)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, orig))

    def unwrap(self):
        for owner, name, orig in reversed(self._undo):
            setattr(owner, name, orig)
        self._undo.clear()


def breakdown(n_steps, seed=0, config="default"):
    """Run train() with timers around the functions it calls; returns (rows, total, result).

    rows: (label, seconds, calls, indent); sub-rows add up to less than their parent,
    the difference is shown as "other".
    """
    from trpo_lite import algos, policies
    from trpo_lite import train as train_mod
    from trpo_lite.rollout import Sampler, VectorSampler
    from trpo_lite.value import ValueFunction

    T = Timers()
    T.wrap(Sampler, "run", "rollout")
    T.wrap(VectorSampler, "run", "rollout")
    # the rollout samples through the closure make_sampler returns: time the closure's calls
    orig_make_sampler = policies.CategoricalPolicy.make_sampler

    def make_timed_sampler(self, theta):
        sample = orig_make_sampler(self, theta)

        def timed(obs, rng):
            t0 = time.perf_counter()
            try:
                return sample(obs, rng)
            finally:
                T.seconds["policy.sample"] += time.perf_counter() - t0
                T.calls["policy.sample"] += 1
        return timed

    policies.CategoricalPolicy.make_sampler = make_timed_sampler
    T._undo.append((policies.CategoricalPolicy, "make_sampler", orig_make_sampler))
    T.wrap(train_mod, "make_batch", "advantages")
    T.wrap(algos, "trpo_update", "policy update")
    T.wrap(algos, "policy_gradient", "gradient")
    T.wrap(algos, "conjugate_gradient", "cg")
    T.wrap(algos, "backtracking_line_search", "line search")
    T.wrap(ValueFunction, "fit", "value fit")
    try:
        t0 = time.perf_counter()
        res = train_mod.train("trpo", ENV_ID, seed, n_steps, train_mod.config_from_dict(CONFIGS[config]))
        total = time.perf_counter() - t0
    finally:
        T.unwrap()
    s, c = T.seconds, T.calls
    loop = res.log[-1]["wall_seconds"]
    rows = [
        ("rollout (Sampler.run)", s["rollout"], c["rollout"], 0),
        ("policy.sample (batched)", s["policy.sample"], c["policy.sample"], 1),
        ("env.step/reset + buffers", s["rollout"] - s["policy.sample"], None, 1),
        ("advantages (make_batch)", s["advantages"], c["advantages"], 0),
        ("policy update (trpo_update)", s["policy update"], c["policy update"], 0),
        ("gradient", s["gradient"], c["gradient"], 1),
        ("conjugate gradient (FVPs)", s["cg"], c["cg"], 1),
        ("line search", s["line search"], c["line search"], 1),
        ("other (FVP setup, step size)", s["policy update"] - s["gradient"] - s["cg"]
         - s["line search"], None, 1),
        ("value fit (L-BFGS)", s["value fit"], c["value fit"], 0),
        ("loop bookkeeping", loop - s["rollout"] - s["advantages"] - s["policy update"]
         - s["value fit"], None, 0),
        ("set-up (envs, nets)", total - loop, None, 0),
    ]
    return rows, total, res


def profile(n_steps, seed=0, top=25):
    """cProfile of train(); returns the printed listing (sorted by own time)."""
    import cProfile
    import io
    import pstats

    from trpo_lite.train import train

    pr = cProfile.Profile()
    pr.enable()
    train("trpo", ENV_ID, seed, n_steps)
    pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---------------------------------------------------------------------------------- main
MEASURES = {
    "raw": "raw gymnasium (gym.make, random actions)",
    "raw_nocheck": "raw, disable_env_checker=True (as Sampler)",
    "raw_vec16": "raw vectorised, N = 16 (as the defaults)",
    "raw_vec64": "raw vectorised, N = 64",
    "rollout": "sampler.run (the defaults' sampler)",
    "rollout_batch": "sampler.run + make_batch",
    "train": "train('trpo'), updates included",
    "train_mallopt": "train('trpo'), M_TOP_PAD=64MiB",
    "train_lockstep": "train('trpo'), LOCKSTEP (before)",
    "train_vector_fs4": "train('trpo'), VECTOR_FS4 config",
    "train_vector_fast": "train('trpo'), VECTOR_FAST config",
    "train_vector_fs4_mallopt": "train('trpo'), VECTOR_FS4, M_TOP_PAD",
}


def _config_of(kind, prefix):
    """The CONFIGS key a measure names: "train_vector_fs4_mallopt" -> "vector_fs4"; "train",
    "train_mallopt", "breakdown" -> "default"."""
    name = kind[len(prefix):].removesuffix("_mallopt")
    return name if name in CONFIGS else "default"


def set_malloc_top_pad(nbytes=64 << 20):
    """glibc: keep ``nbytes`` of slack at the heap top instead of returning it to the OS."""
    import ctypes

    return ctypes.CDLL("libc.so.6").mallopt(-2, int(nbytes))       # M_TOP_PAD = -2


def worker(kind, args):
    """One measurement in this (fresh) process; prints a JSON dict as the last line."""
    import json

    import trpo_lite.train  # noqa: F401  (loads numpy's and scipy's BLAS, so the limit covers both)
    from trpo_lite.threads import limited_threads

    mallopt = kind.endswith("_mallopt")
    if mallopt:
        set_malloc_top_pad()
    with limited_threads():
        out = measure_in_this_process(kind, args)
    print(json.dumps(out))


def measure_in_this_process(kind, args):
    """The measurement ``kind`` (a dict with its rate or rows) plus this process's rusage."""
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    out = {}
    if kind == "raw":
        out["rate"] = raw_env(args.raw_steps, args.seed)
    elif kind == "raw_nocheck":
        out["rate"] = raw_env(args.raw_steps, args.seed, disable_env_checker=True)
    elif kind.startswith("raw_vec"):
        out["rate"] = raw_vector_env(args.raw_steps, int(kind[len("raw_vec"):]), args.seed)
    elif kind == "rollout":
        out["rate"] = rollout(args.rollout_steps, args.seed)
    elif kind == "rollout_batch":
        out["rate"] = rollout(args.rollout_steps, args.seed, with_batch=True)
    elif kind.startswith("train"):
        rate, res, _ = end_to_end(args.train_steps, args.seed, _config_of(kind, "train_"))
        out.update(rate=rate, solved=res.solved_at_step, final_mean_return=res.log[-1]["mean_return"],
                   theta_head=[float(x) for x in res.theta[:4]])
    elif kind.startswith("breakdown"):
        rows, total, res = breakdown(args.train_steps, args.seed, _config_of(kind, "breakdown_"))
        out.update(total=total, rows=rows, theta_head=[float(x) for x in res.theta[:4]])
    elif kind in ("profile", "profile_mallopt"):
        out["listing"] = profile(args.train_steps, args.seed)
    else:
        raise ValueError(kind)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out.update(sys_seconds=ru1.ru_stime - ru0.ru_stime, user_seconds=ru1.ru_utime - ru0.ru_utime,
               minor_page_faults=ru1.ru_minflt - ru0.ru_minflt)
    return out


def measure(kind, args):
    """Run ``worker(kind)`` in a fresh interpreter (no heap or import state carried over)."""
    import json
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind,
           "--raw-steps", str(args.raw_steps), "--rollout-steps", str(args.rollout_steps),
           "--train-steps", str(args.train_steps), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw-steps", type=int, default=200_000)
    ap.add_argument("--rollout-steps", type=int, default=100_000)
    ap.add_argument("--train-steps", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each rate (median shown)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="also print a cProfile listing")
    ap.add_argument("--out", default=str(RESULTS / "throughput.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args)

    import gymnasium  # noqa: F401

    import trpo_lite  # noqa: F401
    from trpo_lite.train import TrainConfig, config_to_dict

    meta = dict(machine_info(), env_id=ENV_ID, args=vars(args),
                trpo_lite_config=config_to_dict(TrainConfig()))
    print(f"{ENV_ID} throughput, every measurement in a fresh process; load average at start "
          f"{[round(x, 2) for x in meta.get('loadavg', [])]}", flush=True)

    runs = {k: [] for k in MEASURES}
    for _ in range(args.repeats):                 # interleaved, so drift hits every measure
        for kind in MEASURES:
            runs[kind].append(measure(kind, args))
    raw = statistics.median(r["rate"] for r in runs["raw"])

    print(f"\n{'what':<44} {'transitions/s':>13} {'of raw':>7} {'sys s':>6} {'page faults':>11}   "
          "all repeats")
    for kind, label in MEASURES.items():
        rs = runs[kind]
        med = statistics.median(r["rate"] for r in rs)
        if kind.startswith("train"):
            label = f"{label} ({args.train_steps:,} steps)"
        print(f"{label:<44} {med:>13,.0f} {med / raw:>7.1%} "
              f"{statistics.median(r['sys_seconds'] for r in rs):>6.2f} "
              f"{statistics.median(r['minor_page_faults'] for r in rs):>11,.0f}   "
              + " ".join(f"{r['rate']:,.0f}" for r in rs))
    t = runs["train"][-1]
    print(f"(training: solved at {t['solved'] if t['solved'] is not None else 'never'} steps, "
          f"final mean return {t['final_mean_return']:.1f}; same parameters with M_TOP_PAD: "
          f"{t['theta_head'] == runs['train_mallopt'][-1]['theta_head']})")

    bd = measure("breakdown", args)
    bdm = measure("breakdown_mallopt", args)
    same = bd["theta_head"] == runs["train"][-1]["theta_head"]
    print(f"\nwhere train('trpo') spends its time, {args.train_steps:,} steps (perf_counter around the "
          f"library calls;\ntimed run reproduces the untimed one: {same}); right: with glibc "
          f"M_TOP_PAD=64MiB (same numbers, fewer page faults: {bd['minor_page_faults']:,} -> "
          f"{bdm['minor_page_faults']:,})")
    k = args.train_steps / 1000
    print(f"{'piece':<34} {'seconds':>8} {'share':>7} {'calls':>6} {'ms/1k steps':>11} | "
          f"{'seconds':>8} {'share':>7} {'ms/1k steps':>11}")
    for (label, sec, calls, indent), (_, sec2, _, _) in zip(bd["rows"], bdm["rows"]):
        print(f"{'  ' * indent + label:<34} {sec:>8.2f} {sec / bd['total']:>7.1%} "
              f"{calls if calls is not None else '':>6} {sec / k * 1e3:>11.2f} | "
              f"{sec2:>8.2f} {sec2 / bdm['total']:>7.1%} {sec2 / k * 1e3:>11.2f}")
    print(f"{'total':<34} {bd['total']:>8.2f} {'':>7} {'':>6} {bd['total'] / k * 1e3:>11.2f} | "
          f"{bdm['total']:>8.2f} {'':>7} {bdm['total'] / k * 1e3:>11.2f}")

    config_rows = {}
    for kind, config in (("breakdown_lockstep", "LOCKSTEP"), ("breakdown_vector_fs4", "VECTOR_FS4"),
                         ("breakdown_vector_fast", "VECTOR_FAST")):
        b = measure(kind, args)
        config_rows[config] = b
        print(f"\nthe same with the {config} config {CONFIGS[kind[len('breakdown_'):]]}")
        print(f"{'piece':<34} {'seconds':>8} {'share':>7} {'calls':>6} {'ms/1k steps':>11}")
        for label, sec, calls, indent in b["rows"]:
            print(f"{'  ' * indent + label:<34} {sec:>8.2f} {sec / b['total']:>7.1%} "
                  f"{calls if calls is not None else '':>6} {sec / k * 1e3:>11.2f}")
        print(f"{'total':<34} {b['total']:>8.2f} {'':>7} {'':>6} {b['total'] / k * 1e3:>11.2f}")

    listing = None
    if args.profile:
        listing = measure("profile", args)["listing"]
        print("\ncProfile of train() (own time; profiling overhead inflates Python-heavy code)")
        print(listing)

    meta["loadavg_end"] = list(os.getloadavg())
    doc = dict(meta=meta,
               rates={MEASURES[k]: dict(median=statistics.median(r["rate"] for r in rs),
                                        fraction_of_raw=statistics.median(r["rate"] for r in rs) / raw,
                                        repeats=rs) for k, rs in runs.items()},
               breakdown=dict(train_steps=args.train_steps, default=bd, mallopt_top_pad=bdm,
                              **config_rows),
               configs=CONFIGS,
               profile=listing)
    print(f"load average at end {[round(x, 2) for x in meta['loadavg_end']]}")
    print(f"wrote {write_json_atomic(args.out, doc)}")


if __name__ == "__main__":
    main()
