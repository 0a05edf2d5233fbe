# Làng Số — `make run` starts the bot, `make test` runs every test. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
MODEL := var/nlu/model.npz
NLU_INPUTS := $(wildcard nlu/data/*.yml nlu/data/**/*.yml nlu/tables/*.yml) $(wildcard nlu/*.py)
CATALOGS := $(wildcard content/locales/*/LC_MESSAGES/messages.po)
DEV_SET ?= ../shared/eval/dev.yml

.PHONY: setup run test system-deps migrate catalogs eval eval-stripped bench bench-compare bench-rasa lint i18n-extract i18n-update i18n-compile clean

## setup: the shared, idempotent first half of `make run` and `make test`
setup: $(INSTALLED) $(MODEL) catalogs migrate

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' \
	  || { echo "Install Python 3.11 or newer (or run: make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Pinned: every version comes from constraints.txt (regenerate with `make lock`).
$(INSTALLED): $(VENV)/bin/python pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[train,test]'
	@touch $@

lock: $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[train,test]'
	$(PY) -m pip freeze --exclude-editable --exclude langso | grep -v '^-e' > constraints.txt

$(MODEL): $(INSTALLED) $(NLU_INPUTS)
	$(PY) -m bot nlu train --data nlu/data --out $(MODEL)

catalogs: $(INSTALLED)
	@$(PY) -m bot i18n compile > /dev/null

migrate: $(INSTALLED)
	@mkdir -p var
	$(PY) -m bot db upgrade

## run: set up, then start the bot on SQLite with the web chat on http://127.0.0.1:8080 and the console
run: setup
	$(PY) -m bot run

## system-deps: Debian packages the tests need (PostgreSQL server, Chromium), installed only when missing
system-deps:
	bash scripts/install-system-deps.sh

## test: set up, then the whole suite (SQLite and a PostgreSQL server the run starts itself)
# Two workers (pytest-xdist; each starts its own PostgreSQL): about 9 minutes on 2 cores instead of
# twice that. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: setup system-deps
	$(PY) -m pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS)) $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check bot nlu actions tests benchmarks
	$(BIN)/ruff format --check bot nlu actions tests benchmarks

## eval: dev set + benchmarks/data/*.yml via `python -m bot ask`: intent, answer, honest-no-answer
eval: setup
	$(PY) -m benchmarks.eval --latency --write-doc $(DEV_SET) $(wildcard benchmarks/data/*.yml)

## bench: benchmarks; figures go to docs/benchmarks.md
bench: setup
	$(PY) -m benchmarks.run

## bench-compare: this tree against BASE (a commit), back to back; figures go to docs/benchmarks.md
bench-compare: setup
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<commit>"; exit 2; }
	rm -rf var/bench-base && git clone -q . var/bench-base && git -C var/bench-base checkout -q $(BASE)
	$(MAKE) -C var/bench-base setup
	$(PY) -m benchmarks.compare --base var/bench-base

## bench-rasa: install Rasa 3.6 in a Python 3.10 venv under var/, compare it with the built-in engine
bench-rasa: setup
	bash scripts/rasa-venv.sh
	$(PY) -m benchmarks.bench_rasa

## translators' workflow
i18n-extract i18n-update: $(INSTALLED)
	$(PY) -m bot i18n update
i18n-compile: $(INSTALLED)
	$(PY) -m bot i18n compile

clean:
	rm -rf var/nlu var/locales .pytest_cache
