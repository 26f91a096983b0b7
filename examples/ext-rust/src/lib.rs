//! `gilfree_rust_example._native`: the Python binding of the Levenshtein kernels.
//!
//! The shape of every function here is the one gilfree's own kernels have:
//!
//! 1. with the GIL held, check the arguments and copy what the kernel needs out of the Python
//!    objects (here: each `str` as a vector of code points): a *prepared kernel*;
//! 2. [`gilfree_pyo3::run`]: release the GIL and run the kernel on gilfree's shared pool, the
//!    calling thread waiting in slices and watching for Ctrl-C; a panic becomes
//!    `gilfree.KernelError`, engine errors the usual Python exceptions;
//! 3. with the GIL held again, wrap the result (a NumPy array).
//!
//! The `gilfree.Executor` task form of a kernel starts from the same prepared kernel
//! ([`gilfree_pyo3::task`]), and [`gilfree_pyo3::register_task`] tells the executor about it.

use gilfree_pyo3::engine::{self, Ctx};
use gilfree_pyo3::ThreadsArg;
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PySequence, PyString, PyStringData};

mod levenshtein;

use levenshtein::Chars;

// ---- arguments ------------------------------------------------------------------------------

/// While reading a long list with the GIL held, let Python run its signal handlers (Ctrl-C)
/// after about this many characters copied.
const SIGNAL_CHECK_CHARS: usize = 1 << 20;

/// One `str` as its code points.
fn code_points(name: &str, s: &Bound<'_, PyString>) -> PyResult<Chars> {
    // SAFETY: `str` objects are immutable and `s` keeps this one alive while we read it; this is
    // CPython's own storage (1, 2 or 4 bytes per code point), read without any conversion, so
    // lone surrogates (e.g. from `os.fsdecode`) are code points like any other.
    let data = unsafe { s.data() }?;
    let len = match data {
        PyStringData::Ucs1(d) => d.len(),
        PyStringData::Ucs2(d) => d.len(),
        PyStringData::Ucs4(d) => d.len(),
    };
    let mut out: Chars =
        engine::try_vec(len, "a copy of a string").map_err(|e| gilfree_pyo3::to_pyerr(name, e))?;
    match data {
        PyStringData::Ucs1(d) => out.extend(d.iter().map(|&c| u32::from(c))),
        PyStringData::Ucs2(d) => out.extend(d.iter().map(|&c| u32::from(c))),
        PyStringData::Ucs4(d) => out.extend_from_slice(d),
    }
    Ok(out)
}

/// A sequence of `str` (a list, a tuple, any other `Sequence`), as code points.
///
/// `TypeError` for anything else, including a single `str` (which is a sequence of str, but
/// almost certainly a mistake here); `OverflowError` for a string of 2**32 characters or more
/// (distances are uint32); `MemoryError` if the copy cannot be allocated.
fn strings_arg(py: Python<'_>, name: &str, arg: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Chars>> {
    let type_name = |o: &Bound<'_, PyAny>| {
        o.get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string())
    };
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(PyTypeError::new_err(format!(
            "{name}(): {arg} must be a list of str, not a single {} (wrap it in a list)",
            type_name(obj)
        )));
    }
    let seq = obj.cast::<PySequence>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}(): {arg} must be a list (or tuple) of str, not {}",
            type_name(obj)
        ))
    })?;
    let n = seq.len()?;
    let mut out: Vec<Chars> =
        engine::try_vec(n, "the list of strings").map_err(|e| gilfree_pyo3::to_pyerr(name, e))?;
    let mut since_check = 0usize;
    for i in 0..n {
        let item = seq.get_item(i)?;
        let s = item.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name}(): {arg}[{i}] must be str, not {}",
                type_name(&item)
            ))
        })?;
        let chars = code_points(name, s)?;
        if u32::try_from(chars.len()).is_err() {
            return Err(PyOverflowError::new_err(format!(
                "{name}(): {arg}[{i}] has {} characters; distances are uint32, so strings must be shorter than 2**32",
                chars.len()
            )));
        }
        since_check += chars.len() + 64;
        if since_check >= SIGNAL_CHECK_CHARS {
            since_check = 0;
            py.check_signals()?;
        }
        out.push(chars);
    }
    Ok(out)
}

