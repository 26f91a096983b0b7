"""gilfree's data kernels vs the tools people use for the same jobs, side by side in one run
(issue 11's speed table).

Rows (default sizes; ``--quick`` uses small ones for a smoke run, ``--tiny`` tiny ones for the test
suite):

* ``hash_many`` 20,000 blobs x 64 KiB, blake3: ``blake3`` (PyPI) serial, in a
  ``ThreadPoolExecutor(2)`` (each thread one half of the list), and with ``max_threads=AUTO`` per
  blob; target >= 1.8x blake3-py serial and >= 1.0x its best threaded form.
* ``hash_many`` sha256, the same blobs: ``hashlib.sha256`` serial and TPE(2) halves; >= 1.8x serial.
* ``hash_files`` 2,000 files of 8 KB-2 MB (log-uniform sizes; read once first, so the cache is warm),
  blake3: ``b3sum --no-names`` with every path in one invocation (the process's wall time) and a
  TPE(2) of ``hashlib.file_digest(f, blake3.blake3)``; time <= 1.2x b3sum's, >= 1.3x the TPE.
* ``word_count`` over >= 50 MB of real text (CPython's standard library sources, then NumPy's,
  concatenated: the source ``tests/test_words.py`` uses, larger): ``Counter(text.split())`` and 2
  processes (``multiprocessing``, spawn) each counting one half, split at whitespace, the two
  Counters merged; >= 5x Counter.
* ``histogram`` 50M float64 N(0, 1), 100 bins: ``np.histogram`` and a Numba parallel version
  (per-chunk partial counts, NumPy's bin rule and correction); >= 8x NumPy, >= 1.0x Numba.
* ``bincount`` 50M int64 in [0, 1000): ``np.bincount`` and Numba parallel; >= 1.0x Numba.
* ``sort`` 10M float64 N(0, 1) and 10M int64 (uniform over the whole range): ``np.sort``; >= 1.5x.
* ``pairwise_distances`` 4000 x 3000 x 64, euclidean: ``scipy.spatial.distance.cdist``, the NumPy
  BLAS trick ``sqrt(|x|^2 + |y|^2 - 2 x.y)`` and Numba parallel; time <= the BLAS trick's, and the
  accuracy of cdist: the max relative error of every contender on a sample of entries, against
  exact distances (Fractions, square root to 50 digits), at most 2x cdist's (floor: 1 ulp).
* 2-D reductions of a 5000 x 5000 float64 array, ``axis=0`` and ``axis=1``: ``np.sum``, ``np.var``,
  ``np.max``; sum and max >= 1.2x NumPy, var >= 4x.

Every gilfree kernel runs at ``threads=1`` (for its parallel speedup) and ``threads=None`` (the
targets use that one). A kernel this build lacks (or ``axis=`` that it refuses) is reported as
"n/a: gilfree.<name> not available"; its peers still run and are checked. A peer that is not
installed is "skipped: ... not installed" (``make bench`` installs them with
``benchmarks/install_peers.sh``).

Correctness comes first: every contender's first call is checked against the row's reference
(NumPy, hashlib, blake3-py, Counter, the exact distances); a contender that disagrees is reported
WRONG and is not timed, and gilfree must give the same result at threads=1 and threads=None.
``--check-only`` stops there. Then every live contender of every row runs ``--warmup - 1`` more
untimed times and ``--repeat`` timed rounds, all rows interleaved in a rotating order
(``_report.measure``), so that a shared machine's noise falls on all alike. Tables and verdicts
use the best time (``--stat min``) or the median, cross-checked with the other.

Exit status: 0, whatever the verdicts; 2 if a result is WRONG (gilfree's or a peer's).

Usage::

    python benchmarks/bench_data.py                       # full sizes, 3 rounds (several minutes)
    python benchmarks/bench_data.py --quick               # small sizes
    python benchmarks/bench_data.py --tiny --check-only   # the correctness checks only, seconds
    python benchmarks/bench_data.py --only sort,hash_many --json bench-results/data.json
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from _report import (
    Contender,
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

GROUPS: tuple[str, ...] = (
    "hash_many",
    "hash_files",
    "word_count",
    "histogram",
    "bincount",
    "sort",
    "pairwise_distances",
    "reductions",
)
PEERS_HINT = "pip install gilfree[peers]; bash benchmarks/install_peers.sh"
#: A distance whose relative error exceeds this is WRONG (the accuracy verdict is separate).
DIST_WRONG = 1e-9
#: Entries of the distance matrix compared with the exact distances.
DIST_SAMPLE = 300
#: Reductions: |got - numpy| <= this x sum(|a|) along the axis (sum), or relative (var).
REDUCE_TOL = 1e-12


@dataclass(frozen=True)
class Sizes:
    """The problem sizes."""

    blobs: int
    blob_bytes: int
    files: int
    file_min: int
    file_max: int
    text_bytes: int
    histogram: int
    bins: int
    bincount: int
    bincount_max: int
    sort: int
    pairwise: tuple[int, int, int]
    reduce2d: int


FULL = Sizes(20_000, 64 * 1024, 2000, 8_000, 2_000_000, 50_000_000, 50_000_000, 100, 50_000_000, 1000,
             10_000_000, (4000, 3000, 64), 5000)  # fmt: skip
QUICK = Sizes(2000, 64 * 1024, 200, 8_000, 256_000, 5_000_000, 2_000_000, 100, 2_000_000, 1000,
              1_000_000, (400, 300, 64), 1000)  # fmt: skip
TINY = Sizes(64, 4096, 12, 100, 20_000, 200_000, 10_000, 100, 10_000, 1000, 10_000, (40, 30, 64), 64)


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A verdict of a row: gilfree (threads=None) against the best timed of ``peers``.

    ``kind`` "faster": peer time / gilfree time >= bar; "time": gilfree time <= bar x peer time;
    "accuracy": gilfree's max relative error <= bar x the peers' (floor 1 ulp)."""

    kind: str
    peers: tuple[str, ...]
    bar: float
    desc: str


