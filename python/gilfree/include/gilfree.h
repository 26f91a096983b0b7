/*
 * gilfree.h -- the C API of gilfree's runtime, for C and Cython extensions.
 *
 * gilfree runs one native thread pool per process. Its extension module, gilfree._native, exports
 * a versioned table of C functions in the PyCapsule "gilfree._native._RUNTIME_API"; this header
 * mirrors that table field for field (crates/gilfree-pyo3/src/abi.rs is the definition, and a test
 * checks that the two agree) and wraps it in small helpers. With it, an extension's own GIL-free
 * loops get what gilfree's kernels get: the one shared pool under the one thread budget
 * (gilfree.set_num_threads), Ctrl-C noticed from any thread, gilfree.KernelError.
 *
 * Build: put gilfree.get_include() on the compiler's include path. Cython users cimport the
 * declarations instead (`from gilfree cimport runtime`: gilfree/runtime.pxd, found on sys.path
 * like numpy's .pxd files) and still need the include path for this header.
 *
 * Use, in C:
 *
 *     #include "gilfree.h"
 *
 *     PyMODINIT_FUNC PyInit_mymod(void) {
 *         if (gilfree_import() < 0) return NULL;      // once, at import, with the GIL
 *         ...
 *     }
 *
 *     static int body(void *data, size_t start, size_t end) {   // a pool worker, no GIL
 *         for (size_t i = start; i < end; i++) {
 *             if (gilfree_interrupted(((struct job *)data)->since)) return 1;  // Ctrl-C: stop
 *             ...
 *         }
 *         return 0;
 *     }
 *
 *     // with or without the GIL, from any thread:
 *     job.since = gilfree_epoch();
 *     if (gilfree_parallel_for("mymod.f", n, 4096, 0, body, &job) < 0) return NULL;
 *
 * The ABI rules (as NumPy's _ARRAY_API): the table starts with its version and size, which never
 * move; entries are only ever appended (each append bumps the minor version). An extension built
 * with this header (GILFREE_ABI_MAJOR.GILFREE_ABI_MINOR) accepts a runtime with the same major
 * version, a minor version at least as high and a table at least as large; gilfree_import()
 * refuses anything else with an ImportError naming both versions (rebuild the extension against
 * the gilfree you have installed). No function of the table ever lets a C++ exception or a Rust
 * panic escape.
 *
 * The pointer to the table is static: it belongs to the translation unit (the .c file) that
 * includes this header. A Cython module is one translation unit; a C extension made of several
 * .c files calls gilfree_import() once in each file that uses the helpers (it is cheap and
 * idempotent).
 */
#ifndef GILFREE_H
#define GILFREE_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header was written for (the runtime's own is in the table). */
#define GILFREE_ABI_MAJOR 1
#define GILFREE_ABI_MINOR 1

/* The capsule's name: the module, a dot, the attribute (what PyCapsule_Import wants). */
#define GILFREE_CAPSULE_NAME "gilfree._native._RUNTIME_API"

/* ---- the table's types (crates/gilfree-pyo3/src/abi.rs, gilfree_engine::backend) ---------- */

/* One worker's share of a broadcast: body(data, worker), worker in 0..n. (Engine internal.) */
typedef void (*gilfree_worker_body)(const void *data, size_t worker);

/* A queued task: run(data), called exactly once, on a pool worker. (Engine internal.) */
typedef void (*gilfree_task_run)(void *data);

/* An opaque handle to a running broadcast. (Engine internal.) */
typedef struct gilfree_broadcast gilfree_broadcast;

/* One chunk of a gilfree_parallel_for loop: body(data, start, end) runs on a pool worker (or the
 * calling thread), without the GIL, for the indices [start, end). Return 0 to go on; anything
 * else stops the loop and fails the call. It must not touch Python objects or take the GIL. */
typedef int (*gilfree_chunk_body)(void *data, size_t start, size_t end);

/* What a gilfree.Executor task made by another extension sees of its context: the interrupt
 * epoch at submit time and the task's two cancel flags (Rust AtomicBool: one byte, 0 or 1, read
 * with relaxed atomic loads). */
typedef struct GilfreeTaskCtx {
    uint64_t epoch;              /* the interrupt epoch when the task was submitted */
    const unsigned char *task;   /* set by Future.cancel() */
    const unsigned char *group;  /* set by Executor.shutdown(cancel_futures=True) */
} GilfreeTaskCtx;