/// The bytes a call reads and writes: what `gilfree_pyo3::run` weighs to decide whether
/// releasing the GIL is worth it (tiny calls run attached, on the calling thread).
fn work_bytes(strings: &[Chars], out_len: usize) -> usize {
    let chars: usize = strings.iter().map(Vec::len).fold(0, usize::saturating_add);
    chars.saturating_add(out_len).saturating_mul(4)
}

// ---- edit_distance_matrix --------------------------------------------------------------------

/// `edit_distance_matrix`'s arguments, parsed once: the direct call and the task form both
/// start from here.
struct Matrix {
    strings: Vec<Chars>,
}

impl Matrix {
    const NAME: &'static str = "edit_distance_matrix";

    fn parse(py: Python<'_>, strings: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Matrix {
            strings: strings_arg(py, Self::NAME, "strings", strings)?,
        })
    }

    fn work_bytes(&self) -> usize {
        let n = self.strings.len();
        work_bytes(&self.strings, n.saturating_mul(n))
    }

    /// The kernel: no Python, no GIL.
    fn compute(&self, ctx: &Ctx<'_>) -> engine::Result<Vec<u32>> {
        levenshtein::matrix(ctx, &self.strings)
    }

    fn to_array(py: Python<'_>, n: usize, out: Vec<u32>) -> PyResult<Bound<'_, PyArray2<u32>>> {
        // Zero-copy: NumPy takes ownership of the vector.
        PyArray1::from_vec(py, out).reshape([n, n])
    }
}

/// The matrix of Levenshtein distances between every two strings.
///
/// ``out[i, j]`` is the least number of single-character insertions, deletions and
/// substitutions that turn ``strings[i]`` into ``strings[j]``, counting Unicode code points (as
/// ``len()`` and indexing do). The matrix is symmetric with a zero diagonal.
///
/// The GIL is released while the distances are computed, on gilfree's shared pool (the same
/// worker threads as gilfree's own kernels). Ctrl-C stops the call within a fraction of a
/// second, even in the middle of two very long strings. The result is the same whatever the
/// number of threads.
///
/// Args:
///     strings: a list (or tuple, or other sequence) of str.
///     threads: ``None`` (the default): gilfree's whole pool; ``1``: the calling thread only
///         (when you run many calls from your own threads); ``k``: at most ``k`` workers.
///
/// Returns:
///     A ``numpy.ndarray`` of dtype ``uint32`` and shape ``(len(strings), len(strings))``.
///
/// Raises:
///     TypeError: ``strings`` is not a sequence of str (a single str is refused too).
///     ValueError: ``threads`` is 0 or negative.
///     MemoryError: the matrix does not fit in memory.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///
///     >>> from gilfree_rust_example import edit_distance_matrix
///     >>> edit_distance_matrix(["kitten", "sitting", "mitten"])
///     array([[0, 3, 1],
///            [3, 0, 3],
///            [1, 3, 0]], dtype=uint32)
///     >>> edit_distance_matrix(["café", "cafe", "🐍"], threads=1)[0].tolist()
///     [0, 1, 4]
///     >>> seen = []  # progress: (done, total) tasks, from the calling thread; the last done == total
///     >>> _ = edit_distance_matrix(["ab"] * 300, progress=lambda done, total: seen.append(done == total))
///     >>> seen[-1]
///     True
#[pyfunction]
#[pyo3(signature = (strings, *, threads = None, progress = None))]
fn edit_distance_matrix<'py>(
    py: Python<'py>,
    strings: &Bound<'py, PyAny>,
    threads: Option<ThreadsArg>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    // `progress=None|True|callable`: every `run` inside the scope reports to it.
    gilfree_pyo3::Progress::arg(progress)?.scope(py, || {
        let prepared = Matrix::parse(py, strings)?;
        let n = prepared.strings.len();
        let out = gilfree_pyo3::run(
            py,
            Matrix::NAME,
            ThreadsArg::get(threads),
            prepared.work_bytes(),
            |ctx| prepared.compute(ctx),
        )?;
        Matrix::to_array(py, n, out)
    })
}

