//! The shared pool: gilfree's own rayon `ThreadPool`, never rayon's global one.
//!
//! * Created lazily, on the first call that has work for more than one thread.
//! * Sized by [`set_num_threads`], else `GILFREE_NUM_THREADS`, else `OMP_NUM_THREADS`, else the
//!   number of cores (`std::thread::available_parallelism`, which honours CPU affinity and cgroup
//!   quotas). The environment is read whenever the size is asked for ([`configured_threads`]) and
//!   when the pool is built; [`reset_num_threads`] goes back to it after [`set_num_threads`].
//! * Resized by swapping in a new pool: calls hold an `Arc` to the pool they started on, so
//!   in-flight calls finish on the old one, whose threads exit when the last such call returns.
//! * Rebuilt in a forked child: rayon's threads do not survive `fork`, so a pool created by another
//!   process id is leaked (never dropped: its threads do not exist here) and replaced. The state's
//!   lock is never held across a fork (`engine::fork`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::hot::{self, Team};
use crate::{Error, Result};

/// The environment variable that sizes the pool when [`set_num_threads`] was not called.
///
/// A positive integer up to [`MAX_THREADS`]; anything else is ignored (and reported by
/// [`configured_threads`]), as rayon does with `RAYON_NUM_THREADS`.
pub const NUM_THREADS_ENV: &str = "GILFREE_NUM_THREADS";

/// OpenMP's thread-count variable: the pool size when neither [`set_num_threads`] nor
/// [`NUM_THREADS_ENV`] decided.
///
/// This is the budget process launchers hand their workers: Dask's nanny sets
/// `OMP_NUM_THREADS=1` in every worker process, joblib's loky backend sets it to
/// `cpu_count // n_jobs`. Parsed as OpenMP does: a positive integer, or a comma-separated nesting
/// list of them whose first element is the outer level's size (`"4,2"` is 4). Values above
/// [`MAX_THREADS`] are honoured as [`MAX_THREADS`]; anything else (`"0"`, `"abc"`, `""`) is ignored
/// and reported by [`configured_threads`].
pub const OMP_NUM_THREADS_ENV: &str = "OMP_NUM_THREADS";

/// The largest pool [`set_num_threads`] accepts. Far above any useful size; it exists so that a
/// typo (`set_num_threads(10**6)`) is a `ValueError`, not a million threads.
pub const MAX_THREADS: usize = 1024;

/// Where the pool size came from, for `gilfree info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadsSource {
    /// `gilfree.set_num_threads(n)`.
    SetNumThreads,
    /// The `GILFREE_NUM_THREADS` environment variable.
    Env,
    /// The `OMP_NUM_THREADS` environment variable; `ignored_env` holds an invalid
    /// `GILFREE_NUM_THREADS` value, if any.
    OmpEnv {
        /// The rejected value of `GILFREE_NUM_THREADS`.
        ignored_env: Option<String>,
    },
    /// The number of cores; `ignored_env` and `ignored_omp` hold invalid `GILFREE_NUM_THREADS`
    /// and `OMP_NUM_THREADS` values, if any.
    Cores {
        /// The rejected value of `GILFREE_NUM_THREADS`.
        ignored_env: Option<String>,
        /// The rejected value of `OMP_NUM_THREADS`.
        ignored_omp: Option<String>,
    },
}

pub(super) struct State {
    /// The size chosen by `set_num_threads`, if it was called.
    explicit: Option<usize>,
    /// `GILFREE_NUM_THREADS` and `OMP_NUM_THREADS` as they were when first read
    /// ([`read_environment`]; the binding reads them when the module is imported).
    environment: Option<Environment>,
    /// The live pool and the process id that built it.
    pool: Option<(Arc<Pool>, u32)>,
    /// The process id of a thread building a pool right now: other threads of that process wait
    /// for it ([`BUILT`]) instead of building pools of their own. A forked child sees another
    /// pid here and ignores it (the builder does not exist in the child).
    building: Option<u32>,
}

static STATE: Mutex<State> = Mutex::new(State {
    explicit: None,
    environment: None,
    pool: None,
    building: None,
});

