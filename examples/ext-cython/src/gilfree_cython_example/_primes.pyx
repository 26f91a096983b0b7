# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""Counting primes by trial division: a CPU-bound nogil loop on gilfree's runtime.

Three ways to run the same loop:

* count_primes_nogil(lo, hi): the recipe's worker. Releases the GIL on the calling thread and
  checks for Ctrl-C in its loop; run several from a ThreadPoolExecutor and they run in parallel.
* count_primes(lo, hi, threads=None): the same loop in chunks on gilfree's shared pool
  (runtime.parallel_for), under gilfree's one thread budget.
* count_primes_holding_gil(lo, hi): the classic mistake, kept for the lab to show: the loop is
  inside `with nogil:` but wrapped in `with gil:`, so the GIL is held all along and threads take
  turns instead of running in parallel.
"""

import operator

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

from gilfree cimport runtime

# Once, at import: this module's pointer to gilfree's runtime table (an ImportError naming both
# versions if this module was built for another ABI than the installed gilfree's).
runtime.import_gilfree()

# The chunks of count_primes: at least MIN_CHUNK numbers each, and at most MAX_CHUNKS chunks.
# They depend on the range only, never on the thread count.
cdef enum:
    MIN_CHUNK = 1024
    MAX_CHUNKS = 4096


cdef inline bint _is_prime(uint64_t n) noexcept nogil:
    cdef uint64_t d
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d <= n // d:  # d * d <= n, without overflow
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


cdef int64_t _count(uint64_t lo, uint64_t hi, uint64_t since, bint* stopped) noexcept nogil:
    """The primes in [lo, hi). Stops early, with stopped[0] set, once Ctrl-C happened after
    `since` (each number costs up to sqrt(n)/3 divisions; the check costs one relaxed load)."""
    cdef int64_t count = 0
    cdef uint64_t n
    stopped[0] = False
    for n in range(lo, hi):
        if runtime.interrupted(since):
            stopped[0] = True
            break
        count += _is_prime(n)
    return count


cdef tuple _bounds(lo, hi):
    """[lo, hi) checked, as two ints for uint64 (an empty range when hi <= lo)."""
    lo, hi = operator.index(lo), operator.index(hi)
    if lo < 0:
        raise ValueError(f"lo must be >= 0, got {lo}")
    if hi >= 2**63:
        raise OverflowError(f"hi must be < 2**63, got {hi}")
    return lo, max(lo, hi)


def count_primes_nogil(lo, hi):
    """The number of primes p with lo <= p < hi, on the calling thread with the GIL released.

    The recipe's worker: several calls from a ThreadPoolExecutor run in parallel. Ctrl-C stops it
    within microseconds from any thread (KeyboardInterrupt), and the next call works.
    """
    cdef uint64_t a, b
    a, b = _bounds(lo, hi)
    cdef uint64_t since = runtime.epoch()  # Ctrl-C from now on stops the loop
    cdef int64_t count
    cdef bint stopped = False
    with nogil:
        count = _count(a, b, since, &stopped)
    if stopped:  # back with the GIL: raise
        runtime.raise_interrupted("gilfree_cython_example.count_primes_nogil")
    return count


def count_primes_holding_gil(lo, hi):
    """The classic mistake: the same loop, written inside `with nogil:` but wrapped in
    `with gil:`. Correct results, but the GIL is held for the whole loop: other Python threads
    stall, and calls from a ThreadPoolExecutor take turns instead of running in parallel."""
    cdef uint64_t a, b
    a, b = _bounds(lo, hi)
    cdef uint64_t since = runtime.epoch()
    cdef int64_t count
    cdef bint stopped = False
    with nogil:
        with gil:  # the mistake: taking the GIL back around the work
            count = _count(a, b, since, &stopped)
    if stopped:
        runtime.raise_interrupted("gilfree_cython_example.count_primes_holding_gil")
    return count


ctypedef struct _Job:
    uint64_t lo
    size_t chunk
    uint64_t since
    int64_t* partials  # one slot per chunk: combined in order, whatever ran where


cdef int _chunk_body(void* data, size_t start, size_t end) noexcept nogil:
    # One chunk [lo + start, lo + end), on a pool worker, without the GIL.
    cdef _Job* job = <_Job*>data
    cdef bint stopped = False
    job.partials[start // job.chunk] = _count(job.lo + start, job.lo + end, job.since, &stopped)
    return 1 if stopped else 0  # nonzero stops the loop: parallel_for raises KeyboardInterrupt


cdef size_t _threads_arg(threads) except? 0:
    # gilfree's convention: None the shared pool (0 for parallel_for), 1 the calling thread only,
    # k at most k workers.
    if threads is None:
        return 0
    if isinstance(threads, bool):
        raise TypeError("threads must be None or an int >= 1, got bool")
    try:
        k = operator.index(threads)
    except TypeError:
        raise TypeError(f"threads must be None or an int >= 1, got {type(threads).__name__}") from None
    if k < 1:
        raise ValueError(f"threads must be None or an int >= 1, got {k}")
    return min(k, 1 << 20)


def count_primes(lo, hi, *, threads=None):
    """The number of primes p with lo <= p < hi, on gilfree's shared pool.

    threads: None uses gilfree's whole thread budget (gilfree.set_num_threads), 1 the calling
    thread only, k at most k workers; the result is the same for all. Ctrl-C stops it from any
    thread (KeyboardInterrupt), and the next call works.
    """
    cdef size_t nthreads = _threads_arg(threads)
    cdef uint64_t a, b
    a, b = _bounds(lo, hi)
    cdef size_t n = b - a
    if n == 0:
        return 0
    cdef size_t chunk = max(<size_t>MIN_CHUNK, (n + MAX_CHUNKS - 1) // MAX_CHUNKS)
    cdef size_t nchunks = (n + chunk - 1) // chunk
    cdef _Job job
    job.lo = a
    job.chunk = chunk
    job.since = runtime.epoch()
    job.partials = <int64_t*>malloc(nchunks * sizeof(int64_t))
    if job.partials == NULL:
        raise MemoryError()
    cdef int64_t total = 0
    cdef size_t i
    try:
        with nogil:
            runtime.parallel_for("gilfree_cython_example.count_primes", n, chunk, nthreads,
                                 _chunk_body, &job)
        for i in range(nchunks):
            total += job.partials[i]
    finally:
        free(job.partials)
    return total


def thread_budget():
    """gilfree's thread budget as this extension sees it through the runtime table: the same
    number as gilfree.get_num_threads()."""
    return runtime.num_threads()
