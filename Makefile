# The two commands: `make up` runs the whole system locally, `make test` runs every test.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install up down status test unit clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

install: $(BIN)/.installed

up: install
	$(BIN)/orderstream up

down:
	@if [ -x $(BIN)/orderstream ]; then $(BIN)/orderstream down; else echo "nothing to stop (no $(VENV))"; fi

test: install
	bash helm/install-helm.sh
	$(BIN)/pytest -n 2 --dist loadgroup -m "not chaos" --durations=30; ok=$$?; \
	$(BIN)/pytest -m chaos --durations=2 && exit $$ok

unit: install
	$(BIN)/pytest tests/unit tests/adapters

clean: down
	rm -rf var .cache
