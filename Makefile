# The README's two commands:  `make demo`  and  `make test`.
# Both create .venv (once), install imgenlib with its extras into it, then do their job.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
FASHION_MNIST := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=
# Test processes (pytest-xdist). Two on a 2-core CPU: much of a test is single-threaded
# (graph tracing, Python, subprocess start-up), so two workers overlap it (CI 1,579 s -> 1,006 s).
# --dist loadscope keeps each test module (and each notebook's cells) on one worker, in order.
WORKERS ?= 2
XDIST := $(if $(filter 0 1,$(WORKERS)),,-n $(WORKERS) --dist loadscope)
# Each worker's compute threads (TensorFlow's intra-op pool, OpenBLAS): the cores shared out,
# so two workers on two cores do not run four busy threads (5-6 % faster on subsets of the suite).
THREADS := $(shell n=$$(nproc 2>/dev/null || echo 2); w=$(if $(filter 0,$(WORKERS)),1,$(WORKERS)); \
	t=$$((n / w)); echo $$((t > 0 ? t : 1)))
TEST_ENV := IMGENLIB_QUICK=1 TF_CPP_MIN_LOG_LEVEL=3 TF_NUM_INTRAOP_THREADS=$(THREADS) \
	OPENBLAS_NUM_THREADS=$(THREADS)

.PHONY: demo test test-fast install data lint format clean

demo: install
	$(PY) -m imgenlib demo --out outputs

test: install data
	$(PY) -m ruff check .
	$(TEST_ENV) $(PY) -m pytest tests notebooks --nbval \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=300 $(XDIST) $(PYTEST_ARGS)

# The edit-test loop: skips tests marked slow (learning runs, subprocesses, the notebooks).
test-fast: install data
	$(PY) -m ruff check .
	$(TEST_ENV) $(PY) -m pytest tests -m "not slow" $(XDIST) $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "imgenlib needs Python >= 3.10 (found $$($(PYTHON) --version))."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create a venv: on Debian/Ubuntu run 'sudo apt-get install python3-venv'."; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,notebooks]"
	@touch $(STAMP)

# Real data for the notebooks and tests: Debian's Fashion-MNIST package (where apt exists),
# Debian's chromium for the browser test (tests/test_browser.py), and the colour emoji
# (npm packages, fetched once into ~/.cache/imgenlib or $IMGENLIB_DATA).
data: install
	@if [ ! -d $(FASHION_MNIST) ] && command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y dataset-fashion-mnist || \
		{ $$SUDO apt-get update && $$SUDO apt-get install -y dataset-fashion-mnist; } || \
		echo "Could not install dataset-fashion-mnist; tests that need it will fail."; \
	fi
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y chromium || \
		{ $$SUDO apt-get update && $$SUDO apt-get install -y chromium; } || \
		echo "Could not install chromium; tests/test_browser.py will fail."; \
	fi
	$(PY) -m imgenlib fetch emoji

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
