# Two commands do all the set-up on a fresh machine (Python and pip present):
#   make demo   - install into .venv, then run the quickstart demo workflow
#   make test   - install into .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No network here for telemetry; also silences the "Failed to send telemetry" line.
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
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

clean:
	rm -rf $(VENV) artifacts .pytest_cache