/// The `gilfree.Executor` task form of `edit_distance_matrix` (registered in the module init):
/// `executor.submit(edit_distance_matrix, strings)` calls this and runs the returned task on one
/// pool worker, without a Python thread.
#[pyfunction]
#[pyo3(signature = (strings, *, threads = None))]
fn _edit_distance_matrix_task<'py>(
    py: Python<'py>,
    strings: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::task_threads(Matrix::NAME, threads)?;
    let prepared = Matrix::parse(py, strings)?;
    let n = prepared.strings.len();
    gilfree_pyo3::task(
        py,
        Matrix::NAME,
        move |ctx| prepared.compute(ctx),
        move |py, out| Ok(Matrix::to_array(py, n, out)?.into_any().unbind()),
    )
}

// ---- edit_distance_pairs ---------------------------------------------------------------------

/// `edit_distance_pairs`'s arguments, parsed once.
struct Pairs {
    a: Vec<Chars>,
    b: Vec<Chars>,
}

impl Pairs {
    const NAME: &'static str = "edit_distance_pairs";

    fn parse(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<Self> {
        let a = strings_arg(py, Self::NAME, "a", a)?;
        let b = strings_arg(py, Self::NAME, "b", b)?;
        if a.len() != b.len() {
            return Err(PyValueError::new_err(format!(
                "{}(): a and b must have the same length, got {} and {}",
                Self::NAME,
                a.len(),
                b.len()
            )));
        }
        Ok(Pairs { a, b })
    }

    fn work_bytes(&self) -> usize {
        work_bytes(&self.a, self.a.len()).saturating_add(work_bytes(&self.b, 0))
    }

    fn compute(&self, ctx: &Ctx<'_>) -> engine::Result<Vec<u32>> {
        levenshtein::pairs(ctx, &self.a, &self.b)
    }
}

/// The Levenshtein distance between ``a[i]`` and ``b[i]``, for every ``i``.
///
/// The same distance as :func:`edit_distance_matrix` (over code points), for a list of pairs
/// instead of every pair: the GIL is released, the pairs are spread over gilfree's pool, and
/// Ctrl-C stops the call promptly.
///
/// Args:
///     a: a list (or tuple, or other sequence) of str.
///     b: a sequence of str of the same length.
///     threads: ``None`` (the default): gilfree's whole pool; ``1``: the calling thread only;
///         ``k``: at most ``k`` workers.
///
/// Returns:
///     A ``numpy.ndarray`` of dtype ``uint32`` and shape ``(len(a),)``.
///
/// Raises:
///     TypeError: ``a`` or ``b`` is not a sequence of str.
///     ValueError: ``a`` and ``b`` differ in length; ``threads`` is 0 or negative.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///
///     >>> from gilfree_rust_example import edit_distance_pairs
///     >>> edit_distance_pairs(["kitten", "flaw", ""], ["sitting", "lawn", "abc"])
///     array([3, 2, 3], dtype=uint32)
#[pyfunction]
#[pyo3(signature = (a, b, *, threads = None))]
fn edit_distance_pairs<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    threads: Option<ThreadsArg>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let prepared = Pairs::parse(py, a, b)?;
    let out = gilfree_pyo3::run(
        py,
        Pairs::NAME,
        ThreadsArg::get(threads),
        prepared.work_bytes(),
        |ctx| prepared.compute(ctx),
    )?;
    Ok(PyArray1::from_vec(py, out))
}

