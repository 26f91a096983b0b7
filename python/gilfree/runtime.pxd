# gilfree/runtime.pxd -- Cython declarations of gilfree's runtime C API (include/gilfree.h).
#
# Use:
#
#     from gilfree cimport runtime
#
#     runtime.import_gilfree()        # at module level, once: ImportError if the ABI does not match
#
#     cdef int body(void* data, size_t start, size_t end) noexcept nogil:
#         ...                         # a pool worker, no GIL; return 1 if runtime.interrupted(since)
#
#     with nogil:
#         runtime.parallel_for(b"mymod.f", n, 4096, 0, body, &job)   # raises on failure
#
# Cython finds this file on sys.path, next to gilfree's __init__.py (as it finds numpy's
# __init__.pxd); the C compiler needs the header: Extension(..., include_dirs=[gilfree.get_include()]).
# The names are the header's without their "gilfree_" prefix (import_gilfree is gilfree_import);
# the header documents each one.

from libc.stdint cimport uint32_t, uint64_t
from cpython.object cimport PyObject

cdef extern from "gilfree.h":
    # The ABI version the header was written for.
    enum:
        GILFREE_ABI_MAJOR
        GILFREE_ABI_MINOR

    # One chunk [start, end) of a parallel_for loop, on a pool worker, without the GIL: 0 to go
    # on, anything else stops the loop (return 1 when interrupted(since)).
    ctypedef int (*chunk_body "gilfree_chunk_body")(void* data, size_t start, size_t end) noexcept nogil

    # With the GIL, once, at import: 0, or -1 with ImportError set (gilfree missing, too old, or
    # another ABI version).
    int import_gilfree "gilfree_import"() except -1

    # The thread budget: gilfree.get_num_threads().
    size_t num_threads "gilfree_num_threads"() noexcept nogil
    # gilfree.set_num_threads(n) for the whole process: 0, or -1 if n is not in 1..=1024.
    int set_num_threads "gilfree_set_num_threads"(size_t n) noexcept nogil
    # The interrupt epoch now: read it when a call starts.
    uint64_t epoch "gilfree_epoch"() noexcept nogil
    # True once Ctrl-C (or gilfree.interrupt()) happened after `since` = epoch(): one relaxed
    # atomic load, for nogil loops on any thread.
    bint interrupted "gilfree_interrupted"(uint64_t since) noexcept nogil
    # Runs body over the chunks of 0..n on the shared pool (threads: 0 the whole budget, 1 the
    # calling thread, k at most k workers); with or without the GIL, from any thread. Raises
    # KeyboardInterrupt on Ctrl-C, gilfree.KernelError when a body returned nonzero otherwise.
    int parallel_for "gilfree_parallel_for"(const char* name, size_t n, size_t chunk,
                                            size_t threads, chunk_body body,
                                            void* data) except -1 nogil
    # With the GIL, after a loop stopped because interrupted(): raises KeyboardInterrupt (on the
    # main thread, whatever Python's SIGINT handler raises).
    int raise_interrupted "gilfree_raise_interrupted"(const char* name) except -1
    # gilfree.KernelError, a borrowed reference: raise <object>kernel_error() in your own code.
    PyObject* kernel_error "gilfree_kernel_error"() noexcept nogil
