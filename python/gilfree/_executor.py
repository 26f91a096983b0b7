"""``gilfree.Executor``: a ``concurrent.futures.Executor`` that runs gilfree kernels as native tasks.

The path of a kernel task (see ``docs/executor.md`` and ``src/executor.rs``)::

    submit(gilfree.mandelbrot, 800, 600)            caller's thread, GIL held
      ├─ _native._tasks.mandelbrot(800, 600)        parse + validate as the direct call does:
      │                                             a bad argument raises here, at submit
      ├─ _NativeFuture()                            no Condition yet (created on first wait)
      └─ _native._Executor.submit(future, job)      queued on gilfree's shared pool
    a pool worker                                   runs it alone, GIL-free, then pushes the
                                                    outcome to the executor's completion queue
    the dispatcher thread (one per executor)        waits detached; attaches once per batch and
                                                    sets every finished future of the batch

Any other callable runs on a ``ThreadPoolExecutor(max_workers)`` that the executor creates on
first use, so ``gilfree.Executor`` is a drop-in replacement for ``ThreadPoolExecutor``.

Cheap futures. A ``concurrent.futures.Future`` builds a ``threading.Condition`` when created
(~0.6 us without garbage collection, several times that with it: most of the cost of a native
task), and its methods take it every time. A native task's future (:class:`_NativeFuture`, a
``concurrent.futures.Future`` subclass) creates its "Condition" (:class:`_FutureLock`, a C RLock
that builds a real Condition only if someone blocks on it), waiter list and callback list on
first use instead: a future that nobody waits on before it finishes never gets one, and the
dispatcher finishes it with a few attribute stores (no lock, no list: see :class:`_NoLock`).
Creation and that fast delivery happen under one process-wide lock (``_LAZY_LOCK``), so a future
either has no Condition when it is finished (and whoever creates one later sees it finished) or
is finished under its Condition, with waiters and callbacks notified as ``Future.set_result``
does. Everything else (``wait``, ``as_completed``, ``asyncio.wrap_future``, callbacks) is the
standard ``Future`` code, on the standard attributes.
"""

from __future__ import annotations

import _thread
import atexit
import collections
import functools
import itertools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent import futures as cf
from concurrent.futures import _base
from typing import Any, Final, ParamSpec, TypeVar

from gilfree import _native, _progress

