"""The Cython peers of the lab's workloads: a ``.pyx`` source kept here as a string (so that it
ships in the wheel), compiled on first use into a cache directory and loaded from there after.

The cache directory is ``$GILFREE_CACHE_DIR``, else ``$XDG_CACHE_HOME/gilfree/cython``, else
``~/.cache/gilfree/cython``. A build is keyed by a hash of the source, the build flags, Cython's
version and the interpreter's ABI, and lands atomically: it is built in a private temporary
directory and renamed into place, so two processes that race both end up loading one complete
build. The compile runs in a child process (Cython's ``cythonize`` and setuptools' ``build_ext``),
whose whole output goes to a log file in the cache directory when it fails.

Every function is a ``cdef ... noexcept nogil`` body wrapped by a ``def`` that converts the
arguments with the GIL and runs the body inside ``with nogil:`` (or a ``prange`` over OpenMP
threads). Flags: ``-O2 -ffp-contract=off`` (no fused multiply-add, so that Mandelbrot counts match
gilfree's bit for bit) and ``-fopenmp``; without OpenMP the module is built without it and only the
``prange`` variants are skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from gilfree.lab._peers import PeerUnavailable

__all__ = ["PYX", "CythonBuild", "cache_dir", "load"]

PYX = r"""
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The Cython peers of gilfree's lab (generated from gilfree/lab/_peers_cython.py).

from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING


# --- mandelbrot: the formula of gilfree.mandelbrot and its twin ------------------------------------

cdef void _mandel_row(unsigned short* row, Py_ssize_t width, int max_iter, double xmin, double dx,
                      double ci) noexcept nogil:
    cdef Py_ssize_t j
    cdef double cr, zr, zi, zr2, zi2
    cdef int n
    for j in range(width):
        cr = xmin + j * dx
        zr = 0.0
        zi = 0.0
        n = 0
        while n < max_iter:
            zr2 = zr * zr
            zi2 = zi * zi
            if zr2 + zi2 > 4.0:
                break
            zi = 2.0 * zr * zi + ci
            zr = zr2 - zi2 + cr
            n += 1
        row[j] = <unsigned short>n


def mandelbrot(Py_ssize_t width, Py_ssize_t height, int max_iter, double xmin, double xmax,
               double ymin, double ymax, int threads=0):
    # The counts as native-endian uint16 in a bytearray, row after row; threads > 0: prange over rows.
    if width < 1 or height < 1 or max_iter < 0 or max_iter > 65535:
        raise ValueError("bad mandelbrot task")
    out = bytearray(2 * width * height)
    cdef unsigned short* p = <unsigned short*>PyByteArray_AS_STRING(out)
    cdef double dx = (xmax - xmin) / width
    cdef double dy = (ymax - ymin) / height
    cdef Py_ssize_t i
    if threads <= 0:
        with nogil:
            for i in range(height):
                _mandel_row(p + i * width, width, max_iter, xmin, dx, ymin + i * dy)
    else:
        for i in prange(height, nogil=True, schedule="dynamic", chunksize=1, num_threads=threads):
            _mandel_row(p + i * width, width, max_iter, xmin, dx, ymin + i * dy)
    return out


# --- count_primes: segmented sieve of Eratosthenes over odd numbers, 32 KiB segments ---------------

cdef int64_t _isqrt(int64_t n) noexcept nogil:
    cdef int64_t r = <int64_t>sqrt(<double>n)
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


cdef int64_t _odd_primes_upto(int64_t limit, int64_t** out) noexcept nogil:
    # The odd primes <= limit into a malloc'd *out (the caller frees it); their count, -1 if out of memory.
    cdef int64_t p, m, count = 0, k = 0
    out[0] = NULL
    if limit < 3:
        return 0
    cdef unsigned char* composite = <unsigned char*>malloc(limit + 1)
    if composite == NULL:
        return -1
    memset(composite, 0, limit + 1)
    p = 3
    while p <= limit:
        if composite[p] == 0:
            count += 1
            m = p * p
            while m <= limit:
                composite[m] = 1
                m += 2 * p
        p += 2
    out[0] = <int64_t*>malloc((count + 1) * sizeof(int64_t))
    if out[0] == NULL:
        free(composite)
        return -1
    p = 3
    while p <= limit:
        if composite[p] == 0:
            out[0][k] = p
            k += 1
        p += 2
    free(composite)
    return count


