# gilfree's front door. `make` (or `make help`) lists the targets.
# Everything installs what it needs into .venv; the extension is always optimised: the `release`
# profile, or `ci` for `make test` (CARGO_PROFILE; Cargo.toml says what differs).

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

# The extras installed with the build; `make test` adds the lab's peers (Numba, Cython) and the
# bench extra (rich, matplotlib: the lab's optional output, which mypy checks too).
EXTRAS ?= test,lint
# The cargo profile of the extension: release (thin LTO, one codegen unit), or ci (same
# optimisation level, no LTO, 16 codegen units: about half the build time on 2 cores).
CARGO_PROFILE ?= release

.PHONY: build
build: $(STAMP) ## Build the extension (release) and install it into .venv, editable
	$(VENV)/bin/maturin develop --profile $(CARGO_PROFILE) --quiet --extras $(EXTRAS)

.PHONY: demo
demo: ## Build everything and run the demo: info, an example, the GIL lab (gilfree bench --quick) with its plot
	@# The bench extra (rich, matplotlib): the table drawn with rich, and the plot the demo ends with.
	$(MAKE) --no-print-directory build EXTRAS=test,lint,bench
	$(VENV)/bin/gilfree info
	$(PY) examples/reduce_gil_free.py
	@mkdir -p bench-results
	$(VENV)/bin/gilfree bench --quick --json bench-results/demo.json \
		$$($(PY) -c 'import matplotlib' 2>/dev/null && echo --plot bench-results/demo.png \
		  || echo "demo: no plot: matplotlib is not installed (pip install 'gilfree[bench]')" >&2)

.PHONY: test
test: ## Build and run every test: lint, cargo, the example extensions, pytest with the Numba/Cython peers, the wheel, gilfree new, free-threaded 3.13t with CPython's futures suite
	@date +%s > .test-started
	@# One optimised build of everything in the ci profile, reused by cargo test, the wheel and the
	@# free-threaded leg: the release profile's LTO would double the CI's compile time.
	$(MAKE) --no-print-directory build EXTRAS=test,lint,bench,peers CARGO_PROFILE=ci
	@$(call step,lint)
	$(MAKE) --no-print-directory lint-check
	@$(call step,cargo test)
	cargo test --profile ci -p gilfree-engine -p gilfree-kernels
	@$(call step,the example extensions)
	# The example extensions, built into .venv as a user builds them: pytest tests them installed.
	$(MAKE) --no-print-directory examples-rust examples-cython
	@$(call step,pytest)
	@# The free-threaded build runs meanwhile, on the core pytest leaves idle most of the time
	@# (scripts/bg.sh: idle priority, its own target dir): on its own it took 4 of CI's 25 minutes.
	@# Not earlier: beside lint and cargo test, which keep both cores busy, it slowed them as much.
	bash scripts/bg.sh start ft-build $$PPID $(MAKE) --no-print-directory test-ft-build CARGO_PROFILE=ci
	$(PY) -m pytest
	@$(call step,the wheel)
	$(MAKE) --no-print-directory test-wheel CARGO_PROFILE=ci
	@$(call step,gilfree new)
	GILFREE_WHEEL=$$(ls $(CURDIR)/dist/gilfree-*.whl) $(MAKE) --no-print-directory test-new
	@$(call step,free-threaded 3.13t)
	# CPython's own test_concurrent_futures runs in the free-threaded leg (tests/test_cpython_futures.py,
	# 3.13t ships its test package); `make test-cpython` runs it on a GIL build of 3.13 too.
	bash scripts/bg.sh wait ft-build
	$(MAKE) --no-print-directory test-ft-run
	@$(call step,done)

# `make test`'s progress: the step starting and the minutes since the start (CI's 25-minute budget).
step = echo "== make test: $(1) at $$(date +%T), $$(( ($$(date +%s) - $$(cat .test-started)) / 60 )) min \
	$$(( ($$(date +%s) - $$(cat .test-started)) % 60 )) s in"

