//! `AtomicInt`, `AtomicFloat` and `Accumulator`: Python classes over `gilfree_kernels::shared`.
//!
//! All three are `frozen`: PyO3 then hands out `&self` with no runtime borrow flag, and every
//! method works through atomics or the accumulator's shard locks. That is what makes them safe to
//! call from any number of threads at once, with the GIL or without it (free-threaded Python).
//! No Python code ever runs under a shard lock, so blocking on one while attached cannot
//! deadlock (see `gilfree_kernels::shared::Accumulator`).

use gilfree_kernels::engine::Threads;
use gilfree_kernels::shared::{self, Moments, Value};
use numpy::{Element, PyReadonlyArray1, PyUntypedArray};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyMemoryView, PyType};
use pyo3::IntoPyObjectExt;

use crate::array::{Array1, View};
use gilfree_pyo3::args::{self, threads_arg};
use gilfree_pyo3::run;

/// An int64 value ([`args::i64_arg`]).
fn int64(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    args::i64_arg(obj, what, "an int")
}

/// A float64 value ([`args::f64_arg`]).
fn float64(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    args::f64_arg(obj, what)
}

fn no_pickle(class: &str, alternative: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{class} cannot be pickled: it is shared state in this process's memory, and a copy in \
         another process would silently stop being shared. {alternative}"
    ))
}

fn no_arithmetic(class: &str, op: &str, verb: &str, method: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "unsupported operand for {op}: {class} is a shared cell, not a number. Use x {op}= d (an \
         atomic {verb} that keeps x the same {class}), x.{method}(d) (atomic, returns the new \
         value) or x.load() {op} d (a plain number)"
    ))
}

// ---------------------------------------------------------------------------------------------
// AtomicInt

/// A 64-bit integer that many threads can update at once without a lock: no update is ever lost.
///
/// Every method is one indivisible (atomic) step, and all threads see all steps in one order.
/// Additions never wrap around: one whose result would leave int64 raises ``OverflowError`` and
/// leaves the value unchanged.
///
/// Naming, as in C++ and Rust ``std::atomic``: ``fetch_add``, ``fetch_sub``, ``fetch_max``,
/// ``fetch_min`` and ``swap`` return the value *before* the update; ``add``, ``sub``, ``max`` and
/// ``min`` return the value *after* it (the value this call stored, not a fresh read).
///
/// ``x += d`` is atomic: Python calls ``x.__iadd__(d)``, which adds atomically and returns ``x``
/// itself, then rebinds the name (or attribute, or item) to that same object. Other threads
/// using the object see every increment. (Rebinding an attribute, ``obj.n += 1``, also stores
/// ``obj.n = obj.n``: harmless, unless another thread replaces ``obj.n`` with a different object
/// at the same time.) ``x = x + d`` is a ``TypeError``: it would replace the shared cell with a
/// private number. Use ``x.load() + d`` for a plain int.
///
/// Equality and hashing are by identity, as for any mutable object: compare ``x.load()`` (or
/// ``int(x)``) with numbers. ``int(x)``, ``float(x)``, ``operator.index(x)`` and ``bool(x)`` read
/// the current value. ``copy.copy`` and ``copy.deepcopy`` give a new, independent ``AtomicInt``
/// holding the current value; pickling raises ``TypeError`` (an atomic is shared only within one
/// process: use ``multiprocessing.Value`` across processes).
///
/// Args:
///     value: the initial value, an int in int64 (default 0). Objects with ``__index__`` (NumPy
///         integers) are ints; bool and float are ``TypeError``.
///
/// Example:
///     >>> import threading, gilfree
///     >>> hits = gilfree.AtomicInt()
///     >>> def work():
///     ...     global hits
///     ...     for _ in range(10_000):
///     ...         hits += 1          # atomic: hits stays the same AtomicInt
///     >>> threads = [threading.Thread(target=work) for _ in range(4)]
///     >>> for t in threads: t.start()
///     >>> for t in threads: t.join()
///     >>> hits
///     AtomicInt(40000)
///     >>> hits.fetch_add(5), hits.add(5), hits.load()
///     (40000, 40010, 40010)
#[pyclass(name = "AtomicInt", module = "gilfree", frozen)]
pub(crate) struct PyAtomicInt(shared::AtomicInt);

impl PyAtomicInt {
    fn checked(op: &str, r: gilfree_kernels::Result<i64>) -> PyResult<i64> {
        r.map_err(|e| PyOverflowError::new_err(format!("AtomicInt.{op}(): {e}; the value is unchanged")))
    }
}

