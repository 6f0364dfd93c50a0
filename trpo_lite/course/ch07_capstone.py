"""Notebook 07, exercise 4 (the capstone): the self-checks of a TRPO update assembled by the student.

The student's ``my_trpo_update(policy, theta, batch, delta, cg_iters, damping) -> (theta_new,
attempts)`` is built from their own conjugate gradient (exercise 04: ``my_cg``) and line search
(exercise 06: ``line_search``) around the library's gradient, Fisher-vector product, surrogate
and KL. ``check_trpo_update`` compares it with ``algos.trpo_update`` on the same batches;
``train_with_update`` is ``train("trpo")``'s loop with the student's update in place of the
library's; ``check_training_run`` compares a short CartPole run made with it against
``train("trpo")`` with the same seed and settings, and checks that the run learned.
"""
from __future__ import annotations

import numpy as np

from .. import algos
from ..fisher import make_fisher_vector_product
from ..mlp import MLP
from ..policies import CategoricalPolicy, make_policy
from ..rollout import Sampler, make_batch
from ..threads import limited_threads
from ..train import RETURN_WINDOW, TrainConfig, start_run, train
from ..validate import check_callable
from .checking import call_student, compare_with_hints, not_implemented, report

NAME = "TRPO update"


def rollout_batch(policy, theta, env_id, n_envs, steps, seed):
    """One batch of ``n_envs * steps`` samples from ``env_id`` under ``policy`` at ``theta`` (V = 0)."""
    rng = np.random.default_rng(seed)
    sampler = Sampler(env_id, n_envs=n_envs, seed=seed)
    try:
        return make_batch(policy, theta, sampler.run(policy, theta, steps, rng), None,
                          gamma=0.99, lam=0.97)
    finally:
        sampler.close()


def update_cases(seed=2010):
    """(label, (policy, theta, batch, delta, cg_iters, damping)): a CartPole batch at the course's
    settings (accepted at once), two that make the line search backtrack (a larger delta, little
    damping, a short CG), and a diagonal-Gaussian policy on Pendulum-v1."""
    rng = np.random.default_rng(seed)
    cartpole = CategoricalPolicy(MLP((4, 16, 2)))
    cases = []
    for label, scale, delta, cg_iters, damping in (
            ("CartPole, 16-unit policy at its initialisation, delta 0.02, 10 CG iterations, damping 0.1",
             0.0, 0.02, 10, 0.1),
            ("CartPole, a trained-looking policy, delta 0.2, damping 1e-3 (the line search backtracks)",
             0.5, 0.2, 10, 1e-3),
            ("CartPole, delta 0.5, only 3 CG iterations, damping 1e-3 (the line search backtracks)",
             1.0, 0.5, 3, 1e-3)):
        theta = cartpole.init(rng) + scale * rng.standard_normal(cartpole.n_params)
        batch = rollout_batch(cartpole, theta, "CartPole-v1", 2, 200, seed=3)
        cases.append((label, (cartpole, theta, batch, delta, cg_iters, damping)))
    sampler = Sampler("Pendulum-v1", n_envs=1, seed=4)
    gauss = make_policy(sampler.observation_space, sampler.action_space, hidden=(8,))
    sampler.close()
    theta = gauss.init(rng)
    cases.append(("Pendulum-v1, diagonal-Gaussian policy, 200 samples, delta 0.05",
                  (gauss, theta, rollout_batch(gauss, theta, "Pendulum-v1", 1, 200, seed=4), 0.05, 10, 0.1)))
    return cases


def reference_update(policy, theta, batch, delta, cg_iters, damping):
    """``algos.trpo_update`` with the course's line-search defaults: (theta_new, n_attempts)."""
    info = algos.trpo_update(policy, theta, batch, delta=delta, cg_iters=cg_iters, damping=damping)
    return info.theta, len(info.line_search.attempts)


def _assembled(adv_fn=algos.normalized, kl_reversed=False, scale_step=True, use_damping=True):
    """A TRPO update from the library's parts with one known mistake switched on (the hints)."""
    from ..cg import conjugate_gradient
    from ..linesearch import backtracking_line_search

    def update(policy, theta, batch, delta, cg_iters, damping):
        adv = adv_fn(batch.advantages)
        g = algos.policy_gradient(policy, theta, batch, adv)
        fvp = make_fisher_vector_product(policy, theta, batch.obs, damping if use_damping else 0.0)
        x = conjugate_gradient(fvp, g, max_iter=cg_iters).x
        full_step = np.sqrt(2 * delta / (x @ fvp(x))) * x if scale_step else x
        kl = ((lambda t: policy.kl(t, theta, batch.obs)) if kl_reversed
              else (lambda t: policy.kl(theta, t, batch.obs)))
        return backtracking_line_search(theta, full_step, lambda t: algos.surrogate(policy, t, batch, adv),
                                        kl, max_kl=delta).theta
    return update


MISTAKES = [
    ("the advantages are not normalised: the library's update uses adv = algos.normalized(batch.advantages) "
     "in the gradient and in the surrogate", _assembled(adv_fn=lambda a: a)),
    ("the KL is reversed: TRPO's constraint is KL(pi_old || pi_new), policy.kl(theta_old, theta_new, obs)",
     _assembled(kl_reversed=True)),
    ("the CG direction x is used as the full step: scale it by sqrt(2 delta / x^T F x) first",
     _assembled(scale_step=False)),
    ("the damping is missing: CG and x^T F x both use make_fisher_vector_product(..., damping)",
     _assembled(use_damping=False)),
]


