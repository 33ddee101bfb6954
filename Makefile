# The two commands of the README: `make run` (demo practice on SQLite, web app + scheduler) and
# `make test` (the whole suite on a throwaway PostgreSQL, browser tests included, then the sending
# and scheduler suites on SQLite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: run test install system-packages lint clean bench messages

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

system-packages:
	./scripts/ensure_system_packages.sh

run: $(STAMP)
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo --if-empty
	DEBUG=1 $(PY) manage.py rundemo --port $(PORT)

# The whole suite on PostgreSQL, then the sending and scheduler suites (browser tests aside) on
# SQLite, the demo's database: both run, and any failure of either fails the target.
test: $(STAMP) system-packages
	@status=0; \
	$(PY) scripts/with_postgres.py -- $(PY) -m pytest $(PYTEST_ARGS) || status=1; \
	sqlite_dir=$$(mktemp -d); \
	echo "SQLite: tests/messaging tests/scheduler ($$sqlite_dir)"; \
	DATABASE_URL=sqlite:///$$sqlite_dir/test.sqlite3 $(PY) -m pytest tests/messaging tests/scheduler \
		-m "not e2e" $(PYTEST_ARGS) || status=1; \
	rm -rf $$sqlite_dir; \
	exit $$status

# Benchmarks of searches and sending (bench/run.py): figures printed, never asserted.
bench: $(STAMP) system-packages
	./scripts/ensure_system_packages.sh postfix
	$(VENV)/bin/pip install --quiet -e ".[bench]"
	$(PY) scripts/with_postgres.py -- $(PY) bench/run.py

# After wrapping new strings: refresh locale/en/LC_MESSAGES/django.po (needs GNU gettext's xgettext),
# translate the new entries, then compile the committed .mo (pure Python, no msgfmt needed).
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py makemessages -l en --no-obsolete --add-location=file -i "bench/*" -i "tests/*" -i "staticfiles/*" -i "media/*"
	DEBUG=1 $(PY) manage.py makemessages -d djangojs -l en --no-obsolete --add-location=file -i "bench/*" -i "tests/*" -i "staticfiles/*" -i "media/*"
	$(PY) scripts/compile_messages.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