#[pymethods]
impl PyAtomicInt {
    #[new]
    #[pyo3(signature = (value = None), text_signature = "(value=0)")]
    fn new(value: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let value = value.map_or(Ok(0), |v| int64(v, "value"))?;
        Ok(PyAtomicInt(shared::AtomicInt::new(value)))
    }

    /// The current value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicInt(7).load()
    ///     7
    fn load(&self) -> i64 {
        self.0.load()
    }

    /// Replaces the value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt()
    ///     >>> x.store(-3); x.load()
    ///     -3
    fn store(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.store(int64(value, "value")?);
        Ok(())
    }

    /// Replaces the value and returns the previous one.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(1)
    ///     >>> x.swap(2), x.load()
    ///     (1, 2)
    fn swap(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        Ok(self.0.swap(int64(value, "value")?))
    }

    /// Adds ``delta`` and returns the value before the addition.
    ///
    /// Raises:
    ///     OverflowError: the sum would leave int64 (the value is unchanged).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(10)
    ///     >>> x.fetch_add(5), x.load()
    ///     (10, 15)
    fn fetch_add(&self, delta: &Bound<'_, PyAny>) -> PyResult<i64> {
        Self::checked("fetch_add", self.0.fetch_add(int64(delta, "delta")?))
    }

    /// Adds ``delta`` and returns the new value (the one this call stored).
    ///
    /// Raises:
    ///     OverflowError: the sum would leave int64 (the value is unchanged).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(2**63 - 2)
    ///     >>> x.add(1)
    ///     9223372036854775807
    ///     >>> x.add(1)
    ///     Traceback (most recent call last):
    ///     ...
    ///     OverflowError: AtomicInt.add(): 9223372036854775807 + 1 does not fit in int64; the value is unchanged
    fn add(&self, delta: &Bound<'_, PyAny>) -> PyResult<i64> {
        let delta = int64(delta, "delta")?;
        // The sum cannot overflow: fetch_add just checked it.
        Self::checked("add", self.0.fetch_add(delta)).map(|old| old + delta)
    }

    /// Subtracts ``delta`` and returns the value before the subtraction.
    ///
    /// Raises:
    ///     OverflowError: the difference would leave int64 (the value is unchanged).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(10)
    ///     >>> x.fetch_sub(3), x.load()
    ///     (10, 7)
    fn fetch_sub(&self, delta: &Bound<'_, PyAny>) -> PyResult<i64> {
        Self::checked("fetch_sub", self.0.fetch_sub(int64(delta, "delta")?))
    }

    /// Subtracts ``delta`` and returns the new value.
    ///
    /// Raises:
    ///     OverflowError: the difference would leave int64 (the value is unchanged).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicInt(10).sub(3)
    ///     7
    fn sub(&self, delta: &Bound<'_, PyAny>) -> PyResult<i64> {
        let delta = int64(delta, "delta")?;
        Self::checked("sub", self.0.fetch_sub(delta)).map(|old| old - delta)
    }

    /// Stores ``new`` if the value equals ``expected``, in one atomic step.
    ///
    /// Returns ``(True, expected)`` if it stored, else ``(False, current)`` with the value it
    /// found, ready for the next attempt of a compare-and-swap loop.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(5)
    ///     >>> x.compare_exchange(5, 8)
    ///     (True, 5)
    ///     >>> x.compare_exchange(5, 9)
    ///     (False, 8)
    ///     >>> def double(x):          # any update, atomically: the compare-and-swap loop
    ///     ...     ok, current = False, x.load()
    ///     ...     while not ok:
    ///     ...         ok, current = x.compare_exchange(current, current * 2)
    ///     >>> double(x); x.load()
    ///     16
    fn compare_exchange(&self, expected: &Bound<'_, PyAny>, new: &Bound<'_, PyAny>) -> PyResult<(bool, i64)> {
        let expected = int64(expected, "expected")?;
        let new = int64(new, "new")?;
        Ok(match self.0.compare_exchange(expected, new) {
            Ok(previous) => (true, previous),
            Err(current) => (false, current),
        })
    }

    /// Stores ``value`` if it is larger than the current value; returns the value before.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(3)
    ///     >>> x.fetch_max(10), x.fetch_max(4), x.load()
    ///     (3, 10, 10)
    fn fetch_max(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        Ok(self.0.fetch_max(int64(value, "value")?))
    }

