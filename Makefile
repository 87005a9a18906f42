# Stageflow: `make run` serves the app with demo data, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DEALS ?= 400
DEMO_SEED ?= 42
# Local development runs with DEBUG on unless the environment says otherwise.
export DEBUG ?= 1

.PHONY: help setup messages assets migrate seed run test test-browser bench bench-scale load bench-deps check clean

help:
	@echo "make run    - set up everything and serve Stageflow with demo data on http://$(HOST):$(PORT)"
	@echo "make test   - set up everything and run the whole test suite"
	@echo "make bench  - run the benchmarks under bench/ (BENCH_ARGS=\"--sizes 1000 --repeat 5\" to narrow them)"
	@echo "make bench-scale - the board, a move, the forecast dashboard and search at 10,000 to 1,000,000 deals on PostgreSQL (SCALE_SIZES=10000,100000 to narrow; about 30 min with the million)"
	@echo "make load   - load run: gunicorn (4 workers) on PostgreSQL under locust, reps and managers (LOAD_ARGS=\"--shaped --deals 100000\")"

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Stageflow needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(PY) -r requirements/dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to fetch the front-end packages (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static_vendor/.installed: node_modules/.installed scripts/vendor_assets.py
	$(PYTHON) scripts/vendor_assets.py
	touch $@

messages: $(VENV)/.installed
	$(PY) scripts/compile_messages.py

setup: $(VENV)/.installed static_vendor/.installed messages

assets: static_vendor/.installed

migrate: setup
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --deals $(DEMO_DEALS) --seed $(DEMO_SEED) --if-empty --no-logins
	$(PY) manage.py seed_rates_demo --seed $(DEMO_SEED) --if-empty
	$(PY) manage.py rescore_organizations --demo-profile
	$(PY) manage.py seed_offers --if-empty --base-url http://$(HOST):$(PORT)
	$(PY) manage.py seed_activities_demo --seed $(DEMO_SEED) --if-empty
	$(PY) manage.py outbox_dispatch
	$(PY) manage.py seed_forecast_demo --seed $(DEMO_SEED)

run: seed
	$(PY) manage.py demo_logins
	$(PY) manage.py runserver $(HOST):$(PORT)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmark and load tools live in their own requirements file, so that CI and `make run` stay lean.
$(VENV)/.bench-installed: $(VENV)/.installed requirements/bench.txt
	$(BIN)/uv pip install --quiet --python $(PY) -r requirements/bench.txt
	touch $@

bench-deps: $(VENV)/.bench-installed

bench: setup bench-deps
	$(PY) -m bench $(BENCH_ARGS)

# Opt-in: seeding a million deals shaped like use takes most of half an hour on a 2-core machine.
SCALE_SIZES ?= 10000,100000,1000000
bench-scale: setup bench-deps
	$(PY) -m bench.scale --sizes $(SCALE_SIZES) $(SCALE_ARGS)

load: setup bench-deps
	$(PY) -m bench.load $(LOAD_ARGS)

check: setup
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) node_modules static_vendor staticfiles
