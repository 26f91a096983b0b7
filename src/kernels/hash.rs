//! `hash_many, hash_files`: adapters over `gilfree_kernels::kernels::hash`.
//!
//! Each blob is held through a `memoryview` of it for the whole call: the view keeps the
//! exporter's buffer export, so a `bytearray` resized from another thread meanwhile gets
//! `BufferError` instead of freeing the memory being hashed. The views (Python objects) are owned
//! by the finish step, which runs with the GIL held (the calling thread in a direct call, the
//! executor's dispatcher for a task); if a task is dropped elsewhere, pyo3 defers their release
//! to the next holder of the GIL: no buffer is ever released on a pool worker.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use gilfree_kernels::engine::Ctx;
use gilfree_kernels::kernels::hash::{self, Algorithm, Digest};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PySequence, PyString};

use gilfree_pyo3::{Form, Prepared};

/// Parses `algorithm=`: one of [`Algorithm::NAMES`].
fn algorithm_arg(kernel: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Algorithm> {
    let Some(obj) = obj else {
        return Ok(Algorithm::Blake3);
    };
    let valid = Algorithm::NAMES.map(|n| format!("'{n}'")).join(", ");
    let Ok(name) = obj.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "{kernel}(): algorithm must be a str (one of {valid}), got {}",
            type_name(obj)
        )));
    };
    match Algorithm::from_name(name.to_str()?) {
        Some(algorithm) => Ok(algorithm),
        None => Err(PyValueError::new_err(format!(
            "{kernel}(): unknown algorithm {}; valid algorithms: {valid}",
            name.repr()?
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// The items of `obj`, which must be a sequence (list, tuple...) and not itself a str or a
/// bytes-like object (which would otherwise be taken item by item).
fn sequence_arg<'py>(
    kernel: &str,
    arg: &str,
    what: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PySequence>> {
    let single = obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
        || (what == "bytes-like objects" && PyUntypedBuffer::get(obj).is_ok());
    if single {
        return Err(PyTypeError::new_err(format!(
            "{kernel}(): {arg} must be a sequence of {what}, not a single {}: wrap it in a \
             list ([x])",
            type_name(obj)
        )));
    }
    obj.cast::<PySequence>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{kernel}(): {arg} must be a sequence (a list or a tuple) of {what}, got {}",
            type_name(obj)
        ))
    })
}

/// One blob, held: the memoryview that keeps the export, and the address and length of its
/// C-contiguous bytes.
struct Held {
    view: Py<PyAny>,
    addr: usize,
    len: usize,
}

/// Takes an export of item `i` of `blobs`.
fn hold(kernel: &str, i: usize, item: &Bound<'_, PyAny>) -> PyResult<Held> {
    if item.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{kernel}(): blobs[{i}] is a str; hash bytes: encode it first (s.encode())"
        )));
    }
    let view = PyMemoryView::from(item).map_err(|_| {
        PyTypeError::new_err(format!(
            "{kernel}(): blobs[{i}] must be a bytes-like object (bytes, bytearray, memoryview, \
             a NumPy array: the buffer protocol), got {}",
            type_name(item)
        ))
    })?;
    // A short-lived second export of the view, to read its address; the view's own export of
    // the item is what stays held.
    let buf = PyUntypedBuffer::get(view.as_any())?;
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err(format!(
            "{kernel}(): blobs[{i}] is not C-contiguous; hash a contiguous copy \
             (numpy.ascontiguousarray(x) or bytes(x)), as hashlib would require"
        )));
    }
    let (addr, len) = (buf.buf_ptr() as usize, buf.len_bytes());
    buf.release(item.py());
    Ok(Held {
        view: view.into_any().unbind(),
        addr,
        len,
    })
}

/// The digests as a list of bytes.
fn digest_list(py: Python<'_>, digests: &[Digest]) -> PyResult<Py<PyAny>> {
    Ok(
        PyList::new(py, digests.iter().map(|d| PyBytes::new(py, d.as_bytes())))?
            .into_any()
            .unbind(),
    )
}

