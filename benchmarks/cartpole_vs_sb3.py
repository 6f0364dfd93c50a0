"""trpo_lite's TRPO against sb3_contrib.TRPO on CartPole-v1, seed by seed, on this machine.

    .venv-bench/bin/python benchmarks/cartpole_vs_sb3.py                 # seeds 0-9, 100k steps
    .venv-bench/bin/python benchmarks/cartpole_vs_sb3.py --seeds 0-1 --steps 20000   # smoke test

For every seed both libraries train for ``--steps`` environment steps (counted over all
parallel environments). The two alternate seed by seed (trpo_lite first on even seeds, SB3
first on odd seeds) so drift in machine load hits both. Per run we record

* the env step and the wall (and process CPU) second at which the mean return of the last 20
  completed training episodes first reaches 475 ("solved");
* the wall (and CPU) seconds of the whole training run (``--steps`` steps);
* the mean return of a 20-episode deterministic evaluation of the final policy
  (trpo_lite: argmax of the logits; SB3: ``predict(deterministic=True)``), on the same
  evaluation seeds for both libraries.

trpo_lite runs ``train("trpo", "CartPole-v1", seed, steps)`` with the library defaults (since
2026-12-03 gymnasium's vectorised CartPole, 16 x 64 steps); ``trpo_lite_vector`` (``--libs``)
the same with VECTOR_CONFIG, the cheaper Fisher products and value fit of VECTOR_FAST
(benchmarks/_common.py; issue 13).
SB3-contrib runs the RL Zoo's tuned CartPole-v1 hyperparameters (hyperparams/trpo.yml), one
torch thread. Both get one BLAS/OpenMP thread from the variables set below; trpo_lite's run
(training and evaluation) also sets it itself (``limited_threads``, trpo_lite/threads.py).
Both count the solve step at the vector-env step of the episode that completed the window.
Time granularity: trpo_lite stamps the solve's seconds at the end of the iteration (its batch
of 1000 steps + the update) in which it happened, SB3 at the exact vector-env step, so the
time comparison is, if anything, tilted against trpo_lite. CPU seconds
(``time.process_time``, one thread each) are less sensitive to a busy machine than wall seconds.

Every run is a fresh Python process (``--worker``), so neither library inherits the other's
imports or heap: glibc's malloc state alone changes trpo_lite's speed by up to 2x (it gives
freed memory back to the OS and page-faults it in again; see benchmarks/README.md).
``--mallopt`` sets glibc's M_TOP_PAD to 64 MiB in every worker (both libraries) to show that.

Writes benchmarks/results/cartpole_vs_sb3.json (atomically, after every run).
"""
from __future__ import annotations

import os

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
os.environ.setdefault("PYTHONHASHSEED", "0")

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, VECTOR_FAST, machine_info, parse_seeds, write_json_atomic

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
WINDOW = 20
EVAL_EPISODES = 20

# RL Baselines3 Zoo, hyperparams/trpo.yml, CartPole-v1 (n_timesteps 1e5); the rest default.
SB3_ZOO = dict(n_envs=2, policy="MlpPolicy", n_steps=512, batch_size=512, gamma=0.99,
               gae_lambda=0.98, learning_rate=1e-3, cg_damping=1e-3, n_critic_updates=20)


def eval_seeds(seed):
    """The evaluation episodes' reset seeds (the same for both libraries)."""
    return [1_000_000 + 1000 * seed + k for k in range(EVAL_EPISODES)]


def evaluate(act, seed):
    """Returns of EVAL_EPISODES deterministic episodes; ``act(obs (obs_dim,)) -> int``."""
    import gymnasium as gym

    env = gym.make(ENV_ID)
    returns = []
    for s in eval_seeds(seed):
        obs, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            total += float(r)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


# ---------------------------------------------------------------------------- trpo_lite
VECTOR_CONFIG = VECTOR_FAST             # the fastest config of benchmarks/_common.py


def run_trpo_lite(seed, steps, config=None, lib="trpo_lite"):
    """Train and evaluate trpo_lite's TRPO with one BLAS thread, as ``train`` sets it.

    ``config``: TrainConfig overrides (None: the library defaults)."""
    import trpo_lite.train  # noqa: F401  (loads numpy's and scipy's BLAS, so the limit covers both)
    from trpo_lite.threads import limited_threads

    with limited_threads():
        return _train_and_evaluate(seed, steps, config or {}, lib)


def run_trpo_lite_vector(seed, steps):
    return run_trpo_lite(seed, steps, VECTOR_CONFIG, "trpo_lite_vector")


