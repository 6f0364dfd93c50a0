#!/usr/bin/env bash
# Mutation testing of trpo_lite's core (issue 11, point 6): mutmut changes the library one small
# edit at a time (a `<` for a `<=`, a 2 for a 3, a dropped argument, ...) and runs the unit tests
# against each such mutant; a mutant the tests still pass with ("survived") is either a bug the
# tests cannot see or an equivalent program. scripts/MUTATION.md lists what survives and why.
#
# Slow (tens of minutes for the whole core on 2 cores): run by hand, never in CI or `make test`.
#
#   scripts/mutation.sh                    every core module
#   scripts/mutation.sh cg linesearch      only these modules (names in trpo_lite/)
#
# Environment:
#   MAX_CHILDREN=1     mutants tested in parallel (default 1: leaves a core free)
#   PYTHON=python3     the interpreter the venv is made from (the lock is for Python 3.11)
#   KEEP=1             keep build/mutation/ (its snapshot of the source and the results) and
#                      test only the mutants without a result yet (resumes a stopped run)
#   RETEST=1           keep build/mutation/ as KEEP=1 (the library source stays as it was), but
#                      copy the checkout's tests and the files they read into it and test again
#                      the mutants of the given modules that were not caught and that
#                      scripts/MUTATION.md does not explain (RETEST_ALL=1: every one not caught);
#                      after adding tests: the killed ones stay killed, since tests only grow
#   (default: a fresh snapshot of the tree and a full run)
#   WORK=build/mutation  the snapshot folder; another one keeps a second set of results apart
#   FROM=HEAD          take the snapshot from this commit (`git archive`) instead of the
#                      checkout: a consistent tree while other work is in progress in it
#                      (recorded in $WORK/from-commit; RETEST=1 takes the tests from that
#                      commit even if FROM=HEAD has moved on since)
#   OVERLAY="tests/test_x.py ..."  checkout files copied over the snapshot (with FROM: the
#                      new tests being written; with RETEST=1 they are copied again)
#                      (the report, build/mutation-report.md, is the last run's either way)
#
# What it does:
#   1. build/.venv-mutation (build/ is git-ignored; `make clean` removes it): the locked
#      environment (requirements-lock.txt) plus mutmut, and the project with --no-deps -e .;
#      remade when the lock or the mutmut version changes. .venv is never touched.
#   2. build/mutation/: a snapshot of the tree (library, tests, data, the files the tests read)
#      with a generated setup.cfg holding mutmut's configuration, so that mutmut's mutants/
#      folder and its configuration stay out of the repository (no [tool.mutmut] needed in
#      pyproject.toml) and edits made to the checkout during a run do not mix into it.
#   3. `mutmut run` there over the chosen modules, with the unit tests below.
#   4. scripts/mutation_report.py: the per-module table (mutants, killed, survived,
#      timeouts/suspicious, kill rate) on stdout, build/mutation-report.md (the table and the
#      diff of every surviving mutant, marked with its reason where scripts/MUTATION.md gives
#      one) and the table copied into scripts/MUTATION.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MUTMUT_VERSION=3.8.1
VENV=build/.venv-mutation
WORK=${WORK:-build/mutation}   # another WORK keeps a second set of results apart
PYTHON=${PYTHON:-python3}
MAX_CHILDREN=${MAX_CHILDREN:-1}
CORE=(cg linesearch fisher policies mlp algos rollout value train config validate mdp monotonic)
if [ $# -gt 0 ]; then MODULES=("$@"); else MODULES=("${CORE[@]}"); fi
for m in "${MODULES[@]}"; do
  [ -f "trpo_lite/$m.py" ] || { echo "no module trpo_lite/$m.py" >&2; exit 2; }
done

# The unit tests that run against every mutant: tests/ without the browser, notebook and
# student-edition tests (they test the course, not the library, and are slow).
TESTS=(tests --ignore=tests/browser --ignore=tests/test_notebooks.py
       --ignore=tests/test_student_edition.py)
for f in tests/test_nb0*.py; do TESTS+=("--ignore=$f"); done
# This one imports a copy of trpo_lite/ in a fresh interpreter: mutmut's trampolined copy
# cannot run outside mutmut (it fails before any mutant is tried), and it tests packaging.
TESTS+=(--deselect tests/test_data.py::test_an_installed_layout_finds_its_data_without_the_checkout)

# Same numbers as the test suite: seeded hashing, one BLAS thread.
export PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
unset MPLBACKEND

# 1) the mutation venv -------------------------------------------------------------------------
stamp="$VENV/.installed-$(sha256sum requirements-lock.txt | cut -c1-16)-mutmut-$MUTMUT_VERSION"
if [ ! -f "$stamp" ]; then
  echo "=== creating $VENV (requirements-lock.txt + mutmut==$MUTMUT_VERSION)"
  rm -rf "$VENV"
  mkdir -p build
  {
    "$PYTHON" -m venv "$VENV" &&
    "$VENV/bin/python" -m pip install --quiet -r requirements-lock.txt "mutmut==$MUTMUT_VERSION" &&
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
  } > build/venv-mutation.log 2>&1 || { tail -n 20 build/venv-mutation.log; exit 1; }
  touch "$stamp"
fi

# 2) the snapshot --------------------------------------------------------------------------------
RETEST=${RETEST:-0}
[ "$RETEST" = 1 ] && KEEP=1
# The files copied: everything the selected tests read (test_data: data/ and pyproject.toml;
# test_checking: notebooks/; test_course_env: conftest.py, scripts/course_env.sh,
# nbval_sanitize.cfg; test_packaging: the lock files).
READ_BY_TESTS=(tests conftest.py pyproject.toml data notebooks scripts nbval_sanitize.cfg
               requirements-lock.txt requirements.in environment.yml)
# copy_tree DEST PATH...: PATHs from the checkout, or from commit $FROM (`git archive`, read
# only) when it is set; then the checkout's files named in $OVERLAY on top. FROM gives a
# consistent tree while others edit the checkout; OVERLAY the test files being written now.
copy_tree() {
  local dest=$1; shift
  if [ -n "${FROM:-}" ]; then
    git archive --format=tar "$FROM" -- "$@" | tar -xf - -C "$dest" --exclude=tests/browser
  else
    tar -cf - --exclude=__pycache__ --exclude=.ipynb_checkpoints --exclude=tests/browser "$@" \
      | tar -xf - -C "$dest"
  fi
  for f in ${OVERLAY:-}; do mkdir -p "$dest/$(dirname "$f")"; cp "$f" "$dest/$f"; done
}
if [ "${KEEP:-0}" != 1 ] || [ ! -d "$WORK/mutants" ]; then
  RETEST=0
  echo "=== snapshot of the tree in $WORK${FROM:+ (commit $FROM)}${OVERLAY:+ + $OVERLAY}"
  rm -rf "$WORK"
  mkdir -p "$WORK"
  copy_tree "$WORK" trpo_lite "${READ_BY_TESTS[@]}"
  if [ -n "${FROM:-}" ]; then git rev-parse "$FROM^{commit}" > "$WORK/from-commit"; fi
fi
if [ "$RETEST" = 1 ] && [ -n "${FROM:-}" ] && [ -f "$WORK/from-commit" ]; then
  # the tests of the snapshot's commit (plus OVERLAY), not those of a FROM that has moved on
  # since (HEAD after a commit): they may call library code the snapshot does not have
  snap=$(cat "$WORK/from-commit")
  if [ "$(git rev-parse "$FROM^{commit}")" != "$snap" ]; then
    echo "=== FROM=$FROM is no longer the snapshot's commit: tests taken from $snap"
    FROM=$snap
  fi
fi
if [ "$RETEST" = 1 ]; then
  echo "=== copying the tests and the files they read into $WORK (not trpo_lite/)"
  rm -rf "$WORK/tests"
  copy_tree "$WORK" "${READ_BY_TESTS[@]}"
  # mutmut re-measures which tests reach which function only for *new* test names: a test
  # that was sharpened in place would not be run against the mutants it can now kill
  rm -f "$WORK/mutants/mutmut-stats.json"
fi
# mutmut's configuration, written every time. timeout_multiplier: a mutant is stopped after
# 2 * 3 * (its tests' clean run time + 1 s) of CPU (mutmut's default 15 let mutants that drop
# L-BFGS's maxiter run for 45 s each).
{
    echo "# Generated by scripts/mutation.sh; mutmut reads this (the checkout has no setup.cfg)."
    echo "[mutmut]"
    echo "source_paths = trpo_lite"
    echo "only_mutate ="
    for m in "${MODULES[@]}"; do echo "    trpo_lite/$m.py"; done
    echo "also_copy ="
    for p in conftest.py data notebooks scripts nbval_sanitize.cfg requirements-lock.txt \
             requirements.in environment.yml; do echo "    $p"; done
    echo "pytest_add_cli_args = -p no:cacheprovider"
    echo "pytest_add_cli_args_test_selection ="
    for a in "${TESTS[@]}"; do echo "    $a"; done
    echo "timeout_multiplier = 3.0"
    # the snapshot lies inside the checkout: never ask git what changed
    echo "use_git_change_detection = false"
} > "$WORK/setup.cfg"

# RETEST: the mutants of these modules that were not caught, by name
NAMES=()
if [ "$RETEST" = 1 ]; then
  list=(--list-uncaught)
  [ "${RETEST_ALL:-0}" = 1 ] && list=(--list-uncaught --all)
  mapfile -t NAMES < <("$VENV/bin/python" scripts/mutation_report.py --work "$WORK" \
                        --summary scripts/MUTATION.md "${list[@]}" "${MODULES[@]}")
  echo "=== retesting ${#NAMES[@]} mutants that were not caught"
  if [ ${#NAMES[@]} -eq 0 ]; then
    "$VENV/bin/python" scripts/mutation_report.py --work "$WORK" --report build/mutation-report.md \
        --summary scripts/MUTATION.md "${MODULES[@]}"
    exit 0
  fi
fi

# 3) mutmut ----------------------------------------------------------------------------------------
echo "=== mutmut run over: ${MODULES[*]} (max children $MAX_CHILDREN)"
start=$(date +%s)
set +e
(cd "$WORK" && "$ROOT/$VENV/bin/mutmut" run --max-children "$MAX_CHILDREN" "${NAMES[@]}") \
  > "$WORK/mutmut-run.log" 2>&1
rc=$?
set -e
wall=$(( $(date +%s) - start ))
echo "$(date -u +%FT%TZ) ${wall}s retest=$RETEST keep=${KEEP:-0} ${MODULES[*]}" >> "$WORK/wall-times.log"
# the log is mostly spinner frames: show its last progress line and anything that is not one
tr '\r' '\n' < "$WORK/mutmut-run.log" | grep -v '^[^[:alnum:][:space:]]* *\(Generating mutants\|Running\|Listing\)' \
  | grep -v '^.[[:space:]][0-9]*/[0-9]*  ' | grep -v '^[[:space:]]*$' | tail -n 15 || true
tr '\r' '\n' < "$WORK/mutmut-run.log" | grep '[0-9]/[0-9]' | tail -n 1 || true
echo "=== mutmut exit $rc after ${wall}s (log: $WORK/mutmut-run.log)"

# 4) the report ------------------------------------------------------------------------------------
"$VENV/bin/python" scripts/mutation_report.py --work "$WORK" --wall-seconds "$wall" \
    --report build/mutation-report.md --summary scripts/MUTATION.md "${MODULES[@]}"
exit $rc
