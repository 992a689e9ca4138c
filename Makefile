# StemBank — `make run` starts a demo bank on this machine; `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
# Tests need PostgreSQL and Redis; these are the local defaults (override in the environment).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stembank
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test lint install demo messages bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py runbank --addr $(ADDR)

lint: install
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=false SECRET_KEY=lint-only-secret-key-lint-only-secret-key-lint-only-0123456789 ALLOWED_HOSTS=bank.example \
		DONOR_IDENTITY_KEY=bGludC1vbmx5LWRvbm9yLWlkZW50aXR5LWtleS0wMDA= \
		AUDIT_CHAIN_KEY=lint-only-audit-chain-key-lint-only-audit-chain-key \
		$(PY) manage.py check --deploy --fail-level WARNING

test: install lint
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		DJANGO_ALLOW_ASYNC_UNSAFE=true $(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Regenerate the Simplified Chinese catalog after marking new strings (needs GNU gettext).
messages: install
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=bench
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv
