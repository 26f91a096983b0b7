//! The runtime link: one pool, one thread budget, one interrupt epoch per process.
//!
//! `gilfree._native` exports its [`RuntimeApi`] in a PyCapsule ([`export`]); every extension
//! built with this crate reads it at module init ([`init`]), checks the ABI version, and routes
//! its engine ([`gilfree_engine::backend::install`]) and its Python-side lifecycle through it.
//! Until then — or for good, if gilfree is not installed — the extension uses its own copy of
//! everything ([`LOCAL`]), so it still works on its own.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use gilfree_engine::backend::{self, Backend};
use pyo3::exceptions::{PyImportError, PyModuleNotFoundError};
use pyo3::prelude::*;

use crate::abi::{ForeignJob, RuntimeApi, ABI_MAJOR, ABI_MINOR, CAPSULE_NAME};
use crate::host;

const fn local_table(kernel_error: *mut pyo3::ffi::PyObject, make_job: MakeJob) -> RuntimeApi {
    let engine = LOCAL_ENGINE;
    RuntimeApi {
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        size: std::mem::size_of::<RuntimeApi>(),
        interrupt_epoch: engine.interrupt_epoch,
        num_threads: engine.num_threads,
        set_num_threads: engine.set_num_threads,
        broadcast_start: engine.broadcast_start,
        broadcast_wait: engine.broadcast_wait,
        broadcast_free: engine.broadcast_free,
        on_worker: engine.on_worker,
        task_spawn: engine.task_spawn,
        run_queued_task: engine.run_queued_task,
        call_enter: host::call_enter,
        call_leave: host::call_leave,
        park_if_exiting: host::park_if_exiting,
        gil_mode: host::gil_mode,
        kernel_error,
        make_job,
        parallel_for: host::parallel_for,
        raise_interrupted: host::raise_interrupted,
        progress_begin: host::progress_begin,
        progress_update: host::progress_update,
        progress_end: host::progress_end,
        broadcast_close: engine.broadcast_close,
        hot_workers: engine.hot_workers,
    }
}

/// The engine's own backend, by value (a `const` copy of `gilfree_engine::backend::local()`).
const LOCAL_ENGINE: Backend = backend::LOCAL;

/// `RuntimeApi::make_job`'s signature.
pub type MakeJob = unsafe extern "C" fn(name: *const c_char, job: ForeignJob) -> *mut pyo3::ffi::PyObject;

/// This extension's own copy of everything: used until [`init`] links it, and for good when
/// gilfree is not installed. Its `kernel_error` is null ([`crate::kernel_error`] then uses a
/// stand-in) and its `make_job` raises `ImportError` (`gilfree.Executor` is gilfree's).
static LOCAL: RuntimeApi = local_table(std::ptr::null_mut(), no_executor);

unsafe extern "C" fn no_executor(_name: *const c_char, job: ForeignJob) -> *mut pyo3::ffi::PyObject {
    // SAFETY: the `make_job` contract: on failure, `job.free` is called, once.
    unsafe { (job.free)(job.data) };
    let _ = std::panic::catch_unwind(|| {
        Python::attach(|py| {
            PyImportError::new_err(
                "gilfree.Executor task forms need gilfree: this extension runs without it (pip install gilfree)",
            )
            .restore(py);
        });
    });
    std::ptr::null_mut()
}

static API: AtomicPtr<RuntimeApi> = AtomicPtr::new(std::ptr::addr_of!(LOCAL).cast_mut());

/// The runtime table in use: gilfree's once linked, else this extension's own.
#[inline]
pub(crate) fn api() -> &'static RuntimeApi {
    // SAFETY: API holds `&LOCAL` or a table that lives for the process (the runtime's, in its
    // capsule, which `gilfree._native` never frees; or the one `export` leaked).
    unsafe { &*API.load(Ordering::Acquire) }
}

/// True once this extension runs on gilfree's runtime (its pool, budget, epoch, KernelError).
pub fn linked() -> bool {
    !std::ptr::eq(api(), &LOCAL)
}

/// The engine backend made of a runtime table's engine entries (kept for the process).
fn backend_of(table: &'static RuntimeApi) -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| Backend {
        interrupt_epoch: table.interrupt_epoch,
        num_threads: table.num_threads,
        set_num_threads: table.set_num_threads,
        broadcast_start: table.broadcast_start,
        broadcast_wait: table.broadcast_wait,
        broadcast_free: table.broadcast_free,
        on_worker: table.on_worker,
        task_spawn: table.task_spawn,
        run_queued_task: table.run_queued_task,
        broadcast_close: table.broadcast_close,
        hot_workers: table.hot_workers,
    })
}

