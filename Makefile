# Two commands: `make run` serves the portal with its worker; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_WORKERS ?= 2
VENDOR := static/vendor/htmx.min.js static/vendor/bootstrap.min.css static/vendor/bootstrap.bundle.min.js

.PHONY: setup run translations lint test test-postgres test-sqlite test-browser chromium services clean bench bench-smoke security

# Both domains: messages (the portal's texts) and wtforms (WTForms' built-in messages, where WTForms has no catalog).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard portal/translations/*/LC_MESSAGES/*.po))

setup: $(BIN)/.installed node_modules/.installed $(VENDOR) $(CATALOGS)

# The gettext catalogs, compiled from the .po files kept in the repository.
portal/translations/%.mo: portal/translations/%.po $(BIN)/.installed
	$(BIN)/pybabel compile -i $< -o $@

# After changing texts: extract them and merge them into each catalog (then translate the new msgstr).
# Default keywords kept (they carry ngettext's plural); --ignore-dirs so templates/_macros is read.
translations: $(BIN)/.installed
	PYTHONPATH=. $(BIN)/pybabel -q extract -F babel.cfg -k _l -k phrase -k nphrase:1,2 --ignore-dirs ".* node_modules" -o portal/translations/messages.pot .
	$(BIN)/pybabel -q update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching --ignore-obsolete

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

static/vendor/htmx.min.js: node_modules/.installed
	mkdir -p static/vendor && cp node_modules/htmx.org/dist/htmx.min.js $@
static/vendor/bootstrap.min.css: node_modules/.installed
	mkdir -p static/vendor && cp node_modules/bootstrap/dist/css/bootstrap.min.css $@
static/vendor/bootstrap.bundle.min.js: node_modules/.installed
	mkdir -p static/vendor && cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $@

run: setup
	$(BIN)/flask db upgrade
	$(BIN)/python -m portal.launcher

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here); the WordPress mail
# plugin's tests run under Debian's PHP (php -l and a script with WordPress's hooks stubbed).
chromium:
	@command -v chromium >/dev/null && command -v php >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium php-cli >/dev/null; }

# PostgreSQL and Redis run on this machine kind; start them if they are down.
services:
	@pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; echo "PostgreSQL or Redis did not start"; exit 1

# ruff with the rules in pyproject.toml; emulators/ once it is a top-level package (wildcard: only if present).
# No setup prerequisite: `make test` runs setup before it, and `make lint` alone only needs the installed ruff.
lint:
	@echo "== ruff =="
	$(BIN)/ruff check portal tests bench migrations wsgi.py gunicorn.conf.py $(wildcard emulators)

test: setup lint chromium services test-postgres test-browser test-sqlite

test-postgres:
	@echo "== PostgreSQL suite =="
	PORTAL_TEST_DATABASE=postgresql PORTAL_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not browser" tests

test-browser:
	@echo "== Browser journeys (Chromium) =="
	PORTAL_TEST_DATABASE=postgresql PORTAL_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/pytest -m browser tests

test-sqlite:
	@echo "== SQLite smoke subset =="
	PORTAL_TEST_DATABASE=sqlite $(BIN)/pytest -m smoke tests

# The hostile-input and fault suites on their own (SECURITY.md); `make test` runs them too, derandomized.
# Here property tests explore at random, keep failing examples in .hypothesis/ and print each one's blob.
security: setup services
	@echo "== Security: fuzzing, injection properties, access matrix, hardening, faults =="
	HYPOTHESIS_PROFILE=explore PORTAL_TEST_DATABASE=postgresql PORTAL_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) tests/security tests/faults tests/foundation/test_hardening.py \
	  tests/foundation/test_security_doc.py tests/instances/test_secret_hygiene.py tests/ops/test_rbac.py \
	  tests/admin/test_admin.py

clean:
	rm -rf $(VENV) node_modules static/vendor

# Benchmarks (bench/README.md): full sizes, one table, bench/results/latest.json; the smoke run takes < 1 min.
bench: setup services
	$(BIN)/python -m bench

bench-smoke: setup services
	$(BIN)/python -m bench --smoke
