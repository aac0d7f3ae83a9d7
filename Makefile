# The README's commands. Everything runs from the locked dependency set in ./.venv (pipenv).
.PHONY: install services run start stop status seed test lint format

RUNNER = .venv/bin/python compose/local/runner.py
# Production settings unless asked: `make run DEBUG=1` (or DJANGO_DEBUG=1) turns debug mode on.
# Several instances: `make start SCALE="relay=2 worker=3 stats-consumer=2"` (README: Scaling).
RUN_ENV = $(strip $(if $(DEBUG),DJANGO_DEBUG=$(DEBUG)) $(if $(SCALE),SCALE="$(SCALE)"))

install:
	bash compose/local/install.sh

services:
	bash compose/local/ensure_services.sh

# The whole system in the foreground; Ctrl-C stops all of it.
run: install
	RABBITMQ_MANAGEMENT=1 bash compose/local/ensure_services.sh
	$(RUN_ENV) $(RUNNER) up

# The same, in the background: returns once every process answers its health check.
start: install
	RABBITMQ_MANAGEMENT=1 bash compose/local/ensure_services.sh
	$(RUN_ENV) $(RUNNER) start

stop:
	$(RUNNER) stop

status:
	$(RUNNER) status

# Fill a running system with a small demo dataset.
seed:
	$(RUNNER) seed

# Installs what the tests need (docker-compose too, when missing and allowed), then lint, types,
# unit, integration and end-to-end tests (ARGS goes to pytest).
test:
	bash compose/local/test.sh $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
