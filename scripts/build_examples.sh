#!/usr/bin/env bash
# Builds the example extensions of examples/ into the test venv, as a user would build them, so
# that the tests import the installed packages (never the source trees).
#
#   bash scripts/build_examples.sh cython     examples/ext-cython -> gilfree_cython_example
#   bash scripts/build_examples.sh rust       examples/ext-rust   -> gilfree_rust_example
#
# PY (default .venv/bin/python) is the interpreter; gilfree must be installed in it already
# (`make build`): the examples build against that gilfree's headers, not one from a registry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
case "$PY" in /*) ;; */*) PY="$PWD/$PY" ;; esac  # the check below runs from /

need_gilfree() {
  if ! "$PY" -c 'import gilfree' 2>/dev/null; then
    echo "build_examples: gilfree is not importable with $PY: run 'make build' first" >&2
    exit 1
  fi
}

build_cython() {
  need_gilfree
  # The example's build requirements (pyproject.toml) except gilfree itself: pip checks nothing
  # with --no-build-isolation, so install them here (a no-op when they are there already).
  "$PY" -m pip install --quiet "setuptools>=77" "cython>=3.1"
  # A fresh build every time: setuptools would not notice a changed gilfree.h.
  rm -rf examples/ext-cython/build examples/ext-cython/src/gilfree_cython_example/_primes.c \
    examples/ext-cython/src/*.egg-info
  "$PY" -m pip install --quiet --no-build-isolation --no-deps --force-reinstall ./examples/ext-cython
  # Imported from the installed package (outside the repository), and it works.
  (cd / && "$PY" -c 'import gilfree_cython_example as ex
assert ex.count_primes(0, 10**5) == ex.count_primes_nogil(0, 10**5) == 9592
print("build_examples: gilfree_cython_example installed at", ex.__file__)')
}

build_rust() {
  need_gilfree
  # Exactly a user's `pip install .`: pip builds the wheel with maturin (fetched from PyPI into an
  # isolated build environment) and installs it. The Rust build goes to target/examples, so a
  # rebuild after a change compiles only what changed (pyo3 and numpy stay built).
  CARGO_TARGET_DIR="$PWD/target/examples" "$PY" -m pip install --quiet ./examples/ext-rust
  # Imported from the installed package (outside the repository), linked to gilfree's runtime.
  (cd / && "$PY" -c 'import gilfree_rust_example as ex
assert ex.runtime_linked(), "not linked to the gilfree runtime"
assert ex.edit_distance_matrix(["kitten", "sitting"]).tolist() == [[0, 3], [3, 0]]
print("build_examples: gilfree_rust_example installed at", ex.__file__)')
}

case "${1:-}" in
  cython) build_cython ;;
  rust) build_rust ;;
  *)
    echo "usage: bash scripts/build_examples.sh cython|rust" >&2
    exit 2
    ;;
esac
