"""Adapter: CPython's own ``test.test_concurrent_futures`` thread-pool tests, run against
``gilfree.Executor`` (collected by ``tests/test_cpython_futures.py``; ``make test-cpython``).

The test bodies are the interpreter's, unchanged; only the executor type is swapped in, the way
the suite itself parametrizes its executors (``ThreadPoolMixin.executor_type``). Two variants:

* **Python callables** (``Gilfree*``): ``executor_type = gilfree.Executor``. Every callable the
  suite submits is a Python function, so it runs on the executor's inner ``ThreadPoolExecutor``
  through gilfree's ``submit``/``map``/``shutdown``, constructor, initializer and broken state.
* **Kernels** (``GilfreeKernel*``): ``executor_type`` is :class:`KernelRoutingExecutor`, a
  ``gilfree.Executor`` whose ``submit`` runs three of the suite's helpers as native kernel tasks
  with the same observable behaviour where the tests look: ``time.sleep(t)`` as
  ``_testing.spin`` for ``t`` seconds (busy, GIL-free, cancellable; it returns its task count,
  not None), ``make_dummy_object(i)`` as ``gilfree.primes`` (a fresh object per item, which is
  all ``test_free_reference`` checks) and ``sleep_and_raise(t)`` as ``_testing.panic`` (raises
  ``KernelError`` at once, not after ``t``). So ``wait``, ``as_completed``, ``map`` timeouts,
  shutdown and the free-reference checks run on native futures, mixed with the suite's plain
  ``Future`` objects and Python-thread futures.

Tests that cannot apply are listed in :data:`SKIPS` with the reason, and nothing else is
skipped: tests of ThreadPoolExecutor internals (``_threads``), tests that do not use
``executor_type`` at all (they construct ``futures.ThreadPoolExecutor`` themselves), subprocess
tests that import the executor by name from ``concurrent.futures``, and the documented
differences of native tasks. ``GILFREE_CPYTHON_REFERENCE=1`` runs the same classes with
``ThreadPoolExecutor`` itself (a check of the adapter: everything must pass there too).

Needs an interpreter that ships its ``test`` package with the 3.13 layout of the suite
(``test/test_concurrent_futures/``); ``tests/test_cpython_futures.py`` skips otherwise.
"""

from __future__ import annotations

import os
import time
import unittest
from collections.abc import Callable
from concurrent import futures
from typing import Any

# ImportError here means: no such suite on this interpreter (the test module skips).
from test import support  # type: ignore[import-not-found]
from test.test_concurrent_futures import (  # type: ignore[import-not-found]
    executor,
    test_as_completed,
    test_init,
    test_shutdown,
    test_thread_pool,
    test_wait,
    util,
)

import gilfree
from gilfree._native import _testing

REFERENCE = os.environ.get("GILFREE_CPYTHON_REFERENCE") == "1"

_Route = Callable[..., tuple[Callable[..., Any], tuple[Any, ...]]]

#: The suite's helpers that the kernel variant runs as native tasks: helper -> (kernel, args).
ROUTES: dict[Callable[..., Any], _Route] = {
    time.sleep: lambda t: (_testing.spin, (round(t * 100), 10)),  # t seconds in 10 ms chunks
    executor.make_dummy_object: lambda _: (gilfree.primes, (100,)),
}
# 3.13.0's helper; later 3.13 releases replaced it with wait_and_raise(event), left to Python.
if hasattr(test_wait, "sleep_and_raise"):
    ROUTES[test_wait.sleep_and_raise] = lambda _: (_testing.panic, (1, 0))


