"""One BLAS/OpenMP thread while trpo_lite trains or times something, unless asked otherwise.

trpo_lite's matrices are small (a batch of 1000 states times layers of 32 units, Fisher
matrices of a few hundred parameters), so a second BLAS thread has almost nothing to do:
handing each tiny product to it and waiting for it back costs far more than it saves, all
the more on a busy machine. On two cores, ``python -m trpo_lite train --steps 10000`` took
14-16 s with OpenBLAS's default thread count against 0.4-0.6 s with one thread, and
``train('trpo', 'CartPole-v1', 0, 20000)`` 20 s against 1.7 s. The Makefile exports
OPENBLAS_NUM_THREADS=1, but a plain shell, conda or Binder does not, so the library sets the
thread count itself with ``threadpoolctl`` (which changes it in the already loaded libraries;
no environment variable has to be set before numpy is imported).

``TRPO_LITE_THREADS`` chooses the limit, read each time a limited block is entered:

* unset or empty: 1 thread (the default; the numbers the notebooks record);
* a positive integer n: n threads;
* ``all``: leave the thread pools as they are (OpenBLAS's own default, or whatever
  OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / an outer ``threadpool_limits`` set).

The limit covers the BLAS pools (numpy's and scipy's OpenBLAS, MKL, ...) and OpenMP pools
loaded when the block is entered, and the previous limits are restored when it is left, also
on an exception; nesting is harmless (the inner block restores the outer block's limit). With
one thread the results are bit for bit those of OPENBLAS_NUM_THREADS=1 (the recorded ones);
with more, floating-point sums may be split differently, which moves the last digits.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

ENV_VAR = "TRPO_LITE_THREADS"
DEFAULT_THREADS = 1
ALL = "all"


def thread_limit():
    """The thread count ``TRPO_LITE_THREADS`` asks for: an int >= 1, or None for ``all``.

    Raises ValueError, naming the variable and the allowed values, for anything else.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_THREADS
    if raw.lower() == ALL:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer (threads per BLAS/OpenMP pool) "
                         f"or {ALL!r} (leave the pools alone), got {raw!r}")
    return n


@contextmanager
def limited_threads():
    """Limit every BLAS and OpenMP pool to ``thread_limit()`` threads inside the block.

    Yields the limit (None: pools left alone). Also a decorator, ``@limited_threads()``,
    which reads TRPO_LITE_THREADS again at every call.
    """
    n = thread_limit()
    if n is None:
        yield None
        return
    with threadpool_limits(limits=n):
        yield n


def keep_freed_memory():
    """Ask glibc to keep 64 MiB of freed heap (M_TOP_PAD) instead of handing it back to the OS.

    Every training iteration allocates the same large temporary arrays; returning their pages
    and faulting them in again cost about a third of the CPU time (benchmarks/README.md). The
    Makefile exports MALLOC_TOP_PAD_ for the same effect, a plain shell does not, so ``train``
    calls this itself (once per process; later calls do nothing). Results are unchanged: only
    when freed memory goes back to the OS changes. A no-op where glibc is not the C library.
    """
    global _KEPT
    if _KEPT:
        return
    _KEPT = True
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-2, 64 << 20)          # -2 = M_TOP_PAD
    except (OSError, AttributeError):
        pass


_KEPT = False
