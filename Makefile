# shared-record: `make demo` runs every DAG once against the local sandboxes; `make test` runs the suite.
# Both set everything up from a fresh clone: a virtualenv in .venv, Airflow's home in .airflow.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

export AIRFLOW_HOME                    := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER      := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER   := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES    := False
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT := 60
export SANDBOX_STATE_DIR               ?= $(CURDIR)/.sandbox
export PYTHONDONTWRITEBYTECODE         := 1

.PHONY: demo test sandbox airflow bench lint docs clean install

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@mkdir -p $(AIRFLOW_HOME)
	@touch $@

## demo: start the sandboxes, run each DAG once through Airflow, print what moved where
demo: $(STAMP)
	$(PY) scripts/demo.py

## test: the whole suite (unit, sandbox fidelity, DAG integrity, end-to-end through Airflow)
test: $(STAMP)
	$(PY) -m pytest

## sandbox: the CRM, CS-platform and Slack sandboxes in the foreground (Ctrl-C stops them)
sandbox: $(STAMP)
	$(PY) -m shared_record_sandbox serve

## airflow: `airflow standalone` on 127.0.0.1:8080 with the DAGs wired to the sandboxes (start `make sandbox` first)
airflow: $(STAMP)
	$(PY) scripts/airflow_local.py

## bench: the performance benchmark (not part of make test)
bench: $(STAMP)
	$(PY) scripts/bench.py

lint: $(STAMP)
	$(VENV)/bin/ruff check dags plugins sandbox tests scripts

## docs: regenerate docs/field-dictionary.md from include/field_dictionary/*.yaml
docs: $(STAMP)
	$(PY) -m shared_record.dictionary_docs

clean:
	rm -rf .airflow .sandbox .pytest_cache .bench bench-results.json
