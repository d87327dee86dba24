# Two commands matter on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-matrix lint typecheck unit integration server-up server-down bench bench-pool reliability docs clean

install: $(STAMP)

# Browser tests drive Debian's chromium (playwright cannot download its own browser offline).
CHROMIUM_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(STAMP): pyproject.toml
	command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then sh -c '$(CHROMIUM_INSTALL)'; else sudo sh -c '$(CHROMIUM_INSTALL)'; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,quality]'
	touch $(STAMP)

# The main job: a multi-stage run against a local server started on demand.
demo: install
	$(BIN)/invokeai-py server provision
	$(BIN)/invokeai-py refine --local --seed 42 --output-dir outputs/demo \
		"a lighthouse on a cliff at dusk, detailed" "a portrait of an astronaut" "a castle in the fog" \
		--width 64 --height 64 --base-steps 4 --refine-steps 4 --refine-strength 0.5 \
		--enhance-face --upscale --upscale-factor 2

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

# Provision first so its progress is visible; the pytest session fixture then
# starts the server (or reuses a running one) and stops what it started.
integration: install
	$(BIN)/invokeai-py server provision
	$(BIN)/pytest tests/integration

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/invokeai-py server provision
	$(BIN)/pytest
	$(BIN)/python scripts/test_matrix.py $(MATRIX_VERSIONS)

# The integration suite against the older releases users still run (README: supported
# versions), each provisioned as its own instance beside the default server.
MATRIX_VERSIONS ?= 6.0.2 5.15.0

test-matrix: install
	$(BIN)/python scripts/test_matrix.py $(MATRIX_VERSIONS)

# The documentation site (mkdocs, Material theme, API reference from the docstrings) in site/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

server-up: install
	$(BIN)/invokeai-py server up

server-down: install
	$(BIN)/invokeai-py server down

# Ours vs invokeai-py-client 1.1.1 (PyPI, in a venv of its own: same import name) on the local
# server: benchmarks/results/latest.json and latest.png, and README.md's "Measured" table.
# BENCH_ARGS: --quick (1 small repetition, results in benchmarks/.work/), --only chain,latency,
# --ours-ref REF (measure a commit instead of the working tree), --url URL.
PEER_VENV := benchmarks/.peer-venv
BENCH_ARGS ?=

$(PEER_VENV)/bin/python:
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install -q invokeai-py-client==1.1.1

bench: install $(PEER_VENV)/bin/python
	$(BIN)/invokeai-py server provision
	$(BIN)/invokeai-py server up
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# A run over 1-32 servers, simulated with loopback stand-ins (benchmarks/standin.py):
# benchmarks/results/pool.json, about six minutes, no InvokeAI server needed.
bench-pool: install
	$(BIN)/python benchmarks/pool_scaling.py

# docs/RELIABILITY.md from a run of the fault, bad-input and real-server reliability tests.
# The load scenario runs 500 jobs (as in make test); RELIABILITY_ARGS=--load-jobs N.
RELIABILITY_ARGS ?=

reliability: install
	$(BIN)/invokeai-py server provision
	$(BIN)/python scripts/reliability_report.py $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
