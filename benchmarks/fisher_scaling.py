#!/usr/bin/env python3
"""Problem 3b, measured: the explicit Fisher matrix vs conjugate gradient on F v products.

    python benchmarks/fisher_scaling.py            # under a minute; writes data/fisher_scaling.json
    python benchmarks/fisher_scaling.py --quick    # a few seconds, small sizes (smoke test)

For softmax policies with two tanh hidden layers of width h (obs_dim 4, 2 actions, so
n_params = h^2 + 8 h + 2) on one fixed batch of states, it times the two ways to get the
natural-gradient direction x ~ (F + damping I)^-1 g:

* explicit: build F = mean_s J^T M J with ``fisher_analytic`` (O(N n^2) time, n^2 memory),
  add damping, and ``np.linalg.solve`` (O(n^3));
* CG: ``make_fisher_vector_product`` and ``cg_iters`` iterations of ``conjugate_gradient``
  (O(cg_iters N n) time, O(n) memory), as TRPO does.

Each time is the minimum over ``--repeats`` runs. The explicit method is skipped once its
predicted time (the last measured time times (n / n_last)^3) exceeds ``--explicit-budget``
seconds; for every size the JSON also stores the cost model c_build n^2 + c_solve n^3 fitted
to the largest measured sizes (the build is O(N n^2) at fixed N, the solve O(n^3)).
Notebook 04 plots the file (it never prints the timings, which differ between machines).

One BLAS/OpenMP thread by default (like the recorded notebooks): the timings run inside
trpo_lite's ``limited_threads`` (trpo_lite/threads.py); ``TRPO_LITE_THREADS=4`` times four
threads, ``TRPO_LITE_THREADS=all`` whatever OPENBLAS_NUM_THREADS etc. give (default 1 here).
The count in effect is printed and stored as ``blas_threads``.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported

import argparse
import platform
import sys
import time

import numpy as np

from trpo_lite.cg import conjugate_gradient
from trpo_lite.data import save_json
from trpo_lite.fisher import fisher_analytic, make_fisher_vector_product
from trpo_lite.mlp import MLP
from trpo_lite.policies import CategoricalPolicy
from trpo_lite.threads import limited_threads

COMMAND = "python benchmarks/fisher_scaling.py"
FILENAME = "fisher_scaling.json"
OBS_DIM, N_ACTIONS = 4, 2
HIDDEN = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)     # n_params 130 ... 67 586
QUICK_HIDDEN = (8, 16, 32)


def n_params(h):
    """Parameters of the (OBS_DIM, h, h, N_ACTIONS) tanh MLP."""
    return MLP((OBS_DIM, h, h, N_ACTIONS)).n_params


def best_time(fn, repeats):
    """Minimum wall time of ``repeats`` calls to ``fn`` and its last result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def explicit_direction(policy, theta, obs, g, damping):
    """x = (F + damping I)^-1 g with F built explicitly and a direct solve; returns (x, t_build)."""
    t0 = time.perf_counter()
    F = fisher_analytic(policy, theta, obs)
    F[np.diag_indices_from(F)] += damping
    t_build = time.perf_counter() - t0
    return np.linalg.solve(F, g), t_build


def cg_direction(policy, theta, obs, g, damping, cg_iters):
    """x ~ (F + damping I)^-1 g from ``cg_iters`` CG iterations on Fisher-vector products."""
    fvp = make_fisher_vector_product(policy, theta, obs, damping)
    return conjugate_gradient(fvp, g, max_iter=cg_iters, tol=1e-12).x


