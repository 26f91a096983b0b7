"""gilfree's compute kernels vs Numba, NumPy and primesieve, side by side in one run.

Workloads (default sizes; ``--quick`` uses small ones for a smoke run):

* ``mandelbrot`` 1600x1200, max_iter 256: gilfree ``threads=1`` and ``threads=None`` vs Numba
  serial (``@njit``), Numba parallel (``@njit(parallel=True)``, ``prange`` over rows) and NumPy
  (vectorised: every bounded pixel steps together, the escaped ones are compressed out). Every peer
  uses gilfree's documented formula; the iteration counts are compared pixel by pixel.
* ``count_primes`` 10**9: gilfree vs a Numba segmented sieve (odd numbers only, 32 KiB segments;
  serial, and parallel with ``prange`` over blocks of segments) and primesieve -- the Python package
  (``primesieve.count_primes``) if importable, else Debian's ``primesieve`` command (its own
  reported time, so that process start-up is not counted); checked against pi(10**9) = 50847534.
* ``spectral_norm`` 2000, ``fannkuch_redux`` 10, ``nbody`` 5,000,000 steps (Benchmarks Game):
  gilfree vs Numba serial and (spectral norm, Fannkuch) Numba parallel; results agree to 9
  decimals (spectral norm also against a NumPy reference, Fannkuch exactly).
* ``monte_carlo_pi`` 10**8 samples: gilfree vs a Numba xorshift64* version (serial and parallel;
  throughput only, the estimates differ): every estimate within 5 sigma of pi.

Every table gives each contender's time and the ratio ``its time / gilfree's time`` (above 1,
gilfree is faster), and gilfree's own parallel speedup (``threads=1`` time / ``threads=None``
time). "All threads" means the same worker count everywhere: ``gilfree.get_num_threads()``, and
Numba and primesieve are set to it.

Verdicts (the issues' targets): mandelbrot >= 2x Numba parallel; count_primes(10**9) no slower
than primesieve (all threads, issue 13) and >= 2.5x the best Numba sieve; monte_carlo_pi >= 2x
Numba parallel (issue 13); spectral_norm, fannkuch_redux and nbody
at least as fast as the best Numba variant; every parallel gilfree kernel >= 1.8x its own
``threads=1`` time. A verdict whose contender is missing is "n/a". The verdicts use the best
(minimum) time by default, or the median with ``--stat median``, and are cross-checked with the
other statistic.

Peers are optional: without Numba or primesieve the benchmark says ``skipped: ... not installed
(pip install gilfree[peers])`` and carries on (``make bench`` installs them with
``benchmarks/install_peers.sh``). A gilfree kernel missing from the installed build is reported
as "not in this build".

Timing: Numba functions are compiled first, by a call on a tiny input, and those compile times
are reported apart. Then every contender runs once for the correctness checks (its first
warm-up), ``--warmup - 1`` more untimed times, and ``--repeat`` timed rounds in which all
contenders of all workloads run once each, in a rotating order, so that a shared machine's noise
falls on all of them alike. ``--json FILE`` saves every sample.

Exit status: 0, whatever the verdicts; 2 if a result is wrong (a check FAIL or an exception).

Usage::

    python benchmarks/bench_compute.py                   # full sizes, 5 rounds (a few minutes)
    python benchmarks/bench_compute.py --quick           # small sizes (seconds)
    python benchmarks/bench_compute.py --only mandelbrot,count_primes --repeat 9 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import _peers_numpy
import numpy as np
from _report import (
    Contender,
    Reported,
    Timing,
    Verdict,
    add_run_args,
    contender_json,
    exit_status,
    format_table,
    measure_loaded,
    ms,
    parse_only,
    print_compile_times,
    print_cross_check,
    print_facts,
    print_verdicts,
    ratio,
    run_facts,
    tally,
    verdicts_json,
    why_missing,
    write_json,
)

import gilfree

WORKLOADS: tuple[str, ...] = (
    "mandelbrot",
    "count_primes",
    "spectral_norm",
    "fannkuch_redux",
    "nbody",
    "monte_carlo_pi",
)
PEERS_HINT = "pip install gilfree[peers]"
#: The Mandelbrot window (gilfree's defaults).
WINDOW = (-2.0, 1.0, -1.5, 1.5)
#: pi(n), the number of primes <= n.
PRIME_COUNTS = {10**6: 78498, 10**7: 664579, 10**8: 5761455, 10**9: 50847534, 10**10: 455052511}
#: Fannkuch-redux (checksum, max flips) by n.
FANNKUCH = {7: (228, 16), 8: (1616, 22), 10: (73196, 38)}
#: n-body energies (before, after) to 9 decimals by steps: the Benchmarks Game's output for 1000
#: and 50,000,000 steps; 5,000,000 steps as computed by the Numba peer (which matches the others).
NBODY = {
    1000: (-0.169075164, -0.169087605),
    5_000_000: (-0.169075164, -0.169083134),
    50_000_000: (-0.169075164, -0.169059907),
}
#: Spectral norm to 9 decimals by n.
SPECTRAL = {100: 1.274219991, 5500: 1.274224153}
#: Agreement of float results: 9 decimals.
ABS_TOL = 1e-9
#: Monte Carlo: an estimate more than this many standard errors from pi fails.
MC_SIGMAS = 5.0
#: Every parallel gilfree kernel must be at least this much faster than at threads=1.
SPEEDUP_TARGET = 1.8


@dataclass(frozen=True)
class Sizes:
    """The problem size of each workload."""

    mandelbrot: tuple[int, int, int]  # width, height, max_iter
    count_primes: int
    spectral_norm: int
    fannkuch_redux: int
    nbody: int
    monte_carlo_pi: int


FULL = Sizes((1600, 1200, 256), 10**9, 2000, 10, 5_000_000, 10**8)
QUICK = Sizes((400, 300, 256), 10**7, 300, 8, 100_000, 10**6)


# --- contenders and workloads ------------------------------------------------------------------


@dataclass
class Workload:
    """A kernel and its contenders; ``gilfree_keys`` are the gilfree variants ratios refer to."""

    name: str
    title: str
    contenders: dict[str, Contender]
    gilfree_keys: tuple[str, ...]
    check_rows: list[list[str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Whether a gilfree result was wrong (its verdicts then MISS).
    gilfree_wrong: bool = False


def gilfree_fn(name: str) -> Callable[..., Any] | None:
    """gilfree's kernel ``name``, or None when this build does not have it."""
    fn = getattr(gilfree, name, None)
    return fn if callable(fn) else None