@dataclass
class Row:
    """One line of the speed table: its contenders, the reference they are checked against, and
    its targets. ``same(result, expected)`` -> (ok, detail) judges one result."""

    name: str
    group: str
    title: str
    contenders: dict[str, Contender]
    targets: list[Target]
    same: Callable[[Any, Any], tuple[bool, str]]
    #: The contender whose result is the reference, or a callable computing it (not timed).
    reference: str | Callable[[], Any]
    reference_label: str = ""
    #: Why gilfree's contenders are missing ("n/a: gilfree.histogram not available").
    gilfree_na: str | None = None
    check_rows: list[list[str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Per contender: the measured error (pairwise distances' accuracy).
    errors: dict[str, float] = field(default_factory=dict)
    gilfree_wrong: bool = False


def gilfree_pair(
    name: str, call: Callable[[Callable[..., Any], int | None], Any], na: str | None
) -> list[Contender]:
    """``gilfree.<name>`` at threads=1 and threads=None, or both missing with ``na``."""
    fn = getattr(gilfree, name, None)
    out = []
    for key, threads in (("gilfree_1", 1), ("gilfree_all", None)):
        label = f"gilfree threads={threads}"
        if na is not None or fn is None:
            out.append(Contender(key, label, missing=na or f"n/a: gilfree.{name} not available"))
        else:
            out.append(Contender(key, label, fn=lambda fn=fn, t=threads: call(fn, t)))
    return out


def gilfree_na(
    name: str, probe: Callable[[Callable[..., Any]], Any] | None = None, what: str = ""
) -> str | None:
    """None if ``gilfree.<name>`` exists (and ``probe(fn)`` succeeds), else why not."""
    fn = getattr(gilfree, name, None)
    if not callable(fn):
        return f"n/a: gilfree.{name} not available"
    if probe is not None:
        try:
            probe(fn)
        except (TypeError, ValueError, NotImplementedError) as e:
            return f"n/a: gilfree.{name}: {what or 'not supported'} ({type(e).__name__})"
    return None


def by_key(*contenders: Contender) -> dict[str, Contender]:
    """The contenders of a row by key, in order."""
    return {c.key: c for c in contenders}


def missing_peer(key: str, label: str, why: str) -> Contender:
    """A peer that cannot run."""
    return Contender(key, label, missing=why)


# --- peers -------------------------------------------------------------------------------------


@dataclass
class Peers:
    """The optional peers found on this machine."""

    blake3: ModuleType | None
    scipy_cdist: Callable[..., Any] | None
    numba: ModuleType | None
    numba_missing: str
    b3sum: str | None
    compile_s: dict[str, float] = field(default_factory=dict)
    compile_errors: dict[str, str] = field(default_factory=dict)


def find_peers(nthreads: int, groups: Sequence[str], use_numba: bool = True) -> Peers:
    """Imports the optional peers, or records why they are missing; Numba gets gilfree's thread
    count (as far as Numba allows) and its peers of ``groups`` are compiled."""
    try:
        import blake3
    except ImportError:
        blake3 = None
    try:
        from scipy.spatial.distance import cdist
    except ImportError:
        cdist = None
    numba_mod: ModuleType | None = None
    numba_missing = ""
    try:
        if not use_numba:
            raise ModuleNotFoundError("--no-numba")
        import _peers_numba
        import numba

        numba.set_num_threads(max(1, min(nthreads, numba.config.NUMBA_NUM_THREADS)))
        numba_mod = _peers_numba
    except ImportError as e:
        numba_missing = "skipped: --no-numba" if str(e) == "--no-numba" else "skipped: numba not installed"
    except Exception as e:  # a broken Numba must not stop the benchmark
        numba_missing = f"skipped: numba failed to load ({type(e).__name__}: {e})"
    b3sum = shutil.which("b3sum") or _cargo_bin("b3sum")
    peers = Peers(blake3, cdist, numba_mod, numba_missing, b3sum)
    if numba_mod is not None:
        peers.compile_s, peers.compile_errors = numba_mod.compile_peers(groups)
    return peers


def _cargo_bin(name: str) -> str | None:
    """``~/.cargo/bin/<name>`` if it is there (``cargo install`` puts it there, maybe off PATH)."""
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    path = cargo_home / "bin" / name
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def numba_peer(peers: Peers, group: str, fn_name: str, *args: Any) -> Contender:
    """The Numba parallel peer of ``group``: ``_peers_numba.<fn_name>(*args)``."""
    if peers.numba is None:
        return missing_peer("numba_parallel", "numba parallel", peers.numba_missing)
    label = f"numba parallel ({peers.numba.numba_facts()['numba_threads']} threads)"
    err = peers.compile_errors.get(f"{group}/parallel")
    if err:
        return missing_peer("numba_parallel", label, err)
    fn = getattr(peers.numba, fn_name)
    return Contender("numba_parallel", label, fn=lambda: fn(*args))


def halves(pool: Executor, fn: Callable[[Sequence[Any]], list[Any]], items: Sequence[Any]) -> list[Any]:
    """``fn`` over the two halves of ``items`` on a 2-thread pool, the results concatenated."""
    mid = len(items) // 2
    first, second = pool.map(fn, [items[:mid], items[mid:]])
    return [*first, *second]


def file_digest(path: str, ctor: Callable[[], Any]) -> bytes:
    """``hashlib.file_digest(f, ctor)`` (Python >= 3.11), or its loop of 256 KiB reads."""
    with open(path, "rb") as f:
        if hasattr(hashlib, "file_digest"):
            digest: bytes = hashlib.file_digest(f, ctor).digest()  # type: ignore[arg-type]
            return digest
        h = ctor()
        while chunk := f.read(1 << 18):
            h.update(chunk)
        out: bytes = h.digest()
        return out


def b3sum_files(cli: str, paths: Sequence[str]) -> list[bytes]:
    """``b3sum --no-names`` of every path in one invocation: the digests, in order."""
    proc = subprocess.run([cli, "--no-names", *paths], capture_output=True, text=True, check=True)
    return [bytes.fromhex(line) for line in proc.stdout.split()]


def count_words(text: str) -> Counter[str]:
    """``Counter(text.split())`` (module level: multiprocessing pickles it by name)."""
    return Counter(text.split())


def counter_two_processes(pool: Any, parts: Sequence[str]) -> Counter[str]:
    """Each half counted in its own process, the two Counters merged."""
    total: Counter[str] = Counter()
    for c in pool.map(count_words, parts):
        total.update(c)
    return total


def split_at_whitespace(text: str) -> list[str]:
    """``text`` in two halves, cut at the first whitespace at or after the middle."""
    mid = len(text) // 2
    while mid < len(text) and not text[mid].isspace():
        mid += 1
    return [text[:mid], text[mid:]]


def blas_trick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances as ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))`` (one BLAS matrix product)."""
    xx = np.einsum("ij,ij->i", x, x)[:, None]
    yy = np.einsum("ij,ij->i", y, y)[None, :]
    d2 = x @ y.T
    d2 *= -2.0
    d2 += xx
    d2 += yy
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


# --- data --------------------------------------------------------------------------------------


def corpus(nbytes: int) -> tuple[str, str]:
    """At least ``nbytes`` (UTF-8) of real text: CPython's standard library ``*.py`` sources (every
    folder, sorted), then NumPy's, concatenated and repeated as needed; and a description."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(np.__file__).parent]
    parts: list[str] = []
    size = 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "site-packages" in path.relative_to(root).parts:
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parts.append(text)
            size += len(text.encode("utf-8"))
            if size >= nbytes:
                break
        if size >= nbytes:
            break
    unique = size
    text = "".join(parts)
    pieces = [text]
    while size < nbytes:
        # Repeat only as much as is missing, cut at a whitespace (no word is split in two).
        cut = min(len(text), nbytes - size)
        while cut < len(text) and not text[cut].isspace():
            cut += 1
        pieces.append("\n" + text[:cut])
        size += 1 + len(text[:cut].encode("utf-8"))
    text = "".join(pieces)
    desc = f"{len(parts):,} .py files of the stdlib and NumPy ({unique / 1e6:.1f} MB)"
    if size > unique:
        desc += f", the first {(size - unique) / 1e6:.1f} MB repeated"
    return text, desc


