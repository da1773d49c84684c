# nzeza — two commands: `make demo` and `make test`. Both create .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TRUSTED := $(VENV)/.notebooks-trusted
# test processes: one per core (pytest-xdist; each notebook stays on one worker)
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install demo test lint format bench clean notebooks

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# compile nzeza's sweep kernel once into numba's on-disk cache (about 10 s), so the first
	@# sweep in a notebook or test process loads it instead of compiling (see README)
	$(BIN)/nzeza sweep sma_cross --last 500 --grid fast=5,10 slow=20,40 > /dev/null
	@touch $(STAMP)

# JupyterLab renders widgets only in trusted notebooks; the stored ones are this project's own
$(TRUSTED): $(STAMP) $(wildcard notebooks/*.ipynb)
	$(BIN)/jupyter trust notebooks/*.ipynb > /dev/null
	@touch $(TRUSTED)

install: $(STAMP) $(TRUSTED)

demo: $(STAMP) $(TRUSTED)
	$(BIN)/nzeza demo

test: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(JOBS) --dist worksteal
	# the notebooks register trials and sessions in the configured ledger: a new one per run, so
	# stored outputs (trial counts, verdicts) never depend on earlier runs, nor reach a ledger
	# that NZEZA_LEDGER_URL or .env names
	NZEZA_LEDGER_URL="sqlite:///$$(mktemp -d)/ledger.sqlite" $(BIN)/python -m pytest -p no:cacheprovider -n $(JOBS) --dist loadfile --nbval --nbval-sanitize-with notebooks/sanitize.cfg notebooks/

lint: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info

notebooks: $(STAMP)  # re-execute every notebook in place (after a change to the library)
	$(BIN)/python scripts/build_notebooks.py
