# Quick start: `make demo` and `make test`; each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench bench-quick clean

# One stamp per set of extras, so that `make test` after `make demo` installs what is missing.
$(VENV)/.stamp-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$*]'
	touch $@

demo: $(VENV)/.stamp-plot,cli
	$(PY) -m gaussmix demo

test: $(VENV)/.stamp-test
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-test
	$(PY) -m ruff check src tests benchmarks

bench: $(VENV)/.stamp-test
	$(PY) benchmarks/bench_em.py

bench-quick: $(VENV)/.stamp-test
	$(PY) benchmarks/bench_em.py --quick --output benchmarks/results-quick.md

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
