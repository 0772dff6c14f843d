# Two commands on a fresh machine with Python 3.11:
#   make run    install into .venv and start the bot (console chat without a token)
#   make test   install into .venv (plus the test tools) and run the whole test suite
# For the inner loop: make lint (ruff, mypy, import contracts), make test-fast (no e2e).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint check eval venv dev-venv e2e-deps

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

# Test dependencies beyond Python: the Bot API emulator (npm), headless Chromium and PostgreSQL (Debian).
e2e-deps:
	bash scripts/install-e2e-deps.sh

# ruff; mypy on the package (pyproject.toml [tool.mypy]); the import contracts
# (pyproject.toml [tool.importlinter]: layers, only the bot layer imports telegram, ...).
lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: e2e-deps lint
	$(PY) -m policybot check knowledge
	$(PY) -m pytest

# Everything but the end-to-end tests (emulator, browser): seconds, for the inner loop.
test-fast: $(VENV)/.dev
	$(PY) -m pytest -m "not e2e"

check: $(VENV)/.runtime
	$(PY) -m policybot check knowledge

# The question sets kept in this repository (the shared dev set lives outside it).
eval: $(VENV)/.runtime
	$(PY) -m policybot eval tests/data/blind-questions.yaml --baselines
	$(PY) -m policybot eval tests/data/blind-questions-2.yaml --baselines
	$(PY) -m policybot eval tests/data/blind-questions-3.yaml --baselines
	$(PY) -m policybot eval tests/data/safety-questions.yaml
	$(PY) -m policybot eval tests/data/safety-questions-heldout.yaml
	$(PY) -m policybot eval tests/data/safety-questions-unseen.yaml
