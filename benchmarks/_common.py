"""Shared helpers for the benchmark scripts (not part of the library, not run in CI)."""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

# One BLAS/OpenMP thread everywhere, as in the recorded notebooks. Import this module (or set
# these yourself) *before* numpy/torch are imported. trpo_lite's train() and the scripts' timed
# trpo_lite code also limit the loaded BLAS pools themselves (trpo_lite/threads.py;
# TRPO_LITE_THREADS=n times n threads instead).
# The configs the benchmarks compare with the defaults (TrainConfig overrides, issue 13). Since
# 2026-12-03 the defaults step gymnasium's NumPy-vectorised CartPole, 16 envs x 64 steps (VECTOR
# spells that out); LOCKSTEP is the defaults before, 4 separate envs x 250 steps. VECTOR_FS4 adds
# Fisher-vector products on every 4th state, VECTOR_FAST also 5 instead of 10 L-BFGS iterations
# of the value fit. All solve CartPole on 10/10 seeds (benchmarks/results/steps_to_solve.json).
LOCKSTEP = {"vector_env": False, "n_envs": 4, "steps_per_env": 250}
VECTOR = {"vector_env": True, "n_envs": 16, "steps_per_env": 64}
VECTOR_FS4 = {**VECTOR, "fisher_subsample": 4}
VECTOR_FAST = {**VECTOR_FS4, "value_iters": 5}

SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def single_thread():
    for k, v in SINGLE_THREAD_ENV.items():
        os.environ[k] = v


def machine_info():
    """Where and when the numbers were taken (load average: was the machine quiet?)."""
    info = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "argv": sys.argv}
    try:
        info["loadavg"] = list(os.getloadavg())
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["threads"] = thread_info()
    for name in ("numpy", "scipy", "gymnasium", "torch", "stable_baselines3", "sb3_contrib",
                 "trpo_lite", "nbclient", "nbval"):
        mod = sys.modules.get(name)
        if mod is not None:
            info.setdefault("versions", {})[name] = getattr(mod, "__version__", "?")
    return info


def thread_info():
    """TRPO_LITE_THREADS and the thread count of every loaded BLAS/OpenMP pool, as set now."""
    from threadpoolctl import threadpool_info

    pools = [{k: d.get(k) for k in ("internal_api", "num_threads", "version")}
             for d in threadpool_info()]
    return {"TRPO_LITE_THREADS": os.environ.get("TRPO_LITE_THREADS"), "pools": pools}


def _clean(x):
    """JSON without NaN/inf: non-finite floats become null (documented in the README)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item"):                         # numpy scalars
        return _clean(x.item())
    return x


def write_json_atomic(path, doc):
    """Write ``doc`` (NaN/inf as null) to ``path`` atomically, with the library's one writer."""
    from trpo_lite.data import write_json_atomic as write  # imported late: numpy after the env vars

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, _clean(doc))


def parse_seeds(text):
    """'0-9' -> [0..9]; '0,3,5' -> [0, 3, 5]; '0-2,7' -> [0, 1, 2, 7]."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            seeds.extend(range(int(a), int(b) + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds gave no seeds: {text!r}")
    return seeds
