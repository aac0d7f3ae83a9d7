# The README's commands. Everything runs from the locked dependency set in ./.venv (pipenv).
.PHONY: install services run start stop status seed test lint format

RUNNER = .venv/bin/python compose/local/runner.py

install:
	bash compose/local/install.sh

services:
	bash compose/local/ensure_services.sh

# The whole system in the foreground; Ctrl-C stops all of it.
run: install
	RABBITMQ_MANAGEMENT=1 bash compose/local/ensure_services.sh
	$(RUNNER) up

# The same, in the background: returns once every process answers its health check.
start: install
	RABBITMQ_MANAGEMENT=1 bash compose/local/ensure_services.sh
	$(RUNNER) start

stop:
	$(RUNNER) stop

status:
	$(RUNNER) status

# Fill a running system with a small demo dataset.
seed:
	$(RUNNER) seed

# Lint, types, unit, integration and end-to-end tests (ARGS goes to pytest).
test:
	bash compose/local/test.sh $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
