# The two set-up commands of the README. Both create ./.venv and install pathview with its test
# tools once (scripts/bootstrap.sh); later runs reuse that install. PATHVIEW_TORCH=cpu installs
# PyTorch's CPU-only build instead of the default one with CUDA (see README.md).
VENV ?= .venv
export VENV

.PHONY: run test test-quick lint wheel-check check

## run: set up, then open the app on the bundled demo patches
run:
	bash scripts/bootstrap.sh
	$(VENV)/bin/pathview --demo

## test: set up, then run the whole test suite (headless)
test:
	bash scripts/bootstrap.sh
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

## test-quick: the tests not marked slow (no training runs, child processes, fuzzing)
test-quick:
	bash scripts/bootstrap.sh
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -m "not slow"

## lint: ruff, formatting, import-layer contracts and mypy on the package
lint:
	bash scripts/bootstrap.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## wheel-check: build the wheel, install it into a new venv, use it from outside the checkout
wheel-check:
	bash scripts/bootstrap.sh
	bash scripts/check_wheel.sh

## check: everything CI runs
check: test lint wheel-check
