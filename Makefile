# The two commands of the README: `make run` and `make test`. Everything else is set up on demand.
#
# Nothing here installs into the machine's Python or writes outside this checkout: a pinned uv is
# bootstrapped into its own virtual environment (.venv-tools, made with `python3 -m venv`), and that
# uv builds the project's environment (.venv) exactly from uv.lock. Debian (PEP 668) refuses
# `pip install` into the system Python, and it would change the machine for every other program.
export UV_PYTHON_DOWNLOADS := never
# Caches inside the checkout too (set UV_CACHE_DIR or npm_config_cache to share one across clones).
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv
export npm_config_cache ?= $(CURDIR)/.cache/npm
# The same uv as the Docker image (deploy/Dockerfile, UV_VERSION).
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
VENV := .venv/bin

.PHONY: setup run test lint openapi web web-test conformance

# The web client (web/): packages installed when the lock file changes, rebuilt when a source changes,
# into src/televisit/web/dist, which the server serves at /.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_DIST := src/televisit/web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json

# Made again when the pinned version above changes.
$(UV_STAMP):
	@python3 -c 'import ensurepip' 2>/dev/null || { echo "python3 cannot create virtual environments: install Debian's python3-venv (see README.md, Quick start)." >&2; exit 1; }
	@rm -rf $(TOOLS)
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir "uv==$(UV_VERSION)"
	@touch $@

# Bytecode compiled ahead (as in the Docker image): where PYTHONDONTWRITEBYTECODE is set, as on
# these machines, every process would otherwise compile SQLAlchemy, pydantic and FastAPI from
# source at start-up (`televisit serve` was ready in 3.6 s instead of 1.6; the tests start it
# often). compileall only rewrites what changed.
setup: $(UV_STAMP)
	@$(UV) sync --frozen --python python3 --quiet --compile-bytecode
	@$(VENV)/python -m compileall -q src > /dev/null

$(WEB_DEPS): web/package-lock.json
	npm --prefix web ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIST): $(WEB_DEPS) $(WEB_SOURCES)
	npm --prefix web run build

web: $(WEB_DIST)

# The Firefox ESR tests' driver (tests/e2e/firefox/: puppeteer-core over WebDriver BiDi), its own small
# package so the web app's dependencies stay the app's; installed from its lock file, no browser download.
FIREFOX_DRIVER_DEPS := tests/e2e/firefox/node_modules/.package-lock.json
$(FIREFOX_DRIVER_DEPS): tests/e2e/firefox/package-lock.json
	npm --prefix tests/e2e/firefox ci --no-audit --no-fund --loglevel=error
	@touch $@

# typecheck here too: the build (which also runs vue-tsc) is skipped when dist is up to date.
web-test: $(WEB_DEPS)
	npm --prefix web run check:api
	npm --prefix web run typecheck
	npm --prefix web run test -- --run

run: setup web
	$(VENV)/televisit demo
	$(VENV)/televisit serve

lint: setup
	$(VENV)/ruff check src tests bench conformance
	$(VENV)/mypy src/televisit

# The suite on two cores (tests/conftest.py): the parallel part, then the `serial` tests alone; both
# always run, and either failing fails the target.
PYTEST_WORKERS ?= 2
test: lint web web-test $(FIREFOX_DRIVER_DEPS)
	@status=0; \
	$(VENV)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not serial" || status=1; \
	$(VENV)/pytest -m serial || status=1; \
	exit $$status

# The contract's test kit against a running server (docs/conformance.md), e.g.
#   make conformance URL=http://127.0.0.1:8000 ARGS="--admin-email admin@example.org"
conformance: setup
	$(VENV)/python -m conformance $(URL) $(ARGS)

openapi: setup $(WEB_DEPS)
	$(VENV)/televisit openapi > openapi.json
	$(VENV)/televisit asyncapi > asyncapi.json
	npm --prefix web run gen:api
	npm --prefix web run gen:frames
