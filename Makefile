# coursekit: the two commands of the README, and their helpers.
#   make course   build the student release and autograde the sample submissions (the main job)
#   make test     the whole test suite: library, notebooks (nbval), autograder round trips
# Each creates .venv and installs what it needs on first use.
#
# PyTorch: TORCH picks the build, TORCH_PIP_ARGS where pip finds it. For CUDA 12.6 wheels, e.g.
#   make test TORCH=torch==2.13.0 TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu126"

PYTHON         ?= python3
VENV           ?= .venv
TORCH          ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS         ?= torch,course,dev,site
PYTEST_ARGS    ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.coursekit-installed

.PHONY: all install sandbox browser test test-browser test-fast lint course lab site doctor bench lectures clean

all: test

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "coursekit needs Python >= 3.10, found " + sys.version.split()[0])'
	@echo "== installing into $(VENV) (first run only; a few minutes)"
	@test -x $(BIN)/python || { echo "   creating the virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "   upgrading pip"; $(BIN)/python -m pip install -qq --upgrade pip
	@echo "   installing PyTorch ($(TORCH))"; $(BIN)/python -m pip install -qq "$(TORCH)" $(TORCH_PIP_ARGS)
	@echo "   installing coursekit with the extras $(EXTRAS) (Jupyter, nbgrader, plotting, test tools)"
	@$(BIN)/python -m pip install -qq -e ".[$(EXTRAS)]"
	@echo "   registering the course kernel"; $(BIN)/coursekit kernel install >/dev/null
	@touch $(STAMP)
	@echo "== installed"

install: $(STAMP) sandbox

# bubblewrap sandboxes the student kernels during autograding; without it autograding refuses to run.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (the autograder's sandbox)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; } >/dev/null 2>&1 \
	  || echo "could not install bubblewrap here: autograding will refuse to run until it is (see make doctor)"; }

# Debian's chromium for the browser tests (tests/browser), driven by Playwright from the dev extra. Playwright's own
# `playwright install` is never used: it downloads browsers from a site that may be unreachable.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing chromium (the browser tests' browser)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	  || echo "could not install chromium here: the browser tests will be skipped (apt-get install chromium)"; }

lint: $(STAMP)
	# no cache: a cached result once hid an import order a fresh clone (CI) sorts differently
	$(BIN)/ruff check --no-cache coursekit tests benchmarks examples course scripts conftest.py

# Everything this machine can run: GPU tests skip themselves without CUDA. pytest's exit code 5
# ("no tests collected") fails the target like any other error. Lectures run under nbval in strict mode: their
# outputs must match the stored ones, up to the sanitizers in tests/nbval_sanitize.cfg; the root conftest.py starts
# their kernels with the thread count and hash seed they were stored with (scripts/execute_lectures.py).
NBVAL_ARGS := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

test: $(STAMP) sandbox browser lint
	$(BIN)/python -m pytest tests lectures $(NBVAL_ARGS) $(PYTEST_ARGS)

# Re-execute the lectures and store them with their outputs (seeded, fixed thread count); commit the result.
lectures: $(STAMP)
	$(BIN)/python scripts/execute_lectures.py

# JupyterLab and the formgrader in headless Chromium; screenshots in $$COURSEKIT_SCREENSHOTS (.browser-screenshots/)
test-browser: $(STAMP) sandbox browser
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow and not notebooks and not browser" $(PYTEST_ARGS)

# ALL_SAMPLES=1 grades every sample submission (default: the representative set of course/samples.json)
course: $(STAMP) sandbox
	$(BIN)/coursekit doctor
	$(BIN)/coursekit course $(if $(ALL_SAMPLES),--all-samples)

# Started in the repository root, where nbgrader_config.py hands the formgrader, the Assignment List and Validate the
# course's configuration; the venv's tools first on PATH (the formgrader runs alembic by name);
# jupyter_server_config.py makes Validate run `coursekit check` and brings the course's JupyterLab settings
# (jupyter-config/). tests/browser starts JupyterLab the same way. As root (a container, a cloud VM) JupyterLab
# refuses to start without --allow-root, so it gets it, with a line saying so. More flags: make lab LAB_ARGS="...".
LAB_ARGS ?=

lab: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "make lab: running as root (a container or cloud VM?), so JupyterLab is started with --allow-root"; \
	  ALLOW_ROOT=--allow-root; \
	fi; \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir=. --config=jupyter_server_config.py \
	  $$ALLOW_ROOT $(LAB_ARGS)

# The course as a static website in _build/html (git-ignored): lectures as stored, the course map, the assignments' student
# release, the API reference; Sphinx + MyST-NB, MathJax from the site itself. Nothing is executed or downloaded.
site: $(STAMP)
	$(BIN)/python scripts/build_site.py

doctor: $(STAMP)
	$(BIN)/coursekit doctor

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis _build