cdef int64_t _count_segments(int64_t s0, int64_t s1, int64_t kmax, int64_t seg_len,
                             const int64_t* primes, int64_t nprimes) noexcept nogil:
    # Primes among the odd numbers 2k+1, k in segments [s0, s1) (the number 1 not counted); -1 if
    # out of memory.
    cdef int64_t t, p, start, s, lo, hi, length, j, marked, count = 0
    cdef int64_t lo0 = s0 * seg_len
    cdef int64_t* nxt = <int64_t*>malloc((nprimes + 1) * sizeof(int64_t))
    cdef unsigned char* seg = <unsigned char*>malloc(seg_len)
    if nxt == NULL or seg == NULL:
        free(nxt)
        free(seg)
        return -1
    for t in range(nprimes):
        p = primes[t]
        start = (p * p - 1) // 2
        if start < lo0:
            start += ((lo0 - start + p - 1) // p) * p
        nxt[t] = start
    for s in range(s0, s1):
        lo = s * seg_len
        hi = lo + seg_len
        if hi > kmax + 1:
            hi = kmax + 1
        length = hi - lo
        memset(seg, 0, length)
        for t in range(nprimes):
            p = primes[t]
            j = nxt[t] - lo
            while j < length:
                seg[j] = 1
                j += p
            nxt[t] = j + lo
        marked = 0
        for j in range(length):
            marked += seg[j]
        count += length - marked
        if lo == 0:
            count -= 1
    free(nxt)
    free(seg)
    return count


def count_primes(int64_t n, int threads=0, int64_t seg_len=32768, int64_t blocks_per_thread=16):
    # The number of primes <= n; threads > 0: prange over blocks of consecutive segments.
    if n < 2:
        return 0
    cdef int64_t kmax = (n - 1) // 2
    cdef int64_t nseg = (kmax + seg_len) // seg_len
    cdef int64_t* primes = NULL
    cdef int64_t nprimes, nb, per, b, s0, s1, c, total = 0, failed = 0
    with nogil:
        nprimes = _odd_primes_upto(_isqrt(n), &primes)
        if nprimes >= 0:
            if threads <= 0:
                c = _count_segments(0, nseg, kmax, seg_len, primes, nprimes)
                if c < 0:
                    failed += 1
                else:
                    total += c
            else:
                nb = threads * blocks_per_thread
                if nb > nseg:
                    nb = nseg
                per = (nseg + nb - 1) // nb
                for b in prange(nb, schedule="dynamic", chunksize=1, num_threads=threads):
                    s0 = b * per
                    s1 = s0 + per
                    if s1 > nseg:
                        s1 = nseg
                    if s0 < s1:
                        c = _count_segments(s0, s1, kmax, seg_len, primes, nprimes)
                        if c < 0:
                            failed += 1
                        else:
                            total += c
        free(primes)
    if nprimes < 0 or failed:
        raise MemoryError()
    return 1 + total


# --- spectral_norm: the Benchmarks Game program, a(i, j) * v[j] as the twin writes it --------------

cdef inline double _a(Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


cdef void _av_row(const double* v, double* out, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n):
        s += _a(i, j) * v[j]
    out[i] = s


cdef void _atv_row(const double* v, double* out, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n):
        s += _a(j, i) * v[j]
    out[i] = s


cdef void _ata(const double* v, double* out, double* tmp, Py_ssize_t n, int threads) noexcept nogil:
    # out = A^T A v
    cdef Py_ssize_t i
    if threads <= 0:
        for i in range(n):
            _av_row(v, tmp, n, i)
        for i in range(n):
            _atv_row(tmp, out, n, i)
    else:
        for i in prange(n, schedule="static", num_threads=threads):
            _av_row(v, tmp, n, i)
        for i in prange(n, schedule="static", num_threads=threads):
            _atv_row(tmp, out, n, i)


def spectral_norm(Py_ssize_t n, int threads=0):
    # The spectral norm of the n x n matrix a(i, j); threads > 0: every product a prange over rows.
    if n < 1:
        raise ValueError("n must be >= 1")
    cdef double* u = <double*>malloc(3 * n * sizeof(double))
    if u == NULL:
        raise MemoryError()
    cdef double* v = u + n
    cdef double* tmp = v + n
    cdef double vbv = 0.0, vv = 0.0
    cdef Py_ssize_t i
    cdef int k
    with nogil:
        for i in range(n):
            u[i] = 1.0
        for k in range(10):
            _ata(u, v, tmp, n, threads)
            _ata(v, u, tmp, n, threads)
        for i in range(n):
            vbv += u[i] * v[i]
            vv += v[i] * v[i]
        free(u)
    return sqrt(vbv / vv)


# --- nbody: serial by nature (a chain of dependent steps) -----------------------------------------

cdef double _energy(double (*pos)[3], double (*vel)[3], const double* mass, int nb) noexcept nogil:
    cdef double e = 0.0, dx, dy, dz
    cdef int i, j
    for i in range(nb):
        e += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1] + vel[i][2] * vel[i][2])
        for j in range(i + 1, nb):
            dx = pos[i][0] - pos[j][0]
            dy = pos[i][1] - pos[j][1]
            dz = pos[i][2] - pos[j][2]
            e -= mass[i] * mass[j] / sqrt(dx * dx + dy * dy + dz * dz)
    return e


