# goldentime: `make run` installs everything and serves the sample data; `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
GT := $(VENV)/bin/goldentime

.PHONY: install run test db-start db-stop lint typecheck bench clean

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $@

install: $(VENV)/.installed

run: install
	$(GT) db start
	$(GT) db migrate
	$(GT) load sample
	$(GT) users demo
	$(GT) video demo
	$(GT) serve

test: install
	bash scripts/test.sh

db-start: install
	$(GT) db start

db-stop:
	$(GT) db stop

lint: install
	$(VENV)/bin/ruff check geo api maps cli tests benchmarks
	$(VENV)/bin/ruff format --check geo api maps cli tests benchmarks

typecheck: install
	$(VENV)/bin/mypy geo api maps cli

clean:
	-$(GT) db stop
	rm -rf .goldentime
