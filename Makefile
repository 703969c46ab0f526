# vhtwin: the main job and the test suite. Each target sets up .venv on its own (fresh or reused machine);
# the only prerequisites are make and Python 3.11+ (python3.11, else python3).

ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench docs venv browser sundials clean

## run: the main job -- the built-in two-arm trial (10,000 virtual patients) -> out/trial.zarr, a summary table
## and the figures out/trial_Cc_bands.png, out/trial_Cc_nca.png
run: $(STAMP)
	$(BIN)/vhtwin run --out out/trial.zarr --overwrite --target 0.5

## test: the whole test suite, slow tests included, in two worker processes (most of a test's time is XLA
## compiling on one core); the tests of one file share a worker, so module fixtures are computed once
test: $(STAMP) browser sundials
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

## test-fast: the inner loop, under 3 minutes on 2 cores -- the suite without the tests marked slow (one cheap test
## file or more per package stays in; `make test` and CI run everything)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

## bench: the benchmarks (JSON on stdout)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## docs: the documentation site, built strictly (a warning fails it) into site/
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

venv: $(STAMP)

## browser: Chromium and its driver for the clinician's page's browser test -- the OS packages (apt-get, with sudo
## unless root) where they are missing; a browser that downloads itself is not used
browser:
	@if command -v chromedriver >/dev/null 2>&1 && { command -v chromium || command -v chromium-browser || \
	    command -v google-chrome; } >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); echo "make: installing chromium and chromium-driver (apt-get)"; \
	    $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	else echo "make: the browser test needs Chromium and chromedriver on PATH; install them with this system's \
	package manager" >&2; exit 1; fi

## sundials: the SUNDIALS headers and libraries (OS package libsundials-dev) that Myokit compiles its simulations
## against -- the peer of the CellML tests -- installed with apt-get (with sudo unless root) where missing
sundials:
	@if [ -f /usr/include/sundials/sundials_config.h ] || [ -f /usr/local/include/sundials/sundials_config.h ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); echo "make: installing libsundials-dev (apt-get)"; \
	    $$SUDO apt-get install -y -q libsundials-dev >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q libsundials-dev >/dev/null; }; \
	else echo "make: the CellML tests compare with Myokit, which needs the SUNDIALS headers (libsundials-dev); \
	install them with this system's package manager" >&2; exit 1; fi

# Reinstalled whenever pyproject.toml changes; a broken or half-made .venv is rebuilt.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: need python3.11 (or python3) on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "make: $(PYTHON) is older than Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python && $(BIN)/python -c 'import sys' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) out build dist *.egg-info src/*.egg-info
