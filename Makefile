# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo smoke test bench clean

# Installs once; re-installs when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The main job: synthetic demo data in native layouts, then every notebook headlessly into runs/demo.
demo: $(STAMP)
	$(BIN)/reidlab notebooks run --preset demo --out runs/demo

# The same suite at the smoke preset: about two minutes on a 2-core CPU.
smoke: $(STAMP)
	$(BIN)/reidlab notebooks run --preset smoke --out runs/smoke

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf runs data .pytest_cache .hypothesis
