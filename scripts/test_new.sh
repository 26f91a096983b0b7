#!/usr/bin/env bash
# `gilfree new` end to end, as a user meets it: gilfree's wheel (`pip wheel --no-deps`) installed
# into a fresh venv in a temporary directory, no checkout of this repository around; then
# `gilfree new demo` (Rust) and `gilfree new demo_cy --cython` made there, each built with
# `pip install .` and checked with its own `pytest`. Only the package registries are reached
# (PyPI for Python packages, crates.io for the Rust project's dependencies).
#
# Usage: bash scripts/test_new.sh            (PYTHON=python3.12 bash scripts/test_new.sh: another Python;
#        GILFREE_WHEEL=dist/gilfree-...whl bash scripts/test_new.sh: that wheel, not a new build)
#
# Cargo's output is kept between runs in target/test-new (GILFREE_TEST_NEW_TARGET to move it): one
# target dir for gilfree's wheel, one for the generated projects. Timings are printed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
TARGET=${GILFREE_TEST_NEW_TARGET:-$ROOT/target/test-new}
mkdir -p "$TARGET"
TARGET=$(cd "$TARGET" && pwd)

# Nothing of a development environment leaks in (the Makefile exports the first two).
unset VIRTUAL_ENV PYO3_PYTHON PYTHONPATH CONDA_PREFIX PYTHONHOME
# maturin builds against the base interpreter, not the per-run build environment's: the cached
# pyo3 build stays valid from one run to the next.
export MATURIN_PEP517_USE_BASE_PYTHON=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gilfree-test-new.XXXXXX")
TIMES=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)
step() { echo; echo "== test-new: $*"; }
record() { TIMES+=("$(printf '%-36s %7s s' "$1" "$2")"); }
finish() {
    local rc=$?
    echo
    if [ "$rc" = 0 ]; then echo "== test-new: passed"; else echo "== test-new: FAILED (exit $rc)"; fi
    for line in "${TIMES[@]}"; do echo "   $line"; done
    echo "   $(printf '%-36s %7s s' total "$(since "$t_all")")"
    rm -rf "$WORK"
    exit "$rc"
}
trap finish EXIT

t=$(now)
mkdir -p "$WORK/dist"
if [ -n "${GILFREE_WHEEL:-}" ]; then
    # A wheel already built by `pip wheel` (make test-wheel, just before in `make test`): the same
    # artefact a user installs, without building it twice.
    step "gilfree's wheel: $GILFREE_WHEEL"
    cp "$GILFREE_WHEEL" "$WORK/dist/"
else
    step "gilfree's wheel (pip wheel --no-deps) -> $WORK/dist"
    CARGO_TARGET_DIR="$TARGET/gilfree" "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$ROOT"
fi
record "gilfree wheel" "$(since "$t")"
WHEEL=$(ls "$WORK"/dist/gilfree-*.whl)
echo "$WHEEL"
"$PYTHON" - "$WHEEL" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = [
    "gilfree/_crates/gilfree-pyo3/Cargo.toml",
    "gilfree/_crates/gilfree-pyo3/src/lib.rs",
    "gilfree/_crates/gilfree-engine/Cargo.toml",
    "gilfree/_crates/gilfree-engine/src/lib.rs",
    "gilfree/_templates/rust/Cargo.toml.tmpl",
    "gilfree/_templates/cython/setup.py.tmpl",
    "gilfree/include/gilfree.h",
    "gilfree/runtime.pxd",
]
missing = [n for n in need if n not in names]
stray = sorted(n for n in names if n.startswith("gilfree/_crates/") and "/target/" in n)
if missing or stray:
    sys.exit(f"test-new: the wheel lacks {missing} or has build output {stray[:3]}")
print(f"the wheel carries the crate sources, the templates and the headers ({len(names)} files)")
EOF

step "a fresh venv with the wheel and pytest"
t=$(now)
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install --quiet "$WHEEL" "pytest>=8"
record "venv + wheel + pytest" "$(since "$t")"
mkdir -p "$WORK/projects"
cd "$WORK/projects"
"$VPY" -c "import gilfree; print('gilfree', gilfree.__version__, 'from', gilfree.__file__)"

# Each project: made by `gilfree new`, built by `pip install .`, checked by its own tests.
check_project() {
    local name=$1 kind=$2
    shift 2
    step "gilfree new $name${*:+ $*} ($kind)"
    "$WORK/venv/bin/gilfree" new "$name" "$@"
    cd "$WORK/projects/$name"
    if [ "$kind" = rust ]; then
        # The crate sources are the wheel's copy, inside the venv: not this checkout.
        local dep
        dep=$(grep '^gilfree-pyo3' Cargo.toml)
        echo "$dep"
        case "$dep" in
            *"$WORK/venv/"*) ;;
            *) echo "test-new: gilfree-pyo3 is not the installed copy: $dep" >&2; exit 1 ;;
        esac
    fi
    local t
    t=$(now)
    CARGO_TARGET_DIR="$TARGET/projects" "$VPY" -m pip install --quiet .
    record "$name: pip install ." "$(since "$t")"
    t=$(now)
    "$WORK/venv/bin/pytest" -q -s -p no:cacheprovider
    record "$name: pytest" "$(since "$t")"
    cd "$WORK/projects"
}

check_project demo rust
check_project demo_cy cython --cython
echo
echo "test-new: Python $("$VPY" -c 'import platform; print(platform.python_version())'), $(uname -sm)"
