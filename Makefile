# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here too.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

# ape-foundry finds anvil on PATH; the venv's bin holds a link to the pinned binary.
export PATH := $(BIN):$(PATH)

.PHONY: install kubo test test-unit lint contracts-test docker-engine bench-gas bench-content bench-executor bench-node bench chain demo demo-network clean

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

# Real Kubo for the tests of the cross-machine content path: built once into .kubo/bin/ipfs
# (git-ignored) and reused while it reports the pinned version. Kubo v0.43.1 built from its Go
# module; its go.mod replaces go-libp2p by a fork the module proxy does not serve, so we build it
# as a dependency of tools/kubo (a dependency's replace does not apply), which uses upstream
# go-libp2p v0.49.0 (and quic-go v0.60.0, webtransport-go v0.11.1, the versions go-libp2p's own
# go.mod requires). tools/kubo/go.mod and go.sum pin every module, so the build is reproducible.
# Go's own caches (GOCACHE, GOMODCACHE) are kept, so a re-build after `rm -rf .kubo` only relinks.
KUBO_VERSION := v0.43.1
KUBO_GO := 1.26.5
KUBO := $(CURDIR)/.kubo/bin/ipfs

kubo:
	@if [ -x $(KUBO) ] && [ "$$($(KUBO) version --number 2>/dev/null)" = "$(KUBO_VERSION:v%=%)" ]; then \
	  echo "kubo $(KUBO_VERSION): $(KUBO)"; exit 0; fi; \
	command -v go >/dev/null || { echo "error: go not found; Kubo $(KUBO_VERSION) is built from its Go module: install Go >= $(KUBO_GO) (https://go.dev/dl/) and run make kubo again"; exit 1; }; \
	echo "building kubo $(KUBO_VERSION) from its Go module via tools/kubo (once; several minutes)"; \
	mkdir -p .kubo/bin \
	  && (cd tools/kubo && nice -n 10 go build -mod=readonly -trimpath -o $(KUBO).part github.com/ipfs/kubo/cmd/ipfs) \
	  && mv $(KUBO).part $(KUBO) \
	  || { rm -f $(KUBO).part; echo "error: building Kubo $(KUBO_VERSION) failed (Go's output above); check that Go's module proxy serves every module in tools/kubo/go.mod, then run make kubo again"; exit 1; }; \
	[ "$$($(KUBO) version --number)" = "$(KUBO_VERSION:v%=%)" ] || { echo "error: $(KUBO) does not report Kubo $(KUBO_VERSION); remove .kubo and run make kubo again"; exit 1; }; \
	$(KUBO) version

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The unit tier alone: the transition table and every decision, no Docker, no anvil (< 1 min).
test-unit: install
	$(VENV)/bin/python -m pytest tests/unit -q -p no:ape_test

test: install docker-engine kubo lint
	APE_FOUNDRY_HOST=auto $(VENV)/bin/ape test tests --network ethereum:local:foundry --durations=40

# A fresh anvil of its own (random port); -v WARNING keeps `lifecycle_gas=N` the last line.
bench-gas: install
	APE_FOUNDRY_HOST=auto $(VENV)/bin/ape run bench_gas --network ethereum:local:foundry -v WARNING

# Content throughput on a 100 MB file, one run: importer_mb_per_s (goal >= 300),
# store_add_mb_per_s, kubo_add_mb_per_s (Kubo's own `ipfs add`) and store_vs_kubo_ratio.
bench-content: install kubo
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
# `make demo TOKEN=1`: the same job paid in a test stablecoin (tUSD, 6 decimals, EIP-2612 permit).
demo: install docker-engine
	$(VENV)/bin/python demo/run_demo.py $(if $(filter-out 0,$(TOKEN)),--token)

# The same job across two test hosts (network namespaces, root): requester on host A, provider on
# host B, each with its own Kubo daemon and home; content moves only between the two Kubo nodes.
demo-network: install docker-engine kubo
	$(VENV)/bin/python demo/run_network_demo.py

clean:
	rm -rf .build .pytest_cache .ruff_cache .hypothesis .run
