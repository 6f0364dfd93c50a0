# trpo-lite: the two commands are `make lab` and `make test`.
#   make lab      open the course in JupyterLab (creates .venv on first use)
#   make lab-student  open the solution-free student edition (student/, made once, then kept)
#   make test     ruff + unit tests + every notebook under nbval + browser widget tests
#   make record   re-execute every notebook in place (after changing code or pins)
#   make portability  the notebooks under three machines' numbers (as CI runs them)
#   make student  solution-free copy of the notebooks in student/
#   make clean    remove build/test leftovers (keeps .venv; `make distclean` removes it)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Same numbers as the recorded outputs: seeded hashing, one BLAS thread, inline figures.
export PYTHONHASHSEED := 0
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export MALLOC_TOP_PAD_ := 67108864
unexport MPLBACKEND

# JupyterLab refuses to start as root without --allow-root (containers, CI).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: all venv lab lab-student test portability record student clean distclean help
all: help
help:
	@sed -n '2,9p' Makefile | sed 's/^# //'

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# The course's JupyterLab settings are lab/overrides.json (no news check, every cell rendered;
# the browser test uses the same file). What Lab writes while you work (settings you change,
# layouts) goes to lab/user-settings/ and lab/workspaces/ (git-ignored), never to ~/.jupyter.
LAB_DIR := $(CURDIR)/lab
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS) --LabApp.app_settings_dir="$(LAB_DIR)" \
	  --LabApp.user_settings_dir="$(LAB_DIR)/user-settings" \
	  --LabApp.workspaces_dir="$(LAB_DIR)/workspaces" notebooks/

# The student edition is made on first use only: later runs open it as the student left it
# (`make student` rebuilds it from notebooks/, wiping the student's work).
lab-student: $(STAMP)
	@test -d student || $(BIN)/python scripts/make_student_edition.py --src notebooks --dest student
	$(BIN)/jupyter lab $(LAB_ARGS) --LabApp.app_settings_dir="$(LAB_DIR)" \
	  --LabApp.user_settings_dir="$(LAB_DIR)/user-settings" \
	  --LabApp.workspaces_dir="$(LAB_DIR)/workspaces" student/

test: $(STAMP)
	VENV=$(VENV) bash scripts/run_tests.sh

portability: $(STAMP)
	VENV=$(VENV) bash scripts/check_portability.sh

record: $(STAMP)
	. scripts/course_env.sh && $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --NotebookClient.record_timing=False --ExecutePreprocessor.timeout=600 notebooks/*.ipynb

student: $(STAMP)
	$(BIN)/python scripts/make_student_edition.py --src notebooks --dest student

clean:
	rm -rf student shots build dist *.egg-info .pytest_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
	  -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