NOT_IN_BUILD = "not in this build"


def gilfree_contenders(name: str, call: Callable[[Callable[..., Any], int | None], Any]) -> list[Contender]:
    """``gilfree.<name>`` at threads=1 and threads=None; ``call(fn, threads)`` makes the call."""
    fn = gilfree_fn(name)
    out = []
    for key, label, threads in (
        ("gilfree_1", "gilfree threads=1", 1),
        ("gilfree_all", "gilfree threads=None", None),
    ):
        if fn is None:
            out.append(Contender(key, label, missing=NOT_IN_BUILD))
        else:
            out.append(Contender(key, label, fn=lambda fn=fn, t=threads: call(fn, t)))
    return out


@dataclass
class Peers:
    """The optional peers found on this machine."""

    numba: ModuleType | None
    numba_missing: str
    primesieve: ModuleType | None
    primesieve_cli: str | None
    primesieve_missing: str
    compile_s: dict[str, float] = field(default_factory=dict)
    compile_errors: dict[str, str] = field(default_factory=dict)


def find_peers(nthreads: int) -> Peers:
    """Imports Numba (and the Numba peers) and primesieve, or records why they are missing; sets
    Numba's thread count to gilfree's (as far as Numba allows)."""
    numba_mod: ModuleType | None = None
    numba_missing = ""
    try:
        import _peers_numba
        import numba

        numba_mod = _peers_numba
        numba.set_num_threads(max(1, min(nthreads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        numba_missing = "skipped: numba not installed"
    except Exception as e:  # a broken Numba must not stop the benchmark
        numba_missing = f"skipped: numba failed to load ({type(e).__name__}: {e})"
    ps_mod: ModuleType | None = None
    cli: str | None = None
    ps_missing = ""
    try:
        import primesieve

        ps_mod = primesieve
    except ImportError:
        cli = shutil.which("primesieve")
        if cli is None:
            ps_missing = "skipped: primesieve not installed"
    except Exception as e:
        ps_missing = f"skipped: primesieve failed to load ({type(e).__name__}: {e})"
    return Peers(numba_mod, numba_missing, ps_mod, cli, ps_missing)


def compile_numba(peers: Peers, workloads: Sequence[str]) -> None:
    """Compiles the Numba peers of ``workloads`` by a call on a tiny input, timing each."""
    if peers.numba is None:
        return
    compile_s, errors = peers.numba.compile_peers(workloads)
    peers.compile_s.update(compile_s)
    peers.compile_errors.update(errors)


def numba_contender(peers: Peers, workload: str, variant: str, *args: Any) -> Contender:
    """The Numba ``variant`` ("serial" or "parallel") of ``workload``, called with ``args``."""
    label = f"numba {variant}"
    if variant == "parallel" and peers.numba is not None:
        label += f" ({peers.numba.numba_facts()['numba_threads']} threads)"
    if peers.numba is None:
        return Contender(f"numba_{variant}", label, missing=peers.numba_missing)
    err = peers.compile_errors.get(f"{workload}/{variant}")
    if err:
        return Contender(f"numba_{variant}", label, missing=err)
    fn = peers.numba.PEERS[(workload, variant)].fn
    return Contender(f"numba_{variant}", label, fn=lambda: fn(*args))


def primesieve_contenders(peers: Peers, n: int, nthreads: int) -> list[Contender]:
    """primesieve at 1 thread and at ``nthreads``: the Python package, else the command."""
    out = []
    for key, threads in (("primesieve_1", 1), ("primesieve_all", nthreads)):
        if peers.primesieve is not None:
            ps = peers.primesieve

            def run(ps: ModuleType = ps, threads: int = threads) -> int:
                ps.set_num_threads(threads)
                return int(ps.count_primes(n))

            out.append(Contender(key, f"primesieve threads={threads}", fn=run))
        elif peers.primesieve_cli is not None:
            cli = peers.primesieve_cli
            label = f"primesieve command -t{threads} (own timer)"
            out.append(Contender(key, label, fn=lambda cli=cli, t=threads: primesieve_command(cli, n, t)))
        else:
            out.append(Contender(key, f"primesieve threads={threads}", missing=peers.primesieve_missing))
    return out


def primesieve_command(cli: str, n: int, threads: int) -> Reported:
    """Runs ``primesieve N --threads=T --time`` and returns the time and count it prints."""
    proc = subprocess.run(
        [cli, str(n), f"--threads={threads}", "--time", "--no-status"],
        capture_output=True,
        text=True,
        check=True,
    )
    secs = re.search(r"Seconds:\s*([0-9.]+)", proc.stdout)
    count = re.search(r"Primes:\s*(\d+)", proc.stdout)
    if secs is None or count is None:
        raise RuntimeError(f"unexpected primesieve output: {proc.stdout!r}")
    return Reported(float(secs.group(1)), int(count.group(1)))


def build_workloads(names: Sequence[str], sizes: Sizes, peers: Peers, nthreads: int) -> list[Workload]:
    """The contenders of every selected workload."""
    out: list[Workload] = []
    pair = ("gilfree_1", "gilfree_all")

    def wl(name: str, title: str, contenders: list[Contender], keys: tuple[str, ...] = pair) -> None:
        if name in names:
            out.append(Workload(name, title, {c.key: c for c in contenders}, keys))

    w, h, it = sizes.mandelbrot
    xmin, xmax, ymin, ymax = WINDOW
    mandel_args = (w, h, it, xmin, xmax, ymin, ymax)
    kw = {"max_iter": it, "xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax}
    wl(
        "mandelbrot",
        f"mandelbrot {w}x{h}, max_iter={it}",
        [
            *gilfree_contenders("mandelbrot", lambda f, t: f(w, h, threads=t, **kw)),
            numba_contender(peers, "mandelbrot", "serial", *mandel_args),
            numba_contender(peers, "mandelbrot", "parallel", *mandel_args),
            Contender("numpy", "numpy vectorised", fn=lambda: _peers_numpy.mandelbrot(*mandel_args)),
        ],
    )
    n = sizes.count_primes
    wl(
        "count_primes",
        f"count_primes({n:,})",
        [
            *gilfree_contenders("count_primes", lambda f, t: f(n, threads=t)),
            numba_contender(peers, "count_primes", "serial", n),
            numba_contender(peers, "count_primes", "parallel", n),
            *primesieve_contenders(peers, n, nthreads),
        ],
    )
    sn = sizes.spectral_norm
    wl(
        "spectral_norm",
        f"spectral_norm({sn})",
        [
            *gilfree_contenders("spectral_norm", lambda f, t: f(sn, threads=t)),
            numba_contender(peers, "spectral_norm", "serial", sn),
            numba_contender(peers, "spectral_norm", "parallel", sn),
        ],
    )
    fk = sizes.fannkuch_redux
    wl(
        "fannkuch_redux",
        f"fannkuch_redux({fk})",
        [
            *gilfree_contenders("fannkuch_redux", lambda f, t: f(fk, threads=t)),
            numba_contender(peers, "fannkuch_redux", "serial", fk),
            numba_contender(peers, "fannkuch_redux", "parallel", fk),
        ],
    )
    steps = sizes.nbody
    nb = gilfree_fn("nbody")
    wl(
        "nbody",
        f"nbody({steps:,}) (serial)",
        [
            Contender("gilfree", "gilfree", fn=lambda: nb(steps))
            if nb is not None
            else Contender("gilfree", "gilfree", missing=NOT_IN_BUILD),
            numba_contender(peers, "nbody", "serial", steps),
        ],
        ("gilfree",),
    )
    mc = sizes.monte_carlo_pi
    wl(
        "monte_carlo_pi",
        f"monte_carlo_pi({mc:,})",
        [
            *gilfree_contenders("monte_carlo_pi", lambda f, t: f(mc, seed=0, threads=t)),
            numba_contender(peers, "monte_carlo_pi", "serial", mc),
            numba_contender(peers, "monte_carlo_pi", "parallel", mc),
        ],
    )
    return out


# --- correctness -------------------------------------------------------------------------------


def first_calls(workloads: Sequence[Workload]) -> None:
    """Calls every contender once (its first warm-up), keeping its result or its error."""
    for wl in workloads:
        for c in wl.contenders.values():
            if c.fn is None:
                continue
            t0 = time.perf_counter()
            try:
                res = c.fn()
            except Exception as e:
                fail(wl, c, f"{c.label} raised {type(e).__name__}: {e}")
                c.error = f"{type(e).__name__}: {e}"
                continue
            c.first_s = time.perf_counter() - t0
            c.result = res.value if isinstance(res, Reported) else res


def live(wl: Workload) -> list[Contender]:
    """The contenders of ``wl`` that ran."""
    return [c for c in wl.contenders.values() if c.live]


def error_rows(wl: Workload) -> list[list[str]]:
    """Check rows of the contenders that raised."""
    return [[c.label, "-", c.error or "", "ERROR"] for c in wl.contenders.values() if c.error]


def check_bits(wl: Workload, same: Callable[[Any, Any], bool]) -> None:
    """gilfree must give the same result at threads=1 and threads=None (bit for bit)."""
    g1, gn = wl.contenders.get("gilfree_1"), wl.contenders.get("gilfree_all")
    if g1 and gn and g1.live and gn.live and not same(g1.result, gn.result):
        fail(wl, gn, f"gilfree threads=1 gave {exact(g1.result)} but threads=None gave {exact(gn.result)}")


def exact(x: Any) -> str:
    """A result with every digit (floats as ``repr``; arrays summarised)."""
    if isinstance(x, np.ndarray):
        return f"array(sum={int(x.sum(dtype=np.int64)):,})"
    if isinstance(x, tuple):
        return "(" + ", ".join(exact(v) for v in x) + ")"
    return repr(float(x)) if isinstance(x, float | np.floating) else repr(x)


def float_bits_equal(a: Any, b: Any) -> bool:
    """Equality of floats or tuples of floats, bit for bit."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(float_bits_equal(x, y) for x, y in zip(a, b, strict=True))
    try:
        return float(a).hex() == float(b).hex()
    except (TypeError, ValueError):
        return False


def fail(wl: Workload, c: Contender, message: str) -> None:
    """Records a wrong result: a gilfree one makes the workload's verdicts MISS, a peer's takes
    the peer out of the timing."""
    wl.failures.append(message)
    if c.key.startswith("gilfree"):
        wl.gilfree_wrong = True
    else:
        c.error = "wrong result"


def check_mandelbrot(wl: Workload, sizes: Sizes, peers: Peers) -> None:
    """Pixel-by-pixel comparison: the peers with each other (they must agree: FAIL otherwise),
    gilfree threads=None with threads=1 (bit-identical), and gilfree with the peers (a difference
    is reported as DIFF with the number of differing pixels)."""
    w, h, it = sizes.mandelbrot
    for c in live(wl):
        arr = c.result
        if not (isinstance(arr, np.ndarray) and arr.shape == (h, w) and arr.dtype == np.uint16):
            shape = getattr(arr, "shape", None)
            dtype = getattr(arr, "dtype", type(arr).__name__)
            fail(wl, c, f"{c.label}: expected uint16[{h}, {w}], got {dtype} {shape}")
    runs = live(wl)
    gf = [c for c in runs if c.key.startswith("gilfree")]
    pe = [c for c in runs if not c.key.startswith("gilfree")]
    rows = []
    gilfree_differs = 0
    for group, others in ((pe, []), (gf, pe)):
        for c in group:
            ref = group[0] if c is not group[0] else (others[0] if others else None)
            if ref is None:
                shown, status = "reference", "OK"
            else:
                diff = int(np.count_nonzero(c.result != ref.result))
                shown = f"same as {ref.label}" if not diff else f"{diff:,} px differ from {ref.label}"
                status = "OK"
                if diff and ref.key.startswith("gilfree") == c.key.startswith("gilfree"):
                    status = "FAIL"
                    fail(wl, c, f"{c.label} differs from {ref.label} on {diff:,} pixels")
                elif diff:
                    status = "DIFF"
                    gilfree_differs = max(gilfree_differs, diff)
            rows.append([c.label, f"sum {int(c.result.sum(dtype=np.int64)):,}", shown, status])
    wl.check_rows = rows + error_rows(wl)
    if gilfree_differs:
        pct = 100.0 * gilfree_differs / (w * h)
        wl.notes.append(
            f"gilfree's iteration counts differ from the peers' on {gilfree_differs:,} pixels "
            f"({pct:.4f}%); the peers use c = xmin + j*(xmax-xmin)/width evaluated left to right."
        )
        xmin, xmax, ymin, ymax = WINDOW
        args = (w, h, it, xmin, xmax, ymin, ymax)
        if peers.numba is not None and "mandelbrot/serial" in peers.compile_s:
            alt = peers.numba.mandelbrot_serial(*args, step_first=True)
        else:
            alt = _peers_numpy.mandelbrot(*args, step_first=True)
        alt_diff = int(np.count_nonzero(alt != gf[0].result))
        wl.notes.append(
            f"With the step computed first, c = xmin + j*((xmax-xmin)/width), {alt_diff:,} pixels differ."
        )


def check_count_primes(wl: Workload, sizes: Sizes) -> None:
    """Every count must be pi(n) (known, else the peers' common answer)."""
    n = sizes.count_primes
    runs = live(wl)
    expected: int | None = PRIME_COUNTS.get(n)
    source = "pi(n), known"
    if expected is None:
        peer_counts = [c.result for c in runs if not c.key.startswith("gilfree")]
        if peer_counts:
            expected, source = peer_counts[0], "the first peer"
    rows = []
    for c in runs:
        ok = expected is None or c.result == expected
        if not ok:
            fail(wl, c, f"{c.label} counted {c.result!r}, expected {expected:,} ({source})")
        rows.append(
            [
                c.label,
                f"{c.result:,}" if isinstance(c.result, int) else repr(c.result),
                source,
                "OK" if ok else "FAIL",
            ]
        )
    check_bits(wl, lambda a, b: a == b)
    wl.check_rows = rows + error_rows(wl)


def check_close(wl: Workload, reference: tuple[str, Any] | None, exact: bool = False) -> None:
    """Every result must match ``reference`` (label, value) -- exactly, or to 9 decimals."""
    runs = live(wl)
    if reference is None:
        peers_ = [c for c in runs if not c.key.startswith("gilfree")]
        ref_c = peers_[0] if peers_ else (runs[0] if runs else None)
        reference = (ref_c.label, ref_c.result) if ref_c else None
    rows = []
    for c in runs:
        if reference is None:
            ok = True
            detail = "no reference"
        elif reference[0] == c.label:
            ok = True
            detail = "reference"
        elif exact:
            ok = c.result == reference[1]
            detail = f"{'==' if ok else '!='} {reference[0]}"
        else:
            diff = max_abs_diff(c.result, reference[1])
            ok = diff <= ABS_TOL
            detail = f"|diff| {diff:.1e} vs {reference[0]}"
        if not ok and reference is not None:
            fail(wl, c, f"{c.label} gave {show(c.result)}; {reference[0]}: {show(reference[1])}")
        rows.append([c.label, show(c.result), detail, "OK" if ok else "FAIL"])
    check_bits(wl, float_bits_equal if not exact else (lambda a, b: a == b))
    wl.check_rows = rows + error_rows(wl)


def max_abs_diff(a: Any, b: Any) -> float:
    """The largest absolute difference between two floats or tuples of floats (inf if the shapes
    differ or a value is not a number)."""
    try:
        xs = a if isinstance(a, tuple) else (a,)
        ys = b if isinstance(b, tuple) else (b,)
        if len(xs) != len(ys):
            return math.inf
        return max(abs(float(x) - float(y)) for x, y in zip(xs, ys, strict=True))
    except (TypeError, ValueError):
        return math.inf


def show(x: Any) -> str:
    """A result, for a table cell: floats to 9 decimals."""
    if isinstance(x, tuple):
        return "(" + ", ".join(show(v) for v in x) + ")"
    if isinstance(x, float | np.floating):
        return f"{float(x):.9f}"
    return repr(x)


def check_monte_carlo(wl: Workload, sizes: Sizes) -> None:
    """Every estimate within 5 standard errors of pi; gilfree bit-identical across threads."""
    n = sizes.monte_carlo_pi
    p = math.pi / 4
    sigma = 4.0 * math.sqrt(p * (1 - p) / n)
    rows = []
    for c in live(wl):
        try:
            z = (float(c.result) - math.pi) / sigma
        except (TypeError, ValueError):
            z = math.inf
        ok = abs(z) <= MC_SIGMAS
        if not ok:
            fail(wl, c, f"{c.label} estimated {c.result!r}: {z:+.1f} sigma from pi")
        rows.append([c.label, show(c.result), f"{z:+.2f} sigma (sigma {sigma:.1e})", "OK" if ok else "FAIL"])
    check_bits(wl, float_bits_equal)
    wl.check_rows = rows + error_rows(wl)


def run_checks(wl: Workload, sizes: Sizes, peers: Peers) -> None:
    """The correctness checks of one workload."""
    if wl.name == "mandelbrot":
        check_mandelbrot(wl, sizes, peers)
    elif wl.name == "count_primes":
        check_count_primes(wl, sizes)
    elif wl.name == "spectral_norm":
        n = sizes.spectral_norm
        if n in SPECTRAL:
            ref: tuple[str, Any] = (f"known value for n={n}", SPECTRAL[n])
        else:
            ref = ("numpy reference", _peers_numpy.spectral_norm(n))
        check_close(wl, ref)
    elif wl.name == "fannkuch_redux":
        n = sizes.fannkuch_redux
        check_close(wl, ("known value", FANNKUCH[n]) if n in FANNKUCH else None, exact=True)
    elif wl.name == "nbody":
        steps = sizes.nbody
        check_close(wl, ("reference value", NBODY[steps]) if steps in NBODY else None)
    elif wl.name == "monte_carlo_pi":
        check_monte_carlo(wl, sizes)


# --- verdicts ----------------------------------------------------------------------------------


def t_of(wl: Workload, timings: Mapping[str, Timing], key: str, stat: str) -> float | None:
    """The time of contender ``key`` of ``wl``, or None if it was not timed."""
    t = timings.get(f"{wl.name}/{key}")
    return t.get(stat) if t is not None else None


def evaluate(
    workloads: Sequence[Workload], timings: Mapping[str, Timing], stat: str, nthreads: int
) -> list[Verdict]:
    """Every target, judged with the times of statistic ``stat``."""
    by_name = {wl.name: wl for wl in workloads}
    out: list[Verdict] = []

    def faster(kernel: str, g_key: str, peer_keys: Sequence[str], bar: float, peer_desc: str) -> None:
        """gilfree ``g_key`` at least ``bar`` times faster than the best of ``peer_keys``."""
        wl = by_name.get(kernel)
        if wl is None:
            return
        target = f">= {bar:.1f}x {peer_desc}"
        tg = t_of(wl, timings, g_key, stat)
        peers = [(k, t_of(wl, timings, k, stat)) for k in peer_keys]
        timed = [(k, t) for k, t in peers if t is not None]
        if tg is None or not timed:
            missing = (
                why_missing(wl.contenders, g_key) if tg is None else why_missing(wl.contenders, *peer_keys)
            )
            out.append(Verdict(kernel, target, missing, "n/a"))
            return
        if wl.gilfree_wrong:
            out.append(Verdict(kernel, target, "wrong result", "MISS"))
            return
        best_k, best_t = min(timed, key=lambda kt: kt[1])
        x = best_t / tg
        label = wl.contenders[best_k].label
        out.append(Verdict(kernel, target, f"{x:.3f}x {label}", "PASS" if x >= bar else "MISS"))

    faster("mandelbrot", "gilfree_all", ["numba_parallel"], 2.0, "numba parallel")
    # count_primes: no slower than primesieve (issue 13; issue 6 asked for within 2x).
    wl = by_name.get("count_primes")
    if wl is not None:
        target = "time <= 1.0x primesieve (all threads)"
        tg = t_of(wl, timings, "gilfree_all", stat)
        tp = t_of(wl, timings, "primesieve_all", stat)
        if tg is None or tp is None:
            missing = (
                why_missing(wl.contenders, "gilfree_all")
                if tg is None
                else why_missing(wl.contenders, "primesieve_all")
            )
            out.append(Verdict("count_primes", target, missing, "n/a"))
        elif wl.gilfree_wrong:
            out.append(Verdict("count_primes", target, "wrong result", "MISS"))
        else:
            out.append(
                Verdict(
                    "count_primes",
                    target,
                    f"{tg / tp:.3f}x primesieve's time",
                    "PASS" if tg <= tp else "MISS",
                )
            )
    faster("count_primes", "gilfree_all", ["numba_serial", "numba_parallel"], 2.5, "best numba sieve")
    for kernel in ("spectral_norm", "fannkuch_redux"):
        faster(kernel, "gilfree_all", ["numba_serial", "numba_parallel"], 1.0, "best numba")
    faster("nbody", "gilfree", ["numba_serial"], 1.0, "numba")
    faster("monte_carlo_pi", "gilfree_all", ["numba_parallel"], 2.0, "numba parallel")
    for kernel in ("mandelbrot", "count_primes", "spectral_norm", "fannkuch_redux", "monte_carlo_pi"):
        wl = by_name.get(kernel)
        if wl is None:
            continue
        target = f"threads=None >= {SPEEDUP_TARGET:.1f}x threads=1"
        t1, tn = t_of(wl, timings, "gilfree_1", stat), t_of(wl, timings, "gilfree_all", stat)
        if t1 is None or tn is None:
            out.append(Verdict(kernel, target, why_missing(wl.contenders, "gilfree_1", "gilfree_all"), "n/a"))
        elif wl.gilfree_wrong:
            out.append(Verdict(kernel, target, "wrong result", "MISS"))
        elif nthreads < 2:
            out.append(Verdict(kernel, target, f"{t1 / tn:.3f}x (only 1 worker)", "n/a"))
        else:
            x = t1 / tn
            out.append(
                Verdict(
                    kernel,
                    target,
                    f"{x:.3f}x on {nthreads} workers",
                    "PASS" if x >= SPEEDUP_TARGET else "MISS",
                )
            )
    return out


# --- output ------------------------------------------------------------------------------------


def machine_facts(args: argparse.Namespace, peers: Peers, nthreads: int) -> dict[str, Any]:
    """gilfree.info(), the versions of NumPy and the peers, and the run's parameters."""
    facts = dict(gilfree.info())
    facts.pop("pid", None)
    facts["numpy"] = np.__version__
    if peers.numba is not None:
        facts.update(peers.numba.numba_facts())
    else:
        facts["numba"] = peers.numba_missing
    if peers.primesieve is not None:
        try:
            version = importlib.metadata.version("primesieve")
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        lib = peers.primesieve.primesieve_version()
        lib = lib.decode() if isinstance(lib, bytes) else str(lib)
        facts["primesieve"] = f"{version} (Python package; libprimesieve {lib})"
    elif peers.primesieve_cli is not None:
        try:
            out = subprocess.run(
                [peers.primesieve_cli, "--version"], capture_output=True, text=True, check=False
            )
            first = out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"
        except OSError:
            first = "?"
        facts["primesieve"] = f"{first} (command {peers.primesieve_cli}; Python package not installed)"
    else:
        facts["primesieve"] = peers.primesieve_missing
    facts["all_threads"] = nthreads
    facts["sizes"] = "quick" if args.quick else "full"
    facts.update(run_facts(args))
    return facts


def print_workload(wl: Workload, timings: Mapping[str, Timing], stat: str) -> None:
    """The time of every contender and its ratio to each gilfree variant."""
    g_times = {k: t_of(wl, timings, k, stat) for k in wl.gilfree_keys}
    headers = ["contender", "ms", *(f"ratio vs {wl.contenders[k].label}" for k in wl.gilfree_keys)]
    rows = []
    for c in wl.contenders.values():
        t = t_of(wl, timings, c.key, stat)
        if t is None:
            why = c.missing or (f"error: {c.error}" if c.error else "not measured")
            rows.append([c.label, why, *("-" for _ in wl.gilfree_keys)])
            continue
        cells = []
        for k, tg in g_times.items():
            cells.append("-" if tg is None or k == c.key else ratio(t / tg))
        rows.append([c.label, ms(t), *cells])
    print(f"\n{wl.title}")
    print(format_table(headers, rows))
    t1, tn = g_times.get("gilfree_1"), g_times.get("gilfree_all")
    if t1 is not None and tn is not None:
        print(f"gilfree parallel speedup (threads=1 time / threads=None time): {ratio(t1 / tn)}")


def print_summary(workloads: Sequence[Workload], timings: Mapping[str, Timing], stat: str) -> None:
    """One line per workload: gilfree's best variant against the fastest peer."""
    rows = []
    for wl in workloads:
        g_key = wl.gilfree_keys[-1]
        tg = t_of(wl, timings, g_key, stat)
        peer_times = [
            (c, t)
            for c in wl.contenders.values()
            if not c.key.startswith("gilfree") and (t := t_of(wl, timings, c.key, stat)) is not None
        ]
        best = min(peer_times, key=lambda ct: ct[1]) if peer_times else None
        t1 = t_of(wl, timings, "gilfree_1", stat)
        speedup = ratio(t1 / tg) if t1 is not None and tg is not None and g_key != "gilfree_1" else "-"
        rows.append(
            [
                wl.title,
                ms(tg) if tg is not None else (wl.contenders[g_key].missing or "error"),
                best[0].label if best else "-",
                ms(best[1]) if best else "-",
                ratio(best[1] / tg) if best and tg is not None else "-",
                speedup,
            ]
        )
    headers = ["workload", "gilfree ms", "fastest peer", "peer ms", "peer/gilfree", "t1/tN"]
    print(format_table(headers, rows))


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="gilfree's compute kernels (mandelbrot, count_primes, spectral_norm, "
        "fannkuch_redux, nbody, monte_carlo_pi) vs Numba, NumPy and primesieve in one run: times, "
        "ratios, gilfree's parallel speedup and a PASS/MISS verdict per target. Peers that are not "
        "installed are skipped (pip install gilfree[peers]). Exit status 2 if a result is wrong.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    add_run_args(p, repeat=5, groups=WORKLOADS, what="workloads")
    args = p.parse_args(argv)
    args.workloads = parse_only(p, args, WORKLOADS, "workload(s)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0, or 2 if a result is wrong)."""
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    nthreads = gilfree.get_num_threads()
    peers = find_peers(nthreads)

    print("gilfree compute kernels vs Numba, NumPy and primesieve\n")
    t0 = time.perf_counter()
    compile_numba(peers, args.workloads)
    compile_total = time.perf_counter() - t0
    facts = machine_facts(args, peers, nthreads)  # after compiling: Numba's threading layer is known
    print_facts(facts)
    if peers.numba is None:
        print(f"\nnumba: {peers.numba_missing} ({PEERS_HINT})")
    if peers.primesieve is None:
        if peers.primesieve_cli is not None:
            print(f"\nprimesieve: Python package not installed; timing the command {peers.primesieve_cli}")
        else:
            print(f"\nprimesieve: {peers.primesieve_missing} ({PEERS_HINT})")
    print_compile_times(compile_total, peers.compile_s, peers.compile_errors)

    workloads = build_workloads(args.workloads, sizes, peers, nthreads)
    missing_kernels = sorted(
        {wl.name for wl in workloads for c in wl.contenders.values() if c.missing == NOT_IN_BUILD}
    )
    if missing_kernels:
        print(f"\ngilfree kernels not in this build: {', '.join(missing_kernels)}")

    print("\nCorrectness (the first call of every contender):")
    first_calls(workloads)
    for wl in workloads:
        run_checks(wl, sizes, peers)
        print(f"\n{wl.title}")
        if wl.check_rows:
            print(format_table(["contender", "result", "check", "status"], wl.check_rows))
        else:
            print("(nothing ran)")
        for f in wl.failures:
            print(f"  FAIL: {f}")
        for note in wl.notes:
            print(f"  note: {note}")

    cases = {f"{wl.name}/{c.key}": c.fn for wl in workloads for c in live(wl) if c.fn is not None}
    print(
        f"\nTiming {len(cases)} contenders: {args.stat} of {args.repeat} interleaved rounds after "
        f"{args.warmup} warm-up call(s); 'ratio' = its time / gilfree's time (above 1: gilfree is faster)"
    )
    timings, load_before, load_after = measure_loaded(cases, repeat=args.repeat, warmup=args.warmup - 1)
    stat, other = args.stat, ("median" if args.stat == "min" else "min")
    for wl in workloads:
        print_workload(wl, timings, stat)

    print(f"\nSummary ({stat} of {args.repeat} rounds):")
    print_summary(workloads, timings, stat)

    verdicts = evaluate(workloads, timings, stat, nthreads)
    quick_note = ", quick sizes: indicative only" if args.quick else ""
    print(f"\nVerdicts ({stat} of {args.repeat} rounds{quick_note}):")
    print_verdicts(verdicts)
    print(f"\n{tally(verdicts)}.")
    cross = evaluate(workloads, timings, other, nthreads)
    print_cross_check(verdicts, cross, other)

    failures = [f"{wl.name}: {f}" for wl in workloads for f in wl.failures]
    if args.json:
        report = {
            "facts": facts,
            "sizes": vars(sizes),
            "numba_compile_s": peers.compile_s,
            "numba_compile_errors": peers.compile_errors,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "workloads": {
                wl.name: {
                    "title": wl.title,
                    "contenders": {
                        c.key: contender_json(c, timings.get(f"{wl.name}/{c.key}"))
                        for c in wl.contenders.values()
                    },
                    "checks": wl.check_rows,
                    "failures": wl.failures,
                    "notes": wl.notes,
                }
                for wl in workloads
            },
            "verdicts": verdicts_json(stat, verdicts),
            "cross_check": verdicts_json(other, cross),
        }
        write_json(args.json, report)
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
