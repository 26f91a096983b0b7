#!/usr/bin/env bash
# Installs the optional peers that benchmarks/bench_compute.py and `gilfree bench` compare gilfree
# with, and the `bench` extra (rich, matplotlib):
#   numba       from its wheel (pip);
#   primesieve  the Python package, which builds against Debian's libprimesieve-dev, and Debian's
#               `primesieve` command (the benchmark's fallback when the Python package is missing);
#   blake3, xxhash, scipy  bench_data.py's hashing and cdist peers (wheels);
#   b3sum       the BLAKE3 team's command, `cargo install b3sum` (bench_data.py's hash_files peer).
# Usage: bash benchmarks/install_peers.sh [PYTHON]   (default: .venv/bin/python)
# Never fails: whatever cannot be installed is reported, and the benchmark then reports that peer
# as skipped. Does nothing for a peer that is already importable.

set -uo pipefail

PY="${1:-.venv/bin/python}"

note() { echo "install_peers: $*" >&2; }

have_module() { "$PY" -c "import $1" >/dev/null 2>&1; }

pip_install() { "$PY" -m pip install --quiet "$@"; }

# The Debian packages are installed only with apt-get and as root; `apt-get update` only when apt
# does not know the package yet (a fresh machine whose package lists were never downloaded).
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        note "apt-get not found: not installing the Debian packages $*"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        note "not root: not installing the Debian packages $* (sudo apt-get install -y $*)"
        return 1
    fi
    local pkg policy
    for pkg in "$@"; do
        policy="$(apt-cache policy "$pkg" 2>/dev/null)"
        if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
            note "apt does not know $pkg yet: apt-get update"
            apt-get update -qq || { note "apt-get update failed"; return 1; }
            break
        fi
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$PY" ]; then
    note "$PY not found (run 'make build' first): no peers installed"
    exit 0
fi

if have_module numba; then
    echo "install_peers: numba already installed"
elif pip_install "numba>=0.59" && have_module numba; then
    echo "install_peers: numba installed"
else
    note "numba could not be installed: the benchmark will skip the Numba peers"
fi

# The rest of the `peers` extra (Cython builds its lab peers with setuptools and gcc) and the
# `bench` extra (rich for the tables, matplotlib for the plots): all wheels.
for spec in "Cython>=3:Cython" "setuptools>=61:setuptools" "rich:rich" "matplotlib:matplotlib" \
    "blake3>=0.4:blake3" "xxhash>=3.0:xxhash" "scipy>=1.10:scipy"; do
    mod="${spec#*:}"
    if have_module "$mod"; then
        echo "install_peers: $mod already installed"
    elif pip_install "${spec%%:*}" && have_module "$mod"; then
        echo "install_peers: $mod installed"
    else
        note "$mod could not be installed: the benchmarks will report what needs it as skipped"
    fi
done

if have_module primesieve; then
    echo "install_peers: primesieve (Python) already installed"
else
    # The package has no wheels: pip builds it (C++, Cython) against libprimesieve-dev, so it
    # needs a C++ compiler and the interpreter's headers too.
    debs=(libprimesieve-dev primesieve)
    command -v c++ >/dev/null 2>&1 || debs+=(g++)
    if ! "$PY" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        debs+=(python3-dev)
    fi
    debian_ok=0
    if dpkg -s "${debs[@]}" >/dev/null 2>&1; then
        debian_ok=1
    elif apt_install "${debs[@]}"; then
        debian_ok=1
        echo "install_peers: Debian packages installed: ${debs[*]}"
    else
        note "could not install the Debian packages ${debs[*]}; trying pip alone"
    fi
    if pip_install "primesieve>=2.3" && have_module primesieve; then
        echo "install_peers: primesieve (Python) installed"
    elif [ "$debian_ok" = 1 ] && command -v primesieve >/dev/null 2>&1; then
        note "the primesieve Python package could not be installed: the benchmark will time" \
            "Debian's primesieve command instead"
    else
        note "primesieve could not be installed: the benchmark will skip it"
    fi
fi
# b3sum: bench_data.py looks for it on PATH, then in ~/.cargo/bin (where cargo install puts it).
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if command -v b3sum >/dev/null 2>&1 || [ -x "$cargo_bin/b3sum" ]; then
    echo "install_peers: b3sum already installed"
elif ! command -v cargo >/dev/null 2>&1; then
    note "cargo not found: b3sum not installed (bench_data.py reports its row as 'b3sum not installed')"
elif cargo install --locked --quiet b3sum; then
    echo "install_peers: b3sum installed into $cargo_bin"
else
    note "cargo install b3sum failed: bench_data.py reports its row as 'b3sum not installed'"
fi
exit 0
