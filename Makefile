# Two commands do all the set-up on a fresh machine (Python and pip present):
#   make demo   - install into .venv, then run the quickstart demo workflow
#   make test   - install into .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every install takes the tested versions in constraints.txt (see its header).
CONSTRAINTS := constraints.txt
LOCK_VENV := $(or $(TMPDIR),/tmp)/dd-prefect-constraints-venv
# No network here for telemetry; also silences the "Failed to send telemetry" line.
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test bench clean constraints

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dd-prefect run deployments/demo.yaml --artifact-path artifacts

test: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_throughput.py
	$(BIN)/python benchmarks/create_throughput.py

# Rewrites constraints.txt from a scratch venv: keeps its pins and adds what pyproject.toml
# now requires; `make constraints UPGRADE=1` resolves every version afresh. Its header (the
# leading comment lines) is kept.
constraints:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet $(if $(UPGRADE),,-c $(CONSTRAINTS)) -e ".[dev]"
	{ sed -n '/^#/!q;p' $(CONSTRAINTS); \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