def _train_and_evaluate(seed, steps, config, lib):
    from trpo_lite.policies import make_policy
    from trpo_lite.rollout import make_env
    from trpo_lite.train import config_from_dict, train

    cpu = []                                   # process CPU seconds after every iteration
    c0 = time.process_time()
    t0 = time.perf_counter()
    res = train("trpo", ENV_ID, seed, steps, config_from_dict(config),
                callback=lambda row: cpu.append(time.process_time() - c0))
    wall_call = time.perf_counter() - t0
    solved_cpu = None
    if res.solved_at_seconds is not None:       # the iteration whose row carries the solve time
        walls = [row["wall_seconds"] for row in res.log]
        solved_cpu = cpu[walls.index(res.solved_at_seconds)]

    probe = make_env(ENV_ID)
    policy = make_policy(probe.observation_space, probe.action_space, res.config.hidden)
    probe.close()
    theta = res.theta

    def act(obs):
        return int(np.argmax(policy.dist_params(theta, np.asarray(obs, dtype=float)[None])[0]))

    returns = evaluate(act, seed)
    return dict(lib=lib, seed=seed,
                solved_step=res.solved_at_step, solved_seconds=res.solved_at_seconds,
                solved_cpu=solved_cpu,
                env_steps=int(res.log[-1]["env_steps"]), wall_train=res.log[-1]["wall_seconds"],
                cpu_train=cpu[-1], wall_call=wall_call, episodes=len(res.episode_returns),
                eval_returns=returns, eval_mean=float(np.mean(returns)),
                curve=[[r["env_steps"], r["mean_return"], r["wall_seconds"]] for r in res.log])


# ---------------------------------------------------------------------------------- SB3
def run_sb3(seed, steps):
    import torch
    from sb3_contrib import TRPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)

    class SolveTracker(BaseCallback):
        """Reads Monitor's infos[i]["episode"] after every vector-env step."""

        def __init__(self):
            super().__init__()
            self.returns, self.curve = [], []
            self.solved_step = self.solved_seconds = self.solved_cpu = None
            self.t0 = self.t_end = self.c0 = self.c_end = None

        def _on_training_start(self):
            self.t0 = time.perf_counter()
            self.c0 = time.process_time()

        def _on_step(self):
            for info in self.locals["infos"]:
                ep = info.get("episode")
                if ep is not None:
                    self.returns.append(float(ep["r"]))
                    if (self.solved_step is None and len(self.returns) >= WINDOW
                            and np.mean(self.returns[-WINDOW:]) >= THRESHOLD):
                        self.solved_step = int(self.num_timesteps)
                        self.solved_seconds = time.perf_counter() - self.t0
                        self.solved_cpu = time.process_time() - self.c0
            return True

        def _on_rollout_end(self):
            mean = float(np.mean(self.returns[-WINDOW:])) if self.returns else float("nan")
            self.curve.append([int(self.num_timesteps), mean, time.perf_counter() - self.t0])

        def _on_training_end(self):
            self.t_end = time.perf_counter()
            self.c_end = time.process_time()

    kw = dict(SB3_ZOO)
    n_envs, policy = kw.pop("n_envs"), kw.pop("policy")
    t0 = time.perf_counter()
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    model = TRPO(policy, env, seed=seed, device="cpu", verbose=0, **kw)
    cb = SolveTracker()
    model.learn(total_timesteps=steps, callback=cb)
    wall_call = time.perf_counter() - t0
    env.close()

    def act(obs):
        return int(model.predict(obs, deterministic=True)[0])

    returns = evaluate(act, seed)
    return dict(lib="sb3_contrib", seed=seed,
                solved_step=cb.solved_step, solved_seconds=cb.solved_seconds,
                solved_cpu=cb.solved_cpu,
                env_steps=int(model.num_timesteps), wall_train=cb.t_end - cb.t0,
                cpu_train=cb.c_end - cb.c0, wall_call=wall_call, episodes=len(cb.returns),
                eval_returns=returns, eval_mean=float(np.mean(returns)), curve=cb.curve)


RUNNERS = {"trpo_lite": run_trpo_lite, "trpo_lite_vector": run_trpo_lite_vector,
           "sb3_contrib": run_sb3}


def set_malloc_top_pad(nbytes=64 << 20):
    """glibc: keep ``nbytes`` of slack at the heap top instead of returning it to the OS."""
    import ctypes

    return ctypes.CDLL("libc.so.6").mallopt(-2, int(nbytes))       # M_TOP_PAD = -2