def nbody(int64_t steps, bodies, double solar_mass, double days_per_year):
    # (energy before, energy after) `steps` steps of the system `bodies`: ((pos), (vel/day), mass).
    cdef double pos[8][3]
    cdef double vel[8][3]
    cdef double mass[8]
    cdef int nb = len(bodies), i, j, k
    if nb > 8:
        raise ValueError("at most 8 bodies")
    for i in range(nb):
        for k in range(3):
            pos[i][k] = bodies[i][0][k]
            vel[i][k] = bodies[i][1][k] * days_per_year
        mass[i] = bodies[i][2] * solar_mass
    cdef double p, before, after, dx, dy, dz, d2, mag, mi, mj
    cdef double dt = 0.01
    cdef int64_t step
    with nogil:
        for k in range(3):
            p = 0.0
            for i in range(nb):
                p += vel[i][k] * mass[i]
            vel[0][k] = -p / solar_mass
        before = _energy(pos, vel, mass, nb)
        for step in range(steps):
            for i in range(nb):
                for j in range(i + 1, nb):
                    dx = pos[i][0] - pos[j][0]
                    dy = pos[i][1] - pos[j][1]
                    dz = pos[i][2] - pos[j][2]
                    d2 = dx * dx + dy * dy + dz * dz
                    mag = dt / (d2 * sqrt(d2))
                    mj = mass[j] * mag
                    mi = mass[i] * mag
                    vel[i][0] -= dx * mj
                    vel[i][1] -= dy * mj
                    vel[i][2] -= dz * mj
                    vel[j][0] += dx * mi
                    vel[j][1] += dy * mi
                    vel[j][2] += dz * mi
            for i in range(nb):
                pos[i][0] += dt * vel[i][0]
                pos[i][1] += dt * vel[i][1]
                pos[i][2] += dt * vel[i][2]
        after = _energy(pos, vel, mass, nb)
    return before, after


# --- sum: an int64 reduction (exact in any order) -------------------------------------------------