class KernelRoutingExecutor(gilfree.Executor):
    """``gilfree.Executor`` that runs the suite helpers in :data:`ROUTES` as kernel tasks."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        route = ROUTES.get(fn) if not kwargs else None
        if route is not None:
            kernel, kernel_args = route(*args)
            return super().submit(kernel, *kernel_args)
        return super().submit(fn, *args, **kwargs)


class _StrictThreads:
    """Fails a test that leaves threads running after its tearDown (the suite only warns)."""

    def tearDown(self) -> None:
        altered = support.environment_altered
        support.environment_altered = False
        try:
            super().tearDown()  # type: ignore[misc]
            if support.environment_altered:
                self.fail("threads still running after the test (threading_cleanup)")  # type: ignore[attr-defined]
        finally:
            support.environment_altered = altered or support.environment_altered


class GilfreeMixin(_StrictThreads, util.ThreadPoolMixin):  # type: ignore[misc]
    executor_type = futures.ThreadPoolExecutor if REFERENCE else gilfree.Executor


class GilfreeKernelMixin(_StrictThreads, util.ThreadPoolMixin):  # type: ignore[misc]
    executor_type = futures.ThreadPoolExecutor if REFERENCE else KernelRoutingExecutor


_INTERNALS = "inspects ThreadPoolExecutor internals (executor._threads)"
_NOT_EXECUTOR_TYPE = "does not use executor_type: it builds futures.ThreadPoolExecutor itself"
_BY_NAME = (
    "its subprocess imports the executor by name from concurrent.futures (executor_type.__name__); "
    "gilfree's exit paths are tested in tests/test_executor.py (test_interpreter_exit_*)"
)
_SLEEP_RESULT = (
    "compares time.sleep's result (None); the routed kernel returns its task count. "
    "Run with Python callables in GilfreeThreadPoolExecutorTest"
)
_CANCELS_RUNNING = (
    "documented difference: shutdown(cancel_futures=True) stops running native tasks too, so no "
    "sleep finishes (the test requires some to); see docs/executor.md"
)

#: Every test skipped, per class, with the reason. Nothing else is skipped.
SKIPS: dict[str, dict[str, str]] = {
    "GilfreeThreadPoolExecutorTest": {
        "test_saturation": _INTERNALS,
        "test_idle_thread_reuse": _INTERNALS,
        "test_hang_global_shutdown_lock": _NOT_EXECUTOR_TYPE + " (and a ProcessPoolExecutor)",
    },
    "GilfreeThreadPoolShutdownTest": {
        "test_threads_terminate": _INTERNALS,
        "test_context_manager_shutdown": _NOT_EXECUTOR_TYPE,
        "test_del_shutdown": _NOT_EXECUTOR_TYPE,
        "test_shutdown_no_wait": _NOT_EXECUTOR_TYPE,
        "test_thread_names_assigned": _NOT_EXECUTOR_TYPE,
        "test_thread_names_default": _NOT_EXECUTOR_TYPE,
        "test_cancel_futures_wait_false": _NOT_EXECUTOR_TYPE,
        "test_interpreter_shutdown": _BY_NAME,
        "test_submit_after_interpreter_shutdown": _BY_NAME,
        "test_hang_gh83386": _BY_NAME,
    },
    "GilfreeKernelExecutorTest": {"test_map_timeout": _SLEEP_RESULT},
    "GilfreeKernelShutdownTest": {
        "test_interpreter_shutdown": _BY_NAME,
        "test_submit_after_interpreter_shutdown": _BY_NAME,
        "test_hang_gh83386": _BY_NAME,
        "test_cancel_futures": _CANCELS_RUNNING,
    },
}


def _skipping(cls: type) -> type:
    for name, reason in SKIPS.get(cls.__name__, {}).items():
        if hasattr(cls, name):  # test_skip_list_names_real_tests keeps the list honest
            setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))
    return cls


# --- Python callables: the executor type swapped in -------------------------------------------


@_skipping
class GilfreeThreadPoolExecutorTest(GilfreeMixin, test_thread_pool.ThreadPoolExecutorTest):  # type: ignore[misc]
    pass


@_skipping
class GilfreeThreadPoolShutdownTest(GilfreeMixin, test_shutdown.ThreadPoolShutdownTest):  # type: ignore[misc]
    pass


@_skipping
class GilfreeThreadPoolWaitTests(GilfreeMixin, test_wait.ThreadPoolWaitTests):  # type: ignore[misc]
    pass


@_skipping
class GilfreeAsCompletedTest(GilfreeMixin, test_as_completed.AsCompletedTests, util.BaseTestCase):  # type: ignore[misc]
    pass


@_skipping
class GilfreeInitializerTest(test_init.InitializerMixin, GilfreeMixin, util.BaseTestCase):  # type: ignore[misc]
    pass


@_skipping
class GilfreeFailingInitializerTest(test_init.FailingInitializerMixin, GilfreeMixin, util.BaseTestCase):  # type: ignore[misc]
    pass


# --- kernels: the suite's sleeps and object factory as native tasks ----------------------------


@_skipping
class GilfreeKernelExecutorTest(GilfreeKernelMixin, executor.ExecutorTest, util.BaseTestCase):  # type: ignore[misc]
    pass


@_skipping
class GilfreeKernelShutdownTest(GilfreeKernelMixin, test_shutdown.ExecutorShutdownTest, util.BaseTestCase):  # type: ignore[misc]
    pass


@_skipping
class GilfreeKernelWaitTests(GilfreeKernelMixin, test_wait.WaitTests, util.BaseTestCase):  # type: ignore[misc]
    pass


@_skipping
class GilfreeKernelAsCompletedTest(GilfreeKernelMixin, test_as_completed.AsCompletedTests, util.BaseTestCase):  # type: ignore[misc]
    pass


CLASSES: tuple[type, ...] = (
    GilfreeThreadPoolExecutorTest,
    GilfreeThreadPoolShutdownTest,
    GilfreeThreadPoolWaitTests,
    GilfreeAsCompletedTest,
    GilfreeInitializerTest,
    GilfreeFailingInitializerTest,
    GilfreeKernelExecutorTest,
    GilfreeKernelShutdownTest,
    GilfreeKernelWaitTests,
    GilfreeKernelAsCompletedTest,
)