def check_trpo_update(student_fn):
    """Capstone: ``student_fn(policy, theta, batch, delta, cg_iters, damping) -> (theta_new, attempts)``.

    ``theta_new`` is compared with ``algos.trpo_update(...).theta`` on 4 batches (CartPole at the
    course's settings; two where the line search backtracks; a Gaussian policy on Pendulum-v1),
    to a relative 1e-6 (the two differ only in round-off); then the number of line-search
    attempts is compared with the library's.
    """
    cases = update_cases()
    theta_of = lambda *args: student_fn(*args)[0]        # the comparison is on theta
    compare_with_hints(f"{NAME} (theta_new)", theta_of, lambda *args: reference_update(*args)[0],
                       cases, MISTAKES, rtol=1e-6, atol=1e-9)
    problems = []
    for label, args in cases:
        attempts, (_, n_ref) = student_fn(*args)[1], reference_update(*args)
        if len(attempts) != n_ref:
            problems.append(f"[{label}] your line search made {len(attempts)} attempt(s), the library's "
                            f"{n_ref}: check backtrack_coef 0.8 and max_backtracks 10")
    report(f"{NAME} (line-search attempts)", problems, len(cases))


def train_with_update(update_fn, seed=0, total_steps=12_000, config=None, env_id="CartPole-v1"):
    """``train("trpo", env_id, seed, total_steps, config)`` with ``update_fn(policy, theta, batch,
    delta, cg_iters, damping) -> (theta_new, attempts)`` as the policy update.

    The same steps in the same order as ``train`` (sampler, policy and value initialisation from
    one generator; rollout, GAE, update, value fit; one BLAS thread), so with the library's update
    it reproduces ``train("trpo")``'s log. ``config`` must keep the line search's defaults
    (backtrack_coef 0.8, max_backtracks 10, the full batch for F): the student's update has no
    knobs for them. Returns one dict per iteration with "iteration", "env_steps", "mean_return",
    "line_search_attempts". A stub that raises NotImplementedError fails as "not implemented yet".
    """
    check_callable(update_fn, "update_fn", "(policy, theta, batch, delta, cg_iters, damping) -> (theta_new, attempts)")
    cfg = config or TrainConfig()
    default = TrainConfig()
    changed = [k for k in ("backtrack_coef", "max_backtracks", "ls_rule", "fisher_subsample", "normalize_advantages")
               if getattr(cfg, k) != getattr(default, k)]
    if changed:
        raise ValueError(f"train_with_update needs the default {changed} (the capstone update has no such knob)")
    with limited_threads():
        rng, sampler, policy, theta, vf, phi = start_run(env_id, seed, cfg)
        rows, returns = [], []
        try:
            while sampler.total_steps < total_steps:
                traj = sampler.run(policy, theta, cfg.steps_per_env, rng)
                batch = make_batch(policy, theta, traj, lambda o: vf(phi, o), cfg.gamma, cfg.lam)
                returns += traj.episode_returns
                theta, attempts = call_student("capstone training run (my_trpo_update)", update_fn, policy, theta,
                                               batch, cfg.delta, cfg.cg_iters, cfg.damping)
                phi = vf.fit(phi, batch.obs, batch.returns, iters=cfg.value_iters)
                rows.append(dict(iteration=len(rows) + 1, env_steps=sampler.total_steps,
                                 mean_return=float(np.mean(returns[-RETURN_WINDOW:])) if returns else float("nan"),
                                 line_search_attempts=len(attempts)))
        finally:
            sampler.close()
    return rows


def check_training_run(rows, seed, config, min_gain=2.0):
    """Capstone run: ``rows`` (one dict per iteration with "env_steps", "mean_return") of a short
    CartPole-v1 run with the student's update must retrace ``train("trpo", ...)`` with the same
    ``seed`` and ``config`` (env steps exactly, returns to a relative 1e-6), and the last
    iteration's mean return must be at least ``min_gain`` times the first one's. Returns the
    log of the library's run (to plot against).
    """
    if not rows:
        raise not_implemented("capstone training run")
    reference = train("trpo", "CartPole-v1", seed=seed, total_steps=rows[-1]["env_steps"],
                      config=config).log
    problems = []
    if [r["env_steps"] for r in rows] != [r["env_steps"] for r in reference]:
        problems.append("the env steps per iteration differ from train('trpo'): did the loop change?")
    else:
        mine = np.array([r["mean_return"] for r in rows], dtype=float)
        theirs = np.array([r["mean_return"] for r in reference], dtype=float)
        differ = np.flatnonzero(~np.isclose(mine, theirs, rtol=1e-6, atol=0))
        if differ.size:
            problems.append(f"the mean return first differs from train('trpo') at iteration {differ[0] + 1}: "
                            f"{mine[differ[0]]:.1f} against {theirs[differ[0]]:.1f}")
    first, last = rows[0]["mean_return"], rows[-1]["mean_return"]
    if not last >= min_gain * first:
        problems.append(f"the run did not learn: mean return {first:.1f} -> {last:.1f}, "
                        f"less than {min_gain:g} x the first")
    report("capstone training run", problems, 2)
    return reference

