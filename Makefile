# infoflow — the two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv if missing. torch is pinned to the CPU build on purpose (see DEVELOPERS.md):
# an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test test-slow bench env clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $@

env: $(VENV)/.installed

demo: env
	$(PY) -m experiments.demo

test: env
	SMOKE=1 $(PY) -m pytest -q -n 2 -m "not slow" tests --nbmake notebooks --nbmake-timeout=900

test-slow: env
	$(PY) -m pytest -q -m slow tests

bench: env
	$(PY) benchmarks/estimators.py

clean:
	rm -rf $(VENV) build *.egg-info
