# The two commands of the quick start:
#   make demo   the sandbox Asterisk + the engine serving flows/ (Ctrl-C stops the engine)
#   make test   the whole test suite, real-Asterisk tests included, plus mypy and ruff
# Both install what is missing first (Debian packages, .venv, the Asterisk sandbox).

.PHONY: demo test setup sandbox lint unit

setup:
	@bash scripts/setup.sh

sandbox: setup
	@.venv/bin/ivr sandbox up

# A web-only caller who asks for a person is told to call the demo line (100 on the
# sandbox's softphone account) with their reference.
demo: sandbox
	IVR_HUMAN_PHONE="$${IVR_HUMAN_PHONE:-100}" .venv/bin/ivr serve

lint: setup
	.venv/bin/ruff check
	.venv/bin/mypy

unit: setup
	.venv/bin/pytest -m "not asterisk"

test: sandbox lint
	.venv/bin/pytest