    /// Stores ``value`` if it is larger than the current value; returns the new value
    /// (``max(before, value)``).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(3)
    ///     >>> x.max(10), x.max(4)
    ///     (10, 10)
    #[pyo3(name = "max")]
    fn max_py(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        let value = int64(value, "value")?;
        Ok(self.0.fetch_max(value).max(value))
    }

    /// Stores ``value`` if it is smaller than the current value; returns the value before.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicInt(3)
    ///     >>> x.fetch_min(-1), x.load()
    ///     (3, -1)
    fn fetch_min(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        Ok(self.0.fetch_min(int64(value, "value")?))
    }

    /// Stores ``value`` if it is smaller than the current value; returns the new value
    /// (``min(before, value)``).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicInt(3).min(-1)
    ///     -1
    #[pyo3(name = "min")]
    fn min_py(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        let value = int64(value, "value")?;
        Ok(self.0.fetch_min(value).min(value))
    }

    fn __iadd__(&self, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::checked("__iadd__", self.0.fetch_add(int64(delta, "delta")?)).map(drop)
    }

    fn __isub__(&self, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::checked("__isub__", self.0.fetch_sub(int64(delta, "delta")?)).map(drop)
    }

    fn __add__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicInt", "+", "add", "add"))
    }

    fn __radd__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicInt", "+", "add", "add"))
    }

    fn __sub__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicInt", "-", "subtraction", "sub"))
    }

    fn __rsub__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicInt", "-", "subtraction", "sub"))
    }

    fn __int__(&self) -> i64 {
        self.0.load()
    }

    fn __index__(&self) -> i64 {
        self.0.load()
    }

    #[allow(clippy::cast_precision_loss)] // as float(int): rounded to nearest
    fn __float__(&self) -> f64 {
        self.0.load() as f64
    }

    fn __bool__(&self) -> bool {
        self.0.load() != 0
    }

    fn __repr__(&self) -> String {
        format!("AtomicInt({})", self.0.load())
    }

    fn __copy__(&self) -> Self {
        PyAtomicInt(shared::AtomicInt::new(self.0.load()))
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.__copy__()
    }

    fn __reduce__(&self) -> PyResult<Py<PyAny>> {
        Err(no_pickle(
            "AtomicInt",
            "Share a counter between processes with multiprocessing.Value('q') and its lock, or \
             send the number: x.load().",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// AtomicFloat

/// A float64 that many threads can update at once without a lock: no update is ever lost.
///
/// The same methods and naming as :class:`AtomicInt` (``fetch_*`` and ``swap`` return the value
/// before, ``add``/``sub``/``max``/``min`` the value after), with IEEE 754 arithmetic: a sum
/// beyond the float64 range is ``inf``, not an error. Additions are compare-and-swap loops (a
/// thread may retry under contention, but never loses an update). ``x += d`` is atomic, exactly
/// as for :class:`AtomicInt`; ``x = x + d`` is a ``TypeError``.
///
/// Floating-point details:
///
/// * The final value of concurrent additions depends on their order in the last bits (float
///   addition is not associative). Sums of integers below 2**53 are exact whatever the order.
/// * ``compare_exchange`` compares **bit patterns**: ``0.0`` does not match a stored ``-0.0``,
///   and a NaN matches a stored NaN with the same bits. A value you loaded always matches, so
///   the compare-and-swap loop terminates, NaN included.
/// * ``max``/``min`` are IEEE 754-2019 ``maximum``/``minimum``: a NaN (stored or given) makes
///   the value NaN, and ``-0.0 < 0.0``, so the result does not depend on the order of updates.
///
/// Arguments are floats, ints (converted as ``float()`` does) or objects with ``__float__``;
/// bool is ``TypeError``. Identity equality, copying and pickling are as for :class:`AtomicInt`.
///
/// Args:
///     value: the initial value (default 0.0).
///
/// Example:
///     >>> import gilfree
///     >>> total = gilfree.AtomicFloat()
///     >>> total += 0.5
///     >>> total.add(0.25), total.fetch_max(2.0), total.load()
///     (0.75, 0.75, 2.0)
///     >>> total.compare_exchange(0.0, 1.0)
///     (False, 2.0)
#[pyclass(name = "AtomicFloat", module = "gilfree", frozen)]
pub(crate) struct PyAtomicFloat(shared::AtomicFloat);

#[pymethods]
impl PyAtomicFloat {
    #[new]
    #[pyo3(signature = (value = None), text_signature = "(value=0.0)")]
    fn new(value: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let value = value.map_or(Ok(0.0), |v| float64(v, "value"))?;
        Ok(PyAtomicFloat(shared::AtomicFloat::new(value)))
    }

    /// The current value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicFloat(1.5).load()
    ///     1.5
    fn load(&self) -> f64 {
        self.0.load()
    }

    /// Replaces the value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat()
    ///     >>> x.store(2); x.load()
    ///     2.0
    fn store(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.store(float64(value, "value")?);
        Ok(())
    }

    /// Replaces the value and returns the previous one.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(1.0)
    ///     >>> x.swap(2.5), x.load()
    ///     (1.0, 2.5)
    fn swap(&self, value: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.0.swap(float64(value, "value")?))
    }

    /// Adds ``delta`` and returns the value before the addition.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(1.0)
    ///     >>> x.fetch_add(0.5), x.load()
    ///     (1.0, 1.5)
    fn fetch_add(&self, delta: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.0.fetch_add(float64(delta, "delta")?))
    }

    /// Adds ``delta`` and returns the new value (the one this call stored).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicFloat(1.0).add(0.5)
    ///     1.5
    fn add(&self, delta: &Bound<'_, PyAny>) -> PyResult<f64> {
        let delta = float64(delta, "delta")?;
        Ok(self.0.fetch_add(delta) + delta)
    }

    /// Subtracts ``delta`` and returns the value before the subtraction.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(1.0)
    ///     >>> x.fetch_sub(0.25), x.load()
    ///     (1.0, 0.75)
    fn fetch_sub(&self, delta: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.0.fetch_sub(float64(delta, "delta")?))
    }

    /// Subtracts ``delta`` and returns the new value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicFloat(1.0).sub(0.25)
    ///     0.75
    fn sub(&self, delta: &Bound<'_, PyAny>) -> PyResult<f64> {
        let delta = float64(delta, "delta")?;
        Ok(self.0.fetch_sub(delta) - delta)
    }

    /// Stores ``new`` if the stored value has the same **bits** as ``expected``.
    ///
    /// Returns ``(True, expected)`` if it stored, else ``(False, current)``. Bits, not values:
    /// ``0.0`` does not match ``-0.0``, and a NaN matches a NaN with the same bits (a value you
    /// loaded always matches, so compare-and-swap loops terminate).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(-0.0)
    ///     >>> x.compare_exchange(0.0, 1.0)
    ///     (False, -0.0)
    ///     >>> x.compare_exchange(-0.0, 1.0)
    ///     (True, -0.0)
    fn compare_exchange(&self, expected: &Bound<'_, PyAny>, new: &Bound<'_, PyAny>) -> PyResult<(bool, f64)> {
        let expected = float64(expected, "expected")?;
        let new = float64(new, "new")?;
        Ok(match self.0.compare_exchange(expected, new) {
            Ok(previous) => (true, previous),
            Err(current) => (false, current),
        })
    }

    /// Stores IEEE 754-2019 ``maximum(current, value)``; returns the value before. A NaN makes
    /// the value NaN; ``-0.0 < 0.0``.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(1.0)
    ///     >>> x.fetch_max(3.0), x.fetch_max(float("nan")), x.load()
    ///     (1.0, 3.0, nan)
    fn fetch_max(&self, value: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.0.fetch_max(float64(value, "value")?))
    }

    /// Stores IEEE 754-2019 ``maximum(current, value)``; returns the new value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(0.0)
    ///     >>> x.max(-0.0), x.max(2.5)
    ///     (0.0, 2.5)
    #[pyo3(name = "max")]
    fn max_py(&self, value: &Bound<'_, PyAny>) -> PyResult<f64> {
        let value = float64(value, "value")?;
        Ok(shared::maximum(self.0.fetch_max(value), value))
    }

    /// Stores IEEE 754-2019 ``minimum(current, value)``; returns the value before.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> x = gilfree.AtomicFloat(0.0)
    ///     >>> x.fetch_min(-0.0), x.load()
    ///     (0.0, -0.0)
    fn fetch_min(&self, value: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.0.fetch_min(float64(value, "value")?))
    }

    /// Stores IEEE 754-2019 ``minimum(current, value)``; returns the new value.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.AtomicFloat(1.0).min(-2)
    ///     -2.0
    #[pyo3(name = "min")]
    fn min_py(&self, value: &Bound<'_, PyAny>) -> PyResult<f64> {
        let value = float64(value, "value")?;
        Ok(shared::minimum(self.0.fetch_min(value), value))
    }

    fn __iadd__(&self, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.fetch_add(float64(delta, "delta")?);
        Ok(())
    }

    fn __isub__(&self, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.fetch_sub(float64(delta, "delta")?);
        Ok(())
    }

    fn __add__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicFloat", "+", "add", "add"))
    }

    fn __radd__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicFloat", "+", "add", "add"))
    }

    fn __sub__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicFloat", "-", "subtraction", "sub"))
    }

    fn __rsub__(&self, _other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Err(no_arithmetic("AtomicFloat", "-", "subtraction", "sub"))
    }

    fn __float__(&self) -> f64 {
        self.0.load()
    }

    /// ``int(x)``: truncates as ``int(float)`` does (``ValueError`` for NaN, ``OverflowError``
    /// for infinities).
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyFloat::new(py, self.0.load()).call_method0("__int__")
    }

    fn __bool__(&self) -> bool {
        self.0.load() != 0.0
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "AtomicFloat({})",
            PyFloat::new(py, self.0.load()).repr()?
        ))
    }

    fn __copy__(&self) -> Self {
        PyAtomicFloat(shared::AtomicFloat::new(self.0.load()))
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.__copy__()
    }

    fn __reduce__(&self) -> PyResult<Py<PyAny>> {
        Err(no_pickle(
            "AtomicFloat",
            "Share a number between processes with multiprocessing.Value('d') and its lock, or \
             send the number: x.load().",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Accumulator

enum Inner {
    Int(shared::Accumulator<i64>),
    Float(shared::Accumulator<f64>),
}

/// Statistics of numbers added from many threads at once: count, sum, mean, var, std, min, max.
///
/// A hot loop in N threads never contends on one lock: each thread adds into a shard of its own
/// (64 shards, handed to threads as they first add), and reads merge the shards. A read is an
/// atomic snapshot: it sees every add that finished before it began, and no add half.
///
/// The results are **independent of thread interleaving, for ints and floats alike**: the sum
/// and the sum of squares are kept exactly (wide fixed-point numbers, no rounding at all), and
/// each result is computed from them and rounded once. So:
///
/// * ``sum()``: with ``dtype=int``, the exact sum as a Python int (int64 values; the sum itself
///   is unbounded). With ``dtype=float``, the exact sum of the float64 values rounded to the
///   nearest float, the same as ``math.fsum``.
/// * ``mean()``: the exact ``sum / count``, correctly rounded.
/// * ``var(ddof=0)``: the exact ``sum((x - mean)**2) / (count - ddof)``, correctly rounded (a
///   mean of 1e9 with a spread of 1 loses nothing); ``std`` is its square root.
/// * ``min()``/``max()``: for floats, a NaN anywhere makes them NaN, and ``-0.0 < 0.0``.
///
/// The same values, added from any threads in any order, give the same bits. Conventions follow
/// :func:`gilfree.mean`/:func:`gilfree.var` and NumPy: an empty accumulator has sum 0, mean and
/// var nan (when ``count - ddof <= 0``, var is inf, or nan if all values are equal, as NumPy), and ``min()``/``max()`` raise ``ValueError``.
/// Floats: an infinity makes sum and mean infinite (nan if both signs, or a NaN, were added)
/// and var nan; an exact sum beyond the float64 range is ``inf``.
///
/// Args:
///     dtype: ``float`` (default: float64 values; ints are converted as ``float()`` does) or
///         ``int`` (int64 values; floats are ``TypeError``). ``"float64"``, ``"int64"`` and the
///         NumPy types are accepted too.
///
/// Example:
///     >>> import math, threading, gilfree
///     >>> acc = gilfree.Accumulator()
///     >>> def work():
///     ...     for _ in range(1000):
///     ...         acc.add(0.1)
///     >>> threads = [threading.Thread(target=work) for _ in range(4)]
///     >>> for t in threads: t.start()
///     >>> for t in threads: t.join()
///     >>> acc.count(), acc.sum(), acc.mean(), acc.var()
///     (4000, 400.0, 0.1, 0.0)
///     >>> total = 0.0
///     >>> for _ in range(4000): total += 0.1  # a plain running float sum drifts
///     >>> acc.sum() == math.fsum([0.1] * 4000), total
///     (True, 400.00000000002...)
#[pyclass(name = "Accumulator", module = "gilfree", frozen)]
pub(crate) struct PyAccumulator(Inner);

/// The [`Moments`] of a borrowed array, on the call path (GIL released for large arrays).
fn array_moments<X, T>(
    py: Python<'_>,
    threads: Threads,
    a: &PyReadonlyArray1<'_, X>,
    convert: fn(X) -> T,
) -> PyResult<Moments<T>>
where
    X: Element + Copy + Sync,
    T: Value,
{
    let view = View::of(a);
    run(py, "Accumulator.add_many", threads, view.nbytes(), |ctx| {
        // SAFETY: `a` (a read-only borrow of the array, which keeps it alive) outlives `run`.
        unsafe { view.with_slice(ctx, |s| shared::moments_of(ctx, s, convert)) }
    })
}

/// Items of an iterable read between two checks for Ctrl-C (~2 ms of parsing).
const ITER_CHECK_EVERY: usize = 1 << 16;

/// The [`Moments`] of an iterable, each item parsed with `parse`.
fn iter_moments<T: Value>(
    values: &Bound<'_, PyAny>,
    parse: impl Fn(&Bound<'_, PyAny>) -> PyResult<T>,
) -> PyResult<Moments<T>> {
    let py = values.py();
    let epoch = gilfree_kernels::engine::interrupt_epoch();
    let mut m = Moments::new();
    for (i, item) in values.try_iter()?.enumerate() {
        m.add(parse(&item?)?);
        // A native loop over a long iterable: let Ctrl-C in, as Python's own loops do (the
        // signal handler on the main thread; the interrupt epoch on any other).
        if i % ITER_CHECK_EVERY == ITER_CHECK_EVERY - 1 {
            py.check_signals()?;
            if gilfree_kernels::engine::interrupt_epoch() != epoch {
                return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(
                    "Accumulator.add_many() was interrupted (SIGINT received while it ran)",
                ));
            }
        }
    }
    Ok(m)
}

fn is_buffer(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>().is_ok() || PyMemoryView::from(obj).is_ok()
}

fn empty_error(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "Accumulator.{what}(): no values were added, so there is no {what}"
    ))
}

impl PyAccumulator {
    fn dtype_name(&self) -> &'static str {
        match self.0 {
            Inner::Int(_) => "int",
            Inner::Float(_) => "float",
        }
    }
}

