#!/usr/bin/env python3
"""Wall time of one policy update, TRPO against PPO (and NPG's explicit F), as the network grows.

    python benchmarks/update_cost.py            # about 2 minutes; writes data/update_cost.json
    python benchmarks/update_cost.py --quick    # a few seconds, small sizes (smoke test)

For softmax policies with two tanh hidden layers of width h (obs_dim 4, 2 actions, so
n_params = h^2 + 8 h + 2, from 130 to about 10^5) and one fixed CartPole-v1 batch of N = 1000
samples, it times one update of each algorithm with the course's defaults (``TrainConfig``):

* TRPO  ``algos.trpo_update``: one gradient, at most ``cg_iters`` = 10 CG iterations (CG stops
        earlier at its residual tolerance; the file records how many it took), each one
        Fisher-vector product (a forward-mode and a reverse-mode pass over the whole batch),
        then the line search's forward passes (surrogate and KL per attempt);
* PPO   ``algos.ppo_update``: ``ppo_epochs`` = 10 epochs x 4 minibatches of 256 = 40 Adam
        steps, each a forward and a reverse pass over one minibatch;
* NPG   ``algos.npg_update``: the explicit F (O(N n^2) time, n^2 floats of memory) and a
        direct solve (O(n^3)); skipped once its predicted time exceeds ``--explicit-budget``.

It also times one Fisher-vector product alone and one gradient alone at every size (the unit
costs the notebook's cost model uses). Each time is the minimum over ``--repeats`` runs,
interleaved between the algorithms so that a busy machine slows them alike. Notebook 07 plots
the file; it never prints the timings, which differ between machines.

The same batch at every size: states, actions and advantages come from one rollout (the
16-unit policy, 4 environments x 250 steps, GAE with V = 0); log pi_old is recomputed for each
policy at its own initial parameters.

One BLAS/OpenMP thread by default, like the recorded notebooks (trpo_lite's
``limited_threads``; ``TRPO_LITE_THREADS=4`` times four threads). Writes data/update_cost.json
(the notebook's copy) and benchmarks/results/update_cost.json (the same numbers and the
machine they came from), both atomically.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import RESULTS, machine_info, write_json_atomic

from trpo_lite import algos
from trpo_lite.config import DEFAULTS
from trpo_lite.data import save_json
from trpo_lite.fisher import make_fisher_vector_product
from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy
from trpo_lite.rollout import Sampler, make_batch
from trpo_lite.threads import limited_threads

COMMAND = "python benchmarks/update_cost.py"
FILENAME = "update_cost.json"
OBS_DIM, N_ACTIONS = 4, 2
HIDDEN = (8, 16, 32, 64, 128, 256, 384)          # n_params 130 ... 150 530
QUICK_HIDDEN = (8, 16, 32)


def policy_of_width(h):
    """The (OBS_DIM, h, h, N_ACTIONS) tanh softmax policy."""
    return CategoricalPolicy(MLP((OBS_DIM, h, h, N_ACTIONS)))


def cartpole_batch(seed, n_envs=4, steps_per_env=250):
    """One CartPole-v1 batch (N = n_envs * steps_per_env) from a 16-unit policy, V = 0."""
    rng = np.random.default_rng(seed)
    policy = policy_of_width(16)
    theta = policy.init(rng)
    sampler = Sampler("CartPole-v1", n_envs=n_envs, seed=seed)
    batch = make_batch(policy, theta, sampler.run(policy, theta, steps_per_env, rng), None,
                       gamma=DEFAULTS.gamma, lam=DEFAULTS.lam)
    sampler.close()
    return batch


def one_of_each(policy, theta, batch, seed):
    """{name: zero-argument callable} for every timed operation at one size."""
    fvp = make_fisher_vector_product(policy, theta, batch.obs, DEFAULTS.damping)
    v = np.random.default_rng(seed).standard_normal(policy.n_params)
    return {
        "trpo": lambda: algos.trpo_update(policy, theta, batch),
        "ppo": lambda: algos.ppo_update(policy, theta, batch, algos.Adam(lr=DEFAULTS.ppo_lr),
                                        rng=np.random.default_rng(seed)),
        "npg": lambda: algos.npg_update(policy, theta, batch),
        "fvp": lambda: fvp(v),
        "gradient": lambda: algos.policy_gradient(policy, theta, batch, batch.advantages),
    }


def run(hidden, batch, repeats, explicit_budget, seed):
    rows = []
    skip_npg = False
    for h in hidden:
        policy = policy_of_width(h)
        theta = policy.init(np.random.default_rng(seed))
        sized = replace(batch, log_prob_old=policy.log_prob(theta, batch.obs, batch.actions))
        ops = one_of_each(policy, theta, sized, seed)
        if skip_npg:
            del ops["npg"]
        times = {name: [] for name in ops}
        results = {}
        for _ in range(repeats):                       # interleaved: load affects all alike
            for name, fn in ops.items():
                t0 = time.perf_counter()
                results[name] = fn()
                times[name].append(time.perf_counter() - t0)
        n = policy.n_params
        trpo_info = results["trpo"]
        row = {"hidden": h, "n_params": n, "fisher_megabytes": n * n * 8 / 1e6,
               **{f"{name}_s": min(t) for name, t in times.items()},
               "cg_iterations": trpo_info.cg_iterations,
               "line_search_attempts": len(trpo_info.line_search.attempts),
               "ppo_adam_steps": DEFAULTS.ppo_epochs * -(-len(batch) // DEFAULTS.ppo_minibatch)}
        row.setdefault("npg_s", None)
        rows.append(row)
        print(format_row(row), flush=True)
        nxt = hidden[hidden.index(h) + 1] if h != hidden[-1] else None
        if not skip_npg and nxt is not None:
            predicted = row["npg_s"] * (policy_of_width(nxt).n_params / n) ** 3
            skip_npg = predicted > explicit_budget
    return rows


HEADER = (f"{'hidden':>6} {'n_params':>8} {'F (MB)':>9} {'TRPO ms':>9} {'PPO ms':>9} "
          f"{'PPO/TRPO':>9} {'NPG ms':>9} {'FVP ms':>8} {'grad ms':>8}")


def format_row(row):
    npg = f"{1e3 * row['npg_s']:.1f}" if row["npg_s"] is not None else "skipped"
    return (f"{row['hidden']:>6} {row['n_params']:>8} {row['fisher_megabytes']:>9.1f} "
            f"{1e3 * row['trpo_s']:>9.1f} {1e3 * row['ppo_s']:>9.1f} "
            f"{row['ppo_s'] / row['trpo_s']:>9.2f} {npg:>9} {1e3 * row['fvp_s']:>8.2f} "
            f"{1e3 * row['gradient_s']:>8.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats, min is kept")
    parser.add_argument("--explicit-budget", type=float, default=20.0,
                        help="skip NPG's explicit F once one update is predicted to take longer (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where to write (default: the repo's data/)")
    parser.add_argument("--out", default=str(RESULTS / FILENAME), help="the results file")
    args = parser.parse_args(argv)
    hidden = QUICK_HIDDEN if args.quick else HIDDEN

    t_start = time.perf_counter()
    with limited_threads() as threads:
        batch = cartpole_batch(args.seed)
        print(f"update cost: N={len(batch)} CartPole-v1 samples, two tanh layers of width h, "
              f"course defaults, min of {args.repeats} repeats, BLAS threads={threads}")
        print(HEADER)
        rows = run(hidden, batch, args.repeats, args.explicit_budget, args.seed)
    wall = time.perf_counter() - t_start

    payload = {"n_samples": len(batch), "obs_dim": OBS_DIM, "n_actions": N_ACTIONS,
               "repeats": args.repeats, "cg_iters": DEFAULTS.cg_iters, "damping": DEFAULTS.damping,
               "delta": DEFAULTS.delta, "ppo_epochs": DEFAULTS.ppo_epochs,
               "ppo_minibatch": DEFAULTS.ppo_minibatch,
               **{key: [r[key] for r in rows] for key in rows[0]}}
    meta = {"blas_threads": str(threads), "wall_time_s": round(wall, 1)}
    path = save_json(FILENAME, payload, COMMAND, seeds=(args.seed,), data_dir=args.data_dir, **meta)
    write_json_atomic(args.out, {"meta": machine_info(), "payload": payload})
    print(f"wrote {path} and {args.out} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
