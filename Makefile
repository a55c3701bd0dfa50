# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo smoke test bench clean chromium

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

# tests/test_browser.py drives Debian's chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: tests/test_browser.py will error; install it (sudo apt-get install -y chromium)" >&2; \
	  fi; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf runs data .pytest_cache .hypothesis
