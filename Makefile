# Two commands: `make course` runs every notebook, `make test` runs the tests. Each sets up its environment first.
# Two stacks are supported, each with its own lock: Python 3.11 + TensorFlow 2.15 (requirements.lock) and Python 3.12
# + TensorFlow 2.21 with tf-keras (requirements-py312.lock). make uses 3.11 when it finds one, else 3.12; choose with
# PYTHON=3.12 (a version, a command or a path). Each stack gets its own environment, .venv-3.11 or .venv-3.12, and
# .venv points at the one used last.
PYTHON ?= 3.11 3.12
PROFILE ?= auto
PY := $(shell sh tools/find-python.sh $(PYTHON) 2>/dev/null)
PYVER := $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
LOCK_3.11 := requirements.lock
LOCK_3.12 := requirements-py312.lock
LOCK := $(LOCK_$(PYVER))
VENV := .venv-$(PYVER)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: course test lab clean-runs stack

course: $(STAMP)
	$(BIN)/python -m course_lib run --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/python -m course_lib lab

# Which Python and which lock, said in one line (or why none fits).
stack:
	@test -n "$(PY)" || { sh tools/find-python.sh $(PYTHON); exit 1; }
	@test -n "$(LOCK)" || { echo "error: Python $(PYVER) ($(PY)) is not supported; the course has locks for 3.11 (TensorFlow 2.15) and 3.12 (TensorFlow 2.21): make ... PYTHON=3.12"; exit 1; }
	@echo "Python $(PYVER) at $(PY): lock $(LOCK), environment $(VENV)"

# Install from the lock (every package pinned, so --no-deps misses nothing and keeps the lock's restated metadata of
# stale pins, see uv.toml), then the course package itself in editable mode.
$(STAMP): $(LOCK) pyproject.toml | stack
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --ignore-requires-python -r $(LOCK)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@if [ -d .venv ] && [ ! -L .venv ]; then echo "note: .venv is an environment from an older Makefile; remove it (rm -rf .venv) so .venv can point at $(VENV)"; else ln -sfn $(VENV) .venv; fi

clean-runs:
	rm -rf runs
