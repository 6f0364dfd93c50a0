#!/usr/bin/env bash
# The stored notebook outputs must print the same text on any machine. This runs the notebooks
# and the data tests with the instructors' command, plain `pytest --nbval`, in a clean
# environment (none of make's variables: conftest.py sets what the kernels need), under three
# numerical configurations that each stand for a different machine:
#   (a) native    the CPU's own OpenBLAS kernels and numpy SIMD paths (OPENBLAS_CORETYPE unset)
#   (b) haswell   OPENBLAS_CORETYPE=Haswell (AVX2 kernels, what many laptops run)
#   (c) baseline  OPENBLAS_CORETYPE=Prescott and every numpy SIMD dispatch target above the
#                 baseline disabled (NPY_DISABLE_CPU_FEATURES)
# Usage: scripts/check_portability.sh [native|haswell|baseline ...] (default: all three).
# Writes junit-portability-<config>.xml to $JUNIT_DIR if set. Exits non-zero if any failed.
# PORTABILITY_PATHS="notebooks/05_monotonic_improvement.ipynb" checks only those paths (while
# working on one notebook); the default is every notebook and tests/test_data.py.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
configs=("$@")
read -r -a paths <<< "${PORTABILITY_PATHS:-notebooks tests/test_data.py}"
[ ${#configs[@]} -gt 0 ] || configs=(native haswell baseline)

# numpy's SIMD targets above its baseline on this CPU ("SIMD Extensions: found")
above=$("$PY" -c "import numpy as np; print(' '.join(np.__config__.CONFIG['SIMD Extensions']['found']))")

clean_env=(env -i PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8 LC_ALL=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}")
failed=()
for config in "${configs[@]}"; do
  case $config in
    native)   vars=() ;;
    haswell)  vars=(OPENBLAS_CORETYPE=Haswell) ;;
    baseline) vars=(OPENBLAS_CORETYPE=Prescott "NPY_DISABLE_CPU_FEATURES=$above") ;;
    *) echo "check_portability: unknown configuration '$config' (native, haswell, baseline)" >&2; exit 2 ;;
  esac
  junit=()
  [ -z "${JUNIT_DIR:-}" ] || junit=(--junit-xml="$JUNIT_DIR/junit-portability-$config.xml")
  echo
  echo "=== portability ($config): ${vars[*]:-OPENBLAS_CORETYPE unset} pytest --nbval ${paths[*]}"
  t0=$SECONDS
  "${clean_env[@]}" "${vars[@]}" "$PY" -m pytest -p no:cacheprovider -q --nbval "${junit[@]}" \
    "${paths[@]}"
  rc=$?
  echo "=== portability ($config): pytest exit $rc in $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || failed+=("$config")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "portability FAILED under: ${failed[*]}"
  exit 1
fi