/// Signalled when a build finishes (successfully or not).
static BUILT: Condvar = Condvar::new();

pub(super) fn state() -> MutexGuard<'static, State> {
    // Before the first lock: from then on, no fork() can happen while another thread holds it.
    super::fork::install();
    // Nothing panics while holding the lock, but a poisoned lock must not take the pool down.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The number of cores this process may use, read once: `available_parallelism` reads the
/// process's affinity mask and its cgroup's CPU quota from `/proc` and `/sys`, some 70 µs,
/// which every call on the pool would otherwise pay (rayon reads it once per pool too).
fn cores() -> usize {
    static CORES: AtomicUsize = AtomicUsize::new(0);
    match CORES.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            CORES.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// A variable's value: `Ok(None)` when unset, `Err(raw)` when set but not unicode.
fn var(name: &str) -> std::result::Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(raw) => Ok(Some(raw)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => Err(raw.to_string_lossy().into_owned()),
    }
}

/// `GILFREE_NUM_THREADS`: a positive integer up to [`MAX_THREADS`], surrounding blanks allowed.
fn parse_gilfree(raw: &str) -> Option<usize> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_THREADS).contains(n))
}

/// `OMP_NUM_THREADS`: a comma-separated list of positive integers (surrounding blanks allowed),
/// the first of which counts, capped at [`MAX_THREADS`].
fn parse_omp(raw: &str) -> Option<usize> {
    let mut levels = raw.split(',').map(|level| {
        let level = level.trim();
        if level.is_empty() || !level.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // All digits: only too large a number fails to parse, and that is more than MAX_THREADS.
        let n = level.parse::<usize>().unwrap_or(usize::MAX);
        (n >= 1).then_some(n.min(MAX_THREADS))
    });
    let first = levels.next().flatten()?;
    levels.all(|level| level.is_some()).then_some(first)
}

/// One variable, parsed: `Ok(None)` when unset, `Err(raw)` when set to something invalid.
fn from_var(
    value: std::result::Result<Option<String>, String>,
    parse: fn(&str) -> Option<usize>,
) -> std::result::Result<Option<usize>, String> {
    match value? {
        None => Ok(None),
        Some(raw) => parse(&raw).map(Some).ok_or(raw),
    }
}

/// The size and its source, from the explicit setting, the two variables' values and the core
/// count (pure, for the tests).
fn resolve_from(
    explicit: Option<usize>,
    gilfree_env: std::result::Result<Option<String>, String>,
    omp_env: std::result::Result<Option<String>, String>,
    cores: usize,
) -> (usize, ThreadsSource) {
    if let Some(n) = explicit {
        return (n, ThreadsSource::SetNumThreads);
    }
    let ignored_env = match from_var(gilfree_env, parse_gilfree) {
        Ok(Some(n)) => return (n, ThreadsSource::Env),
        Ok(None) => None,
        Err(raw) => Some(raw),
    };
    match from_var(omp_env, parse_omp) {
        Ok(Some(n)) => (n, ThreadsSource::OmpEnv { ignored_env }),
        Ok(None) => (
            cores,
            ThreadsSource::Cores {
                ignored_env,
                ignored_omp: None,
            },
        ),
        Err(raw) => (
            cores,
            ThreadsSource::Cores {
                ignored_env,
                ignored_omp: Some(raw),
            },
        ),
    }
}

/// The two variables' values, read once per process, as an OpenMP runtime reads
/// `OMP_NUM_THREADS` once when it starts: later changes to the process's environment do not
/// resize the pool. Dask's nanny, for one, sets `OMP_NUM_THREADS=1` in its own process (the
/// client's, with a `LocalCluster`) before it spawns a worker: that is for the worker, which reads
/// it when it imports gilfree, not for the client's pool. A forked child inherits the values read.
#[derive(Clone)]
struct Environment {
    gilfree: std::result::Result<Option<String>, String>,
    omp: std::result::Result<Option<String>, String>,
}