def make_files(root: Path, sizes: Sizes, rng: np.random.Generator) -> list[str]:
    """``sizes.files`` files of random bytes, log-uniform sizes in [file_min, file_max]."""
    lo, hi = math.log(sizes.file_min), math.log(sizes.file_max)
    paths = []
    for i in range(sizes.files):
        n = int(math.exp(rng.uniform(lo, hi)))
        path = root / f"f{i:05d}.bin"
        path.write_bytes(rng.bytes(n))
        paths.append(str(path))
    return paths


def exact_distance(x: np.ndarray, y: np.ndarray) -> float:
    """The euclidean distance of two float64 vectors, exactly (Fractions), rounded once."""
    s = sum((Fraction(a) - Fraction(b)) ** 2 for a, b in zip(x.tolist(), y.tolist(), strict=True))
    with localcontext() as ctx:
        ctx.prec = 50
        return float((Decimal(s.numerator) / Decimal(s.denominator)).sqrt())


# --- comparisons -------------------------------------------------------------------------------


def same_list(got: Any, want: Any) -> tuple[bool, str]:
    """Digest lists: equal, or the first differing index."""
    if not isinstance(got, list) or len(got) != len(want):
        return False, f"{type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if bytes(a) != b:
            return False, f"item {i}: {bytes(a).hex()[:16]}... != {b.hex()[:16]}..."
    return True, f"{len(got):,} digests equal"


def same_counts(got: Any, want: Any) -> tuple[bool, str]:
    """Word counts: equal as dicts."""
    got = dict(got)
    if got == want:
        return True, f"{len(want):,} words, {sum(want.values()):,} in all"
    diff = [w for w in set(got) | set(want) if got.get(w) != want.get(w)]
    shown = ", ".join(f"{w!r}: {got.get(w)} != {want.get(w)}" for w in sorted(diff)[:3])
    return False, f"{len(diff):,} words differ ({shown})"