/* A kernel call of another extension, to run as a gilfree.Executor task (make_job). The runtime
 * owns it from then on. */
typedef struct GilfreeForeignJob {
    /* The call, opaque to the runtime. */
    void *data;
    /* On a pool worker, without the GIL: 0 when the call finished (well, or with an error that
     * finish will raise), 1 when it stopped because it was cancelled. Called at most once. */
    int (*run)(void *data, const GilfreeTaskCtx *ctx);
    /* With the GIL, after run returned 0: a new reference to the result, or NULL with an
     * exception set. Called at most once. */
    PyObject *(*finish)(void *data);
    /* Frees data. Called exactly once, last, on any thread, with or without the GIL. */
    void (*free)(void *data);
} GilfreeForeignJob;

/* The runtime table. Field order is the ABI: never reorder, only append (bumping the minor). */
typedef struct GilfreeRuntimeApi {
    uint32_t abi_major; /* the runtime's ABI major version */
    uint32_t abi_minor; /* the runtime's ABI minor version */
    size_t size;        /* sizeof the table in the runtime */

    /* ---- 1.0: the engine (no GIL needed) ---- */
    /* The interrupt epoch (a Rust AtomicU64): bumped by Ctrl-C and gilfree.interrupt(). */
    const uint64_t *interrupt_epoch;
    /* The thread budget (gilfree.get_num_threads()). */
    size_t (*num_threads)(void);
    /* gilfree.set_num_threads(n): 0, or -1 if n is not in 1..=1024. */
    int (*set_num_threads)(size_t n);
    /* Starts body(data, i), i in 0..n, on the shared pool; returns at once (NULL if the pool
     * cannot start). */
    gilfree_broadcast *(*broadcast_start)(size_t n, gilfree_worker_body body, const void *data);
    /* Waits up to timeout_ns: 1 when every body returned, else 0. */
    int (*broadcast_wait)(gilfree_broadcast *handle, uint64_t timeout_ns);
    /* Frees a finished broadcast. */
    void (*broadcast_free)(gilfree_broadcast *handle);
    /* 1 on a worker of the shared pool. */
    int (*on_worker)(void);
    /* Queues one independent task (run(data) exactly once): 0, or -1 (never called then). */
    int (*task_spawn)(gilfree_task_run run, void *data);
    /* Runs one queued task on this thread if there is one: 1 if it did. */
    int (*run_queued_task)(void);

    /* ---- 1.0: the Python side ---- */
    /* A call that may take the GIL back from native frames starts (pair with call_leave). */
    void (*call_enter)(void);
    /* The end of a call_enter. */
    void (*call_leave)(void);
    /* Before taking the GIL back from native frames: during interpreter exit, on any thread but
     * the exiting one, never returns (the thread parks for good). */
    void (*park_if_exiting)(void);
    /* The lab's GIL mode for calls on this thread: 0 release, 1 hold, 2 release and re-take. */
    int (*gil_mode)(void);
    /* gilfree.KernelError: a borrowed reference, alive for the whole process. */
    PyObject *kernel_error;
    /* With the GIL: wraps job in a gilfree.Executor task object named name (a static string):
     * a new reference, or NULL with an exception set (job.free has then been called). */
    PyObject *(*make_job)(const char *name, GilfreeForeignJob job);
    /* See gilfree_parallel_for below. */
    int (*parallel_for)(const char *name, size_t n, size_t chunk, size_t threads,
                        gilfree_chunk_body body, void *data);
    /* With the GIL: sets KeyboardInterrupt("gilfree: <name>() was interrupted"). */
    void (*raise_interrupted)(const char *name);
    /* A call named name (len bytes of UTF-8, not NUL-terminated) starts on this thread: recorded
     * among the calls in flight (gilfree._native._calls(), what progress displays read); returns
     * its token, or 0 if it could not be recorded (the other two then do nothing). No GIL needed.
     * gilfree_parallel_for does this itself. */
    uint64_t (*progress_begin)(const char *name, size_t len);
    /* The call of token has done `done` of `total` tasks so far. */
    void (*progress_update)(uint64_t token, uint64_t done, uint64_t total);
    /* The call of token returned. */
    void (*progress_end)(uint64_t token);

    /* ---- 1.1 ---- */
    /* Closes a running broadcast: bodies not started yet never will (a later wait waits only
     * for those already running). (Engine internal.) */
    void (*broadcast_close)(gilfree_broadcast *handle);
    /* The number of pool workers spinning right now, ready to start a job within about a
     * microsecond. (Engine internal.) */
    size_t (*hot_workers)(void);
} GilfreeRuntimeApi;