/// The one parsing of a `hash_many` call (direct call and task form).
fn prepare_hash_many(
    blobs: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Vec<Digest>> + Send + 'static,
        impl FnOnce(Python<'_>, Vec<Digest>) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    let seq = sequence_arg("hash_many", "blobs", "bytes-like objects", blobs)?;
    let algorithm = algorithm_arg("hash_many", algorithm)?;
    let threads = form.threads("hash_many", threads)?;
    let n = seq.len()?;
    let mut held = Vec::new();
    held.try_reserve_exact(n)
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("hash_many(): too many blobs"))?;
    for i in 0..n {
        held.push(hold("hash_many", i, &seq.get_item(i)?)?);
    }
    let spans: Vec<(usize, usize)> = held.iter().map(|h| (h.addr, h.len)).collect();
    let total = spans.iter().fold(0usize, |acc, s| acc.saturating_add(s.1));
    // The views, owned by the finish step (run with the GIL held), keep every export alive
    // until the work is over.
    let views: Vec<Py<PyAny>> = held.into_iter().map(|h| h.view).collect();
    let work = move |ctx: &Ctx<'_>| {
        // SAFETY: each span is the C-contiguous buffer of an export held by `views` (owned by
        // the finish step, which outlives this closure's run in a direct call and in a task
        // alike); an exporter may not free or move an exported buffer (a bytearray refuses to
        // resize with BufferError). Writing to a blob while it is hashed is the program's data
        // race, as with any reader of a shared buffer.
        let slices: Vec<&[u8]> = spans
            .iter()
            .map(|&(addr, len)| {
                if len == 0 {
                    &[][..]
                } else {
                    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
                }
            })
            .collect();
        hash::hash_many(ctx, &slices, algorithm)
    };
    let finish = move |py: Python<'_>, digests: Vec<Digest>| {
        let out = digest_list(py, &digests);
        drop(views);
        out
    };
    Ok(Prepared::new("hash_many", work, finish)
        .threads(threads)
        .work_bytes(total))
}

/// The digests of many bytes-like objects, computed in parallel without the GIL.
///
/// Blobs are hashed in parallel on the shared pool (small ones grouped, each hashed whole by one
/// worker), and a BLAKE3 blob longer than 1 MiB is cut into 1 MiB subtrees hashed by every
/// worker, then merged along BLAKE3's tree into exactly the serial digest: one 1 GiB buffer uses
/// every core. SHA-256 and XXH3 are sequential by construction (each block needs the state
/// left by the previous one), so one such blob runs on one worker. The digests come back in
/// input order, identical for every ``threads`` value. Every blob's buffer is held (exported) for the whole call: a bytearray
/// resized meanwhile by another thread raises BufferError there, and the hash is never of freed
/// memory. Inputs under 2 KiB in all are hashed without releasing the GIL.
///
/// Algorithms: ``"blake3"`` (32 bytes, as ``blake3.blake3(b).digest()``), ``"sha256"`` (32, as
/// ``hashlib.sha256(b).digest()``), ``"xxh3_64"`` (8, big-endian, as
/// ``xxhash.xxh3_64(b).digest()``) and ``"xxh3_128"`` (16, big-endian, as
/// ``xxhash.xxh3_128(b).digest()``).
///
/// Args:
///     blobs: a sequence (list, tuple) of bytes-like objects: bytes, bytearray, memoryview,
///         NumPy arrays (their raw bytes, C order), anything with the buffer protocol. Each must
///         be C-contiguous (a strided view is refused, as hashlib refuses it).
///     algorithm: ``"blake3"`` (default), ``"sha256"``, ``"xxh3_64"`` or ``"xxh3_128"``.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     A list of ``bytes`` digests, one per blob, in order.
///
/// Raises:
///     TypeError: ``blobs`` is not a sequence, or is a single bytes-like object or str; an item
///         is a str (encode it first), has no buffer protocol, or is not C-contiguous (the
///         message names its index); ``algorithm`` is not a str; ``threads`` is not an int.
///     ValueError: an unknown ``algorithm`` (the message lists the valid ones); ``threads`` < 1.
///     MemoryError: the digests cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree, hashlib
///     >>> d = gilfree.hash_many([b"abc", bytearray(b"xyz")], algorithm="sha256")
///     >>> d[0] == hashlib.sha256(b"abc").digest()
///     True
///     >>> gilfree.hash_many([b""])[0].hex()
///     'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'
///     >>> gilfree.hash_many([b"abc"], algorithm="xxh3_64")[0].hex()
///     '78af5f94892f3950'
#[pyfunction(name = "hash_many", signature = (blobs, *, algorithm = None, threads = None, progress = None))]
#[pyo3(text_signature = "(blobs, *, algorithm='blake3', threads=None, progress=None)")]
pub(crate) fn hash_many_py(
    py: Python<'_>,
    blobs: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        prepare_hash_many(blobs, algorithm, threads, Form::Direct)?.call(py)
    })
}

