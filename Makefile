# gilfree's front door. `make` (or `make help`) lists the targets.
# Everything installs what it needs into .venv; the extension is always built in release mode.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-stamp
# The binding crate links against this interpreter (clippy and tests need it too).
export PYO3_PYTHON := $(abspath $(PY))
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: help
help: ## Show this help
	@echo "gilfree — GIL-free Rust kernels for CPU-bound Python"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust stable (rustup)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9,<2"
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv with the build and test tools

.PHONY: build
build: $(STAMP) ## Build the extension (release) and install it into .venv, editable
	$(VENV)/bin/maturin develop --release --quiet --extras test,lint

.PHONY: demo
demo: build ## Build everything and run the demo: info, an example, the GIL lab (gilfree bench --quick)
	$(VENV)/bin/gilfree info
	$(PY) examples/reduce_gil_free.py
	@mkdir -p bench-results
	$(VENV)/bin/gilfree bench --quick --json bench-results/demo.json \
		$$($(PY) -c 'import matplotlib' 2>/dev/null && echo --plot bench-results/demo.png \
		  || echo "demo: no plot: matplotlib is not installed (pip install 'gilfree[bench]')" >&2)

.PHONY: test
test: build ## Build and run every test: cargo (core), pytest, and the wheel smoke test
	cargo test --release -p gilfree-core
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-wheel

.PHONY: test-wheel
test-wheel: $(STAMP) ## Build a wheel with `pip wheel .`, install it in a fresh venv, run the CLI
	rm -rf dist && $(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .
	rm -rf dist/venv && $(PYTHON) -m venv dist/venv
	dist/venv/bin/pip install --quiet dist/gilfree-*.whl
	cd dist && venv/bin/gilfree info
	cd dist && venv/bin/python -m gilfree info --json > /dev/null
	cd dist && venv/bin/python -c "import gilfree, numpy as np; a = np.arange(10**6, dtype=np.float64); assert gilfree.sum(a) == a.sum(); print('wheel OK:', gilfree.__file__)"

.PHONY: lint
lint: build ## cargo fmt/clippy, ruff check/format, mypy, and stubtest (_native.pyi vs the module)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy python/gilfree
	$(PY) -m mypy.stubtest gilfree._native

.PHONY: bench
bench: build ## Run the benchmarks and the full GIL lab (installs the bench and peers extras first)
	bash benchmarks/install_peers.sh $(PY)
	$(PY) benchmarks/bench_reduce.py
	$(PY) benchmarks/bench_compute.py
	$(PY) benchmarks/bench_executor.py
	$(PY) benchmarks/bench_shared.py
	@mkdir -p bench-results
	$(VENV)/bin/gilfree bench --workload all --json bench-results/bench.json --plot bench-results/bench.png

.PHONY: clean
clean: ## Remove build products and the venv
	cargo clean
	rm -rf $(VENV) dist python/gilfree/*.so .pytest_cache .ruff_cache .mypy_cache .hypothesis
