# Gatehouse developer tasks. Run `make help` for the list.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
# Three workers, each test file on one worker (files share screenshots and a timings file);
# the suite waits on PostgreSQL, MQTT and Chromium as much as on the CPU. 23 min serial → 12 min.
PYTEST_ARGS ?= -n 3 --dist loadfile
TRANSLATIONS := kiosk_ui/translations
POT         := $(TRANSLATIONS)/messages.pot
LOCALES     := zh_CN

.PHONY: help venv run test test-deps lint fmt babel babel-extract babel-update babel-compile \
        bench bench-full clean distclean

help: ## Show this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# --- virtual environment ---------------------------------------------------------------
# The venv is created once; the editable install is redone only when pyproject.toml is
# newer than the stamp file.
venv: $(STAMP) ## Create .venv and install gatehouse[dev] (only when needed)

$(BIN)/python:
	@py="$$(scripts/ensure-python.sh)"; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

# --- running ---------------------------------------------------------------------------
run: venv ## Migrate, load demo data, serve on http://127.0.0.1:5000 with simulated devices
	$(BIN)/gate db upgrade
	$(BIN)/gate demo
	$(BIN)/gate run

# --- checks ----------------------------------------------------------------------------
test: venv test-deps ## Lint, then run the test suite (make test PYTEST_ARGS='-k plate')
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

test-deps: ## Make sure Chromium, Mosquitto (and PostgreSQL on CI) are available
	@scripts/ensure-test-deps.sh

lint: venv ## Run ruff
	$(BIN)/ruff check .

fmt: venv ## Fix lint findings that ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# --- benchmarks (docs/PERFORMANCE.md; never part of the tests) ----------------------------
# Each script prints a Markdown table and writes bench/results/NAME.json. The web benchmark
# needs wrk (apt-get install wrk) and PostgreSQL; the others default to a new SQLite file.
BENCH_PG ?= postgresql+psycopg://postgres@127.0.0.1:5432/bench

bench: venv ## Short versions of every benchmark (under 5 minutes)
	$(BIN)/python bench/plate_to_command.py --quick
	$(BIN)/python bench/qr_decoders.py --quick
	$(BIN)/python bench/pass_scan.py --quick
	$(BIN)/python bench/web.py --quick
	$(BIN)/python bench/shiftbook.py --quick
	$(BIN)/python bench/book_search.py --quick

bench-full: venv ## Every benchmark at full size, SQLite and PostgreSQL (about an hour)
	$(BIN)/python bench/plate_to_command.py
	$(BIN)/python bench/plate_to_command.py --database-url $(BENCH_PG)
	$(BIN)/python bench/plate_to_command.py --workers 2 --database-url $(BENCH_PG)
	$(BIN)/python bench/qr_decoders.py
	$(BIN)/python bench/pass_scan.py
	$(BIN)/python bench/pass_scan.py --database-url $(BENCH_PG)
	$(BIN)/python bench/web.py
	$(BIN)/python bench/shiftbook.py --entries 1000000
	$(BIN)/python bench/shiftbook.py --entries 1000000 --database-url $(BENCH_PG)
	$(BIN)/python bench/book_search.py --entries 1000000
	$(BIN)/python bench/book_search.py --entries 1000000 --database-url $(BENCH_PG)

# --- translations ----------------------------------------------------------------------
babel: babel-update ## Extract, update and compile translations
	$(BIN)/pybabel compile -d $(TRANSLATIONS)

babel-extract: venv ## Extract messages to messages.pot
	@mkdir -p $(TRANSLATIONS)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(POT) .

babel-update: babel-extract ## Merge messages.pot into each locale's .po (init if missing)
	@for locale in $(LOCALES); do \
	    if [ -f "$(TRANSLATIONS)/$$locale/LC_MESSAGES/messages.po" ]; then \
	        $(BIN)/pybabel update -i $(POT) -d $(TRANSLATIONS) -l "$$locale" --no-fuzzy-matching; \
	    else \
	        $(BIN)/pybabel init -i $(POT) -d $(TRANSLATIONS) -l "$$locale"; \
	    fi; \
	done

babel-compile: venv ## Compile .po files to .mo
	$(BIN)/pybabel compile -d $(TRANSLATIONS)

# --- housekeeping ----------------------------------------------------------------------
clean: ## Remove caches and build output (keeps .venv)
	rm -rf build dist .pytest_cache .ruff_cache .hypothesis test-results *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

distclean: clean ## Also remove .venv
	rm -rf $(VENV)