/// The `gilfree.Executor` task form of `edit_distance_pairs`.
#[pyfunction]
#[pyo3(signature = (a, b, *, threads = None))]
fn _edit_distance_pairs_task<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::task_threads(Pairs::NAME, threads)?;
    let prepared = Pairs::parse(py, a, b)?;
    gilfree_pyo3::task(
        py,
        Pairs::NAME,
        move |ctx| prepared.compute(ctx),
        |py, out| Ok(PyArray1::from_vec(py, out).into_any().unbind()),
    )
}

// ---- diagnostics and the test hook -----------------------------------------------------------

/// True when this extension runs on gilfree's shared runtime (gilfree is installed and was
/// linked at import); False when it fell back to a pool of its own.
///
/// Example:
///
///     >>> import gilfree_rust_example
///     >>> gilfree_rust_example.runtime_linked()
///     True
#[pyfunction]
fn runtime_linked() -> bool {
    gilfree_pyo3::linked()
}

/// The work of `_panic_in_kernel`: four tasks, the third of which panics.
fn panic_in_kernel(ctx: &Ctx<'_>) -> engine::Result<()> {
    ctx.map_tasks(4, |i| {
        if i == 2 {
            panic!("deliberate panic in task {i} (gilfree_rust_example._panic_in_kernel, a test hook)");
        }
    })?;
    Ok(())
}

/// Test hook: panics inside the kernel, to show what a bug in native code becomes.
///
/// Runs four tasks on gilfree's pool (``threads=None``) or on the calling thread
/// (``threads=1``), the third of which panics. The panic is caught where it happened and raised
/// here as ``gilfree.KernelError`` (the very class gilfree exports); the pool keeps working.
///
/// Example:
///
///     >>> import gilfree, gilfree_rust_example
///     >>> try:
///     ...     gilfree_rust_example._panic_in_kernel()
///     ... except gilfree.KernelError as exc:
///     ...     print("caught:", type(exc).__name__)
///     caught: KernelError
#[pyfunction]
#[pyo3(signature = (*, threads = None))]
fn _panic_in_kernel(py: Python<'_>, threads: Option<ThreadsArg>) -> PyResult<()> {
    // usize::MAX bytes of "work": always detached, always on the pool when threads=None.
    gilfree_pyo3::run(
        py,
        "_panic_in_kernel",
        ThreadsArg::get(threads),
        usize::MAX,
        panic_in_kernel,
    )
}

/// The task form of the test hook: `executor.submit(_panic_in_kernel)` fails its future with
/// `gilfree.KernelError`.
#[pyfunction]
#[pyo3(signature = (*, threads = None))]
fn _panic_in_kernel_task<'py>(
    py: Python<'py>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    gilfree_pyo3::task_threads("_panic_in_kernel", threads)?;
    gilfree_pyo3::task_value(py, "_panic_in_kernel", panic_in_kernel)
}

// ---- the module ------------------------------------------------------------------------------

/// Levenshtein distances over lists of str, GIL-free, on gilfree's shared pool.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // First: link to gilfree's runtime (one pool per process, the shared KernelError, Ctrl-C).
    gilfree_pyo3::init(m)?;
    m.add_function(wrap_pyfunction!(edit_distance_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(edit_distance_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_linked, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_in_kernel, m)?)?;
    // The gilfree.Executor task forms: `executor.submit(edit_distance_matrix, ...)` runs natively.
    m.add_function(wrap_pyfunction!(_edit_distance_matrix_task, m)?)?;
    m.add_function(wrap_pyfunction!(_edit_distance_pairs_task, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_in_kernel_task, m)?)?;
    for (func, task_form) in [
        ("edit_distance_matrix", "_edit_distance_matrix_task"),
        ("edit_distance_pairs", "_edit_distance_pairs_task"),
        ("_panic_in_kernel", "_panic_in_kernel_task"),
    ] {
        gilfree_pyo3::register_task(&m.getattr(func)?, &m.getattr(task_form)?)?;
    }
    Ok(())
}
