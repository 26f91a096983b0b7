//! `gilfree._native._lab`: what the lab (`gilfree bench`) needs from the binding and nothing
//! else. Not public API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use gilfree_pyo3::host::{exiting, with_gil_mode, GilMode};
use gilfree_pyo3::CallGuard;

/// ``call(mode, fn, /, *args, **kwargs)``: calls ``fn(*args, **kwargs)`` with the gilfree kernels
/// it runs on this thread treating the GIL as ``mode`` says: ``"release"`` (what every call does),
/// ``"hold"`` (keep the GIL throughout: native code that forgot to release it) or
/// ``"reacquire"`` (release it, then take it straight back around the work: the ``with gil:``
/// mistake). In the last two modes the kernel runs on the calling thread only (never waiting for
/// the pool with the GIL held) and still stops on Ctrl-C.
#[pyfunction(signature = (mode, func, /, *args, **kwargs))]
fn call<'py>(
    mode: &str,
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mode = match mode {
        "release" => GilMode::Release,
        "hold" => GilMode::Hold,
        "reacquire" => GilMode::Reacquire,
        other => {
            return Err(PyValueError::new_err(format!(
                "mode must be 'release', 'hold' or 'reacquire', got {other:?}"
            )))
        }
    };
    with_gil_mode(mode, || func.call(args, kwargs))
}

/// What one heartbeat run saw: see [`Heartbeat`].
#[derive(Clone, Copy, Default)]
struct Beats {
    wall: Duration,
    waited: Duration,
    longest: Duration,
    beats: u64,
}

/// ``Heartbeat(interval)``: measures how much of the time the GIL is held by someone else.
///
/// A thread of its own sleeps ``interval`` seconds, notes the time it woke, takes the GIL (it is
/// a Python thread then, with its own thread state), notes the time it got it, lets it go, and
/// again. The time between waking and getting the GIL is time during which the GIL was held by
/// another thread; timestamps are taken outside the GIL, so the operating system's wake-up delay
/// (busy cores) is not counted as GIL time. ``stop()`` returns ``(wall, waited, longest, beats)``:
/// seconds since the start, seconds spent waiting for the GIL, the longest single wait, and the
/// number of beats. ``waited / wall`` is the GIL-hold share the lab reports. On a free-threaded
/// interpreter the GIL is never held and the share reads 0.
#[pyclass(module = "gilfree._native._lab", frozen)]
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<Beats>>>,
}

#[pymethods]
impl Heartbeat {
    #[new]
    fn new(interval: f64) -> PyResult<Self> {
        if !(interval.is_finite() && (1e-6..=1.0).contains(&interval)) {
            return Err(PyValueError::new_err(format!(
                "interval must be between 1e-6 and 1.0 seconds, got {interval}"
            )));
        }
        let interval = Duration::from_secs_f64(interval);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("gilfree-heartbeat".to_owned())
            .spawn(move || {
                let start = Instant::now();
                let mut beats = Beats::default();
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(interval);
                    let woke = Instant::now();
                    let _gil_user = CallGuard::enter();
                    if exiting() {
                        break; // never take the GIL during interpreter exit (host::begin_exit)
                    }
                    Python::attach(|_| ());
                    let waited = woke.elapsed();
                    beats.waited += waited;
                    beats.longest = beats.longest.max(waited);
                    beats.beats += 1;
                }
                beats.wall = start.elapsed();
                beats
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the heartbeat thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the heartbeat and returns ``(wall, waited, longest, beats)``; once only.
    fn stop(&self, py: Python<'_>) -> PyResult<(f64, f64, f64, u64)> {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this heartbeat was already stopped"))?;
        self.stop.store(true, Ordering::Release);
        // Detached: the heartbeat thread may be waiting for the GIL this thread holds.
        let beats = py
            .detach(|| handle.join())
            .map_err(|_| PyRuntimeError::new_err("the heartbeat thread panicked"))?;
        Ok((
            beats.wall.as_secs_f64(),
            beats.waited.as_secs_f64(),
            beats.longest.as_secs_f64(),
            beats.beats,
        ))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Dropped without stop(): let the thread end on its own; never join here, with the GIL
        // possibly held.
        self.stop.store(true, Ordering::Release);
    }
}

/// Builds the `_lab` submodule.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "_lab")?;
    m.add_function(wrap_pyfunction!(call, &m)?)?;
    m.add_class::<Heartbeat>()?;
    parent.add_submodule(&m)
}
