.PHONY: install test run stop lint format

install:
	bash compose/local/install.sh

test:
	bash compose/local/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
