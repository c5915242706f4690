# The two set-up commands of the README. Both create ./.venv and install what they need.
VENV ?= .venv
export VENV

.PHONY: run test lint check

## run: set up, then open the app on the bundled demo patches
run:
	bash scripts/bootstrap.sh
	$(VENV)/bin/pathview --demo

## test: set up with the test tools, then run the whole test suite (headless)
test:
	bash scripts/bootstrap.sh test
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

## lint: ruff, formatting, import-layer contracts and mypy on the package
lint:
	bash scripts/bootstrap.sh test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## check: everything CI runs
check: test lint