fn environment(st: &mut State) -> &Environment {
    st.environment.get_or_insert_with(|| Environment {
        gilfree: var(NUM_THREADS_ENV),
        omp: var(OMP_NUM_THREADS_ENV),
    })
}

/// Reads `GILFREE_NUM_THREADS` and `OMP_NUM_THREADS` now, if they were not read yet: the values
/// that size the pool for the rest of the process (unless [`set_num_threads`] decides). The
/// binding calls it when the module is imported.
pub fn read_environment() {
    let _ = environment(&mut state());
}

fn resolve(st: &mut State) -> (usize, ThreadsSource) {
    if let Some(n) = st.explicit {
        return (n, ThreadsSource::SetNumThreads);
    }
    let env = environment(st).clone();
    resolve_from(None, env.gilfree, env.omp, cores())
}

/// The pool size calls will use, and where it came from. Does not build the pool.
pub fn configured_threads() -> (usize, ThreadsSource) {
    resolve(&mut state())
}

/// Sets the size of the shared pool, from any thread, at any time.
///
/// Calls already running finish on the pool they started on; later calls use a new pool of `n`
/// threads (built on first use).
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `1 <= n <= MAX_THREADS`.
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::InvalidArgument {
            arg: "n",
            message: format!("must be between 1 and {MAX_THREADS}, got {n}"),
        });
    }
    let mut st = state();
    st.explicit = Some(n);
    keep_pool_if_sized(&mut st, n);
    Ok(())
}

/// Forgets [`set_num_threads`]: the pool is sized from the environment (or the core count) again,
/// as if `set_num_threads` had never been called. Returns the size that now applies.
pub fn reset_num_threads() -> usize {
    let mut st = state();
    st.explicit = None;
    let n = resolve(&mut st).0;
    keep_pool_if_sized(&mut st, n);
    n
}

/// Keeps the live pool if it has `n` threads and belongs to this process; lets it go otherwise
/// (the next call builds one of the right size).
fn keep_pool_if_sized(st: &mut State, n: usize) {
    if let Some((old, pid)) = st.pool.take() {
        if old.current_num_threads() == n && pid == std::process::id() {
            st.pool = Some((old, pid));
        } else {
            release(old, pid);
        }
    }
}

/// Drops our reference to a pool, unless it belongs to the parent of a fork: its threads do not
/// exist in this process, so it is leaked rather than torn down.
fn release(pool: Arc<Pool>, pid: u32) {
    if pid == std::process::id() {
        drop(pool);
    } else {
        std::mem::forget(pool);
    }
}

/// The shared pool, built (or rebuilt after `fork` or a resize) on demand.
///
/// # Errors
///
/// [`Error::Pool`] when the OS refuses to start the threads.
pub(crate) fn shared() -> Result<Arc<Pool>> {
    let pid = std::process::id();
    let mut st = state();
    loop {
        match st.pool.take() {
            Some((pool, owner)) if owner == pid => {
                st.pool = Some((Arc::clone(&pool), owner));
                return Ok(pool);
            }
            Some((stale, owner)) => release(stale, owner),
            None => {}
        }
        if st.building == Some(pid) {
            // Another thread of this process is building the pool: wait for it, don't build one
            // more (a burst of first calls would otherwise start a pool each).
            st = BUILT.wait(st).unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        st.building = Some(pid);
        let n = resolve(&mut st).0;
        drop(st);
        // Build outside the lock: starting threads takes a while, and a `fork()` from another
        // thread while the lock is held would leave the child's copy locked forever.
        let built = ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("gilfree-{i}"))
            // Our own spawner, so that the fork handlers know when a pool thread is starting or
            // exiting (`engine::fork`).
            .spawn_handler(super::fork::spawn_pool_thread)
            .build()
            .map(Pool::start)
            .map_err(|e| Error::Pool(e.to_string()));
        st = state();
        st.building = None;
        BUILT.notify_all();
        let built = Arc::new(built?);
        // The size changed while we built (set_num_threads): go round and build again.
        if resolve(&mut st).0 == n {
            st.pool = Some((Arc::clone(&built), pid));
            return Ok(built);
        }
    }
}

