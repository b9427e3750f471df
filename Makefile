# The two commands of the README: `make run` and `make test`. Everything else is set up on demand.
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
VENV := .venv/bin

.PHONY: setup run test lint openapi web web-test conformance

# The web client (web/): packages installed when the lock file changes, rebuilt when a source changes,
# into src/televisit/web/dist, which the server serves at /.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_DIST := src/televisit/web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json

setup:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --python python3 --quiet

$(WEB_DEPS): web/package-lock.json
	npm --prefix web ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIST): $(WEB_DEPS) $(WEB_SOURCES)
	npm --prefix web run build

web: $(WEB_DIST)

web-test: $(WEB_DEPS)
	npm --prefix web run check:api
	npm --prefix web run test -- --run

run: setup web
	$(VENV)/televisit demo
	$(VENV)/televisit serve

lint: setup
	$(VENV)/ruff check src tests bench conformance

test: lint web web-test
	$(VENV)/pytest

# The contract's test kit against a running server (docs/conformance.md), e.g.
#   make conformance URL=http://127.0.0.1:8000 ARGS="--admin-email admin@example.org"
conformance: setup
	$(VENV)/python -m conformance $(URL) $(ARGS)

openapi: setup $(WEB_DEPS)
	$(VENV)/televisit openapi > openapi.json
	$(VENV)/televisit asyncapi > asyncapi.json
	npm --prefix web run gen:api