#[pymethods]
impl PyAccumulator {
    #[new]
    #[pyo3(signature = (dtype = None), text_signature = "(dtype=float)")]
    fn new(py: Python<'_>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(dtype) = dtype else {
            return Ok(PyAccumulator(Inner::Float(shared::Accumulator::new())));
        };
        let is_int = if dtype.is(py.get_type::<PyFloat>()) {
            false
        } else if dtype.is(py.get_type::<PyInt>()) {
            true
        } else {
            // "float64", numpy.int64, numpy.dtype("f8"), ...: whatever NumPy calls a dtype.
            let d = py.import("numpy")?.call_method1("dtype", (dtype,)).ok();
            let kind = d.as_ref().and_then(|d| {
                Some((
                    d.getattr("kind").ok()?.extract::<String>().ok()?,
                    d.getattr("itemsize").ok()?.extract::<usize>().ok()?,
                ))
            });
            match kind.as_ref().map(|(k, size)| (k.as_str(), *size)) {
                Some(("f", 8)) => false,
                Some(("i", 8)) => true,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "dtype must be float or int (float64 or int64), got {}",
                        dtype.repr()?
                    )))
                }
            }
        };
        Ok(PyAccumulator(if is_int {
            Inner::Int(shared::Accumulator::new())
        } else {
            Inner::Float(shared::Accumulator::new())
        }))
    }

    /// The type of the values: ``int`` or ``float``.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> gilfree.Accumulator(int).dtype
    ///     <class 'int'>
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        match self.0 {
            Inner::Int(_) => py.get_type::<PyInt>(),
            Inner::Float(_) => py.get_type::<PyFloat>(),
        }
    }

    /// Adds one value (into the calling thread's shard: no contention with other threads).
    ///
    /// Raises:
    ///     TypeError: ``x`` is not a number (``dtype=int``: not an int; bool never is).
    ///     OverflowError: ``dtype=int`` and ``x`` is outside int64.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator(int)
    ///     >>> acc.add(2); acc.add(2**62); acc.sum()
    ///     4611686018427387906
    fn add(&self, x: &Bound<'_, PyAny>) -> PyResult<()> {
        match &self.0 {
            Inner::Int(acc) => acc.add(int64(x, "x")?),
            Inner::Float(acc) => acc.add(float64(x, "x")?),
        }
        Ok(())
    }

    /// Adds every value of ``values``, all at once: a concurrent read sees all of them or none,
    /// and if one is invalid none is added.
    ///
    /// A 1-D NumPy array (or buffer) of float64, float32, int64 or int32 is read without copies
    /// and, when large, with the GIL released and on the shared pool (``threads`` as for the
    /// gilfree kernels); the result does not depend on ``threads``. ``dtype=int`` takes int arrays
    /// only. Any other iterable is read item by item, as :meth:`add` would.
    ///
    /// Raises:
    ///     TypeError: not an array or iterable, a float array for ``dtype=int``, a bad item.
    ///     ValueError: an array that is not 1-D.
    ///     KeyboardInterrupt: Ctrl-C while a large array was added.
    ///
    /// Example:
    ///     >>> import numpy as np, gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add_many(np.full(1_000_000, 0.1))
    ///     >>> acc.add_many([0.5, 2])
    ///     >>> acc.count(), acc.sum()
    ///     (1000002, 100002.5)
    #[pyo3(signature = (values, *, threads = None))]
    fn add_many(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        threads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let threads = threads_arg(threads)?;
        if is_buffer(values) {
            let a = Array1::from_py(values, "values")?;
            match (&self.0, a) {
                (Inner::Float(acc), Array1::F64(a)) => acc.merge(&array_moments(py, threads, &a, |x| x)?),
                (Inner::Float(acc), Array1::F32(a)) => acc.merge(&array_moments(py, threads, &a, f64::from)?),
                (Inner::Float(acc), Array1::I32(a)) => acc.merge(&array_moments(py, threads, &a, f64::from)?),
                #[allow(clippy::cast_precision_loss)] // int64 -> float64 rounds, as NumPy's astype
                (Inner::Float(acc), Array1::I64(a)) => {
                    acc.merge(&array_moments(py, threads, &a, |x| x as f64)?);
                }
                (Inner::Int(acc), Array1::I64(a)) => acc.merge(&array_moments(py, threads, &a, |x| x)?),
                (Inner::Int(acc), Array1::I32(a)) => acc.merge(&array_moments(py, threads, &a, i64::from)?),
                (Inner::Int(_), Array1::F32(_) | Array1::F64(_)) => {
                    return Err(PyTypeError::new_err(
                        "values: an Accumulator(dtype=int) takes int32 or int64 arrays, got a float array \
                         (use Accumulator(dtype=float), or convert with .astype(numpy.int64))",
                    ))
                }
            }
            return Ok(());
        }
        if values.try_iter().is_err() {
            let ty = values.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "values must be an array or an iterable of numbers, got {ty}"
            )));
        }
        match &self.0 {
            Inner::Int(acc) => acc.merge(&iter_moments(values, |x| int64(x, "values item"))?),
            Inner::Float(acc) => acc.merge(&iter_moments(values, |x| float64(x, "values item"))?),
        }
        Ok(())
    }

    /// Adds every value ``other`` holds (a snapshot of it); both must have the same dtype.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> a, b = gilfree.Accumulator(int), gilfree.Accumulator(int)
    ///     >>> a.add(1); b.add(2); b.add(3)
    ///     >>> a.merge(b); a.count(), a.sum()
    ///     (3, 6)
    fn merge(&self, other: &Bound<'_, PyAccumulator>) -> PyResult<()> {
        match (&self.0, &other.get().0) {
            (Inner::Int(a), Inner::Int(b)) => a.merge(&b.snapshot()),
            (Inner::Float(a), Inner::Float(b)) => a.merge(&b.snapshot()),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "cannot merge an Accumulator(dtype={}) into an Accumulator(dtype={})",
                    other.get().dtype_name(),
                    self.dtype_name()
                )))
            }
        }
        Ok(())
    }

    /// Forgets every value (atomically: a concurrent add lands wholly before or after).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add(1.0); acc.reset(); acc.count()
    ///     0
    fn reset(&self) {
        match &self.0 {
            Inner::Int(acc) => acc.reset(),
            Inner::Float(acc) => acc.reset(),
        }
    }

    /// The number of values added.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add_many([1, 2, 3]); acc.count()
    ///     3
    fn count(&self) -> u64 {
        match &self.0 {
            Inner::Int(acc) => acc.snapshot().count(),
            Inner::Float(acc) => acc.snapshot().count(),
        }
    }

    /// The sum: exact (a Python int) for ``dtype=int``; the exact sum correctly rounded (as
    /// ``math.fsum``) for ``dtype=float``. 0 when empty.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add_many([1e100, 1.0, -1e100]); acc.sum()
    ///     1.0
    ///     >>> big = gilfree.Accumulator(int)
    ///     >>> big.add_many([2**63 - 1] * 4); big.sum()
    ///     36893488147419103228
    fn sum<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.0 {
            Inner::Int(acc) => acc.snapshot().sum().into_bound_py_any(py),
            Inner::Float(acc) => acc.snapshot().sum().into_bound_py_any(py),
        }
    }

    /// The mean, the exact ``sum / count`` correctly rounded; nan when empty.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator(int)
    ///     >>> acc.add_many([0, 0, 1]); acc.mean()
    ///     0.3333333333333333
    fn mean(&self) -> f64 {
        match &self.0 {
            Inner::Int(acc) => acc.snapshot().mean(),
            Inner::Float(acc) => acc.snapshot().mean(),
        }
    }

    /// The variance ``sum((x - mean)**2) / (count - ddof)``, computed exactly and rounded once;
    /// as NumPy, inf when ``count - ddof <= 0`` (nan if all values are equal).
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add_many([1e9 + 1, 1e9 + 2, 1e9 + 3]); acc.var(ddof=1)
    ///     1.0
    #[pyo3(signature = (*, ddof = 0))]
    fn var(&self, #[pyo3(from_py_with = args::ddof_arg)] ddof: i64) -> f64 {
        match &self.0 {
            Inner::Int(acc) => acc.snapshot().var(ddof),
            Inner::Float(acc) => acc.snapshot().var(ddof),
        }
    }

    /// The standard deviation, ``sqrt(var(ddof=ddof))``.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator(int)
    ///     >>> acc.add_many([2, 4, 4, 4, 5, 5, 7, 9]); acc.std()
    ///     2.0
    #[pyo3(signature = (*, ddof = 0))]
    fn std(&self, #[pyo3(from_py_with = args::ddof_arg)] ddof: i64) -> f64 {
        match &self.0 {
            Inner::Int(acc) => acc.snapshot().std(ddof),
            Inner::Float(acc) => acc.snapshot().std(ddof),
        }
    }

    /// The smallest value added (nan if a NaN was added).
    ///
    /// Raises:
    ///     ValueError: nothing was added.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator()
    ///     >>> acc.add_many([0.0, -0.0, 3.0]); acc.min()
    ///     -0.0
    fn min<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.0 {
            Inner::Int(acc) => acc
                .snapshot()
                .min()
                .ok_or_else(|| empty_error("min"))?
                .into_bound_py_any(py),
            Inner::Float(acc) => acc
                .snapshot()
                .min()
                .ok_or_else(|| empty_error("min"))?
                .into_bound_py_any(py),
        }
    }

    /// The largest value added (nan if a NaN was added).
    ///
    /// Raises:
    ///     ValueError: nothing was added.
    ///
    /// Example:
    ///     >>> import gilfree
    ///     >>> acc = gilfree.Accumulator(int)
    ///     >>> acc.add_many(range(10)); acc.max()
    ///     9
    fn max<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.0 {
            Inner::Int(acc) => acc
                .snapshot()
                .max()
                .ok_or_else(|| empty_error("max"))?
                .into_bound_py_any(py),
            Inner::Float(acc) => acc
                .snapshot()
                .max()
                .ok_or_else(|| empty_error("max"))?
                .into_bound_py_any(py),
        }
    }

    fn __repr__(&self) -> String {
        format!("Accumulator(dtype={}, count={})", self.dtype_name(), self.count())
    }

    fn __copy__(&self) -> Self {
        PyAccumulator(match &self.0 {
            Inner::Int(acc) => {
                let copy = shared::Accumulator::new();
                copy.merge(&acc.snapshot());
                Inner::Int(copy)
            }
            Inner::Float(acc) => {
                let copy = shared::Accumulator::new();
                copy.merge(&acc.snapshot());
                Inner::Float(copy)
            }
        })
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.__copy__()
    }

    fn __reduce__(&self) -> PyResult<Py<PyAny>> {
        Err(no_pickle(
            "Accumulator",
            "Send its results instead (count(), sum(), ...), or accumulate in each process and \
             combine the results.",
        ))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAccumulator>()?;
    m.add_class::<PyAtomicFloat>()?;
    m.add_class::<PyAtomicInt>()?;
    Ok(())
}