/// The task form of :func:`gilfree.hash_many` for ``gilfree.Executor`` (arguments checked and
/// buffers held now; ``threads`` must be None or 1).
#[pyfunction(name = "hash_many", signature = (blobs, *, algorithm = None, threads = None))]
#[pyo3(text_signature = "(blobs, *, algorithm='blake3', threads=None)")]
fn hash_many_task<'py>(
    py: Python<'py>,
    blobs: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_hash_many(blobs, algorithm, threads, Form::Task)?.task(py)
}

/// Item `i` of `paths` as a path: str, bytes or os.PathLike (through ``os.fspath``). Returns the
/// path and the ``os.fspath`` value (str or bytes), the ``filename`` of an error about it.
fn path_arg(
    kernel: &str,
    i: usize,
    item: &Bound<'_, PyAny>,
    fspath: &Bound<'_, PyAny>,
) -> PyResult<(PathBuf, Py<PyAny>)> {
    let refuse = || {
        PyTypeError::new_err(format!(
            "{kernel}(): paths[{i}] must be a str, bytes or os.PathLike, got {}",
            type_name(item)
        ))
    };
    let p = fspath.call1((item,)).map_err(|_| refuse())?;
    let path = if let Ok(b) = p.cast::<PyBytes>() {
        PathBuf::from(OsString::from_vec(b.as_bytes().to_vec()))
    } else if p.is_instance_of::<PyString>() {
        p.extract::<PathBuf>()?
    } else {
        return Err(refuse());
    };
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(PyValueError::new_err(format!(
            "{kernel}(): paths[{i}] contains a NUL byte"
        )));
    }
    Ok((path, p.unbind()))
}

/// The OSError Python itself would raise for `err` on `filename`: `OSError(errno, strerror,
/// filename)`, which Python turns into FileNotFoundError, IsADirectoryError, PermissionError...
fn os_error(py: Python<'_>, err: &std::io::Error, filename: &Py<PyAny>) -> PyErr {
    match err.raw_os_error() {
        Some(errno) => {
            let strerror = py
                .import("os")
                .and_then(|os| os.call_method1("strerror", (errno,)))
                .and_then(|s| s.extract::<String>())
                .unwrap_or_else(|_| err.to_string());
            PyOSError::new_err((errno, strerror, filename.clone_ref(py)))
        }
        None => PyOSError::new_err(format!("{err}: {}", filename.bind(py))),
    }
}

/// The one parsing of a `hash_files` call (direct call and task form).
fn prepare_hash_files(
    paths: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Vec<std::io::Result<Digest>>> + Send + 'static,
        impl FnOnce(Python<'_>, Vec<std::io::Result<Digest>>) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    let py = paths.py();
    if paths.is_instance_of::<PyString>()
        || paths.is_instance_of::<PyBytes>()
        || paths.hasattr("__fspath__")?
    {
        return Err(PyTypeError::new_err(format!(
            "hash_files(): paths must be a sequence of paths, not a single {}: wrap it in a list",
            type_name(paths)
        )));
    }
    let seq = sequence_arg("hash_files", "paths", "paths", paths)?;
    let algorithm = algorithm_arg("hash_files", algorithm)?;
    let threads = form.threads("hash_files", threads)?;
    let fspath = py.import("os")?.getattr("fspath")?;
    let n = seq.len()?;
    let mut files = Vec::new();
    let mut names = Vec::new();
    files
        .try_reserve_exact(n)
        .and_then(|()| names.try_reserve_exact(n))
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("hash_files(): too many paths"))?;
    for i in 0..n {
        let (path, name) = path_arg("hash_files", i, &seq.get_item(i)?, &fspath)?;
        files.push(path);
        names.push(name);
    }
    let work = move |ctx: &Ctx<'_>| hash::hash_files(ctx, &files, algorithm);
    let finish = move |py: Python<'_>, out: Vec<std::io::Result<Digest>>| {
        // The first failing path in input order raises; the others' digests are dropped.
        if let Some((i, Err(err))) = out.iter().enumerate().find(|(_, r)| r.is_err()) {
            return Err(os_error(py, err, &names[i]));
        }
        let digests: Vec<Digest> = out.into_iter().flatten().collect();
        digest_list(py, &digests)
    };
    // File I/O: always released (the work's size is unknown until the files are opened).
    Ok(Prepared::new("hash_files", work, finish).threads(threads))
}

