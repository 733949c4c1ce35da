# Two commands: `make course` runs every notebook, `make test` runs the tests. Each sets up .venv first if needed.
PYTHON ?= python3.11
PROFILE ?= auto
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: course test lab clean-runs

course: $(STAMP)
	$(BIN)/python -m course_lib run --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/python -m course_lib lab

# Install from the lock (every package pinned, so --no-deps misses nothing and keeps the lock's overrides of stale
# pins, see requirements.overrides), then the course package itself in editable mode.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found: install Python 3.11 (TensorFlow 2.15 needs it) or use conda: conda env create -f environment.yml"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements.lock
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

clean-runs:
	rm -rf runs
