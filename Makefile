# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hrcnet demo

test: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not postgres and not multinode and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy federation schemas

bench: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m bench

# Regenerate the lock file from pyproject.toml (run after changing dependencies).
lock:
	rm -rf /tmp/hrcnet-lock && $(PYTHON) -m venv /tmp/hrcnet-lock
	/tmp/hrcnet-lock/bin/pip install --quiet --upgrade pip
	/tmp/hrcnet-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/hrcnet-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