/// The digests of many files, read and hashed in parallel without the GIL.
///
/// Each file is streamed by one worker of the shared pool (files in parallel) in reads of up to
/// 256 KiB; a BLAKE3 file longer than 1 MiB is read (``pread`` at each offset) and hashed as
/// 1 MiB subtrees by every worker, as :func:`gilfree.hash_many` does, over the size it had when
/// opened (``OSError`` if it shrinks meanwhile). Files are read, never memory-mapped: a file
/// truncated by another process while hashed cannot crash the process (SIGBUS). The digests
/// come back in input order, identical for every ``threads`` value and equal to
/// :func:`gilfree.hash_many` of the files' contents. Every file is attempted; if
/// any cannot be read, the error of the **first failing path in input order** is raised (the
/// other digests are discarded), as Python's own ``OSError``: ``FileNotFoundError``,
/// ``IsADirectoryError``, ``PermissionError``..., with ``errno``, ``strerror`` and
/// ``filename`` (the path as given, after ``os.fspath``) set.
///
/// Args:
///     paths: a sequence (list, tuple) of paths: str, bytes or os.PathLike.
///     algorithm: ``"blake3"`` (default), ``"sha256"``, ``"xxh3_64"`` or ``"xxh3_128"`` (see
///         :func:`gilfree.hash_many`).
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Returns:
///     A list of ``bytes`` digests, one per file, in order.
///
/// Raises:
///     TypeError: ``paths`` is not a sequence, or is a single path; an item is not a path (the
///         message names its index); ``algorithm`` is not a str; ``threads`` is not an int.
///     ValueError: an unknown ``algorithm``; a path with a NUL byte; ``threads`` < 1.
///     OSError: a file cannot be opened or read (the subclass Python would raise).
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree, hashlib, os, tempfile
///     >>> d = tempfile.mkdtemp()
///     >>> p = os.path.join(d, "a.txt")
///     >>> with open(p, "wb") as f:
///     ...     _ = f.write(b"abc")
///     >>> gilfree.hash_files([p], algorithm="sha256")[0] == hashlib.sha256(b"abc").digest()
///     True
///     >>> gilfree.hash_files([os.path.join(d, "missing")])
///     Traceback (most recent call last):
///     ...
///     FileNotFoundError: [Errno 2] No such file or directory: '...missing'
#[pyfunction(name = "hash_files", signature = (paths, *, algorithm = None, threads = None, progress = None))]
#[pyo3(text_signature = "(paths, *, algorithm='blake3', threads=None, progress=None)")]
pub(crate) fn hash_files_py(
    py: Python<'_>,
    paths: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        prepare_hash_files(paths, algorithm, threads, Form::Direct)?.call(py)
    })
}

/// The task form of :func:`gilfree.hash_files` for ``gilfree.Executor`` (arguments checked
/// now; ``threads`` must be None or 1).
#[pyfunction(name = "hash_files", signature = (paths, *, algorithm = None, threads = None))]
#[pyo3(text_signature = "(paths, *, algorithm='blake3', threads=None)")]
fn hash_files_task<'py>(
    py: Python<'py>,
    paths: &Bound<'_, PyAny>,
    algorithm: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_hash_files(paths, algorithm, threads, Form::Task)?.task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash_many_py, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash_many_task, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files_task, m)?)?;
    Ok(())
}