def blas_thread_count():
    """Threads of numpy's BLAS pool(s) as set now, e.g. "1" (a string, as in the data file)."""
    from threadpoolctl import threadpool_info

    counts = sorted({d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"})
    return ",".join(str(c) for c in counts) or os.environ["OPENBLAS_NUM_THREADS"]


def power_law_fit(n, t):
    """Least-squares fit log t = a + p log n; returns (a, p)."""
    p, a = np.polyfit(np.log(n), np.log(t), 1)
    return float(a), float(p)


def run(hidden, n_states, repeats, damping, cg_iters, explicit_budget, seed):
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((n_states, OBS_DIM))
    advantages = rng.standard_normal(n_states)
    rows = []
    skip_explicit = False
    for h in hidden:
        policy = CategoricalPolicy(MLP((OBS_DIM, h, h, N_ACTIONS)))
        theta = policy.net.init(rng, out_scale=1.0)   # not near-uniform: a non-trivial F
        actions = policy.sample(theta, obs, rng)
        g = policy.grad_log_prob(theta, obs, actions, advantages)
        P = policy.n_params
        row = {"hidden": h, "n_params": P, "fisher_megabytes": P * P * 8 / 1e6,
               "explicit_s": None, "explicit_build_s": None, "cg_rel_error": None}

        t_cg, x_cg = best_time(lambda: cg_direction(policy, theta, obs, g, damping, cg_iters), repeats)
        row["cg_s"] = t_cg

        if not skip_explicit:
            builds = []

            def explicit():
                x, t_build = explicit_direction(policy, theta, obs, g, damping)
                builds.append(t_build)
                return x

            t_explicit, x_exact = best_time(explicit, repeats)
            row["explicit_s"], row["explicit_build_s"] = t_explicit, min(builds)
            row["cg_rel_error"] = float(np.linalg.norm(x_cg - x_exact) / np.linalg.norm(x_exact))
            last = row
        rows.append(row)
        nxt = hidden[hidden.index(h) + 1] if h != hidden[-1] else None
        if not skip_explicit and nxt is not None:
            predicted = last["explicit_s"] * (n_params(nxt) / P) ** 3
            skip_explicit = predicted > explicit_budget
        print(format_row(row), flush=True)
    return rows


HEADER = (f"{'hidden':>6} {'n_params':>8} {'F (MB)':>9} {'explicit F+solve':>17} "
          f"{'of which build':>15} {'CG (FVP)':>10} {'speed-up':>9} {'CG vs exact':>12}")


def format_row(row):
    def sec(t):
        return f"{t:.4f} s" if t is not None else "skipped"

    speedup = f"{row['explicit_s'] / row['cg_s']:.1f}x" if row["explicit_s"] else "-"
    err = f"{row['cg_rel_error']:.1e}" if row["cg_rel_error"] is not None else "-"
    return (f"{row['hidden']:>6} {row['n_params']:>8} {row['fisher_megabytes']:>9.1f} "
            f"{sec(row['explicit_s']):>17} {sec(row['explicit_build_s']):>15} "
            f"{sec(row['cg_s']):>10} {speedup:>9} {err:>12}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--states", type=int, default=1000, help="batch size N (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, min is kept")
    parser.add_argument("--damping", type=float, default=0.1, help="lambda in F + lambda I")
    parser.add_argument("--cg-iters", type=int, default=10, help="CG iterations (TRPO: 10)")
    parser.add_argument("--explicit-budget", type=float, default=10.0,
                        help="skip the explicit method once one run is predicted to take longer (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where to write (default: the repo's data/)")
    args = parser.parse_args(argv)
    hidden = QUICK_HIDDEN if args.quick else HIDDEN

    t_start = time.perf_counter()
    with limited_threads():
        blas_threads = blas_thread_count()
        print(f"Fisher scaling: N={args.states} states, obs_dim={OBS_DIM}, {N_ACTIONS} actions, "
              f"damping={args.damping}, CG iterations={args.cg_iters}, min of {args.repeats} "
              f"repeats, BLAS threads={blas_threads}")
        print(HEADER)
        rows = run(hidden, args.states, args.repeats, args.damping, args.cg_iters,
                   args.explicit_budget, args.seed)

    # cost model of the explicit method, fitted on the large measured sizes (n_params >= 1000):
    # build F = J^T M J ~ c_build * n^2 (N fixed), solve ~ c_solve * n^3
    measured = [r for r in rows if r["explicit_s"] is not None]
    fit_rows = [r for r in measured if r["n_params"] >= 1000] or measured[-2:]
    c_build = float(np.median([r["explicit_build_s"] / r["n_params"] ** 2 for r in fit_rows]))
    c_solve = float(np.median([(r["explicit_s"] - r["explicit_build_s"]) / r["n_params"] ** 3
                               for r in fit_rows]))
    cg_rows = [r for r in rows if r["n_params"] >= 1000]
    cg_rows = cg_rows if len(cg_rows) >= 2 else rows[-2:]
    cg_a, cg_p = power_law_fit([r["n_params"] for r in cg_rows], [r["cg_s"] for r in cg_rows])
    wall = time.perf_counter() - t_start

    payload = {
        "n_states": args.states, "obs_dim": OBS_DIM, "n_actions": N_ACTIONS,
        "damping": args.damping, "cg_iters": args.cg_iters, "repeats": args.repeats,
        "hidden": [r["hidden"] for r in rows],
        "n_params": [r["n_params"] for r in rows],
        "fisher_megabytes": [r["fisher_megabytes"] for r in rows],
        "cg_s": [r["cg_s"] for r in rows],
        "explicit_s": [r["explicit_s"] for r in rows],
        "explicit_build_s": [r["explicit_build_s"] for r in rows],
        "cg_rel_error": [r["cg_rel_error"] for r in rows],
        "explicit_model": {"c_build": c_build, "c_solve": c_solve,
                           "formula": "c_build * n_params**2 + c_solve * n_params**3",
                           "fitted_on_n_params": [r["n_params"] for r in fit_rows]},
        "explicit_extrapolated_s": [c_build * r["n_params"] ** 2 + c_solve * r["n_params"] ** 3
                                    for r in rows],
        "cg_fit": {"log_coef": cg_a, "exponent": cg_p,
                   "fitted_on_n_params": [r["n_params"] for r in cg_rows]},
    }
    path = save_json(FILENAME, payload, command=COMMAND + (" --quick" if args.quick else ""),
                     seeds=[args.seed], data_dir=args.data_dir,
                     numpy_version=np.__version__, python_version=platform.python_version(),
                     blas_threads=blas_threads, wall_time_s=round(wall, 1))
    print(f"explicit model: {c_build:.3g} n^2 (build) + {c_solve:.3g} n^3 (solve) s, fitted on n_params "
          f"{payload['explicit_model']['fitted_on_n_params']}; CG time ~ n_params^{cg_p:.2f}")
    for r, t in zip(rows, payload["explicit_extrapolated_s"]):
        if r["explicit_s"] is None:
            print(f"  n_params {r['n_params']:>6}: explicit skipped, model predicts {t:.0f} s "
                  f"and {r['fisher_megabytes'] / 1e3:.1f} GB for F")
    print(f"wrote {path} in {wall:.1f} s")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
