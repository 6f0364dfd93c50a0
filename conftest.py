"""The course's test configuration, for `pytest --nbval` from the repository root.

An instructor's plain `pytest --nbval` (and `make test`, which calls the same pytest) runs the
unit tests and every notebook (``testpaths`` in pyproject.toml) under one configuration:

- the notebooks are compared with the project's sanitize file, ``nbval_sanitize.cfg``, in a
  kernel of the interpreter running pytest (``--nbval-current-env``);
- the kernels inherit what the outputs were recorded with: seeded hashing, one BLAS/OpenMP
  thread, the inline matplotlib backend (no ``MPLBACKEND``), and throw-away Jupyter, IPython
  and matplotlib config folders, so nothing in the user's home (startup files, a
  matplotlibrc, kernelspecs) changes what a notebook prints;
- the unit tests in this process run with one BLAS thread too.

Which OpenBLAS kernel and which SIMD paths run (``OPENBLAS_CORETYPE``,
``NPY_DISABLE_CPU_FEATURES``) is left as the machine has it: the notebooks print only digits
that survive such a change (README, "The numbers contract"), and CI checks three such
configurations (scripts/check_portability.sh).
"""
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# What every notebook kernel inherits. Set here, at import, before pytest starts any kernel.
COURSE_ENV = {
    "PYTHONHASHSEED": "0",              # sets and dicts print in the same order
    "OPENBLAS_NUM_THREADS": "1",        # small matrices: threads cost time, and the thread
    "OMP_NUM_THREADS": "1",             # count changes the last digits of products
    "MKL_NUM_THREADS": "1",
    "MALLOC_TOP_PAD_": str(64 << 20),   # glibc keeps freed heap (speed only; benchmarks/README.md)
}
_SIDE_DIRS = {
    "JUPYTER_CONFIG_DIR": "jupyter-config", "JUPYTER_DATA_DIR": "jupyter-data",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime", "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib", "XDG_CONFIG_HOME": "xdg-config", "XDG_CACHE_HOME": "xdg-cache",
}
_UNSET = ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_PLATFORM_DIRS")

_side_root = tempfile.mkdtemp(prefix="trpo-lite-pytest-")
os.environ.update(COURSE_ENV)
os.environ.update({name: os.path.join(_side_root, sub) for name, sub in _SIDE_DIRS.items()})
for _name in _UNSET:
    os.environ.pop(_name, None)


def pytest_configure(config):
    opt = config.option
    if getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False):
        if not opt.nbval_sanitize_with:
            opt.nbval_sanitize_with = str(ROOT / "nbval_sanitize.cfg")
        if not opt.nbval_kernel_name:
            opt.nbval_current_env = True
        if opt.nbval_cell_timeout == 2000:          # nbval's default: 33 minutes per cell
            opt.nbval_cell_timeout = 300.0
    try:                                            # this process: one BLAS thread as well
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    config._course_thread_limit = threadpool_limits(limits=1)


def pytest_unconfigure(config):
    shutil.rmtree(_side_root, ignore_errors=True)
