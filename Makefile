# The two commands of the README: `make run` and `make test`. Everything else is set up on demand.
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
VENV := .venv/bin

.PHONY: setup run test lint openapi

setup:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --python python3 --quiet

run: setup
	$(VENV)/televisit demo
	$(VENV)/televisit serve

lint: setup
	$(VENV)/ruff check src tests

test: lint
	$(VENV)/pytest

openapi: setup
	$(VENV)/televisit openapi > openapi.json
