# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench lock clean mutate i18n-extract i18n-fill i18n-compile

# The dev lock (every package with its hashes, pip included) then the project itself, editable.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(MAKE) i18n-compile
	touch $(STAMP)

# Page translations (docs/i18n.md). The .po catalogues are the source, committed; the .mo files
# are built from them (here, at install, and in the Docker image), never committed.
LOCALES      := en fr es nl it sw
TRANSLATIONS := node/translations
PO_FILES     := $(foreach l,$(LOCALES),$(TRANSLATIONS)/$(l)/LC_MESSAGES/messages.po)
MO_FILES     := $(PO_FILES:.po=.mo)

i18n-extract:
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ -c TRANSLATORS: \
		--sort-by-file --add-location=file --no-wrap --project hrcnet \
		-o $(TRANSLATIONS)/messages.pot .
	for l in $(LOCALES); do \
		$(BIN)/pybabel -q update --init-missing --no-wrap --ignore-obsolete \
			-i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l $$l || exit 1; done

# Extract, then write the translations kept in node/translations/pending/*.json (one file per
# branch: scripts/i18n_fill.py) into the six catalogues.
i18n-fill: i18n-extract
	$(BIN)/python scripts/i18n_fill.py

i18n-compile: $(MO_FILES)

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po
	$(BIN)/pybabel -q compile -i $< -o $@

demo: $(STAMP) i18n-compile
	$(BIN)/hrcnet demo

# axe-core for the accessibility lane (tests/browser/test_accessibility.py): the exact version in
# package-lock.json, no install scripts run.
NODE_TOOLS := node_modules/.package-lock.json
$(NODE_TOOLS): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_TOOLS)

test: $(STAMP) i18n-compile $(NODE_TOOLS)
	scripts/with-postgres.sh $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q $(PYTEST_ARGS)

test-fast: $(STAMP) i18n-compile
	$(BIN)/python -m pytest -q -x -m "not postgres and not multinode and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy federation schemas

bench: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m bench

# Mutation testing with mutmut 3 (slow; not part of `make test` or CI). One module:
#   make mutate MODULE=node/secretariat/stats.py      (MUTATE_CHILDREN=2 for two workers)
# Modules and the tests run for each: [tool.hrcnet.mutate] in pyproject.toml.
MODULE ?=
MUTATE_CHILDREN ?= 1
mutate: $(STAMP)
	MUTATE_CHILDREN=$(MUTATE_CHILDREN) $(BIN)/python scripts/mutate.py $(MODULE)

# Regenerate both locks from pyproject.toml (run after changing dependencies): the runtime lock
# (what the Docker image and a server install) and the dev lock (runtime + the dev extra, what
# .venv and CI install). Both pin every package with its sha256 hashes (pip --require-hashes);
# pins already in the files are kept unless pyproject.toml needs otherwise (make lock
# LOCK_ARGS=--upgrade to move everything to the newest versions).
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links $(LOCK_ARGS)
lock: $(STAMP)
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements-runtime.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev -o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) node_modules test-artifacts demo-data mutants .pytest_cache .mypy_cache .ruff_cache
