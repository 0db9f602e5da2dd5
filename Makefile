# One-command set-up: `make demo` and `make test` create .venv, install XPL into it, and run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PACKAGES := chain p2p runtime gpu_worker sim

.PHONY: demo test lint typecheck pytest fuzz install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# trio-typing, which py-libp2p requires, installs stubs of an old trio that hide trio's own
	# (newer, inline) types from mypy; the runtime does not use them.
	rm -rf $(VENV)/lib/python*/site-packages/trio-stubs
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xpl demo

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests
	$(BIN)/ruff format --check $(PACKAGES) tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers, each taking whole test modules (a module's shared node or localnet stays in one):
# most process tests wait on their nodes, so the other worker's tests fill the time
# (`make pytest PYTEST_WORKERS=3` tries a third: its process tests then miss more of their
# deadlines on a busy machine). XPL's byte code is compiled once first: the tests start hundreds
# of `xpl` processes, each of which would compile the modules it imports again where no
# __pycache__ may be written (PYTHONDONTWRITEBYTECODE).
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 $(PACKAGES) tests
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# Lint and the type check run beside the test suite, on the CPU its waiting process tests leave
# idle; each one's output is printed when it ends, and `make test` fails if any of the three does.
test: $(STAMP)
	$(MAKE) --no-print-directory -j 3 --output-sync=target lint typecheck pytest

# Every fuzz target for FUZZ_SECONDS each (`make fuzz FUZZ_SECONDS=600`); `make test` runs each for
# a few seconds. Inputs that fail are kept in tests/fuzz/regressions/ and replayed by the tests.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run all --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