/// Links this extension to gilfree's runtime. Call it first in your `#[pymodule]`:
///
/// ```no_run
/// use pyo3::prelude::*;
///
/// #[pymodule]
/// fn my_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
///     gilfree_pyo3::init(m)?;
///     // m.add_function(...)
///     Ok(())
/// }
/// ```
///
/// It imports `gilfree` (so its Ctrl-C handler and interpreter-exit hook are in place), reads the
/// runtime table from the capsule `gilfree._native._RUNTIME_API`, and checks the ABI. From then
/// on this extension's calls run on gilfree's one shared pool (`gilfree.set_num_threads` sizes
/// it), see gilfree's interrupt epoch (Ctrl-C from any thread), raise `gilfree.KernelError`, and
/// can be `gilfree.Executor` tasks. Idempotent.
///
/// If `gilfree` is not installed, the extension keeps a pool of its own and works alone
/// ([`linked`] is then false).
///
/// # Errors
///
/// `ImportError` naming both versions when the installed gilfree's runtime ABI is not one this
/// extension was built for (another major version, or an older minor); any error importing an
/// installed gilfree.
pub fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if linked() {
        return Ok(());
    }
    let py = m.py();
    match py.import("gilfree") {
        Ok(_) => {}
        Err(err) if err.is_instance_of::<PyModuleNotFoundError>(py) && missing_module(py, &err) => {
            return Ok(()); // no gilfree: this extension runs alone
        }
        Err(err) => return Err(err),
    }
    // SAFETY: the capsule named CAPSULE_NAME holds a `RuntimeApi` (checked below before any
    // entry beyond the header is used); gilfree._native keeps it alive for the process.
    let table: &RuntimeApi = unsafe { pyo3::types::PyCapsule::import(py, CAPSULE_NAME)? };
    // SAFETY: as above: the table lives for the process, not only for `py`'s lifetime.
    let table: &'static RuntimeApi = unsafe { &*std::ptr::from_ref(table) };
    check_abi(m, table)?;
    // SAFETY: the table's engine entries behave as `Backend` documents (the ABI's contract).
    unsafe { backend::install(backend_of(table)) };
    API.store(std::ptr::from_ref(table).cast_mut(), Ordering::Release);
    Ok(())
}

/// True if `err` (a ModuleNotFoundError) is about gilfree itself, not a module gilfree imports.
fn missing_module(py: Python<'_>, err: &PyErr) -> bool {
    err.value(py)
        .getattr("name")
        .and_then(|n| n.extract::<String>())
        .is_ok_and(|n| n == "gilfree" || n.starts_with("gilfree."))
}

fn check_abi(m: &Bound<'_, PyModule>, table: &RuntimeApi) -> PyResult<()> {
    let ok = table.abi_major == ABI_MAJOR
        && table.abi_minor >= ABI_MINOR
        && table.size >= std::mem::size_of::<RuntimeApi>();
    if ok {
        return Ok(());
    }
    let module = m
        .name()
        .map_or_else(|_| "this extension".to_owned(), |n| n.to_string());
    let version = m
        .py()
        .import("gilfree")
        .and_then(|g| g.getattr("__version__"))
        .map_or_else(|_| "?".to_owned(), |v| v.to_string());
    Err(PyImportError::new_err(format!(
        "{module} was built for gilfree runtime ABI {ABI_MAJOR}.{ABI_MINOR}, but the installed \
         gilfree {version} provides ABI {}.{} (table of {} bytes, {} expected at least): rebuild \
         {module} against the installed gilfree, or install a gilfree whose ABI is {ABI_MAJOR}.x \
         with x >= {ABI_MINOR}",
        table.abi_major,
        table.abi_minor,
        table.size,
        std::mem::size_of::<RuntimeApi>()
    )))
}

/// A heap copy of `table` with other version fields, for tests of the ABI check.
#[doc(hidden)]
pub fn table_with_version(major: u32, minor: u32) -> &'static RuntimeApi {
    let mut table = local_table(api().kernel_error, api().make_job);
    table.abi_major = major;
    table.abi_minor = minor;
    Box::leak(Box::new(table))
}

/// For `gilfree._native` only: exports this library's own runtime (its pool, epoch, queue,
/// lifecycle, `kernel_error` and `make_job`) as the process's runtime, in the capsule
/// `_RUNTIME_API` of module `m`, and links this library to it.
#[doc(hidden)]
pub fn export(
    m: &Bound<'_, PyModule>,
    kernel_error: &Bound<'_, pyo3::types::PyType>,
    make_job: MakeJob,
) -> PyResult<()> {
    // A strong reference kept for the process: the table hands out borrowed ones.
    let kernel_error = kernel_error.clone().unbind().into_ptr();
    let table: &'static RuntimeApi = Box::leak(Box::new(local_table(kernel_error, make_job)));
    add_capsule(m, table)?;
    API.store(std::ptr::from_ref(table).cast_mut(), Ordering::Release);
    Ok(())
}

/// Adds `table` to `m` as the capsule `_RUNTIME_API`.
#[doc(hidden)]
pub fn add_capsule(m: &Bound<'_, PyModule>, table: &'static RuntimeApi) -> PyResult<()> {
    m.add("_RUNTIME_API", capsule(m.py(), table)?)
}

/// A capsule named [`CAPSULE_NAME`] pointing at `table` (no destructor: the table is static).
#[doc(hidden)]
pub fn capsule<'py>(py: Python<'py>, table: &'static RuntimeApi) -> PyResult<Bound<'py, PyAny>> {
    let ptr = std::ptr::from_ref(table).cast_mut().cast::<c_void>();
    // SAFETY: `ptr` is non-null and valid for the process; CAPSULE_NAME is a static C string.
    unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyCapsule_New(ptr, CAPSULE_NAME.as_ptr(), None)) }
}