/* This translation unit's pointer to the table: NULL until gilfree_import() succeeded. */
static const GilfreeRuntimeApi *gilfree_runtime_api = NULL;

/* ---- the helpers ----------------------------------------------------------------------------- */

/* The ABI rule (a function, so that comparing with a minor version of 0 draws no warning). */
static inline int gilfree_abi_compatible_(const GilfreeRuntimeApi *api, uint32_t major,
                                          uint32_t minor, size_t size)
{
    return api->abi_major == major && api->abi_minor >= minor && api->size >= size;
}

/*
 * gilfree_import: finds gilfree's runtime table and checks its version. Call it once, with the
 * GIL held, before any other helper, typically in the module's init function (Cython: at module
 * level, `runtime.import_gilfree()`). It imports gilfree (which installs gilfree's Ctrl-C
 * handler). Returns 0, or -1 with an exception set: ImportError when gilfree is missing, predates
 * this API, or has an incompatible ABI version (the message names both versions). Idempotent:
 * later calls return 0 at once.
 */
static inline int gilfree_import(void)
{
    const GilfreeRuntimeApi *api;
    if (gilfree_runtime_api != NULL) {
        return 0;
    }
    api = (const GilfreeRuntimeApi *)PyCapsule_Import(GILFREE_CAPSULE_NAME, 0);
    if (api == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ImportError)) {
            /* gilfree imported, but has no such capsule (or not a valid one): too old. */
#if PY_VERSION_HEX >= 0x030C0000
            PyObject *cause = PyErr_GetRaisedException();
#else
            PyObject *type, *cause, *traceback;
            PyErr_Fetch(&type, &cause, &traceback);
            Py_XDECREF(type);
            Py_XDECREF(traceback);
#endif
            PyErr_Format(PyExc_ImportError,
                         "gilfree: the installed gilfree has no runtime table %s (%S); this "
                         "extension was built for gilfree's runtime ABI %d.%d: upgrade gilfree",
                         GILFREE_CAPSULE_NAME, cause != NULL ? cause : Py_None,
                         GILFREE_ABI_MAJOR, GILFREE_ABI_MINOR);
            Py_XDECREF(cause);
        }
        return -1;
    }
    if (!gilfree_abi_compatible_(api, GILFREE_ABI_MAJOR, GILFREE_ABI_MINOR,
                                 sizeof(GilfreeRuntimeApi))) {
        PyErr_Format(PyExc_ImportError,
                     "gilfree: this extension was built for gilfree's runtime ABI %d.%d (a table "
                     "of %zu bytes), but the installed gilfree has ABI %u.%u (a table of %zu "
                     "bytes): it needs ABI %d.x with x >= %d; rebuild the extension against the "
                     "installed gilfree (gilfree.get_include()), or install a matching gilfree",
                     GILFREE_ABI_MAJOR, GILFREE_ABI_MINOR, sizeof(GilfreeRuntimeApi),
                     (unsigned)api->abi_major, (unsigned)api->abi_minor, (size_t)api->size,
                     GILFREE_ABI_MAJOR, GILFREE_ABI_MINOR);
        return -1;
    }
    gilfree_runtime_api = api;
    return 0;
}

/*
 * gilfree_num_threads: the thread budget, gilfree.get_num_threads(): the number of workers a
 * gilfree_parallel_for with threads = 0 uses. Any thread, no GIL needed.
 */
static inline size_t gilfree_num_threads(void)
{
    return gilfree_runtime_api->num_threads();
}

/*
 * gilfree_set_num_threads: gilfree.set_num_threads(n), for the whole process (gilfree's own
 * kernels and every extension on the runtime). Returns 0, or -1 if n is not in 1..=1024 (no
 * exception is set: it needs no GIL). Any thread.
 */
static inline int gilfree_set_num_threads(size_t n)
{
    return gilfree_runtime_api->set_num_threads(n);
}

/*
 * gilfree_epoch: the interrupt epoch now. Ctrl-C (gilfree's SIGINT handler, from any thread's
 * point of view) and gilfree.interrupt() bump it. Read it when a call starts (with or without the
 * GIL) and pass it to gilfree_interrupted() in the call's loops. One relaxed atomic load.
 */
