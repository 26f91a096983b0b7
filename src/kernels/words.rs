//! `word_count`: an adapter over `gilfree_kernels::kernels::words`.
//!
//! The texts' UTF-8 is taken with the GIL held (`PyString::to_str`, cached in the str object), a
//! strong reference to each str (or to its `surrogatepass` bytes, for a str with lone
//! surrogates) is kept for as long as the bytes are read, the counting runs detached, and the
//! dict is built with the GIL held afterwards (on the dispatcher thread for the task form).

use gilfree_kernels::engine::Ctx;
use gilfree_kernels::kernels::words;
use pyo3::exceptions::{PyMemoryError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView, PyString};

use gilfree_pyo3::{Form, Prepared};

/// Byte slices of Python objects that the prepared call keeps alive (in its `finish` closure,
/// which outlives the work: the work runs first, or never).
struct Slices(Vec<(*const u8, usize)>);

// SAFETY: the pointers are to immutable UTF-8 buffers (a str's cached UTF-8, or a bytes object)
// owned by objects the prepared call holds strong references to until after the work is done.
unsafe impl Send for Slices {}

/// The counted words, as slices of the same buffers, with their counts.
struct Words(Vec<(*const u8, usize, u64)>);

// SAFETY: as for `Slices`.
unsafe impl Send for Words {}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

fn memory_error() -> PyErr {
    PyMemoryError::new_err("word_count(): cannot allocate the list of texts")
}

/// One text's bytes and the object that owns them; `true` if they are `surrogatepass` bytes.
fn text_bytes<'py>(s: &Bound<'py, PyString>) -> PyResult<(Bound<'py, PyAny>, *const u8, usize, bool)> {
    match s.to_str() {
        Ok(text) => Ok((s.clone().into_any(), text.as_ptr(), text.len(), false)),
        Err(_) => {
            // Lone surrogates have no UTF-8: the slow path counts their `surrogatepass` bytes
            // (surrogates are never whitespace) and decodes the words back the same way.
            let bytes = s
                .call_method1("encode", ("utf-8", "surrogatepass"))?
                .cast_into::<PyBytes>()?;
            let b = bytes.as_bytes();
            let (ptr, len) = (b.as_ptr(), b.len());
            Ok((bytes.into_any(), ptr, len, true))
        }
    }
}

/// The one parsing of a `word_count` call (direct call and task form).
fn prepare_word_count(
    texts: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    form: Form,
) -> PyResult<
    Prepared<
        impl FnOnce(&Ctx<'_>) -> gilfree_kernels::Result<Words> + Send + 'static,
        impl FnOnce(Python<'_>, Words) -> PyResult<Py<PyAny>> + Send + 'static,
    >,
> {
    let mut owners: Vec<Py<PyAny>> = Vec::new();
    let mut slices: Vec<(*const u8, usize)> = Vec::new();
    let mut surrogates = false;
    let mut add = |s: &Bound<'_, PyString>| -> PyResult<()> {
        let (owner, ptr, len, pass) = text_bytes(s)?;
        owners.try_reserve(1).map_err(|_| memory_error())?;
        slices.try_reserve(1).map_err(|_| memory_error())?;
        owners.push(owner.unbind());
        slices.push((ptr, len));
        surrogates |= pass;
        Ok(())
    };
    if let Ok(s) = texts.cast::<PyString>() {
        add(s)?;
    } else {
        let not_texts = || {
            PyTypeError::new_err(format!(
                "word_count(): texts must be a str or a sequence of str, got {}",
                type_name(texts)
            ))
        };
        if texts.is_instance_of::<PyBytes>()
            || texts.is_instance_of::<PyByteArray>()
            || texts.is_instance_of::<PyMemoryView>()
        {
            return Err(not_texts());
        }
        let items = texts.try_iter().map_err(|_| not_texts())?;
        for (i, item) in items.enumerate() {
            let item = item?;
            let s = item.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "word_count(): texts[{i}] must be a str, got {}",
                    type_name(&item)
                ))
            })?;
            add(s)?;
        }
    }
    let threads = form.threads("word_count", threads)?;
    let work_bytes = slices.iter().map(|&(_, len)| len).sum();
    let slices = Slices(slices);
    let work = move |ctx: &Ctx<'_>| {
        let slices = slices;
        // SAFETY: see `Slices`: the owners are alive (held by `finish`) and immutable.
        let texts: Vec<&[u8]> = slices
            .0
            .iter()
            .map(|&(ptr, len)| unsafe { std::slice::from_raw_parts(ptr, len) })
            .collect();
        let counted = words::word_count(ctx, &texts)?;
        let mut out = gilfree_kernels::try_vec(counted.len(), "the list of words")?;
        out.extend(counted.into_iter().map(|(w, n)| (w.as_ptr(), w.len(), n)));
        Ok(Words(out))
    };
    let finish = move |py: Python<'_>, counted: Words| -> PyResult<Py<PyAny>> {
        let dict = PyDict::new(py);
        for &(ptr, len, n) in &counted.0 {
            // SAFETY: as for `Slices`: `owners` (moved into this closure) keeps the bytes alive.
            let word = unsafe { std::slice::from_raw_parts(ptr, len) };
            let key = match std::str::from_utf8(word) {
                Ok(w) => PyString::new(py, w).into_any(),
                // Only from a str with lone surrogates: decoded as it was encoded.
                Err(_) if surrogates => {
                    PyBytes::new(py, word).call_method1("decode", ("utf-8", "surrogatepass"))?
                }
                Err(err) => return Err(PyErr::from(err)),
            };
            dict.set_item(key, n)?;
        }
        drop(owners);
        Ok(dict.into_any().unbind())
    };
    Ok(Prepared::new("word_count", work, finish)
        .threads(threads)
        .work_bytes(work_bytes))
}

