# One command each: set up, demo, test, lint, benchmark. Needs only Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo airflow test lint bench lock clean

setup: $(VENV)/.installed

# Everything, transitive versions included, comes from the lock.
$(VENV)/.installed: requirements.lock
	@echo "Installing the pinned packages (requirements.lock) into $(VENV): a few minutes the first time, once"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

demo: setup  ## build a sample PowerPro, start a local FTP server, run both DAGs, show what happened
	$(BIN)/python scripts/demo.py

airflow: setup  ## Airflow locally on the demo stack (for trying the package, not for production); Ctrl-C stops it
	$(BIN)/python scripts/airflow_local.py

test: setup  ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup  ## speed and memory figures, as ratios to a floor measured in the same run (BENCH_PARTS, BENCH_SIZES: see scripts/bench.py)
	$(BIN)/python scripts/bench.py

lock:  ## re-pin requirements.lock after changing requirements*.txt (needs uv: pip install uv)
	uv pip compile requirements-dev.txt -p 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .demo .bench .airflow-local
