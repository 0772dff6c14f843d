# Two commands on a fresh machine with Python 3.11:
#   make run    install into .venv and start the bot (console chat without a token)
#   make test   install into .venv (plus the test tools) and run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint check eval venv dev-venv e2e-deps

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

run: $(VENV)/.runtime
	$(PY) bot.py

# End-to-end dependencies: the Bot API emulator (npm) and headless Chromium (Debian).
e2e-deps:
	bash scripts/install-e2e-deps.sh

test: $(VENV)/.dev e2e-deps
	$(PY) -m ruff check .
	$(PY) -m policybot check knowledge
	$(PY) -m pytest

check: $(VENV)/.runtime
	$(PY) -m policybot check knowledge

eval: $(VENV)/.runtime
	$(PY) -m policybot eval ../shared/eval/dev-questions.yaml --baselines