def same_arrays(got: Any, want: Any) -> tuple[bool, str]:
    """Arrays (or tuples of arrays): equal shape, dtype kind and values."""
    gots = got if isinstance(got, tuple) else (got,)
    wants = want if isinstance(want, tuple) else (want,)
    if len(gots) != len(wants):
        return False, f"{len(gots)} results, expected {len(wants)}"
    for g, w in zip(gots, wants, strict=True):
        g = np.asarray(g)
        if g.shape != w.shape:
            return False, f"shape {g.shape}, expected {w.shape}"
        if not np.array_equal(g, w):
            return False, f"{int(np.count_nonzero(g != w)):,} elements differ"
    return True, "equal"


def identical(a: Any, b: Any) -> bool:
    """The same result, bit for bit (arrays, tuples, lists, dicts, floats)."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return bool(a == b)


# --- building the rows -------------------------------------------------------------------------


@dataclass
class Setup:
    """The data, pools and temporary files of a run (closed by ``close``)."""

    sizes: Sizes
    peers: Peers
    stack: ExitStack
    notes: list[str] = field(default_factory=list)


def build_rows(groups: Sequence[str], sizes: Sizes, peers: Peers, setup: Setup, seed: int) -> list[Row]:
    """The rows of every selected group, with their data."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    tpe = setup.stack.enter_context(ThreadPoolExecutor(2, thread_name_prefix="bench-data"))
    b3 = peers.blake3
    no_blake3 = "skipped: blake3 (PyPI) not installed"

    if "hash_many" in groups:
        blobs = [rng.bytes(sizes.blob_bytes) for _ in range(sizes.blobs)]
        what = f"{sizes.blobs:,} x {sizes.blob_bytes // 1024} KiB"
        if b3 is not None:
            auto = b3.blake3.AUTO

            def b3_serial(part: Sequence[bytes]) -> list[bytes]:
                return [b3.blake3(b).digest() for b in part]

            b3_peers = [
                Contender("blake3_serial", "blake3-py serial", fn=lambda: b3_serial(blobs)),
                Contender("blake3_tpe", "blake3-py TPE(2) halves", fn=lambda: halves(tpe, b3_serial, blobs)),
                Contender(
                    "blake3_auto",
                    "blake3-py max_threads=AUTO per blob",
                    fn=lambda: [b3.blake3(b, max_threads=auto).digest() for b in blobs],
                ),
            ]
        else:
            b3_peers = [missing_peer(k, k, no_blake3) for k in ("blake3_serial", "blake3_tpe", "blake3_auto")]
        na = gilfree_na("hash_many")
        rows.append(
            Row(
                "hash_many_blake3",
                "hash_many",
                f"hash_many {what}, blake3",
                by_key(
                    *gilfree_pair("hash_many", lambda f, t: f(blobs, algorithm="blake3", threads=t), na),
                    *b3_peers,
                ),
                [
                    Target("faster", ("blake3_serial",), 1.8, "blake3-py serial"),
                    Target("faster", ("blake3_tpe", "blake3_auto"), 1.0, "best threaded blake3-py"),
                ],
                same_list,
                "blake3_serial" if b3 is not None else (lambda: None),
                "blake3-py serial" if b3 is not None else no_blake3,
                gilfree_na=na,
            )
        )

        def sha_serial(part: Sequence[bytes]) -> list[bytes]:
            return [hashlib.sha256(b).digest() for b in part]

        rows.append(
            Row(
                "hash_many_sha256",
                "hash_many",
                f"hash_many {what}, sha256",
                by_key(
                    *gilfree_pair("hash_many", lambda f, t: f(blobs, algorithm="sha256", threads=t), na),
                    Contender("hashlib_serial", "hashlib.sha256 serial", fn=lambda: sha_serial(blobs)),
                    Contender(
                        "hashlib_tpe",
                        "hashlib.sha256 TPE(2) halves",
                        fn=lambda: halves(tpe, sha_serial, blobs),
                    ),
                ),
                [Target("faster", ("hashlib_serial",), 1.8, "hashlib serial")],
                same_list,
                "hashlib_serial",
                "hashlib.sha256 serial",
                gilfree_na=na,
            )
        )

    if "hash_files" in groups:
        tmp = Path(setup.stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-")))
        paths = make_files(tmp, sizes, rng)
        total = sum(os.path.getsize(p) for p in paths)
        for p in paths:  # warm the page cache
            Path(p).read_bytes()
        na = gilfree_na("hash_files")
        if b3 is not None:
            tpe_peer = Contender(
                "tpe_file_digest",
                "TPE(2) hashlib.file_digest(f, blake3)",
                fn=lambda: list(tpe.map(lambda p: file_digest(p, b3.blake3), paths)),
            )
        else:
            tpe_peer = missing_peer("tpe_file_digest", "TPE(2) hashlib.file_digest(f, blake3)", no_blake3)
        cli = peers.b3sum
        if cli is not None:
            b3sum_peer = Contender(
                "b3sum", "b3sum (one process, all files)", fn=lambda: b3sum_files(cli, paths)
            )
        else:
            b3sum_peer = missing_peer("b3sum", "b3sum", "skipped: b3sum not installed (cargo install b3sum)")
        rows.append(
            Row(
                "hash_files_blake3",
                "hash_files",
                f"hash_files {len(paths):,} files, {sizes.file_min // 1000} KB-{sizes.file_max / 1e6:g} MB "
                f"({total / 1e6:,.0f} MB, warm cache), blake3",
                by_key(
                    *gilfree_pair("hash_files", lambda f, t: f(paths, algorithm="blake3", threads=t), na),
                    b3sum_peer,
                    tpe_peer,
                ),
                [
                    Target("time", ("b3sum",), 1.2, "b3sum's time"),
                    Target("faster", ("tpe_file_digest",), 1.3, "the TPE"),
                ],
                same_list,
                (lambda: [b3.blake3(Path(p).read_bytes()).digest() for p in paths])
                if b3 is not None
                else (lambda: None),
                "blake3-py of each whole file" if b3 is not None else no_blake3,
                gilfree_na=na,
            )
        )

    if "word_count" in groups:
        text, desc = corpus(sizes.text_bytes)
        parts = split_at_whitespace(text)
        # spawn: the benchmark's process has threads (gilfree's pool, the TPE, Numba's), so no fork.
        mp = setup.stack.enter_context(multiprocessing.get_context("spawn").Pool(2))
        na = gilfree_na("word_count")
        rows.append(
            Row(
                "word_count",
                "word_count",
                f"word_count {len(text.encode('utf-8')) / 1e6:,.1f} MB ({desc})",
                by_key(
                    *gilfree_pair("word_count", lambda f, t: f(text, threads=t), na),
                    Contender("counter", "Counter(text.split())", fn=lambda: dict(count_words(text))),
                    Contender(
                        "counter_2proc",
                        "Counter, 2 processes (halves, merged)",
                        fn=lambda: counter_two_processes(mp, parts),
                    ),
                ),
                [Target("faster", ("counter",), 5.0, "Counter(text.split())")],
                same_counts,
                "counter",
                "Counter(text.split())",
                gilfree_na=na,
            )
        )

    if "histogram" in groups:
        a = rng.standard_normal(sizes.histogram)
        bins = sizes.bins
        na = gilfree_na("histogram")
        rows.append(
            Row(
                "histogram",
                "histogram",
                f"histogram {sizes.histogram:,} float64 N(0,1), {bins} bins",
                by_key(
                    *gilfree_pair("histogram", lambda f, t: f(a, bins, threads=t), na),
                    Contender("numpy", "np.histogram", fn=lambda: np.histogram(a, bins)),
                    numba_peer(peers, "histogram", "histogram_parallel", a, bins),
                ),
                [
                    Target("faster", ("numpy",), 8.0, "NumPy"),
                    Target("faster", ("numba_parallel",), 1.0, "Numba parallel"),
                ],
                same_arrays,
                "numpy",
                "np.histogram",
                gilfree_na=na,
            )
        )

    if "bincount" in groups:
        x = rng.integers(0, sizes.bincount_max, sizes.bincount, dtype=np.int64)
        na = gilfree_na("bincount")
        rows.append(
            Row(
                "bincount",
                "bincount",
                f"bincount {sizes.bincount:,} int64 in [0, {sizes.bincount_max})",
                by_key(
                    *gilfree_pair("bincount", lambda f, t: f(x, threads=t), na),
                    Contender("numpy", "np.bincount", fn=lambda: np.bincount(x)),
                    numba_peer(peers, "bincount", "bincount_parallel", x),
                ),
                [Target("faster", ("numba_parallel",), 1.0, "Numba parallel")],
                same_arrays,
                "numpy",
                "np.bincount",
                gilfree_na=na,
            )
        )

    if "sort" in groups:
        na = gilfree_na("sort")
        info = np.iinfo(np.int64)
        for dtype, data in (
            ("float64", rng.standard_normal(sizes.sort)),
            ("int64", rng.integers(info.min, info.max, sizes.sort, dtype=np.int64, endpoint=True)),
        ):
            rows.append(
                Row(
                    f"sort_{dtype}",
                    "sort",
                    f"sort {sizes.sort:,} {dtype}",
                    by_key(
                        *gilfree_pair("sort", lambda f, t, d=data: f(d, threads=t), na),
                        Contender("numpy", "np.sort", fn=lambda d=data: np.sort(d)),
                    ),
                    [Target("faster", ("numpy",), 1.5, "NumPy")],
                    same_arrays,
                    "numpy",
                    "np.sort",
                    gilfree_na=na,
                )
            )

    if "pairwise_distances" in groups:
        m, n, k = sizes.pairwise
        xa = rng.standard_normal((m, k))
        ya = rng.standard_normal((n, k))
        ii = rng.integers(0, m, DIST_SAMPLE)
        jj = rng.integers(0, n, DIST_SAMPLE)
        na = gilfree_na("pairwise_distances")
        cdist = peers.scipy_cdist
        row = Row(
            "pairwise_distances",
            "pairwise_distances",
            f"pairwise_distances {m}x{n}x{k} float64, euclidean",
            by_key(
                *gilfree_pair(
                    "pairwise_distances", lambda f, t: f(xa, ya, metric="euclidean", threads=t), na
                ),
                Contender("cdist", "scipy cdist", fn=lambda: cdist(xa, ya))
                if cdist is not None
                else missing_peer("cdist", "scipy cdist", "skipped: scipy not installed"),
                Contender("blas", "NumPy BLAS trick", fn=lambda: blas_trick(xa, ya)),
                numba_peer(peers, "pairwise_distances", "euclidean_parallel", xa, ya),
            ),
            [
                Target("time", ("blas",), 1.0, "the BLAS trick's time"),
                Target("accuracy", ("cdist",), 2.0, "cdist's max rel. error"),
            ],
            lambda got, want: (False, "unused"),
            lambda: np.array([exact_distance(xa[i], ya[j]) for i, j in zip(ii, jj, strict=True)]),
            f"exact distances of {DIST_SAMPLE} sampled entries",
            gilfree_na=na,
        )

        def same_dist(got: Any, want: Any, row: Row = row) -> tuple[bool, str]:
            got = np.asarray(got)
            if got.shape != (m, n):
                return False, f"shape {got.shape}, expected {(m, n)}"
            err = float(np.max(np.abs(got[ii, jj] - want) / want))
            return err <= DIST_WRONG, f"max rel. err {err:.2e}"

        row.same = same_dist
        rows.append(row)

    if "reductions" in groups:
        s = sizes.reduce2d
        a2 = rng.standard_normal((s, s))
        for kernel, bar in (("sum", 1.2), ("var", 4.0), ("max", 1.2)):
            na = gilfree_na(kernel, lambda f: f(np.ones((2, 3)), axis=0), "axis= not supported")
            for axis in (0, 1):
                rows.append(
                    Row(
                        f"{kernel}_axis{axis}",
                        "reductions",
                        f"{kernel}(axis={axis}) {s}x{s} float64",
                        by_key(
                            *gilfree_pair(kernel, lambda f, t, ax=axis: f(a2, axis=ax, threads=t), na),
                            Contender(
                                "numpy",
                                f"np.{kernel}(axis={axis})",
                                fn=lambda k=kernel, ax=axis: getattr(np, k)(a2, axis=ax),
                            ),
                        ),
                        [Target("faster", ("numpy",), bar, "NumPy")],
                        reduction_check(kernel, a2, axis),
                        "numpy",
                        f"np.{kernel}(axis={axis})",
                        gilfree_na=na,
                    )
                )
    return rows


def reduction_check(kernel: str, a: np.ndarray, axis: int) -> Callable[[Any, Any], tuple[bool, str]]:
    """max: exactly NumPy's; sum: within 1e-12 x sum(|a|) along the axis; var: relative 1e-12."""
    scale = np.sum(np.abs(a), axis=axis) if kernel == "sum" else None

    def check(got: Any, want: Any) -> tuple[bool, str]:
        got = np.asarray(got)
        if got.shape != want.shape:
            return False, f"shape {got.shape}, expected {want.shape}"
        if kernel == "max":
            return same_arrays(got, want)
        denom = scale if scale is not None else np.abs(want)
        err = float(np.max(np.abs(got - want) / denom))
        return err <= REDUCE_TOL, f"max rel. err {err:.1e}"

    return check


# --- correctness -------------------------------------------------------------------------------


def check_row(row: Row) -> None:
    """The first call of every contender, checked against the reference; WRONG ones are not timed."""
    for c in row.contenders.values():
        if c.fn is None:
            continue
        t0 = time.perf_counter()
        try:
            c.result = c.fn()
        except Exception as e:
            c.error = f"{type(e).__name__}: {e}"
            wrong(row, c, f"{c.label} raised {c.error}")
            continue
        c.first_s = time.perf_counter() - t0
    ref = row.reference
    expected = row.contenders[ref].result if isinstance(ref, str) else ref()
    ref_ok = expected is not None and not (isinstance(ref, str) and row.contenders[ref].error)
    for c in row.contenders.values():
        if c.fn is None:
            row.check_rows.append([c.label, c.missing or "-", "-"])
            continue
        if c.error:
            row.check_rows.append([c.label, c.error, "WRONG"])
            continue
        if not ref_ok:
            row.check_rows.append([c.label, f"no reference ({row.reference_label})", "UNCHECKED"])
            continue
        if c.key == ref:
            _, detail = row.same(c.result, expected)
            row.check_rows.append([c.label, f"reference: {detail}", "OK"])
            continue
        ok, detail = row.same(c.result, expected)
        if row.name == "pairwise_distances":
            row.errors[c.key] = float(detail.split()[-1]) if "err" in detail else math.inf
        if not ok:
            c.error = "WRONG"
            wrong(row, c, f"{c.label} disagrees with {row.reference_label}: {detail}")
        row.check_rows.append([c.label, f"{detail} (vs {row.reference_label})", "OK" if ok else "WRONG"])
    g1, gn = row.contenders.get("gilfree_1"), row.contenders.get("gilfree_all")
    if g1 and gn and g1.live and gn.live and not identical(g1.result, gn.result):
        gn.error = "WRONG"
        wrong(row, gn, "gilfree threads=1 and threads=None differ")
        row.check_rows.append(["gilfree threads=1 vs threads=None", "results differ", "WRONG"])
    elif g1 and gn and g1.live and gn.live:
        row.check_rows.append(["gilfree threads=1 vs threads=None", "bit-identical", "OK"])
    for c in row.contenders.values():
        if c.key != ref:
            c.result = None  # the results can be large: keep only the reference's


def wrong(row: Row, c: Contender, message: str) -> None:
    """Records a wrong result (or an exception): that contender is not timed."""
    row.failures.append(message)
    if c.key.startswith("gilfree"):
        row.gilfree_wrong = True


# --- verdicts ----------------------------------------------------------------------------------


def t_of(row: Row, timings: Mapping[str, Timing], key: str, stat: str) -> float | None:
    """The time of contender ``key`` of ``row``, or None if it was not timed."""
    t = timings.get(f"{row.name}/{key}")
    return t.get(stat) if t is not None else None


def evaluate(rows: Sequence[Row], timings: Mapping[str, Timing], stat: str) -> list[Verdict]:
    """Every target of every row, judged with the times of statistic ``stat``."""
    out: list[Verdict] = []
    for row in rows:
        for tg in row.targets:
            if tg.kind == "faster":
                target = f">= {tg.bar:.1f}x {tg.desc}"
            elif tg.kind == "time":
                target = f"time <= {tg.bar:.1f}x {tg.desc}"
            else:
                target = f"max rel. err <= {tg.bar:.0f}x {tg.desc}"
            t_g = t_of(row, timings, "gilfree_all", stat)
            timed = [(k, t) for k in tg.peers if (t := t_of(row, timings, k, stat)) is not None]
            if row.gilfree_wrong:
                out.append(Verdict(row.name, target, "WRONG result", "MISS"))
            elif t_g is None:
                na = row.gilfree_na or why_missing(row.contenders, "gilfree_all")
                out.append(Verdict(row.name, target, na, "n/a"))
            elif not timed:
                out.append(Verdict(row.name, target, why_missing(row.contenders, *tg.peers), "n/a"))
            elif tg.kind == "accuracy":
                g_err = row.errors.get("gilfree_all", math.inf)
                p_err = max(row.errors.get(k, 0.0) for k, _ in timed)
                bar = tg.bar * max(p_err, 2.0**-53)
                passed = g_err <= bar
                out.append(
                    Verdict(row.name, target, f"{g_err:.2e} vs {p_err:.2e}", "PASS" if passed else "MISS")
                )
            else:
                best_k, best_t = min(timed, key=lambda kt: kt[1])
                label = row.contenders[best_k].label
                if tg.kind == "faster":
                    x = best_t / t_g
                    passed = x >= tg.bar
                    measured = f"{x:.3f}x {label}"
                else:
                    x = t_g / best_t
                    passed = x <= tg.bar
                    measured = f"{x:.3f}x {label}'s time"
                out.append(Verdict(row.name, target, measured, "PASS" if passed else "MISS"))
    return out


# --- output ------------------------------------------------------------------------------------


def print_row(row: Row, timings: Mapping[str, Timing], stat: str) -> None:
    """The time of every contender and gilfree's ratio to it."""
    t_g = t_of(row, timings, "gilfree_all", stat)
    rows = []
    for c in row.contenders.values():
        t = t_of(row, timings, c.key, stat)
        if t is None:
            why = c.missing or (f"{c.error} (not timed)" if c.error else "not measured")
            rows.append([c.label, why, "-"])
        else:
            rows.append([c.label, ms(t), "-" if t_g is None or c.key == "gilfree_all" else ratio(t / t_g)])
    print(f"\n{row.title}")
    print(format_table(["contender", "ms", "its time / gilfree's"], rows))


def print_summary(rows: Sequence[Row], timings: Mapping[str, Timing], stat: str) -> None:
    """The speed table: one line per row, gilfree (threads=None) and every peer's ratio."""
    lines = []
    for row in rows:
        t_g = t_of(row, timings, "gilfree_all", stat)
        t_1 = t_of(row, timings, "gilfree_1", stat)
        peers = []
        for c in row.contenders.values():
            if c.key.startswith("gilfree"):
                continue
            t = t_of(row, timings, c.key, stat)
            if t is None:
                peers.append(f"{c.label} {'WRONG' if c.error else 'n/a'}")
            else:
                peers.append(f"{c.label} {ms(t)} ms" + (f" ({ratio(t / t_g)})" if t_g else ""))
        gil = ms(t_g) if t_g is not None else ("WRONG" if row.gilfree_wrong else "n/a")
        speedup = ratio(t_1 / t_g) if t_1 and t_g else "-"
        lines.append([row.name, gil, speedup, "; ".join(peers)])
    print(format_table(["row", "gilfree ms", "t1/tN", "peers: ms (their time / gilfree's)"], lines))


def machine_facts(args: argparse.Namespace, peers: Peers, nthreads: int) -> dict[str, Any]:
    """gilfree.info() (the CPU first), the versions of NumPy and the peers, the run's parameters."""
    info = dict(gilfree.info())
    info.pop("pid", None)
    facts: dict[str, Any] = {"cpu": info.pop("cpu", "?"), **info}
    facts["numpy"] = np.__version__
    facts["blake3"] = getattr(peers.blake3, "__version__", "?") if peers.blake3 else "not installed"
    try:
        import scipy

        facts["scipy"] = scipy.__version__
    except ImportError:
        facts["scipy"] = "not installed"
    if peers.numba is not None:
        facts.update(peers.numba.numba_facts())
    else:
        facts["numba"] = peers.numba_missing
    if peers.b3sum is not None:
        try:
            out = subprocess.run([peers.b3sum, "--version"], capture_output=True, text=True, check=False)
            facts["b3sum"] = f"{out.stdout.strip()} ({peers.b3sum})"
        except OSError as e:
            facts["b3sum"] = f"{peers.b3sum}: {e}"
    else:
        facts["b3sum"] = "not installed"
    facts["all_threads"] = nthreads
    facts["sizes"] = args.sizes
    facts.update(run_facts(args))
    return facts


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        description="gilfree's data kernels (hash_many, hash_files, word_count, histogram, bincount, "
        "sort, pairwise_distances, 2-D reductions) vs blake3-py, hashlib, b3sum, Counter, NumPy, "
        "SciPy and Numba in one run: correctness first, then times, ratios and a PASS/MISS verdict "
        "per target. Exit status 2 if a result is wrong.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    size.add_argument("--tiny", action="store_true", help="tiny sizes: for the test suite")
    p.add_argument("--check-only", action="store_true", help="run the correctness checks only, no timing")
    p.add_argument(
        "--no-numba", action="store_true", help="skip the Numba peers (their compile takes seconds)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the data (default: 0)")
    add_run_args(p, repeat=3, groups=GROUPS, what="groups")
    args = p.parse_args(argv)
    args.sizes = "quick" if args.quick else "tiny" if args.tiny else "full"
    args.groups = parse_only(p, args, GROUPS, "group(s)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0, or 2 if a result is wrong)."""
    args = parse_args(argv)
    sizes = {"quick": QUICK, "tiny": TINY, "full": FULL}[args.sizes]
    nthreads = gilfree.get_num_threads()
    print("gilfree data kernels vs blake3-py, hashlib, b3sum, Counter, NumPy, SciPy, Numba\n")
    t0 = time.perf_counter()
    peers = find_peers(nthreads, args.groups, not args.no_numba)
    compile_total = time.perf_counter() - t0
    facts = machine_facts(args, peers, nthreads)
    print_facts(facts)
    print_compile_times(compile_total, peers.compile_s, peers.compile_errors)
    absent = {
        "blake3": peers.blake3 is None,
        "scipy": peers.scipy_cdist is None,
        "numba": peers.numba is None and not args.no_numba,
        "b3sum": peers.b3sum is None,
    }
    missing = [name for name, gone in absent.items() if gone]
    if missing:
        print(f"\nPeers not installed: {', '.join(missing)} ({PEERS_HINT})")

    with ExitStack() as stack:
        setup = Setup(sizes, peers, stack)
        t0 = time.perf_counter()
        rows = build_rows(args.groups, sizes, peers, setup, args.seed)
        print(f"\nData made in {time.perf_counter() - t0:.1f} s.")
        print("\nCorrectness (the first call of every contender, against the row's reference):")
        for row in rows:
            check_row(row)
            print(f"\n{row.title}")
            print(format_table(["contender", "check", "status"], row.check_rows))
            for f in row.failures:
                print(f"  WRONG: {f}")
        failures = [f"{row.name}: {f}" for row in rows for f in row.failures]
        unavailable = sorted({row.gilfree_na for row in rows if row.gilfree_na})
        if unavailable:
            print("\ngilfree rows not available in this build:")
            for why in unavailable:
                print(f"  {why}")

        timings: dict[str, Timing] = {}
        verdicts: list[Verdict] = []
        cross: list[Verdict] = []
        stat, other = args.stat, ("median" if args.stat == "min" else "min")
        load_before = load_after = os.getloadavg()
        if not args.check_only:
            cases = {
                f"{row.name}/{c.key}": c.fn
                for row in rows
                for c in row.contenders.values()
                if c.live and c.fn
            }
            print(
                f"\nTiming {len(cases)} contenders: {stat} of {args.repeat} interleaved rounds after "
                f"{args.warmup} warm-up call(s) (the check was the first)"
            )
            timings, load_before, load_after = measure_loaded(
                cases, repeat=args.repeat, warmup=args.warmup - 1
            )
            for row in rows:
                print_row(row, timings, stat)
            print(f"\nSpeed table ({stat} of {args.repeat} rounds; CPU: {facts['cpu']}, {nthreads} threads):")
            print_summary(rows, timings, stat)
            verdicts = evaluate(rows, timings, stat)
            note = "" if args.sizes == "full" else f", {args.sizes} sizes: indicative only"
            print(f"\nVerdicts ({stat} of {args.repeat} rounds{note}):")
            print_verdicts(verdicts)
            print(f"\n{tally(verdicts)}.")
            cross = evaluate(rows, timings, other)
            print_cross_check(verdicts, cross, other)

    if args.json:
        report = {
            "facts": facts,
            "sizes": vars(sizes),
            "numba_compile_s": peers.compile_s,
            "numba_compile_errors": peers.compile_errors,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "rows": {
                row.name: {
                    "title": row.title,
                    "gilfree_na": row.gilfree_na,
                    "checks": row.check_rows,
                    "failures": row.failures,
                    "errors": row.errors,
                    "contenders": {
                        c.key: contender_json(c, timings.get(f"{row.name}/{c.key}"))
                        for c in row.contenders.values()
                    },
                }
                for row in rows
            },
            "verdicts": verdicts_json(stat, verdicts),
            "cross_check": verdicts_json(other, cross),
        }
        write_json(args.json, report)
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