/// The words of ``texts`` with their counts: ``dict(collections.Counter(w for t in texts for w
/// in t.split()))``, counted without the GIL.
///
/// The words are exactly those of ``str.split()`` with no argument: runs of characters between
/// Python's whitespace (``str.isspace()``: ``\t\n\x0b\x0c\r``, the separators ``\x1c``-``\x1f``,
/// space, ``\x85``, ``\xa0``, ``\u1680``, ``\u2000``-``\u200a``, ``\u2028``, ``\u2029``,
/// ``\u202f``, ``\u205f``, ``\u3000``; not ``\u200b``, ``\u180e`` or ``\ufeff``). On more than
/// one thread, texts of 32 KiB or more are counted in parallel: they are cut at whitespace into
/// pieces (two per thread, 16 KiB to 16 MiB), each piece is counted in a hash table, and the tables are merged in
/// parallel, split by word hash. The result is the same for every ``threads`` value: each word
/// with its total count, in order of first occurrence (as ``Counter``). A str with lone
/// surrogates (no UTF-8) is counted on its ``surrogatepass`` encoding, slower but with the same
/// words. Ctrl-C stops the call within a MiB of counting.
///
/// Args:
///     texts: a str, or a sequence (any iterable) of str.
///     threads: None for the shared pool, 1 for the calling thread only, k for at most k workers.
///
/// Raises:
///     TypeError: ``texts`` is neither a str nor an iterable of str (bytes are refused), or an
///         item is not a str (the message gives its index); ``threads`` is not an int.
///     ValueError: ``threads`` < 1.
///     MemoryError: the table of words cannot be allocated.
///     KeyboardInterrupt: Ctrl-C while it ran.
///
/// Example:
///     >>> import gilfree
///     >>> gilfree.word_count("the cat and the hat")
///     {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}
///     >>> gilfree.word_count(["a\u3000b", "b\x1cc\u200bd"])
///     {'a': 1, 'b': 2, 'c\u200bd': 1}
#[pyfunction(name = "word_count", signature = (texts, *, threads = None, progress = None))]
pub(crate) fn word_count_py(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    gilfree_pyo3::Progress::arg(progress)?
        .scope(py, || prepare_word_count(texts, threads, Form::Direct)?.call(py))
}

/// The task form of :func:`gilfree.word_count` for ``gilfree.Executor`` (arguments checked now;
/// ``threads`` must be None or 1). The task keeps the strs alive; the dict is built when the
/// result is collected, with the GIL.
#[pyfunction(name = "word_count", signature = (texts, *, threads = None))]
fn word_count_task<'py>(
    py: Python<'py>,
    texts: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    prepare_word_count(texts, threads, Form::Task)?.task(py)
}

/// Registers the family on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(word_count_py, m)?)?;
    Ok(())
}

/// Registers the family's task forms on `gilfree._native._tasks`.
pub(crate) fn register_tasks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(word_count_task, m)?)?;
    Ok(())
}