static inline uint64_t gilfree_epoch(void)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(gilfree_runtime_api->interrupt_epoch, __ATOMIC_RELAXED);
#else
    /* MSVC: an aligned 64-bit load is single-copy atomic on x86-64 and ARM64. */
    return *(const volatile uint64_t *)gilfree_runtime_api->interrupt_epoch;
#endif
}

/*
 * gilfree_interrupted: nonzero once Ctrl-C (or gilfree.interrupt()) happened after `since` was
 * read with gilfree_epoch(). Cheap (one relaxed atomic load and a compare): call it in nogil loops
 * every few microseconds of work, on any thread, and when it says so, stop and return to code that
 * holds the GIL, which raises with gilfree_raise_interrupted() (or, in a gilfree_parallel_for
 * body, return nonzero).
 */
static inline int gilfree_interrupted(uint64_t since)
{
    return gilfree_epoch() != since;
}

/*
 * gilfree_raise_interrupted: with the GIL held, after a loop stopped because
 * gilfree_interrupted(): sets the exception to raise and returns -1 (so C code can write
 * `return gilfree_raise_interrupted("f"), NULL;`). On the main thread it first runs Python's
 * pending signal handlers, so Ctrl-C raises exactly what the handler raises (KeyboardInterrupt,
 * or the program's own handler's exception) and is not raised a second time later; otherwise it
 * sets KeyboardInterrupt("gilfree: <name>() was interrupted").
 */
static inline int gilfree_raise_interrupted(const char *name)
{
    if (PyErr_CheckSignals() < 0) {
        return -1;
    }
    if (gilfree_runtime_api == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "gilfree_raise_interrupted: gilfree_import() was not called");
        return -1;
    }
    gilfree_runtime_api->raise_interrupted(name);
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_KeyboardInterrupt, "gilfree: interrupted");
    }
    return -1;
}

/*
 * gilfree_parallel_for: runs body(data, start, end) over the chunks [i*chunk, min((i+1)*chunk,
 * n)) of 0..n on gilfree's shared pool and returns when every chunk ran (n = 0 runs nothing).
 * threads: 0 the whole thread budget (Python's threads=None), 1 the calling thread only, k at most
 * k workers. Chunk boundaries depend only on n and chunk, never on the thread count: give each
 * chunk its own output slot (chunk index = start / chunk) and combine them in order afterwards,
 * and the result is the same at any thread count.
 *
 * Call it with or without the GIL, from any Python thread (the main thread, a ThreadPoolExecutor
 * worker). From inside a body (a pool worker) it runs the chunks on that worker, in order, without
 * the GIL (it never waits for the pool it occupies). It never holds the GIL while it waits: it
 * waits in slices, running Python's signal handlers on the main thread and watching the interrupt
 * epoch everywhere. Body functions read `since` = gilfree_epoch() taken right before the call and
 * return nonzero when gilfree_interrupted(since). (A Ctrl-C between that read and the call itself
 * is reported as gilfree.KernelError, not KeyboardInterrupt: the runtime reads its own epoch at
 * entry. The window is the length of a function call.)
 *
 * Returns 0 on success, or -1 with a Python exception set (taking the GIL to set it if needed):
 * KeyboardInterrupt on Ctrl-C (also when a body stopped because of it), gilfree.KernelError
 * naming `name` when a body returned nonzero otherwise, ValueError for chunk = 0, MemoryError,
 * RuntimeError if gilfree_import() was not called. `name` (a NUL-terminated string, kept alive for
 * the call) names the loop in those messages.
 */
static inline int gilfree_parallel_for(const char *name, size_t n, size_t chunk, size_t threads,
                                       gilfree_chunk_body body, void *data)
{
    if (gilfree_runtime_api == NULL) {
        PyGILState_STATE gil = PyGILState_Ensure();
        PyErr_SetString(PyExc_RuntimeError,
                        "gilfree_parallel_for: gilfree_import() was not called");
        PyGILState_Release(gil);
        return -1;
    }
    return gilfree_runtime_api->parallel_for(name, n, chunk, threads, body, data);
}

/*
 * gilfree_kernel_error: gilfree.KernelError (a RuntimeError subclass), the very class gilfree
 * exports, as a borrowed reference alive for the whole process: raise it for a failure inside
 * native code (PyErr_SetString(gilfree_kernel_error(), "...")). Needs gilfree_import() first.
 */
static inline PyObject *gilfree_kernel_error(void)
{
    return gilfree_runtime_api->kernel_error;
}

#ifdef __cplusplus
}
#endif

#endif /* GILFREE_H */