/// One pool: rayon's threads, each running gilfree's worker loop ([`hot::resident`]) on the
/// pool's [`Team`] until the pool is dropped.
pub(crate) struct Pool {
    rayon: ThreadPool,
    /// Where jobs for this pool's workers are posted.
    pub(crate) team: Arc<Team>,
}

impl Pool {
    fn start(rayon: ThreadPool) -> Self {
        let team = Arc::new(Team::new());
        let resident = Arc::clone(&team);
        rayon.spawn_broadcast(move |_| hot::resident(&resident));
        Pool { rayon, team }
    }

    pub(crate) fn current_num_threads(&self) -> usize {
        self.rayon.current_num_threads()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The workers leave their loop, then rayon's drop lets the threads exit.
        self.team.retire();
    }
}

/// The size of the pool that exists in this process right now, if any (for `gilfree info` and
/// tests; never builds one).
pub fn live_pool() -> Option<usize> {
    let st = state();
    st.pool
        .as_ref()
        .filter(|(_, pid)| *pid == std::process::id())
        .map(|(p, _)| p.current_num_threads())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(raw: &str) -> std::result::Result<Option<String>, String> {
        Ok(Some(raw.to_owned()))
    }

    const UNSET: std::result::Result<Option<String>, String> = Ok(None);

    #[test]
    fn gilfree_variable_parses_a_positive_int_up_to_the_cap() {
        assert_eq!(parse_gilfree("3"), Some(3));
        assert_eq!(parse_gilfree(" 3 "), Some(3));
        assert_eq!(parse_gilfree("1024"), Some(1024));
        for bad in ["", "0", "-2", "1025", "3.0", "4,2", "abc"] {
            assert_eq!(parse_gilfree(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn omp_variable_parses_like_openmp() {
        assert_eq!(parse_omp("1"), Some(1));
        assert_eq!(parse_omp(" 3 "), Some(3));
        // A nesting list: the outer level counts.
        assert_eq!(parse_omp("4,2"), Some(4));
        assert_eq!(parse_omp("2, 8 ,1"), Some(2));
        // Honoured above the cap, as the cap.
        assert_eq!(parse_omp("5000"), Some(MAX_THREADS));
        assert_eq!(parse_omp("99999999999999999999999"), Some(MAX_THREADS));
        for bad in [
            "", " ", "0", "-2", "+3", "3.0", "abc", "4,", ",4", "4,0", "4,x", "4;2",
        ] {
            assert_eq!(parse_omp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sources_in_order() {
        let cores = 7;
        assert_eq!(
            resolve_from(Some(2), set("3"), set("4"), cores),
            (2, ThreadsSource::SetNumThreads)
        );
        assert_eq!(
            resolve_from(None, set("3"), set("4"), cores),
            (3, ThreadsSource::Env)
        );
        assert_eq!(
            resolve_from(None, UNSET, set("4,2"), cores),
            (4, ThreadsSource::OmpEnv { ignored_env: None })
        );
        assert_eq!(
            resolve_from(None, UNSET, UNSET, cores),
            (
                7,
                ThreadsSource::Cores {
                    ignored_env: None,
                    ignored_omp: None
                }
            )
        );
    }

    #[test]
    fn invalid_values_fall_through_and_are_reported() {
        let cores = 7;
        assert_eq!(
            resolve_from(None, set("x"), set("4"), cores),
            (
                4,
                ThreadsSource::OmpEnv {
                    ignored_env: Some("x".to_owned())
                }
            )
        );
        assert_eq!(
            resolve_from(None, set("0"), set("abc"), cores),
            (
                7,
                ThreadsSource::Cores {
                    ignored_env: Some("0".to_owned()),
                    ignored_omp: Some("abc".to_owned())
                }
            )
        );
        assert_eq!(
            resolve_from(None, UNSET, Err("\u{fffd}".to_owned()), cores),
            (
                7,
                ThreadsSource::Cores {
                    ignored_env: None,
                    ignored_omp: Some("\u{fffd}".to_owned())
                }
            )
        );
    }
}
