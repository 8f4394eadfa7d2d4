# Set-up is part of both entry points: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test bench bench-snapshot clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PY) -m compileall -q -j 2 $(VENV)/lib >/dev/null || true
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cloud-discovery demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/continuous_report.py

bench-snapshot: $(VENV)/.installed
	$(PY) bench/snapshot.py

clean:
	rm -rf $(VENV) lake .airflow
