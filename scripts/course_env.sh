# Source this (bash) before running notebooks non-interactively (make test, make record):
#   . scripts/course_env.sh
# Same variables as the recorded outputs: seeded hashing, one BLAS thread (the last digits
# of matrix products depend on the thread count), inline figures (no MPLBACKEND), and every
# Jupyter/IPython/matplotlib side file in a throw-away folder, so that nothing in $HOME
# (startup files, kernelspecs, matplotlibrc, lab settings) changes what a notebook prints.
export PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# glibc keeps 64 MiB of freed heap instead of returning (and re-faulting) it every training
# iteration: about a third less CPU time, identical results (benchmarks/README.md)
export MALLOC_TOP_PAD_=67108864
unset MPLBACKEND
COURSE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpo-lite.XXXXXX")
trap 'rm -rf "$COURSE_TMP"' EXIT
export JUPYTER_CONFIG_DIR=$COURSE_TMP/jupyter-config JUPYTER_DATA_DIR=$COURSE_TMP/jupyter-data \
       JUPYTER_RUNTIME_DIR=$COURSE_TMP/jupyter-runtime IPYTHONDIR=$COURSE_TMP/ipython \
       MPLCONFIGDIR=$COURSE_TMP/matplotlib \
       XDG_CONFIG_HOME=$COURSE_TMP/xdg-config XDG_CACHE_HOME=$COURSE_TMP/xdg-cache
unset JUPYTER_PATH JUPYTER_PLATFORM_DIRS
