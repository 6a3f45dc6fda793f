# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here too.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

# ape-foundry finds anvil on PATH; the venv's bin holds a link to the pinned binary.
export PATH := $(BIN):$(PATH)

.PHONY: install test lint contracts-test docker-engine bench-gas bench-content bench-executor bench-node bench chain demo clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml package.json package-lock.json
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js >= 20 (it installs the pinned anvil binary)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-deps -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	npm ci --no-audit --no-fund --loglevel=error
	ln -sf $(ANVIL) $(VENV)/bin/anvil
	$(VENV)/bin/anvil --version | head -1
	touch $(STAMP)

# A Docker engine for the provider node's tests and the demo: reuses a running one, starts
# dockerd when none is reachable and we are root, or says clearly what to do.
docker-engine: install
	$(VENV)/bin/python -m jobmarket.docker_engine ensure
	$(VENV)/bin/python -m jobmarket.docker_engine build-image

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install docker-engine lint
	APE_FOUNDRY_HOST=auto $(VENV)/bin/ape test tests --network ethereum:local:foundry

# A fresh anvil of its own (random port); -v WARNING keeps `lifecycle_gas=N` the last line.
bench-gas: install
	APE_FOUNDRY_HOST=auto $(VENV)/bin/ape run bench_gas --network ethereum:local:foundry -v WARNING

# Importer throughput on a 100 MB file: prints importer_mb_per_s=N (goal >= 300).
bench-content: install
	$(VENV)/bin/python -m bench.content_throughput

# A trivial job through the hardened executor vs. a bare `docker run` (median of 5).
bench-executor: docker-engine
	$(VENV)/bin/python -m bench.executor_overhead

# The system's figures side by side: lifecycle_gas, overhead_ratio, claim_latency_blocks,
# backlog_catchup_s, throughput_jobs_per_min (one name=value line each; details on stderr).
bench: docker-engine
	$(VENV)/bin/python -m bench.system

# A fresh node's catch-up on 1,000 posted jobs, in detail (scan, first claim, all decided).
bench-node: docker-engine
	$(VENV)/bin/python -m bench.node_backlog

# A local chain (anvil on 127.0.0.1:8545) with a fresh JobMarket, until Ctrl-C: for trying
# `requester` and `provider-node` by hand in other terminals.
# `make chain FORK_URL=https://… [FORK_BLOCK=N]` forks that chain instead of starting empty.
chain: install
	$(VENV)/bin/python -m jobmarket.devnet $(if $(FORK_URL),--fork-url $(FORK_URL)) $(if $(FORK_BLOCK),--fork-block $(FORK_BLOCK))

# The whole system on one machine: chain, contract, provider node, a job posted, verified, paid.
demo: install docker-engine
	$(VENV)/bin/python demo/run_demo.py

clean:
	rm -rf .build .pytest_cache .ruff_cache .hypothesis .run
