# infoflow — the two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv if missing. torch is pinned to one version (TORCH): pip takes the wheel its index
# offers for that version — a local CPU wheel where one is on disk (as on CI), else PyPI's (CUDA on
# Linux x86-64). An unpinned torch would pull the newest CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test test-slow bench docs env clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[experiments,dev,bench]"
	touch $@

env: $(VENV)/.installed

demo: env
	$(PY) -m infoflow.experiments.demo

test: env
	SMOKE=1 $(PY) -m pytest -q -n 2 -m "not slow" tests --nbmake notebooks --nbmake-timeout=900

test-slow: env
	$(PY) -m pytest -q -m slow tests

docs: env
	$(PY) -m mkdocs serve

bench: env
	$(PY) benchmarks/estimators.py

clean:
	rm -rf $(VENV) build *.egg-info site .cache
	find . -path ./$(VENV) -prune -o -name "*.nb[ic]" -print | xargs rm -f  # numba caches (they name the module)
