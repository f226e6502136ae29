# jobshadow — two commands do everything: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast bench lint typecheck lock clean docs

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/setup-system.sh
	PYTHON=$(PYTHON) scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(PY) scripts/demo.py

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not x11 and not browser"

bench: setup
	$(PY) bench/recorder.py
	$(PY) bench/redact.py
	$(PY) bench/ingest.py
	$(PY) bench/govern.py
	$(PY) bench/datasets.py

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(PY) -m mypy

typecheck: setup
	$(PY) -m mypy

# Regenerate the lock file from pyproject.toml (needs network; commit the result).
lock:
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
	  --generate-hashes --no-header --emit-index-url -o requirements.lock

docs: setup
	$(PY) scripts/gen_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo .bench