FT_VENV := .venv-ft
FT_SKIP ?= tests/test_benchgame.py tests/test_bench_data.py tests/test_examples.py tests/test_montecarlo.py \
	tests/test_fractal.py
FT_PY := $(FT_VENV)/bin/python
FT_TARGET := target/ft

.PHONY: test-ft
test-ft: ## Build free-threaded CPython 3.13t (cached), gilfree for it in .venv-ft, and run pytest there
	$(MAKE) --no-print-directory test-ft-build
	$(MAKE) --no-print-directory test-ft-run

.PHONY: test-ft-build
test-ft-build: ## `make test-ft` without pytest: CPython 3.13t (cached), .venv-ft, gilfree built for it
	@ftpy=$$(bash scripts/build_python_ft.sh) || exit 1; \
	if ! $(FT_PY) -c 'import sys; sys.exit(sys._is_gil_enabled())' 2>/dev/null; then \
	  rm -rf $(FT_VENV) && echo "$$ftpy -m venv $(FT_VENV)" && $$ftpy -m venv $(FT_VENV); fi
	$(FT_PY) -m pip install --quiet --upgrade pip
	$(FT_PY) -m pip install --quiet --only-binary=:all: "numpy<2.5" "scipy>=1.15" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" \
		"maturin>=1.9,<2"
	# --only-binary: numpy 2.5 and hypothesis>6.155 have no 3.13t wheels and build from source.
	# A target dir of its own (FT_TARGET): the 3.11 build's artifacts stay as they are (pyo3's chain
	# and the binding differ per interpreter; sharing one dir rebuilt them at each switch), and
	# `make test` can run this build in the background while the 3.11 tests use the other one.
	CARGO_TARGET_DIR=$(abspath $(FT_TARGET)) VIRTUAL_ENV=$(abspath $(FT_VENV)) PYO3_PYTHON=$(abspath $(FT_PY)) \
		$(FT_VENV)/bin/maturin develop --profile $(CARGO_PROFILE) --quiet
	$(FT_PY) -c "import sys, gilfree; assert not sys._is_gil_enabled(), 'importing gilfree re-enabled the GIL'; \
		print('test-ft:', sys.version.split()[0], 'free-threaded, GIL off after import gilfree')"

.PHONY: test-ft-run
test-ft-run: ## `make test-ft` without the build: pytest in .venv-ft (run `make test-ft-build` first)
	# Properties at 25 examples here (tests/conftest.py): the 3.11 leg runs them at 150. The files
	# in FT_SKIP check numbers that do not depend on the interpreter (published values, kernels'
	# bits against NumPy or peers, example scripts): the 3.11 leg runs them; `make test-ft FT_SKIP=`
	# runs them here too.
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci-ft} $(FT_PY) -m pytest $(addprefix --ignore=,$(FT_SKIP))

CPY_VENV := .venv-313
CPY_PY := $(CPY_VENV)/bin/python

