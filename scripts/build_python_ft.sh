#!/usr/bin/env bash
# Build free-threaded CPython 3.13 (3.13t, `--disable-gil`) into a cache directory and print the
# interpreter's path on stdout (everything else goes to stderr).
#
#   scripts/build_python_ft.sh            # -> $HOME/.cache/gilfree/cpython-3.13t/bin/python3.13t
#   GILFREE_FT_PREFIX=/opt/py313t scripts/build_python_ft.sh
#
# Idempotent: if the interpreter is already there (and really runs without the GIL) it is printed
# and nothing else happens. Otherwise the source comes from Debian trixie's python3.13 source
# package: a `deb-src` entry for trixie is derived at run time from this machine's existing apt
# sources (same mirror, same keyring), used for `apt-get source`, then removed again. Missing
# build dependencies are installed with apt-get. apt-get needs root (or sudo). Takes ~2.5 min on
# 2 cores.
set -euo pipefail

PREFIX="${GILFREE_FT_PREFIX:-${HOME}/.cache/gilfree/cpython-3.13t}"
PY="${PREFIX}/bin/python3.13t"
SRC_ROOT="${PREFIX}-src"
JOBS="${GILFREE_FT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
BUILD_DEPS=(build-essential dpkg-dev libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
    libsqlite3-dev libreadline-dev uuid-dev)

log() { echo "build_python_ft: $*" >&2; }

is_built() {
    [[ -x "${PY}" ]] && "${PY}" -c 'import sys, ssl, zlib, ctypes; sys.exit(sys._is_gil_enabled())' 2>/dev/null \
        && grep -q 'abi_thread),' "${PREFIX}/lib/python3.13t/site.py"  # the venv fix below
}

if is_built; then
    log "already built: ${PY}"
    echo "${PY}"
    exit 0
fi

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        exit 1
    fi
}

# The first Debian archive URI (not -security) in the machine's apt sources, in either format.
debian_mirror() {
    {
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}'
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}'
    } | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
}

missing=()
for pkg in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
done

src_dir="$(find "${SRC_ROOT}" -maxdepth 1 -type d -name 'python3.13-*' 2>/dev/null | head -n 1 || true)"
if [[ -z "${src_dir}" ]]; then
    mirror="$(debian_mirror || true)"
    if [[ -z "${mirror}" ]]; then
        log "no Debian mirror found in /etc/apt/sources.list{,.d/*}: cannot fetch the trixie source"
        exit 1
    fi
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    list=/etc/apt/sources.list.d/gilfree-trixie-src.sources
    log "fetching python3.13 source from Debian trixie via ${mirror}"
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
        "${mirror}" "${keyring}" | as_root tee "${list}" >/dev/null
    trap 'as_root rm -f "${list}"' EXIT
    as_root apt-get update -qq >&2
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing build dependencies: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
        missing=()
    fi
    mkdir -p "${SRC_ROOT}"
    (cd "${SRC_ROOT}" && apt-get source -qq python3.13 >&2)
    as_root rm -f "${list}"
    trap - EXIT
    src_dir="$(find "${SRC_ROOT}" -maxdepth 1 -type d -name 'python3.13-*' | head -n 1)"
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing build dependencies: ${missing[*]}"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Debian's site.py patch puts a venv's site-packages at lib/python3.13/, but a free-threaded
# venv installs into lib/python3.13t/ (sysconfig's scheme): without this, pip in a 3.13t venv
# installs packages that the venv's python cannot import. Idempotent: no match once patched.
perl -0pi -e 's/("python%d\.%d") % sys\.version_info\[:2\],(\s+"site-packages")/"python%d.%d%s" % (*sys.version_info[:2], abi_thread),$2/' \
    "${src_dir}/Lib/site.py"

log "building ${src_dir} -> ${PREFIX} (make -j${JOBS})"
start=$(date +%s)
build_dir="${SRC_ROOT}/build"
rm -rf "${build_dir}" && mkdir -p "${build_dir}"
(
    cd "${build_dir}"
    "${src_dir}/configure" --disable-gil --prefix="${PREFIX}" --without-ensurepip >configure.log 2>&1 \
        || { tail -n 30 configure.log >&2; exit 1; }
    make -j"${JOBS}" >make.log 2>&1 || { tail -n 40 make.log >&2; exit 1; }
    make install >install.log 2>&1 || { tail -n 40 install.log >&2; exit 1; }
)
if ! is_built; then
    log "built, but ${PY} does not run GIL-free with ssl, zlib and ctypes (see ${build_dir}/make.log)"
    exit 1
fi
log "built in $(($(date +%s) - start)) s: $("${PY}" -VV | tr '\n' ' ')"
echo "${PY}"
