# Two commands: `make run` and `make test`. Each sets up what it needs and is quick when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint sandbox bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/streamlit run serve.py

sandbox: $(RUNTIME_STAMP)
	$(BIN)/python -m partner_console.sandbox --port 8765

# The 25 slowest tests are listed at the end of each run: where the time goes.
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

# The kill loops at full size: 100 kills of single creates, 20 of a bulk import, the real
# server killed 3 times mid-create and 6 times mid-import, and 100 trials of a kill followed
# by two Resumes at once for each kind of job.
soak: $(DEV_STAMP)
	SOAK=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup \
		tests/test_reliability_kill.py tests/e2e/test_replicas_browser.py -k "kill"
	SOAK=1 $(BIN)/python -m pytest tests/test_resume_race.py tests/e2e/test_resume_race_browser.py
	$(BIN)/python -m tests.report

# Benchmarks at full size (several minutes): figures in bench/results/full.json.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run --size full

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy components pages app.py bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