.PHONY: test-cpython
test-cpython: ## Run CPython 3.13's own concurrent.futures thread-pool tests against gilfree.Executor (.venv-313)
	@set -e; py=""; pyenv_root=$${PYENV_ROOT:-$$HOME/.pyenv}; \
	for c in $$(command -v python3.13 2>/dev/null) $$(ls -d $$pyenv_root/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV); do \
	  if "$$c" -c 'import sys, sysconfig, test.test_concurrent_futures.util; \
	      sys.exit(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))' >/dev/null 2>&1; then py=$$c; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "test-cpython: SKIPPED: no CPython 3.13 (GIL build) with its test package, neither python3.13 on PATH nor in $$pyenv_root/versions"; \
	  exit 0; fi; \
	if ! $(CPY_PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
	  rm -rf $(CPY_VENV); echo "$$py -m venv $(CPY_VENV)"; "$$py" -m venv $(CPY_VENV); fi; \
	$(CPY_PY) -m pip install --quiet --upgrade pip; \
	$(CPY_PY) -m pip install --quiet "numpy<2.5" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" "maturin>=1.9,<2"; \
	echo "test-cpython: gilfree for $$("$$py" -c 'import sys; print(sys.version.split()[0])') ($$py) into $(CPY_VENV)"; \
	VIRTUAL_ENV=$(abspath $(CPY_VENV)) PYO3_PYTHON=$(abspath $(CPY_PY)) CARGO_TARGET_DIR=target/py313 \
	  $(CPY_VENV)/bin/maturin develop --release --quiet; \
	$(CPY_PY) -m pytest tests/test_cpython_futures.py

.PHONY: test-wheel
test-wheel: $(STAMP) ## Build a wheel with `pip wheel .`, install it in a fresh venv, run the CLI
	@# MATURIN_PEP517_ARGS: pip's maturin builds in the same cargo profile as `make build` (and reuses it).
	rm -rf dist && MATURIN_PEP517_ARGS="--profile $(CARGO_PROFILE)" $(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .
	rm -rf dist/venv && $(PYTHON) -m venv dist/venv
	dist/venv/bin/pip install --quiet dist/gilfree-*.whl
	cd dist && venv/bin/gilfree info
	cd dist && venv/bin/python -m gilfree info --json > /dev/null
	cd dist && venv/bin/python -c "import gilfree, numpy as np; a = np.arange(10**6, dtype=np.float64); assert gilfree.sum(a) == a.sum(); print('wheel OK:', gilfree.__file__)"

.PHONY: lint
lint: build lint-check ## cargo fmt/clippy, ruff check/format, mypy, and stubtest (_native.pyi vs the module)

.PHONY: lint-check
lint-check: ## `make lint` without the build (the extension must be installed already)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --manifest-path examples/ext-rust/Cargo.toml -- --check
	CARGO_TARGET_DIR=target/examples cargo clippy --manifest-path examples/ext-rust/Cargo.toml --all-targets -- -D warnings
	# gilfree-pyo3's rustdoc is its manual: no broken links or warnings.
	RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p gilfree-pyo3 -p gilfree-engine
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy python/gilfree
	$(PY) -m mypy.stubtest gilfree._native

.PHONY: bench
bench: build ## Run the benchmarks and the full GIL lab (installs the bench and peers extras first); each target prints PASS or FAIL
	bash benchmarks/install_peers.sh $(PY)
	@mkdir -p bench-results
	@# A benchmark that misses a target exits 1; the others still run (the leading '-').
	-$(PY) benchmarks/bench_fanout.py --json bench-results/fanout.json
	-$(PY) benchmarks/bench_reduce.py
	-$(PY) benchmarks/bench_compute.py
	-$(PY) benchmarks/bench_distance.py
	-$(PY) benchmarks/bench_executor.py
	-$(PY) benchmarks/bench_shared.py
	-$(PY) benchmarks/bench_data.py --json bench-results/data.json
	-$(VENV)/bin/gilfree bench --workload all --json bench-results/bench.json --plot bench-results/bench.png
	-$(PY) benchmarks/check_lab.py bench-results/bench.json

.PHONY: clean
clean: ## Remove build products and the venv
	cargo clean
	rm -rf $(VENV) $(FT_VENV) .bg dist python/gilfree/*.so .pytest_cache .ruff_cache .mypy_cache .hypothesis

.PHONY: examples-cython
examples-cython: ## Build examples/ext-cython into .venv as a user would (needs `make build` first)
	bash scripts/build_examples.sh cython

.PHONY: examples-rust
examples-rust: ## Build examples/ext-rust into .venv as a user would, `pip install` with maturin (needs `make build` first)
	bash scripts/build_examples.sh rust

.PHONY: test-new
test-new: ## `gilfree new` end to end: the wheel in a fresh venv, a Rust and a Cython project built and tested
	PYTHON=$(PYTHON) bash scripts/test_new.sh
