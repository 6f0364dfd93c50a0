#!/usr/bin/env bash
# `make test`: unit tests, then the notebooks under nbval, then the browser tests.
# Every stage runs; the script exits non-zero if any stage failed. Extra arguments go to
# every pytest call (e.g. `scripts/run_tests.sh -x`).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
. scripts/course_env.sh
export CHROMIUM SHOTS_DIR=${SHOTS_DIR:-$PWD/shots}
JUNIT_DIR=${JUNIT_DIR:-$COURSE_TMP}     # .ci/run sets it to add up its own stages as well

failed=()
# run_stage NAME EMPTY_OK PYTEST-ARGS... : pytest exit code 5 ("no tests collected") counts
# as success only where EMPTY_OK=yes.
run_stage() {
  local name=$1 empty_ok=$2; shift 2
  echo
  echo "=== $name: pytest $*"
  "$PY" -m pytest -p no:cacheprovider --junit-xml="$JUNIT_DIR/junit-$name.xml" "$@" "${EXTRA[@]}"
  local rc=$?
  if [ "$rc" -eq 5 ] && [ "$empty_ok" = yes ]; then
    echo "=== $name: no tests collected (ok)"
    rc=0
  fi
  [ "$rc" -eq 0 ] || failed+=("$name (pytest exit $rc)")
}
EXTRA=("$@")

# 0) lint (ruff, configured in pyproject.toml): a few seconds, and it fails the run like a test
echo
echo "=== lint: ruff check ."
if "${VENV:-.venv}/bin/ruff" check .; then :; else failed+=("lint (ruff)"); fi

# 1) unit tests
run_stage unit no tests --ignore=tests/browser

# 2) every notebook runs top to bottom and prints what it printed when recorded (the root
#    conftest.py adds the sanitize file, the kernel and the kernels' variables, exactly as for
#    an instructor's plain `pytest --nbval`)
if compgen -G "notebooks/*.ipynb" >/dev/null; then
  run_stage notebooks yes --nbval notebooks/
else
  echo; echo "=== notebooks: none in notebooks/ yet"
fi

# 3) widgets in a real JupyterLab, driven through Debian's chromium
echo
if [ ! -d tests/browser ]; then
  echo "browser tests: none (tests/browser does not exist)"
elif [ ! -x "$CHROMIUM" ]; then
  echo "browser tests SKIPPED: chromium not found (apt-get install chromium)"
elif ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
  echo "browser tests SKIPPED: the playwright Python package is not importable (make venv)"
else
  run_stage browser yes tests/browser
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo; echo "FAILED stages: ${failed[*]}"
fi

# one closing line over all stages (read by CI): "total: N passed, N failed, N skipped"
echo
"$PY" scripts/junit_total.py "$JUNIT_DIR"

[ ${#failed[@]} -eq 0 ]