def worker(lib, seed, steps, mallopt):
    """One run in this (fresh) process; the result is printed as JSON on the last line."""
    import resource

    if mallopt:
        set_malloc_top_pad()
    if lib == "sb3_contrib":
        import torch
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    r = RUNNERS[lib](seed, steps)
    r["minor_page_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(json.dumps(r))


def run_in_subprocess(lib, seed, steps, mallopt):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", lib, str(seed), str(steps)]
    if mallopt:
        cmd.append("--mallopt")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ summary
def summarise(runs, lib, steps):
    mine = [r for r in runs if r["lib"] == lib]
    if not mine:
        return None
    solved = [r for r in mine if r["solved_step"] is not None]
    steps_to_solve = [r["solved_step"] if r["solved_step"] is not None else steps for r in mine]
    wall_to_solve = [r["solved_seconds"] if r["solved_seconds"] is not None else math.inf
                     for r in mine]
    cpu_to_solve = [r["solved_cpu"] if r["solved_cpu"] is not None else math.inf for r in mine]
    return dict(runs=len(mine), solved=len(solved),
                median_steps_to_solve=statistics.median(steps_to_solve),
                median_wall_to_solve=statistics.median(wall_to_solve),
                median_cpu_to_solve=statistics.median(cpu_to_solve),
                median_steps_to_solve_solved_only=(statistics.median([r["solved_step"] for r in solved])
                                                   if solved else None),
                median_wall_train=statistics.median([r["wall_train"] for r in mine]),
                median_cpu_train=statistics.median([r["cpu_train"] for r in mine]),
                median_eval_mean=statistics.median([r["eval_mean"] for r in mine]),
                eval_mean_of_means=float(np.mean([r["eval_mean"] for r in mine])))


def fmt(x, spec):
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return format(x, spec)


def print_table(runs):
    print(f"\n{'seed':>4}  {'library':<16} {'solved@step':>11} {'wall s':>7} {'cpu s':>6} "
          f"{'steps':>7} {'wall s':>7} {'cpu s':>6} {'episodes':>8} {'eval mean':>9} {'eval min':>8}")
    print(f"{'':>4}  {'':<16} {'':>11} {'-- to solve --':>14} {'-- whole run --':>22}")
    for r in sorted(runs, key=lambda r: (r["seed"], r["lib"] != "trpo_lite")):
        print(f"{r['seed']:>4}  {r['lib']:<16} {fmt(r['solved_step'], ','):>11} "
              f"{fmt(r['solved_seconds'], '.1f'):>7} {fmt(r['solved_cpu'], '.1f'):>6} "
              f"{r['env_steps']:>7,} {r['wall_train']:>7.1f} {r['cpu_train']:>6.1f} "
              f"{r['episodes']:>8} {r['eval_mean']:>9.1f} {min(r['eval_returns']):>8.0f}")


def print_summary(summary, steps):
    print(f"\nmedians over seeds (steps-to-solve counts a miss as {steps:,} steps, a lower bound; "
          "wall-to-solve counts a miss as inf)")
    print(f"{'library':<16} {'solved':>7} {'steps':>8} {'wall s':>7} {'cpu s':>6} "
          f"{'run wall s':>10} {'run cpu s':>9} {'eval':>6}")
    print(f"{'':<16} {'':>7} {'--- median to solve ---':>23} {'-- median whole run --':>22}")
    for lib, s in summary["libraries"].items():
        print(f"{lib:<16} {s['solved']:>3}/{s['runs']:<3} {fmt(s['median_steps_to_solve'], ',.0f'):>8} "
              f"{fmt(s['median_wall_to_solve'], '.2f'):>7} {fmt(s['median_cpu_to_solve'], '.2f'):>6} "
              f"{s['median_wall_train']:>10.1f} {s['median_cpu_train']:>9.1f} "
              f"{s['median_eval_mean']:>6.1f}")
    if "steps_to_solve_ratio" in summary:
        ratio = summary["wall_to_solve_ratio"]
        print("\nmedian wall-to-solve ratio trpo_lite / sb3_contrib = "
              + (format(ratio, ".3f") if ratio is not None else "undefined (a median is inf)"))
        ratio = summary["cpu_to_solve_ratio"]
        print("median CPU-to-solve ratio  trpo_lite / sb3_contrib = "
              + (format(ratio, ".3f") if ratio is not None else "undefined (a median is inf)"))
        print("median steps-to-solve ratio trpo_lite / sb3_contrib = "
              f"{summary['steps_to_solve_ratio']:.3f}")
    if "vector_wall_to_solve_ratio" in summary:
        ratio = summary["vector_wall_to_solve_ratio"]
        print("median wall-to-solve ratio trpo_lite_vector / sb3_contrib = "
              + (format(ratio, ".3f") if ratio is not None else "undefined (a median is inf)"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5 (default 0-9)")
    ap.add_argument("--steps", type=int, default=100_000, help="env steps per run (default 100000)")
    ap.add_argument("--libs", default="trpo_lite,trpo_lite_vector,sb3_contrib",
                    help="comma-separated subset of trpo_lite,trpo_lite_vector,sb3_contrib")
    ap.add_argument("--mallopt", action="store_true",
                    help="set glibc M_TOP_PAD=64MiB in every run (diagnostic; both libraries)")
    ap.add_argument("--out", default=str(RESULTS / "cartpole_vs_sb3.json"))
    ap.add_argument("--worker", nargs=3, metavar=("LIB", "SEED", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        lib, seed, steps = args.worker
        return worker(lib, int(seed), int(steps), args.mallopt)
    seeds = parse_seeds(args.seeds)
    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    for lib in libs:
        if lib not in RUNNERS:
            ap.error(f"unknown library {lib!r}; choose from {sorted(RUNNERS)}")

    import gymnasium  # noqa: F401  (for the versions in the metadata)

    import trpo_lite  # noqa: F401
    from trpo_lite.train import TrainConfig, config_from_dict, config_to_dict
    if "sb3_contrib" in libs:
        import sb3_contrib  # noqa: F401
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401

    meta = dict(machine_info(), env_id=ENV_ID, threshold=THRESHOLD, window=WINDOW,
                eval_episodes=EVAL_EPISODES, steps=args.steps, seeds=seeds,
                sb3_hyperparameters=SB3_ZOO, mallopt_top_pad=args.mallopt,
                trpo_lite_config=config_to_dict(TrainConfig()),
                trpo_lite_vector_config=config_to_dict(config_from_dict(VECTOR_CONFIG)))
    print(f"{ENV_ID}: {len(seeds)} seeds x {libs}, {args.steps:,} env steps each"
          f"{', glibc M_TOP_PAD=64MiB' if args.mallopt else ''}; "
          f"load average at start {meta.get('loadavg')}", flush=True)

    runs = []
    t_start = time.perf_counter()
    for seed in seeds:
        order = libs if seed % 2 == 0 else libs[::-1]
        for lib in order:
            r = run_in_subprocess(lib, seed, args.steps, args.mallopt)
            runs.append(r)
            print(f"  seed {seed} {lib:<16} solved@{fmt(r['solved_step'], ','):>7} steps "
                  f"{fmt(r['solved_seconds'], '.1f'):>6} s; {r['env_steps']:,} steps in "
                  f"{r['wall_train']:.1f} s ({r['cpu_train']:.1f} s CPU); eval {r['eval_mean']:.1f}",
                  flush=True)
            partial = dict(meta=meta, complete=False, runs=runs)
            write_json_atomic(args.out, partial)

    summary = {"libraries": {lib: summarise(runs, lib, args.steps) for lib in libs}}
    if "trpo_lite_vector" in libs and "sb3_contrib" in libs:
        a = summary["libraries"]["trpo_lite_vector"]["median_wall_to_solve"]
        b = summary["libraries"]["sb3_contrib"]["median_wall_to_solve"]
        summary["vector_wall_to_solve_ratio"] = (a / b) if math.isfinite(a) and math.isfinite(b) else None
    if {"trpo_lite", "sb3_contrib"} <= set(libs):
        a = summary["libraries"]["trpo_lite"]["median_wall_to_solve"]
        b = summary["libraries"]["sb3_contrib"]["median_wall_to_solve"]
        summary["wall_to_solve_ratio"] = (a / b) if math.isfinite(a) and math.isfinite(b) else None
        a = summary["libraries"]["trpo_lite"]["median_cpu_to_solve"]
        b = summary["libraries"]["sb3_contrib"]["median_cpu_to_solve"]
        summary["cpu_to_solve_ratio"] = (a / b) if math.isfinite(a) and math.isfinite(b) else None
        a = summary["libraries"]["trpo_lite"]["median_steps_to_solve"]
        b = summary["libraries"]["sb3_contrib"]["median_steps_to_solve"]
        summary["steps_to_solve_ratio"] = a / b
    meta["loadavg_end"] = list(os.getloadavg())
    meta["total_seconds"] = time.perf_counter() - t_start

    print_table(runs)
    print_summary(summary, args.steps)
    print(f"\nload average at end {[round(x, 2) for x in meta['loadavg_end']]}; "
          f"total {meta['total_seconds']:.0f} s")
    path = write_json_atomic(args.out, dict(meta=meta, complete=True, summary=summary, runs=runs))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