__all__ = ["Executor"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

_PENDING: Final = _base.PENDING
_RUNNING: Final = _base.RUNNING
_CANCELLED: Final = _base.CANCELLED
_CANCELLED_AND_NOTIFIED: Final = _base.CANCELLED_AND_NOTIFIED
_FINISHED: Final = _base.FINISHED
_DONE_STATES: Final = frozenset({_CANCELLED, _CANCELLED_AND_NOTIFIED, _FINISHED})
_CANCELLED_STATES: Final = frozenset({_CANCELLED, _CANCELLED_AND_NOTIFIED})

#: The batch kinds of ``_native._Executor.collect``.
_KIND_RESULT: Final = 0
_KIND_EXCEPTION: Final = 1
_KIND_CANCELLED: Final = 2

#: Unlocked reads of a finished future's result are only safe with the GIL's ordering. On a
#: free-threaded interpreter result() and exception() always take the future's Condition.
_GIL_BUILD: Final[bool] = bool(getattr(sys, "_is_gil_enabled", lambda: True)())

#: Guards the creation of futures' Conditions and the dispatcher's lock-free delivery.
_LAZY_LOCK = threading.Lock()

#: How long an idle dispatcher sleeps between checks (close() wakes it at once anyway).
_IDLE_WAIT_S: Final = 1.0

_AFTER_SHUTDOWN: Final = "cannot schedule new futures after shutdown"


try:

    class _FutureLock(_thread.RLock):  # type: ignore[misc]  # typeshed says final; it is not
        """A native future's ``_condition``: a C ``RLock`` (what ``with``, ``wait()`` and
        ``as_completed()`` take, at C speed) that also answers a Condition's ``wait`` and
        ``notify_all``, building a ``threading.Condition`` over itself only when someone waits.
        Cheaper to make than a ``threading.Condition`` (which is most of a ``Future()``'s cost)."""

        __slots__ = ("_cond",)

        def __init__(self) -> None:
            self._cond: threading.Condition | None = None

        def wait(self, timeout: float | None = None) -> bool:
            """``Condition.wait``; the caller holds the lock."""
            cond = self._cond
            if cond is None:
                cond = self._cond = threading.Condition(self)
            return cond.wait(timeout)

        def notify(self, n: int = 1) -> None:
            """``Condition.notify``; the caller holds the lock."""
            if self._cond is not None:
                self._cond.notify(n)

        def notify_all(self) -> None:
            """``Condition.notify_all``; the caller holds the lock."""
            if self._cond is not None:
                self._cond.notify_all()

    _new_lock: Callable[[], Any] = _FutureLock
except TypeError:  # an interpreter whose C RLock cannot be subclassed: the standard Condition
    _new_lock = threading.Condition


class _NoWaiters:
    """The waiter and callback "lists" of a future that finished before anyone asked for them.
    Its state is final, so nothing will ever be notified through them: ``wait()`` and
    ``as_completed()`` may install and remove their waiters, and nothing is kept."""

    __slots__ = ()

    # A C function of one argument without side effects: the cheapest no-op there is.
    append = remove = staticmethod(id)

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _NoLock:
    """The "lock" of a future that finished before anyone asked for one: its state is final, so
    there is nothing to guard, and nothing ever blocks on it. (A lock shared by such futures
    would break the lock order ``wait()`` relies on: it takes the locks of all its futures, in
    ``id`` order, and two threads waiting on overlapping sets could deadlock through it.)"""

    __slots__ = ()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        return True  # finished: nothing to wait for

    def notify(self, n: int = 1) -> None:
        pass

    def notify_all(self) -> None:
        pass


#: The lock and lists every future that finished lock-free shares (see _LazyCondition).
_NO_LOCK: Final = _NoLock()
_NO_WAITERS: Final = _NoWaiters()


class _LazyCondition:
    """The ``_condition`` of a :class:`_NativeFuture`, made on first use.

    A future still pending gets its own (a :class:`_FutureLock`, with its ``_waiters`` and
    ``_done_callbacks`` lists), stored on the instance, which shadows this non-data descriptor
    from then on. A future that already finished lock-free gets :class:`_NoLock` and
    :class:`_NoWaiters` instead, and nothing is stored: its state can no longer change, so there
    is nothing to guard, and ``as_completed()`` over finished futures allocates nothing."""

    def __get__(self, fut: _NativeFuture | None, owner: type | None = None) -> Any:
        if fut is None:
            return self
        if _GIL_BUILD and fut._state == _FINISHED:
            return _NO_LOCK
        with _LAZY_LOCK:
            cond = fut._gf_cond
            if cond is None:
                if fut._state == _FINISHED:
                    return _NO_LOCK
                cond = _new_lock()
                fut._waiters = []
                fut._done_callbacks = []
                fut._condition = cond
                fut._gf_cond = cond
        return cond


class _LazyList:
    """``_waiters`` / ``_done_callbacks``: made with the Condition (see :class:`_LazyCondition`)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, fut: _NativeFuture | None, owner: type | None = None) -> Any:
        if fut is None:
            return self
        # Not on the instance: the future has no lock of its own (they are made together).
        if (_GIL_BUILD and fut._state == _FINISHED) or fut._condition is _NO_LOCK:
            return _NO_WAITERS
        return vars(fut)[self._name]


class _NativeFuture(cf.Future[Any]):
    """The future of a native task: a ``concurrent.futures.Future`` whose Condition is created on
    first use (see the module docs), and that stays *pending* until its result is delivered, so
    ``cancel()`` succeeds until then: it stops the task at its next chunk if it runs, or before it
    starts. ``running()`` is therefore always False."""

    _condition = _LazyCondition()
    _waiters = _LazyList()
    _done_callbacks = _LazyList()
    # Class-level defaults: a new future stores nothing until it is used or finished.
    _state = _PENDING
    _result = None
    _exception = None
    _gf_cond: Any = None
    _gf_job: Any = None
    _gf_native: Any = None  # the _native._Executor that runs it (for _help_deliver)

    # The base class would build a Condition here; object's __init__ is the cheapest no-op.
    __init__ = object.__init__

    def cancel(self) -> bool:
        """Cancels the task unless its result was delivered; a running task stops at its next
        chunk. Waiters (``wait``, ``as_completed``) see the future done at once."""
        if self._state == _FINISHED:  # map() cancels every future it consumed: keep that cheap
            return False
        with self._condition:
            if self._state in (_RUNNING, _FINISHED):
                return False
            if self._state in _CANCELLED_STATES:
                return True
            self._state = _CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        job = self._gf_job
        if job is not None:
            job.cancel()
        native = self._gf_native
        if native is not None:
            native.delivered()  # wakes the threads waiting in _help_deliver
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def cancelled(self) -> bool:
        return self._state in _CANCELLED_STATES

    def running(self) -> bool:
        return self._state == _RUNNING

    def done(self) -> bool:
        return self._state in _DONE_STATES

    def result(self, timeout: float | None = None) -> Any:
        if _GIL_BUILD and self._state == _FINISHED and self._exception is None:
            return self._result
        _help_deliver(self, timeout)
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if _GIL_BUILD and self._state == _FINISHED:
            return self._exception
        _help_deliver(self, timeout)
        return super().exception(timeout)

    def __repr__(self) -> str:
        job = self._gf_job
        kernel = job.kernel if job is not None else "?"
        return f"{super().__repr__()[:-1]} native task {kernel}()>"

    def _gf_finish(self, kind: int, value: Any) -> None:
        """Delivers an outcome to a future that has a Condition (someone waited on it)."""
        if kind == _KIND_CANCELLED:
            self.cancel()
            return
        with self._condition:
            if self._state != _PENDING:  # cancelled meanwhile: the result is dropped
                return
            if kind == _KIND_RESULT:
                self._result = value
            else:
                self._exception = value
            self._state = _FINISHED
            for waiter in self._waiters:
                if kind == _KIND_RESULT:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
            self._condition.notify_all()
        self._invoke_callbacks()  # type: ignore[attr-defined]


def _deliver(batch: list[tuple[_NativeFuture, int, Any]]) -> None:
    """Sets the futures of one batch: with a few attribute stores each if nobody has waited on
    them yet, else through their Condition (notifying waiters and running callbacks)."""
    slow = []
    with _LAZY_LOCK:
        for item in batch:
            fut, kind, value = item
            if fut._gf_cond is None and kind != _KIND_CANCELLED:
                if kind == _KIND_RESULT:
                    fut._result = value
                else:
                    fut._exception = value
                fut._state = _FINISHED
                # What the descriptors would hand out from now on, stored: wait() and
                # as_completed() then read plain attributes instead of calling descriptors
                # (~0.07 us more per task here, ~0.3 us less per future there).
                fut._condition = _NO_LOCK
                fut._waiters = fut._done_callbacks = _NO_WAITERS
            else:
                slow.append(item)
    for fut, kind, value in slow:
        try:
            fut._gf_finish(kind, value)
        except Exception:  # never let one future stop the dispatcher
            _base.LOGGER.exception("gilfree.Executor: delivering %r failed", fut)


#: ``.native``: set on dispatcher threads, to the executor they deliver for.
_DISPATCHER = threading.local()

#: How long a thread waiting on a pending native future waits natively at a time (it then runs
#: signal handlers: Ctrl-C in result() stays prompt).
_HELP_SLICE_S: Final = 0.02

#: What ``_native._Executor.help`` stores into a future that finished lock-free (``_deliver``).
_FAST_DELIVERY: Final = (_LAZY_LOCK, _NO_LOCK, _NO_WAITERS, _FINISHED)


def _help_deliver(fut: _NativeFuture, timeout: float | None) -> None:
    """Called before blocking on a pending native future: returns once it is done, or the timeout
    passed, or (a future that someone waits on through its Condition) at once.

    * On a thread other than this executor's dispatcher (the common case: ``result()`` in the
      submitting thread), the waiting thread delivers finished tasks itself: the pool worker
      that finishes a task wakes it directly (``_native._Executor.help``), where the dispatcher
      would be woken first and then wake it (two thread switches per task, and a hand-over of the
      GIL). It delivers only the futures that nobody waits on, with attribute stores in native
      code (no Python code runs, so a Ctrl-C cannot stop a delivery half-way, and no done-callback
      ever runs on this thread); the others go to the dispatcher, as before.
    * On the dispatcher thread (a done-callback waiting on another native future), it keeps
      delivering this dispatcher's batches: the dispatcher would otherwise wait for itself.
    """
    dispatcher_of = getattr(_DISPATCHER, "native", None)
    native = fut._gf_native
    if dispatcher_of is None and (native is None or fut._gf_cond is not None):
        return  # not submitted yet, or someone waits on its Condition: the dispatcher delivers it
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        seen = native.epoch  # before the check: a delivery after it moves the epoch on
        if fut._state in _DONE_STATES:
            return
        left = _HELP_SLICE_S if deadline is None else min(_HELP_SLICE_S, deadline - time.monotonic())
        if left <= 0:
            return
        if dispatcher_of is None:
            native.help(_FAST_DELIVERY, seen, left)
            continue
        batch = dispatcher_of.collect(left)
        if batch is None:  # this executor is drained: the future is another's, which delivers it
            return
        if batch:
            try:
                _deliver(batch)
            finally:
                dispatcher_of.delivered()


def _dispatch(native: _native._Executor) -> None:
    """The dispatcher thread: delivers batches until the executor is closed and drained."""
    _DISPATCHER.native = native
    while _dispatch_one(native):
        pass


def _dispatch_one(native: _native._Executor) -> bool:
    """Waits for one batch and delivers it; False once the executor is closed and drained.

    A function of its own so that the batch (its futures and their results) is released when it
    returns, before the dispatcher waits again: a result must not outlive its future by the idle
    wait (CPython's ``test_free_reference``)."""
    try:
        batch = native.collect(_IDLE_WAIT_S)
        if batch is None:
            return False
        if batch:
            try:
                _deliver(batch)
            finally:
                native.delivered()  # wakes the threads in _help_deliver whose future it was
    except Exception:  # a bug: report it, keep delivering the other futures
        _base.LOGGER.exception("gilfree.Executor: the dispatcher failed")
    return True


def _task_forms() -> dict[Callable[..., Any], Callable[..., _native._Job]]:
    """Every kernel with a native task form, mapped to it (``gilfree.mandelbrot`` ->
    ``_native._tasks.mandelbrot``; the test kernels from ``_native._testing`` too)."""
    forms: dict[Callable[..., Any], Callable[..., _native._Job]] = {}
    for name in dir(_native._tasks):
        if name.startswith("_"):
            continue
        kernel = getattr(_native, name, None) or getattr(_native._testing, name)
        forms[kernel] = getattr(_native._tasks, name)
    return forms


_TASK_FORMS: Final = _task_forms()


def register_task(func: Callable[..., Any], task_form: Callable[..., _native._Job]) -> None:
    """Declare ``task_form`` the native task form of ``func`` for :class:`gilfree.Executor`.

    ``task_form(*args, **kwargs)`` must validate the arguments of ``func(*args, **kwargs)`` and
    return the task object of that call (made in Rust by ``gilfree_pyo3::task``; extensions built
    with gilfree-pyo3 call this through ``gilfree_pyo3::register_task`` at import). From then on
    ``executor.submit(func, ...)`` (and ``map``, and ``functools.partial`` of ``func``) runs the call
    on gilfree's shared pool, without a Python thread, like gilfree's own kernels.

    Raises:
        TypeError: ``func`` is not hashable or ``task_form`` is not callable.

    Example:
        >>> import gilfree
        >>> gilfree.Executor.is_native(gilfree.count_primes)  # gilfree's own kernels are
        True
        >>> gilfree.Executor.is_native(sorted)
        False
    """
    if not callable(task_form):
        raise TypeError(f"task_form must be callable, got {type(task_form).__name__}")
    try:
        hash(func)
    except TypeError:
        raise TypeError(f"func must be hashable, got {type(func).__name__}") from None
    _TASK_FORMS[func] = task_form


def _task_form(fn: object) -> Callable[..., _native._Job] | None:
    """The task form of ``fn`` if it is a gilfree kernel or a registered one, else None."""
    try:
        form: Callable[..., _native._Job] | None = _TASK_FORMS.get(fn)  # type: ignore[call-overload]
        return form
    except TypeError:  # an unhashable callable
        return None


class Executor(cf.Executor):
    """A ``concurrent.futures.Executor`` that runs gilfree kernels on the native pool without a
    trip through the GIL per task, and any other callable on Python threads.

    ``submit(gilfree.<kernel>, ...)`` checks the arguments right away, with the GIL held (a bad
    argument raises at ``submit``, the same exception the direct call raises), then queues the
    call on gilfree's shared pool as one task: it runs on one worker (``threads`` must be None or
    1), and many run at once. Finished tasks are handed to their futures in batches by one
    dispatcher thread per executor, so a task costs a fraction of a ``ThreadPoolExecutor``
    round-trip (numbers in ``benchmarks/bench_executor.py``). Every kernel of gilfree has this
    native form, the reductions included (their array is read after ``submit`` returns: do not
    write to it until the future is done).

    Any other callable (including a ``functools.partial`` of something else) runs on a
    ``ThreadPoolExecutor`` created on first use, with this executor's ``max_workers``,
    ``thread_name_prefix``, ``initializer`` and ``initargs``: the constructor is
    ``ThreadPoolExecutor``'s, and the executor is a drop-in replacement for it. A
    ``functools.partial`` of a kernel takes the native path.

    All executors share the one native pool (``gilfree.set_num_threads``), so no number of
    executors or submitting threads oversubscribes the machine; ``max_workers`` bounds only the
    Python threads.

    The contract is ``concurrent.futures``' (CPython's own thread-pool tests run against this
    class: ``tests/test_cpython_futures.py``): futures work with ``wait``, ``as_completed``,
    ``asyncio.wrap_future`` and ``loop.run_in_executor``; ``map`` yields results in order, lazily,
    honouring ``timeout`` (and ``buffersize``, as Python 3.14's), and an item whose kernel
    arguments are invalid raises when that item is reached, as in a ``ThreadPoolExecutor``;
    ``shutdown(wait=True)`` waits for native tasks too; submitting after ``shutdown`` raises
    ``RuntimeError``; an ``initializer`` that raises breaks the executor (``BrokenThreadPool``).
    Differences, all on the native side:

    * A native task's future stays pending until its result is delivered (``running()`` is
      False), so ``cancel()`` succeeds until then: the task stops at its next chunk if it is
      running, or never starts.
    * ``shutdown(cancel_futures=True)`` cancels running native tasks too, not only queued ones.
    * Ctrl-C stops every native task submitted before it, running or queued, within
      milliseconds; their futures raise ``KeyboardInterrupt``, so ``with Executor() as ex:`` exits
      promptly.
    * Native tasks do not run on the Python threads, so the ``initializer`` does not run for
      them (it prepares each Python worker thread, when that thread starts).

    Args:
        max_workers: the most Python threads for callables that are not gilfree kernels
            (``ThreadPoolExecutor``'s default if None). Native tasks use the shared pool.
        thread_name_prefix: names of those Python threads.
        initializer: called as ``initializer(*initargs)`` at the start of each Python worker
            thread. If it raises, the executor is broken: pending Python tasks fail and every
            later ``submit`` (kernels included) raises ``BrokenThreadPool``.
        initargs: the arguments of ``initializer``.

    Example:
        >>> import gilfree
        >>> from concurrent.futures import as_completed
        >>> with gilfree.Executor() as ex:
        ...     fut = ex.submit(gilfree.count_primes, 10**6)
        ...     energies = list(ex.map(gilfree.nbody, [10, 20]))
        ...     done = [f.result() for f in as_completed(ex.submit(gilfree.count_primes, n)
        ...                                               for n in (10, 100))]
        ...     py = ex.submit(sum, [1, 2, 3])  # not a kernel: a Python thread runs it
        >>> fut.result(), sorted(done), py.result()
        (78498, [4, 25], 6)
        >>> energies == [gilfree.nbody(10), gilfree.nbody(20)]
        True
        >>> ex.submit(gilfree.count_primes, 10)
        Traceback (most recent call last):
        ...
        RuntimeError: cannot schedule new futures after shutdown

        ``ThreadPoolExecutor``'s constructor, positional arguments included:

        >>> import threading
        >>> seen = []
        >>> with gilfree.Executor(2, "worker", seen.append, ("ready",)) as ex:
        ...     name = ex.submit(lambda: threading.current_thread().name).result()
        >>> name.startswith("worker"), seen
        (True, ['ready'])
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:  # ThreadPoolExecutor's default, resolved the same way
            cpus = getattr(os, "process_cpu_count", os.cpu_count)()
            max_workers = min(32, (cpus or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix or f"gilfree.Executor-{id(self):x}"
        self._initializer = initializer
        self._initargs = initargs
        self._native = _native._Executor()
        self._native_submit = self._native.submit
        self._lock = threading.Lock()
        self._shutdown = False
        self._dispatcher: threading.Thread | None = None
        #: The Python threads: a ThreadPoolExecutor made on the first non-kernel submit.
        self._python_pool: cf.ThreadPoolExecutor | None = None
        #: Why an executor inherited across fork() was broken (its pool was dropped there).
        self._broken_before_fork: str | bool = False
        _LIVE.add(self)
        # Dropped without shutdown(): stop taking tasks; the dispatcher exits once they are in.
        self._finalizer = weakref.finalize(self, self._native.close)

    @property
    def _broken(self) -> str | bool:
        """False, or why the executor is broken (an initializer raised), as
        ``ThreadPoolExecutor._broken`` (CPython's tests read it)."""
        pool = self._python_pool
        broken: str | bool = pool._broken if pool is not None else False
        return broken or self._broken_before_fork

    @staticmethod
    def is_native(fn: object) -> bool:
        """True if ``submit(fn, ...)`` runs ``fn`` as a native task on gilfree's pool: a gilfree
        kernel, a function registered with :func:`gilfree.register_task` (extensions built with
        gilfree-pyo3 register theirs), or a ``functools.partial`` of one. False means a Python
        worker thread runs it (as ``ThreadPoolExecutor`` would). A native task's future says so in
        its ``repr`` (``... native task count_primes()>``).

        Example:
            >>> import functools, gilfree
            >>> gilfree.Executor.is_native(functools.partial(gilfree.primes, 100))
            True
            >>> gilfree.Executor.is_native(print)
            False
        """
        if _task_form(fn) is not None:
            return True
        return type(fn) is functools.partial and _task_form(fn.func) is not None

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> cf.Future[_T]:
        """Schedules ``fn(*args, **kwargs)`` and returns its future.

        A gilfree kernel is validated now (a bad argument raises here, the direct call's
        exception) and runs on the native pool; anything else runs on a Python thread.

        Raises:
            RuntimeError: after :meth:`shutdown`.
            concurrent.futures.thread.BrokenThreadPool: the ``initializer`` raised in a Python
                worker thread.
            TypeError, ValueError, OverflowError: a gilfree kernel's arguments are invalid, or
                ``threads`` is not None or 1.

        Example:
            >>> import gilfree
            >>> with gilfree.Executor() as ex:
            ...     ex.submit(gilfree.spectral_norm, 100).result() == gilfree.spectral_norm(100)
            True
        """
        try:
            form: Callable[..., _native._Job] | None = _TASK_FORMS.get(fn)
        except TypeError:  # an unhashable callable
            form = None
        if form is None:
            if type(fn) is functools.partial and _task_form(fn.func) is not None:
                return self.submit(fn.func, *fn.args, *args, **{**fn.keywords, **kwargs})
            return self._submit_python(fn, *args, **kwargs)
        if self._shutdown:
            raise RuntimeError(_AFTER_SHUTDOWN)
        if self._python_pool is not None or self._broken_before_fork:
            self._check_broken()
        try:
            job = form(*args, **kwargs)
        except TypeError as exc:
            if "progress" in kwargs:  # the direct call's progress=: no task form takes it
                name = getattr(fn, "__name__", "the kernel")
                raise TypeError(
                    f"{name}(): progress= is not available in gilfree.Executor.submit: a task runs "
                    "on a pool worker, which never calls Python. Use Executor.map(..., "
                    f"progress=...), or call {name}(..., progress=...) directly."
                ) from exc
            raise
        return self._submit_job(job)

    def _submit_job(self, job: _native._Job) -> cf.Future[Any]:
        """Queues a validated kernel call on the pool; its future."""
        fut = _NativeFuture()
        fut._gf_job = job
        fut._gf_native = self._native
        if self._dispatcher is None:
            self._start_dispatcher()
        self._native_submit(fut, job)
        return fut  # type: ignore[no-any-return]  # _NativeFuture.__init__ is object's

    def _check_broken(self) -> None:
        broken = self._broken
        if broken:
            raise cf.thread.BrokenThreadPool(broken)

    def _submit_python(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> cf.Future[_T]:
        pool = self._python_pool
        if pool is None:
            with self._lock:
                if self._shutdown:
                    raise RuntimeError(_AFTER_SHUTDOWN)
                self._check_broken()
                if self._python_pool is None:
                    self._python_pool = cf.ThreadPoolExecutor(
                        self._max_workers, self._thread_name_prefix, self._initializer, self._initargs
                    )
                pool = self._python_pool
        return pool.submit(fn, *args, **kwargs)

    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
        progress: bool | Callable[[int, int], object] | None = None,
    ) -> Iterator[_T]:
        """Returns an iterator equivalent to ``map(fn, *iterables)``, with the calls run on the
        executor: ``concurrent.futures.Executor.map``, items submitted at once (or, with
        ``buffersize``, as Python 3.14 does, at most that many ahead of the one retrieved).

        Each item is its own task, as in a ``ThreadPoolExecutor``: an item whose kernel
        arguments are invalid raises its exception when that item is retrieved, not from
        ``map()`` itself (the items before it are delivered, and leaving the iterator cancels
        the rest). ``map()`` itself raises only what ``ThreadPoolExecutor.map`` raises there:
        ``RuntimeError`` after :meth:`shutdown`, ``BrokenThreadPool``. ``chunksize`` is accepted
        and ignored, as by ``ThreadPoolExecutor``.

        ``progress`` (gilfree's, not in ``concurrent.futures``): ``True`` draws a bar on stderr
        if it is a terminal, a callable gets ``(done, total)``; both from the thread iterating
        over the results, as they are retrieved (``done`` = results retrieved, ``total`` =
        items submitted: with ``buffersize`` it grows as items are). At most every 100 ms, plus
        a final ``(total, total)`` when the iterator is exhausted; the bar is closed when the
        iterator ends, raises or is closed. An exception raised by the callable propagates
        from the iterator (and cancels the items not retrieved).

        Raises:
            TimeoutError: (from the iterator) the results did not all come within ``timeout``
                seconds of the call.

        Example:
            >>> import gilfree
            >>> ex = gilfree.Executor()
            >>> results = ex.map(gilfree.count_primes, [10, -1, 100])  # no error here
            >>> next(results)
            4
            >>> next(results)
            Traceback (most recent call last):
            ...
            ValueError: count_primes(): n must be >= 0, got -1
            >>> ex.shutdown()

            >>> seen = []
            >>> with gilfree.Executor() as ex:
            ...     list(ex.map(gilfree.count_primes, [10, 100], progress=lambda *p: seen.append(p)))
            [4, 25]
            >>> seen[-1]
            (2, 2)
        """
        reporter = _progress.Reporter.of(progress, "Executor.map")
        if buffersize is not None and not isinstance(buffersize, int):
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        end_time = None if timeout is None else timeout + time.monotonic()
        items = zip(*iterables, strict=False)
        submit = self._item_submitter(fn)
        fs: collections.deque[cf.Future[Any]] | list[cf.Future[Any]]
        if buffersize:
            fs = collections.deque(submit(args) for args in itertools.islice(items, buffersize))
            refill = _Refill(weakref.ref(self), fn, items)
        else:
            fs = [submit(args) for args in items]
            refill = None
        if reporter is not None:
            return _map_progress(_map_results(fs, end_time, refill), fs, reporter)
        return _map_results(fs, end_time, refill)

    def _item_submitter(self, fn: Callable[..., Any]) -> Callable[[tuple[Any, ...]], cf.Future[Any]]:
        """``args -> future`` for the items of ``map(fn, ...)``: a kernel call whose arguments are
        invalid gets a future that holds its exception (``ThreadPoolExecutor``'s contract: each
        item is its own call), where :meth:`submit` raises."""
        prefix: tuple[Any, ...] = ()
        keywords: dict[str, Any] = {}
        form = _task_form(fn)
        if form is None and type(fn) is functools.partial:
            form = _task_form(fn.func)
            prefix, keywords = fn.args, fn.keywords
        if form is None:
            return lambda args: self.submit(fn, *args)
        partial = bool(prefix or keywords)

        def submit(args: tuple[Any, ...]) -> cf.Future[Any]:
            # submit()'s kernel path, inlined: map() is where per-task overhead adds up.
            if self._shutdown:
                raise RuntimeError(_AFTER_SHUTDOWN)
            if self._python_pool is not None or self._broken_before_fork:
                self._check_broken()
            try:
                job = form(*prefix, *args, **keywords) if partial else form(*args)
            except Exception as exc:  # this item's error, raised when it is retrieved
                return _failed_future(exc)
            fut = _NativeFuture()
            fut._gf_job = job
            fut._gf_native = self._native
            if self._dispatcher is None:
                self._start_dispatcher()
            self._native_submit(fut, job)
            return fut  # type: ignore[no-any-return]  # _NativeFuture.__init__ is object's

        return submit

    def _start_dispatcher(self) -> None:
        with self._lock:
            if self._dispatcher is None and not self._native.closed:
                thread = threading.Thread(
                    target=_dispatch,
                    args=(self._native,),
                    name=f"{self._thread_name_prefix}-dispatcher",
                    daemon=True,
                )
                thread.start()
                self._dispatcher = thread

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stops taking tasks; with ``wait``, returns once every task's future is done.

        Safe to call several times. ``cancel_futures=True`` cancels the tasks not yet started and,
        unlike ``ThreadPoolExecutor``, stops the running native tasks at their next chunk (their
        futures are cancelled); Python callables already running run to the end.

        Example:
            >>> import gilfree
            >>> from gilfree._native import _testing
            >>> ex = gilfree.Executor()
            >>> long = ex.submit(_testing.spin, 100_000, 10)  # 1000 s of work
            >>> ex.shutdown(cancel_futures=True)  # returns within milliseconds
            >>> long.cancelled()
            True
        """
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                self._native.cancel_all()
            self._native.close()
            dispatcher = self._dispatcher
            pool = self._python_pool
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait and dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join()


def _failed_future(exc: BaseException) -> cf.Future[Any]:
    """A finished future holding ``exc`` (made here, so that ``exc``'s traceback, which holds the
    frame that caught it, does not hold the future too)."""
    fut: cf.Future[Any] = cf.Future()
    fut.set_exception(exc)
    return fut


class _Refill:
    """Submits the next item of a ``map(buffersize=...)`` when one is retrieved (Python 3.14's
    rule); holds the executor weakly, so that the iterator does not keep it alive."""

    __slots__ = ("_executor", "_fn", "_items")

    def __init__(self, executor: weakref.ref[Executor], fn: Callable[..., Any], items: Iterator[Any]):
        self._executor = executor
        self._fn = fn
        self._items = items

    def __call__(self) -> cf.Future[Any] | None:
        executor = self._executor()
        if executor is None:
            return None
        args = next(self._items, None)
        if args is None:
            return None
        return executor._item_submitter(self._fn)(args)


def _result_or_cancel(fut: cf.Future[_T], timeout: float | None = None) -> _T:
    try:
        try:
            return fut.result(timeout)
        finally:
            fut.cancel()
    finally:
        del fut  # break the cycle through the exception's traceback


def _map_results(
    fs: collections.deque[cf.Future[Any]] | list[cf.Future[Any]],
    end_time: float | None,
    refill: _Refill | None,
) -> Generator[Any, None, None]:
    """The iterator of :meth:`Executor.map` (``concurrent.futures``' own, 3.14's buffering
    included): results in order; leaving it early cancels the futures it still holds."""
    try:
        fs.reverse()  # pop() from the end, in order, without keeping a popped future
        while fs:
            if refill is not None:
                nxt = refill()
                if nxt is not None:
                    fs.appendleft(nxt)  # type: ignore[union-attr]  # a deque when refilling
                del nxt
            if end_time is None:
                yield _result_or_cancel(fs.pop())
            else:
                yield _result_or_cancel(fs.pop(), end_time - time.monotonic())
    finally:
        for fut in fs:
            fut.cancel()


def _map_progress(
    results: Generator[_T, None, None],
    fs: collections.deque[cf.Future[Any]] | list[cf.Future[Any]],
    reporter: _progress.Reporter,
) -> Iterator[_T]:
    """:meth:`Executor.map`'s iterator with ``progress=``: reports ``(retrieved, submitted)``
    from the thread that iterates (``fs`` holds the futures not retrieved yet)."""
    done = 0
    try:
        for result in results:
            done += 1
            reporter.report(done, done + len(fs))
            yield result
        reporter.finish(done)
    finally:
        results.close()  # cancels the futures it still holds
        reporter.close()


# Executors still open at interpreter exit are shut down (and waited for) first, as
# ThreadPoolExecutor does, so that no dispatcher touches Python while it finalizes.
_LIVE: Final[weakref.WeakSet[Executor]] = weakref.WeakSet()


def _python_exit() -> None:
    for ex in list(_LIVE):
        ex.shutdown(wait=True)


getattr(threading, "_register_atexit", atexit.register)(_python_exit)

#: What a forked child inherited and must never touch: the parent's native executors (their
#: completion queue's lock may be held by a thread that does not exist in the child) and inner
#: ThreadPoolExecutors (their lock may be held, their threads do not exist). Kept, never freed.
_FORK_ORPHANS: Final[list[object]] = []


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: neither the dispatchers, nor the pool
    workers running the tasks in flight, nor the Python workers, and any lock one of them held
    at the fork stays held. Every executor forgets what it inherited (the native side, its
    finalizer, the inner ThreadPoolExecutor, which is never shut down or joined here) and gets
    fresh locks; the futures of tasks in flight at the fork never complete in the child, as
    with ``ThreadPoolExecutor``. It keeps working for new tasks (a new inner pool is made on
    first use)."""
    global _LAZY_LOCK
    _LAZY_LOCK = threading.Lock()
    for ex in list(_LIVE):
        ex._finalizer.detach()  # it would call close() on the inherited native side at exit
        _FORK_ORPHANS.append(ex._native)
        pool = ex._python_pool
        if pool is not None:
            ex._broken_before_fork = pool._broken or ex._broken_before_fork
            ex._python_pool = None
            _FORK_ORPHANS.append(pool)
        ex._lock = threading.Lock()
        ex._dispatcher = None
        ex._native = _native._Executor()
        ex._native_submit = ex._native.submit
        ex._finalizer = weakref.finalize(ex, ex._native.close)
        if ex._shutdown:
            ex._native.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

Executor.__module__ = "gilfree"