def sum_int64(a, int threads=0):
    # The sum of a C-contiguous buffer of 8-byte integers; threads > 0: a prange reduction.
    cdef Py_buffer view
    PyObject_GetBuffer(a, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    cdef const int64_t* x = <const int64_t*>view.buf
    cdef Py_ssize_t i, n = view.len // 8
    cdef int64_t s = 0
    try:
        if view.itemsize != 8 or (<bytes>view.format).lstrip(b"@=<") not in (b"q", b"l"):
            raise TypeError("sum_int64 needs a contiguous buffer of int64")
        if threads <= 0:
            with nogil:
                for i in range(n):
                    s += x[i]
        else:
            for i in prange(n, nogil=True, schedule="static", num_threads=threads):
                s += x[i]
    finally:
        PyBuffer_Release(&view)
    return s
"""

#: The child process that compiles :data:`PYX`: argv = a JSON object with the .pyx path, module
#: name, output and work directories, and whether to use OpenMP. Prints the built file's path last.
_BUILD_SCRIPT = r"""
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
from setuptools import Distribution, Extension
from setuptools.command.build_ext import build_ext
from Cython.Build import cythonize
try:  # print the compiler's command lines into the log
    from distutils import log as distutils_log
    distutils_log.set_verbosity(1)
except Exception:
    pass

args = json.loads(sys.argv[1])
openmp = args["openmp"]

class Build(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            compile_args, link_args = ["/O2", "/fp:precise"] + (["/openmp"] if openmp else []), []
        else:
            compile_args = ["-O2", "-ffp-contract=off"] + (["-fopenmp"] if openmp else [])
            link_args = ["-fopenmp"] if openmp else []
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
        super().build_extensions()

exts = cythonize(
    [Extension(args["name"], [args["pyx"]])],
    build_dir=args["work"],
    quiet=True,
    force=True,
    compiler_directives={"language_level": 3},
)
dist = Distribution({"name": args["name"], "ext_modules": exts, "script_name": "build_peers"})
cmd = Build(dist)
cmd.build_lib = args["out"]
cmd.build_temp = args["work"]
cmd.ensure_finalized()
cmd.run()
print(cmd.get_ext_fullpath(args["name"]))
"""

#: Seconds a compile may take before it is given up (it takes ~5-30 s).
BUILD_TIMEOUT = 600.0


def cache_dir() -> Path:
    """Where compiled peers live: ``$GILFREE_CACHE_DIR``, ``$XDG_CACHE_HOME/gilfree/cython`` or
    ``~/.cache/gilfree/cython``."""
    if env := os.environ.get("GILFREE_CACHE_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "gilfree" / "cython"
    return Path.home() / ".cache" / "gilfree" / "cython"


def _key(cython_version: str) -> str:
    h = hashlib.sha256()
    for part in (
        PYX,
        _BUILD_SCRIPT,
        cython_version,
        sys.version,
        sys.implementation.cache_tag or "",
        str(sysconfig.get_config_var("EXT_SUFFIX")),
        sys.platform,
        platform.machine(),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class CythonBuild:
    """A loaded build of the Cython peers.

    Attributes:
        module: the extension module.
        path: its file.
        openmp: whether it was built with OpenMP (``prange`` runs in parallel).
        openmp_error: why not, when not.
        seconds: the compile time spent in this process (0.0 when loaded from the cache).
    """

    module: ModuleType
    path: Path
    openmp: bool
    openmp_error: str
    seconds: float


#: Builds done by this process (tests check that a cached build is not redone).
builds = 0
_LOCK = threading.Lock()
_LOADED: dict[Path, CythonBuild] = {}
_FAILED: dict[Path, PeerUnavailable] = {}


def _forget() -> None:
    """Forget what this process loaded or failed to build (for tests)."""
    with _LOCK:
        _LOADED.clear()
        _FAILED.clear()


def _summary(output: str) -> str:
    """The first and the last error line of a build's output (else its last line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() and not ln.startswith(("raise ", "File "))]
    picked = [errors[0], errors[-1]] if errors else lines[-1:]
    return "; ".join(dict.fromkeys(picked)) or "no output"


def _compile(cwd: Path, name: str, openmp: bool) -> tuple[Path | None, str]:
    """Compile ``cwd/name.pyx`` in a child process into ``cwd/final``: ``(built file, output)``, the
    file None on failure."""
    work = "work" if openmp else "work-no-openmp"
    args = {"pyx": f"{name}.pyx", "name": name, "out": "final", "work": work, "openmp": openmp}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _BUILD_SCRIPT, json.dumps(args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{type(e).__name__}: {e}"
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return None, output
    lines = proc.stdout.strip().splitlines()
    built = cwd / lines[-1] if lines else None
    if built is None or not built.is_file():
        return None, output + "\n(the build printed no module path)"
    return built, output


def _build(root: Path, key: str, name: str, final: Path, notify: Callable[[str], None]) -> float:
    """Build into a temporary directory under ``root`` and rename it to ``final``; the seconds."""
    global builds
    notify(f"compiling the Cython peers into {root} (first use, ~10 s)")
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{key}-", dir=root))
    try:
        (tmp / f"{name}.pyx").write_text(PYX, encoding="utf-8")
        stage = tmp / "final"
        built, output = _compile(tmp, name, openmp=True)
        openmp_error = ""
        if built is None:
            log = output
            built, output = _compile(tmp, name, openmp=False)
            if built is None:
                log_path = root / f"build-{key}.log"
                log_path.write_text(
                    f"== with OpenMP ==\n{log}\n== without OpenMP ==\n{output}\n", encoding="utf-8"
                )
                raise PeerUnavailable(
                    f"compiling the Cython peers failed: {_summary(output)} (full log: {log_path})"
                )
            openmp_error = f"building with OpenMP failed: {_summary(log)}"
        meta = {"file": built.name, "openmp": not openmp_error, "openmp_error": openmp_error}
        (stage / "build.json").write_text(json.dumps(meta), encoding="utf-8")
        (stage / "build.log").write_text(output, encoding="utf-8")
        builds += 1
        try:
            os.rename(stage, final)
        except OSError:
            if not (final / "build.json").is_file():  # not a lost race: a real failure
                raise
        return time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_module(name: str, path: Path) -> ModuleType:
    if (loaded := sys.modules.get(name)) is not None:  # an extension module loads once per process
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def load(cython_version: str, notify: Callable[[str], None]) -> CythonBuild:
    """The Cython peers' module: this process's, the cached build, or a fresh build.

    Raises:
        PeerUnavailable: the build failed (the reason names the log file), or the cache directory
            is not writable.
    """
    root = cache_dir()
    key = _key(cython_version)
    name = f"_gilfree_peers_{key}"
    final = root / key
    with _LOCK:
        if done := _LOADED.get(final):
            return dataclasses.replace(done, seconds=0.0)
        if failure := _FAILED.get(final):
            raise failure
        seconds = 0.0
        try:
            if not (final / "build.json").is_file():
                try:
                    root.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise PeerUnavailable(
                        f"cannot create the cache directory {root} ({e}); set GILFREE_CACHE_DIR"
                    ) from e
                seconds = _build(root, key, name, final, notify)
            try:
                meta = json.loads((final / "build.json").read_text(encoding="utf-8"))
                path = final / meta["file"]
                module = _load_module(name, path)
            except (ImportError, ValueError, KeyError, TypeError) as e:
                raise PeerUnavailable(f"cannot load the build in {final} ({e}); delete it to rebuild") from e
        except PeerUnavailable as e:
            _FAILED[final] = e
            raise
        except OSError as e:
            failure = PeerUnavailable(f"building the Cython peers in {root} failed: {e}")
            _FAILED[final] = failure
            raise failure from e
        build = CythonBuild(module, path, bool(meta["openmp"]), str(meta["openmp_error"]), seconds)
        _LOADED[final] = build
        return build
